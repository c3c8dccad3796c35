/**
 * Safe deploys, part 1 (issue 14): `cdk deploy` with no context no longer means "prod in whatever
 * account the CLI holds". The stage is required, and a production stage names its account and region.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployPropsFromContext, isProductionStage } from '../lib/app.js';
import { REPO_ROOT } from '../lib/service-function.js';
import { type Synthesized, synthConductor } from './synth.js';

const nodeWith = (context: Record<string, unknown>) => new Stack(new App({ context }), 'Probe').node;

describe('production stages', () => {
  it.each([
    ['prod', true],
    ['prod-eu', true],
    ['prod-eu-west-1', true],
    ['production', true],
    ['production-2', true],
    ['dev', false],
    ['staging', false],
    ['preprod', false],
    ['product-demo', false],
    ['prodtest', false],
  ])('%s is a production stage: %s', (stage, production) => {
    expect(isProductionStage(stage)).toBe(production);
  });
});

describe('deployPropsFromContext (what `cdk synth` and `cdk deploy` read)', () => {
  it('requires the stage, saying how to pass it', () => {
    expect(() => deployPropsFromContext(nodeWith({}))).toThrow(
      /context 'stage' is required[\s\S]*-c stage=dev/,
    );
  });

  it('takes a non-production stage without account or region (environment-agnostic)', () => {
    expect(deployPropsFromContext(nodeWith({ stage: 'dev' }))).toMatchObject({
      stage: 'dev',
      env: undefined,
    });
  });

  it('refuses a production stage that does not pin both account and region, naming what is missing', () => {
    for (const stage of ['prod', 'prod-eu', 'production']) {
      expect(() => deployPropsFromContext(nodeWith({ stage })), stage).toThrow(
        new RegExp(`stage '${stage}' is a production stage.*-c account=.*-c region=`),
      );
      expect(() => deployPropsFromContext(nodeWith({ stage, account: '123456789012' })), stage).toThrow(
        /-c region=/,
      );
      expect(() => deployPropsFromContext(nodeWith({ stage, region: 'eu-west-1' })), stage).toThrow(
        /-c account=/,
      );
    }
  });

  it('pins a production stage to the account and region it is given', () => {
    expect(
      deployPropsFromContext(nodeWith({ stage: 'prod', account: '123456789012', region: 'eu-west-1' })),
    ).toMatchObject({ stage: 'prod', env: { account: '123456789012', region: 'eu-west-1' } });
  });

  it('refuses removalPolicy=destroy on a production stage', () => {
    expect(() =>
      deployPropsFromContext(
        nodeWith({ stage: 'prod', account: '123456789012', region: 'eu-west-1', removalPolicy: 'destroy' }),
      ),
    ).toThrow(/removalPolicy=destroy.*production/);
  });

  it('refuses an account that is not 12 digits and a region that is not a region name', () => {
    expect(() => deployPropsFromContext(nodeWith({ stage: 'dev', account: '1234' }))).toThrow(
      /account '1234'/,
    );
    expect(() => deployPropsFromContext(nodeWith({ stage: 'dev', region: 'Europe' }))).toThrow(
      /region 'Europe'/,
    );
  });
});

describe('the CLI entry (cdk.json "app")', () => {
  it('stops with the stage error when no stage is given, before building anything', () => {
    // `new App()` reads the CLI's context from CDK_CONTEXT_JSON, as under `cdk synth`.
    const result = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'infra/cdk/bin/app.ts')], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_NO_WARNINGS: '1',
        CDK_CONTEXT_JSON: '{}',
        TMPDIR: process.env.TMPDIR ?? '/tmp',
      },
      encoding: 'utf8',
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/context 'stage' is required/);
    expect(result.stderr).toMatch(/-c stage=dev/);
  });
});

describe('a pinned production stage', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthConductor({
      props: { stage: 'prod', env: { account: '123456789012', region: 'eu-west-1' } },
    });
  });
  afterAll(() => synth?.dispose());

  it('synthesizes both stacks into that account and region, cdk-nag clean', () => {
    // Template.fromStack (in synthConductor) would have thrown on any cdk-nag finding.
    expect(synth.stateful.environment).toBe('aws://123456789012/eu-west-1');
    expect(synth.api.environment).toBe('aws://123456789012/eu-west-1');
  });
});
