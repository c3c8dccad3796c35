import { ConflictError, UnprocessableError } from '#shared/errors.js';
import type { TenantRecord } from '#shared/ports/records.js';
import type { Clock } from '#shared/ports/system.js';
import { TtlCache } from '#shared/ports/ttl-cache.js';
import { featureSpecSchema, type NumericFeature, type StrategyConfig } from './bandits/index.js';
import type { StickyKeyKind } from './canary.js';
import { type ExpertRepository, LAST_WRITER_ATTEMPTS } from './experts.js';
import type { ObjectiveSettings } from './objective.js';
import { DEFAULT_REWARD_MAPPING, type RewardMapping } from './reward-mapping.js';

/**
 * The strategies a tenant may configure (`naive-linucb` is a benchmark baseline only). `linucb` and
 * `linear-thompson` use the context; `static`, `greedy`, `epsilon-greedy` and `thompson` do not.
 */
export const ROUTER_STRATEGIES = [
  'static',
  'greedy',
  'epsilon-greedy',
  'thompson',
  'linucb',
  'linear-thompson',
] as const;
/**
 * Linear Thompson's default posterior scale v. Lower than LinUCB's α (0.5): a Thompson decision
 * draws from the whole posterior every time, which explores more than a one-sided bound of the same
 * width (Chapelle & Li 2011 found narrowing the posterior helped Thompson sampling too). Chosen from
 * a sweep on bench:router's own sets (0.5, 0.25, 0.1, 0.05; docs/benchmarks.md), so those figures
 * are not an out-of-sample test of it.
 */
export const DEFAULT_POSTERIOR_SCALE = 0.1;

/** The strategies that learn from the encoded context (one ridge regression per expert). */
export const CONTEXTUAL_STRATEGIES: readonly RouterStrategy[] = ['linucb', 'linear-thompson'];
export type RouterStrategy = (typeof ROUTER_STRATEGIES)[number];
export const THOMPSON_LIKELIHOODS = ['bernoulli', 'gaussian'] as const;

/** How a candidate strategy is tried: decided on the side (shadow) or served (canary). */
export const EXPERIMENT_MODES = ['shadow', 'canary'] as const;
export type ExperimentMode = (typeof EXPERIMENT_MODES)[number];

/** The rollout playbook's canary steps (requirements §16): each manual, or automatic after a soak. */
export const CANARY_STEPS = [5, 25, 100] as const;

/** A strategy with its parameters: what an experiment's candidate is (the baseline is the config's own). */
export interface StrategyParameters {
  readonly strategy: RouterStrategy;
  readonly alpha: number;
  /** Linear Thompson's v (absent on configurations written before it: DEFAULT_POSTERIOR_SCALE). */
  readonly posteriorScale?: number;
  readonly epsilon: number;
  readonly likelihood: (typeof THOMPSON_LIKELIHOODS)[number];
}

/** When a canary's candidate is taken off: its error rate over the window against the baseline's. */
export interface RollbackRule {
  /** The candidate's error rate (errors and timeouts / outcomes) above which it is rolled back. */
  readonly errorRate: number;
  /** ...while the baseline's stays below this one (an outage of every expert is not the candidate's fault). */
  readonly baselineErrorRate: number;
  readonly windowSeconds: number;
  /** Outcomes of the candidate (and rewards of each arm) the window needs before it judges. */
  readonly minOutcomes: number;
  /** ...or the candidate's mean reward is below the baseline's by more than this, */
  readonly rewardTolerance: number;
  /** ...with this confidence (one-sided). */
  readonly rewardConfidence: number;
}

/** Automatic ramp along CANARY_STEPS: the next step once the current one soaked with no alert. */
export interface RampRule {
  readonly auto: boolean;
  readonly soakMinutes: number;
}

/** What the platform wrote about a rollback (cleared when an admin sets a share above 0 again). */
export interface RollbackRecord {
  readonly at: string;
  readonly reason: string;
  readonly candidateErrorRate: number;
  readonly baselineErrorRate: number;
  readonly candidateOutcomes: number;
}

