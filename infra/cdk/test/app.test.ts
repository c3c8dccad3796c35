import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { App, NestedStack, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeKeyOf } from '#shared/http/http.js';
import {
  type FunctionSpec,
  functionsOf,
  type PillarManifest,
  type QueueSpec,
  queuesOf,
  routesOf,
  tablesOf,
} from '#shared/pillar.js';
import { policyVersionOf } from '#shared/policy/cedar.js';
import { DEFAULT_POLICY_ENGINE, readPolicySources, readValidatedManifest } from '#shared/policy/source.js';
import { authorizeRoutes } from '../../../functions/authorize/contract.js';
import { authorizePillar } from '../../../functions/authorize/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { ConductorApiStack, PILLARS_IN_API_STACK } from '../lib/api-stack.js';
import { buildApp, propsFromContext } from '../lib/app.js';
import { PillarServices } from '../lib/pillar-services.js';
import { ESM_REQUIRE_BANNER, REPO_ROOT } from '../lib/service-function.js';
import { ConductorStatefulStack } from '../lib/stateful-stack.js';
import { LEDGER, LEDGER_ROUTE } from './ledger-pillar.js';
import { type Synthesized, statefulImport, synthConductor, synthPillars } from './synth.js';

const FUNCTIONS = functionsOf(PILLARS);
const QUEUES = queuesOf(PILLARS);
const TABLES = tablesOf(PILLARS);
/** The catalog's pillars built in the API stack itself, and those in a nested stack of their own. */
const IN_API_STACK = PILLARS.filter((pillar) => PILLARS_IN_API_STACK.includes(pillar.name));
const NESTED = PILLARS.filter((pillar) => !PILLARS_IN_API_STACK.includes(pillar.name));

