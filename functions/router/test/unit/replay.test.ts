import { describe, expect, it } from 'vitest';
import {
  applyRewards,
  createStrategy,
  loadModelState,
  type ModelState,
  mulberry32,
  type Rng,
  type SparseVectorJson,
  type StrategyConfig,
  sparseFromJson,
  toStoredModelState,
} from '../../src/domain/bandits/index.js';
import { OffPolicyInputError } from '../../src/domain/off-policy.js';
import {
  compareReplay,
  type LoggedDecision,
  type ReplayPolicy,
  replayEstimate,
  replaySamples,
} from '../../src/domain/replay.js';

/**
 * A simulated tenant whose truth is known: three segments of traffic (50 / 30 / 20 %), encoded as an
 * intercept and a one-hot segment (d = 4), three experts with a known Bernoulli reward mean per
 * (segment, expert) — each segment has another best expert. The logging policy is ε-greedy (ε = 0.3)
 * on running means learnt from uniformly random traffic: context-free, it serves the best expert
 * overall (alpha) with propensity 0.8 and the others with 0.1. The target is LinUCB on a ridge state
 * learnt from other random traffic: deterministic, and per segment it serves that segment's best.
 */
const EXPERTS = ['alpha', 'beta', 'gamma'] as const;
const SEGMENT_SHARES = [0.5, 0.3, 0.2] as const;
const MEAN_REWARD: readonly (readonly number[])[] = [
  [0.7, 0.4, 0.3],
  [0.3, 0.6, 0.4],
  [0.2, 0.3, 0.8],
];
const DIMENSION = 4;

const featuresOf = (segment: number): SparseVectorJson => ({
  dimension: DIMENSION,
  indices: [0, 1 + segment],
  values: [1, 1],
});

const segmentOf = (rng: Rng): number => {
  const u = rng();
  return u < SEGMENT_SHARES[0] ? 0 : u < SEGMENT_SHARES[0] + SEGMENT_SHARES[1] ? 1 : 2;
};

const rewardOf = (rng: Rng, segment: number, expertId: string): number =>
  rng() < (MEAN_REWARD[segment]?.[EXPERTS.indexOf(expertId as (typeof EXPERTS)[number])] ?? 0) ? 1 : 0;

/** A state of `config` learnt from `n` uniformly random routes. */
const learnt = (config: StrategyConfig, n: number, seed: number): ModelState => {
  const strategy = createStrategy(config, DIMENSION);
  const rng = mulberry32(seed);
  const rewards = Array.from({ length: n }, () => {
    const segment = segmentOf(rng);
    const expertId = EXPERTS[Math.floor(rng() * EXPERTS.length)] as string;
    return { expertId, x: sparseFromJson(featuresOf(segment)), reward: rewardOf(rng, segment, expertId) };
  });
  return applyRewards(strategy, strategy.initialState(), rewards);
};

const EPSILON_GREEDY: StrategyConfig = { strategy: 'epsilon-greedy', epsilon: 0.3 };
const LINUCB: StrategyConfig = { strategy: 'linucb', alpha: 0.5 };
const LOGGING: ReplayPolicy = {
  strategy: EPSILON_GREEDY,
  dimension: DIMENSION,
  state: learnt(EPSILON_GREEDY, 600, 11),
};
const TARGET: ReplayPolicy = { strategy: LINUCB, dimension: DIMENSION, state: learnt(LINUCB, 600, 12) };
/** Static on `expertId`, with the tenant's running means (its estimates are DR's reward model). */
const staticOn = (expertId: string): ReplayPolicy => ({
  strategy: { strategy: 'static', defaultExpertId: expertId },
  dimension: DIMENSION,
  state: LOGGING.state,
});

/** `n` decisions logged by `logging` as routing.ts logs them (its select on a seeded generator). */
const logsOf = (logging: ReplayPolicy, n: number, seed: number): LoggedDecision[] => {
  const strategy = createStrategy(logging.strategy, logging.dimension);
  const state = logging.state ?? strategy.initialState();
  const rng = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    const segment = segmentOf(rng);
    const features = featuresOf(segment);
    const decisionSeed = Math.floor(rng() * 2 ** 32) >>> 0;
    const selection = strategy.select(EXPERTS, sparseFromJson(features), state, mulberry32(decisionSeed));
    return {
      taskId: `task-${seed}-${i}`,
      candidates: EXPERTS,
      features,
      expertId: selection.expertId,
      propensity: selection.propensity,
      reward: rewardOf(rng, segment, selection.expertId),
      seed: decisionSeed,
    };
  });
};

