import { ValidationError } from '#shared/errors.js';
import type { ExpertAttempt } from '#shared/ports/expert-call.js';
import type { GoldenTask, Suite, TaskResult, TrialOutcome } from './model.js';
import { outputOf, passes, type ScorerDeps, ScorerError, scoreOutput } from './scorers.js';

/**
 * Runs a golden suite against experts: every (expert, task, trial) is a work item, at most
 * `concurrency` in flight. Each trial calls the expert through `ExpertPort` and is classified:
 * a 2xx answer is scored; any other answer, or one that is not usable, is the expert's wrong answer
 * (score 0, not retried); no answer (timeout, unreachable, 5xx/408/429) is retried up to `retries`
 * times, then an infrastructure error; an endpoint the egress guard refuses is a configuration error.
 * A hard bound per trial (`taskTimeoutMs`) ends it whatever the port or the scorer do.
 */

export interface ExpertTarget {
  readonly expertId: string;
  /** What identifies this expert's version for "nothing changed" (endpoint + version label). */
  readonly fingerprint: string;
}

/** The port: one call of an expert with a task's input. Never throws for an expert's misbehaviour. */
export interface ExpertPort {
  call(
    expertId: string,
    input: unknown,
    options: {
      readonly timeoutMs: number;
      /** Aborted when the trial's hard bound passes: nothing more is wanted from this call. */
      readonly signal: AbortSignal;
      readonly taskId: string;
      /** 1-based. */
      readonly trial: number;
    },
  ): Promise<ExpertAttempt>;
}

/** What `onProgress` is told after each trial. */
export interface TrialProgress {
  readonly expertId: string;
  readonly taskId: string;
  /** 1-based. */
  readonly trial: number;
  readonly outcome: TrialOutcome;
}

export interface RunOptions {
  /** Trials in flight at once: an integer from 1 to MAX_CONCURRENCY. */
  readonly concurrency: number;
  /** Further calls after an infrastructure error (`unavailable`): an integer from 0 to MAX_RETRIES. */
  readonly retries: number;
  /** The pause before retry `n` (1-based), in ms. @default `defaultBackoffMs` (250, 1000, 4000, 4000...) */
  readonly backoffMs?: (retry: number) => number;
  /**
   * The hard bound on one trial, retries and pauses included (ms).
   * @default suite.timeoutMs × (retries + 1) + the backoffs + 1 s
   */
  readonly taskTimeoutMs?: number;
  /** Told after each trial: trials done, trials in all, and the one just done. */
  readonly onProgress?: (done: number, total: number, last: TrialProgress) => void;
  readonly scorerDeps: ScorerDeps;
  /** @default a timer (cut short when the trial's bound passes) */
  readonly pause?: (ms: number) => Promise<void>;
  /** Milliseconds, for latencies. @default `performance.now` */
  readonly clock?: () => number;
}

export const MAX_CONCURRENCY = 256;
export const MAX_RETRIES = 5;
/** Past the calls and pauses, what the default bound leaves for scoring. */
export const SCORING_ALLOWANCE_MS = 1_000;

export const defaultBackoffMs = (retry: number): number => Math.min(250 * 4 ** (retry - 1), 4_000);

const isIntegerIn = (value: unknown, min: number, max: number): boolean =>
  Number.isInteger(value) && (value as number) >= min && (value as number) <= max;

const checkOptions = (experts: readonly ExpertTarget[], options: RunOptions): void => {
  const issues: { path: string; message: string }[] = [];
  if (!isIntegerIn(options.concurrency, 1, MAX_CONCURRENCY))
    issues.push({
      path: 'concurrency',
      message: `must be an integer from 1 to ${MAX_CONCURRENCY} (got ${String(options.concurrency)})`,
    });
  if (!isIntegerIn(options.retries, 0, MAX_RETRIES))
    issues.push({
      path: 'retries',
      message: `must be an integer from 0 to ${MAX_RETRIES} (got ${String(options.retries)})`,
    });
  const timeout = options.taskTimeoutMs;
  if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0))
    issues.push({
      path: 'taskTimeoutMs',
      message: `must be a positive number of ms (got ${String(timeout)})`,
    });
  const seen = new Set<string>();
  for (const { expertId } of experts) {
    if (seen.has(expertId))
      issues.push({ path: 'experts', message: `expert ${expertId} is listed more than once` });
    seen.add(expertId);
  }
  if (issues.length > 0)
    throw new ValidationError(
      `Invalid run options: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}.`,
      issues,
      'invalid_run_options',
    );
};

/** A pause that ends early when the trial is abandoned, so no timer outlives the run. */
const abortableDelay = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

interface WorkItem {
  readonly expertId: string;
  readonly task: GoldenTask;
  readonly trial: number;
}

interface TrialContext {
  readonly suite: Suite;
  readonly port: ExpertPort;
  readonly retries: number;
  readonly backoffMs: (retry: number) => number;
  readonly pause: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly clock: () => number;
  readonly scorerDeps: ScorerDeps;
}

const scoreAnswer = async (
  task: GoldenTask,
  body: unknown,
  facts: { latencyMs: number; attempts: number; elapsed: () => number },
  deps: ScorerDeps,
): Promise<TrialOutcome> => {
  try {
    const { score, detail } = await scoreOutput(task, outputOf(body, task.outputPath), deps);
    return {
      kind: 'scored',
      score,
      pass: passes(score, task.tolerance),
      latencyMs: facts.latencyMs,
      attempts: facts.attempts,
      ...(detail === undefined ? {} : { detail }),
    };
  } catch (error) {
    // A ScorerError is the scorer's declared failure; anything else thrown while scoring is still
    // not the expert's fault, and one broken scorer must not sink the whole run.
    return {
      kind: 'error',
      error: 'scorer',
      message: error instanceof ScorerError ? error.message : `the scorer failed: ${messageOf(error)}`,
      attempts: facts.attempts,
      latencyMs: facts.elapsed(),
    };
  }
};