/** Apps that are built but never synthesized still claim an outdir: keep them in one folder. */
let scratch = '';
let scratchCount = 0;
beforeAll(() => {
  mkdirSync(tmpdir(), { recursive: true });
  scratch = mkdtempSync(join(tmpdir(), 'cdk.out-scratch-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const scratchApp = (context: Record<string, unknown> = {}): App => {
  scratchCount += 1;
  return new App({ outdir: join(scratch, String(scratchCount)), context });
};

describe('Conductor app, bundled for real', () => {
  let synth: Synthesized;
  // A deployment's custom compliance catalog (context complianceCatalogDir): one more framework.
  const catalogDir = mkdtempSync(join('/tmp', 'conductor-custom-catalog-'));
  const ISO = {
    apiVersion: 'conductor.framework/v1',
    id: 'ISO27001',
    name: 'ISO/IEC 27001:2022 Annex A (excerpt)',
    criteria: [{ id: 'A.8.15', title: 'Logging', controls: ['log-retention'] }],
  };
  beforeAll(() => {
    writeFileSync(join(catalogDir, 'iso27001.json'), JSON.stringify(ISO));
    // Bundles every function with the local esbuild (no Docker); Template.fromStack inside
    // synthConductor would throw "Validation failed" on any unacknowledged cdk-nag finding.
    synth = synthConductor({ bundle: true, props: { complianceCatalogDir: catalogDir } });
  });
  afterAll(() => {
    synth?.dispose();
    rmSync(catalogDir, { recursive: true, force: true });
  });

  it('copies the custom compliance catalog into the compliance bundle, and points the function at it', () => {
    for (const entry of FUNCTIONS) {
      const copied = join(bundleOf(entry.name), 'compliance-catalog', 'iso27001.json');
      expect(`${entry.name}: ${existsSync(copied)}`).toBe(
        `${entry.name}: ${entry.complianceCollector === true}`,
      );
    }
    expect(
      JSON.parse(readFileSync(join(bundleOf('compliance'), 'compliance-catalog', 'iso27001.json'), 'utf8')),
    ).toEqual(ISO);
    const fn = synth.api.functions.compliance?.function.node.defaultChild as CfnFunction;
    const { variables } = Stack.of(fn).resolve(fn.environment) as { variables: Record<string, unknown> };
    expect(variables.CONDUCTOR_COMPLIANCE_CATALOG_DIR).toBe('/var/task/compliance-catalog');
  });

  it('has zero unacknowledged cdk-nag AwsSolutions findings', () => {
    const report = new AwsSolutionsChecks(synth.app).validateScope(synth.app);
    expect(
      report.violations.map(
        (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.resourceLogicalId).join(', ')}`,
      ),
    ).toEqual([]);
    expect(report.success).toBe(true);
  });

  /** The bundle folder of one function, found through the S3 key of its code asset. */
  const bundleOf = (name: string): string => {
    const fn = synth.api.functions[name];
    if (!fn) throw new Error(`no function ${name}`);
    const cfn = fn.function.node.defaultChild as CfnFunction;
    const code = synth.api.resolve(cfn.code) as { s3Key: string };
    return join(synth.outdir, `asset.${code.s3Key.replace(/\.zip$/, '')}`);
  };

  /**
   * KB allowed beyond the 500 of every other bundle, and why: the eval functions bundle ajv (and
   * fast-uri), 130 KB, to check a suite's JSON Schemas at registration and score against them; so do
   * the runbooks API (a runbook's parameters schema, at publish and execute) and the run-steps
   * function (the parameters again before a run, and the SigV4 signer of its aws-api steps).
   */
  const LARGER_BUNDLES: Readonly<Record<string, number>> = {
    eval: 640,
    'eval-worker': 640,
    runbooks: 640,
    'runbooks-run-steps': 640,
  };

  for (const entry of FUNCTIONS) {
    it(`bundles ${entry.name} into one ES module with the require banner and no unresolved #shared import`, () => {
      const file = join(bundleOf(entry.name), 'index.mjs');
      expect(existsSync(file)).toBe(true);
      expect(existsSync(`${file}.map`)).toBe(true);
      const code = readFileSync(file, 'utf8');
      expect(code.startsWith(ESM_REQUIRE_BANNER)).toBe(true);
      expect(code).not.toMatch(/["']#shared\//);
      // Bundled, not left for the runtime: no bare ES import is left. The AWS SDK v3 of the Lambda
      // runtime and the policy engines of the layer are loaded with require (RUNTIME_SDK_PACKAGES).
      const bare = [...code.matchAll(/\bfrom\s*["']((?!node:)[@a-z][^"']*)["']/g)].map((m) => m[1] ?? '');
      expect(bare).toEqual([]);
      expect(code.length).toBeLessThan((LARGER_BUNDLES[entry.name] ?? 500) * 1024);
    });
  }

  it('bundles only packages of the dependencies, never a development tool (dynalite, aws-cdk-lib, croner)', () => {
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    // The lockfile marks a package `dev` when only development dependencies need it.
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const packagePathOf = (source: string): string | undefined =>
      /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(source.replace(/^(\.\.\/)+/, ''))?.[1];
    for (const entry of FUNCTIONS) {
      const map = JSON.parse(readFileSync(join(bundleOf(entry.name), 'index.mjs.map'), 'utf8')) as {
        sources: string[];
      };
      const bundled = new Set(
        map.sources.map(packagePathOf).filter((path): path is string => path !== undefined),
      );
      expect(bundled.size).toBeGreaterThan(0);
      const devOnly = [...bundled].filter((path) => lock.packages[path]?.dev === true);
      const unknown = [...bundled].filter((path) => lock.packages[path] === undefined);
      expect(`${entry.name}: ${[...devOnly, ...unknown].join(', ')}`).toBe(`${entry.name}: `);
    }
    for (const tool of ['dynalite', 'aws-cdk-lib', 'constructs', 'croner', 'tsx']) {
      expect(Object.keys(manifest.dependencies)).not.toContain(tool);
    }
  });

  it('imports every bundle with the AWS SDK and the policy engines reachable only through NODE_PATH, as on Lambda', () => {
    // The bundles are copied where no node_modules folder is above them (the test's TMPDIR is inside
    // the project), so an ES import of the SDK would fail: ES modules ignore NODE_PATH. On Lambda the
    // runtime's SDK (/var/runtime/node_modules) and the layer's Cedar (/opt/nodejs/node_modules) are
    // on NODE_PATH; this repository's node_modules stands in for both.
    const outside = mkdtempSync(join('/tmp', 'conductor-bundles-'));
    try {
      for (let dir = outside; dir !== dirname(dir); dir = dirname(dir))
        expect(existsSync(join(dir, 'node_modules'))).toBe(false);
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        NODE_NO_WARNINGS: '1',
        NODE_PATH: join(REPO_ROOT, 'node_modules'),
        // The default engine's bundle, as the policy layer puts it at /opt/policies/<engine>.
        POLICY_DIR: join(REPO_ROOT, 'policies', DEFAULT_POLICY_ENGINE),
        // The ops function's queue map (the CDK app sets it; this import needs none).
        CONDUCTOR_QUEUES: '{}',
        // The queue consumers' own queues (the CDK app sets them; this import needs none).
        CONDUCTOR_CONSUMED_QUEUES: '{}',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'x',
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_TRACE_ENABLED: 'false',
        POWERTOOLS_LOG_LEVEL: 'ERROR',
        EVIDENCE_BUCKET_NAME: 'test-evidence',
        ARTIFACTS_BUCKET_NAME: 'test-artifacts',
        EVENT_BUS_NAME: 'test-bus',
        // The runbooks functions' deployment settings (the CDK app sets them; an import needs them).
        APPROVAL_FLOW_ARN:
          'arn:aws:states:us-east-1:000000000000:stateMachine:conductor-test-runbooks-approval-flow',
        RUNBOOK_SIGNING_KEY_ARN:
          'arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000',
        RUNBOOK_STEP_ROLE_ARN: 'arn:aws:iam::000000000000:role/conductor-test-step-role',
        // The compliance function's DSR key (the CDK app sets it; locally a key file stands in).
        DSR_SUBJECT_KEY_ARN: 'arn:aws:kms:us-east-1:000000000000:key/11111111-1111-1111-1111-111111111111',
        RUNBOOK_ALLOWED_LAMBDAS: '',
        RUNBOOK_ALLOWED_AWS_APIS: '',
        ...Object.fromEntries(TABLES.map((table) => [table.envVar, 'test'])),
        ...Object.fromEntries(
          QUEUES.map((queue) => [
            queue.envVar,
            `https://sqs.us-east-1.amazonaws.com/000000000000/${queue.id}`,
          ]),
        ),
      };
      for (const entry of FUNCTIONS) {
        const dir = join(outside, entry.name);
        cpSync(bundleOf(entry.name), dir, { recursive: true });
        const script = `const m = await import(${JSON.stringify(join(dir, 'index.mjs'))}); process.stdout.write(typeof m.handler);`;
        const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
          env,
          encoding: 'utf8',
        });
        expect(`${entry.name}: ${output}`).toBe(`${entry.name}: function`);
      }
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('runs the bundled meta handler: health answers 200 on this Node', () => {
    const dir = bundleOf('meta');
    const script = `
      const { handler } = await import(${JSON.stringify(join(dir, 'index.mjs'))});
      const path = '/api/conductor/v1/health';
      const result = await handler(
        { version: '2.0', routeKey: 'GET ' + path, rawPath: path, rawQueryString: '', headers: {},
          requestContext: { requestId: 'req-bundle-test', http: { method: 'GET', path } }, isBase64Encoded: false },
        { functionName: 'meta', awsRequestId: 'req-bundle-test', getRemainingTimeInMillis: () => 10000 },
      );
      process.stdout.write(JSON.stringify(result));
    `;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        PATH: process.env.PATH,
        NODE_NO_WARNINGS: '1',
        CONDUCTOR_STAGE: 'test',
        CONDUCTOR_VERSION: '9.9.9',
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_LOG_LEVEL: 'ERROR',
      },
      encoding: 'utf8',
    });
    const result = JSON.parse(output) as { statusCode: number; body: string };
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toMatchObject({ status: 'ok', version: '9.9.9', stage: 'test' });
  });
});

describe('buildApp', () => {
  it('checks a custom compliance catalog at synth: a malformed file stops it naming the file, the path and the reason', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conductor-bad-catalog-'));
    try {
      const file = join(dir, 'vendors.json');
      const control = (frequency: string) => ({
        apiVersion: 'conductor.controls/v1',
        controls: [
          {
            id: 'vendor-review',
            title: 'Vendors reviewed',
            description: 'Every vendor reviewed yearly.',
            owner: 'grc',
            tests: ['platform.vendor-list'],
            frequency,
            severity: 'low',
            likelihood: 2,
            impact: 3,
          },
        ],
      });
      writeFileSync(file, JSON.stringify(control('yearly')));
      expect(() => buildApp(scratchApp(), { complianceCatalogDir: dir })).toThrow(
        `${file}: controls[0].frequency: must be "hourly" or "daily" or "weekly", got "yearly"`,
      );
      writeFileSync(file, JSON.stringify(control('daily')));
      expect(() => buildApp(scratchApp(), { complianceCatalogDir: dir })).toThrow(
        `${file}: controls[0].tests[0]: no collector runs test "platform.vendor-list"`,
      );
      expect(() => buildApp(scratchApp(), { complianceCatalogDir: join(dir, 'missing') })).toThrow(
        /complianceCatalogDir '.*missing' is not a folder/,
      );
      const node = new Stack(scratchApp({ complianceCatalogDir: ` ${dir} ` }), 'Probe').node;
      expect(propsFromContext(node).complianceCatalogDir).toBe(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a malformed stage', () => {
    expect(() => buildApp(scratchApp(), { stage: 'Prod_1' })).toThrow(/stage 'Prod_1'/);
  });

  it('refuses a non-https OIDC issuer and an empty audience', () => {
    expect(() =>
      buildApp(scratchApp(), { oidc: { issuer: 'http://idp.example.com', audience: ['a'] } }),
    ).toThrow(/must be an https URL/);
    expect(() =>
      buildApp(scratchApp(), { oidc: { issuer: 'https://idp.example.com', audience: [] } }),
    ).toThrow(/at least one/);
  });

  it('refuses an alarmEmail that is not one email address', () => {
    for (const alarmEmail of ['ops', 'ops@example', 'a@example.com,b@example.com', 'ops @example.com']) {
      expect(() =>
        buildApp(scratchApp({ 'aws:cdk:bundling-stacks': [] }), { alarmEmail, nag: false }),
      ).toThrow(/alarmEmail/);
    }
  });

  it('subscribes the deprecated alarmEmail to both alert topics, as it heard every alarm before', () => {
    const app = scratchApp({ 'aws:cdk:bundling-stacks': [] });
    const { stateful } = buildApp(app, { alarmEmail: 'ops@example.com', nag: false });
    const template = Template.fromStack(stateful);
    template.resourceCountIs('AWS::SNS::Subscription', 2);
    for (const topic of [stateful.pageTopic, stateful.ticketTopic]) {
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: 'ops@example.com',
        TopicArn: { Ref: stateful.getLogicalId(topic.node.defaultChild as never) },
      });
    }
  });

  it('refuses an evidenceRetentionDays that is not a whole number of days from 1 to 36500', () => {
    for (const evidenceRetentionDays of [0, 1.5, 36_501]) {
      expect(() =>
        buildApp(scratchApp({ 'aws:cdk:bundling-stacks': [] }), { evidenceRetentionDays, nag: false }),
      ).toThrow(/evidenceRetentionDays/);
    }
  });

  it('refuses runbookSigners that are not IAM role ARNs', () => {
    expect(() =>
      buildApp(scratchApp({ 'aws:cdk:bundling-stacks': [] }), {
        runbookSigners: ['arn:aws:iam::123456789012:group/signers'],
        nag: false,
      }),
    ).toThrow(/runbookSigners 'arn:aws:iam::123456789012:group\/signers' is not an IAM role ARN/);
  });

  it('ships the policy layer with the manifest of its validated policies (no validation at cold start)', () => {
    const { api } = buildApp(scratchApp({ 'aws:cdk:bundling-stacks': [] }), { nag: false });
    const staged = join(tmpdir(), `conductor-policy-layer-${api.policyLayer.contentHash}`, 'policies/cedar');
    const manifest = readValidatedManifest(staged);
    expect(manifest?.policyVersion).toBe(policyVersionOf(readPolicySources(staged)));
    expect(manifest?.policies.length).toBeGreaterThan(5);
  });

  it('with policyEngine=opa ships the committed OPA bundle (current with the Rego), with no opa needed', () => {
    const { api } = buildApp(scratchApp({ 'aws:cdk:bundling-stacks': [] }), {
      policyEngine: 'opa',
      nag: false,
    });
    expect(api.policyLayer.engine).toBe('opa');
    const staged = join(tmpdir(), `conductor-policy-layer-${api.policyLayer.contentHash}`, 'policies/opa');
    for (const file of ['policy.wasm', 'bundle.json']) {
      expect(readFileSync(join(staged, file)).equals(readFileSync(join('policies/opa', file))), file).toBe(
        true,
      );
    }
  });
});

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/** The environment variables of the Lambda function `logicalId` of a template's resources. */
const variablesIn = (resources: Resources, logicalId: string): Record<string, unknown> => {
  const fn = resources[logicalId];
  if (fn?.Type !== 'AWS::Lambda::Function') throw new Error(`no Lambda function ${logicalId}`);
  return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
};

describe('ConductorApiStack catalog checks', () => {
  /** The stateful stack of the catalog, or one with only these queues (`[]`: none to serve). */
  const stacks = (queues?: readonly QueueSpec[]) => {
    const app = scratchApp({ 'aws:cdk:bundling-stacks': [] });
    const stateful = new ConductorStatefulStack(app, 'S', { stage: 'test', ...(queues ? { queues } : {}) });
    return { app, stateful };
  };
  const entry: FunctionSpec = {
    name: 'broken',
    description: 'test',
    entry: 'functions/meta/src/handler.ts',
  };
  const pillarOf = (name: string, over: Partial<PillarManifest> = {}): PillarManifest => ({
    name,
    description: 'test',
    functions: [],
    ...over,
  });
  const archive = QUEUES.find((spec) => spec.id === 'decision-archive');
  if (!archive) throw new Error('no decision-archive queue');

  it('fails early on a table id the stateful stack does not have', () => {
    const { app, stateful } = stacks([]);
    // The pillar declares the table, but the stateful stack was built without it.
    const broken = pillarOf('broken', {
      functions: [{ ...entry, tables: ['nope'] }],
      tables: [{ id: 'nope', envVar: 'NOPE_TABLE_NAME', description: 'test' }],
    });
    expect(() => new ConductorApiStack(app, 'A', { stage: 'test', stateful, pillars: [broken] })).toThrow(
      /Unknown table id 'nope'/,
    );
  });

  it('fails early on a table id no pillar declares', () => {
    const { app, stateful } = stacks();
    const broken = pillarOf('broken', { functions: [{ ...entry, tables: ['nope'] }] });
    expect(() => new ConductorApiStack(app, 'A', { stage: 'test', stateful, pillars: [broken] })).toThrow(
      "Function 'broken' names table 'nope', which no pillar declares",
    );
  });

  it('fails early when a queue’s consumer is not one of its pillar’s functions', () => {
    const { app, stateful } = stacks();
    const lone = pillarOf('lone', { functions: [{ ...entry, name: 'lone' }], queues: [archive] });
    expect(() => new ConductorApiStack(app, 'A', { stage: 'test', stateful, pillars: [lone] })).toThrow(
      "Queue 'decision-archive' of pillar 'lone' is consumed by 'authorize', which is not one of its functions",
    );
    // Nor a function of another pillar: the consumer belongs to the queue's pillar.
    const { app: app3, stateful: stateful3 } = stacks();
    const borrowed = pillarOf('borrowed', {
      functions: [{ ...entry, name: 'borrowed' }],
      queues: [{ ...archive, id: 'borrowed' }],
    });
    expect(
      () =>
        new ConductorApiStack(app3, 'A', {
          stage: 'test',
          stateful: stateful3,
          pillars: [...PILLARS, borrowed],
        }),
    ).toThrow(
      "Queue 'borrowed' of pillar 'borrowed' is consumed by 'authorize', which is not one of its functions",
    );
  });

  it('fails early when a queue of the stateful stack has no consumer among the pillars deployed', () => {
    const { app, stateful } = stacks();
    // The stateful stack holds every catalog queue; this API stack leaves out the authorize pillar
    // (another pillar declares the policy table), so decision-archive would have no consumer.
    const policyTable = pillarOf('tables', {
      tables: [{ id: 'policy', envVar: 'POLICY_TABLE_NAME', description: 'test' }],
    });
    const withoutAuthorize = [...PILLARS.filter((pillar) => pillar.name !== 'authorize'), policyTable];
    expect(
      () => new ConductorApiStack(app, 'A', { stage: 'test', stateful, pillars: withoutAuthorize }),
    ).toThrow("Queue 'decision-archive' is consumed by 'authorize', which is not in the catalog");
  });

  it('fails early when a queue names a producer that is not in the catalog', () => {
    const { app, stateful } = stacks();
    const producing = pillarOf('producing', {
      functions: [{ ...entry, name: 'producing' }],
      queues: [{ ...archive, id: 'produced', consumer: 'producing', producers: ['ghost'] }],
    });
    expect(
      () => new ConductorApiStack(app, 'A', { stage: 'test', stateful, pillars: [...PILLARS, producing] }),
    ).toThrow("Queue 'produced' names producer 'ghost', which is not in the catalog");
  });

  it('fails early when a queue’s visibility timeout is shorter than its consumer’s timeout', () => {
    const app = scratchApp({ 'aws:cdk:bundling-stacks': [] });
    const stateful = new ConductorStatefulStack(app, 'S', {
      stage: 'test',
      queues: [{ ...archive, visibilityTimeoutSeconds: 5 }],
    });
    expect(() => new ConductorApiStack(app, 'A', { stage: 'test', stateful })).toThrow(
      /visibilityTimeoutSeconds 5 is shorter than the timeout of its consumer 'authorize' \(10 s\)/,
    );
  });

  it('fails early when two functions claim the same route, in one pillar or in two', () => {
    const route = FUNCTIONS[0]?.routes?.[0];
    if (!route) throw new Error('catalog has no routes');
    const one = { ...entry, name: 'one', routes: [route] };
    const two = { ...entry, name: 'two', routes: [route] };
    const { app, stateful } = stacks();
    expect(
      () =>
        new ConductorApiStack(app, 'A', {
          stage: 'test',
          stateful,
          pillars: [pillarOf('both', { functions: [one, two] })],
        }),
    ).toThrow(/served by both 'one' and 'two'/);
    const { app: app2, stateful: stateful2 } = stacks();
    expect(
      () =>
        new ConductorApiStack(app2, 'A', {
          stage: 'test',
          stateful: stateful2,
          pillars: [pillarOf('first', { functions: [one] }), pillarOf('second', { functions: [two] })],
        }),
    ).toThrow(/served by both 'one' and 'two'/);
  });

  it('fails early when two pillars declare the same function or pillar name', () => {
    const { app, stateful } = stacks();
    const again = pillarOf('again', { functions: [{ ...entry, name: 'meta' }] });
    expect(
      () => new ConductorApiStack(app, 'A', { stage: 'test', stateful, pillars: [...PILLARS, again] }),
    ).toThrow("Function 'meta' is declared twice in the catalog");
    const { app: app2, stateful: stateful2 } = stacks();
    expect(
      () =>
        new ConductorApiStack(app2, 'A', {
          stage: 'test',
          stateful: stateful2,
          pillars: [...PILLARS, pillarOf('router')],
        }),
    ).toThrow("Pillar 'router' is declared twice in the catalog");
  });

  it('gives a function with token routes the policy table and its variable without naming it', () => {
    const { app, stateful } = stacks([]);
    const route = authorizeRoutes.find((spec) => spec.auth === 'jwt');
    if (!route) throw new Error('no token route');
    // A catalog without the authorize pillar: only the policy table's declaration is kept.
    const kernel = pillarOf('kernel', { tables: authorizePillar.tables });
    const guarded = pillarOf('guarded', {
      functions: [{ ...entry, name: 'guarded', routes: [{ ...route, rateFamily: undefined }] }],
    });
    const api = new ConductorApiStack(app, 'A', { stage: 'test', stateful, pillars: [kernel, guarded] });
    const fn = api.functions.guarded;
    if (!fn) throw new Error('no guarded function');
    // A pillar of no catalog: built in a nested stack of its own, which imports the table itself.
    const stack = api.pillarStacks.guarded;
    if (!stack) throw new Error('no nested stack for guarded');
    expect(Stack.of(fn.function)).toBe(stack);
    const resources = Template.fromStack(stack).toJSON().Resources as Resources;
    const variables = variablesIn(
      resources,
      stack.getLogicalId(fn.function.node.defaultChild as CfnFunction),
    );
    expect(JSON.stringify(variables.POLICY_TABLE_NAME)).toMatch(/Fn::ImportValue.*PolicyTable/);
    expect(variables).not.toHaveProperty('ROUTER_TABLE_NAME');
    const roleId = stack.getLogicalId(fn.role.node.defaultChild as never);
    const statements = Object.values(resources)
      .filter(
        (r) =>
          r.Type === 'AWS::IAM::Policy' &&
          JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: roleId }]),
      )
      .flatMap(
        (r) =>
          (r.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement,
      );
    const dynamo = statements.filter((st) => JSON.stringify(st.Action).includes('dynamodb:'));
    expect(dynamo.length).toBeGreaterThan(0);
    expect(JSON.stringify(dynamo)).toMatch(/PolicyTable/);
    expect(JSON.stringify(dynamo)).not.toMatch(/RouterTable/);
  });
});

