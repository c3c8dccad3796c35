/**
 * The API stack split by pillar (infra/cdk/README.md, "Stacks"): the pillars of PILLARS_IN_API_STACK
 * stay in the API stack at the logical ids they have always had (test/logical-ids.test.ts), every
 * other pillar is built in a nested stack of its own, and no stack of the app has more resources
 * than CloudFormation's STACK_RESOURCE_LIMIT (checked here on the real app, and by synth itself for
 * any app). A new pillar is held to all of it with no code here: the ledger of ledger-pillar.ts.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnResource, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MACHINE_CLIENTS_ENV } from '#shared/http/claims.js';
import { type RouteSpec, routeKeyOf } from '#shared/http/http.js';
import { type PillarManifest, queuesOf, tablesOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { metaPillar } from '../../../functions/meta/pillar.js';
import {
  ANONYMOUS_ROUTE_THROTTLE,
  ConductorApiStack,
  PILLARS_IN_API_STACK,
  PillarStack,
  reservedConcurrencyOf,
  STACK_RESOURCE_LIMIT,
} from '../lib/api-stack.js';
import { ConductorStatefulStack } from '../lib/stateful-stack.js';
import { LEDGER, LEDGER_ROUTE } from './ledger-pillar.js';
import { type Synthesized, synthConductor, synthPillars } from './synth.js';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] }>;

const resourcesOf = (template: Template): Resources => template.toJSON().Resources as Resources;

/** The logical id a resource has in its template (overrides included, e.g. a version's hash). */
const idOf = (resource: CfnResource): string => Stack.of(resource).resolve(resource.logicalId) as string;

describe('the stacks of the app', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthConductor();
  });
  afterAll(() => synth?.dispose());

  it(`keeps the API stack and each of its nested stacks under CloudFormation's ${STACK_RESOURCE_LIMIT} resources`, () => {
    const counts: [string, number][] = [
      [synth.stateful.node.path, Object.keys(resourcesOf(synth.statefulTemplate)).length],
      [synth.api.node.path, Object.keys(resourcesOf(synth.apiTemplate)).length],
      ...Object.entries(synth.nestedTemplates).map(([name, template]): [string, number] => [
        synth.api.pillarStacks[name]?.node.path ?? name,
        Object.keys(resourcesOf(template)).length,
      ]),
    ];
    const report = counts.map(([stack, count]) => `${stack}: ${count}`).join(', ');
    for (const [stack, count] of counts) {
      expect(
        count,
        `${stack} has ${count} resources, the limit is ${STACK_RESOURCE_LIMIT} (${report})`,
      ).toBeLessThan(STACK_RESOURCE_LIMIT);
    }
  });

  it('pins the pillars built in the API stack itself: the ones it held when it was split', () => {
    expect(PILLARS_IN_API_STACK).toEqual([
      'meta',
      'router',
      'authorize',
      'scheduler',
      'eval',
      'runbooks',
      'ops',
    ]);
  });

  it('builds each pillar of PILLARS_IN_API_STACK in the API stack, and every other pillar of the catalog in a nested stack of its own', () => {
    for (const pillar of PILLARS) {
      const services = synth.api.pillars[pillar.name];
      if (!services) throw new Error(`no pillar ${pillar.name}`);
      const stack = synth.api.pillarStacks[pillar.name];
      if (PILLARS_IN_API_STACK.includes(pillar.name)) {
        expect(stack, pillar.name).toBeUndefined();
        expect(Stack.of(services), pillar.name).toBe(synth.api);
      } else {
        expect(stack, pillar.name).toBeInstanceOf(PillarStack);
        expect(stack?.nestedStackParent, pillar.name).toBe(synth.api);
        expect(Stack.of(services), pillar.name).toBe(stack);
      }
    }
    expect(Object.keys(synth.api.pillarStacks)).toEqual(
      PILLARS.filter((pillar) => !PILLARS_IN_API_STACK.includes(pillar.name)).map((pillar) => pillar.name),
    );
  });
});

