import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policyVersionOf } from '#shared/policy/cedar.js';
import { findOpa } from '#shared/policy/opa-build.js';
import { readPolicySources, readValidatedManifest } from '#shared/policy/source.js';
import { FUNCTIONS } from '../../../functions/meta/src/catalog.js';
import { QUEUES } from '../../queues.js';
import { TABLES } from '../../tables.js';
import { ConductorApiStack } from '../lib/api-stack.js';
import { buildApp, propsFromContext } from '../lib/app.js';
import { ESM_REQUIRE_BANNER, REPO_ROOT } from '../lib/service-function.js';
import { ConductorStatefulStack } from '../lib/stateful-stack.js';
import { type Synthesized, synthConductor } from './synth.js';

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
  beforeAll(() => {
    // Bundles every function with the local esbuild (no Docker); Template.fromStack inside
    // synthConductor would throw "Validation failed" on any unacknowledged cdk-nag finding.
    synth = synthConductor({ bundle: true });
  });
  afterAll(() => synth?.dispose());

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
      expect(code.length).toBeLessThan(500 * 1024);
    });
  }

  it('imports every bundle with the AWS SDK and Cedar reachable only through NODE_PATH, as on Lambda', () => {
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
        POLICY_DIR: join(REPO_ROOT, 'policies', 'cedar'),
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'x',
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_TRACE_ENABLED: 'false',
        POWERTOOLS_LOG_LEVEL: 'ERROR',
        EVIDENCE_BUCKET_NAME: 'test-evidence',
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

  it('subscribes alarmEmail to the alarm topic', () => {
    const app = scratchApp({ 'aws:cdk:bundling-stacks': [] });
    const { stateful } = buildApp(app, { alarmEmail: 'ops@example.com', nag: false });
    Template.fromStack(stateful).hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: stateful.getLogicalId(stateful.alarmTopic.node.defaultChild as never) },
    });
  });

  it('ships the policy layer with the manifest of its validated policies (no validation at cold start)', () => {
    const { api } = buildApp(scratchApp({ 'aws:cdk:bundling-stacks': [] }), { nag: false });
    const staged = join(tmpdir(), `conductor-policy-layer-${api.policyLayer.contentHash}`, 'policies/cedar');
    const manifest = readValidatedManifest(staged);
    expect(manifest?.policyVersion).toBe(policyVersionOf(readPolicySources(staged)));
    expect(manifest?.policies.length).toBeGreaterThan(5);
  });

  it('with policyEngine=opa compiles the Rego at synth, or fails with a clear message when opa is missing', () => {
    const build = () =>
      buildApp(scratchApp({ 'aws:cdk:bundling-stacks': [] }), { policyEngine: 'opa', nag: false });
    if (findOpa()) {
      expect(build().api.policyLayer.engine).toBe('opa');
    } else {
      expect(build).toThrow(/The OPA compiler \(opa\) is not on PATH/);
    }
  });
});

describe('ConductorApiStack catalog checks', () => {
  const stacks = () => {
    const app = scratchApp({ 'aws:cdk:bundling-stacks': [] });
    const stateful = new ConductorStatefulStack(app, 'S', { stage: 'test' });
    return { app, stateful };
  };
  const entry = {
    name: 'broken',
    description: 'test',
    entry: 'functions/meta/src/handler.ts',
    routes: [],
    tables: ['nope'],
  };

  it('fails early on a table id the stateful stack does not have', () => {
    const { app, stateful } = stacks();
    expect(() => new ConductorApiStack(app, 'A', { stage: 'test', stateful, functions: [entry] })).toThrow(
      /Unknown table id 'nope'/,
    );
  });

  it('fails early when a queue’s consumer is not in the catalog', () => {
    const { app, stateful } = stacks();
    const lone = { ...entry, name: 'lone', tables: [] };
    expect(() => new ConductorApiStack(app, 'A', { stage: 'test', stateful, functions: [lone] })).toThrow(
      /Queue 'decision-archive' is consumed by 'authorize', which is not in the catalog/,
    );
  });

  it('fails early when a queue’s visibility timeout is shorter than its consumer’s timeout', () => {
    const app = scratchApp({ 'aws:cdk:bundling-stacks': [] });
    const [archive] = QUEUES;
    if (!archive) throw new Error('no queues');
    const stateful = new ConductorStatefulStack(app, 'S', {
      stage: 'test',
      queues: [{ ...archive, visibilityTimeoutSeconds: 5 }],
    });
    expect(() => new ConductorApiStack(app, 'A', { stage: 'test', stateful })).toThrow(
      /visibilityTimeoutSeconds 5 is shorter than the timeout of its consumer 'authorize' \(10 s\)/,
    );
  });

  it('fails early when two functions claim the same route', () => {
    const { app, stateful } = stacks();
    const route = FUNCTIONS[0]?.routes[0];
    if (!route) throw new Error('catalog has no routes');
    const one = { ...entry, name: 'one', tables: [], routes: [route] };
    const two = { ...entry, name: 'two', tables: [], routes: [route] };
    expect(() => new ConductorApiStack(app, 'A', { stage: 'test', stateful, functions: [one, two] })).toThrow(
      /served by both 'one' and 'two'/,
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

  it('reads alarmEmail', () => {
    expect(propsFromContext(nodeWith({ alarmEmail: ' ops@example.com ' })).alarmEmail).toBe(
      'ops@example.com',
    );
    expect(propsFromContext(nodeWith({})).alarmEmail).toBeUndefined();
  });

  it('reads policyEngine and refuses engines it does not know', () => {
    expect(propsFromContext(nodeWith({ policyEngine: 'opa' })).policyEngine).toBe('opa');
    expect(propsFromContext(nodeWith({})).policyEngine).toBeUndefined();
    expect(() => propsFromContext(nodeWith({ policyEngine: 'casbin' }))).toThrow(/'cedar' or 'opa'/);
  });
});
