import { ConflictError } from '#shared/errors.js';
import type { Clock } from '#shared/ports/system.js';
import {
  type BetaBernoulliState,
  type LinUcbState,
  loadModelState,
  type ModelState,
  type RunningMeansState,
  type SparseVector,
  toStoredModelState,
} from './bandits/index.js';
import type { Expert } from './experts.js';
import { initialStateOf, updaterFor, type WritableModelStateRepository } from './reward-learning.js';
import type { RouterConfigService } from './router-config.js';
import { strategyConfigOf } from './router-config.js';
import { type ModelRecord, modelKeyOf, storableNumbers } from './routing.js';

/**
 * Warm start: a new expert (or a new tenant's experts) starts from a prior instead of from nothing.
 *
 * The priors document (`conductor.priors/v1`, documented in the router README) says, per expert,
 * what reward it is expected to earn and how much that belief weighs:
 *
 *   { "format": "conductor.priors/v1", "source": "evaluation",
 *     "experts": [ { "expertId": "exp_…", "meanReward": 0.82, "weight": 20 } ] }
 *
 * - From an **evaluation gate's results**: meanReward = the suite's pass rate for the expert,
 *   weight = the number of graded trials (capped at MAX_PRIOR_WEIGHT).
 * - From **another tenant's model**: that tenant's admin exports it (GET /router/priors/export,
 *   their own data: exporting is the opt-in), and this tenant's admin maps the expert ids (the
 *   export names each expert) and puts it here. No endpoint reads another tenant's model.
 *
 * A prior of mean m and weight w is learnt as w observations of reward m on the intercept alone
 * (the context-free part of every decision): the same update the rewards go through, so it means
 * the same for every strategy (Beta counts, running means, the ridge models' intercept). The
 * context-dependent part is left to the rewards. It goes into the model the tenant's configuration
 * routes on now, and only for experts that model has no evidence of: a prior never overrides what
 * was learnt, and putting the same document twice changes nothing the second time.
 */
export const PRIORS_FORMAT = 'conductor.priors/v1';
export const MAX_PRIOR_WEIGHT = 1000;

export interface ExpertPrior {
  readonly expertId: string;
  /** In [0, 1]: the reward the expert is expected to earn (a pass rate, a success rate). */
  readonly meanReward: number;
  /** How many observations the belief is worth (an integer, 1 to MAX_PRIOR_WEIGHT). */
  readonly weight: number;
  /** The expert's name where the prior came from (informational; exports carry it). */
  readonly name?: string | undefined;
}

export interface PriorsDocument {
  readonly format: typeof PRIORS_FORMAT;
  readonly source?: string | undefined;
  readonly experts: readonly ExpertPrior[];
}

export type SkipReason = 'unknown_expert' | 'has_evidence';

export interface PriorsApplied {
  readonly modelKey: string;
  readonly modelVersion: number;
  readonly applied: readonly {
    readonly expertId: string;
    readonly meanReward: number;
    readonly weight: number;
  }[];
  readonly skipped: readonly { readonly expertId: string; readonly reason: SkipReason }[];
}

export interface WarmStartDeps {
  readonly models: WritableModelStateRepository;
  readonly configs: Pick<RouterConfigService, 'effective'>;
  readonly experts: {
    getMany(tenantId: string, ids: readonly string[]): Promise<ReadonlyMap<string, Expert>>;
  };
  readonly clock: Clock;
  /** Conditional-write attempts when the reward consumer writes the same model meanwhile. */
  readonly maxAttempts?: number;
}

/** The intercept alone: what a prior is learnt on. */
const interceptOf = (state: ModelState): SparseVector => ({
  dimension: state.model === 'ridge' ? (state as LinUcbState).dimension : 1,
  indices: Int32Array.of(0),
  values: Float64Array.of(1),
});

/** Whether a model state holds evidence about an expert. */
export const hasEvidence = (state: ModelState, expertId: string): boolean =>
  Object.hasOwn((state as { arms?: object }).arms ?? {}, expertId);

/** An expert's context-free summary in a model: mean reward and the evidence it rests on. */
export const summaryOf = (
  state: ModelState,
  expertId: string,
): { readonly meanReward: number; readonly weight: number } | undefined => {
  if (!hasEvidence(state, expertId)) return undefined;
  switch (state.model) {
    case 'ridge': {
      const ridge = state as LinUcbState;
      const arm = ridge.arms[expertId];
      if (!arm) return undefined;
      // x₀ = 1 in every decision: A₀₀ − λ is the (discounted) count, b₀ the sum of rewards.
      const count = (arm.a[0] ?? ridge.lambda) - ridge.lambda;
      return count > 0 ? { meanReward: (arm.b[0] ?? 0) / count, weight: count } : undefined;
    }
    case 'beta-bernoulli': {
      const counts = (state as BetaBernoulliState).arms[expertId];
      if (!counts) return undefined;
      const total = counts.successes + counts.failures;
      return total > 0 ? { meanReward: counts.successes / total, weight: total } : undefined;
    }
    default: {
      const stats = (state as RunningMeansState).arms[expertId];
      return stats && stats.n > 0 ? { meanReward: stats.mean, weight: stats.n } : undefined;
    }
  }
};