/** The exact value of a policy: Σ_segment share × Σ_expert π(expert | segment) × mean reward. */
const trueValueOf = (policy: ReplayPolicy): number => {
  const strategy = createStrategy(policy.strategy, policy.dimension);
  const state = policy.state ?? strategy.initialState();
  return SEGMENT_SHARES.reduce((sum, share, segment) => {
    const { perCandidate } = strategy.select(
      EXPERTS,
      sparseFromJson(featuresOf(segment)),
      state,
      mulberry32(0),
    );
    return (
      sum + share * perCandidate.reduce((s, c, e) => s + c.probability * (MEAN_REWARD[segment]?.[e] ?? 0), 0)
    );
  }, 0);
};

/** The probabilities a policy gives the experts in each segment. */
const probabilitiesOf = (policy: ReplayPolicy): number[][] => {
  const strategy = createStrategy(policy.strategy, policy.dimension);
  const state = policy.state ?? strategy.initialState();
  return SEGMENT_SHARES.map((_, segment) =>
    strategy
      .select(EXPERTS, sparseFromJson(featuresOf(segment)), state, mulberry32(0))
      .perCandidate.map((c) => c.probability),
  );
};

describe('replay of a deterministic target on ε-greedy logs, where the truth is known', () => {
  const RUNS = 200;
  const N = 1_000;
  const truth = trueValueOf(TARGET);
  const alpha = staticOn('alpha');
  const gain = truth - trueValueOf(alpha);
  const logs = Array.from({ length: RUNS }, (_, run) => logsOf(LOGGING, N, 5_000 + run));
  const runs = logs.map((logged) => replayEstimate(logged, TARGET));
  const comparisons = logs.map((logged) => compareReplay(logged, alpha, TARGET));
  const covered = (pick: (e: (typeof runs)[number]) => { low: number; high: number } | undefined): number =>
    runs.filter((e) => {
      const ci = pick(e);
      return ci !== undefined && ci.low <= truth && truth <= ci.high;
    }).length / RUNS;
  const meanAbsoluteError = (pick: (e: (typeof runs)[number]) => number | undefined): number =>
    runs.reduce((sum, e) => sum + Math.abs((pick(e) ?? Number.NaN) - truth), 0) / RUNS;

  it('simulates what it claims: the target serves each segment its best expert, the logger mostly alpha', () => {
    // Arrange
    const best = MEAN_REWARD.map((row) => row.indexOf(Math.max(...row)));

    // Act
    const target = probabilitiesOf(TARGET);
    const logging = probabilitiesOf(LOGGING);

    // Assess
    expect(target.map((row) => row.indexOf(1))).toEqual(best);
    expect(target.flat().every((p) => p === 0 || p === 1)).toBe(true);
    for (const row of logging) expect(row).toEqual([0.8, 0.1, 0.1].map((p) => expect.closeTo(p, 12)));
    expect(truth).toBeCloseTo(0.5 * 0.7 + 0.3 * 0.6 + 0.2 * 0.8, 12);
  });

  it('puts the true value inside the 95 % interval of DR and of SNIPS in at least 90 % of 200 runs', () => {
    // Act
    const coverage = {
      doublyRobust: covered((e) => e.doublyRobust),
      snips: covered((e) => e.snips),
      ips: covered((e) => e.ips),
    };

    // Assess
    // Measured: DR 0.96, SNIPS 0.95 (IPS 0.935).
    const report = `coverage over ${RUNS} runs of ${N}: ${JSON.stringify(coverage)}`;
    expect(coverage.doublyRobust, report).toBeGreaterThanOrEqual(0.9);
    expect(coverage.snips, report).toBeGreaterThanOrEqual(0.9);
  });

  it('gives DR a lower mean absolute error than IPS on the same logs', () => {
    // Act
    const errors = {
      doublyRobust: meanAbsoluteError((e) => e.doublyRobust?.value),
      snips: meanAbsoluteError((e) => e.snips.value),
      ips: meanAbsoluteError((e) => e.ips.value),
    };

    // Assess
    // Measured: DR 0.028, SNIPS 0.028, IPS 0.049.
    const report = `mean absolute error over ${RUNS} runs: ${JSON.stringify(errors)}`;
    expect(errors.doublyRobust, report).toBeLessThan(errors.ips);
  });

  it('covers the true gain over static alpha with the paired interval, and passes the target in every run', () => {
    // Act
    const coverage =
      comparisons.filter((c) => c.difference.low <= gain && gain <= c.difference.high).length / RUNS;
    const passed = comparisons.filter((c) => c.passed).length;

    // Assess
    // Measured: 0.965, passed 200 of 200.
    const report = `paired difference coverage over ${RUNS} runs: ${coverage}, passed ${passed}`;
    expect(gain).toBeCloseTo(0.69 - 0.48, 12);
    expect(coverage, report).toBeGreaterThanOrEqual(0.9);
    expect(passed, report).toBe(RUNS);
  });
});

