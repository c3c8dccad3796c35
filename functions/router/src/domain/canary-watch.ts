import { type EventPublisher, eventOf } from '#shared/ports/events.js';
import type { Clock } from '#shared/ports/system.js';
import { routerCanaryRollback } from '../../events.js';
import { oneSidedQuantile } from './off-policy.js';
import type { ReplayJob } from './replay-jobs.js';
import {
  CANARY_STEPS,
  type EffectiveRouterConfig,
  type ExperimentConfig,
  type RollbackRule,
  type RouterConfigInput,
  type RouterConfigService,
} from './router-config.js';
import type { ExperimentArm, RouteDecision } from './routing.js';

/**
 * The canary watch (M1 part 2): counts each arm's outcomes per minute and, after every outcome of a
 * canary tenant, judges the rollback rule over the window and the automatic ramp. It runs where the
 * outcomes arrive (the router function on AWS, the same handler on the embedded runtime), so it acts
 * on the outcome that makes the rule hold: within the window, never a schedule tick later.
 */

/** One arm's outcomes and learnt rewards in one minute (or summed over a window). */
export interface ArmCounts {
  readonly outcomes: number;
  /** Outcomes `error` or `timeout`. */
  readonly errors: number;
  readonly latencyMsSum: number;
  /** Rewards learnt from the arm's decisions (the scalar the strategies learn), their sum and sum of squares. */
  readonly rewards: number;
  readonly rewardSum: number;
  readonly rewardSumSquares: number;
}

/** The fields of ArmCounts: every one is a sum, so windows and minutes add field by field. */
export const COUNT_FIELDS = [
  'outcomes',
  'errors',
  'latencyMsSum',
  'rewards',
  'rewardSum',
  'rewardSumSquares',
] as const satisfies readonly (keyof ArmCounts)[];

export const addCounts = (a: ArmCounts, b: ArmCounts): ArmCounts =>
  Object.fromEntries(COUNT_FIELDS.map((field) => [field, a[field] + b[field]])) as unknown as ArmCounts;

export interface WindowCounts {
  readonly baseline: ArmCounts;
  readonly candidate: ArmCounts;
}

/** Port: per-minute outcome counters of a tenant's experiment (DynamoDB ADD on AWS). */
export interface ArmCounterRepository {
  add(
    tenantId: string,
    experiment: string,
    minute: number,
    arm: ExperimentArm,
    counts: ArmCounts,
  ): Promise<void>;
  /** The counts of minutes `from`..`to` (inclusive), summed; minutes with no outcome count 0. */
  sum(tenantId: string, experiment: string, from: number, to: number): Promise<WindowCounts>;
}

export const EMPTY_COUNTS: ArmCounts = {
  outcomes: 0,
  errors: 0,
  latencyMsSum: 0,
  rewards: 0,
  rewardSum: 0,
  rewardSumSquares: 0,
};

/** Mean and sample variance of an arm's rewards (variance 0 below two rewards). */
export const rewardStatsOf = (counts: ArmCounts): { mean: number; variance: number } => {
  const n = counts.rewards;
  if (n === 0) return { mean: 0, variance: 0 };
  const mean = counts.rewardSum / n;
  const variance = n < 2 ? 0 : Math.max(0, (counts.rewardSumSquares - n * mean * mean) / (n - 1));
  return { mean, variance };
};

export const errorRateOf = (counts: ArmCounts): number =>
  counts.outcomes === 0 ? 0 : counts.errors / counts.outcomes;

/** The minute an instant falls in (minutes since the epoch). */
export const minuteOf = (date: Date): number => Math.floor(date.getTime() / 60_000);

/**
 * The minutes a window of `windowSeconds` ending now covers: whole minutes, from the one the window
 * starts in to the current one (so 300 s counts the last 5 to 6 minutes of outcomes).
 */
export const windowMinutes = (now: Date, windowSeconds: number): { from: number; to: number } => ({
  from: minuteOf(new Date(now.getTime() - windowSeconds * 1000)),
  to: minuteOf(now),
});

export interface RollbackVerdict {
  readonly rollback: boolean;
  readonly candidateErrorRate: number;
  readonly baselineErrorRate: number;
  readonly candidateOutcomes: number;
  /** Why (rollback), or why not yet (no verdict). */
  readonly reason: string;
}

/**
 * The rollback rule: enough candidate outcomes, its error rate above the threshold, the baseline's
 * below its own ceiling (a baseline with no outcome counts as 0 %: all traffic can be the
 * candidate's at 100 %).
 */