describe('A new pillar', () => {
  // One function with one token route, one table, one queue its function consumes: the manifest is
  // all there is. Nothing else in the app names it.
  const route = LEDGER_ROUTE;
  const ledger = LEDGER;

  let synth: Synthesized;
  /** The API stack's resources. */
  let api: Resources;
  /** The resources of the ledger's nested stack, where its pillar is built. */
  let nested: Resources;
  beforeAll(() => {
    // Template.fromStack runs cdk-nag: the new pillar passes it with no acknowledgement of its own.
    synth = synthPillars([...PILLARS, ledger]);
    api = synth.apiTemplate.toJSON().Resources as typeof api;
    nested = synth.pillarTemplate('ledger').toJSON().Resources as typeof nested;
  });
  afterAll(() => synth?.dispose());

  const ledgerFunction = () => {
    const fn = synth.api.functions.ledger;
    if (!fn) throw new Error('no ledger function');
    return fn;
  };
  const ledgerFunctionId = () => synth.logicalIdOf(ledgerFunction().function.node.defaultChild);
  const importOf = (construct: { node: { defaultChild?: unknown } }, attribute: 'Arn' | 'Ref') =>
    statefulImport(synth, construct, attribute);

  it('becomes one more PillarServices construct, LedgerPillar, with its function, in a nested stack of its own', () => {
    expect(Object.keys(synth.api.pillars)).toEqual([...PILLARS.map((p) => p.name), 'ledger']);
    const services = synth.api.pillars.ledger;
    expect(services).toBeInstanceOf(PillarServices);
    expect(services?.node.id).toBe('LedgerPillar');
    expect(services?.pillar).toBe(ledger);
    expect(Object.keys(services?.functions ?? {})).toEqual(['ledger']);
    const stack = synth.api.pillarStacks.ledger;
    expect(stack).toBeInstanceOf(NestedStack);
    expect(stack?.node.id).toBe('LedgerPillarStack');
    expect(stack?.nestedStackParent).toBe(synth.api);
    expect(services?.node.scope).toBe(stack);
    expect(Object.keys(synth.api.pillarStacks)).toEqual([...NESTED.map((pillar) => pillar.name), 'ledger']);
    synth.apiTemplate.resourceCountIs('AWS::Lambda::Function', functionsOf(IN_API_STACK).length);
    synth.pillarTemplate('ledger').resourceCountIs('AWS::Lambda::Function', 1);
  });

  it('leaves every resource of the catalog’s pillars as it was', () => {
    const base = synthConductor({ props: { stage: 'test' } });
    try {
      for (const [template, withLedger] of [
        [base.apiTemplate, synth.apiTemplate],
        [base.statefulTemplate, synth.statefulTemplate],
      ] as const) {
        const before = template.toJSON().Resources as Record<string, { Type: string }>;
        const after = withLedger.toJSON().Resources as Record<string, { Type: string }>;
        // Except published versions: a version's id is the hash of its function's configuration, so a
        // function configured from the catalog (ops lists every queue in CONDUCTOR_QUEUES) publishes a
        // new one, and its live alias moves there (a canary deploy); the old version is retained.
        const notVersions = (ids: string[], of: Record<string, { Type: string }>) =>
          ids.filter((id) => of[id]?.Type !== 'AWS::Lambda::Version');
        const added = notVersions(
          Object.keys(after).filter((id) => !(id in before)),
          after,
        );
        expect(
          notVersions(
            Object.keys(before).filter((id) => !(id in after)),
            before,
          ),
        ).toEqual([]);
        expect(added.length).toBeGreaterThan(0);
        for (const id of added) expect(id).toMatch(/Ledger/);
        // The API stack gains the ledger's nested stack resource, and nothing of the ledger's own.
        if (withLedger === synth.apiTemplate) {
          expect(added).toEqual([
            synth.api.getLogicalId(synth.api.pillarStacks.ledger?.nestedStackResource as never),
          ]);
        }
      }
    } finally {
      base.dispose();
    }
  });

  it('becomes its JWT route to its function, on the API and with the JWT authorizer of the API stack', () => {
    const template = synth.pillarTemplate('ledger');
    const routes = Object.values(
      template.findResources('AWS::ApiGatewayV2::Route', {
        Properties: { RouteKey: routeKeyOf(route) },
      }),
    ) as { Properties: Record<string, unknown> }[];
    expect(routes).toHaveLength(1);
    expect(routes[0]?.Properties.AuthorizationType).toBe('JWT');
    // The HTTP API and its authorizer live in the API stack and reach the nested stack as parameters.
    const services = synth.api.pillars.ledger;
    if (!services) throw new Error('no ledger pillar');
    const authorizers = Object.keys(
      synth.apiTemplate.findResources('AWS::ApiGatewayV2::Authorizer', {
        Properties: { AuthorizerType: 'JWT', Name: 'conductor-jwt' },
      }),
    );
    expect(authorizers).toHaveLength(1);
    expect(synth.fromApiStack(services, routes[0]?.Properties.AuthorizerId)).toEqual({
      Ref: authorizers[0],
    });
    expect(synth.fromApiStack(services, routes[0]?.Properties.ApiId)).toEqual({
      Ref: synth.api.getLogicalId(synth.api.api.node.defaultChild as never),
    });
    const integrationId =
      /"Ref":"([A-Za-z0-9]+)"/.exec(JSON.stringify(routes[0]?.Properties.Target))?.[1] ?? '';
    // Through the function's live alias.
    const aliasId =
      /"Ref":"([A-Za-z0-9]+)"/.exec(JSON.stringify(nested[integrationId]?.Properties.IntegrationUri))?.[1] ??
      '';
    expect(nested[aliasId]?.Properties.FunctionName).toEqual({ Ref: ledgerFunctionId() });
    // The API stack keeps its own routes and `$default`.
    synth.apiTemplate.resourceCountIs('AWS::ApiGatewayV2::Route', routesOf(IN_API_STACK).length + 1);
    template.resourceCountIs('AWS::ApiGatewayV2::Route', 1);
  });

  it('gets the policy layer of the API stack, as an enforcer', () => {
    const layers = nested[ledgerFunctionId()]?.Properties.Layers as unknown[];
    expect(layers).toHaveLength(1);
    expect(synth.fromApiStack(ledgerFunction(), layers[0])).toEqual({
      Ref: synth.api.getLogicalId(synth.api.policyLayer.layer.node.defaultChild as never),
    });
  });

  it('becomes its table in the stateful stack, given to its function with the policy table', () => {
    const table = synth.stateful.table('ledger');
    synth.statefulTemplate.resourceCountIs('AWS::DynamoDB::Table', TABLES.length + 1);
    expect(synth.stateful.tableSpec('ledger')).toEqual(ledger.tables?.[0]);
    synth.statefulTemplate.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      },
    });
    expect(synth.stateful.getLogicalId(table.node.defaultChild as never)).toMatch(/^LedgerTable/);
    const variables = variablesIn(nested, ledgerFunctionId());
    expect(variables.LEDGER_TABLE_NAME).toEqual(importOf(table, 'Ref'));
    expect(variables.POLICY_TABLE_NAME).toEqual(importOf(synth.stateful.table('policy'), 'Ref'));
    expect(variables.POLICY_DIR).toBe('/opt/policies/opa');
  });

  it('becomes its queue and DLQ with their alarms, consumed by its function through an event source mapping', () => {
    const queue = synth.stateful.queue('ledger-entries');
    synth.statefulTemplate.resourceCountIs('AWS::SQS::Queue', 2 * (QUEUES.length + 1));
    expect(synth.stateful.deadLetterQueues['ledger-entries']).toBeDefined();
    for (const alarm of ['dlq-not-empty', 'oldest-message-age', 'depth-anomaly']) {
      synth.statefulTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `conductor-test-ledger-entries-${alarm}`,
      });
    }
    synth.apiTemplate.resourceCountIs('AWS::Lambda::EventSourceMapping', queuesOf(IN_API_STACK).length);
    synth.pillarTemplate('ledger').resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    synth.pillarTemplate('ledger').hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      // Through its live alias: `<function name>:live`.
      FunctionName: {
        'Fn::Join': [
          '',
          [
            {
              'Fn::Select': [
                6,
                {
                  'Fn::Split': [':', { Ref: synth.logicalIdOf(ledgerFunction().alias.node.defaultChild) }],
                },
              ],
            },
            ':live',
          ],
        ],
      },
      EventSourceArn: importOf(queue, 'Arn'),
      BatchSize: 10,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    // Its function produces to it (named) and to the decision archive (it enforces policies).
    const variables = variablesIn(nested, ledgerFunctionId());
    expect(variables.LEDGER_ENTRIES_QUEUE_URL).toEqual(importOf(queue, 'Ref'));
    expect(variables.DECISION_ARCHIVE_QUEUE_URL).toEqual(
      importOf(synth.stateful.queue('decision-archive'), 'Ref'),
    );
  });

  it('gets a deny spike alarm and a dashboard of its own, and its alarm on the policy dashboard', () => {
    const template = synth.pillarTemplate('ledger');
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'conductor-test-ledger-policy-deny-spike',
    });
    const denySpike = synth.api.pillars.ledger?.observability.denySpikeAlarms.ledger;
    expect(Object.keys(synth.api.pillars.ledger?.observability.denySpikeAlarms ?? {})).toEqual(['ledger']);
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardName: 'conductor-test-ledger',
    });
    // The policy dashboard (the authorize pillar's, in the API stack) reads the alarm's ARN from an
    // output of the ledger's nested stack.
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const output = Object.entries(outputs).find(
      ([, o]) =>
        JSON.stringify(o.Value) ===
        JSON.stringify({ 'Fn::GetAtt': [synth.logicalIdOf(denySpike?.node.defaultChild), 'Arn'] }),
    )?.[0];
    expect(output).toBeDefined();
    const stackId = synth.api.getLogicalId(synth.api.pillarStacks.ledger?.nestedStackResource as never);
    const policy = Object.values(
      synth.apiTemplate.findResources('AWS::CloudWatch::Dashboard', {
        Properties: { DashboardName: 'conductor-test-policy' },
      }),
    );
    expect(policy).toHaveLength(1);
    expect(JSON.stringify(policy[0])).toContain(
      JSON.stringify({ 'Fn::GetAtt': [stackId, `Outputs.${output}`] }),
    );
  });
});

