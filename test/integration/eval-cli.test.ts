import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCalculator } from '../../examples/eval/calculator.js';

/**
 * `conductor-eval` as a pull request's CI runs it: the standalone mode from a working copy against
 * expert endpoints (local calculators, examples/eval/calculator.ts), run as a child process through
 * conductor-eval.sh, the name the requirements give it. Each exit code is a different outcome.
 */
const SCRIPT = fileURLToPath(new URL('../../bin/conductor-eval.sh', import.meta.url));
const SUITES = fileURLToPath(new URL('../../examples/eval/suites/', import.meta.url));

let work: string;
const servers: Server[] = [];
let good: string;
let regressed: string;
let flaky: string;
let deadEndpoint: string;

const run = (args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(
      'bash',
      [SCRIPT, ...args],
      { cwd: work, env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

const suite = (name: string) => join(SUITES, name);
const evalRun = (expert: string, extra: readonly string[] = [], suiteFile = 'sums.json') =>
  run([
    'run',
    '--quiet',
    '--allow-private-endpoints',
    '--suite',
    suite(suiteFile),
    '--expert',
    `calc=${expert}`,
    ...extra,
  ]);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'conductor-eval-'));
  for (const [mode, set] of [
    ['good', (url: string) => (good = url)],
    ['regressed', (url: string) => (regressed = url)],
    ['flaky', (url: string) => (flaky = url)],
  ] as const) {
    const { server, url } = await startCalculator(0, mode);
    servers.push(server);
    set(url);
  }
  // A port that was listening a moment ago and is closed now: connections are refused.
  const closed = createServer();
  await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
  deadEndpoint = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((done) => closed.close(() => done()));
});

afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise<void>((done) => server.close(() => done()))));
  rmSync(work, { recursive: true, force: true });
});

