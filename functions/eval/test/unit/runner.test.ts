import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AppError } from '#shared/errors.js';
import type { ExpertAttempt } from '#shared/ports/expert-call.js';
import type { GoldenTask, Suite, TrialOutcome } from '../../src/domain/model.js';
import { type ExpertPort, type RunOptions, runSuite, type TrialProgress } from '../../src/domain/runner.js';
import { type ScorerDeps, ScorerError, scoreOutput } from '../../src/domain/scorers.js';

// The real scorers, behind a spy: a test can make one scoring fail or hang.
vi.mock('../../src/domain/scorers.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/domain/scorers.js')>();
  return { ...actual, scoreOutput: vi.fn(actual.scoreOutput) };
});

// vi.fn(impl) reset goes back to impl: the real scorer.
afterEach(() => {
  vi.mocked(scoreOutput).mockReset();
});

const task = (id: string, overrides: Partial<GoldenTask> = {}): GoldenTask => ({
  id,
  input: { question: id },
  expected: 'right',
  scorer: { type: 'exact' },
  tolerance: 0,
  weight: 1,
  trials: 1,
  ...overrides,
});

const suiteOf = (tasks: readonly GoldenTask[]): Suite => ({
  id: 'suite-1',
  version: '1',
  timeoutMs: 1_000,
  gate: { tolerance: 0.05, confidence: 0.99 },
  tasks,
  digest: 'd'.repeat(64),
});

const experts = (...ids: string[]) => ids.map((expertId) => ({ expertId, fingerprint: `${expertId}@1` }));

const answer = (output: unknown, status = 200): ExpertAttempt => ({
  kind: 'answer',
  status,
  body: { output },
  latencyMs: 7,
});
const unavailable = (code: 'upstream_timeout' | 'upstream_status' = 'upstream_status'): ExpertAttempt => ({
  kind: 'unavailable',
  code,
  ...(code === 'upstream_status' ? { status: 503 } : {}),
  message: code === 'upstream_status' ? 'the expert answered 503' : 'no answer in time',
  latencyMs: 3,
});

interface Call {
  readonly expertId: string;
  readonly taskId: string;
  readonly trial: number;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

/** An expert port that answers from a script, counting calls and how many are in flight at once. */
class ScriptedPort implements ExpertPort {
  readonly calls: Call[] = [];
  inFlight = 0;
  maxInFlight = 0;

  constructor(
    private readonly script: (call: Call, nth: number) => ExpertAttempt | Promise<ExpertAttempt>,
    private readonly delayMs = 0,
  ) {}

  async call(
    expertId: string,
    _input: unknown,
    options: { timeoutMs: number; signal: AbortSignal; taskId: string; trial: number },
  ): Promise<ExpertAttempt> {
    const call = { expertId, ...options };
    this.calls.push(call);
    const nth = this.calls.filter(
      (c) => c.expertId === expertId && c.taskId === options.taskId && c.trial === options.trial,
    ).length;
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      return await this.script(call, nth);
    } finally {
      this.inFlight -= 1;
    }
  }
}

const scorerDeps: ScorerDeps = {};
const noPause = async (): Promise<void> => {};
const options = (extra: Partial<RunOptions> = {}): RunOptions => ({
  concurrency: 4,
  retries: 0,
  scorerDeps,
  pause: noPause,
  ...extra,
});

const only = (results: Awaited<ReturnType<typeof runSuite>>): TrialOutcome => {
  expect(results).toHaveLength(1);
  expect(results[0]?.trials).toHaveLength(1);
  return results[0]?.trials[0] as TrialOutcome;
};

const activeTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('runSuite', () => {
  it('scores a right answer as a pass and a wrong one as a fail, with the call’s latency', async () => {
    // Prepare
    const port = new ScriptedPort((call) => answer(call.taskId === 't-right' ? 'right' : 'wrong'));

    // Act
    const results = await runSuite(
      suiteOf([task('t-right'), task('t-wrong')]),
      experts('e1'),
      port,
      options(),
    );

    // Assess
    expect(results).toEqual([
      {
        taskId: 't-right',
        expertId: 'e1',
        weight: 1,
        trials: [
          expect.objectContaining({ kind: 'scored', score: 1, pass: true, latencyMs: 7, attempts: 1 }),
        ],
      },
      {
        taskId: 't-wrong',
        expertId: 'e1',
        weight: 1,
        trials: [expect.objectContaining({ kind: 'scored', score: 0, pass: false, attempts: 1 })],
      },
    ]);
    expect(port.calls.map((c) => c.timeoutMs)).toEqual([1_000, 1_000]);
  });

  it('keeps at most `concurrency` calls in flight, and reaches it', async () => {
    // Prepare: 2 experts × 10 tasks × 2 trials, each call taking a few ms.
    const port = new ScriptedPort(() => answer('right'), 3);
    const tasks = Array.from({ length: 10 }, (_, i) => task(`t${i}`, { trials: 2 }));

    // Act
    const results = await runSuite(suiteOf(tasks), experts('e1', 'e2'), port, options({ concurrency: 3 }));

    // Assess
    expect(port.calls).toHaveLength(40);
    expect(port.maxInFlight).toBe(3);
    expect(results.flatMap((r) => r.trials)).toHaveLength(40);
  });

  it('returns results in a fixed order: experts by id, then the suite’s task order, trials in order', async () => {
    // Prepare: earlier tasks answer later, and each trial answers differently.
    const order = ['t-c', 't-a', 't-b'];
    const port = new ScriptedPort(async (call) => {
      await new Promise((resolve) => setTimeout(resolve, 3 * (order.length - order.indexOf(call.taskId))));
      return answer(call.trial === 2 ? 'wrong' : 'right');
    });

    // Act
    const results = await runSuite(
      suiteOf(order.map((id) => task(id, { trials: 3 }))),
      experts('zeta', 'alpha'),
      port,
      options({ concurrency: 16 }),
    );

    // Assess
    expect(results.map((r) => `${r.expertId}/${r.taskId}`)).toEqual([
      'alpha/t-c',
      'alpha/t-a',
      'alpha/t-b',
      'zeta/t-c',
      'zeta/t-a',
      'zeta/t-b',
    ]);
    for (const result of results)
      expect(result.trials.map((t) => t.kind === 'scored' && t.pass)).toEqual([true, false, true]);
    expect(new Set(port.calls.map((c) => c.trial))).toEqual(new Set([1, 2, 3]));
  });

  it('retries an unavailable expert with backoff, then reports it unavailable with every attempt counted', async () => {
    // Prepare
    const port = new ScriptedPort(() => unavailable());
    const pauses: number[] = [];

    // Act
    const results = await runSuite(
      suiteOf([task('t1')]),
      experts('e1'),
      port,
      options({
        retries: 2,
        backoffMs: (retry) => retry * 10,
        pause: async (ms) => {
          pauses.push(ms);
        },
      }),
    );

    // Assess
    expect(only(results)).toMatchObject({
      kind: 'error',
      error: 'unavailable',
      message: 'the expert answered 503',
      attempts: 3,
    });
    expect(port.calls).toHaveLength(3);
    expect(pauses).toEqual([10, 20]);
  });

  it('scores an answer that came after a retry, and names a timeout that lasted through the retries', async () => {
    // Prepare
    const recovers = new ScriptedPort((_, nth) => (nth === 1 ? unavailable() : answer('right')));
    const slow = new ScriptedPort(() => unavailable('upstream_timeout'));

    // Act
    const recovered = only(
      await runSuite(suiteOf([task('t1')]), experts('e1'), recovers, options({ retries: 3 })),
    );
    const timedOut = only(
      await runSuite(suiteOf([task('t1')]), experts('e1'), slow, options({ retries: 1 })),
    );

    // Assess
    expect(recovered).toMatchObject({ kind: 'scored', pass: true, attempts: 2 });
    expect(recovers.calls).toHaveLength(2);
    expect(timedOut).toMatchObject({ kind: 'error', error: 'timeout', attempts: 2 });
    expect(slow.calls).toHaveLength(2);
  });

  it('scores a 4xx answer and an unusable answer as failures, without retrying them', async () => {
    // Prepare
    const port = new ScriptedPort((call) =>
      call.taskId === 't-4xx'
        ? answer('right', 422)
        : { kind: 'unusable', code: 'upstream_invalid_json', message: 'not JSON', latencyMs: 4 },
    );

    // Act
    const results = await runSuite(
      suiteOf([task('t-4xx'), task('t-garbage')]),
      experts('e1'),
      port,
      options({ retries: 3 }),
    );

    // Assess
    expect(results.map((r) => r.trials[0])).toEqual([
      { kind: 'scored', score: 0, pass: false, latencyMs: 7, attempts: 1, detail: 'answered 422' },
      {
        kind: 'scored',
        score: 0,
        pass: false,
        latencyMs: 4,
        attempts: 1,
        detail: 'unusable answer: upstream_invalid_json',
      },
    ]);
    expect(port.calls).toHaveLength(2);
  });

  it('reports a refused endpoint as a configuration error, without retrying it', async () => {
    // Prepare
    const port = new ScriptedPort(() => ({
      kind: 'refused',
      code: 'endpoint_metadata_address',
      message: 'metadata address refused',
    }));

    // Act
    const outcome = only(await runSuite(suiteOf([task('t1')]), experts('e1'), port, options({ retries: 5 })));

    // Assess
    expect(outcome).toMatchObject({ kind: 'error', error: 'refused', attempts: 1 });
    expect(port.calls).toHaveLength(1);
  });

  it('ends a trial whose call never settles at its hard bound, and aborts the call’s signal', async () => {
    // Prepare: a port that ignores its signal and never answers.
    const port = new ScriptedPort(() => new Promise<ExpertAttempt>(() => {}));

    // Act
    const outcome = only(
      await runSuite(suiteOf([task('t1')]), experts('e1'), port, options({ taskTimeoutMs: 50, retries: 2 })),
    );

    // Assess
    expect(outcome).toMatchObject({
      kind: 'error',
      error: 'timeout',
      message: 'no result within 50 ms',
      attempts: 1,
    });
    expect(port.calls[0]?.signal.aborted).toBe(true);
  });

  it('ends a trial whose scorer never settles at its hard bound too', async () => {
    // Prepare
    vi.mocked(scoreOutput).mockImplementation(() => new Promise(() => {}));
    const port = new ScriptedPort(() => answer('right'));

    // Act
    const outcome = only(
      await runSuite(suiteOf([task('t1')]), experts('e1'), port, options({ taskTimeoutMs: 50 })),
    );

    // Assess
    expect(outcome).toMatchObject({ kind: 'error', error: 'timeout', attempts: 1 });
  });

  it('reports a scorer that fails as a scorer error, not as the expert’s failure', async () => {
    // Prepare
    vi.mocked(scoreOutput).mockRejectedValue(new ScorerError('the judge did not answer'));
    const port = new ScriptedPort(() => answer('right'));

    // Act
    const outcome = only(await runSuite(suiteOf([task('t1')]), experts('e1'), port, options({ retries: 2 })));

    // Assess
    expect(outcome).toMatchObject({
      kind: 'error',
      error: 'scorer',
      message: 'the judge did not answer',
      attempts: 1,
    });
    expect(port.calls).toHaveLength(1);
  });

  it('tells progress after every trial: done so far, the total and the trial just done', async () => {
    // Prepare
    const port = new ScriptedPort(() => answer('right'));
    const seen: [number, number, TrialProgress][] = [];

    // Act
    await runSuite(
      suiteOf([task('t1', { trials: 2 }), task('t2')]),
      experts('e1', 'e2'),
      port,
      options({ concurrency: 2, onProgress: (done, total, last) => seen.push([done, total, last]) }),
    );

    // Assess
    expect(seen.map(([done, total]) => [done, total])).toEqual([
      [1, 6],
      [2, 6],
      [3, 6],
      [4, 6],
      [5, 6],
      [6, 6],
    ]);
    expect(seen.map(([, , last]) => `${last.expertId}/${last.taskId}/${last.trial}`).sort()).toEqual([
      'e1/t1/1',
      'e1/t1/2',
      'e1/t2/1',
      'e2/t1/1',
      'e2/t1/2',
      'e2/t2/1',
    ]);
    expect(seen.every(([, , last]) => last.outcome.kind === 'scored')).toBe(true);
  });

  it('leaves no timer behind once the run has resolved', async () => {
    // Prepare: default bound (seconds long) and default pauses, one trial retried.
    const port = new ScriptedPort((_, nth) => (nth === 1 ? unavailable() : answer('right')));
    const before = activeTimers();

    // Act
    await runSuite(suiteOf([task('t1'), task('t2')]), experts('e1'), port, {
      concurrency: 2,
      retries: 1,
      backoffMs: () => 1,
      scorerDeps,
    });

    // Assess
    expect(activeTimers()).toBe(before);
  });

  it.each([
    ['concurrency 0', { concurrency: 0 }, 'concurrency'],
    ['concurrency 257', { concurrency: 257 }, 'concurrency'],
    ['fractional concurrency', { concurrency: 1.5 }, 'concurrency'],
    ['retries -1', { retries: -1 }, 'retries'],
    ['retries 6', { retries: 6 }, 'retries'],
    ['a zero task bound', { taskTimeoutMs: 0 }, 'taskTimeoutMs'],
  ])('refuses %s with invalid_run_options and calls nobody', async (_, extra, path) => {
    // Prepare
    const port = new ScriptedPort(() => answer('right'));

    // Act
    const error = (await runSuite(suiteOf([task('t1')]), experts('e1'), port, options(extra)).catch(
      (e: unknown) => e,
    )) as AppError;

    // Assess
    expect(error).toMatchObject({ statusCode: 400, code: 'invalid_run_options' });
    expect(error.message).toContain(path);
    expect(port.calls).toHaveLength(0);
  });

  it('refuses an expert listed twice', async () => {
    await expect(
      runSuite(
        suiteOf([task('t1')]),
        experts('e1', 'e1'),
        new ScriptedPort(() => answer('right')),
        options(),
      ),
    ).rejects.toMatchObject({ code: 'invalid_run_options' });
  });
});