describe('propsFromContext', () => {
  const nodeWith = (context: Record<string, unknown>) => new Stack(scratchApp(context), 'Probe').node;

  it('defaults to nothing: stage prod, Cognito, retain, environment-agnostic', () => {
    expect(propsFromContext(nodeWith({}))).toEqual({
      stage: undefined,
      oidc: undefined,
      removalPolicy: undefined,
      env: undefined,
    });
  });

  it('reads stage, OIDC issuer with comma-separated audiences, removal policy, account and region', () => {
    expect(
      propsFromContext(
        nodeWith({
          stage: 'dev',
          oidcIssuer: 'https://idp.example.com',
          oidcAudience: 'api, cli',
          removalPolicy: 'destroy',
          account: '123456789012',
          region: 'eu-west-1',
        }),
      ),
    ).toEqual({
      stage: 'dev',
      oidc: { issuer: 'https://idp.example.com', audience: ['api', 'cli'] },
      removalPolicy: RemovalPolicy.DESTROY,
      env: { account: '123456789012', region: 'eu-west-1' },
    });
  });

  it('ignores CDK_DEFAULT_REGION, which would make the stacks region-bound', () => {
    const previous = process.env.CDK_DEFAULT_REGION;
    process.env.CDK_DEFAULT_REGION = 'us-east-1';
    try {
      expect(propsFromContext(nodeWith({})).env).toBeUndefined();
    } finally {
      if (previous === undefined) delete process.env.CDK_DEFAULT_REGION;
      else process.env.CDK_DEFAULT_REGION = previous;
    }
  });

  it('refuses an issuer without an audience and an unknown removal policy', () => {
    expect(() => propsFromContext(nodeWith({ oidcIssuer: 'https://idp.example.com' }))).toThrow(
      /go together/,
    );
    expect(() => propsFromContext(nodeWith({ removalPolicy: 'snapshot-ish' }))).toThrow(/retain, destroy/);
  });

  it('reads stepUpAcr as a comma-separated list', () => {
    expect(
      propsFromContext(nodeWith({ stepUpAcr: 'urn:cognito:loa:2, urn:cognito:loa:3' })).stepUpAcr,
    ).toEqual(['urn:cognito:loa:2', 'urn:cognito:loa:3']);
    expect(propsFromContext(nodeWith({ stepUpAcr: ' , ' }))).not.toHaveProperty('stepUpAcr');
  });

  it('reads schedulerTenantWeights as tenant=weight pairs and refuses weights out of 1..10 or bad tenants', () => {
    expect(
      propsFromContext(nodeWith({ schedulerTenantWeights: 'acme=3, globex=1' })).schedulerTenantWeights,
    ).toEqual({
      acme: 3,
      globex: 1,
    });
    for (const bad of ['acme=0', 'acme=11', 'acme', 'ACME=2', 'acme=2,,']) {
      expect(() => propsFromContext(nodeWith({ schedulerTenantWeights: bad })), bad).toThrow(
        /schedulerTenantWeights/,
      );
    }
  });

  it('reads alarmEmail', () => {
    expect(propsFromContext(nodeWith({ alarmEmail: ' ops@example.com ' })).alarmEmail).toBe(
      'ops@example.com',
    );
    expect(propsFromContext(nodeWith({})).alarmEmail).toBeUndefined();
  });

  it('reads runbookSigners as role ARNs, comma-separated (-c) or a list (cdk.json), without duplicates', () => {
    const signer = 'arn:aws:iam::123456789012:role/runbook-signer';
    const ci = 'arn:aws-us-gov:iam::210987654321:role/ci/conductor-release';
    expect(
      propsFromContext(nodeWith({ runbookSigners: ` ${signer} , ${ci},${signer}` })).runbookSigners,
    ).toEqual([signer, ci]);
    expect(propsFromContext(nodeWith({ runbookSigners: [signer, ci] })).runbookSigners).toEqual([signer, ci]);
    expect(propsFromContext(nodeWith({ runbookSigners: ' , ' }))).not.toHaveProperty('runbookSigners');
    expect(propsFromContext(nodeWith({}))).not.toHaveProperty('runbookSigners');
  });

  it('refuses runbookSigners that are not IAM role ARNs, naming the key', () => {
    for (const bad of [
      'runbook-signer',
      'arn:aws:iam::123456789012:user/ana',
      'arn:aws:iam::12345:role/x',
      'arn:aws:iam::123456789012:role/ok,arn:aws:sts::123456789012:assumed-role/x/ana',
      ['arn:aws:iam::123456789012:role/ok', 42],
      42,
    ]) {
      expect(() => propsFromContext(nodeWith({ runbookSigners: bad })), JSON.stringify(bad)).toThrow(
        /runbookSigners/,
      );
    }
  });

  it('reads tracing and platformLogs into telemetry, and refuses other values', () => {
    expect(propsFromContext(nodeWith({ tracing: 'pass-through', platformLogs: 'warn' })).telemetry).toEqual({
      tracing: 'pass-through',
      platformLogLevel: 'WARN',
    });
    expect(propsFromContext(nodeWith({ platformLogs: 'INFO' })).telemetry).toEqual({
      platformLogLevel: 'INFO',
    });
    expect(propsFromContext(nodeWith({}))).not.toHaveProperty('telemetry');
    expect(() => propsFromContext(nodeWith({ tracing: 'off' }))).toThrow(/'active' or 'pass-through'/);
    expect(() => propsFromContext(nodeWith({ platformLogs: 'debug' }))).toThrow(/'info' or 'warn'/);
  });

  it('reads policyEngine and refuses engines it does not know', () => {
    expect(propsFromContext(nodeWith({ policyEngine: 'opa' })).policyEngine).toBe('opa');
    expect(propsFromContext(nodeWith({})).policyEngine).toBeUndefined();
    expect(() => propsFromContext(nodeWith({ policyEngine: 'casbin' }))).toThrow(/'cedar' or 'opa'/);
  });
});

describe('function telemetry (context tracing, platformLogs)', () => {
  it('traces only what a caller sampled and drops Lambda’s own lines when asked, on every function', () => {
    const synth = synthConductor({
      props: { stage: 'test', telemetry: { tracing: 'pass-through', platformLogLevel: 'WARN' } },
    });
    try {
      const functions = Object.values(synth.flatApiTemplate.findResources('AWS::Lambda::Function'));
      expect(functions).toHaveLength(functionsOf(PILLARS).length);
      for (const fn of functions as { Properties: Record<string, unknown> }[]) {
        expect(fn.Properties).toMatchObject({
          TracingConfig: { Mode: 'PassThrough' },
          LoggingConfig: {
            LogFormat: 'JSON',
            SystemLogLevel: 'WARN',
            // The application's JSON lines pass at the function's own Powertools level.
            ApplicationLogLevel: 'INFO',
            LogGroup: { Ref: expect.stringMatching(/LogGroup/) },
          },
        });
      }
    } finally {
      synth.dispose();
    }
  });
});