/**
 * An experiment: one candidate strategy next to the baseline (the configuration's own strategy).
 * `shadow`: the candidate decides on `percent` % of routes, logged, never served. `canary`: it serves
 * `percent` % of the sticky keys. The name seeds the sticky assignment: a new name reshuffles keys.
 */
export interface ExperimentConfig {
  readonly name: string;
  readonly candidate: StrategyParameters;
  readonly mode: ExperimentMode;
  readonly percent: number;
  readonly stickyBy: StickyKeyKind;
  readonly rollback: RollbackRule;
  readonly ramp: RampRule;
  /** The replay job whose comparison lets the canary start when the tenant requires the gate. */
  readonly replayJobId?: string | undefined;
  /** Set by the router: when the current mode and share took effect (the soak of auto-ramp). */
  readonly stepStartedAt?: string | undefined;
  /** Set by the router when it took the candidate off. */
  readonly rolledBack?: RollbackRecord | undefined;
}

export const DEFAULT_ROLLBACK_RULE: RollbackRule = {
  errorRate: 0.05,
  baselineErrorRate: 0.01,
  windowSeconds: 300,
  minOutcomes: 20,
  rewardTolerance: 0.05,
  rewardConfidence: 0.95,
};

/** What a tenant sets about its router. */
export interface RouterConfigInput {
  readonly strategy: RouterStrategy;
  /** LinUCB's exploration weight α. */
  readonly alpha: number;
  /** Linear Thompson's posterior scale v (absent: DEFAULT_POSTERIOR_SCALE). */
  readonly posteriorScale?: number;
  /**
   * Forgetting factor γ of the learning (ridge and Beta models): each expert's evidence is discounted
   * by γ before each of its rewards (absent: 1, nothing forgotten).
   */
  readonly discount?: number;
  /** ε of epsilon-greedy. */
  readonly epsilon: number;
  /** Thompson's reward model: Beta-Bernoulli (rewards in [0, 1]) or Gaussian. */
  readonly likelihood: (typeof THOMPSON_LIKELIHOODS)[number];
  /** d of the context encoder (intercept included). */
  readonly dimension: number;
  /** The context keys with a numeric slot of their own (the rest is hashed): the feature spec. */
  readonly numericFeatures: readonly NumericFeature[];
  /** Bound on |scaled value| of a declared numeric feature. */
  readonly clip: number;
  /** How each reward signal becomes the scalar the strategies learn from. */
  readonly rewardMapping: RewardMapping;
  /** The static strategy's and the kill-switch's expert; unset = the first eligible candidate. */
  readonly defaultExpertId?: string | undefined;
  /** On: every route is served by the static strategy (reported as `kill_switch`). */
  readonly killSwitch: boolean;
  /**
   * The largest fraction of non-greedy (exploring) picks among the tenant's latest decisions, in
   * [0, 1]; 1 = no cap. A pick past the cap exploits instead (see exploration.ts).
   */
  readonly explorationCap: number;
  /**
   * The cost-aware objective: rank by quality − λ·cost − μ·latency (objective.ts); absent: quality
   * alone.
   */
  readonly objective?: ObjectiveSettings | undefined;
  /** A candidate strategy tried next to this one (shadow or canary); absent: none. */
  readonly experiment?: ExperimentConfig | undefined;
  /**
   * On: a canary may serve traffic only with a replay job (`experiment.replayJobId`) that found the
   * candidate not worse than this baseline, with confidence, on the tenant's logged decisions.
   */
  readonly requireReplayGate?: boolean | undefined;
}

/** One change of a tenant's router configuration: who set what, when (GET router/config/history). */
export interface RouterConfigChange {
  readonly version: number;
  readonly changedAt: string;
  readonly changedBy: string;
  /** The configuration as this change set it. */
  readonly config: RouterConfigInput;
  /** Why, when the platform made the change (a canary rollback, an automatic ramp step). */
  readonly reason?: string;
}

/** How many changes the configuration record keeps (the decision log keeps every authorization). */
export const MAX_CONFIG_CHANGES = 50;

