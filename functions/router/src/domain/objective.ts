import type { CandidateAssessment, Penalty, Selection } from './bandits/index.js';
import type { Expert } from './experts.js';

/**
 * The cost-aware objective: a route ranks its candidates by quality − λ·cost − μ·latency instead of
 * quality alone.
 *
 * The strategies learn **quality** (the reward signals as the tenant maps them); the objective's
 * terms are subtracted at decision time, through the strategies' penalty (bandits/strategy.ts). For
 * a cost that does not depend on the context (an expert's price per call) ranking by learnt quality
 * less λ·cost ranks exactly as learning the reward quality − λ·cost would, and λ can move (the
 * target rules below) without anything learnt being thrown away. The rationale shows each term.
 *
 * λ is set one of three ways (per tenant, `objective` in the router configuration):
 * - `costWeight`: λ directly, in reward units per US dollar (1 point of quality = 0.01).
 * - `costTarget: { usdPer1000Tasks }`: λ is steered so that the tenant's routes cost that much per
 *   1,000 tasks on average: after each decision λ moves by a step proportional to how far the pick's
 *   cost was from the target (dual ascent, `ObjectiveController`). The controller runs in each
 *   router instance on the decisions it makes (no shared write on the route path); a new instance
 *   starts from λ = 0 (bench:router measures how soon it lands).
 * - `qualityTolerance: t` ("the cheapest expert within t of the best quality", on average): λ = θ /
 *   (the spread of the candidates' costs), so the cost term outweighs at most θ of quality in a
 *   decision; θ starts at t and is steered so that the quality estimate given up averages t
 *   (`ObjectiveController`).
 *
 * `latencyWeight` μ (reward units per second of expected latency) adds μ·latency where the router has
 * seen the expert's latency.
 *
 * The cost of an expert is what the router has seen it cost (reported by the expert to invoke
 * mode), else its declared `costPerCallUsd`; its latency is what the router has seen (invoke mode,
 * POST /router/outcome), else nothing. Both are exponential moving averages kept per router instance
 * (`ObservedCosts`), so they cost no write on the route path.
 */
export interface ObjectiveSettings {
  readonly costWeight?: number | undefined;
  readonly costTarget?: { readonly usdPer1000Tasks: number } | undefined;
  readonly qualityTolerance?: number | undefined;
  readonly latencyWeight?: number | undefined;
}

/** What one candidate's penalty is made of (the rationale's `objective.terms`). */
export interface ObjectiveTerms {
  readonly costUsd: number;
  readonly latencyMs?: number;
  /** λ·cost, in reward units. */
  readonly costTerm: number;
  /** μ·latency (seconds), in reward units. */
  readonly latencyTerm: number;
}

export interface ObjectiveDecision {
  /** The λ this decision used (reward units per USD). */
  readonly lambda: number;
  readonly latencyWeight: number;
  readonly penalty: Penalty;
  readonly termsOf: (expertId: string) => ObjectiveTerms | undefined;
}

/** Each observation weighs this much in the moving averages (≈ the last 50 count). */
export const OBSERVATION_WEIGHT = 0.02;
/** How many (tenant, expert) averages an instance keeps; the oldest are dropped first. */
export const MAX_OBSERVED_EXPERTS = 10_000;

interface Averages {
  cost?: number;
  latencyMs?: number;
}

/** What the router has seen experts cost and take, per (tenant, expert), in this instance. */
export class ObservedCosts {
  readonly #averages = new Map<string, Averages>();