describe('a new pillar, in a nested stack of its own', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthPillars([...PILLARS, LEDGER]);
  });
  afterAll(() => synth?.dispose());

  const stack = (): PillarStack => {
    const found = synth.api.pillarStacks.ledger;
    if (!found) throw new Error('no nested stack for the ledger');
    return found;
  };
  const nested = (): Resources => resourcesOf(synth.pillarTemplate('ledger'));

  it('holds every resource of the pillar, and nothing else; the API stack none of them', () => {
    expect(stack().node.id).toBe('LedgerPillarStack');
    const elements = (synth.api.pillars.ledger?.node.findAll() ?? []).filter(CfnResource.isCfnResource);
    for (const element of elements) expect(Stack.of(element), element.node.path).toBe(stack());
    const ids = elements.map(idOf).sort();
    expect(Object.keys(nested()).sort()).toEqual(ids);
    const api = resourcesOf(synth.apiTemplate);
    expect(ids.filter((id) => id in api)).toEqual([]);
    // Its functions, routes, integrations, permissions, alarms, dashboard, event source mapping...
    expect([...new Set(Object.values(nested()).map((resource) => resource.Type))]).toEqual(
      expect.arrayContaining([
        'AWS::Lambda::Function',
        'AWS::Lambda::Version',
        'AWS::Lambda::Alias',
        'AWS::Lambda::Permission',
        'AWS::Lambda::EventSourceMapping',
        'AWS::Logs::LogGroup',
        'AWS::IAM::Role',
        'AWS::IAM::Policy',
        'AWS::CodeDeploy::DeploymentGroup',
        'AWS::ApiGatewayV2::Route',
        'AWS::ApiGatewayV2::Integration',
        'AWS::CloudWatch::Alarm',
        'AWS::CloudWatch::Dashboard',
      ]),
    );
  });

  it('names its resources as the API stack would: its pillar construct is transparent there too', () => {
    expect(Object.keys(nested()).filter((id) => id.startsWith('LedgerPillar'))).toEqual([]);
    const fn = synth.api.functions.ledger;
    expect(synth.logicalIdOf(fn?.function.node.defaultChild)).toMatch(/^LedgerFunction[0-9A-F]{8}$/);
    expect(synth.logicalIdOf(fn?.logGroup.node.defaultChild)).toMatch(/^LedgerLogGroup[0-9A-F]{8}$/);
  });

  it('shares the tracing policy and the CodeDeploy application of the API stack, whose names are the stage’s', () => {
    const resources = nested();
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::IAM::ManagedPolicy')).toEqual([]);
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::CodeDeploy::Application')).toEqual([]);
    const fn = synth.api.functions.ledger;
    if (!fn) throw new Error('no ledger function');
    const api = resourcesOf(synth.apiTemplate);
    const onlyOf = (type: string) => {
      const ids = Object.keys(api).filter((id) => api[id]?.Type === type);
      expect(ids, type).toHaveLength(1);
      return { Ref: ids[0] };
    };
    const role = resources[synth.logicalIdOf(fn.role.node.defaultChild)];
    const managed = (role?.Properties.ManagedPolicyArns ?? []) as unknown[];
    expect(managed.map((arn) => synth.fromApiStack(fn, arn))).toEqual([onlyOf('AWS::IAM::ManagedPolicy')]);
    const group = resources[synth.logicalIdOf(fn.deploymentGroup.node.defaultChild)]?.Properties;
    expect(synth.fromApiStack(fn, group?.ApplicationName)).toEqual(onlyOf('AWS::CodeDeploy::Application'));
  });

  it('reserves its function’s concurrency from its manifest, as for every function of the API stack', () => {
    const spec = LEDGER.functions[0];
    if (!spec) throw new Error('no ledger function');
    const expected = reservedConcurrencyOf(spec, queuesOf([...PILLARS, LEDGER]), LEDGER);
    expect(synth.api.reservedConcurrency.ledger).toBe(expected);
    expect(
      nested()[synth.logicalIdOf(synth.api.functions.ledger?.function.node.defaultChild)]?.Properties
        .ReservedConcurrentExecutions,
    ).toBe(expected);
  });

  it('passes cdk-nag with no acknowledgement but the one every function has', () => {
    expect(new AwsSolutionsChecks(synth.app).validateScope(stack()).violations).toEqual([]);
    const acknowledged = stack()
      .node.findAll()
      .flatMap((construct) => construct.node.metadata)
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.keys(entry.data as Record<string, string>));
    expect(acknowledged).toEqual(['Annotation::AwsSolutions-L1']);
  });
});

describe('a new pillar with a public route, where machine clients call the API', () => {
  const { rateFamily: _, ...jwt } = LEDGER_ROUTE;
  const status: RouteSpec = {
    ...jwt,
    operationId: 'getLedgerStatus',
    path: '/ledger/status',
    summary: 'Whether the ledger is up',
    auth: 'public',
    action: 'ledger:status',
  };
  const ledger: PillarManifest = {
    ...LEDGER,
    functions: LEDGER.functions.map((fn) => ({ ...fn, routes: [...(fn.routes ?? []), status] })),
  };

  let synth: Synthesized;
  beforeAll(() => {
    synth = synthPillars([...PILLARS, ledger], 'test', {
      machineClients: [{ name: 'billing', tenant: 'acme', roles: ['viewer'] }],
    });
  });
  afterAll(() => synth?.dispose());

  it('throttles its anonymous route on the stage, which waits for the nested stack (and the nested stack not for it)', () => {
    const api = resourcesOf(synth.apiTemplate);
    const [stageId, stage] = Object.entries(api).find(([, r]) => r.Type === 'AWS::ApiGatewayV2::Stage') ?? [];
    const settings = (stage?.Properties.RouteSettings ?? {}) as Record<string, unknown>;
    expect(settings[routeKeyOf(status)]).toEqual({
      ThrottlingRateLimit: ANONYMOUS_ROUTE_THROTTLE.rateLimit,
      ThrottlingBurstLimit: ANONYMOUS_ROUTE_THROTTLE.burstLimit,
      DetailedMetricsEnabled: true,
    });
    // CloudFormation refuses route settings for a route that does not exist yet: a dependency on a
    // resource of a nested stack is one on the nested stack.
    const nestedId = synth.api.getLogicalId(synth.api.pillarStacks.ledger?.nestedStackResource as never);
    expect(stage?.DependsOn).toContain(nestedId);
    expect(JSON.stringify(api[nestedId]?.Properties.Parameters)).not.toContain(`"${stageId}"`);
    synth.pillarTemplate('ledger').hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: routeKeyOf(status),
      AuthorizationType: 'NONE',
    });
  });

  it('tells its enforcing function the machine clients, as the API stack’s functions are told', () => {
    const resources = resourcesOf(synth.flatApiTemplate);
    const variablesOf = (name: string) => {
      const fn = resources[synth.logicalIdOf(synth.api.functions[name]?.function.node.defaultChild)];
      if (!fn) throw new Error(`no function ${name}`);
      return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    };
    expect(variablesOf('ledger')[MACHINE_CLIENTS_ENV]).toBeDefined();
    expect(variablesOf('ledger')[MACHINE_CLIENTS_ENV]).toEqual(variablesOf('router')[MACHINE_CLIENTS_ENV]);
  });
});

