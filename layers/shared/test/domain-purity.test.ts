import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The lint rules that keep `functions/<pillar>/src/domain/` pure and the pillars apart are part of
 * `npm test`. These prove the rules bite: a probe file that imports what it must not is refused by
 * Biome, and what is allowed passes.
 */
const root = resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);
const probeDir = mkdtempSync(join(root, 'functions/router/src/domain/purity-probe-'));
/** A production module of the reward function, one level below its src/. */
const entryProbeDir = mkdtempSync(join(root, 'functions/reward/src/boundary-probe-'));
/** A module of the kernel. */
const kernelProbeDir = mkdtempSync(join(root, 'layers/shared/src/boundary-probe-'));

afterAll(() => {
  for (const dir of [probeDir, entryProbeDir, kernelProbeDir]) rmSync(dir, { recursive: true, force: true });
});

const lint = async (source: string, dir = probeDir): Promise<{ ok: boolean; output: string }> => {
  const file = join(dir, `probe-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(file, source);
  try {
    const { stdout, stderr } = await run(
      join(root, 'node_modules/.bin/biome'),
      ['lint', '--vcs-use-ignore-file=false', file],
      {
        cwd: root,
      },
    );
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  } finally {
    rmSync(file, { force: true });
  }
};

describe('the domain-purity lint rule', () => {
  const forbidden = [
    "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';",
    "import { Logger } from '@aws-lambda-powertools/logger';",
    "import middy from '@middy/core';",
    "import { readFileSync } from 'node:fs';",
    "import { readFile } from 'node:fs/promises';",
    "import fs from 'fs';",
    "import { TenantRecordStore } from '#shared/adapters/tenant-store.js';",
    "import { httpApp } from '#shared/http/http.js';",
    "import { makeHttpService } from '#shared/service-kit.js';",
    "import { dynamoModelStore } from '../../adapters/dynamo-model-store.js';",
  ];
  for (const line of forbidden) {
    it(`refuses \`${line}\` in domain code`, async () => {
      const result = await lint(`${line}\nexport const x = 1;\n`);
      expect(result.ok).toBe(false);
      expect(result.output).toContain('domain code stays pure');
    });
  }

  it('accepts the ports, the errors, zod and its own pillar in domain code', async () => {
    const result = await lint(
      [
        "import * as z from 'zod';",
        "import { NotFoundError } from '#shared/errors.js';",
        "import type { Clock } from '#shared/ports/system.js';",
        "import { rewardIngested } from '../../../events.js';",
        "import { routeDecision } from '../../../contract.js';",
        'export const x = [z, NotFoundError, rewardIngested, routeDecision] as unknown as Clock;',
        '',
      ].join('\n'),
    );
    expect(result.output).not.toContain('domain code stays pure');
    expect(result.output).not.toContain('reaches another');
  });
});

describe('the pillar boundary lint rules', () => {
  it.each([
    ["import { RewardConsumer } from '../../../router/src/domain/reward-learning.js';", entryProbeDir],
    ["import { makeRouterApp } from '../../../router/src/app.js';", entryProbeDir],
    ["import { handler } from '../../../../authorize/src/handler.js';", probeDir],
  ])('refuses `%s`: another pillar is reached only through its public modules', async (line, dir) => {
    const result = await lint(`${line}\nexport const x = 1;\n`, dir);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('a pillar reaches another only through its public modules');
  });

  it.each([
    ["import { FileWormStore } from '../../../../infra/local/worm-store.js';", entryProbeDir],
    ["import { startConductor } from '../../../infra/local/runtime.js';", kernelProbeDir],
  ])('refuses `%s`: production code never imports the embedded runtime', async (line, dir) => {
    const result = await lint(`${line}\nexport const x = 1;\n`, dir);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('never imports the embedded runtime');
  });

  it("accepts another pillar's contract, manifest and the entry it exports", async () => {
    const result = await lint(
      [
        "import { routeTask } from '../../../router/contract.js';",
        "import { routerPillar } from '../../../router/pillar.js';",
        "import { makeRewardEntry } from '../../../router/reward-entry.js';",
        'export const x = [routeTask, routerPillar, makeRewardEntry];',
        '',
      ].join('\n'),
      entryProbeDir,
    );
    expect(result.output).not.toContain('reaches another');
  });
});