const wrongAnswer = (detail: string, latencyMs: number, attempts: number): TrialOutcome => ({
  kind: 'scored',
  score: 0,
  pass: false,
  latencyMs,
  attempts,
  detail,
});

/** One trial, retries included. `calls` is shared with the bound, which reports how many were made. */
const runTrial = async (
  item: WorkItem,
  ctx: TrialContext,
  signal: AbortSignal,
  calls: { made: number },
): Promise<TrialOutcome> => {
  const started = ctx.clock();
  const elapsed = (): number => Math.round(ctx.clock() - started);
  let lastFailure: Extract<ExpertAttempt, { kind: 'unavailable' }> | undefined;
  for (let attempt = 1; attempt <= ctx.retries + 1; attempt += 1) {
    if (attempt > 1) await ctx.pause(ctx.backoffMs(attempt - 1), signal);
    // Abandoned: the bound has already answered for this trial.
    if (signal.aborted) break;
    calls.made = attempt;
    const result = await ctx.port.call(item.expertId, item.task.input, {
      timeoutMs: ctx.suite.timeoutMs,
      signal,
      taskId: item.task.id,
      trial: item.trial,
    });
    switch (result.kind) {
      case 'answer':
        if (result.status >= 200 && result.status < 300)
          return scoreAnswer(
            item.task,
            result.body,
            { latencyMs: result.latencyMs, attempts: attempt, elapsed },
            ctx.scorerDeps,
          );
        return wrongAnswer(`answered ${result.status}`, result.latencyMs, attempt);
      case 'unusable':
        return wrongAnswer(`unusable answer: ${result.code}`, result.latencyMs, attempt);
      case 'refused':
        return { kind: 'error', error: 'refused', message: result.message, attempts: attempt, latencyMs: 0 };
      case 'unavailable':
        lastFailure = result;
    }
  }
  return {
    kind: 'error',
    error: lastFailure?.code === 'upstream_timeout' ? 'timeout' : 'unavailable',
    message: lastFailure?.message ?? 'the trial was abandoned',
    attempts: calls.made,
    latencyMs: elapsed(),
  };
};

/** The trial raced against its hard bound: a port or scorer that never settles cannot hang the run. */
const boundedTrial = async (item: WorkItem, ctx: TrialContext, boundMs: number): Promise<TrialOutcome> => {
  const controller = new AbortController();
  const calls = { made: 0 };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<TrialOutcome>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve({
        kind: 'error',
        error: 'timeout',
        message: `no result within ${boundMs} ms`,
        attempts: Math.max(1, calls.made),
        latencyMs: boundMs,
      });
    }, boundMs);
  });
  try {
    return await Promise.race([runTrial(item, ctx, controller.signal, calls), bound]);
  } finally {
    clearTimeout(timer);
  }
};

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Runs every trial of every task against every expert. Results are in a fixed order whatever the
 * timing: experts by id, then the suite's task order, each task's trials in order.
 * @throws ValidationError (`invalid_run_options`, 400) for options out of range or an expert listed twice
 */
export const runSuite = async (
  suite: Suite,
  experts: readonly ExpertTarget[],
  port: ExpertPort,
  options: RunOptions,
): Promise<TaskResult[]> => {
  checkOptions(experts, options);
  const backoffMs = options.backoffMs ?? defaultBackoffMs;
  const pause = options.pause;
  const ctx: TrialContext = {
    suite,
    port,
    retries: options.retries,
    backoffMs,
    pause: pause ? (ms) => pause(ms) : abortableDelay,
    clock: options.clock ?? (() => performance.now()),
    scorerDeps: options.scorerDeps,
  };
  let backoffTotal = 0;
  for (let retry = 1; retry <= options.retries; retry += 1) backoffTotal += backoffMs(retry);
  const boundMs =
    options.taskTimeoutMs ?? suite.timeoutMs * (options.retries + 1) + backoffTotal + SCORING_ALLOWANCE_MS;

  const expertIds = experts.map((e) => e.expertId).sort(byCodeUnits);
  const items: WorkItem[] = [];
  for (const expertId of expertIds)
    for (const task of suite.tasks)
      for (let trial = 1; trial <= task.trials; trial += 1) items.push({ expertId, task, trial });

  const outcomes: TrialOutcome[] = new Array(items.length);
  let next = 0;
  let done = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next;
      next += 1;
      const item = items[index] as WorkItem;
      try {
        const outcome = await boundedTrial(item, ctx, boundMs);
        outcomes[index] = outcome;
        done += 1;
        options.onProgress?.(done, items.length, {
          expertId: item.expertId,
          taskId: item.task.id,
          trial: item.trial,
          outcome,
        });
      } catch (error) {
        // A port that broke its contract, or a progress callback that threw: take no more work.
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, items.length) }, worker));

  const results: TaskResult[] = [];
  let index = 0;
  for (const expertId of expertIds)
    for (const task of suite.tasks) {
      results.push({
        taskId: task.id,
        expertId,
        weight: task.weight,
        trials: outcomes.slice(index, index + task.trials),
      });
      index += task.trials;
    }
  return results;
};