describe('the resource limit, checked at synth', () => {
  it('fails synth naming each stack over the limit with its count, and a nested stack with nothing to deploy', () => {
    // 170 routes are 510 resources (a route, its invoke permission and its 5xx alarm each): the ledger
    // with as many, meta with as many more in the API stack, and a pillar that declares nothing.
    const bulky: PillarManifest = {
      ...LEDGER,
      functions: LEDGER.functions.map((fn) => ({
        ...fn,
        routes: Array.from({ length: 170 }, (_, i) => ({
          ...LEDGER_ROUTE,
          operationId: `listEntries${i}`,
          path: `/ledger/entries/${i}`,
        })),
      })),
    };
    const [health] = metaPillar.functions.flatMap((fn) => fn.routes ?? []);
    if (!health) throw new Error('meta has no route');
    const wider: PillarManifest = {
      ...metaPillar,
      functions: metaPillar.functions.map((fn, index) =>
        index > 0
          ? fn
          : {
              ...fn,
              routes: [
                ...(fn.routes ?? []),
                ...Array.from({ length: 170 }, (_, i) => ({
                  ...health,
                  operationId: `${health.operationId}${i}`,
                  path: `${health.path}/${i}`,
                })),
              ],
            },
      ),
    };
    const hollow: PillarManifest = { name: 'hollow', description: 'test: nothing to deploy', functions: [] };
    let message = '';
    try {
      synthPillars([...PILLARS.map((pillar) => (pillar === metaPillar ? wider : pillar)), bulky, hollow]);
    } catch (error) {
      message = (error as Error).message;
    }
    const countOf = (path: string) =>
      Number(
        new RegExp(`${path} would have (\\d+) resources, more than the ${STACK_RESOURCE_LIMIT}`).exec(
          message,
        )?.[1],
      );
    expect(countOf('Conductor-test-Api'), message).toBeGreaterThan(STACK_RESOURCE_LIMIT);
    expect(message).toContain('put new functions and routes into a new pillar');
    expect(countOf('Conductor-test-Api/LedgerPillarStack'), message).toBeGreaterThan(STACK_RESOURCE_LIMIT);
    expect(message).toContain('split it into two pillars');
    expect(message).toContain('Conductor-test-Api/HollowPillarStack has no resource');
  });
});

describe('cdk-nag, registered on the app', () => {
  let outdir = '';
  beforeAll(() => {
    mkdirSync(tmpdir(), { recursive: true });
    outdir = mkdtempSync(join(tmpdir(), 'cdk.out-pillar-stacks-'));
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('reads the nested stacks too: a finding in one fails synth', () => {
    const probe: PillarManifest = {
      name: 'probe',
      description: 'test: a function and nothing else',
      functions: [{ name: 'probe', description: 'test', entry: 'functions/meta/src/handler.ts' }],
    };
    const pillars = [metaPillar, probe];
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stateful = new ConductorStatefulStack(app, 'S', {
      stage: 'test',
      tables: tablesOf(pillars),
      queues: queuesOf(pillars),
    });
    const api = new ConductorApiStack(app, 'A', { stage: 'test', stateful, pillars });
    const nested = api.pillarStacks.probe;
    if (!nested) throw new Error('no nested stack for the probe');
    // No DLQ, no TLS-only policy: AwsSolutions-SQS3 and SQS4.
    new Queue(nested, 'Unguarded');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => Template.fromStack(api)).toThrow(
      /A\/ProbePillarStack\/Unguarded\/Resource[\s\S]*AwsSolutions-SQS3[\s\S]*A\/ProbePillarStack\/Unguarded\/Resource[\s\S]*AwsSolutions-SQS4/,
    );
  });
});
