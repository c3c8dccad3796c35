import { ConflictError, NotFoundError, UnprocessableError } from '#shared/errors.js';
import type { TenantRecord } from '#shared/ports/records.js';
import type { Clock, IdGenerator } from '#shared/ports/system.js';
import { loadModelState, type ModelState } from './bandits/index.js';
import {
  estimateOffPolicy,
  type IntervalEstimate,
  meanInterval,
  type OffPolicyEstimates,
  OffPolicyInputError,
  type OffPolicySample,
  offPolicyTerms,
} from './off-policy.js';
import { compareReplay, type LoggedDecision, type ReplayPolicy } from './replay.js';
import {
  DEFAULT_POSTERIOR_SCALE,
  type EffectiveRouterConfig,
  type RouterConfigInput,
  type StrategyParameters,
  strategyConfigOf,
} from './router-config.js';
import { type ModelStateRepository, modelKeyOf, type RouteDecision } from './routing.js';

/**
 * Off-policy replay jobs (POST router/replay, GET router/replay/{jobId}): the value of a candidate
 * strategy against the baseline on the tenant's logged decisions of a time range, with IPS, SNIPS and
 * DR, 95 % intervals, the effective sample size, and a paired non-inferiority verdict: the gate a
 * tenant may require before a canary serves traffic. Asynchronous: the request queues a job, the
 * replay function runs it (the replay queue), and the job record carries the result.
 *
 * Two sources:
 * - `strategies`: each logged decision is decided again by the baseline and the candidate, on their
 *   current model states (the model has learnt from these very decisions' rewards: a state at decision
 *   time is not kept; the replay says so in its result).
 * - `shadow`: the decisions a shadow experiment evaluated, with the candidate's probability and
 *   predictions as logged at decision time (no hindsight); the baseline is what was served.
 */

export const REPLAY_SOURCES = ['strategies', 'shadow'] as const;
export type ReplaySource = (typeof REPLAY_SOURCES)[number];
export const REPLAY_STATUSES = ['queued', 'running', 'succeeded', 'failed'] as const;
export type ReplayStatus = (typeof REPLAY_STATUSES)[number];

/** The longest range a replay reads (decisions are kept 30 days). */
export const MAX_REPLAY_RANGE_DAYS = 31;

export interface ReplayRequest {
  readonly from: string;
  readonly to: string;
  readonly source: ReplaySource;
  /** Default: the experiment's candidate (`strategies`); required when the tenant runs no experiment. */
  readonly candidate?: StrategyParameters | undefined;
  /** Default: the configuration's own strategy and parameters. */
  readonly baseline?: StrategyParameters | undefined;
  readonly margin: number;
  readonly confidence: number;
}

export interface ReplayResult {
  /** Logged decisions in the range, and those with a learnt reward (the ones estimated from). */
  readonly decisions: number;
  readonly rewarded: number;
  readonly baseline: OffPolicyEstimates;
  readonly candidate: OffPolicyEstimates;
  readonly estimator: 'doubly-robust' | 'ips';
  /** candidate − baseline, paired per decision. */
  readonly difference: IntervalEstimate;
  /** difference.low >= −margin: the candidate is not worse than the baseline, with confidence. */
  readonly passed: boolean;
  /** Logged decisions evaluated per second (both policies), the estimation alone. */
  readonly evaluatedPerSecond: number;
  readonly durationMs: number;
  /** The model versions replayed on (strategies), which have learnt from the range's rewards. */
  readonly modelVersions?: { readonly baseline: number; readonly candidate: number };
}

export interface ReplayJob extends TenantRecord {
  readonly jobId: string;
  readonly status: ReplayStatus;
  readonly request: ReplayRequest;
  /** The strategies compared, as resolved when the job was queued. */
  readonly baseline: StrategyParameters;
  readonly candidate: StrategyParameters;
  /** The tenant's feature spec then (the candidate decides on the same encoded features). */
  readonly dimension: number;
  readonly modelSpec: Pick<RouterConfigInput, 'numericFeatures' | 'clip'>;
  /** The static strategy's expert then (unset: each decision's first candidate, as routes do). */
  readonly defaultExpertId?: string;
  readonly experiment?: string;
  readonly requestedBy: string;
  readonly result?: ReplayResult;
  readonly error?: { readonly code: string; readonly message: string };
  readonly finishedAt?: string;
}

/** The replay queue's message. */
export interface ReplayMessage {
  readonly tenantId: string;
  readonly jobId: string;
}

/** A logged decision of the range, with its reward when one was learnt. */
export interface LoggedRouteDecision {
  readonly decision: RouteDecision;
  readonly reward?: number;
}