export const rollbackVerdict = (counts: WindowCounts, rule: RollbackRule): RollbackVerdict => {
  const errors = errorVerdict(counts, rule);
  if (errors.rollback) return errors;
  const rewards = rewardVerdict(counts, rule);
  if (rewards?.rollback) return { ...errors, rollback: true, reason: rewards.reason };
  return rewards ? { ...errors, reason: `${errors.reason}; ${rewards.reason}` } : errors;
};

/**
 * The reward half of the rule: the candidate's mean reward below the baseline's by more than
 * `rewardTolerance`, with `rewardConfidence` (a one-sided Welch z test on the window's learnt
 * rewards). Undefined until both arms have `minOutcomes` rewards.
 */
const rewardVerdict = (
  counts: WindowCounts,
  rule: RollbackRule,
): { rollback: boolean; reason: string } | undefined => {
  const n = Math.min(counts.candidate.rewards, counts.baseline.rewards);
  if (n < rule.minOutcomes) return undefined;
  const candidate = rewardStatsOf(counts.candidate);
  const baseline = rewardStatsOf(counts.baseline);
  const gap = baseline.mean - rule.rewardTolerance - candidate.mean;
  const se = Math.sqrt(
    candidate.variance / counts.candidate.rewards + baseline.variance / counts.baseline.rewards,
  );
  const z = se > 0 ? gap / se : gap > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  const needed = oneSidedQuantile(rule.rewardConfidence);
  const figures = `candidate mean reward ${candidate.mean.toFixed(3)} over ${counts.candidate.rewards}, baseline ${baseline.mean.toFixed(3)} over ${counts.baseline.rewards}`;
  return z > needed
    ? {
        rollback: true,
        reason: `${figures}: below the baseline by more than ${rule.rewardTolerance} with ${(rule.rewardConfidence * 100).toFixed(0)} % confidence (z ${Number.isFinite(z) ? z.toFixed(2) : 'inf'} > ${needed.toFixed(2)})`,
      }
    : { rollback: false, reason: `${figures}: not shown worse by more than ${rule.rewardTolerance}` };
};

const errorVerdict = (counts: WindowCounts, rule: RollbackRule): RollbackVerdict => {
  const candidateErrorRate = errorRateOf(counts.candidate);
  const baselineErrorRate = errorRateOf(counts.baseline);
  const figures = {
    candidateErrorRate,
    baselineErrorRate,
    candidateOutcomes: counts.candidate.outcomes,
  };
  const pct = (rate: number) => `${(rate * 100).toFixed(1)} %`;
  if (counts.candidate.outcomes < rule.minOutcomes) {
    return {
      rollback: false,
      ...figures,
      reason: `${counts.candidate.outcomes} candidate outcomes in the window, ${rule.minOutcomes} needed`,
    };
  }
  if (candidateErrorRate <= rule.errorRate) {
    return {
      rollback: false,
      ...figures,
      reason: `candidate error rate ${pct(candidateErrorRate)} within ${pct(rule.errorRate)}`,
    };
  }
  if (baselineErrorRate >= rule.baselineErrorRate) {
    return {
      rollback: false,
      ...figures,
      reason: `candidate error rate ${pct(candidateErrorRate)}, but the baseline's is ${pct(baselineErrorRate)} too (at least ${pct(rule.baselineErrorRate)}): not the candidate's fault`,
    };
  }
  return {
    rollback: true,
    ...figures,
    reason: `candidate error rate ${pct(candidateErrorRate)} over ${counts.candidate.outcomes} outcomes in ${rule.windowSeconds} s, above ${pct(rule.errorRate)}, while the baseline's was ${pct(baselineErrorRate)}`,
  };
};

/** The next canary step above `percent` (undefined at 100 %). */
export const nextCanaryStep = (percent: number): number | undefined =>
  CANARY_STEPS.find((step) => step > percent);

/** Who the platform's own configuration changes are recorded as. */
export const CANARY_WATCH_SUBJECT = 'conductor:canary-watch';

export interface CanaryWatchDeps {
  readonly counters: ArmCounterRepository;
  readonly configs: Pick<RouterConfigService, 'effective' | 'platformChange'>;
  readonly clock: Clock;
  readonly events?: EventPublisher | undefined;
  /** Called when the rollback event could not be published (the rollback stands). */
  readonly onPublishError?: (error: unknown) => void;
  /** The last succeeded replay of an experiment (the status endpoint shows its estimates). */
  readonly latestReplay?: (tenantId: string, experiment: string) => Promise<ReplayJob | undefined>;
  /** Told of every rollback (the handler turns it into the CanaryRollback metric its alarm watches). */
  readonly onRollback?: (tenantId: string, experiment: string, verdict: RollbackVerdict) => void;
}

