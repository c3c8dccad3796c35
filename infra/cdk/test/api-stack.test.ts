import { Match } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_SETTINGS } from '#shared/api-settings.js';
import { routeKeyOf } from '#shared/http/http.js';
import {
  enforcesPolicies,
  functionsOf,
  POLICY_TABLE_ID,
  queuesOf,
  routesOf,
  tablesOf,
  tablesOfFunction,
  workflowsOf,
} from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import {
  ANONYMOUS_ROUTE_THROTTLE,
  PILLARS_IN_API_STACK,
  PillarStack,
  RESERVED_CONCURRENCY,
} from '../lib/api-stack.js';
import { pascal } from '../lib/names.js';
import {
  COMPLIANCE_COLLECTOR_ACTIONS,
  PillarServices,
  searchedPersonalTables,
} from '../lib/pillar-services.js';
import { LIVE_ALIAS } from '../lib/service-function.js';
import {
  actionsOf,
  allPolicyStatements,
  type PolicyStatement,
  resourcesOf,
  type Synthesized,
  statefulImport,
  synthConductor,
} from './synth.js';

const ALL_ROUTES = routesOf(PILLARS);
const FUNCTIONS = functionsOf(PILLARS);
const QUEUES = queuesOf(PILLARS);
const TABLES = tablesOf(PILLARS);
const WORKFLOWS = workflowsOf(PILLARS);

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

