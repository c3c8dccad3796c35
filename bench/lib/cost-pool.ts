/**
 * Expert pools with quality and cost profiles for the cost-aware part of `bench/router-quality.ts`
 * (part 4), and the loop that routes a stream of tasks through a strategy under the cost-aware
 * objective exactly as the router applies it (functions/router/src/domain/routing.ts):
 *
 *   const obj = objectiveDecision(tenantId, settings, experts, observed, controller);
 *   const selection = strategy.select(ids, x, state, rng, obj.penalty);
 *   controller.observe(tenantId, settings, { costUsd: obj.termsOf(pick).costUsd, qualityGap: qualityGapOf(selection) });
 *
 * The strategy learns quality only (reward 1 when the chosen expert got the task right, else 0); the
 * cost enters through the penalty at decision time.
 *
 * `runFullInformation` is the objective's full-information ceiling on the same worlds: a per-expert
 * online ridge fed every expert's outcome every round, routing greedily by estimate − λ·cost.
 *
 * Two kinds of setting:
 * - `simulatedPool`: tasks with a hidden difficulty that the context reveals in part (the task type
 *   and the prompt length), five experts whose chance of success falls with difficulty below their
 *   ability (an item-response curve), per-call prices from $0.0002 to $0.03.
 * - `perClassPool`: the real contexts of one of part 2's public datasets (lib/datasets.ts: iris,
 *   penguins, cars, seattle-weather, mnist), encoded as part 2 encodes them, with four experts whose
 *   correctness is simulated per true class: two cheap specialists ($0.0005, $0.0008) right 95 % of
 *   the time on their half of the classes (the first ⌈C/2⌉ classes by index, and the rest) and 15 %
 *   on the other half, a mid-price generalist ($0.004) right 85 % of the time on every class, a
 *   large generalist ($0.02) right 95 % of the time on every class. A seed's stream is at least
 *   `rounds` tasks, cycling through seeded reshuffles of the rows on the small sets.
 * Correctness is drawn once per (seed, task, expert), so every router of a seed faces the same
 * outcomes (common random numbers: paired comparisons between routers).
 */

import {
  type Context,
  createContextEncoder,
  createLinUcb,
  type FeatureSpec,
  type ModelState,
  mulberry32,
  type Rng,
  type SparseVector,
  type Strategy,
  toSparse,
} from '../../functions/router/src/domain/bandits/index.js';
import type { Expert } from '../../functions/router/src/domain/experts.js';
import {
  ObjectiveController,
  type ObjectiveSettings,
  ObservedCosts,
  objectiveDecision,
  qualityGapOf,
  qualitySdOf,
} from '../../functions/router/src/domain/objective.js';
import { DEFAULT_POSTERIOR_SCALE } from '../../functions/router/src/domain/router-config.js';
import type { Dataset } from './datasets.js';

export const BENCH_TENANT = 'tenant-bench';

/** A minimal expert: the objective reads `id` and `costPerCallUsd` only. */
export const benchExpert = (id: string, costPerCallUsd: number): Expert => ({
  tenantId: BENCH_TENANT,
  id,
  name: id,
  type: 'model',
  costPerCallUsd,
  endpoint: `https://${id}.invalid/invoke`,
  metadata: {},
  enabled: true,
  version: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});

/** One seed's stream: encoded contexts and whether each expert would get each task right. */
export interface World {
  readonly xs: readonly SparseVector[];
  /** correct[t × K + k]: 1 when expert k gets task t right. */
  readonly correct: Uint8Array;
  /** A label per task for the profile table (task type, or digit). */
  readonly groups: Int32Array;
}

export interface CostSetting {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly experts: readonly Expert[];
  /** Per expert, a one-line quality profile as designed. */
  readonly profiles: readonly string[];
  /** Names of the task groups (`World.groups` indexes them). */
  readonly groupNames: readonly string[];
  readonly dimension: number;
  readonly rounds: number;
  /** The costTarget rule's target for this setting, USD per 1,000 tasks (stated before any run). */
  readonly targetUsdPer1000Tasks: number;
  readonly world: (seed: number) => World;
  /** On a public dataset: its rows, the passes a seed's stream makes over them, the specialists' classes. */
  readonly stream?: {
    readonly rows: number;
    readonly passes: number;
    readonly specialistClasses: readonly (readonly string[])[];
  };
}