/** Port: the tenant's logged decisions of [from, to) joined to their learnt rewards. */
export interface DecisionLog {
  decisionsBetween(tenantId: string, from: string, to: string): Promise<LoggedRouteDecision[]>;
  /** Whether the range holds any decision (may answer true without reading everything). */
  anyBetween(tenantId: string, from: string, to: string): Promise<boolean | 'unknown'>;
}

export interface ReplayJobRepository {
  create(job: ReplayJob): Promise<void>;
  get(tenantId: string, id: string): Promise<ReplayJob | undefined>;
  replace(job: ReplayJob, expectedVersion: number): Promise<void>;
}

/** The last replay of an experiment that succeeded (id = experiment name): what its status shows. */
export interface LatestReplay extends TenantRecord {
  readonly jobId: string;
}

export interface ReplayJobServiceDeps {
  readonly jobs: ReplayJobRepository;
  /** Where the last succeeded replay of each experiment is pointed at (GET router/experiment). */
  readonly latest?: {
    create(record: LatestReplay): Promise<void>;
    get(tenantId: string, id: string): Promise<LatestReplay | undefined>;
    replace(record: LatestReplay, expectedVersion: number): Promise<void>;
  };
  readonly log: DecisionLog;
  readonly models: ModelStateRepository;
  readonly queue: { send(message: ReplayMessage): Promise<void> };
  readonly configs: { get(tenantId: string): Promise<EffectiveRouterConfig> };
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** Wall time for the throughput figure (performance.now in the handler). */
  readonly elapsedMs?: () => number;
}

export class ReplayJobNotFoundError extends NotFoundError {
  constructor() {
    super('Replay job not found.', 'replay_job_not_found');
  }
}

export class NoLoggedDecisionsError extends UnprocessableError {
  constructor(from: string, to: string) {
    super(`No logged decision with a learnt reward between ${from} and ${to}.`, 'no_logged_decisions');
  }
}

/** Never an expert id (they start with `exp_`): static's "first eligible candidate". */
const FIRST_CANDIDATE = '(first candidate)';

const parametersOf = (config: StrategyParameters): StrategyParameters => ({
  strategy: config.strategy,
  alpha: config.alpha,
  posteriorScale: config.posteriorScale ?? DEFAULT_POSTERIOR_SCALE,
  epsilon: config.epsilon,
  likelihood: config.likelihood,
});

const sameParameters = (a: StrategyParameters, b: StrategyParameters): boolean =>
  JSON.stringify(parametersOf(a)) === JSON.stringify(parametersOf(b));

export class ReplayJobService {
  constructor(private readonly deps: ReplayJobServiceDeps) {}

  /** Checks the request, records the job as queued and queues it. */
  async start(tenantId: string, request: ReplayRequest, requestedBy: string): Promise<ReplayJob> {
    const from = Date.parse(request.from);
    const to = Date.parse(request.to);
    if (!(from < to))
      throw new UnprocessableError('The range is empty: `from` must be before `to`.', 'empty_range');
    if (to - from > MAX_REPLAY_RANGE_DAYS * 86_400_000) {
      throw new UnprocessableError(`A replay reads at most ${MAX_REPLAY_RANGE_DAYS} days.`, 'range_too_long');
    }
    const config = await this.deps.configs.get(tenantId);
    const experiment = config.experiment;
    if (request.source === 'shadow' && experiment?.mode !== 'shadow') {
      throw new UnprocessableError(
        'A shadow replay reads a shadow experiment’s decisions: the tenant runs none.',
        'no_shadow_experiment',
      );
    }
    const candidate = request.candidate ?? experiment?.candidate;
    if (!candidate) {
      throw new UnprocessableError(
        'Name the candidate strategy: the tenant runs no experiment to take it from.',
        'no_candidate',
      );
    }
    if (
      request.source === 'shadow' &&
      request.candidate &&
      experiment &&
      !sameParameters(request.candidate, experiment.candidate)
    ) {
      throw new UnprocessableError(
        'A shadow replay estimates the shadow’s own candidate; replay another one with source `strategies`.',
        'not_the_shadow_candidate',
      );
    }
    if ((await this.deps.log.anyBetween(tenantId, request.from, request.to)) === false) {
      throw new NoLoggedDecisionsError(request.from, request.to);
    }
    const now = this.deps.clock.now().toISOString();
    const jobId = this.deps.ids.next('rpl');
    const job: ReplayJob = {
      tenantId,
      id: jobId,
      version: 1,
      createdAt: now,
      updatedAt: now,
      jobId,
      status: 'queued',
      request,
      baseline: parametersOf(request.baseline ?? config),
      candidate: parametersOf(candidate),
      dimension: config.dimension,
      modelSpec: { numericFeatures: config.numericFeatures, clip: config.clip },
      ...(config.defaultExpertId === undefined ? {} : { defaultExpertId: config.defaultExpertId }),
      ...(experiment ? { experiment: experiment.name } : {}),
      requestedBy,
    };
    await this.deps.jobs.create(job);
    await this.deps.queue.send({ tenantId, jobId });
    return job;
  }

