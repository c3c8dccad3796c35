import { AppError, ConflictError, NotFoundError } from '#shared/errors.js';
import type { EventPublisher } from '#shared/events.js';
import type { Clock, IdGenerator } from '#shared/ports.js';
import type { TenantRecord } from '#shared/tenant-store.js';
import {
  type CandidateAssessment,
  type Context,
  createContextEncoder,
  createStatic,
  createStrategy,
  loadModelState,
  type ModelState,
  modelKindOf,
  mulberry32,
  type Selection,
  type SparseVectorJson,
  type StoredModelState,
  type StrategyConfig,
  type StrategyName,
  sparseToJson,
} from './bandits/index.js';
import type { ExpertRepository } from './experts.js';
import type { RouterConfigService } from './router-config.js';
import { strategyConfigOf } from './router-config.js';

/** How long a decision (and so its rationale, and the window for its reward) is kept. */
export const DECISION_TTL_SECONDS = 30 * 24 * 60 * 60;

/** What the strategy that decided is called in answers: a strategy, or the kill-switch's static pick. */
export type DecisionStrategy = StrategyName | 'kill_switch';

export type RemovalReason = 'unknown' | 'disabled';

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
  readonly exploitExpertId: string;
  readonly propensity: number;
  readonly confidence: number;
  /** The eligible candidates, in request order, as the strategy assessed them. */
  readonly candidates: readonly CandidateAssessment[];
  readonly topFeatures: readonly NamedFeatureContribution[];
  readonly removed: readonly RemovedCandidate[];
  readonly modelVersion: number;
  readonly configVersion: number;
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
  /** The router configuration version that decided (the router's policy version). */
  readonly configVersion: number;
  /** Seed of the generator the strategy drew from: the decision can be replayed from it. */
  readonly seed: number;
  readonly traceId: string;
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
    super(422, 'no_candidates', 'None of the candidates is an enabled expert of this tenant.', {
      details: { removed },
    });
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

/** The rationale of a task is named by its task id (base64url), so one record serves both lookups. */
export const rationaleIdOf = (taskId: string): string => `rat_${Buffer.from(taskId).toString('base64url')}`;

const taskIdOf = (rationaleId: string): string | undefined =>
  rationaleId.startsWith('rat_')
    ? Buffer.from(rationaleId.slice('rat_'.length), 'base64url').toString('utf8')
    : undefined;

/** Model states are per kind and, for the linear ones, per dimension: a new d starts a new model. */
export const modelKeyOf = (config: StrategyConfig, dimension: number): string => {
  const kind = modelKindOf(config);
  return kind === 'ridge' ? `${kind}:d${dimension}` : kind;
};

export interface RoutingServiceDeps {
  readonly experts: Pick<ExpertRepository, 'getMany'>;
  readonly configs: Pick<RouterConfigService, 'get'>;
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
}

const answerOf = (decision: RouteDecision): RouteAnswer => ({
  expertId: decision.expertId,
  confidence: decision.confidence,
  rationaleId: decision.rationaleId,
  strategy: decision.strategy,
  decisionId: decision.decisionId,
});

/** The route use case: filter candidates, decide with the tenant's strategy, record, tell. */
export class RoutingService {
  constructor(private readonly deps: RoutingServiceDeps) {}

  async route(tenantId: string, request: RouteRequest, traceId: string): Promise<RouteAnswer> {
    // Idempotent per taskId: a retry is answered from the record, whatever it carries this time.
    const existing = await this.deps.decisions.get(tenantId, request.taskId);
    if (existing) return answerOf(existing);

    const { eligible, removed } = await this.#filter(tenantId, request.candidates);
    if (eligible.length === 0) throw new NoEligibleCandidatesError(removed);

    const config = await this.deps.configs.get(tenantId);
    const encoder = createContextEncoder({ dimension: config.dimension });
    const x = encoder.encode(request.context);
    const defaultExpertId = config.defaultExpertId ?? (eligible[0] as string);
    const killSwitch = this.deps.globalKillSwitch === true || config.killSwitch;

    let modelKey: string | undefined;
    let selection: Selection;
    const seed = this.deps.seed() >>> 0;
    if (killSwitch) {
      // The kill-switch ignores the learnt model: the default expert, propensity 1.
      const fallback = createStatic({ defaultExpertId });
      selection = fallback.select(eligible, x, fallback.initialState(), mulberry32(seed));
    } else {
      const strategyConfig = strategyConfigOf(config, defaultExpertId);
      const bandit = createStrategy(strategyConfig, config.dimension);
      modelKey = modelKeyOf(strategyConfig, config.dimension);
      const stored = await this.deps.models.get(tenantId, modelKey);
      const state: ModelState = stored ? loadModelState(stored.state) : bandit.initialState();
      selection = bandit.select(eligible, x, state, mulberry32(seed));
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
      exploitExpertId: selection.exploitExpertId,
      propensity: selection.propensity,
      confidence: selection.confidence,
      candidates: selection.perCandidate,
      topFeatures: selection.topFeatures.map((feature) => ({
        index: feature.index,
        names: labels.get(feature.index) ?? [],
        value: feature.value,
        weight: feature.weight,
        contribution: feature.contribution,
      })),
      removed,
      modelVersion: selection.modelVersion,
      configVersion: config.version,
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
      seed,
      traceId,
      rationale,
    });

    try {
      await this.deps.decisions.create(decision);
    } catch (error) {
      // A concurrent retry of the same task won the write: its decision is the answer.
      if (!(error instanceof ConflictError)) throw error;
      const winner = await this.deps.decisions.get(tenantId, request.taskId);
      if (!winner) throw error;
      return answerOf(winner);
    }
    await this.#publish(decision);
    return answerOf(decision);
  }

  async rationale(tenantId: string, rationaleId: string): Promise<Rationale> {
    const taskId = taskIdOf(rationaleId);
    // Another tenant's rationale is indistinguishable from a missing one (the key is the tenant's).
    const decision = taskId === undefined ? undefined : await this.deps.decisions.get(tenantId, taskId);
    if (!decision || decision.rationaleId !== rationaleId) throw new RationaleNotFoundError();
    return decision.rationale;
  }

  async #filter(
    tenantId: string,
    candidates: readonly string[],
  ): Promise<{ eligible: string[]; removed: RemovedCandidate[] }> {
    const unique = [...new Set(candidates)];
    const experts = await this.deps.experts.getMany(tenantId, unique);
    const eligible: string[] = [];
    const removed: RemovedCandidate[] = [];
    unique.forEach((expertId) => {
      const expert = experts.get(expertId);
      if (!expert) removed.push({ expertId, reason: 'unknown' });
      else if (!expert.enabled) removed.push({ expertId, reason: 'disabled' });
      else eligible.push(expertId);
    });
    return { eligible, removed };
  }

  async #publish(decision: RouteDecision): Promise<void> {
    if (!this.deps.events) return;
    try {
      await this.deps.events.publish([
        {
          type: 'route_decision',
          detail: {
            tenantId: decision.tenantId,
            traceId: decision.traceId,
            occurredAt: decision.createdAt,
            taskId: decision.taskId,
            decisionId: decision.decisionId,
            expertId: decision.expertId,
            strategy: decision.strategy,
            confidence: decision.confidence,
            propensity: decision.propensity,
          },
        },
      ]);
    } catch (error) {
      this.deps.onPublishError?.(error);
    }
  }
}