/**
 * The stored configuration: one record per tenant, id `current`. Its last MAX_CONFIG_CHANGES
 * changes travel in the same item, so a change and its audit entry are one conditional write.
 */
export interface RouterConfig extends RouterConfigInput, TenantRecord {
  readonly updatedBy?: string;
  readonly changes?: readonly RouterConfigChange[];
}

/** A tenant's effective configuration: the stored one, or the defaults (version 0, no timestamps). */
export type EffectiveRouterConfig = RouterConfigInput & {
  readonly tenantId: string;
  readonly version: number;
  readonly createdAt?: string;
  readonly updatedAt?: string;
  /** The subject of the last change. */
  readonly updatedBy?: string;
};

export const ROUTER_CONFIG_ID = 'current';

const configOf = (stored: RouterConfig): EffectiveRouterConfig => {
  const { id: _id, changes: _changes, ...config } = stored;
  return config;
};

const sameExperimentStep = (a: ExperimentConfig | undefined, b: ExperimentConfig): boolean =>
  a !== undefined &&
  a.name === b.name &&
  a.mode === b.mode &&
  a.percent === b.percent &&
  JSON.stringify(a.candidate) === JSON.stringify(b.candidate);

/**
 * The fields of an experiment only the router sets: when its step started (kept while the admin
 * leaves name, mode, share and candidate as they are) and the rollback record (kept while the share
 * stays at 0; a share above 0 is a new start).
 */
const withServerFields = (
  input: RouterConfigInput,
  current: RouterConfig | undefined,
  now: string,
): RouterConfigInput => {
  if (!input.experiment) return input;
  const { stepStartedAt: _s, rolledBack: _r, ...experiment } = input.experiment;
  const previous = current?.experiment;
  const kept = sameExperimentStep(previous, input.experiment);
  const rolledBack =
    previous?.rolledBack && previous.name === experiment.name && experiment.percent === 0
      ? previous.rolledBack
      : undefined;
  return {
    ...input,
    experiment: {
      ...experiment,
      stepStartedAt: kept ? (previous?.stepStartedAt ?? now) : now,
      ...(rolledBack ? { rolledBack } : {}),
    },
  };
};

/**
 * The largest d a LinUCB model may have. An expert's arm holds A's upper triangle and b,
 * d(d+1)/2 + d numbers (≈ 11 bytes each in DynamoDB): at d = 64, 2,144 numbers ≈ 24 KB, which a
 * split state (model-store.ts) keeps as one item per expert, and a load-time Cholesky of d³/3 per
 * expert that stays cheap. At d = 128 an arm would be ~92 KB and its refresh 8x the work.
 */
export const MAX_LINUCB_DIMENSION = 64;

export const DEFAULT_ROUTER_CONFIG: RouterConfigInput = {
  strategy: 'linucb',
  alpha: 0.5,
  posteriorScale: DEFAULT_POSTERIOR_SCALE,
  discount: 1,
  epsilon: 0.1,
  likelihood: 'bernoulli',
  dimension: 32,
  numericFeatures: [],
  clip: 5,
  rewardMapping: DEFAULT_REWARD_MAPPING,
  killSwitch: false,
  explorationCap: 1,
};

/** Port: where the tenant's router configuration is kept (conditional writes, like experts). */
export interface RouterConfigRepository {
  create(config: RouterConfig): Promise<void>;
  get(tenantId: string, id: string): Promise<RouterConfig | undefined>;
  replace(config: RouterConfig, expectedVersion: number): Promise<void>;
}

/** The bandit strategy a configuration asks for; `defaultExpertId` fills in an unset default. */
export const strategyConfigOf = (
  config: StrategyParameters & Pick<RouterConfigInput, 'defaultExpertId'>,
  defaultExpertId: string,
): StrategyConfig => {
  switch (config.strategy) {
    case 'static':
      return { strategy: 'static', defaultExpertId: config.defaultExpertId ?? defaultExpertId };
    case 'greedy':
      return { strategy: 'greedy' };
    case 'epsilon-greedy':
      return { strategy: 'epsilon-greedy', epsilon: config.epsilon };
    case 'thompson':
      return { strategy: 'thompson', likelihood: config.likelihood };
    case 'linucb':
      return { strategy: 'linucb', alpha: config.alpha };
    case 'linear-thompson':
      return { strategy: 'linear-thompson', noise: config.posteriorScale ?? DEFAULT_POSTERIOR_SCALE };
  }
};

