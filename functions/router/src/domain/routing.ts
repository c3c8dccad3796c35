import { AppError, ConflictError, ForbiddenError, NotFoundError } from '#shared/errors.js';
import { type EventPublisher, eventOf } from '#shared/ports/events.js';
import type { TenantRecord } from '#shared/ports/records.js';
import type { Clock, IdGenerator } from '#shared/ports/system.js';
import { TtlCache } from '#shared/ports/ttl-cache.js';
import { routeDecision } from '../../events.js';
import {
  armOf,
  type CandidateAssessment,
  type Context,
  type ContextEncoder,
  contributions,
  createContextEncoder,
  createStatic,
  createStrategy,
  fmix32,
  fnv1a32,
  loadModelState,
  type ModelKind,
  type ModelState,
  modelKindOf,
  mulberry32,
  type NumericFeature,
  type Selection,
  type SparseVector,
  type SparseVectorJson,
  type StoredModelState,
  type Strategy,
  type StrategyConfig,
  type StrategyName,
  sparseToJson,
} from './bandits/index.js';
import { assignmentBucket, type StickyKeyKind, servedByCandidate } from './canary.js';
import { type Expert, type ExpertRepository, isUnhealthy } from './experts.js';
import { ExplorationBudget, exploitInstead } from './exploration.js';
import {
  isActive,
  ObjectiveController,
  type ObjectiveDecision,
  type ObjectiveTerms,
  ObservedCosts,
  objectiveDecision,
  qualityGapOf,
  qualitySdOf,
} from './objective.js';
import type { EffectiveRouterConfig, RouterConfigService, StrategyParameters } from './router-config.js';
import { DEFAULT_POSTERIOR_SCALE, strategyConfigOf } from './router-config.js';

/** How long a decision (and so its rationale, and the window for its reward) is kept. */
export const DECISION_TTL_SECONDS = 30 * 24 * 60 * 60;

/** What the strategy that decided is called in answers: a strategy, or the kill-switch's static pick. */
export type DecisionStrategy = StrategyName | 'kill_switch';

/** Why a candidate was not considered (in the rationale and in a 422 no_candidates' details). */
export const REMOVAL_REASONS = ['unknown', 'disabled', 'unhealthy', 'policy', 'budget'] as const;
export type RemovalReason = (typeof REMOVAL_REASONS)[number];

/** The budget states (the scheduler's) in which the router demotes expensive experts. */
export const CONSTRAINED_BUDGET_STATES = ['degraded', 'budget-throttled'] as const;
export type ConstrainedBudgetState = (typeof CONSTRAINED_BUDGET_STATES)[number];

/**
 * The tenant's budget state as the scheduler reports it, asked only when a route has two eligible
 * candidates or more (undefined: no budget constrains it, or the state could not be had: routing
 * goes on without demotion).
 */
export type BudgetSignal = () => Promise<ConstrainedBudgetState | undefined>;

/**
 * Budget-aware demotion: under a `degraded` or `budget-throttled` budget, a route keeps the cheaper
 * half of its eligible candidates by declared cost per call (rounded up: 3 of 5; equal costs keep
 * the request's order) and removes the others with reason `budget`. The strategy then picks among
 * the cheap ones as usual. One candidate is never removed.
 */
export const demoteExpensive = (
  eligible: readonly Expert[],
): { readonly kept: readonly Expert[]; readonly demoted: readonly Expert[] } => {
  if (eligible.length < 2) return { kept: eligible, demoted: [] };
  const ranked = eligible
    .map((expert, order) => ({ expert, order }))
    .sort((p, q) => p.expert.costPerCallUsd - q.expert.costPerCallUsd || p.order - q.order);
  const keep = new Set(ranked.slice(0, Math.ceil(eligible.length / 2)).map(({ expert }) => expert.id));
  return {
    kept: eligible.filter((expert) => keep.has(expert.id)),
    demoted: eligible.filter((expert) => !keep.has(expert.id)),
  };
};

/**
 * Which of the eligible candidate experts the policy engine lets this request route to (the ids it
 * allows). Built per request by the handler from the caller and the policy enforcement point; every
 * answer it gives is a logged decision.
 */
export type CandidatePolicy = (
  experts: readonly Expert[],
) => Promise<{ readonly allowed: ReadonlySet<string>; readonly policyVersion: string }>;

export interface RemovedCandidate {
  readonly expertId: string;
  readonly reason: RemovalReason;
}

export interface NamedFeatureContribution {
  readonly index: number;
  /** What the feature slot holds for this context: "(intercept)", a numeric key, or hashed tokens. */
  readonly names: readonly string[];
  readonly value: number;
  readonly weight: number;
  readonly contribution: number;
}

