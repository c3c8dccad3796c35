import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const tmp = resolve(import.meta.dirname, '.tmp');
mkdirSync(tmp, { recursive: true });

export default defineConfig({
  test: {
    env: {
      NODE_NO_WARNINGS: '1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: 'us-east-1',
    },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [
            'functions/*/test/**/*.test.ts',
            'layers/*/test/**/*.test.ts',
            'infra/local/test/**/*.test.ts',
            'policies/**/*.test.ts',
            'bench/test/**/*.test.ts',
          ],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'infra',
          include: ['infra/cdk/test/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Template.fromStack leaves cdk.outXXXX folders in TMPDIR: keep them inside the project.
          env: { TMPDIR: tmp },
        },
      },
    ],
  },
});