  async get(tenantId: string, jobId: string): Promise<ReplayJob> {
    const job = await this.deps.jobs.get(tenantId, jobId);
    if (!job) throw new ReplayJobNotFoundError();
    return job;
  }

  /**
   * Runs a queued job (the replay function). At-least-once: a finished job is left as it is; one
   * that was running when its function died is run again from the start (a replay has no effect
   * but its result).
   */
  async run(tenantId: string, jobId: string): Promise<ReplayJob | undefined> {
    const job = await this.deps.jobs.get(tenantId, jobId);
    if (!job || job.status === 'succeeded' || job.status === 'failed') return job;
    const running = await this.#save(job, { status: 'running' });
    let result: ReplayResult;
    try {
      result = finite(await this.#estimate(running));
    } catch (error) {
      const known =
        error instanceof NoLoggedDecisionsError || error instanceof OffPolicyInputError
          ? {
              code: error instanceof NoLoggedDecisionsError ? error.code : 'not_estimable',
              message: error.message,
            }
          : undefined;
      if (!known) throw error;
      return this.#save(running, {
        status: 'failed',
        error: known,
        finishedAt: this.deps.clock.now().toISOString(),
      });
    }
    const done = await this.#save(running, {
      status: 'succeeded',
      result,
      finishedAt: this.deps.clock.now().toISOString(),
    });
    if (done.experiment) await this.#pointLatest(done);
    return done;
  }

  /** The last succeeded replay of the tenant's experiment `name`, if any. */
  async latestOf(tenantId: string, name: string): Promise<ReplayJob | undefined> {
    const latest = await this.deps.latest?.get(tenantId, name);
    return latest ? this.deps.jobs.get(tenantId, latest.jobId) : undefined;
  }

  /** Points the experiment's latest replay at this job (the last to finish wins). */
  async #pointLatest(job: ReplayJob): Promise<void> {
    const latest = this.deps.latest;
    if (!latest || !job.experiment) return;
    const now = this.deps.clock.now().toISOString();
    const current = await latest.get(job.tenantId, job.experiment);
    const record: LatestReplay = {
      tenantId: job.tenantId,
      id: job.experiment,
      version: (current?.version ?? 0) + 1,
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
      jobId: job.jobId,
    };
    try {
      if (current) await latest.replace(record, current.version);
      else await latest.create(record);
    } catch (error) {
      // Another job finished at the same moment: either is the latest.
      if (!(error instanceof ConflictError)) throw error;
    }
  }

  /**
   * Whether a replay job lets this configuration's canary start (the tenant's replay gate): it must
   * have succeeded, compared this very candidate with this very baseline, and passed.
   */
  async gate(tenantId: string, jobId: string, config: RouterConfigInput): Promise<string | undefined> {
    const job = await this.deps.jobs.get(tenantId, jobId);
    if (!job) return `replay job ${jobId} does not exist`;
    if (job.status !== 'succeeded' || !job.result)
      return `replay job ${jobId} is ${job.status}, not succeeded`;
    if (!config.experiment || !sameParameters(job.candidate, config.experiment.candidate)) {
      return `replay job ${jobId} evaluated another candidate (${job.candidate.strategy})`;
    }
    if (!sameParameters(job.baseline, config)) {
      return `replay job ${jobId} compared with another baseline (${job.baseline.strategy})`;
    }
    if (!job.result.passed) {
      const d = job.result.difference;
      return `replay job ${jobId} found the candidate worse than the baseline: difference ${d.value.toFixed(4)}, 95 % interval [${d.low.toFixed(4)}, ${d.high.toFixed(4)}], margin ${job.request.margin}`;
    }
    return undefined;
  }

  async #save(job: ReplayJob, change: Partial<ReplayJob>): Promise<ReplayJob> {
    const next: ReplayJob = {
      ...job,
      ...change,
      version: job.version + 1,
      updatedAt: this.deps.clock.now().toISOString(),
    };
    try {
      await this.deps.jobs.replace(next, job.version);
    } catch (error) {
      // Another delivery of the same job moved it on: its record stands.
      if (error instanceof ConflictError) return (await this.deps.jobs.get(job.tenantId, job.id)) ?? next;
      throw error;
    }
    return next;
  }

  async #estimate(job: ReplayJob): Promise<ReplayResult> {
    const { from, to } = job.request;
    const logged = await this.deps.log.decisionsBetween(job.tenantId, from, to);
    const rewarded = logged.filter(
      (entry): entry is Required<LoggedRouteDecision> =>
        entry.reward !== undefined &&
        (job.request.source !== 'shadow' || entry.decision.experiment?.shadow !== undefined),
    );
    if (rewarded.length === 0) throw new NoLoggedDecisionsError(from, to);
    const clock = this.deps.elapsedMs ?? (() => Date.now());
    const started = clock();
    if (job.request.source === 'shadow') {
      const comparison = compareShadow(rewarded, job.request);
      const durationMs = clock() - started;
      return {
        decisions: logged.length,
        rewarded: rewarded.length,
        ...comparison,
        ...throughput(rewarded.length, durationMs),
      };
    }
    const baseline = await this.#policy(job, job.baseline);
    const candidate = await this.#policy(job, job.candidate);
    const decisions: LoggedDecision[] = rewarded.map(({ decision, reward }) => ({
      taskId: decision.taskId,
      candidates: decision.rationale.candidates.map((c) => c.expertId),
      features: decision.features,
      expertId: decision.expertId,
      propensity: decision.propensity,
      reward,
      seed: decision.seed,
    }));
    const comparison = compareReplay(decisions, baseline.policy, candidate.policy, {
      margin: job.request.margin,
      confidence: job.request.confidence,
    });
    const durationMs = clock() - started;
    return {
      decisions: logged.length,
      rewarded: rewarded.length,
      baseline: comparison.baseline,
      candidate: comparison.candidate,
      estimator: comparison.estimator,
      difference: comparison.difference,
      passed: comparison.passed,
      ...throughput(decisions.length, durationMs),
      modelVersions: { baseline: baseline.version, candidate: candidate.version },
    };
  }

  async #policy(
    job: ReplayJob,
    parameters: StrategyParameters,
  ): Promise<{ policy: ReplayPolicy; version: number }> {
    // No expert is named this: a static strategy without a default picks each decision's first candidate.
    const strategy = strategyConfigOf(
      { ...parameters, defaultExpertId: job.defaultExpertId },
      FIRST_CANDIDATE,
    );
    const modelKey = modelKeyOf(strategy, job.dimension, job.modelSpec);
    const record = await this.deps.models.get(job.tenantId, modelKey);
    const state: ModelState | undefined = record ? loadModelState(record.state) : undefined;
    return { policy: { strategy, dimension: job.dimension, state }, version: state?.version ?? 0 };
  }
}