/**
 * Whether a replay job lets this configuration's canary start: undefined when it does, else what is
 * wrong (no such job, not finished, another candidate or baseline, the candidate worse).
 */
export type ReplayGateCheck = (
  tenantId: string,
  replayJobId: string,
  config: RouterConfigInput,
) => Promise<string | undefined>;

export interface RouterConfigServiceDeps {
  readonly repository: RouterConfigRepository;
  /** Consulted when the tenant requires the replay gate (absent: every job id is refused). */
  readonly replayGate?: ReplayGateCheck;
  readonly experts: Pick<ExpertRepository, 'get'>;
  readonly clock: Clock;
  /**
   * How long `effective` may serve a configuration read before reading it again (default
   * CONFIG_CACHE_MS): a change made through another instance (a kill-switch, a strategy) reaches
   * every route within this bound; one made through this instance at once. 0 reads every time.
   */
  readonly cacheMs?: number;
}

/** Default age bound of the configuration the router decides with. */
export const CONFIG_CACHE_MS = 1_000;

export class RouterConfigService {
  readonly #cache: TtlCache<EffectiveRouterConfig>;

  constructor(private readonly deps: RouterConfigServiceDeps) {
    this.#cache = new TtlCache({ ttlMs: deps.cacheMs ?? CONFIG_CACHE_MS, clock: deps.clock });
  }

  /** The configuration as stored now (GET router/config and updates read this). */
  async get(tenantId: string): Promise<EffectiveRouterConfig> {
    const stored = await this.deps.repository.get(tenantId, ROUTER_CONFIG_ID);
    return stored ? configOf(stored) : { ...DEFAULT_ROUTER_CONFIG, tenantId, version: 0 };
  }

  /** The last MAX_CONFIG_CHANGES changes, newest first (none while the tenant runs on the defaults). */
  async history(tenantId: string): Promise<{ items: RouterConfigChange[] }> {
    const stored = await this.deps.repository.get(tenantId, ROUTER_CONFIG_ID);
    return { items: [...(stored?.changes ?? [])].reverse() };
  }

  /** The configuration routes decide with: as stored at most `cacheMs` ago. */
  effective(tenantId: string): Promise<EffectiveRouterConfig> {
    return this.#cache.get(tenantId, () => this.get(tenantId));
  }