describe('ConductorApiStack', () => {
  let synth: Synthesized;
  let resources: Resources;
  let authorizerId: string;

  beforeAll(() => {
    synth = synthConductor();
    resources = synth.flatApiTemplate.toJSON().Resources as Resources;
    const authorizers = synth.flatApiTemplate.findResources('AWS::ApiGatewayV2::Authorizer');
    const ids = Object.keys(authorizers);
    expect(ids).toHaveLength(1);
    authorizerId = ids[0] ?? '';
  });
  afterAll(() => synth?.dispose());

  const functionLogicalId = (name: string): string => {
    const fn = synth.api.functions[name];
    if (!fn) throw new Error(`no function ${name}`);
    return synth.logicalIdOf(fn.function.node.defaultChild as CfnFunction);
  };

  /** The Lambda function a route's integration invokes, through its live alias (never $LATEST). */
  const targetFunctionOf = (route: Record<string, unknown>): string => {
    const refIn = (value: unknown) => /"Ref":"([A-Za-z0-9]+)"/.exec(JSON.stringify(value))?.[1] ?? '';
    const integration = resources[refIn(route.Target)];
    expect(integration?.Type).toBe('AWS::ApiGatewayV2::Integration');
    const alias = resources[refIn(integration?.Properties.IntegrationUri)];
    expect(alias?.Type).toBe('AWS::Lambda::Alias');
    expect(alias?.Properties.Name).toBe(LIVE_ALIAS);
    return refIn(alias?.Properties.FunctionName);
  };

  /** The FunctionName an event source mapping on a function's live alias carries: `<name>:live`. */
  const aliasFunctionName = (name: string) => {
    const fn = synth.api.functions[name];
    if (!fn) throw new Error(`no function ${name}`);
    const aliasRef = { Ref: synth.logicalIdOf(fn.alias.node.defaultChild as never) };
    return { 'Fn::Join': ['', [{ 'Fn::Select': [6, { 'Fn::Split': [':', aliasRef] }] }, `:${LIVE_ALIAS}`]] };
  };

  const statementsOfFunction = (name: string): PolicyStatement[] => {
    const fn = synth.api.functions[name];
    if (!fn) throw new Error(`no function ${name}`);
    const roleId = synth.logicalIdOf(fn.role.node.defaultChild as never);
    const managed = ((resources[roleId]?.Properties.ManagedPolicyArns ?? []) as unknown[]).map((arn) =>
      JSON.stringify(arn),
    );
    return Object.entries(resources)
      .filter(
        ([id, resource]) =>
          (resource.Type === 'AWS::IAM::Policy' &&
            JSON.stringify(resource.Properties.Roles) === JSON.stringify([{ Ref: roleId }])) ||
          (resource.Type === 'AWS::IAM::ManagedPolicy' &&
            (managed.includes(JSON.stringify({ Ref: id })) ||
              // CDK's overflow policy of a role whose inline policy outgrew IAM's size limit.
              JSON.stringify(resource.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))),
      )
      .flatMap(
        ([, policy]) => (policy.Properties.PolicyDocument as { Statement: PolicyStatement[] }).Statement,
      );
  };

  const importOfResource = (
    construct: { node: { defaultChild?: unknown } },
    attribute: 'Arn' | 'Ref' | 'QueueName',
  ) => statefulImport(synth, construct, attribute);

  /** The export the API stack imports for a table attribute, read from the stateful template. */
  const importOf = (tableId: string, attribute: 'Arn'): unknown =>
    importOfResource(synth.stateful.table(tableId), attribute);

  describe('pillars', () => {
    it('builds one PillarServices construct per manifest of PILLARS, in catalog order, named <Pascal pillar>Pillar', () => {
      // Those of PILLARS_IN_API_STACK in the stack itself, every other one in a nested stack of its own.
      const inApiStack = PILLARS.filter((pillar) => PILLARS_IN_API_STACK.includes(pillar.name));
      const nested = PILLARS.filter((pillar) => !PILLARS_IN_API_STACK.includes(pillar.name));
      const pillarsIn = (scope: IConstruct) =>
        scope.node.children.filter((child) => child instanceof PillarServices);
      expect(pillarsIn(synth.api).map((child) => child.node.id)).toEqual(
        inApiStack.map((pillar) => `${pascal(pillar.name)}Pillar`),
      );
      const stacks = synth.api.node.children.filter((child) => child instanceof PillarStack);
      expect(stacks.map((child) => child.node.id)).toEqual(
        nested.map((pillar) => `${pascal(pillar.name)}PillarStack`),
      );
      for (const [index, stack] of stacks.entries()) {
        expect(pillarsIn(stack).map((child) => child.node.id)).toEqual([
          `${pascal(nested[index]?.name ?? '')}Pillar`,
        ]);
      }
      const constructs = [synth.api, ...stacks].flatMap(pillarsIn);
      expect(Object.keys(synth.api.pillars)).toEqual(PILLARS.map((pillar) => pillar.name));
      for (const pillar of PILLARS) {
        const services = synth.api.pillars[pillar.name];
        expect(services).toBeInstanceOf(PillarServices);
        expect(constructs).toContain(services);
        expect(services?.pillar).toBe(pillar);
        expect(Object.keys(services?.functions ?? {})).toEqual(pillar.functions.map((fn) => fn.name));
        // Each function is built inside its pillar's construct.
        for (const fn of Object.values(services?.functions ?? {})) {
          expect(fn.node.scope).toBe(services);
        }
      }
    });

    it('exposes every pillar’s functions by name, once', () => {
      expect(Object.keys(synth.api.functions).sort()).toEqual(FUNCTIONS.map((fn) => fn.name).sort());
      for (const services of Object.values(synth.api.pillars)) {
        for (const [name, fn] of Object.entries(services.functions))
          expect(synth.api.functions[name]).toBe(fn);
      }
    });

    it('keeps the logical ids a function had as a direct child of the stack (pillar constructs are transparent)', () => {
      for (const entry of FUNCTIONS) {
        expect(functionLogicalId(entry.name)).toMatch(
          new RegExp(`^${pascal(entry.name)}Function[0-9A-F]{8}$`),
        );
      }
      // A schedule's invoke permission is named by CDK after its target's path (stateless: replaced freely).
      expect(
        Object.entries(resources)
          .filter(([id, resource]) => id.includes('Pillar') && resource.Type !== 'AWS::Lambda::Permission')
          .map(([id]) => id),
      ).toEqual([]);
    });
  });

  describe('routes', () => {
    it('creates exactly one route per catalog route, plus $default', () => {
      synth.flatApiTemplate.resourceCountIs('AWS::ApiGatewayV2::Route', ALL_ROUTES.length + 1);
    });

    for (const entry of FUNCTIONS) {
      for (const spec of entry.routes ?? []) {
        it(`routes ${routeKeyOf(spec)} to the ${entry.name} function with ${spec.auth} auth`, () => {
          const found = synth.flatApiTemplate.findResources('AWS::ApiGatewayV2::Route', {
            Properties: { RouteKey: routeKeyOf(spec) },
          });
          const routes = Object.values(found) as { Properties: Record<string, unknown> }[];
          expect(routes).toHaveLength(1);
          const route = routes[0]?.Properties ?? {};
          if (spec.auth === 'jwt') {
            expect(route.AuthorizationType).toBe('JWT');
            expect(route.AuthorizerId).toEqual({ Ref: authorizerId });
          } else {
            expect(route.AuthorizationType).toBe('NONE');
            expect(route.AuthorizerId).toBeUndefined();
          }
          expect(targetFunctionOf(route)).toBe(functionLogicalId(entry.name));
        });
      }
    }

    it('sends $default, unauthenticated, to the function that serves it', () => {
      const servesDefault = FUNCTIONS.filter((entry) => entry.servesDefaultRoute);
      expect(servesDefault).toHaveLength(1);
      const found = Object.values(
        synth.flatApiTemplate.findResources('AWS::ApiGatewayV2::Route', {
          Properties: { RouteKey: '$default' },
        }),
      ) as { Properties: Record<string, unknown> }[];
      expect(found).toHaveLength(1);
      expect(found[0]?.Properties.AuthorizationType).toBe('NONE');
      expect(targetFunctionOf(found[0]?.Properties ?? {})).toBe(
        functionLogicalId(servesDefault[0]?.name ?? ''),
      );
    });
  });

  describe('JWT authorizer', () => {
    it('trusts the Cognito user pool issuer with the app client as audience', () => {
      const pool = Object.keys(synth.flatApiTemplate.findResources('AWS::Cognito::UserPool'));
      const client = Object.keys(synth.flatApiTemplate.findResources('AWS::Cognito::UserPoolClient'));
      expect(pool).toHaveLength(1);
      expect(client).toHaveLength(1);
      synth.flatApiTemplate.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
        AuthorizerType: 'JWT',
        IdentitySource: ['$request.header.Authorization'],
        JwtConfiguration: {
          Issuer: { 'Fn::GetAtt': [pool[0], 'ProviderURL'] },
          Audience: [{ Ref: client[0] }],
        },
      });
    });

    it('requires MFA and a strong password, keeps the tenant immutable, and has one group per role', () => {
      synth.flatApiTemplate.hasResourceProperties('AWS::Cognito::UserPool', {
        MfaConfiguration: 'ON',
        UserPoolTier: 'PLUS',
        AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
        Policies: { PasswordPolicy: Match.objectLike({ MinimumLength: 12, RequireSymbols: true }) },
        Schema: Match.arrayWith([Match.objectLike({ Name: 'tenant', Mutable: false })]),
      });
      synth.flatApiTemplate.hasResourceProperties('AWS::Cognito::UserPoolClient', {
        WriteAttributes: Match.not(Match.arrayWith(['custom:tenant'])),
        ReadAttributes: Match.arrayWith(['custom:tenant']),
      });
      synth.flatApiTemplate.resourceCountIs('AWS::Cognito::UserPoolGroup', 5);
    });
  });

  describe('stage', () => {
    it('is the auto-deployed $default stage with throttling and JSON access logs', () => {
      synth.flatApiTemplate.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
      synth.flatApiTemplate.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: {
          ThrottlingRateLimit: API_SETTINGS.stageThrottle.rateLimit,
          ThrottlingBurstLimit: API_SETTINGS.stageThrottle.burstLimit,
        },
        AccessLogSettings: {
          DestinationArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AccessLogs'), 'Arn'] },
          Format: Match.stringLikeRegexp('"requestId":"\\$context\\.requestId"'),
        },
      });
    });

    it('throttles every anonymous route (public routes and $default) hard, once those routes exist', () => {
      const keys = [
        ...ALL_ROUTES.filter((route) => route.auth === 'public').map(routeKeyOf),
        '$default',
      ].sort();
      expect(keys).toEqual([
        '$default',
        'GET /api/conductor/v1/health',
        'GET /api/conductor/v1/openapi.json',
      ]);
      const template = synth.flatApiTemplate.toJSON().Resources as Record<
        string,
        { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] }
      >;
      const stage = Object.values(template).find((r) => r.Type === 'AWS::ApiGatewayV2::Stage');
      // Only the anonymous routes: token routes keep the stage throttle (DefaultRouteSettings).
      expect(stage?.Properties.RouteSettings).toEqual(
        Object.fromEntries(
          keys.map((key) => [
            key,
            {
              ThrottlingRateLimit: ANONYMOUS_ROUTE_THROTTLE.rateLimit,
              ThrottlingBurstLimit: ANONYMOUS_ROUTE_THROTTLE.burstLimit,
              DetailedMetricsEnabled: true,
            },
          ]),
        ),
      );
      expect(ANONYMOUS_ROUTE_THROTTLE.rateLimit * 10).toBeLessThanOrEqual(
        API_SETTINGS.stageThrottle.rateLimit,
      );
      // CloudFormation refuses route settings for a route key that does not exist yet.
      const routeIds = keys.map(
        (key) =>
          Object.entries(template).find(
            ([, r]) => r.Type === 'AWS::ApiGatewayV2::Route' && r.Properties.RouteKey === key,
          )?.[0],
      );
      expect(stage?.DependsOn).toEqual(expect.arrayContaining(routeIds));
    });

    it('bounds what anonymous traffic can make the $default function do: a hard throttle and little concurrency', () => {
      // $default keeps its function on purpose: it answers unmatched requests with the uniform 404/405
      // error body (API Gateway's own 404 is {"message":"Not Found"}). Anonymous traffic reaching it is
      // throttled at the route and capped by the function's reserved concurrency.
      const servesDefault = FUNCTIONS.filter((entry) => entry.servesDefaultRoute);
      for (const entry of servesDefault) {
        expect((entry.routes ?? []).every((route) => route.auth === 'public')).toBe(true);
        const fn = resources[functionLogicalId(entry.name)];
        expect(fn?.Properties.ReservedConcurrentExecutions).toBe(RESERVED_CONCURRENCY.anonymousRoutes);
      }
    });

    it('outputs the API URL, user pool id, client id and issuer', () => {
      for (const output of ['ApiUrl', 'UserPoolId', 'UserPoolClientId', 'JwtIssuer']) {
        synth.flatApiTemplate.hasOutput(output, {});
      }
    });
  });

  describe('functions', () => {
    it('deploys one Node.js 22 arm64 function with active tracing per catalog entry', () => {
      synth.flatApiTemplate.resourceCountIs('AWS::Lambda::Function', FUNCTIONS.length);
      // 10 s, or what the manifest asks for (the replay function reads a month of decisions: 600 s).
      for (const entry of FUNCTIONS) {
        expect(resources[functionLogicalId(entry.name)]?.Properties.Timeout, entry.name).toBe(
          entry.timeoutSeconds ?? 10,
        );
      }
      expect(FUNCTIONS.find((entry) => entry.name === 'replay')?.timeoutSeconds).toBe(600);
      const functions = synth.flatApiTemplate.findResources('AWS::Lambda::Function');
      for (const fn of Object.values(functions) as { Properties: Record<string, unknown> }[]) {
        expect(fn.Properties).toMatchObject({
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          TracingConfig: { Mode: 'Active' },
          MemorySize: 512,
          Handler: 'index.handler',
          LoggingConfig: { LogGroup: { Ref: expect.stringMatching(/LogGroup/) } },
        });
      }
    });

    for (const entry of FUNCTIONS) {
      it(`gives ${entry.name} the Powertools and Conductor environment and its table names`, () => {
        const fn = resources[functionLogicalId(entry.name)];
        if (!fn) throw new Error(`no Lambda resource for ${entry.name}`);
        const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
        expect(variables).toMatchObject({
          POWERTOOLS_SERVICE_NAME: entry.name,
          POWERTOOLS_METRICS_NAMESPACE: 'Conductor',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          CONDUCTOR_STAGE: 'prod',
          CONDUCTOR_VERSION: expect.stringMatching(/^\d+\.\d+\.\d+/),
          CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS: 'false',
        });
        // Its tables: the ones it names, the policy table when it has token routes, those of its
        // record reads, and (answering data subject requests) those with searched personal data.
        const given = new Set([
          ...tablesOfFunction(entry),
          ...(entry.recordReads ?? []).map((read) => read.table),
          ...(entry.dataSubjectRequests ? searchedPersonalTables(TABLES).map((table) => table.id) : []),
        ]);
        for (const spec of TABLES) {
          if (given.has(spec.id)) {
            expect(JSON.stringify(variables[spec.envVar])).toMatch(
              new RegExp(`Fn::ImportValue.*${spec.id}Table`, 'i'),
            );
          } else {
            expect(variables[spec.envVar]).toBeUndefined();
          }
        }
      });
    }

    it('gives every function (and every workflow) a log group with one month retention', () => {
      const groups = Object.values(synth.flatApiTemplate.findResources('AWS::Logs::LogGroup')) as {
        Properties: { RetentionInDays: number };
      }[];
      // One per function and per workflow, plus the access logs.
      expect(groups).toHaveLength(FUNCTIONS.length + WORKFLOWS.length + 1);
      expect(groups.filter((group) => group.Properties.RetentionInDays === 30)).toHaveLength(
        FUNCTIONS.length + WORKFLOWS.length,
      );
    });
  });

  describe('IAM', () => {
    it('has no Allow statement with a *, dynamodb:* or s3:* action in either stack', () => {
      const forbidden = new Set(['*', 'dynamodb:*', 's3:*']);
      const statements = [
        ...allPolicyStatements(synth.flatApiTemplate),
        ...allPolicyStatements(synth.statefulTemplate),
      ].filter(({ statement }) => statement.Effect === 'Allow');
      expect(statements.length).toBeGreaterThan(0);
      const offending = statements.filter(({ statement }) =>
        actionsOf(statement).some((a) => forbidden.has(a)),
      );
      expect(offending).toEqual([]);
    });

    it('does not attach AWS managed policies to function roles, nor to the CodeDeploy roles', () => {
      const roles = Object.values(synth.flatApiTemplate.findResources('AWS::IAM::Role')) as {
        Properties: Record<string, unknown>;
      }[];
      // Per function: its execution role and the role CodeDeploy shifts its alias with; per workflow its
      // state machine's role; per function running runbook steps its step role.
      expect(roles).toHaveLength(
        2 * FUNCTIONS.length + WORKFLOWS.length + FUNCTIONS.filter((fn) => fn.runbookStepRole).length,
      );
      // The only attached policy is the stack's own X-Ray write policy, on the execution roles.
      const tracing = synth.logicalIdOf(
        synth.api.node.findChild('FunctionTracing').node.defaultChild as never,
      );
      for (const entry of FUNCTIONS) {
        const fn = synth.api.functions[entry.name];
        if (!fn) throw new Error(`no function ${entry.name}`);
        const properties = (id: string) => synth.flatApiTemplate.toJSON().Resources[id].Properties;
        expect(properties(synth.logicalIdOf(fn.role.node.defaultChild as never)).ManagedPolicyArns).toEqual([
          { Ref: tracing },
        ]);
        expect(
          properties(synth.logicalIdOf(fn.deploymentRole.node.defaultChild as never)).ManagedPolicyArns,
        ).toBeUndefined();
      }
      expect(JSON.stringify(roles)).not.toContain(':iam::aws:policy/');
      // Besides X-Ray's, only CDK's overflow policies: customer-managed, each attached to the one role
      // whose inline policy outgrew IAM's size limit (the compliance function's: its collector's
      // reads, record reads and data subject requests), never an AWS managed policy.
      const overflow = Object.entries(synth.flatApiTemplate.findResources('AWS::IAM::ManagedPolicy')).filter(
        ([id]) => id !== tracing,
      );
      expect(overflow.map(([id]) => id.replace(/[0-9A-F]{8,}$/, ''))).toEqual([
        'ComplianceRoleOverflowPolicy',
      ]);
      for (const [, policy] of overflow) {
        expect(policy.Properties.Roles).toHaveLength(1);
        expect(JSON.stringify(policy)).not.toContain(':iam::aws:policy/');
      }
      expect(synth.flatApiTemplate.toJSON().Resources[tracing].Properties.PolicyDocument.Statement).toEqual([
        { Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Effect: 'Allow', Resource: '*' },
      ]);
    });

    it("lets the router function touch the router and policy tables' ARNs and nothing else in DynamoDB", () => {
      const router = FUNCTIONS.find((entry) => entry.name === 'router');
      if (!router) throw new Error('no router function');
      // The router names its own table only; it gets the policy table because it has token routes.
      expect(router.tables).toEqual(['router']);
      expect(tablesOfFunction(router)).toEqual(['router', POLICY_TABLE_ID]);
      const allowed = ['router', 'policy'].flatMap((table) => {
        const arn = importOf(table, 'Arn');
        return [arn, { 'Fn::Join': ['', [arn, '/index/*']] }];
      });
      const dynamo = statementsOfFunction('router').filter((s) =>
        actionsOf(s).some((a) => a.startsWith('dynamodb:')),
      );
      expect(dynamo.length).toBeGreaterThan(0);
      for (const statement of dynamo) {
        expect(actionsOf(statement).every((a) => a.startsWith('dynamodb:') && a !== 'dynamodb:*')).toBe(true);
        for (const resource of resourcesOf(statement)) expect(allowed).toContainEqual(resource);
      }
      expect(dynamo.flatMap(actionsOf)).toEqual(
        expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:PutItem']),
      );
    });

    it('gives every function with token routes the policy table (variable and access) without naming it, and no other function', () => {
      const policyTable = TABLES.find((spec) => spec.id === POLICY_TABLE_ID);
      if (!policyTable) throw new Error('no policy table in the catalog');
      const arn = JSON.stringify(importOf(POLICY_TABLE_ID, 'Arn'));
      const enforcers = FUNCTIONS.filter(enforcesPolicies);
      expect(
        enforcers.filter((entry) => !(entry.tables ?? []).includes(POLICY_TABLE_ID)).length,
      ).toBeGreaterThan(0);
      for (const entry of FUNCTIONS) {
        const gets = enforcesPolicies(entry) || (entry.tables ?? []).includes(POLICY_TABLE_ID);
        const fn = resources[functionLogicalId(entry.name)];
        if (!fn) throw new Error(`no Lambda resource for ${entry.name}`);
        const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
        expect(variables[policyTable.envVar] !== undefined, entry.name).toBe(gets);
        const touches = statementsOfFunction(entry.name).some(
          (s) =>
            actionsOf(s).some((a) => a.startsWith('dynamodb:')) &&
            resourcesOf(s).some((r) => JSON.stringify(r) === arn),
        );
        expect(touches, entry.name).toBe(gets);
      }
    });

    it('gives functions without tables no DynamoDB permissions, and KMS only to read the runbook signing key', () => {
      const tableless = FUNCTIONS.filter((e) => tablesOfFunction(e).length === 0);
      expect(tableless.map((e) => e.name)).toEqual(['meta', 'runbooks-key-age']);
      for (const entry of tableless) {
        const actions = statementsOfFunction(entry.name).flatMap(actionsOf);
        expect(actions.filter((a) => a.startsWith('dynamodb:'))).toEqual([]);
        // runbooks-key-age reads the signing key's age (DescribeKey) and nothing else of KMS.
        expect(actions.filter((a) => a.startsWith('kms:')).sort()).toEqual(
          entry.runbookSigningKey ? ['kms:DescribeKey', 'kms:GetPublicKey'] : [],
        );
        expect(actions).toEqual(
          expect.arrayContaining(['logs:CreateLogStream', 'logs:PutLogEvents', 'xray:PutTraceSegments']),
        );
      }
    });
  });

  describe('queues and the decision archive', () => {
    const enforcing = FUNCTIONS.filter(enforcesPolicies);
    const archiveQueue = () => synth.stateful.queue('decision-archive');
    const variablesOf = (name: string): Record<string, unknown> => {
      const fn = resources[functionLogicalId(name)];
      if (!fn) throw new Error(`no Lambda resource for ${name}`);
      return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    };
    const allowing = (name: string, action: string): PolicyStatement[] =>
      statementsOfFunction(name).filter((s) => s.Effect === 'Allow' && actionsOf(s).includes(action));

    it('maps each queue to its consumer with batch size, batching window, maximum concurrency and partial batch failures', () => {
      synth.flatApiTemplate.resourceCountIs('AWS::Lambda::EventSourceMapping', QUEUES.length);
      for (const spec of QUEUES) {
        synth.flatApiTemplate.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          FunctionName: aliasFunctionName(spec.consumer),
          EventSourceArn: importOfResource(synth.stateful.queue(spec.id), 'Arn'),
          BatchSize: spec.batchSize,
          MaximumBatchingWindowInSeconds: spec.maxBatchingWindowSeconds ?? Match.absent(),
          ScalingConfig: { MaximumConcurrency: spec.maximumConcurrency },
          FunctionResponseTypes: ['ReportBatchItemFailures'],
        });
      }
    });

    it('gathers the decision archive in batches of up to 100 for up to 5 s, and hands rewards over at once', () => {
      const mappingOf = (queueId: string) =>
        Object.values(resources).find(
          (r) =>
            r.Type === 'AWS::Lambda::EventSourceMapping' &&
            JSON.stringify(r.Properties.EventSourceArn) ===
              JSON.stringify(importOfResource(synth.stateful.queue(queueId), 'Arn')),
        )?.Properties;
      expect(mappingOf('decision-archive')).toMatchObject({
        BatchSize: 100,
        MaximumBatchingWindowInSeconds: 5,
      });
      expect(mappingOf('rewards')).toMatchObject({ BatchSize: 10 });
      expect(mappingOf('rewards')?.MaximumBatchingWindowInSeconds).toBeUndefined();
    });

    it('tells every enforcing function that the Cognito pool it creates enforces MFA (step-up)', () => {
      for (const entry of enforcing) {
        expect(variablesOf(entry.name).CONDUCTOR_ISSUER_ENFORCES_MFA).toBe('true');
        expect(variablesOf(entry.name)).not.toHaveProperty('CONDUCTOR_STEP_UP_ACR');
      }
      expect(variablesOf('reward')).not.toHaveProperty('CONDUCTOR_ISSUER_ENFORCES_MFA');
    });

    it('runs the reward consumer as its own function: the rewards queue, the router table and the bus, nothing else', () => {
      expect(QUEUES.find((spec) => spec.id === 'rewards')?.consumer).toBe('reward');
      const reward = resources[functionLogicalId('reward')];
      expect(reward?.Properties.Layers).toBeUndefined();
      const variables = variablesOf('reward');
      expect(Object.keys(variables)).toEqual(expect.arrayContaining(['ROUTER_TABLE_NAME', 'EVENT_BUS_NAME']));
      expect(variables).not.toHaveProperty('POLICY_TABLE_NAME');
      expect(variables).not.toHaveProperty('POLICY_DIR');
      const actions = statementsOfFunction('reward').flatMap(actionsOf);
      expect(actions).toEqual(
        expect.arrayContaining([
          'events:PutEvents',
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'dynamodb:PutItem',
        ]),
      );
      expect(actions.filter((a) => a.startsWith('s3:'))).toEqual([]);
      const rewardsArn = JSON.stringify(importOfResource(synth.stateful.queue('rewards'), 'Arn'));
      const routerConsumes = statementsOfFunction('router').filter(
        (s) =>
          actionsOf(s).includes('sqs:ReceiveMessage') &&
          resourcesOf(s).some((r) => JSON.stringify(r) === rewardsArn),
      );
      expect(routerConsumes).toEqual([]);
    });

    it('lets the consumer receive, delete and release messages of its queue', () => {
      const arn = importOfResource(archiveQueue(), 'Arn');
      const actions = statementsOfFunction('authorize')
        .filter((s) => resourcesOf(s).some((r) => JSON.stringify(r) === JSON.stringify(arn)))
        .flatMap(actionsOf);
      expect(actions).toEqual(
        expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']),
      );
    });

    it('lets every function that enforces policies send to the decision archive queue, and gives it the URL', () => {
      expect(enforcing.map((entry) => entry.name)).toEqual(expect.arrayContaining(['router', 'authorize']));
      const arn = importOfResource(archiveQueue(), 'Arn');
      // The ops function (deadLetterAccess) sends to every queue by design: infra/cdk/test/dead-letters.test.ts.
      for (const entry of FUNCTIONS.filter((fn) => !fn.deadLetterAccess)) {
        const sends = allowing(entry.name, 'sqs:SendMessage');
        // Besides the archive, a function sends only to the queues it is a named producer of.
        const produced = QUEUES.filter(
          (spec) => spec.producers !== 'policy-enforcers' && spec.producers.includes(entry.name),
        );
        for (const spec of produced) {
          expect(variablesOf(entry.name)[spec.envVar]).toEqual(
            importOfResource(synth.stateful.queue(spec.id), 'Ref'),
          );
        }
        const others = produced.map((spec) => importOfResource(synth.stateful.queue(spec.id), 'Arn'));
        // And a consumer to the DLQs of the queues it consumes (a last delivery, with its error).
        const ownDlqs = QUEUES.filter((spec) => spec.consumer === entry.name).map((spec) => {
          const dlq = synth.stateful.deadLetterQueues[spec.id];
          if (!dlq) throw new Error(`no DLQ for ${spec.id}`);
          return importOfResource(dlq, 'Arn');
        });
        // And a workflow's status-change function to that workflow's DLQ (its on-failure destination).
        const statusDlqs = WORKFLOWS.filter((spec) => spec.statusChangesTo === entry.name).map((spec) => {
          const dlq = synth.api.pillars[spec.pillar]?.workflows[spec.id]?.statusDeadLetterQueue;
          if (!dlq) throw new Error(`no status DLQ for ${spec.id}`);
          return { 'Fn::GetAtt': [synth.logicalIdOf(dlq.node.defaultChild as never), 'Arn'] };
        });
        ownDlqs.push(...statusDlqs);
        // And a subscribed function to its subscription's DLQ (its on-failure destination).
        for (const pillar of PILLARS) {
          for (const subscription of (pillar.subscriptions ?? []).filter((s) => s.function === entry.name)) {
            const dlq = synth.api.pillars[pillar.name]?.subscriptions[subscription.id]?.queue;
            if (!dlq) throw new Error(`no DLQ for subscription ${subscription.id}`);
            ownDlqs.push({ 'Fn::GetAtt': [synth.logicalIdOf(dlq.node.defaultChild as never), 'Arn'] });
          }
        }
        const byText = (list: unknown[]) => list.map((r) => JSON.stringify(r)).sort();
        if (enforcing.includes(entry)) {
          expect(byText(sends.flatMap(resourcesOf))).toEqual(byText([arn, ...others, ...ownDlqs]));
          expect(variablesOf(entry.name).DECISION_ARCHIVE_QUEUE_URL).toEqual(
            importOfResource(archiveQueue(), 'Ref'),
          );
        } else {
          // A queue consumer that is also a named producer (the scheduler's worker sends the
          // router its job outcomes) sends to both.
          expect(byText(sends.flatMap(resourcesOf))).toEqual(byText([...others, ...ownDlqs]));
          expect(variablesOf(entry.name).DECISION_ARCHIVE_QUEUE_URL).toBeUndefined();
        }
      }
    });

    it('lets the authorize function put and get evidence under decisions/ only, and nothing else on the bucket', () => {
      const s3 = statementsOfFunction('authorize').filter((s) =>
        actionsOf(s).some((a) => a.startsWith('s3:')),
      );
      expect(s3).toHaveLength(1);
      expect([...actionsOf(s3[0] as PolicyStatement)].sort()).toEqual(['s3:GetObject', 's3:PutObject']);
      expect(resourcesOf(s3[0] as PolicyStatement)).toEqual([
        { 'Fn::Join': ['', [{ 'Fn::ImportValue': 'conductor-prod-evidence-bucket-arn' }, '/decisions/*']] },
      ]);
      const kms = allowing('authorize', 'kms:GenerateDataKey').filter((s) =>
        JSON.stringify(s).includes('"s3.'),
      );
      expect(kms.flatMap(resourcesOf)).toEqual([importOfResource(synth.stateful.evidenceKey, 'Arn')]);
      expect(JSON.stringify(variablesOf('authorize').EVIDENCE_BUCKET_NAME)).toMatch(
        /Fn::ImportValue.*EvidenceBucket/,
      );
      // The other functions with evidence prefixes (the runbooks pillar's trail mirror, runbooks/) put
      // and get under their own prefix only; the rest nothing (the artifacts writers: the next test).
      for (const entry of FUNCTIONS.filter(
        (e) => !['authorize', 'eval', 'eval-worker'].includes(e.name) && (e.artifacts ?? []).length === 0,
      )) {
        const prefixes = entry.evidence ?? [];
        // Not the compliance collector's configuration reads of the buckets (least-privilege.test.ts).
        const collectorReads: readonly string[] = COMPLIANCE_COLLECTOR_ACTIONS.s3;
        const s3 = statementsOfFunction(entry.name).filter(
          (s) =>
            actionsOf(s).some((a) => a.startsWith('s3:')) &&
            !actionsOf(s).every((a) => collectorReads.includes(a)),
        );
        // One entry per action and resource: CDK merges statements alike but for their resources.
        const flat = (
          list: readonly { actions: readonly string[]; resources: readonly unknown[]; condition?: unknown }[],
        ) =>
          list
            .flatMap(({ actions, resources, condition }) =>
              actions.flatMap((action) =>
                resources.map((resource) =>
                  JSON.stringify({ action, resource, condition: condition ?? null }),
                ),
              ),
            )
            .sort();
        expect(
          flat(
            s3.map((statement) => ({
              actions: actionsOf(statement),
              resources: resourcesOf(statement),
              condition: (statement as { Condition?: unknown }).Condition,
            })),
          ),
          entry.name,
        ).toEqual(
          flat([
            ...prefixes.map((prefix) => ({
              actions: ['s3:GetObject', 's3:PutObject'],
              resources: [
                {
                  'Fn::Join': [
                    '',
                    [{ 'Fn::ImportValue': 'conductor-prod-evidence-bucket-arn' }, `/${prefix}*`],
                  ],
                },
              ],
            })),
            // Another pillar's folder a check reads (the compliance function's runbooks trail, the
            // decision archive): get, and list narrowed to the folder.
            ...(entry.evidenceReads ?? []).flatMap((prefix) => [
              {
                actions: ['s3:ListBucket'],
                resources: [{ 'Fn::ImportValue': 'conductor-prod-evidence-bucket-arn' }],
                condition: { StringLike: { 's3:prefix': [`${prefix}*`] } },
              },
              {
                actions: ['s3:GetObject'],
                resources: [
                  {
                    'Fn::Join': [
                      '',
                      [{ 'Fn::ImportValue': 'conductor-prod-evidence-bucket-arn' }, `/${prefix}*`],
                    ],
                  },
                ],
              },
            ]),
          ]),
        );
        if (prefixes.length === 0 && (entry.evidenceReads ?? []).length === 0)
          expect(variablesOf(entry.name).EVIDENCE_BUCKET_NAME).toBeUndefined();
        expect(variablesOf(entry.name).ARTIFACTS_BUCKET_NAME).toBeUndefined();
      }
      expect(FUNCTIONS.filter((e) => (e.evidence ?? []).includes('runbooks/')).map((e) => e.name)).toEqual([
        'runbooks',
        'runbooks-approval-request',
        'runbooks-run-steps',
        'runbooks-flow-events',
      ]);
    });

    it('lets the eval functions put and get artifacts under eval/ only, and nothing on the evidence bucket', () => {
      for (const name of ['eval', 'eval-worker']) {
        const s3 = statementsOfFunction(name).filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')));
        expect(s3, name).toHaveLength(1);
        expect([...actionsOf(s3[0] as PolicyStatement)].sort()).toEqual(['s3:GetObject', 's3:PutObject']);
        expect(resourcesOf(s3[0] as PolicyStatement)).toEqual([
          { 'Fn::Join': ['', [{ 'Fn::ImportValue': 'conductor-prod-artifacts-bucket-arn' }, '/eval/*']] },
        ]);
        const kms = allowing(name, 'kms:GenerateDataKey').filter((s) => JSON.stringify(s).includes('"s3.'));
        expect(kms.flatMap(resourcesOf)).toEqual([importOfResource(synth.stateful.evidenceKey, 'Arn')]);
        expect(JSON.stringify(variablesOf(name).ARTIFACTS_BUCKET_NAME)).toMatch(
          /Fn::ImportValue.*ArtifactsBucket/,
        );
        expect(variablesOf(name).EVIDENCE_BUCKET_NAME).toBeUndefined();
      }
    });
  });

  describe('the policy layer', () => {
    it('attaches the policy layer and the default engine (OPA) with its directory to every function with token routes', () => {
      const layers = synth.flatApiTemplate.findResources('AWS::Lambda::LayerVersion');
      expect(Object.keys(layers)).toHaveLength(1);
      const [layerId] = Object.keys(layers);
      for (const entry of FUNCTIONS) {
        const enforces = (entry.routes ?? []).some((spec) => spec.auth === 'jwt');
        const fn = resources[functionLogicalId(entry.name)]?.Properties as {
          Environment: { Variables: Record<string, unknown> };
          Layers?: unknown[];
        };
        expect(fn.Environment.Variables.POLICY_DIR).toBe(enforces ? '/opt/policies/opa' : undefined);
        expect(fn.Environment.Variables.POLICY_ENGINE).toBe(enforces ? 'opa' : undefined);
        expect(fn.Layers ?? []).toEqual(enforces ? [{ Ref: layerId }] : []);
      }
    });
  });
});

