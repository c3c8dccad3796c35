/**
 * The evaluation pillar's shared vocabulary: a golden suite once parsed, what one trial of one task
 * against one expert came to, a run's results, a baseline, and the gate's verdict. Pure types: the
 * suite's file format (and its validation) is `suite.ts`, scoring `scorers.ts`, running
 * `runner.ts`, the statistics `gate.ts`, flaky tasks `quarantine.ts`.
 */

/** How a task's output is scored. Every scorer yields a score in [0, 1]. */
export type ScorerSpec =
  /** The output equals `expected` (deep equality for JSON; strings compared after `trim` unless false). */
  | { readonly type: 'exact'; readonly caseSensitive?: boolean; readonly trim?: boolean }
  /** The output (as text) contains `expected` (a string, or every string of a list). */
  | { readonly type: 'contains'; readonly caseSensitive?: boolean }
  /** The output (as text) matches `pattern`. */
  | { readonly type: 'regex'; readonly pattern: string; readonly flags?: string }
  /** The output is a number within `tolerance` of `expected` (absolute, or relative to |expected|). */
  | { readonly type: 'numeric'; readonly tolerance: number; readonly relative?: boolean }
  /** Every key and value of `expected` (recursively; arrays element by element) is in the output. */
  | { readonly type: 'json-subset' }
  /** The output is valid against a JSON Schema (draft 2020-12). */
  | { readonly type: 'json-schema'; readonly schema: Readonly<Record<string, unknown>> }
  /** A module of the working copy scores it (standalone runs only): `export` defaults to `score`. */
  | { readonly type: 'custom'; readonly module: string; readonly export?: string }
  /** Another expert of the tenant judges the output against a rubric and answers a score in [0, 1]. */
  | { readonly type: 'rubric'; readonly judgeExpertId: string; readonly rubric: string };

export type ScorerType = ScorerSpec['type'];

export interface GoldenTask {
  readonly id: string;
  /** What the expert is sent (its request body). */
  readonly input: unknown;
  /** What a right answer is, as the scorer reads it (a rubric or a schema scorer may need none). */
  readonly expected?: unknown;
  readonly scorer: ScorerSpec;
  /**
   * Where in the expert's JSON answer the output is: a dotted path (`answer.text`, `choices.0`). By
   * default `output` when the answer is an object that has it, else the whole answer.
   */
  readonly outputPath?: string;
  /** How much of the score may be missing for the task to pass: it passes when score ≥ 1 − tolerance. */
  readonly tolerance: number;
  /** The task's weight in the pass rate (> 0). */
  readonly weight: number;
  /** Independent tries per expert; the task's pass rate is the share that passed. */
  readonly trials: number;
}

export interface GateSettings {
  /** The largest drop in weighted pass rate (0-1) that is not a regression. */
  readonly tolerance: number;
  /** The confidence each side of the gate's test is held at (0.99: each error at most 1 %). */
  readonly confidence: number;
}

export interface Suite {
  readonly id: string;
  /** The suite's own version label (a new version of a suite is a new file version). */
  readonly version: string;
  readonly description?: string;
  /** The kind of expert the suite is for (free text: `classifier`, `llm`, `tool`...). */
  readonly expertType?: string;
  /** The hard bound on one call to an expert, retries aside (ms). */
  readonly timeoutMs: number;
  readonly gate: GateSettings;
  readonly tasks: readonly GoldenTask[];
  /** SHA-256 (hex) of the suite's canonical JSON: "nothing changed" means the same digest. */
  readonly digest: string;
}

/** Why a trial has no score: the infrastructure's fault, the expert's, or the configuration's. */
export type TrialErrorKind =
  /** No answer within the bound, after the retries (infrastructure). */
  | 'timeout'
  /** No connection, or 5xx/408/429, after the retries (infrastructure). */
  | 'unavailable'
  /** The egress guard refused the endpoint (private, metadata address...): configuration. */
  | 'refused'
  /** The scorer itself failed (a custom module threw, the judge did not answer): not the expert's fault. */
  | 'scorer';