const normal = (rng: Rng): number => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
const logistic = (z: number): number => 1 / (1 + Math.exp(-z));

// ---------------------------------------------------------------------------------------------
// Simulated pool.

/** Task types: share of the traffic and base difficulty (0 easy … 1 hard). Most traffic is easy. */
export const TASK_TYPES = [
  { type: 'classify', share: 0.3, difficulty: 0.1 },
  { type: 'extract', share: 0.25, difficulty: 0.25 },
  { type: 'summarise', share: 0.2, difficulty: 0.4 },
  { type: 'code', share: 0.15, difficulty: 0.6 },
  { type: 'reasoning', share: 0.1, difficulty: 0.8 },
] as const;
const LANGUAGES = ['en', 'fr', 'de', 'ja'] as const;
/** Prompt length: log-uniform over [50, 8000] tokens; a longer prompt is a harder task. */
const MIN_TOKENS = 50;
const MAX_TOKENS = 8000;
const LOG_MEAN = (Math.log1p(MIN_TOKENS) + Math.log1p(MAX_TOKENS)) / 2;
const LOG_STD = (Math.log1p(MAX_TOKENS) - Math.log1p(MIN_TOKENS)) / Math.sqrt(12);
/** Difficulty h = base(type) + LENGTH_SLOPE · z(log tokens) + HIDDEN_NOISE · N(0, 1), unseen by the router. */
const LENGTH_SLOPE = 0.08;
const HIDDEN_NOISE = 0.05;
/** P(success) = FLOOR + (CEILING − FLOOR) · logistic((ability − h) / SCALE). */
const FLOOR = 0.02;
const CEILING = 0.97;
const SCALE = 0.05;

/** Ability per expert; `code` overrides it on code tasks (a code-tuned mid-size model). */
const SIMULATED_EXPERTS = [
  { id: 'tiny', cost: 0.0002, ability: 0.35 },
  { id: 'small', cost: 0.0008, ability: 0.5 },
  { id: 'medium-code', cost: 0.003, ability: 0.65, code: 0.85 },
  { id: 'large', cost: 0.01, ability: 0.8 },
  { id: 'frontier', cost: 0.03, ability: 0.95 },
] as const;

export const simulatedPool = (rounds: number): CostSetting => {
  const features: FeatureSpec = {
    dimension: 32,
    numeric: [{ key: 'promptTokens', transform: 'signed-log1p', mean: LOG_MEAN, std: LOG_STD }],
  };
  const encoder = createContextEncoder(features);
  const k = SIMULATED_EXPERTS.length;
  const cumulative = TASK_TYPES.map((_, i) => TASK_TYPES.slice(0, i + 1).reduce((s, t) => s + t.share, 0));
  return {
    id: 'simulated',
    name: 'simulated pool',
    description:
      `${rounds} tasks a seed; context: taskType (5 types, hashed), promptTokens (declared, log1p), language (4, hashed, no effect); ` +
      `hidden difficulty h = base(type) + ${LENGTH_SLOPE}·z(log tokens) + N(0, ${HIDDEN_NOISE}²); ` +
      `P(success) = ${FLOOR} + ${fixedShare(CEILING - FLOOR)}·logistic((ability − h)/${SCALE}); d = ${features.dimension}`,
    experts: SIMULATED_EXPERTS.map((e) => benchExpert(e.id, e.cost)),
    profiles: SIMULATED_EXPERTS.map(
      (e) => `ability ${e.ability}${'code' in e ? ` (${e.code} on code)` : ''}, $${e.cost} a call`,
    ),
    groupNames: TASK_TYPES.map((t) => `${t.type} (${Math.round(t.share * 100)} %, h ${t.difficulty})`),
    dimension: features.dimension,
    rounds,
    targetUsdPer1000Tasks: 3,
    world: (seed) => {
      const rng = mulberry32(seed);
      const xs: SparseVector[] = [];
      const correct = new Uint8Array(rounds * k);
      const groups = new Int32Array(rounds);
      for (let t = 0; t < rounds; t += 1) {
        const u = rng();
        const typeIndex = Math.max(
          0,
          cumulative.findIndex((c) => u < c),
        );
        const task = TASK_TYPES[typeIndex] as (typeof TASK_TYPES)[number];
        const tokens = Math.round(Math.exp(Math.log(MIN_TOKENS) + rng() * Math.log(MAX_TOKENS / MIN_TOKENS)));
        const language = LANGUAGES[Math.floor(rng() * LANGUAGES.length)] as string;
        const context: Context = { taskType: task.type, promptTokens: tokens, language };
        xs.push(toSparse(encoder.encode(context)));
        groups[t] = typeIndex;
        const z = (Math.log1p(tokens) - LOG_MEAN) / LOG_STD;
        const h = task.difficulty + LENGTH_SLOPE * z + HIDDEN_NOISE * normal(rng);
        SIMULATED_EXPERTS.forEach((e, j) => {
          const ability = task.type === 'code' && 'code' in e ? e.code : e.ability;
          const p = FLOOR + (CEILING - FLOOR) * logistic((ability - h) / SCALE);
          correct[t * k + j] = rng() < p ? 1 : 0;
        });
      }
      return { xs, correct, groups };
    },
  };
};

