import { decideExpert, infrastructureFailed, metricsOf, passRatesOf, runStatus, weightsOf } from './gate.js';
import type {
  Baseline,
  ExpertVerdict,
  PassRates,
  QuarantineEntry,
  RunSummary,
  Suite,
  TaskResult,
} from './model.js';
import { excludedTasks, type QuarantineChange, updateQuarantine } from './quarantine.js';
import { type ExpertPort, type ExpertTarget, type RunOptions, runSuite } from './runner.js';

/**
 * One evaluation, start to verdict: run the suite against the experts, update the quarantine from
 * what flipped with nothing changed, and gate each expert against the baseline (quarantined tasks
 * left out). The same steps whether `conductor-eval run` does it in a pull request's CI (files of
 * the working copy) or the eval worker does it for POST eval/run (records and the artifacts bucket):
 * the callers differ only in where they keep the baseline, the quarantine and the report.
 */

/** What the previous run of the same suite left, for "flipped with nothing changed". */
export interface PreviousRun {
  readonly runId: string;
  readonly suiteDigest: string;
  readonly expertFingerprints: Readonly<Record<string, string>>;
  readonly passRates: PassRates;
}

export interface EvaluationInput {
  readonly runId: string;
  readonly suite: Suite;
  readonly experts: readonly ExpertTarget[];
  readonly port: ExpertPort;
  readonly options: RunOptions;
  readonly baseline?: Baseline | undefined;
  readonly quarantine: readonly QuarantineEntry[];
  readonly previous?: PreviousRun | undefined;
  readonly clock: () => Date;
  readonly links?: Readonly<Record<string, string>>;
}

export interface Evaluation {
  readonly summary: RunSummary;
  /** The quarantine after this run (every entry, of every suite the input held). */
  readonly quarantine: readonly QuarantineEntry[];
  /** What changed in it, to log. */
  readonly quarantineChanges: readonly QuarantineChange[];
  /** What the next run compares with. */
  readonly previous: PreviousRun;
}

export const evaluate = async (input: EvaluationInput): Promise<Evaluation> => {
  const { suite, experts, runId } = input;
  const startedAt = input.clock().toISOString();
  const results: TaskResult[] = await runSuite(suite, experts, input.port, input.options);
  const finishedAt = input.clock().toISOString();
  const expertFingerprints = Object.fromEntries(experts.map((e) => [e.expertId, e.fingerprint]));

  const { entries, changes } = updateQuarantine({
    current: [...input.quarantine],
    suite: { id: suite.id, digest: suite.digest },
    runId,
    now: finishedAt,
    results,
    ...(input.previous ? { previous: input.previous } : {}),
    expertFingerprints,
  });

  const current = passRatesOf(results);
  const verdicts: ExpertVerdict[] = [];
  if (input.baseline) {
    for (const { expertId } of experts) {
      verdicts.push(
        decideExpert({
          expertId,
          baseline: baselineRatesOf(input.baseline, expertId),
          current: current[expertId] ?? {},
          weights: { ...input.baseline.weights, ...weightsOf(results) },
          excluded: excludedTasks(entries, suite.id, expertId),
          gate: suite.gate,
        }),
      );
    }
  }
  const summary: RunSummary = {
    runId,
    suiteId: suite.id,
    suiteVersion: suite.version,
    suiteDigest: suite.digest,
    startedAt,
    finishedAt,
    status: runStatus(verdicts, infrastructureFailed(results)),
    ...(input.baseline ? { baselineId: input.baseline.id } : {}),
    metrics: metricsOf(results),
    verdicts,
    quarantined: entries.filter((entry) => entry.suiteId === suite.id),
    results,
    ...(input.links ? { links: input.links } : {}),
  };
  return {
    summary,
    quarantine: entries,
    quarantineChanges: changes,
    previous: { runId, suiteDigest: suite.digest, expertFingerprints, passRates: current },
  };
};

/**
 * The baseline's pass rates an expert is compared with: its own, or, when the baseline holds one
 * expert only, that expert's (a candidate against the incumbent: another expert id, the same suite).
 */
export const baselineRatesOf = (baseline: Baseline, expertId: string): Readonly<Record<string, number>> => {
  const own = baseline.passRates[expertId];
  if (own) return own;
  const experts = Object.values(baseline.passRates);
  return experts.length === 1 ? (experts[0] ?? {}) : {};
};

/** A baseline taken from a run's results (not promoted). */
export const baselineOf = (
  summary: Pick<RunSummary, 'runId' | 'suiteId' | 'suiteDigest' | 'results'>,
  id: string,
  createdAt: string,
): Baseline => ({
  id,
  suiteId: summary.suiteId,
  suiteDigest: summary.suiteDigest,
  createdAt,
  sourceRunId: summary.runId,
  promoted: false,
  passRates: passRatesOf(summary.results),
  weights: weightsOf(summary.results),
});

/** The most graded trials a prior from an evaluation weighs (the router caps priors at 1,000). */
export const MAX_EVAL_PRIOR_WEIGHT = 1000;

/**
 * Router priors (`conductor.priors/v1`, the router's warm start) from a run: per expert, its pass
 * rate as the expected reward, weighed by the trials that were graded. Only a run whose gate passed
 * (or that had no baseline and no infrastructure failure) gives priors: a regressed expert's rate is
 * not a belief to start from.
 */
export const priorsOf = (summary: Pick<RunSummary, 'runId' | 'suiteId' | 'status' | 'metrics'>) => ({
  format: 'conductor.priors/v1' as const,
  source: `eval:${summary.suiteId}:${summary.runId}`,
  experts: summary.metrics
    .filter((metric) => metric.scoredTrials > 0)
    .map((metric) => ({
      expertId: metric.expertId,
      meanReward: Math.round(metric.passRate * 1e6) / 1e6,
      weight: Math.min(MAX_EVAL_PRIOR_WEIGHT, metric.scoredTrials),
    })),
});