export type TrialOutcome =
  | {
      readonly kind: 'scored';
      readonly score: number;
      readonly pass: boolean;
      readonly latencyMs: number;
      /** Calls made (1 + retries of infrastructure errors). */
      readonly attempts: number;
      /** Why it failed, in a line (`expected 42, got 41.2`; `answered 400`; `not JSON`). */
      readonly detail?: string;
    }
  | {
      readonly kind: 'error';
      readonly error: TrialErrorKind;
      readonly message: string;
      readonly attempts: number;
      readonly latencyMs: number;
    };

/** One task against one expert: its trials. */
export interface TaskResult {
  readonly taskId: string;
  readonly expertId: string;
  readonly weight: number;
  readonly trials: readonly TrialOutcome[];
}

/** Per expert: what a run measured (pass rates over the scored trials, weighted by task). */
export interface ExpertMetrics {
  readonly expertId: string;
  /** Weighted pass rate over tasks with at least one scored trial (0-1). */
  readonly passRate: number;
  /** Weighted mean score over the same tasks (0-1). */
  readonly meanScore: number;
  readonly tasks: number;
  readonly scoredTrials: number;
  readonly errorTrials: number;
  readonly meanLatencyMs: number;
}

/** Per expert, per task: the share of scored trials that passed (absent: no scored trial). */
export type PassRates = Readonly<Record<string, Readonly<Record<string, number>>>>;

export interface Baseline {
  readonly id: string;
  readonly suiteId: string;
  readonly suiteDigest: string;
  readonly createdAt: string;
  /** The run it was taken from. */
  readonly sourceRunId: string;
  /** A promoted baseline never changes again. */
  readonly promoted: boolean;
  readonly promotedAt?: string;
  readonly passRates: PassRates;
  readonly weights: Readonly<Record<string, number>>;
}

export type Verdict = 'pass' | 'regression' | 'undecided';

/** A task whose outcome changed between the baseline and this run. */
export interface TaskFlip {
  readonly taskId: string;
  readonly baseline: number;
  readonly current: number;
}

export interface ExpertVerdict {
  readonly expertId: string;
  readonly verdict: Verdict;
  /** Weighted pass rates over the tasks both have (quarantined tasks excluded). */
  readonly baselineRate: number;
  readonly currentRate: number;
  /** current − baseline. */
  readonly delta: number;
  /** The interval on the paired difference, at the gate's confidence each side. */
  readonly interval: readonly [number, number];
  readonly tasksCompared: number;
  readonly flips: readonly TaskFlip[];
  /** In words: why this verdict (`a drop of 8.0 points, at least 2.1 with 99 % confidence`). */
  readonly reason: string;
}

/** A task kept out of the gate because its outcome flips with nothing changed (quarantine.ts). */
export interface QuarantineEntry {
  readonly suiteId: string;
  readonly taskId: string;
  readonly expertId: string;
  /** In words: `flipped across 3 trials of run r-12` / `passed in run r-11, failed in r-12, same suite and expert`. */
  readonly reason: string;
  /** ISO date-time it was quarantined. */
  readonly since: string;
  /** Consecutive stable runs seen since (it is released at RELEASE_AFTER_STABLE_RUNS). */
  readonly stableRuns: number;
}

/** The run's overall verdict: the worst of its experts', infrastructure failures first. */
export type RunStatus = 'pass' | 'regression' | 'undecided' | 'infrastructure_failure';

/** Everything a report is drawn from: the Markdown PR comment, JUnit XML, JSON and the HTML page. */
export interface RunSummary {
  readonly runId: string;
  readonly suiteId: string;
  readonly suiteVersion: string;
  readonly suiteDigest: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly status: RunStatus;
  readonly baselineId?: string;
  readonly metrics: readonly ExpertMetrics[];
  readonly verdicts: readonly ExpertVerdict[];
  readonly quarantined: readonly QuarantineEntry[];
  readonly results: readonly TaskResult[];
  /** Where a reader goes next (the run on a dashboard, the CI job): shown in the PR comment. */
  readonly links?: Readonly<Record<string, string>>;
}

/** One point of a trend: an expert's metrics on a suite in one run. */
export interface HistoryPoint {
  readonly runId: string;
  readonly suiteId: string;
  readonly expertId: string;
  readonly at: string;
  readonly passRate: number;
  readonly meanScore: number;
  readonly status: RunStatus;
}