const fixedShare = (v: number) => String(Math.round(v * 100) / 100);

// ---------------------------------------------------------------------------------------------
// Real contexts (the public datasets of part 2), costs attached, correctness simulated per class.

/**
 * The per-class pool, the same on every dataset: two cheap specialists, each right 95 % of the time
 * on its half of the classes and 15 % on the other half, a mid-price generalist right 85 % of the
 * time on every class, a large generalist right 95 % on every class. The halves are fixed by class
 * index, never by results: the first ⌈C/2⌉ classes (in the dataset's class order, lib/datasets.ts)
 * and the rest.
 */
const SPECIALIST_RIGHT = 0.95;
const SPECIALIST_WRONG_HALF = 0.15;
const PER_CLASS_EXPERTS = [
  { role: 'first', cost: 0.0005 },
  { role: 'second', cost: 0.0008 },
  { role: 'medium', cost: 0.004, right: 0.85 },
  { role: 'large', cost: 0.02, right: 0.95 },
] as const;

/** Indices a..b as "a–b", or "a" when a = b. */
const indexRange = (from: number, to: number, dash = '–') =>
  from === to ? `${from}` : `${from}${dash}${to}`;

/**
 * A setting on a public dataset: its real contexts, encoded with the feature spec part 2 uses for it,
 * and the per-class pool above. A seed's stream is `max(rounds, rows)` tasks, drawn by cycling through
 * seeded reshuffles of the rows (each pass a new shuffle; the last pass cut short): small sets are
 * too short for a bandit to learn costs in one pass. Correctness is drawn once per (seed, task,
 * expert): a row seen again in a later pass gets fresh draws, and every router of a seed faces the
 * same outcomes.
 */