/** A feature's part in the pick and in its lead over the runner-up (linear strategies). */
export interface NamedFeatureAttribution extends NamedFeatureContribution {
  readonly runnerUpWeight: number;
  readonly marginContribution: number;
}

/** One candidate's part in the cost-aware objective: its quality estimate, less its cost and latency terms. */
export interface ObjectiveScore extends ObjectiveTerms {
  readonly expertId: string;
  /** The strategy's quality estimate (the candidate's `estimate`). */
  readonly quality: number;
  /** quality − costTerm − latencyTerm. */
  readonly score: number;
}

export interface RationaleObjective {
  /** λ, reward units per USD, as this decision used it. */
  readonly lambda: number;
  /** μ, reward units per second of latency. */
  readonly latencyWeight: number;
  readonly chosen: ObjectiveScore;
  /** The best other candidate by score (absent with one candidate). */
  readonly runnerUp?: ObjectiveScore;
}

/** Why the router picked what it picked (GET router/rationale/{rationaleId}). */
export interface Rationale {
  readonly rationaleId: string;
  readonly decisionId: string;
  readonly taskId: string;
  readonly tenantId: string;
  readonly expertId: string;
  readonly strategy: DecisionStrategy;
  readonly killSwitch: boolean;
  readonly exploration: boolean;
  /**
   * True when the strategy wanted to explore but the tenant's exploration cap was reached: the
   * exploiting pick was served instead (`exploitExpertId`), with propensity 1.
   */
  readonly explorationCapped: boolean;
  readonly exploitExpertId: string;
  readonly propensity: number;
  readonly confidence: number;
  /** The eligible candidates, in request order, as the strategy assessed them. */
  readonly candidates: readonly CandidateAssessment[];
  readonly topFeatures: readonly NamedFeatureContribution[];
  /** Linear strategies: the pick against the runner-up, feature by feature (see bandits' Attribution). */
  readonly attribution?: {
    readonly runnerUpExpertId: string;
    readonly estimateMargin: number;
    /** With the cost-aware objective: penalty(runner-up) − penalty(pick), its part of the lead. */
    readonly penaltyMargin?: number;
    readonly features: readonly NamedFeatureAttribution[];
  };
  readonly removed: readonly RemovedCandidate[];
  /** The tenant's budget state that demoted the expensive candidates (removed with reason `budget`). */
  readonly budgetState?: ConstrainedBudgetState;
  /** The cost-aware objective: λ and μ, and the terms of the pick and of the runner-up. */
  readonly objective?: RationaleObjective;
  readonly modelVersion: number;
  readonly configVersion: number;
  /** The policy set that filtered the candidates (absent when no policy engine was asked). */
  readonly policyVersion?: string;
  /** The experiment the decision was part of: the canary arm that served, or the shadow's pick. */
  readonly experiment?: DecisionExperiment;
  readonly decidedAt: string;
}

/** A model state as kept in the router table: one record per (tenant, model key). */
export interface ModelRecord extends TenantRecord {
  readonly state: StoredModelState;
  /**
   * The `taskId#signal` ids of the last rewards learnt into this state (bounded, oldest first): the
   * reward consumer checks and extends it in the same version-conditional write as the update.
   */
  readonly appliedRewardIds?: readonly string[];
}

/** Which arm of a canary served a decision. */
export type ExperimentArm = 'baseline' | 'candidate';

/**
 * What a shadow candidate decided for a route it did not serve, with what replay needs to estimate
 * its value from the served decision's reward: its probability of the expert that was served, and
 * its reward model's predictions (doubly robust).
 */
export interface ShadowDecision {
  readonly expertId: string;
  readonly strategy: StrategyName;
  readonly propensity: number;
  readonly confidence: number;
  /** The candidate's probability of the expert the baseline served: π(a|x) of off-policy replay. */
  readonly servedProbability: number;
  /** The candidate's estimate of the served expert's reward: q̂(x, a). */
  readonly servedEstimate: number;
  /** The candidate's expected estimate under its own choice probabilities: q̂(x, π). */
  readonly expectedEstimate: number;
  readonly modelKey: string;
  readonly modelVersion: number;
}

/** The experiment a decision was part of (canary: its arm; shadow: the candidate's side decision). */
export interface DecisionExperiment {
  readonly name: string;
  readonly mode: 'shadow' | 'canary';
  /** canary only: which arm served. */
  readonly arm?: ExperimentArm;
  /** shadow only, on the sampled share: what the candidate decided. */
  readonly shadow?: ShadowDecision;
}

