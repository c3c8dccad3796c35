import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Harness, startHarness } from './harness.js';

const BIN = fileURLToPath(new URL('../../bin/conductor.mjs', import.meta.url));

/** What one run of `conductor` left: its exit code and what it printed. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliRunOptions {
  readonly env?: Record<string, string>;
  readonly stdin?: string;
}

/** The embedded runtime, and `conductor` run against it as a child process from a temp folder. */
export interface CliHarness {
  readonly harness: Harness;
  /** The child's working directory (a temp folder, removed by `stop`). */
  readonly workDir: string;
  run(args: readonly string[], options?: CliRunOptions): Promise<CliRun>;
  stop(): Promise<void>;
}

/**
 * Starts the runtime and writes the file `npm start` writes (the URL it serves and one token per
 * demo identity), so `--as acme-admin` works as it does for a user.
 */
export const startCliHarness = async (): Promise<CliHarness> => {
  const harness = await startHarness();
  const workDir = mkdtempSync(join(tmpdir(), 'conductor-cli-'));
  const tokensFile = join(workDir, 'tokens.env');
  const labels: Record<string, string> = {
    ACME_VIEWER: harness.tokens.acmeViewer ?? '',
    ACME_OPERATOR: harness.tokens.acmeOperator ?? '',
    ACME_ADMIN: harness.tokens.acmeAdmin ?? '',
    GLOBEX_VIEWER: harness.tokens.globexViewer ?? '',
    GLOBEX_ADMIN: harness.tokens.globexAdmin ?? '',
  };
  writeFileSync(
    tokensFile,
    `export API='${harness.conductor.apiUrl}'\n${Object.entries(labels)
      .map(([name, token]) => `export ${name}_TOKEN='${token}'`)
      .join('\n')}\n`,
  );
  /** The environment a user would have, minus any CONDUCTOR_* of the machine running the tests. */
  const baseEnv = (): Record<string, string> => {
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env))
      if (value !== undefined && !name.startsWith('CONDUCTOR_')) env[name] = value;
    return {
      ...env,
      NODE_NO_WARNINGS: '1',
      CONDUCTOR_TOKENS_FILE: tokensFile,
      CONDUCTOR_CONFIG: join(workDir, 'config', 'config.json'),
    };
  };
  /** Runs `bin/conductor.mjs` as a child process, the way a user's shell does. */
  const run = (args: readonly string[], options: CliRunOptions = {}): Promise<CliRun> =>
    new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [BIN, ...args],
        { cwd: workDir, env: { ...baseEnv(), ...options.env } },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      child.stdin?.end(options.stdin ?? '');
    });
  const stop = async () => {
    await harness.conductor.stop();
    rmSync(workDir, { recursive: true, force: true });
  };
  return { harness, workDir, run, stop };
};

/** The JSON a successful `--json` run printed; a failed run throws with its stderr. */
// biome-ignore lint/suspicious/noExplicitAny: test output is inspected field by field
export const jsonOf = (run: CliRun): any => {
  if (run.code !== 0) throw new Error(`exit ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout);
};