describe('replaySamples', () => {
  it('replays the logging policy itself at weight 1: SNIPS is the observed mean reward, ESS = n', () => {
    const thompson: StrategyConfig = { strategy: 'thompson', likelihood: 'bernoulli' };
    const loggers: ReplayPolicy[] = [
      LOGGING,
      { strategy: thompson, dimension: DIMENSION, state: learnt(thompson, 300, 13) },
    ];
    for (const logger of loggers) {
      // Arrange
      const logs = logsOf(logger, 500, 21);
      const observedMean = logs.reduce((sum, d) => sum + d.reward, 0) / logs.length;

      // Act
      const samples = replaySamples(logs, logger);
      const estimates = replayEstimate(logs, logger);

      // Assess
      const name = logger.strategy.strategy;
      expect(
        samples.every((s) => s.targetProbability === s.propensity),
        name,
      ).toBe(true);
      expect(estimates.snips.value, name).toBeCloseTo(observedMean, 12);
      expect(estimates.ips.value, name).toBeCloseTo(observedMean, 12);
      expect(estimates.effectiveSampleSize, name).toBeCloseTo(logs.length, 9);
      expect(estimates.maxWeight, name).toBe(1);
    }
  });

  it('gives a deterministic strategy probability 1 or 0, and 1/|ties| on an exact tie whatever the seed', () => {
    // Arrange: 60 logs; static serves beta; LinUCB and greedy with no data tie every expert.
    const logs = logsOf(LOGGING, 60, 31);

    // Act
    const onStatic = replaySamples(logs, staticOn('beta'));
    const onTarget = replaySamples(logs, TARGET);
    const freshLinUcb = replaySamples(logs, { strategy: LINUCB, dimension: DIMENSION });
    const freshGreedy = replaySamples(logs, { strategy: { strategy: 'greedy' }, dimension: DIMENSION });

    // Assess
    expect(onStatic.map((s) => s.targetProbability)).toEqual(
      logs.map((d) => (d.expertId === 'beta' ? 1 : 0)),
    );
    const bestOf = (d: LoggedDecision) => EXPERTS[(d.features.indices[1] ?? 1) - 1];
    expect(onTarget.map((s) => s.targetProbability)).toEqual(
      logs.map((d) => (d.expertId === bestOf(d) ? 1 : 0)),
    );
    expect(freshLinUcb.every((s) => s.targetProbability === 1 / 3)).toBe(true);
    expect(freshGreedy.every((s) => s.targetProbability === 1 / 3)).toBe(true);
  });

  it("takes the reward model from the policy's estimates: q̂(x, a) of the logged expert, q̂(x, π) of its pick", () => {
    // Arrange
    const logs = logsOf(LOGGING, 30, 41);
    const strategy = createStrategy(LINUCB, DIMENSION);

    // Act
    const samples = replaySamples(logs, TARGET);

    // Assess
    samples.forEach((sample, i) => {
      const decision = logs[i] as LoggedDecision;
      const { perCandidate } = strategy.select(
        EXPERTS,
        sparseFromJson(decision.features),
        TARGET.state as ModelState,
        mulberry32(decision.seed),
      );
      const estimateOf = (id: string) => perCandidate.find((c) => c.expertId === id)?.estimate;
      const pick = perCandidate.find((c) => c.probability === 1);
      expect(sample.predicted).toBe(estimateOf(decision.expertId));
      expect(sample.predictedUnderTarget).toBeCloseTo(pick?.estimate ?? Number.NaN, 12);
    });
  });

  it('gives the same samples for the same inputs, a deserialised Thompson state included', () => {
    // Arrange
    const thompson: StrategyConfig = { strategy: 'thompson', likelihood: 'bernoulli' };
    const state = learnt(thompson, 300, 14);
    const copy = loadModelState(JSON.parse(JSON.stringify(toStoredModelState(state))));
    const onThompson: ReplayPolicy = { strategy: thompson, dimension: DIMENSION, state };
    const logs = logsOf(LOGGING, 200, 51);

    // Act
    const first = [TARGET, onThompson].map((policy) => replaySamples(logs, policy));
    const second = [TARGET, onThompson].map((policy) => replaySamples(structuredClone(logs), { ...policy }));
    const fromCopy = replaySamples(logs, { ...onThompson, state: copy });

    // Assess
    expect(second).toEqual(first);
    expect(fromCopy).toEqual(first[1]);
    // Thompson's Monte Carlo probabilities are not all 0 or 1: the check compares real figures.
    expect(first[1]?.some((s) => s.targetProbability > 0 && s.targetProbability < 1)).toBe(true);
  });

  it('refuses no decisions, and names a decision whose logged expert is not among its candidates', () => {
    // Arrange
    const [decision] = logsOf(LOGGING, 1, 61) as [LoggedDecision];
    const stranger = { ...decision, taskId: 'task-stranger', expertId: 'delta' };

    // Act / Assess
    expect(() => replaySamples([], TARGET)).toThrow(OffPolicyInputError);
    expect(() => replayEstimate([], TARGET)).toThrow(/no logged decisions/);
    expect(() => compareReplay([], TARGET, LOGGING)).toThrow(OffPolicyInputError);
    expect(() => replaySamples([decision, stranger], TARGET)).toThrow(OffPolicyInputError);
    expect(() => replaySamples([decision, stranger], TARGET)).toThrow(/task-stranger.*delta/);
  });

  it('refuses a logged propensity, reward, seed or features it cannot replay, naming the decision', () => {
    // Arrange
    const [decision] = logsOf(LOGGING, 1, 71) as [LoggedDecision];
    const bad: LoggedDecision[] = [
      { ...decision, propensity: 0 },
      { ...decision, propensity: 1.2 },
      { ...decision, reward: Number.NaN },
      { ...decision, seed: -1 },
      { ...decision, features: { dimension: DIMENSION, indices: [2, 1], values: [1, 1] } },
      { ...decision, features: { dimension: 8, indices: [0], values: [1] } },
    ];

    // Act / Assess
    for (const logged of bad)
      expect(() => replaySamples([logged], TARGET)).toThrow(new RegExp(`${decision.taskId}`));
    expect(() => replaySamples([bad[0] as LoggedDecision], TARGET)).toThrow(OffPolicyInputError);
  });
});