/** GET router/experiment's answer. */
export interface ExperimentStatus {
  readonly experiment?: ExperimentConfig;
  readonly window?: {
    readonly from: string;
    readonly to: string;
    readonly baseline: ArmWindow;
    readonly candidate: ArmWindow;
  };
  readonly verdict?: { readonly rollback: boolean; readonly reason: string };
  readonly nextStep?: number;
  /** The experiment's last succeeded replay job (its estimates: the number a shadow period yields). */
  readonly replay?: ReplayJob;
}

export interface ArmWindow {
  readonly outcomes: number;
  readonly errors: number;
  readonly errorRate: number;
  readonly meanLatencyMs?: number;
  readonly rewards: number;
  readonly meanReward?: number;
}

/** What the watch did after an outcome. */
export type WatchAction =
  | { readonly kind: 'none' }
  | { readonly kind: 'rolled_back'; readonly verdict: RollbackVerdict }
  | { readonly kind: 'ramped'; readonly percent: number };

const isLive = (experiment: ExperimentConfig | undefined, name: string): experiment is ExperimentConfig =>
  experiment?.mode === 'canary' && experiment.name === name && experiment.percent > 0;

export class CanaryWatch {
  constructor(private readonly deps: CanaryWatchDeps) {}

  /** Counts one outcome of a canary decision, then judges the tenant's canary. */
  async record(
    tenantId: string,
    experiment: string,
    arm: ExperimentArm,
    outcome: { readonly error: boolean; readonly latencyMs: number },
    traceId: string,
  ): Promise<WatchAction> {
    const now = this.deps.clock.now();
    await this.deps.counters.add(tenantId, experiment, minuteOf(now), arm, {
      ...EMPTY_COUNTS,
      outcomes: 1,
      errors: outcome.error ? 1 : 0,
      latencyMsSum: outcome.latencyMs,
    });
    return this.judge(tenantId, experiment, traceId);
  }

  /**
   * The rewards a batch of the reward function learnt: those of canary decisions are counted per
   * (tenant, experiment, arm), one counter write per group, and each experiment judged once.
   */
  async recordApplied(
    applied: readonly { tenantId: string; decision: RouteDecision; reward: number; traceId: string }[],
  ): Promise<WatchAction[]> {
    const groups = new Map<
      string,
      { tenantId: string; name: string; arm: ExperimentArm; rewards: number[]; traceId: string }
    >();
    for (const { tenantId, decision, reward, traceId } of applied) {
      const experiment = decision.experiment;
      if (experiment?.mode !== 'canary' || !experiment.arm) continue;
      const key = `${tenantId}\u0000${experiment.name}\u0000${experiment.arm}`;
      const group = groups.get(key) ?? {
        tenantId,
        name: experiment.name,
        arm: experiment.arm,
        rewards: [],
        traceId,
      };
      group.rewards.push(reward);
      groups.set(key, group);
    }
    const actions: WatchAction[] = [];
    for (const group of groups.values()) {
      actions.push(
        await this.recordRewards(group.tenantId, group.name, group.arm, group.rewards, group.traceId),
      );
    }
    return actions;
  }

  /** Counts learnt rewards of one arm's decisions (the reward function, after a batch), then judges. */
  async recordRewards(
    tenantId: string,
    experiment: string,
    arm: ExperimentArm,
    rewards: readonly number[],
    traceId: string,
  ): Promise<WatchAction> {
    if (rewards.length === 0) return { kind: 'none' };
    await this.deps.counters.add(tenantId, experiment, minuteOf(this.deps.clock.now()), arm, {
      ...EMPTY_COUNTS,
      rewards: rewards.length,
      rewardSum: rewards.reduce((sum, r) => sum + r, 0),
      rewardSumSquares: rewards.reduce((sum, r) => sum + r * r, 0),
    });
    return this.judge(tenantId, experiment, traceId);
  }

  /** The window's counts of the tenant's experiment as of now. */
  async window(tenantId: string, experiment: ExperimentConfig): Promise<WindowCounts> {
    const { from, to } = windowMinutes(this.deps.clock.now(), experiment.rollback.windowSeconds);
    return this.deps.counters.sum(tenantId, experiment.name, from, to);
  }