describe('conductor-eval run (standalone, as CI runs it)', () => {
  it('exits 0 on a run with no baseline and writes the PR comment, JUnit XML and JSON', async () => {
    // Act
    const result = await evalRun(good, ['--out', 'first']);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('PASS: sums');
    const comment = readFileSync(join(work, 'first', 'report.md'), 'utf8');
    expect(comment.split('\n')[0]).toBe('<!-- conductor-eval:sums -->');
    expect(readFileSync(join(work, 'first', 'junit.xml'), 'utf8')).toContain('<testsuite name="sums:calc"');
    const report = JSON.parse(readFileSync(join(work, 'first', 'report.json'), 'utf8'));
    expect(report).toMatchObject({ apiVersion: 'conductor.eval-report/v1', suiteId: 'sums', status: 'pass' });
    expect(report.metrics[0]).toMatchObject({ expertId: 'calc', passRate: 1, tasks: 200 });
  });

  it('snapshots and promotes a baseline, then exits 1 on a regression beyond the tolerance and 0 on the same expert again', async () => {
    // Prepare
    expect(
      (await run(['baseline', 'snapshot', '--report', 'first/report.json', '--id', 'sums-main'])).code,
    ).toBe(0);
    expect((await run(['baseline', 'promote', 'eval/baselines/sums-main.json'])).code).toBe(0);

    // Act
    const worse = await evalRun(regressed, ['--baseline', 'eval/baselines/sums-main.json', '--out', 'worse']);
    const same = await evalRun(good, ['--baseline', 'eval/baselines/sums-main.json', '--out', 'same']);

    // Assess
    expect(worse.code, worse.stderr).toBe(1);
    expect(worse.stdout).toMatch(/REGRESSION: sums[\s\S]*a drop of 15\.5 points/);
    const comment = readFileSync(join(work, 'worse', 'report.md'), 'utf8');
    expect(comment).toContain('Pass → fail (31)');
    expect(comment).toContain('sum-005');
    expect(readFileSync(join(work, 'worse', 'junit.xml'), 'utf8')).toMatch(
      /<testcase [^>]*name="gate"[^>]*>\s*<failure/,
    );
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toContain('within tolerance');
  });

  it('refuses to overwrite a promoted baseline, and refuses one edited after promotion (exit 2)', async () => {
    // Act
    const overwrite = await run([
      'baseline',
      'snapshot',
      '--report',
      'worse/report.json',
      '--id',
      'sums-main',
    ]);
    const file = join(work, 'eval', 'baselines', 'sums-main.json');
    const promoted = readFileSync(file, 'utf8');
    const tampered = JSON.parse(promoted);
    tampered.passRates.calc['sum-005'] = 0;
    writeFileSync(join(work, 'tampered.json'), JSON.stringify(tampered));
    const useTampered = await evalRun(good, ['--baseline', 'tampered.json']);

    // Assess
    expect(overwrite.code).toBe(2);
    expect(overwrite.stderr).toContain('is promoted: a promoted baseline never changes');
    expect(readFileSync(file, 'utf8')).toBe(promoted);
    expect(useTampered.code).toBe(2);
    expect(useTampered.stderr).toContain('its digest does not match its content');
  });

  it('exits 4 when the suite is too small to decide, instead of passing or failing', async () => {
    // Prepare: a baseline of the 9-task arithmetic suite.
    expect((await evalRun(good, ['--out', 'small'], 'arithmetic.json')).code).toBe(0);
    expect((await run(['baseline', 'snapshot', '--report', 'small/report.json', '--id', 'arith'])).code).toBe(
      0,
    );

    // Act
    const result = await evalRun(good, ['--baseline', 'eval/baselines/arith.json'], 'arithmetic.json');

    // Assess
    expect(result.code, result.stderr).toBe(4);
    expect(result.stdout).toContain('too small to decide');
  });

  it('exits 3 when an expert cannot be reached, and 2 when its endpoint is refused by the egress guard', async () => {
    // Act
    const unreachable = await evalRun(deadEndpoint, ['--retries', '0', '--out', 'dead'], 'arithmetic.json');
    const refused = await run([
      'run',
      '--quiet',
      '--suite',
      suite('arithmetic.json'),
      '--expert',
      'calc=http://169.254.169.254/latest',
    ]);

    // Assess
    expect(unreachable.code, unreachable.stderr).toBe(3);
    const report = JSON.parse(readFileSync(join(work, 'dead', 'report.json'), 'utf8'));
    expect(report.status).toBe('infrastructure_failure');
    expect(report.results[0].trials[0]).toMatchObject({ kind: 'error', error: 'unavailable' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('refused');
  });

  it('exits 2 with the file, the path in the document and the reason for an invalid suite, and for a wrong command line', async () => {
    // Act
    const invalid = await run(['validate', suite('invalid.json')]);
    const unknownFlag = await run([
      'run',
      '--suite',
      suite('sums.json'),
      '--expert',
      `calc=${good}`,
      '--bogus',
    ]);
    const noExpert = await run(['run', '--suite', suite('sums.json')]);

    // Assess
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/invalid\.json: tasks\[1\]\.scorer\.pattern: does not compile/);
    expect(unknownFlag.code).toBe(2);
    expect(noExpert.code).toBe(2);
    expect(noExpert.stderr).toContain('--expert');
  });

  it('quarantines a task that flips with nothing changed, logs it, and keeps it out of the gate', async () => {
    // Prepare: a baseline from the flaky expert itself, in a state folder of its own.
    const state = ['--state', 'flaky-state'];
    expect((await evalRun(flaky, [...state, '--out', 'f0'])).code).toBe(0);
    expect((await run(['baseline', 'snapshot', '--report', 'f0/report.json', '--id', 'flaky'])).code).toBe(0);

    // Act: the same expert, the same suite, run after run.
    let quarantined: { taskId: string; reason: string; since: string }[] = [];
    let last = '';
    for (let i = 1; i <= 8 && quarantined.length === 0; i += 1) {
      last = `f${i}`;
      const result = await evalRun(flaky, [
        ...state,
        '--out',
        last,
        '--baseline',
        'eval/baselines/flaky.json',
      ]);
      expect([0, 1, 4]).toContain(result.code);
      quarantined = JSON.parse(readFileSync(join(work, 'flaky-state', 'quarantine.json'), 'utf8')).entries;
    }

    // Assess
    expect(quarantined.length).toBeGreaterThan(0);
    for (const entry of quarantined) {
      // Only sums that are multiples of 11 are flaky (examples/eval/calculator.ts).
      const task = JSON.parse(readFileSync(suite('sums.json'), 'utf8')).tasks.find(
        (t: { id: string }) => t.id === entry.taskId,
      );
      expect(task.expected % 11).toBe(0);
      expect(entry.reason).not.toBe('');
      expect(entry.since).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
    const report = JSON.parse(readFileSync(join(work, last, 'report.json'), 'utf8'));
    expect(report.verdicts[0].tasksCompared).toBe(200 - quarantined.length);
    expect(report.quarantined.map((q: { taskId: string }) => q.taskId).sort()).toEqual(
      quarantined.map((q) => q.taskId).sort(),
    );
    const log = readFileSync(join(work, 'flaky-state', 'quarantine.log.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(log.map((line) => JSON.parse(line).action)).toContain('quarantined');
  });

  it('gates a change behind the same URL at another revision, instead of quarantining its flips as flaky', async () => {
    // Prepare: one URL, revision a1 answers right and is the baseline; revision b2 gets 1 sum in 7 wrong.
    const deployed = await startCalculator(0, 'good');
    servers.push(deployed.server);
    const at = (revision: string, out: string, extra: readonly string[] = []) =>
      evalRun(deployed.url, ['--state', 'same-url', '--revision', revision, '--out', out, ...extra]);
    expect((await at('a1', 'r0')).code).toBe(0);
    expect((await run(['baseline', 'snapshot', '--report', 'r0/report.json', '--id', 'same-url'])).code).toBe(
      0,
    );
    deployed.setMode('regressed');

    // Act
    const result = await at('b2', 'r1', ['--baseline', 'eval/baselines/same-url.json']);

    // Assess
    expect(result.code, result.stderr).toBe(1);
    const report = JSON.parse(readFileSync(join(work, 'r1', 'report.json'), 'utf8'));
    expect(report.quarantined).toEqual([]);
    expect(report.verdicts[0]).toMatchObject({ verdict: 'regression', tasksCompared: 200 });
  });

  it('draws the trends of every run as an HTML page with Chart.js inlined', async () => {
    // Act
    const result = await run(['trends', '--out', 'trends.html']);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    const page = readFileSync(join(work, 'trends.html'), 'utf8');
    expect(page).toContain('<canvas');
    expect(page).not.toMatch(/<script[^>]+src=/);
    expect(existsSync(join(work, '.conductor-eval', 'history.jsonl'))).toBe(true);
  });
});