describe('compareReplay', () => {
  const logs = logsOf(LOGGING, 3_000, 81);
  const alpha = staticOn('alpha');
  const gamma = staticOn('gamma');

  it('passes a clearly better candidate and fails a clearly worse one', () => {
    // Act: true values static alpha 0.48, the target 0.69, static gamma 0.43.
    const better = compareReplay(logs, alpha, TARGET);
    const worse = compareReplay(logs, TARGET, gamma);

    // Assess
    expect(better.estimator).toBe('doubly-robust');
    expect(better.passed).toBe(true);
    expect(better.difference.low).toBeGreaterThan(0);
    expect(worse.passed).toBe(false);
    expect(worse.difference.high).toBeLessThan(0);
    // Paired: the difference is the difference of the two DR estimates, with a narrower interval.
    expect(better.difference.value).toBeCloseTo(
      (better.candidate.doublyRobust?.value ?? 0) - (better.baseline.doublyRobust?.value ?? 0),
      12,
    );
    const sideBySide = Math.hypot(
      better.candidate.doublyRobust?.standardError ?? 0,
      better.baseline.doublyRobust?.standardError ?? 0,
    );
    expect(better.difference.standardError).toBeLessThan(sideBySide);
  });

  it('respects the margin: passed exactly when the difference is above −margin', () => {
    // Arrange: gamma is 0.05 worse than alpha (0.43 against 0.48).
    const margins = [0, 0.02, 0.05, 0.1, 0.2];

    // Act
    const comparisons = margins.map((margin) => compareReplay(logs, alpha, gamma, { margin }));

    // Assess
    for (const comparison of comparisons)
      expect(comparison.passed, `margin ${comparison.margin}`).toBe(
        comparison.difference.low >= -comparison.margin,
      );
    expect(new Set(comparisons.map((c) => c.difference.low)).size).toBe(1);
    expect(comparisons[0]?.passed).toBe(false);
    expect(comparisons.at(-1)?.passed).toBe(true);
    expect(() => compareReplay(logs, alpha, gamma, { margin: -0.1 })).toThrow(OffPolicyInputError);
  });

  it('widens the difference interval with the confidence asked for', () => {
    // Act
    const at90 = compareReplay(logs, alpha, gamma, { confidence: 0.9 });
    const at99 = compareReplay(logs, alpha, gamma, { confidence: 0.99 });

    // Assess
    expect(at99.difference.value).toBe(at90.difference.value);
    expect(at99.difference.low).toBeLessThan(at90.difference.low);
    expect(at99.difference.high).toBeGreaterThan(at90.difference.high);
  });
});