export const perClassPool = (dataset: Dataset, rounds: number): CostSetting => {
  const encoder = createContextEncoder(dataset.features);
  const xs = dataset.rows.map((r) => toSparse(encoder.encode(r.context)));
  const labels = Int32Array.from(dataset.rows.map((r) => r.label));
  const classes = dataset.classes.length;
  const firstHalf = Math.ceil(classes / 2);
  const inFirst = (label: number) => label < firstHalf;
  const n = Math.max(rounds, xs.length);
  const passes = Math.ceil(n / xs.length);
  const k = PER_CLASS_EXPERTS.length;
  const halves = [
    { from: 0, to: firstHalf - 1 },
    { from: firstHalf, to: classes - 1 },
  ];
  const half = (h: { from: number; to: number }) =>
    `${indexRange(h.from, h.to)} (${dataset.classes.slice(h.from, h.to + 1).join(', ')})`;
  const ids = [
    `classes-${indexRange(0, firstHalf - 1, '-')}`,
    `classes-${indexRange(firstHalf, classes - 1, '-')}`,
    'medium',
    'large',
  ];
  /** P(expert e right) on a task of this true class. */
  const right = PER_CLASS_EXPERTS.map((e, j) => (label: number) => {
    if ('right' in e) return e.right;
    return inFirst(label) === (j === 0) ? SPECIALIST_RIGHT : SPECIALIST_WRONG_HALF;
  });
  const counts = dataset.classes.map((_, c) => labels.filter((l) => l === c).length);
  const pct = (v: number) => `${Math.round(v * 100)} %`;
  return {
    id: dataset.name,
    name: `${dataset.name}, costs attached`,
    description:
      `${n} tasks a seed: ${passes === 1 ? 'one pass over' : `${passes} passes over`} the ${xs.length} real rows, ` +
      `${passes === 1 ? 'a seeded shuffle' : 'each pass a new seeded shuffle (the last cut short)'} (${dataset.source}; ${dataset.notes}, the encoding of part 2); ` +
      `specialists split the ${classes} classes by index, the first ⌈${classes}/2⌉ = ${firstHalf} and the rest; ` +
      'correctness simulated per true class, drawn once per (seed, task, expert) (the experts are not real classifiers)',
    experts: PER_CLASS_EXPERTS.map((e, j) => benchExpert(ids[j] as string, e.cost)),
    profiles: [
      `right ${pct(SPECIALIST_RIGHT)} on classes ${half(halves[0] as { from: number; to: number })}, ${pct(SPECIALIST_WRONG_HALF)} on the others`,
      `right ${pct(SPECIALIST_RIGHT)} on classes ${half(halves[1] as { from: number; to: number })}, ${pct(SPECIALIST_WRONG_HALF)} on the others`,
      `right ${pct(0.85)} on every class`,
      `right ${pct(0.95)} on every class`,
    ].map((p, i) => `${p}, $${PER_CLASS_EXPERTS[i]?.cost} a call`),
    groupNames: dataset.classes.map(
      (c, i) =>
        `${c === String(i) ? `class ${i}` : `class ${i} (${c})`}, ${pct((counts[i] as number) / xs.length)} of rows`,
    ),
    dimension: dataset.features.dimension,
    rounds: n,
    targetUsdPer1000Tasks: 3,
    stream: {
      rows: xs.length,
      passes,
      specialistClasses: halves.map((h) => dataset.classes.slice(h.from, h.to + 1)),
    },
    world: (seed) => {
      const rng = mulberry32(seed);
      // Every pass's shuffle first, then the outcomes (one pass draws exactly as the mnist-only
      // setting did before, so its figures carry over).
      const order = new Int32Array(n);
      for (let pass = 0; pass < passes; pass += 1) {
        const shuffle = Int32Array.from({ length: xs.length }, (_, i) => i);
        for (let i = shuffle.length - 1; i > 0; i -= 1) {
          const j = Math.floor(rng() * (i + 1));
          const tmp = shuffle[i] as number;
          shuffle[i] = shuffle[j] as number;
          shuffle[j] = tmp;
        }
        const at = pass * xs.length;
        order.set(shuffle.subarray(0, Math.min(xs.length, n - at)), at);
      }
      const correct = new Uint8Array(n * k);
      const groups = new Int32Array(n);
      order.forEach((row, t) => {
        const label = labels[row] as number;
        groups[t] = label;
        right.forEach((p, j) => {
          correct[t * k + j] = rng() < p(label) ? 1 : 0;
        });
      });
      return { xs: Array.from(order, (row) => xs[row] as SparseVector), correct, groups };
    },
  };
};

// ---------------------------------------------------------------------------------------------
// The routing loop.