describe('ConductorApiStack with an external OIDC issuer', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthConductor({
      props: {
        stage: 'dev',
        oidc: {
          issuer: 'https://login.example.com/realms/conductor',
          audience: ['conductor-api', 'conductor-cli'],
        },
        stepUpAcr: ['urn:example:loa:2', 'urn:example:loa:3'],
        schedulerTenantWeights: { acme: 3, globex: 2 },
      },
    });
  });
  afterAll(() => synth?.dispose());

  it('passes the tenants’ fair-share weights to the scheduler function, and to no other', () => {
    const fns = Object.values(synth.flatApiTemplate.findResources('AWS::Lambda::Function')).map((r) => ({
      name: String((r.Properties.Description as string | undefined) ?? ''),
      variables:
        (r.Properties.Environment as { Variables: Record<string, unknown> } | undefined)?.Variables ?? {},
    }));
    const weighted = fns.filter(({ variables }) => 'SCHEDULER_TENANT_WEIGHTS' in variables);
    expect(weighted.map(({ name }) => name.split(':')[0])).toEqual(['Conductor scheduler']);
    expect(JSON.parse(String(weighted[0]?.variables.SCHEDULER_TENANT_WEIGHTS))).toEqual({
      acme: 3,
      globex: 2,
    });
  });

  it('trusts step-up only from amr or the configured acr values, not from the issuer', () => {
    const fns = Object.values(synth.flatApiTemplate.findResources('AWS::Lambda::Function')).map(
      (r) =>
        (r.Properties.Environment as { Variables: Record<string, unknown> } | undefined)?.Variables ?? {},
    );
    const enforcing = fns.filter((v) => 'POLICY_DIR' in v);
    expect(enforcing.length).toBeGreaterThan(0);
    for (const variables of enforcing) {
      expect(variables).not.toHaveProperty('CONDUCTOR_ISSUER_ENFORCES_MFA');
      expect(variables.CONDUCTOR_STEP_UP_ACR).toBe('urn:example:loa:2,urn:example:loa:3');
    }
  });

  it('verifies that issuer and audience and creates no user pool', () => {
    synth.flatApiTemplate.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      JwtConfiguration: {
        Issuer: 'https://login.example.com/realms/conductor',
        Audience: ['conductor-api', 'conductor-cli'],
      },
    });
    synth.flatApiTemplate.resourceCountIs('AWS::Cognito::UserPool', 0);
    expect(Object.keys(synth.flatApiTemplate.findOutputs('*'))).not.toContain('UserPoolId');
  });

  it('names stacks and resources after the stage', () => {
    expect(synth.api.stackName).toBe('Conductor-dev-Api');
    expect(synth.stateful.stackName).toBe('Conductor-dev-Stateful');
    synth.flatApiTemplate.hasResourceProperties('AWS::ApiGatewayV2::Api', { Name: 'conductor-dev' });
    synth.statefulTemplate.hasResourceProperties('AWS::Events::EventBus', { Name: 'conductor-dev' });
  });
});