  observe(
    tenantId: string,
    expertId: string,
    seen: { readonly costUsd?: number | undefined; readonly latencyMs?: number | undefined },
  ): void {
    const key = `${tenantId}\u0000${expertId}`;
    const averages = this.#averages.get(key) ?? {};
    const blend = (previous: number | undefined, value: number) =>
      previous === undefined ? value : previous + OBSERVATION_WEIGHT * (value - previous);
    if (seen.costUsd !== undefined && Number.isFinite(seen.costUsd) && seen.costUsd >= 0)
      averages.cost = blend(averages.cost, seen.costUsd);
    if (seen.latencyMs !== undefined && Number.isFinite(seen.latencyMs) && seen.latencyMs >= 0)
      averages.latencyMs = blend(averages.latencyMs, seen.latencyMs);
    this.#averages.delete(key);
    if (this.#averages.size >= MAX_OBSERVED_EXPERTS)
      this.#averages.delete(this.#averages.keys().next().value as string);
    this.#averages.set(key, averages);
  }

  /** The cost seen, else the declared cost per call. */
  costOf(tenantId: string, expert: Expert): number {
    return this.#averages.get(`${tenantId}\u0000${expert.id}`)?.cost ?? expert.costPerCallUsd;
  }

  latencyOf(tenantId: string, expertId: string): number | undefined {
    return this.#averages.get(`${tenantId}\u0000${expertId}`)?.latencyMs;
  }
}

/** The cost target's step: λ·target moves by this × (cost/target − 1) after each decision. */
export const CONTROLLER_STEP = 0.02;
/** λ·target never exceeds this (a target below the cheapest expert's cost cannot be met anyway). */
export const MAX_SCALED_LAMBDA = 100;
/**
 * How far below 0 the cost target's sum may go: spending under the target while λ is 0 is credited
 * (up to this much, about 50 decisions of spending nothing at the default step) instead of lost, so
 * the average lands on the target rather than under it.
 */
export const MAX_SCALED_CREDIT = 1;
/** The quality tolerance's step: θ moves by this × (tolerance − quality given up) after each decision. */
export const TOLERANCE_STEP = 0.05;
/** θ, the quality the cost term may outweigh, stays within [0, 1] (the whole reward range). */
export const MAX_THETA = 1;

/**
 * The per-tenant state of the rules that derive λ from a target, steered by the decisions of this
 * router instance (no shared write on the route path: each instance converges on its own traffic).
 *
 * - `costTarget`: dual ascent on the average cost. A sum s (λ scaled by the target cost per task,
 *   dimensionless, so one step size serves every price range) moves by step × (cost/target − 1)
 *   after each decision, within [−MAX_SCALED_CREDIT, MAX_SCALED_LAMBDA]; λ = max(0, s) / target.
 * - `qualityTolerance` t: the cost term may outweigh up to θ of quality, λ = θ / (the candidates'
 *   cost spread). θ starts at t (then no cheaper expert wins by more than t in any decision) and is
 *   steered so that the quality given up **on average** is t: after each decision θ moves by
 *   step × (t − gap), where gap is the quality estimate of the best candidate less that of the
 *   penalised rule's own choice (its exploitation pick: exploration is not the objective's doing).
 */
export class ObjectiveController {
  /** Per tenant and objective: a changed objective (another target or tolerance) starts afresh. */
  readonly #costs = new Map<string, number>();
  readonly #thetas = new Map<string, number>();

  constructor(
    private readonly costStep = CONTROLLER_STEP,
    private readonly toleranceStep = TOLERANCE_STEP,
  ) {}