export interface RouterRun {
  readonly rounds: number;
  readonly successes: number;
  readonly costUsd: number;
  readonly secondHalfRounds: number;
  readonly secondHalfSuccesses: number;
  readonly secondHalfCostUsd: number;
  /** The first EARLY_ROUNDS decisions (the controller starting from λ = 0). */
  readonly earlyRounds: number;
  readonly earlyCostUsd: number;
  /** Picks per expert (setting order). */
  readonly picks: readonly number[];
  /** λ of the last decision (reward units per USD); 0 without an objective. */
  readonly finalLambda: number;
  /**
   * Successes the candidate of highest quality estimate would have had, decision by decision (the
   * world knows every expert's outcome): what the router's own best pick was worth. `successes` is
   * below it by what picking another (exploration, the objective's cheaper pick) gave up.
   */
  readonly bestEstimateSuccesses: number;
}

/** How many of the first decisions `earlyCostUsd` covers. */
export const EARLY_ROUNDS = 1000;

/** Progressive validation with the objective applied at decision time, as the router does. */
export const runRouted = (
  strategy: Strategy<ModelState>,
  setting: CostSetting,
  world: World,
  objective: ObjectiveSettings | undefined,
  rng: Rng,
): RouterRun => {
  const ids = setting.experts.map((e) => e.id);
  const costs = setting.experts.map((e) => e.costPerCallUsd);
  const indexOf = new Map(ids.map((id, i) => [id, i]));
  const k = ids.length;
  const observed = new ObservedCosts();
  const controller = new ObjectiveController();
  const rounds = world.xs.length;
  const half = Math.floor(rounds / 2);
  const picks = ids.map(() => 0);
  let state = strategy.initialState();
  let successes = 0;
  let costUsd = 0;
  let secondHalfSuccesses = 0;
  let secondHalfCostUsd = 0;
  let earlyCostUsd = 0;
  let finalLambda = 0;
  let bestEstimateSuccesses = 0;
  for (let t = 0; t < rounds; t += 1) {
    const x = world.xs[t] as SparseVector;
    const decision = objective
      ? objectiveDecision(BENCH_TENANT, objective, setting.experts, observed, controller)
      : undefined;
    const selection = strategy.select(ids, x, state, rng, decision?.penalty);
    const { expertId } = selection;
    const index = indexOf.get(expertId) as number;
    const cost = costs[index] as number;
    if (decision) {
      finalLambda = decision.lambda;
      controller.observe(BENCH_TENANT, objective as ObjectiveSettings, {
        costUsd: decision.termsOf(expertId)?.costUsd ?? cost,
        qualityGap: qualityGapOf(selection, qualitySdOf(selection.strategy, DEFAULT_POSTERIOR_SCALE)),
      });
      // What invoke mode reports back: the call's cost (here the declared price).
      observed.observe(BENCH_TENANT, expertId, { costUsd: cost });
    }
    const reward = world.correct[t * k + index] as number;
    let best = selection.perCandidate[0];
    for (const candidate of selection.perCandidate)
      if (candidate.estimate > (best?.estimate ?? -Infinity)) best = candidate;
    bestEstimateSuccesses += world.correct[
      t * k + (indexOf.get(best?.expertId ?? expertId) as number)
    ] as number;
    picks[index] = (picks[index] as number) + 1;
    successes += reward;
    costUsd += cost;
    if (t < EARLY_ROUNDS) earlyCostUsd += cost;
    if (t >= half) {
      secondHalfSuccesses += reward;
      secondHalfCostUsd += cost;
    }
    state = strategy.update(state, expertId, x, reward);
  }
  return {
    rounds,
    successes,
    costUsd,
    secondHalfRounds: rounds - half,
    secondHalfSuccesses,
    secondHalfCostUsd,
    earlyRounds: Math.min(EARLY_ROUNDS, rounds),
    earlyCostUsd,
    picks,
    finalLambda,
    bestEstimateSuccesses,
  };
};

/**
 * The full-information ceiling of the objective: a per-expert online ridge model (the model LinUCB
 * learns, α = 0) on the same encoded features, fed **every** expert's outcome every round
 * (progressive validation: each task is routed before anything is learnt from it), routing greedily
 * by estimate − λ·cost (declared price; ties: the first in setting order, the cheapest). What it
 * learns does not depend on what it routes, so one learner a world serves every λ: one run per λ,
 * in `lambdas` order, from a single pass.
 */