  /**
   * Full replacement; `expectedVersion` (If-Match) guards lost updates (0 = "still the defaults").
   * The change is recorded with `changedBy` in the same write.
   */
  async update(
    tenantId: string,
    input: RouterConfigInput,
    expectedVersion?: number,
    changedBy = 'unknown',
  ): Promise<EffectiveRouterConfig> {
    this.#checkLinUcb(input.strategy, input.dimension, 'dimension');
    if (input.experiment)
      this.#checkLinUcb(input.experiment.candidate.strategy, input.dimension, 'experiment');
    const spec = featureSpecSchema.safeParse({
      dimension: input.dimension,
      numeric: input.numericFeatures,
      clip: input.clip,
    });
    if (!spec.success) {
      const issue = spec.error.issues[0];
      const field = issue?.path[0] === 'numeric' ? 'numericFeatures' : String(issue?.path[0] ?? 'features');
      throw new UnprocessableError(
        `The feature spec is invalid: ${field}: ${issue?.message ?? 'invalid'}.`,
        'invalid_feature_spec',
      );
    }
    if (input.defaultExpertId !== undefined) {
      const expert = await this.deps.experts.get(tenantId, input.defaultExpertId);
      if (!expert)
        throw new UnprocessableError(
          `defaultExpertId ${input.defaultExpertId} is not an expert of this tenant.`,
          'unknown_expert',
        );
    }
    const experiment = input.experiment;
    if (input.requireReplayGate && experiment?.mode === 'canary' && experiment.percent > 0) {
      const problem = experiment.replayJobId
        ? await this.deps.replayGate?.(tenantId, experiment.replayJobId, input)
        : 'the tenant requires a replay gate: name a replay job (experiment.replayJobId) that compared this candidate with this baseline';
      if (problem !== undefined)
        throw new UnprocessableError(`The canary may not start: ${problem}.`, 'replay_gate');
    }
    const next = await this.#write(
      tenantId,
      (current) => withServerFields(input, current, this.deps.clock.now().toISOString()),
      expectedVersion,
      changedBy,
    );
    if (!next) throw new Error('unreachable: an admin change is always written');
    return this.#cached(next);
  }

  /**
   * A change the platform makes (a canary rollback, an automatic ramp step): `change` gets the
   * current configuration and returns the next, or undefined when there is nothing to do any more
   * (another instance did it first). Recorded with `changedBy` and `reason`; last writer wins.
   */
  async platformChange(
    tenantId: string,
    change: (current: EffectiveRouterConfig) => RouterConfigInput | undefined,
    changedBy: string,
    reason: string,
  ): Promise<EffectiveRouterConfig | undefined> {
    const next = await this.#write(
      tenantId,
      (current) => (current ? change(configOf(current)) : undefined),
      undefined,
      changedBy,
      reason,
    );
    return next ? this.#cached(next) : undefined;
  }

  #cached(next: RouterConfig): EffectiveRouterConfig {
    const config = configOf(next);
    this.#cache.set(next.tenantId, config);
    return config;
  }

  #checkLinUcb(strategy: RouterStrategy, dimension: number, field: string): void {
    if (CONTEXTUAL_STRATEGIES.includes(strategy) && dimension > MAX_LINUCB_DIMENSION) {
      throw new UnprocessableError(
        `LinUCB and linear Thompson keep a d x d matrix per expert in one table item (400 KB at most): dimension must be at most ${MAX_LINUCB_DIMENSION} for ${strategy}${field === 'experiment' ? " (the experiment's candidate uses the tenant's dimension)" : ''}.`,
        'dimension_too_large',
      );
    }
  }

  /**
   * Writes the change as the next version, conditional on the current one. With `expectedVersion`
   * (If-Match) a concurrent change is the caller's 409; without, the last writer wins: a write that
   * lost the race re-reads and writes again (at most LAST_WRITER_ATTEMPTS times). `nextOf` computes
   * the configuration from the current record each attempt; undefined writes nothing.
   */
  async #write(
    tenantId: string,
    nextOf: (current: RouterConfig | undefined) => RouterConfigInput | undefined,
    expectedVersion: number | undefined,
    changedBy: string,
    reason?: string,
  ): Promise<RouterConfig | undefined> {
    const conflict = () =>
      new ConflictError(
        'The router configuration was changed concurrently; re-read and retry.',
        'version_conflict',
      );
    for (let attempt = 1; ; attempt += 1) {
      const current = await this.deps.repository.get(tenantId, ROUTER_CONFIG_ID);
      const currentVersion = current?.version ?? 0;
      if (expectedVersion !== undefined && expectedVersion !== currentVersion) throw conflict();
      const input = nextOf(current);
      if (!input) return undefined;
      const now = this.deps.clock.now().toISOString();
      const version = currentVersion + 1;
      const change: RouterConfigChange = {
        version,
        changedAt: now,
        changedBy,
        config: input,
        ...(reason === undefined ? {} : { reason }),
      };
      const next: RouterConfig = {
        ...input,
        tenantId,
        id: ROUTER_CONFIG_ID,
        version,
        createdAt: current?.createdAt ?? now,
        updatedAt: now,
        updatedBy: changedBy,
        changes: [...(current?.changes ?? []), change].slice(-MAX_CONFIG_CHANGES),
      };
      try {
        if (current) await this.deps.repository.replace(next, currentVersion);
        else await this.deps.repository.create(next);
        return next;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        if (expectedVersion !== undefined || attempt >= LAST_WRITER_ATTEMPTS) throw conflict();
      }
    }
  }
}