  /** GET router/experiment: the experiment and, for a canary, its window and the rule's verdict. */
  async status(tenantId: string): Promise<ExperimentStatus> {
    const config = await this.deps.configs.effective(tenantId);
    const experiment = config.experiment;
    if (!experiment) return {};
    const latest = await this.deps.latestReplay?.(tenantId, experiment.name);
    const replay = latest === undefined ? {} : { replay: latest };
    if (experiment.mode !== 'canary') return { experiment, ...replay };
    const now = this.deps.clock.now();
    const { from, to } = windowMinutes(now, experiment.rollback.windowSeconds);
    const counts = await this.deps.counters.sum(tenantId, experiment.name, from, to);
    const verdict = rollbackVerdict(counts, experiment.rollback);
    const arm = (c: ArmCounts) => ({
      outcomes: c.outcomes,
      errors: c.errors,
      errorRate: errorRateOf(c),
      ...(c.outcomes > 0 ? { meanLatencyMs: c.latencyMsSum / c.outcomes } : {}),
      rewards: c.rewards,
      ...(c.rewards > 0 ? { meanReward: rewardStatsOf(c).mean } : {}),
    });
    const next = nextCanaryStep(experiment.percent);
    return {
      experiment,
      window: {
        from: new Date(from * 60_000).toISOString(),
        to: new Date((to + 1) * 60_000).toISOString(),
        baseline: arm(counts.baseline),
        candidate: arm(counts.candidate),
      },
      verdict: { rollback: verdict.rollback, reason: verdict.reason },
      ...(next !== undefined && experiment.percent > 0 ? { nextStep: next } : {}),
      ...replay,
    };
  }

  /** Rollback when the rule holds; else the next ramp step when it is automatic and due. */
  async judge(tenantId: string, name: string, traceId: string): Promise<WatchAction> {
    const config = await this.deps.configs.effective(tenantId);
    const experiment = config.experiment;
    if (!isLive(experiment, name)) return { kind: 'none' };
    const counts = await this.window(tenantId, experiment);
    const verdict = rollbackVerdict(counts, experiment.rollback);
    if (verdict.rollback) return this.#rollback(tenantId, name, verdict, traceId);
    const next = nextCanaryStep(experiment.percent);
    const started = experiment.stepStartedAt ? Date.parse(experiment.stepStartedAt) : Number.NaN;
    const soaked = this.deps.clock.now().getTime() - started >= experiment.ramp.soakMinutes * 60_000;
    const healthy =
      counts.candidate.outcomes >= experiment.rollback.minOutcomes &&
      verdict.candidateErrorRate <= experiment.rollback.errorRate;
    if (!experiment.ramp.auto || next === undefined || !soaked || !healthy) return { kind: 'none' };
    const ramped = await this.deps.configs.platformChange(
      tenantId,
      (current) =>
        isLive(current.experiment, name) && current.experiment.percent === experiment.percent
          ? withExperiment(current, {
              ...current.experiment,
              percent: next,
              stepStartedAt: this.deps.clock.now().toISOString(),
            })
          : undefined,
      CANARY_WATCH_SUBJECT,
      `automatic ramp ${experiment.percent} % -> ${next} %: soaked ${experiment.ramp.soakMinutes} min with ${counts.candidate.outcomes} candidate outcomes at ${(verdict.candidateErrorRate * 100).toFixed(1)} % errors`,
    );
    return ramped ? { kind: 'ramped', percent: next } : { kind: 'none' };
  }

  async #rollback(
    tenantId: string,
    name: string,
    verdict: RollbackVerdict,
    traceId: string,
  ): Promise<WatchAction> {
    const now = this.deps.clock.now().toISOString();
    const reason = `canary rollback: ${verdict.reason}`;
    const changed = await this.deps.configs.platformChange(
      tenantId,
      (current) =>
        isLive(current.experiment, name)
          ? withExperiment(current, {
              ...current.experiment,
              percent: 0,
              stepStartedAt: now,
              rolledBack: {
                at: now,
                reason: verdict.reason,
                candidateErrorRate: verdict.candidateErrorRate,
                baselineErrorRate: verdict.baselineErrorRate,
                candidateOutcomes: verdict.candidateOutcomes,
              },
            })
          : undefined,
      CANARY_WATCH_SUBJECT,
      reason,
    );
    // Another instance rolled it back first: its event is the one.
    if (!changed) return { kind: 'none' };
    this.deps.onRollback?.(tenantId, name, verdict);
    try {
      await this.deps.events?.publish([
        eventOf(routerCanaryRollback, {
          tenantId,
          traceId,
          occurredAt: now,
          canaryId: name,
          reason: verdict.reason,
          errorRate: verdict.candidateErrorRate,
        }),
      ]);
    } catch (error) {
      this.deps.onPublishError?.(error);
    }
    return { kind: 'rolled_back', verdict };
  }
}

const withExperiment = (config: EffectiveRouterConfig, experiment: ExperimentConfig): RouterConfigInput => {
  const { tenantId: _t, version: _v, createdAt: _c, updatedAt: _u, updatedBy: _b, ...input } = config;
  return { ...input, experiment };
};