export const runFullInformation = (
  setting: CostSetting,
  world: World,
  lambdas: readonly number[],
  ridgeLambda: number,
  rng: Rng,
): RouterRun[] => {
  const ridge = createLinUcb({ dimension: setting.dimension, alpha: 0, lambda: ridgeLambda });
  const ids = setting.experts.map((e) => e.id);
  const costs = setting.experts.map((e) => e.costPerCallUsd);
  const k = ids.length;
  const m = lambdas.length;
  const rounds = world.xs.length;
  const half = Math.floor(rounds / 2);
  const successes = new Float64Array(m);
  const costUsd = new Float64Array(m);
  const secondHalfSuccesses = new Float64Array(m);
  const secondHalfCostUsd = new Float64Array(m);
  const earlyCostUsd = new Float64Array(m);
  const picks = lambdas.map(() => new Float64Array(k));
  const estimates = new Float64Array(k);
  let bestEstimateSuccesses = 0;
  let state = ridge.initialState();
  for (let t = 0; t < rounds; t += 1) {
    const x = world.xs[t] as SparseVector;
    const { perCandidate } = ridge.select(ids, x, state, rng);
    let bestEstimate = 0;
    perCandidate.forEach((c, a) => {
      estimates[a] = c.estimate;
      if (c.estimate > (estimates[bestEstimate] as number)) bestEstimate = a;
    });
    bestEstimateSuccesses += world.correct[t * k + bestEstimate] as number;
    for (let l = 0; l < m; l += 1) {
      const lambda = lambdas[l] as number;
      let best = 0;
      let bestScore = Number.NEGATIVE_INFINITY;
      for (let a = 0; a < k; a += 1) {
        const score = (estimates[a] as number) - lambda * (costs[a] as number);
        if (score > bestScore) {
          bestScore = score;
          best = a;
        }
      }
      const reward = world.correct[t * k + best] as number;
      const cost = costs[best] as number;
      const p = picks[l] as Float64Array;
      p[best] = (p[best] as number) + 1;
      successes[l] = (successes[l] as number) + reward;
      costUsd[l] = (costUsd[l] as number) + cost;
      if (t < EARLY_ROUNDS) earlyCostUsd[l] = (earlyCostUsd[l] as number) + cost;
      if (t >= half) {
        secondHalfSuccesses[l] = (secondHalfSuccesses[l] as number) + reward;
        secondHalfCostUsd[l] = (secondHalfCostUsd[l] as number) + cost;
      }
    }
    for (let a = 0; a < k; a += 1)
      state = ridge.update(state, ids[a] as string, x, world.correct[t * k + a] as number);
  }
  return lambdas.map((lambda, l) => ({
    rounds,
    successes: successes[l] as number,
    costUsd: costUsd[l] as number,
    secondHalfRounds: rounds - half,
    secondHalfSuccesses: secondHalfSuccesses[l] as number,
    secondHalfCostUsd: secondHalfCostUsd[l] as number,
    earlyRounds: Math.min(EARLY_ROUNDS, rounds),
    earlyCostUsd: earlyCostUsd[l] as number,
    picks: Array.from(picks[l] as Float64Array),
    finalLambda: lambda,
    bestEstimateSuccesses,
  }));
};

/** A fixed choice of one expert over the world: its successes (the cost is its price × rounds). */
export const fixedSuccesses = (world: World, k: number, index: number): number => {
  let total = 0;
  for (let t = 0; t < world.xs.length; t += 1) total += world.correct[t * k + index] as number;
  return total;
};

/** Success rate of each expert on each task group (the profile as realised in one world). */
export const groupProfile = (setting: CostSetting, world: World): number[][] => {
  const k = setting.experts.length;
  const counts = setting.groupNames.map(() => 0);
  const rights = setting.groupNames.map(() => setting.experts.map(() => 0));
  world.groups.forEach((g, t) => {
    counts[g] = (counts[g] as number) + 1;
    const row = rights[g] as number[];
    for (let j = 0; j < k; j += 1) row[j] = (row[j] as number) + (world.correct[t * k + j] as number);
  });
  return rights.map((row, g) => row.map((r) => r / Math.max(1, counts[g] as number)));
};