const clampMean = (value: number): number => Math.min(1, Math.max(0, value));
const roundWeight = (value: number): number => Math.min(MAX_PRIOR_WEIGHT, Math.max(1, Math.round(value)));

export class WarmStartService {
  constructor(private readonly deps: WarmStartDeps) {}

  /** The model key routes decide on under the tenant's configuration now. */
  async #modelKey(tenantId: string): Promise<string> {
    const config = await this.deps.configs.effective(tenantId);
    const strategy = strategyConfigOf(config, config.defaultExpertId ?? 'none');
    return modelKeyOf(strategy, config.dimension, config);
  }

  async apply(tenantId: string, document: PriorsDocument): Promise<PriorsApplied> {
    const modelKey = await this.#modelKey(tenantId);
    const ids = [...new Set(document.experts.map((prior) => prior.expertId))];
    const known = await this.deps.experts.getMany(tenantId, ids);
    const attempts = this.deps.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt += 1) {
      const stored = await this.deps.models.get(tenantId, modelKey);
      let state = stored ? loadModelState(stored.state) : initialStateOf(modelKey);
      // Pseudo-observations: never discounted (a prior is not old evidence).
      const updater = updaterFor(state, 1);
      const x = interceptOf(state);
      const applied: PriorsApplied['applied'][number][] = [];
      const skipped: PriorsApplied['skipped'][number][] = [];
      const seen = new Set<string>();
      for (const prior of document.experts) {
        if (seen.has(prior.expertId)) continue;
        seen.add(prior.expertId);
        if (!known.has(prior.expertId)) skipped.push({ expertId: prior.expertId, reason: 'unknown_expert' });
        else if (hasEvidence(state, prior.expertId))
          skipped.push({ expertId: prior.expertId, reason: 'has_evidence' });
        else {
          const weight = roundWeight(prior.weight);
          const meanReward = clampMean(prior.meanReward);
          for (let i = 0; i < weight; i += 1) state = updater.update(state, prior.expertId, x, meanReward);
          applied.push({ expertId: prior.expertId, meanReward, weight });
        }
      }
      if (applied.length === 0) return { modelKey, modelVersion: stored?.version ?? 0, applied, skipped };
      const now = this.deps.clock.now().toISOString();
      const record: ModelRecord = storableNumbers({
        tenantId,
        id: modelKey,
        version: (stored?.version ?? 0) + 1,
        createdAt: stored?.createdAt ?? now,
        updatedAt: now,
        state: toStoredModelState(state),
        // The reward window is the consumer's exactly-once guard: kept as it is.
        ...(stored?.appliedRewardIds ? { appliedRewardIds: stored.appliedRewardIds } : {}),
      });
      try {
        if (stored) await this.deps.models.replace(record, stored.version);
        else await this.deps.models.create(record);
        return { modelKey, modelVersion: record.version, applied, skipped };
      } catch (error) {
        // The reward consumer wrote the model meanwhile: read it again (and skip what it now knows).
        if (!(error instanceof ConflictError) || attempt >= attempts) throw error;
      }
    }
  }

  /** The tenant's own model, summarised per expert as a priors document another tenant can use. */
  async export(tenantId: string): Promise<PriorsDocument & { readonly modelKey: string }> {
    const modelKey = await this.#modelKey(tenantId);
    const stored = await this.deps.models.get(tenantId, modelKey);
    const state = stored ? loadModelState(stored.state) : initialStateOf(modelKey);
    const ids = Object.keys((state as { arms?: object }).arms ?? {}).sort();
    const experts = await this.deps.experts.getMany(tenantId, ids);
    const priors: ExpertPrior[] = [];
    for (const expertId of ids) {
      const summary = summaryOf(state, expertId);
      if (!summary) continue;
      const name = experts.get(expertId)?.name;
      priors.push({
        expertId,
        ...(name === undefined ? {} : { name }),
        meanReward: Number(clampMean(summary.meanReward).toPrecision(4)),
        weight: roundWeight(summary.weight),
      });
    }
    return { format: PRIORS_FORMAT, source: `tenant-export:${modelKey}`, modelKey, experts: priors };
  }
}