/** The decision record of one routed task (id = taskId): all a reward needs to be learnt from. */
export interface RouteDecision extends TenantRecord {
  readonly taskId: string;
  readonly decisionId: string;
  readonly rationaleId: string;
  readonly expertId: string;
  readonly strategy: DecisionStrategy;
  readonly propensity: number;
  readonly confidence: number;
  /** The encoded context, sparse. */
  readonly features: SparseVectorJson;
  /** Which model state learns from this decision's reward (absent under the kill-switch). */
  readonly modelKey?: string;
  readonly modelVersion: number;
  /** The router configuration version that decided. */
  readonly configVersion: number;
  /** The policy set (Cedar or OPA) that filtered the candidates, when one was asked. */
  readonly policyVersion?: string;
  /** Seed of the generator the strategy drew from: the decision can be replayed from it. */
  readonly seed: number;
  readonly traceId: string;
  /** Present while the tenant runs an experiment. */
  readonly experiment?: DecisionExperiment;
  readonly rationale: Rationale;
}

/** Port: decision records (create is conditional on absence: the first decision of a task wins). */
export interface DecisionRepository {
  create(decision: RouteDecision): Promise<void>;
  get(tenantId: string, taskId: string): Promise<RouteDecision | undefined>;
}

/** Port: model states, read at decision time (the reward consumer, `rewards.ts`, writes them). */
export interface ModelStateRepository {
  get(tenantId: string, modelKey: string): Promise<ModelRecord | undefined>;
}

export interface RouteRequest {
  readonly taskId: string;
  readonly context: Context;
  readonly candidates: readonly string[];
  /** Canary stickiness by `session`: the caller's session (absent: the task decides alone). */
  readonly sessionId?: string | undefined;
  /** Canary stickiness by `user`: the end user (the handler falls back to the caller's subject). */
  readonly userId?: string | undefined;
}

export interface RouteAnswer {
  readonly expertId: string;
  readonly confidence: number;
  readonly rationaleId: string;
  readonly strategy: DecisionStrategy;
  readonly decisionId: string;
}

/** No candidate is left after removing unknown and disabled experts. */
export class NoEligibleCandidatesError extends AppError {
  constructor(removed: readonly RemovedCandidate[]) {
    super(
      422,
      'no_candidates',
      'None of the candidates is an enabled, healthy expert of this tenant that the policy allows.',
      {
        details: { removed },
      },
    );
  }
}

export class RationaleNotFoundError extends NotFoundError {
  constructor() {
    super('Rationale not found.', 'rationale_not_found');
  }
}

/**
 * DynamoDB numbers stop at magnitude 1e-130 (smaller ones are a ValidationException, not a zero):
 * a Gaussian tail in a confidence or a per-candidate probability can be that small. Such values are
 * stored as 0, everywhere in a record.
 */
export const STORABLE_MIN_MAGNITUDE = 1e-100;

export const storableNumbers = <T>(value: T): T => {
  if (typeof value === 'number') return (Math.abs(value) < STORABLE_MIN_MAGNITUDE ? 0 : value) as T;
  if (Array.isArray(value)) return value.map((item) => storableNumbers(item)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, storableNumbers(item)])) as T;
  }
  return value;
};

/**
 * The explanatory figures of a rationale (estimates, uncertainties, bonuses, feature values, weights
 * and contributions) to 4 significant digits: they are read by people, and 17 digits each made a
 * learnt model's decision record two write units instead of one. Probabilities, the propensity and
 * the confidence stay exact: off-policy evaluation uses them.
 */
export const EXPLANATION_DIGITS = 4;
const explained = (value: number): number =>
  Number.isFinite(value) && value !== 0 ? Number(value.toPrecision(EXPLANATION_DIGITS)) : value;
const explainedFields = <T extends object>(record: T, keys: readonly string[]): T => {
  const out = { ...record } as Record<string, unknown>;
  for (const key of keys) if (typeof out[key] === 'number') out[key] = explained(out[key] as number);
  return out as T;
};

/** The rationale of a task is named by its task id (base64url), so one record serves both lookups. */
export const rationaleIdOf = (taskId: string): string => `rat_${Buffer.from(taskId).toString('base64url')}`;

/**
 * The task a rationale id names, or undefined when it names none: only the exact encoding of a
 * non-empty task id counts (base64url decoding forgives junk, e.g. `rat_0` decodes to an empty id,
 * which no table key may be).
 */
const taskIdOf = (rationaleId: string): string | undefined => {
  if (!rationaleId.startsWith('rat_')) return undefined;
  const taskId = Buffer.from(rationaleId.slice('rat_'.length), 'base64url').toString('utf8');
  return taskId !== '' && rationaleIdOf(taskId) === rationaleId ? taskId : undefined;
};

/**
 * Model states are per kind and, for the linear ones, per feature spec: a new d, or new numeric
 * slots, give the features another meaning, so they start a new model (`ridge:d32`, or
 * `ridge:d32:f<hash of the spec>` when numeric features are declared or the clip is not 5).
 */
