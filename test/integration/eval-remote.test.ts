import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCalculator } from '../../examples/eval/calculator.js';
import { type Harness, startHarness } from './harness.js';

/**
 * `conductor-eval remote`: a run submitted to a deployed Conductor (here the embedded runtime, its
 * eval worker running as it does under `npm start`), waited for, and written as the same reports,
 * with the same exit codes as the standalone mode.
 */
const SCRIPT = fileURLToPath(new URL('../../bin/conductor-eval.sh', import.meta.url));
const SUMS = fileURLToPath(new URL('../../examples/eval/suites/sums.json', import.meta.url));

let h: Harness;
let work: string;
const servers: Server[] = [];
let good: string;
let regressed: string;

const remote = (args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(
      'bash',
      [
        SCRIPT,
        'remote',
        '--quiet',
        '--api',
        h.conductor.apiUrl,
        '--token',
        h.tokens.acmeOperator ?? '',
        ...args,
      ],
      { cwd: work, env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

beforeAll(async () => {
  h = await startHarness({ allowPrivateEndpoints: true });
  work = mkdtempSync(join(tmpdir(), 'conductor-eval-remote-'));
  const register = async (mode: 'good' | 'regressed') => {
    const { server, url } = await startCalculator(0, mode);
    servers.push(server);
    const reply = await h.call('POST', '/experts', {
      token: h.tokens.acmeAdmin,
      body: { name: `calculator-${mode}`, type: 'tool', costPerCallUsd: 0, endpoint: url },
    });
    expect(reply.status, reply.text).toBe(201);
    return reply.json.id as string;
  };
  good = await register('good');
  regressed = await register('regressed');
  const suite = await h.call('PUT', '/eval/suites/sums', {
    token: h.tokens.acmeOperator,
    body: JSON.parse(readFileSync(SUMS, 'utf8')),
  });
  expect(suite.status, suite.text).toBe(200);
});

afterAll(async () => {
  await h.conductor.stop();
  await Promise.all(servers.map((server) => new Promise<void>((done) => server.close(() => done()))));
  rmSync(work, { recursive: true, force: true });
});

describe('conductor-eval remote', () => {
  it('submits a run, waits for it, writes the reports and exits 0; then exits 1 on a regression against a promoted baseline', async () => {
    // Act: a first run, snapshot and promoted through the API, then the regressed expert against it.
    const first = await remote(['--suite-id', 'sums', '--expert', good, '--out', 'first']);
    const runId = JSON.parse(readFileSync(join(work, 'first', 'report.json'), 'utf8')).runId as string;
    const snapshot = await h.call('POST', '/eval/baselines', {
      token: h.tokens.acmeOperator,
      body: { runId, baselineId: 'sums-main' },
    });
    const promote = await h.call('POST', '/eval/baselines/sums-main/promote', { token: h.tokens.acmeAdmin });
    const worse = await remote([
      '--suite-id',
      'sums',
      '--expert',
      regressed,
      '--baseline-id',
      'sums-main',
      '--out',
      'worse',
    ]);

    // Assess
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('PASS: sums');
    expect(snapshot.status, snapshot.text).toBe(201);
    expect(promote.status, promote.text).toBe(200);
    expect(worse.code, worse.stderr).toBe(1);
    const comment = readFileSync(join(work, 'worse', 'report.md'), 'utf8');
    expect(comment).toContain('REGRESSION');
    expect(comment).toContain(`${h.conductor.apiUrl}/eval/results/`);
    const junit = readFileSync(join(work, 'worse', 'junit.xml'), 'utf8');
    expect(junit).toContain(`<testsuite name="sums:${regressed}"`);
    const report = JSON.parse(readFileSync(join(work, 'worse', 'report.json'), 'utf8'));
    expect(report.verdicts[0]).toMatchObject({ expertId: regressed, verdict: 'regression' });
  });

  it('draws the deployment’s runs of a suite as trends (GET /eval/runs)', async () => {
    // Act
    const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        'bash',
        [
          SCRIPT,
          'trends',
          '--remote',
          '--suite-id',
          'sums',
          '--api',
          h.conductor.apiUrl,
          '--token',
          h.tokens.acmeViewer ?? '',
          '--out',
          'trends.html',
        ],
        { cwd: work },
        (error, _stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });

    // Assess: the two completed runs of the first test, a chart per expert.
    expect(result.code, result.stderr).toBe(0);
    const page = readFileSync(join(work, 'trends.html'), 'utf8');
    expect(page.match(/<canvas/g)).toHaveLength(2);
    expect(page).toContain(good);
    expect(page).toContain(regressed);
  });

  it('exits 2 on a suite or baseline the deployment does not have, and 3 when the API cannot be reached', async () => {
    // Act
    const unknownSuite = await remote(['--suite-id', 'nope', '--expert', good]);
    const unknownBaseline = await remote(['--suite-id', 'sums', '--expert', good, '--baseline-id', 'nope']);
    const unreachable = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        'bash',
        [
          SCRIPT,
          'remote',
          '--api',
          'http://127.0.0.1:9/api/conductor/v1',
          '--token',
          'x',
          '--suite-id',
          'sums',
          '--expert',
          good,
        ],
        { cwd: work },
        (error, _stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });

    // Assess
    expect(unknownSuite.code).toBe(2);
    expect(unknownSuite.stderr).toContain('suite_not_found');
    expect(unknownBaseline.code).toBe(2);
    expect(unknownBaseline.stderr).toContain('baseline_not_found');
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain('unreachable');
  });
});