  /** The λ of one decision among candidates of these costs. */
  lambda(tenantId: string, objective: ObjectiveSettings, costs: readonly number[]): number {
    if (objective.costTarget) {
      const perTask = objective.costTarget.usdPer1000Tasks / 1000;
      return Math.max(0, this.#costs.get(keyOf(tenantId, objective)) ?? 0) / perTask;
    }
    if (objective.qualityTolerance !== undefined) {
      const spread = Math.max(...costs) - Math.min(...costs);
      // Costs closer than a trillionth of a dollar are the same price (reported costs are rounded so).
      if (!(spread > MIN_COST_SPREAD_USD)) return 0;
      return (this.#thetas.get(keyOf(tenantId, objective)) ?? objective.qualityTolerance) / spread;
    }
    return objective.costWeight ?? 0;
  }

  /** After a decision: what its pick costs, and the quality the penalised rule gave up. */
  observe(
    tenantId: string,
    objective: ObjectiveSettings,
    decision: { readonly costUsd: number; readonly qualityGap: number },
  ): void {
    const key = keyOf(tenantId, objective);
    if (objective.costTarget) {
      const perTask = objective.costTarget.usdPer1000Tasks / 1000;
      const sum = (this.#costs.get(key) ?? 0) + this.costStep * (decision.costUsd / perTask - 1);
      remember(this.#costs, key, Math.min(MAX_SCALED_LAMBDA, Math.max(-MAX_SCALED_CREDIT, sum)));
    } else if (objective.qualityTolerance !== undefined && Number.isFinite(decision.qualityGap)) {
      const t = objective.qualityTolerance;
      const theta = (this.#thetas.get(key) ?? t) + this.toleranceStep * (t - decision.qualityGap);
      remember(this.#thetas, key, Math.min(MAX_THETA, Math.max(0, theta)));
    }
  }
}

/** How many (tenant, objective) controller states an instance keeps; the oldest go first. */
export const MAX_CONTROLLED_OBJECTIVES = 10_000;

const keyOf = (tenantId: string, objective: ObjectiveSettings): string =>
  `${tenantId}\u0000${objective.costTarget?.usdPer1000Tasks ?? ''}\u0000${objective.qualityTolerance ?? ''}`;

const remember = (map: Map<string, number>, key: string, value: number): void => {
  map.delete(key);
  if (map.size >= MAX_CONTROLLED_OBJECTIVES) map.delete(map.keys().next().value as string);
  map.set(key, value);
};

/** The reward noise the quality estimates' standard errors are expressed at (a reward in [0, 1]). */
export const REWARD_NOISE = 0.5;

/**
 * The standard error of a candidate's quality estimate, in reward units, from what the strategy
 * reports as its `uncertainty`: LinUCB reports the width √(xᵀA⁻¹x) (sd = noise·width), linear
 * Thompson its posterior sd at its scale v (width = uncertainty / v), the others a standard error.
 */
export const qualitySdOf =
  (strategy: string, posteriorScale: number) =>
  (candidate: CandidateAssessment): number => {
    switch (strategy) {
      case 'linucb':
      case 'naive-linucb':
        return REWARD_NOISE * candidate.uncertainty;
      case 'linear-thompson':
        return (REWARD_NOISE * candidate.uncertainty) / posteriorScale;
      default:
        return candidate.uncertainty;
    }
  };

/**
 * The quality a penalised decision gave up: the best quality estimate among the candidates less the
 * estimate of what the penalised rule would pick without exploring (`exploitExpertId`), less one
 * standard error more when that pick is not the best: an estimate that wins a cheaper expert the
 * pick is optimistic on average (the winner's curse), and the rule is held on what is given up, not
 * on what the estimates say.
 */
export const qualityGapOf = (
  selection: Pick<Selection, 'perCandidate' | 'exploitExpertId'>,
  sdOf: (candidate: CandidateAssessment) => number = () => 0,
): number => {
  let best: CandidateAssessment | undefined;
  let exploit: CandidateAssessment | undefined;
  for (const candidate of selection.perCandidate) {
    if (best === undefined || candidate.estimate > best.estimate) best = candidate;
    if (candidate.expertId === selection.exploitExpertId) exploit = candidate;
  }
  if (!best || !exploit || exploit === best) return 0;
  return Math.max(0, best.estimate - exploit.estimate) + sdOf(exploit);
};

/** Below this, candidates' costs count as equal for the quality tolerance rule (no λ). */
export const MIN_COST_SPREAD_USD = 1e-12;

export const isActive = (objective: ObjectiveSettings | undefined): objective is ObjectiveSettings =>
  objective !== undefined &&
  ((objective.costWeight ?? 0) > 0 ||
    objective.costTarget !== undefined ||
    objective.qualityTolerance !== undefined ||
    (objective.latencyWeight ?? 0) > 0);

/** The objective's penalty and terms for one decision among these (eligible) candidates. */
export const objectiveDecision = (
  tenantId: string,
  objective: ObjectiveSettings,
  candidates: readonly Expert[],
  observed: ObservedCosts,
  controller: ObjectiveController,
): ObjectiveDecision => {
  const costs = candidates.map((expert) => observed.costOf(tenantId, expert));
  const lambda = controller.lambda(tenantId, objective, costs);
  const latencyWeight = objective.latencyWeight ?? 0;
  const terms = new Map<string, ObjectiveTerms>();
  const latencies = candidates.map((expert) => observed.latencyOf(tenantId, expert.id));
  const seen = latencies.filter((latency): latency is number => latency !== undefined);
  // A candidate whose latency was never seen counts as the average of those seen: neither favoured
  // for being unknown nor held back.
  const unseen = seen.length > 0 ? seen.reduce((sum, latency) => sum + latency, 0) / seen.length : 0;
  candidates.forEach((expert, i) => {
    const costUsd = costs[i] as number;
    const latencyMs = latencies[i];
    terms.set(expert.id, {
      costUsd,
      ...(latencyMs === undefined ? {} : { latencyMs }),
      costTerm: lambda * costUsd,
      latencyTerm: (latencyWeight * (latencyMs ?? unseen)) / 1000,
    });
  });
  return {
    lambda,
    latencyWeight,
    penalty: (expertId) => {
      const term = terms.get(expertId);
      return term === undefined ? 0 : term.costTerm + term.latencyTerm;
    },
    termsOf: (expertId) => terms.get(expertId),
  };
};