export const modelKeyOf = (
  config: StrategyConfig,
  dimension: number,
  spec: { readonly numericFeatures?: readonly NumericFeature[]; readonly clip?: number } = {},
): string => {
  const kind = modelKindOf(config);
  if (kind !== 'ridge') return kind;
  const numeric = spec.numericFeatures ?? [];
  const clip = spec.clip ?? 5;
  if (numeric.length === 0 && clip === 5) return `${kind}:d${dimension}`;
  const canonical = JSON.stringify([
    clip,
    numeric.map((f) => [f.key, f.transform ?? 'identity', f.mean ?? 0, f.std ?? 1]),
  ]);
  return `${kind}:d${dimension}:f${fnv1a32(canonical).toString(16).padStart(8, '0')}`;
};

/** What a model key names (the inverse of `modelKeyOf`): its model kind and, for a ridge model, its d. */
export const modelOfKey = (
  modelKey: string,
): { readonly kind: ModelKind; readonly dimension?: number } | undefined => {
  if (modelKey === 'running-means' || modelKey === 'beta-bernoulli') return { kind: modelKey };
  const ridge = /^ridge:d(\d+)(?::f[0-9a-f]{8})?$/.exec(modelKey);
  return ridge?.[1] ? { kind: 'ridge', dimension: Number(ridge[1]) } : undefined;
};

export interface RoutingServiceDeps {
  readonly experts: Pick<ExpertRepository, 'getMany'>;
  readonly configs: Pick<RouterConfigService, 'effective'>;
  readonly decisions: DecisionRepository;
  readonly models: ModelStateRepository;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** A fresh 32-bit seed per decision (crypto in the handler, fixed in tests). */
  readonly seed: () => number;
  readonly events?: EventPublisher | undefined;
  /** Called when the route_decision event could not be published (the decision stands). */
  readonly onPublishError?: (error: unknown) => void;
  /** The global kill-switch: every tenant is served its static expert. */
  readonly globalKillSwitch?: boolean;
  /**
   * How long a model state read from the table is decided on before it is read again (default
   * MODEL_CACHE_MS). It bounds how stale a decision's model can be, so it is part of the freshness
   * bound (a reward changes decisions within queue delay + ingestion + this); 0 reads every time.
   */
  readonly modelCacheMs?: number;
  /** The per-tenant exploration windows (one per process; tests inject their own). */
  readonly exploration?: ExplorationBudget;
  /** Told about every decision made (not retries): the handler turns it into metrics. */
  readonly onDecision?: (decision: RouteDecision) => void;
  /** What experts were seen to cost and take (the cost-aware objective; one per process). */
  readonly observedCosts?: ObservedCosts;
  /** The target rules' λ per tenant (one per process; tests inject their own). */
  readonly objectiveController?: ObjectiveController;
}

/** What a strategy decides on: the tenant, its configuration, the candidates, the context, the seed. */
interface DecisionSetting {
  readonly tenantId: string;
  readonly config: EffectiveRouterConfig;
  readonly defaultExpertId: string;
  readonly eligible: readonly string[];
  readonly x: SparseVector;
  readonly seed: number;
  /** The cost-aware objective of this decision (absent: quality alone). */
  readonly objective?: ObjectiveDecision | undefined;
}

/** Keeps the shadow candidate's draws apart from the served decision's (same seed, other stream). */
const SHADOW_SEED_SALT = 0x5ad0_c0de;

/** The key a canary assignment hashes: the caller's session or user, or the tenant. */
const stickyKeyOf = (kind: StickyKeyKind, tenantId: string, request: RouteRequest): string => {
  switch (kind) {
    case 'tenant':
      return `tenant:${tenantId}`;
    case 'session':
      return request.sessionId === undefined ? `task:${request.taskId}` : `session:${request.sessionId}`;
    case 'user':
      return request.userId === undefined ? `task:${request.taskId}` : `user:${request.userId}`;
  }
};

/** How many top feature contributions a rationale names (the strategies' default). */
const TOP_FEATURES = 5;

/** How many model states an instance keeps (the least recently loaded go first). */
export const MODEL_CACHE_ENTRIES = 256;

/** Default age bound of the router's in-memory model states: well inside the 60 s freshness bound. */
export const MODEL_CACHE_MS = 5_000;