/**
 * A result whose every figure is finite, or the reason it is not estimable: an interval is unbounded
 * when the candidate gave probability 0 to every logged action (no overlap, effective sample size 0).
 */
const finite = (result: ReplayResult): ReplayResult => {
  const walk = (value: unknown, path: string): void => {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new OffPolicyInputError(
        `not estimable: ${path} is ${value} (the candidate gave probability 0 to every logged action, or the weights overflow; effective sample size ${result.candidate.effectiveSampleSize})`,
      );
    }
    if (value && typeof value === 'object')
      for (const [key, inner] of Object.entries(value)) walk(inner, path ? `${path}.${key}` : key);
  };
  walk(result, '');
  return result;
};

const throughput = (decisions: number, durationMs: number) => ({
  durationMs: Math.round(durationMs * 100) / 100,
  evaluatedPerSecond: durationMs > 0 ? Math.round((decisions * 1000) / durationMs) : decisions * 1000,
});

/**
 * The shadow's estimate: the candidate's logged probability of the served expert and its logged
 * predictions against what was served (the baseline, on-policy: every weight 1), paired per decision.
 */
const compareShadow = (
  rewarded: readonly Required<LoggedRouteDecision>[],
  request: ReplayRequest,
): Pick<ReplayResult, 'baseline' | 'candidate' | 'estimator' | 'difference' | 'passed'> => {
  const candidateSamples: OffPolicySample[] = [];
  const baselineSamples: OffPolicySample[] = [];
  for (const { decision, reward } of rewarded) {
    const shadow = decision.experiment?.shadow;
    if (!shadow) continue;
    candidateSamples.push({
      propensity: decision.propensity,
      targetProbability: shadow.servedProbability,
      reward,
      predicted: shadow.servedEstimate,
      predictedUnderTarget: shadow.expectedEstimate,
    });
    baselineSamples.push({ propensity: decision.propensity, targetProbability: decision.propensity, reward });
  }
  const options = { confidence: request.confidence };
  const candidateTerms = offPolicyTerms(candidateSamples);
  const baselineTerms = offPolicyTerms(baselineSamples);
  const cand = candidateTerms.doublyRobust ?? candidateTerms.ips;
  const difference = meanInterval(
    cand.map((term, i) => term - (baselineTerms.ips[i] ?? 0)),
    options,
  );
  return {
    baseline: estimateOffPolicy(baselineSamples, options),
    candidate: estimateOffPolicy(candidateSamples, options),
    estimator: candidateTerms.doublyRobust ? 'doubly-robust' : 'ips',
    difference,
    passed: difference.low >= -request.margin,
  };
};
