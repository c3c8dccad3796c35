import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The lint rule that keeps `functions/<pillar>/src/domain/` pure is part of `npm test`. This proves
 * the rule bites: a probe file that imports what the domain must not is refused by Biome.
 */
const root = resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);
const probeDir = mkdtempSync(join(root, 'functions/router/src/domain/purity-probe-'));

afterAll(() => rmSync(probeDir, { recursive: true, force: true }));

const lint = async (source: string): Promise<{ ok: boolean; output: string }> => {
  const file = join(probeDir, `probe-${Math.random().toString(36).slice(2)}.ts`);
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
  ];
  for (const line of forbidden) {
    it(`refuses \`${line}\` in domain code`, async () => {
      const result = await lint(`${line}\nexport const x = 1;\n`);
      expect(result.ok).toBe(false);
      expect(result.output).toContain('domain code stays pure');
    });
  }

  it('accepts the kernel and zod in domain code', async () => {
    const result = await lint(
      "import { z } from 'zod';\nimport { NotFoundError } from '#shared/errors.js';\nexport const x = [z, NotFoundError];\n",
    );
    expect(result.output).not.toContain('domain code stays pure');
  });
});