/** The rationale's objective: the terms of the pick and of the best other candidate by score. */
const objectiveOf = (selection: Selection, objective: ObjectiveDecision): RationaleObjective => {
  const scoreOf = (expertId: string, quality: number): ObjectiveScore => {
    const terms = objective.termsOf(expertId) ?? { costUsd: 0, costTerm: 0, latencyTerm: 0 };
    return {
      expertId,
      quality: explained(quality),
      costUsd: terms.costUsd,
      ...(terms.latencyMs === undefined ? {} : { latencyMs: explained(terms.latencyMs) }),
      costTerm: explained(terms.costTerm),
      latencyTerm: explained(terms.latencyTerm),
      score: explained(quality - terms.costTerm - terms.latencyTerm),
    };
  };
  let chosen: ObjectiveScore | undefined;
  let runnerUp: ObjectiveScore | undefined;
  for (const candidate of selection.perCandidate) {
    const score = scoreOf(candidate.expertId, candidate.estimate);
    if (candidate.expertId === selection.expertId) chosen = score;
    else if (runnerUp === undefined || score.score > runnerUp.score) runnerUp = score;
  }
  return {
    lambda: explained(objective.lambda),
    latencyWeight: objective.latencyWeight,
    chosen: chosen ?? scoreOf(selection.expertId, 0),
    ...(runnerUp === undefined ? {} : { runnerUp }),
  };
};

const answerOf = (decision: RouteDecision): RouteAnswer => ({
  expertId: decision.expertId,
  confidence: decision.confidence,
  rationaleId: decision.rationaleId,
  strategy: decision.strategy,
  decisionId: decision.decisionId,
});

/** The route use case: filter candidates, decide with the tenant's strategy, record, tell. */
export class RoutingService {
  readonly #models: TtlCache<ModelRecord | undefined>;
  /** Model states as the strategies use them (A⁻¹ rebuilt), per stored state object read. */
  readonly #loaded = new WeakMap<object, ModelState>();
  readonly #encoders = new WeakMap<object, ContextEncoder>();
  /**
   * The strategies of a configuration object read, by their parameters: a strategy keeps caches of
   * its own (Thompson's Monte Carlo P(best) per model version and candidates), which a strategy
   * built anew for every decision would never hit (bench:router-safety measured 65 µs against 1 µs).
   */
  readonly #strategies = new WeakMap<object, Map<string, Strategy<ModelState>>>();

  readonly #exploration: ExplorationBudget;
  readonly #observed: ObservedCosts;
  readonly #controller: ObjectiveController;

  constructor(private readonly deps: RoutingServiceDeps) {
    this.#observed = deps.observedCosts ?? new ObservedCosts();
    this.#controller = deps.objectiveController ?? new ObjectiveController();
    this.#models = new TtlCache({
      ttlMs: deps.modelCacheMs ?? MODEL_CACHE_MS,
      clock: deps.clock,
      // A LinUCB state can weigh ~100 KB (and its A⁻¹ as much again): bound the memory, not just the age.
      maxEntries: MODEL_CACHE_ENTRIES,
    });
    this.#exploration = deps.exploration ?? new ExplorationBudget();
  }

  /**
   * Idempotent per taskId: the first decision recorded for a task is the answer to every retry,
   * whatever the retry carries. The record is created only if absent, so a retry costs no extra
   * read on the way in: it is recognised when its write loses (or when it cannot be decided).
   */
  async route(
    tenantId: string,
    request: RouteRequest,
    traceId: string,
    policy?: CandidatePolicy,
    budget?: BudgetSignal,
  ): Promise<RouteAnswer> {
    const { eligible, experts, removed, policyVersion, budgetState } = await this.#filter(
      tenantId,
      request.candidates,
      policy,
      budget,
    );
    if (eligible.length === 0) {
      const existing = await this.deps.decisions.get(tenantId, request.taskId);
      if (existing) return this.#replay(tenantId, existing, eligible, policy);
      throw new NoEligibleCandidatesError(removed);
    }

    const config = await this.deps.configs.effective(tenantId);
    const encoder = this.#encoderOf(config);
    const x = encoder.encode(request.context);
    const defaultExpertId = config.defaultExpertId ?? (eligible[0] as string);
    const killSwitch = this.deps.globalKillSwitch === true || config.killSwitch;

    let modelKey: string | undefined;
    let selection: Selection;
    let capped = false;
    let experiment: DecisionExperiment | undefined;
    let rationaleObjective: RationaleObjective | undefined;
    const seed = this.deps.seed() >>> 0;
    const trial = config.experiment;
    if (killSwitch) {
      // The kill-switch ignores the learnt models, the candidate's too: the default expert, propensity 1.
      const fallback = createStatic({ defaultExpertId });
      selection = fallback.select(eligible, x, fallback.initialState(), mulberry32(seed));
    } else {
      const arm: ExperimentArm =
        trial?.mode === 'canary' &&
        servedByCandidate(
          assignmentBucket(tenantId, trial.name, stickyKeyOf(trial.stickyBy, tenantId, request)),
          trial.percent,
        )
          ? 'candidate'
          : 'baseline';
      const objective = isActive(config.objective)
        ? objectiveDecision(tenantId, config.objective, experts, this.#observed, this.#controller)
        : undefined;
      const setting: DecisionSetting = { tenantId, config, defaultExpertId, eligible, x, seed, objective };
      const parameters = arm === 'candidate' && trial ? trial.candidate : config;
      const served = await this.#decide(parameters, setting);
      modelKey = served.modelKey;
      selection = served.selection;
      // The exploration cap holds for whichever arm serves. With no room left, the policy at this
      // decision is "exploit", deterministically: an exploiting pick is then logged with propensity
      // 1 too, not the strategy's own (off-policy replay weighs by it).
      const room = this.#exploration.hasRoom(tenantId, config.explorationCap);
      const admitted = this.#exploration.admit(tenantId, selection.exploration, config.explorationCap);
      if (!admitted || (!room && selection.propensity !== 1)) {
        const state = served.state;
        const armState =
          state.model === 'ridge' ? armOf(state as never, selection.exploitExpertId) : undefined;
        capped = !admitted;
        selection = exploitInstead(selection, armState ? contributions(x, armState.theta, TOP_FEATURES) : []);
      }
      if (objective && config.objective) {
        rationaleObjective = objectiveOf(selection, objective);
        this.#controller.observe(tenantId, config.objective, {
          costUsd: rationaleObjective.chosen.costUsd,
          qualityGap: qualityGapOf(
            selection,
            qualitySdOf(selection.strategy, parameters.posteriorScale ?? DEFAULT_POSTERIOR_SCALE),
          ),
        });
      }
      if (trial?.mode === 'canary') experiment = { name: trial.name, mode: 'canary', arm };
      else if (trial?.mode === 'shadow') {
        const sampled = servedByCandidate(
          assignmentBucket(tenantId, trial.name, `shadow:${request.taskId}`),
          trial.percent,
        );
        experiment = {
          name: trial.name,
          mode: 'shadow',
          ...(sampled
            ? {
                shadow: await this.#shadow(trial.candidate, setting, selection.expertId),
              }
            : {}),
        };
      }
    }

    const labels = encoder.explain(request.context);
    const now = this.deps.clock.now().toISOString();
    const decisionId = this.deps.ids.next('dec');
    const rationaleId = rationaleIdOf(request.taskId);
    const strategy: DecisionStrategy = killSwitch ? 'kill_switch' : selection.strategy;
    const rationale: Rationale = {
      rationaleId,
      decisionId,
      taskId: request.taskId,
      tenantId,
      expertId: selection.expertId,
      strategy,
      killSwitch,
      exploration: selection.exploration,
      explorationCapped: capped,
      exploitExpertId: selection.exploitExpertId,
      propensity: selection.propensity,
      confidence: selection.confidence,
      candidates: selection.perCandidate.map((candidate) =>
        explainedFields(candidate, ['estimate', 'uncertainty', 'bonus', 'penalty']),
      ),
      topFeatures: selection.topFeatures.map((feature) => ({
        index: feature.index,
        names: labels.get(feature.index) ?? [],
        value: explained(feature.value),
        weight: explained(feature.weight),
        contribution: explained(feature.contribution),
      })),
      ...(selection.attribution === undefined
        ? {}
        : {
            attribution: {
              runnerUpExpertId: selection.attribution.runnerUpExpertId,
              estimateMargin: explained(selection.attribution.estimateMargin),
              ...(selection.attribution.penaltyMargin === undefined
                ? {}
                : { penaltyMargin: explained(selection.attribution.penaltyMargin) }),
              features: selection.attribution.features.map((feature) => ({
                index: feature.index,
                names: labels.get(feature.index) ?? [],
                value: explained(feature.value),
                weight: explained(feature.weight),
                runnerUpWeight: explained(feature.runnerUpWeight),
                contribution: explained(feature.contribution),
                marginContribution: explained(feature.marginContribution),
              })),
            },
          }),
      removed,
      ...(budgetState === undefined ? {} : { budgetState }),
      ...(rationaleObjective === undefined ? {} : { objective: rationaleObjective }),
      modelVersion: selection.modelVersion,
      configVersion: config.version,
      ...(policyVersion === undefined ? {} : { policyVersion }),
      ...(experiment === undefined ? {} : { experiment }),
      decidedAt: now,
    };
    const decision: RouteDecision = storableNumbers({
      tenantId,
      id: request.taskId,
      version: 1,
      createdAt: now,
      updatedAt: now,
      taskId: request.taskId,
      decisionId,
      rationaleId,
      expertId: selection.expertId,
      strategy,
      propensity: selection.propensity,
      confidence: selection.confidence,
      features: sparseToJson(x),
      ...(modelKey === undefined ? {} : { modelKey }),
      modelVersion: selection.modelVersion,
      configVersion: config.version,
      ...(policyVersion === undefined ? {} : { policyVersion }),
      seed,
      traceId,
      ...(experiment === undefined ? {} : { experiment }),
      rationale,
    });

    try {
      await this.deps.decisions.create(decision);
    } catch (error) {
      // A concurrent retry of the same task won the write: its decision is the answer.
      if (!(error instanceof ConflictError)) throw error;
      const winner = await this.deps.decisions.get(tenantId, request.taskId);
      if (!winner) throw error;
      return this.#replay(tenantId, winner, eligible, policy);
    }
    this.deps.onDecision?.(decision);
    await this.#publish(decision);
    return answerOf(decision);
  }

  /** One strategy's decision on its model state (the baseline's, or an experiment's candidate's). */
  async #decide(
    parameters: StrategyParameters,
    { tenantId, config, defaultExpertId, eligible, x, seed, objective }: DecisionSetting,
  ): Promise<{ selection: Selection; modelKey: string; state: ModelState }> {
    const strategyConfig = strategyConfigOf(
      { ...parameters, defaultExpertId: config.defaultExpertId },
      defaultExpertId,
    );
    const bandit = this.#strategyOf(config, strategyConfig);
    const modelKey = modelKeyOf(strategyConfig, config.dimension, config);
    const state = (await this.#modelState(tenantId, modelKey)) ?? bandit.initialState();
    return {
      selection: bandit.select(eligible, x, state, mulberry32(seed), objective?.penalty),
      modelKey,
      state,
    };
  }

  /**
   * The shadow candidate's decision: drawn from its own generator (a seed derived from the
   * decision's), never served, never admitted against the exploration budget.
   */
  async #shadow(
    parameters: StrategyParameters,
    setting: DecisionSetting,
    servedExpertId: string,
  ): Promise<ShadowDecision> {
    const { selection, modelKey } = await this.#decide(parameters, {
      ...setting,
      seed: fmix32(setting.seed ^ SHADOW_SEED_SALT),
    });
    const served = selection.perCandidate.find((c) => c.expertId === servedExpertId);
    const expected = selection.perCandidate.reduce((sum, c) => sum + c.probability * c.estimate, 0);
    return storableNumbers({
      expertId: selection.expertId,
      strategy: selection.strategy,
      propensity: selection.propensity,
      confidence: selection.confidence,
      servedProbability: served?.probability ?? 0,
      servedEstimate: explained(served?.estimate ?? 0),
      expectedEstimate: explained(expected),
      modelKey,
      modelVersion: selection.modelVersion,
    });
  }

  /**
   * What a call to an expert was seen to cost and take (invoke mode, POST /router/outcome): the
   * cost-aware objective's estimates, in this process.
   */
  observeCall(
    tenantId: string,
    expertId: string,
    seen: { readonly costUsd?: number | undefined; readonly latencyMs?: number | undefined },
  ): void {
    this.#observed.observe(tenantId, expertId, seen);
  }

  async rationale(tenantId: string, rationaleId: string): Promise<Rationale> {
    const taskId = taskIdOf(rationaleId);
    // Another tenant's rationale is indistinguishable from a missing one (the key is the tenant's).
    const decision = taskId === undefined ? undefined : await this.deps.decisions.get(tenantId, taskId);
    if (!decision || decision.rationaleId !== rationaleId) throw new RationaleNotFoundError();
    return decision.rationale;
  }

  /** The strategy of these parameters under a configuration (built once per configuration object read). */
  #strategyOf(config: EffectiveRouterConfig, strategyConfig: StrategyConfig): Strategy<ModelState> {
    let byParameters = this.#strategies.get(config);
    if (!byParameters) {
      byParameters = new Map();
      this.#strategies.set(config, byParameters);
    }
    const key = JSON.stringify(strategyConfig);
    let strategy = byParameters.get(key);
    if (!strategy) {
      strategy = createStrategy(strategyConfig, config.dimension) as Strategy<ModelState>;
      byParameters.set(key, strategy);
    }
    return strategy;
  }

  /** The context encoder of a configuration (built once per configuration object read). */
  #encoderOf(config: EffectiveRouterConfig): ContextEncoder {
    let encoder = this.#encoders.get(config);
    if (!encoder) {
      encoder = createContextEncoder({
        dimension: config.dimension,
        numeric: config.numericFeatures,
        clip: config.clip,
      });
      this.#encoders.set(config, encoder);
    }
    return encoder;
  }

  /** The tenant's model state as last read (at most modelCacheMs ago), or undefined before any. */
  async #modelState(tenantId: string, modelKey: string): Promise<ModelState | undefined> {
    const record = await this.#models.get(`${tenantId}\u0000${modelKey}`, () =>
      this.deps.models.get(tenantId, modelKey),
    );
    if (!record) return undefined;
    let state = this.#loaded.get(record.state);
    if (!state) {
      state = loadModelState(record.state);
      this.#loaded.set(record.state, state);
    }
    return state;
  }

  /**
   * The stored answer to a retried task, for this caller: the task id is the tenant's, not the
   * caller's, so the caller's policy is asked again about the stored expert (a lesser role reusing
   * an admin's taskId must not learn a restricted expert through the replay). `allowed` are the
   * experts this call's policy check already allowed. An expert that no longer exists cannot be
   * judged and is refused (fail closed).
   */
  async #replay(
    tenantId: string,
    existing: RouteDecision,
    allowed: readonly string[],
    policy: CandidatePolicy | undefined,
  ): Promise<RouteAnswer> {
    if (!policy || allowed.includes(existing.expertId)) return answerOf(existing);
    const expert = (await this.deps.experts.getMany(tenantId, [existing.expertId])).get(existing.expertId);
    const verdict = expert ? await policy([expert]) : undefined;
    if (verdict?.allowed.has(existing.expertId)) return answerOf(existing);
    throw new ForbiddenError(
      'This task was already routed to an expert that the policy does not allow for this caller; route it under a new taskId.',
      [],
      'task_replay_forbidden',
    );
  }

  async #filter(
    tenantId: string,
    candidates: readonly string[],
    policy: CandidatePolicy | undefined,
    budget?: BudgetSignal,
  ): Promise<{
    eligible: string[];
    experts: readonly Expert[];
    removed: RemovedCandidate[];
    policyVersion?: string;
    budgetState?: ConstrainedBudgetState;
  }> {
    const filtered = await this.#eligible(tenantId, candidates, policy);
    if (!budget || filtered.eligible.length < 2) return filtered;
    const budgetState = await budget().catch(() => undefined);
    if (budgetState === undefined) return filtered;
    const { kept, demoted } = demoteExpensive(filtered.experts);
    return {
      eligible: kept.map((expert) => expert.id),
      experts: kept,
      removed: [
        ...filtered.removed,
        ...demoted.map((expert) => ({ expertId: expert.id, reason: 'budget' as const })),
      ],
      ...(filtered.policyVersion === undefined ? {} : { policyVersion: filtered.policyVersion }),
      budgetState,
    };
  }

  async #eligible(
    tenantId: string,
    candidates: readonly string[],
    policy: CandidatePolicy | undefined,
  ): Promise<{ eligible: string[]; experts: Expert[]; removed: RemovedCandidate[]; policyVersion?: string }> {
    const unique = [...new Set(candidates)];
    const experts = await this.deps.experts.getMany(tenantId, unique);
    const now = this.deps.clock.now();
    const eligible: string[] = [];
    const removed: RemovedCandidate[] = [];
    unique.forEach((expertId) => {
      const expert = experts.get(expertId);
      if (!expert) removed.push({ expertId, reason: 'unknown' });
      else if (!expert.enabled) removed.push({ expertId, reason: 'disabled' });
      else if (isUnhealthy(expert, now)) removed.push({ expertId, reason: 'unhealthy' });
      else eligible.push(expertId);
    });
    const expertsOf = (ids: readonly string[]) => ids.map((id) => experts.get(id) as Expert);
    if (policy && eligible.length > 0) {
      const { allowed, policyVersion } = await policy(expertsOf(eligible));
      const denied = eligible.filter((id) => !allowed.has(id));
      for (const expertId of denied) removed.push({ expertId, reason: 'policy' });
      const permitted = eligible.filter((id) => allowed.has(id));
      return { eligible: permitted, experts: expertsOf(permitted), removed, policyVersion };
    }
    return { eligible, experts: expertsOf(eligible), removed };
  }

  /**
   * The served decision's route_decision and, when a shadow candidate decided too, its own (marked
   * `shadow`), in one PutEvents call: the shadow's event goes out with the answer, not later.
   */
  async #publish(decision: RouteDecision): Promise<void> {
    if (!this.deps.events) return;
    const common = {
      tenantId: decision.tenantId,
      traceId: decision.traceId,
      occurredAt: decision.createdAt,
      taskId: decision.taskId,
      decisionId: decision.decisionId,
    };
    const shadow = decision.experiment?.shadow;
    try {
      await this.deps.events.publish([
        eventOf(routeDecision, {
          ...common,
          expertId: decision.expertId,
          strategy: decision.strategy,
          confidence: decision.confidence,
          propensity: decision.propensity,
          shadow: false,
        }),
        ...(shadow
          ? [
              eventOf(routeDecision, {
                ...common,
                expertId: shadow.expertId,
                strategy: shadow.strategy,
                confidence: shadow.confidence,
                propensity: shadow.propensity,
                shadow: true,
              }),
            ]
          : []),
      ]);
    } catch (error) {
      this.deps.onPublishError?.(error);
    }
  }
}
