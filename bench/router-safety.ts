/**
 * `npm run bench:router-safety` — what the router's experiment safety nets cost and how fast they act
 * (M1 part 2: shadow, replay, canary rollback).
 *
 * 1. Shadow overhead, over HTTP on the embedded runtime in its own process
 *    (bench/servers/router-safety.ts: memory, throttles out of the way, 4 experts for tenant acme, an
 *    operator and a step-up admin token). Baseline LinUCB (the default, d = 32), candidate Thompson
 *    (Beta-Bernoulli); both models learn 600 rewards of routes the shadow evaluated first, so the
 *    shadow decides on a stored state of its own. Three configurations: no experiment,
 *    shadow at 0 %, shadow at 100 %; `POST /router/route` open loop at 100 and at 150 req/s, unique
 *    taskIds, small random contexts, in 5 interleaved rounds of 2 s per configuration (the order
 *    rotated each round; each chunk after its PUT /router/config and 0.5 s of discarded routes), so
 *    drift hits all three alike. p50/p95/p99 and the runtime's CPU per route (its own process.cpuUsage,
 *    lib/probe.ts). Shadow overhead = p95(shadow 100 %) / p95(shadow 0 %).
 * 2. Replay, in process (functions/router/src/domain/replay.ts): logged decisions evaluated per second
 *    by `replayEstimate` and `compareReplay` on 10k and 100k simulated logs (4 experts, task-like
 *    contexts encoded at d = 32, logged by ε-greedy) for LinUCB at d = 32 and for Thompson
 *    (context-free), next to the strategies' bare `select` on the same decisions (the baseline,
 *    same run). Then the estimators against a known truth: 200 runs of 2,000 logs of a simulated
 *    tenant (6 segments one-hot at d = 32, 4 experts, known Bernoulli means, an ε-greedy logger):
 *    mean absolute error of IPS, SNIPS and DR and how often their 95 % interval holds the true value,
 *    for both targets, and the paired comparison's coverage of the true difference.
 * 3. Rollback time: a canary at 10 % sticky by user (candidate Thompson, rollback rule minOutcomes
 *    20, the default 5 % / 1 % / 300 s), 300 routes of distinct users, every baseline task's outcome
 *    `ok`, then the candidate's outcomes `error` one at a time. From sending the 20th (whose answer
 *    says `canary: "rolled_back"`) to the first answer served by the baseline to a user the candidate
 *    served (probe routes sent back to back from the same instant), on the wall clock; 5 times, a new
 *    experiment name each. Under the controllable clock the watch acts on the outcome itself, so the
 *    simulated delay is 0 s by construction; a paced run then spreads the candidate's errors 15 s
 *    apart on that clock (advanceClock) to show a whole failure, first error to rollback, inside the
 *    requirement: within one window plus one minute (360 s with the default 300 s window).
 * Targets: route p95 < 250 ms with shadow at 100 % (the router's requirement); shadow overhead
 * <= 1.25x (this benchmark's own bound: a shadow decision is one more in-memory decision next to
 * milliseconds of route work); replay 95 % intervals of SNIPS and DR cover the truth in >= 90 % of runs
 * and DR's error is below IPS's (as test/unit/replay.test.ts); rollback within 360 s. Replay
 * throughput has no target (information). `BENCH_STRICT=1` exits 1 on a FAIL.
 */

import { fileURLToPath } from 'node:url';
import {
  applyRewards,
  type Context,
  createContextEncoder,
  createStrategy,
  type ModelState,
  mulberry32,
  type Rng,
  type SparseVector,
  type SparseVectorJson,
  type StrategyConfig,
  sparseFromJson,
  sparseToJson,
} from '../functions/router/src/domain/bandits/index.js';
import {
  compareReplay,
  type LoggedDecision,
  type ReplayPolicy,
  replayEstimate,
  replaySamples,
} from '../functions/router/src/domain/replay.js';
import { startServerChild } from './lib/child.js';
import { checkQuiet, machine, machineCpu } from './lib/machine.js';
import { openLoopPost, type PostTarget } from './lib/post.js';
import { mergeProbeStats, type ProbeStats } from './lib/probe.js';
import { writeResult } from './lib/results.js';
import { fixed, round, type Summary, summarize, table, verdict } from './lib/stats.js';

const log = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let seed = 11;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};
const LANGUAGES = ['ts', 'go', 'py', 'rust', 'java'];
const TIERS = ['free', 'pro', 'gold'];
/** The same small contexts as bench:router-http. */
const smallContextOf = (next: () => number): Context => ({
  language: LANGUAGES[Math.floor(next() * LANGUAGES.length)] as string,
  tokens: Math.floor(next() * 4000),
  urgent: next() < 0.2,
  tier: TIERS[Math.floor(next() * TIERS.length)] as string,
});
const smallContext = () => smallContextOf(random);

interface Ready {
  url: string;
  admin: string;
  operator: string;
  expertIds: string[];
}

const REQUIREMENT_P95_MS = 250;
const SHADOW_OVERHEAD_BOUND = 1.25;
const COVERAGE_FLOOR = 0.9;
/** One rollback window (the default 300 s) plus one minute. */
const ROLLBACK_BOUND_S = 300 + 60;

const BASELINE_STRATEGY = 'linucb';
const CANDIDATE = { strategy: 'thompson', likelihood: 'bernoulli' } as const;

const roundSummary = (s: Summary) =>
  Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v as number, 2)])) as Record<string, number>;

/** Open-loop POST load (bench/lib/post.ts), keeping every latency: interleaved chunks pool into one distribution. */
const openLoopRaw = async (next: () => PostTarget, rate: number, seconds: number) => {
  const { sent, latencies, errors } = await openLoopPost(next, rate, seconds);
  return { sent, latencies, errors };
};

/** Runs `work` over `items`, `concurrency` at a time, results in order. */
const pool = async <T, R>(items: readonly T[], concurrency: number, work: (item: T) => Promise<R>) => {
  const results: R[] = new Array(items.length);
  let nextIndex = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (nextIndex < items.length) {
        const index = nextIndex++;
        results[index] = await work(items[index] as T);
      }
    }),
  );
  return results;
};

const median = (values: readonly number[]) => summarize(values).p50;

// ---------------------------------------------------------------------------------------------
// Part 2: replay, in process.

const EXPERTS = ['e0', 'e1', 'e2', 'e3'] as const;
const D = 32;

/** Median seconds of `runs` calls of `work` (after one discarded call). */
const timed = (work: () => unknown, runs: number): number => {
  work();
  const times: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    work();
    times.push((performance.now() - started) / 1000);
  }
  return median(times);
};

/** A state of `config` learnt from `n` uniformly random routes of the simulated traffic. */
const learnt = (
  config: StrategyConfig,
  n: number,
  rng: Rng,
  draw: (rng: Rng) => { x: SparseVector; meanOf: (expert: number) => number },
): ModelState => {
  const strategy = createStrategy(config, D);
  const rewards = Array.from({ length: n }, () => {
    const { x, meanOf } = draw(rng);
    const expert = Math.floor(rng() * EXPERTS.length);
    return { expertId: EXPERTS[expert] as string, x, reward: rng() < meanOf(expert) ? 1 : 0 };
  });
  return applyRewards(strategy, strategy.initialState(), rewards);
};

/** `n` decisions logged by `logger` as routing.ts logs them (its select on a seeded generator). */
const logsOf = (
  logger: ReplayPolicy,
  n: number,
  rng: Rng,
  draw: (rng: Rng) => { x: SparseVector; features: SparseVectorJson; meanOf: (expert: number) => number },
): LoggedDecision[] => {
  const strategy = createStrategy(logger.strategy, logger.dimension);
  const state = logger.state ?? strategy.initialState();
  return Array.from({ length: n }, (_, i) => {
    const { x, features, meanOf } = draw(rng);
    const decisionSeed = Math.floor(rng() * 2 ** 32) >>> 0;
    const selection = strategy.select(EXPERTS, x, state, mulberry32(decisionSeed));
    const mean = meanOf(EXPERTS.indexOf(selection.expertId as (typeof EXPERTS)[number]));
    return {
      taskId: `task-${i}`,
      candidates: EXPERTS,
      features,
      expertId: selection.expertId,
      propensity: selection.propensity,
      reward: rng() < mean ? 1 : 0,
      seed: decisionSeed,
    };
  });
};

const EPSILON_GREEDY: StrategyConfig = { strategy: 'epsilon-greedy', epsilon: 0.3 };
const LINUCB: StrategyConfig = { strategy: 'linucb', alpha: 0.5 };
const THOMPSON: StrategyConfig = { strategy: 'thompson', likelihood: 'bernoulli' };

/** Throughput: task-like contexts at d = 32 (the router's default encoding), 4 experts. */
const replayThroughput = () => {
  const encoder = createContextEncoder({ dimension: D });
  // Each expert is better on some languages: a context-dependent truth, so LinUCB learns a real state.
  const draw = (rng: Rng) => {
    const context = smallContextOf(rng);
    const x = encoder.encode(context);
    const language = LANGUAGES.indexOf(context.language as string);
    return {
      x,
      features: sparseToJson(x),
      meanOf: (expert: number) => 0.3 + (language % EXPERTS.length === expert ? 0.4 : 0) + 0.05 * expert,
    };
  };
  const rng = mulberry32(2024);
  const logger: ReplayPolicy = {
    strategy: { strategy: 'epsilon-greedy', epsilon: 0.1 },
    dimension: D,
    state: learnt({ strategy: 'epsilon-greedy', epsilon: 0.1 }, 2_000, rng, draw),
  };
  const targets: { name: string; policy: ReplayPolicy }[] = [
    {
      name: 'LinUCB, d = 32',
      policy: { strategy: LINUCB, dimension: D, state: learnt(LINUCB, 2_000, rng, draw) },
    },
    {
      name: 'Thompson (context-free)',
      policy: { strategy: THOMPSON, dimension: D, state: learnt(THOMPSON, 2_000, rng, draw) },
    },
  ];
  const all = logsOf(logger, 100_000, rng, draw);
  const parsed = all.map((d) => sparseFromJson(d.features));
  const rows: {
    policy: string;
    n: number;
    selectPerS: number;
    samplesPerS: number;
    estimatePerS: number;
    estimateS: number;
  }[] = [];
  for (const n of [10_000, 100_000]) {
    const logs = all.slice(0, n);
    // A 10k pass takes ~30 ms: more runs, so that one GC pause does not make the figure.
    const runs = n <= 10_000 ? 9 : 3;
    for (const { name, policy } of targets) {
      const strategy = createStrategy(policy.strategy, policy.dimension);
      const state = policy.state ?? strategy.initialState();
      let sink = 0;
      const selectS = timed(() => {
        for (let i = 0; i < n; i += 1) {
          const d = logs[i] as LoggedDecision;
          sink += strategy.select(
            d.candidates,
            parsed[i] as SparseVector,
            state,
            mulberry32(d.seed),
          ).propensity;
        }
      }, runs);
      if (!Number.isFinite(sink)) throw new Error('unreachable');
      const samplesS = timed(() => replaySamples(logs, policy), runs);
      const estimateS = timed(() => replayEstimate(logs, policy), runs);
      rows.push({
        policy: name,
        n,
        selectPerS: n / selectS,
        samplesPerS: n / samplesS,
        estimatePerS: n / estimateS,
        estimateS,
      });
    }
  }
  const [linucb, thompson] = targets as [(typeof targets)[number], (typeof targets)[number]];
  const compare = [10_000, 100_000].map((n) => {
    const logs = all.slice(0, n);
    const seconds = timed(() => compareReplay(logs, linucb.policy, thompson.policy), n <= 10_000 ? 9 : 3);
    return { n, seconds, perS: n / seconds };
  });
  return { rows, compare };
};

/**
 * Accuracy against a known truth: 6 segments (shares below) one-hot at d = 32 after the intercept,
 * 4 experts with known Bernoulli means, each segment with its own best; logged by ε-greedy (ε = 0.3)
 * on running means learnt from random traffic (context-free: mostly the best expert overall).
 */
const SEGMENT_SHARES = [0.3, 0.2, 0.15, 0.15, 0.1, 0.1] as const;
const MEAN_REWARD: readonly (readonly number[])[] = [
  [0.7, 0.4, 0.3, 0.5],
  [0.3, 0.6, 0.4, 0.2],
  [0.2, 0.3, 0.8, 0.4],
  [0.4, 0.3, 0.2, 0.65],
  [0.5, 0.55, 0.3, 0.2],
  [0.1, 0.2, 0.3, 0.6],
];
const segmentFeatures = SEGMENT_SHARES.map(
  (_, segment): SparseVectorJson => ({ dimension: D, indices: [0, 1 + segment], values: [1, 1] }),
);
const segmentVectors = segmentFeatures.map((f) => sparseFromJson(f));
const drawSegment = (rng: Rng) => {
  const u = rng();
  let segment = 0;
  for (let acc = SEGMENT_SHARES[0]; segment < SEGMENT_SHARES.length - 1 && u >= acc; )
    acc += SEGMENT_SHARES[++segment] ?? 0;
  return {
    x: segmentVectors[segment] as SparseVector,
    features: segmentFeatures[segment] as SparseVectorJson,
    meanOf: (expert: number) => MEAN_REWARD[segment]?.[expert] ?? 0,
  };
};

/** The exact value of a policy as replay defines it: Σ_segment share × Σ_expert π(expert | segment) × mean. */
const trueValueOf = (policy: ReplayPolicy): number => {
  const strategy = createStrategy(policy.strategy, policy.dimension);
  const state = policy.state ?? strategy.initialState();
  return SEGMENT_SHARES.reduce((sum, share, segment) => {
    const { perCandidate } = strategy.select(
      EXPERTS,
      segmentVectors[segment] as SparseVector,
      state,
      mulberry32(0),
    );
    return (
      sum + share * perCandidate.reduce((s, c, e) => s + c.probability * (MEAN_REWARD[segment]?.[e] ?? 0), 0)
    );
  }, 0);
};

/**
 * 200 runs (the unit test's count), not fewer: at 50 runs a 95 % coverage has a standard error of
 * 3 points, enough for the 90 % floor to flip on noise alone.
 */
const ACCURACY_RUNS = 200;
const ACCURACY_LOGS = 2_000;

const replayAccuracy = () => {
  const rng = mulberry32(77);
  const logger: ReplayPolicy = {
    strategy: EPSILON_GREEDY,
    dimension: D,
    state: learnt(EPSILON_GREEDY, 3_000, rng, drawSegment),
  };
  const targets = [
    {
      name: 'LinUCB, d = 32',
      policy: { strategy: LINUCB, dimension: D, state: learnt(LINUCB, 3_000, rng, drawSegment) },
    },
    {
      name: 'Thompson (context-free)',
      policy: { strategy: THOMPSON, dimension: D, state: learnt(THOMPSON, 3_000, rng, drawSegment) },
    },
  ];
  const runs = Array.from({ length: ACCURACY_RUNS }, () => logsOf(logger, ACCURACY_LOGS, rng, drawSegment));
  const loggerValue = trueValueOf(logger);
  const perTarget = targets.map(({ name, policy }) => {
    const truth = trueValueOf(policy);
    const estimates = runs.map((logs) => replayEstimate(logs, policy));
    const stats = (
      pick: (e: (typeof estimates)[number]) => { value: number; low: number; high: number } | undefined,
    ) => ({
      meanAbsoluteError:
        estimates.reduce((sum, e) => sum + Math.abs((pick(e)?.value ?? Number.NaN) - truth), 0) /
        ACCURACY_RUNS,
      coverage:
        estimates.filter((e) => {
          const ci = pick(e);
          return ci !== undefined && ci.low <= truth && truth <= ci.high;
        }).length / ACCURACY_RUNS,
    });
    return {
      policy: name,
      truth,
      meanEffectiveSampleSize: estimates.reduce((sum, e) => sum + e.effectiveSampleSize, 0) / ACCURACY_RUNS,
      ips: stats((e) => e.ips),
      snips: stats((e) => e.snips),
      doublyRobust: stats((e) => e.doublyRobust),
    };
  });
  const [linucb, thompson] = targets as [(typeof targets)[number], (typeof targets)[number]];
  const gain = trueValueOf(linucb.policy) - trueValueOf(thompson.policy);
  const comparisons = runs.map((logs) => compareReplay(logs, thompson.policy, linucb.policy));
  return {
    loggerValue,
    perTarget,
    comparison: {
      baseline: thompson.name,
      candidate: linucb.name,
      trueDifference: gain,
      coverage:
        comparisons.filter((c) => c.difference.low <= gain && gain <= c.difference.high).length /
        ACCURACY_RUNS,
      passed: comparisons.filter((c) => c.passed).length,
      meanAbsoluteError:
        comparisons.reduce((sum, c) => sum + Math.abs(c.difference.value - gain), 0) / ACCURACY_RUNS,
    },
  };
};

// ---------------------------------------------------------------------------------------------

const main = async () => {
  log('bench:router-safety — shadow overhead, replay, canary rollback');
  log(`machine: ${JSON.stringify(machine())}`);
  const busyBefore = await checkQuiet(log);
  const server = await startServerChild<Ready>(
    fileURLToPath(new URL('./servers/router-safety.ts', import.meta.url)),
  );
  try {
    const { url, admin, operator, expertIds } = server.ready;
    const headersOf = (token: string) => ({
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
    });
    // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field where read.
    const call = async (method: string, path: string, token: string, body?: unknown): Promise<any> => {
      const init = {
        method,
        headers: headersOf(token),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      };
      // A kept-alive socket the server closed while idle (its 5 s keep-alive timeout, e.g. during the
      // in-process replay phase) fails before any answer: sent again once. Every call here is
      // idempotent (routes and outcomes per taskId, configurations as full replacements).
      const reply = await fetch(`${url}${path}`, init).catch((error: unknown) => {
        const code = (error as { cause?: { code?: string } }).cause?.code;
        if (code !== 'UND_ERR_SOCKET' && code !== 'ECONNRESET') throw error;
        return fetch(`${url}${path}`, init);
      });
      const text = await reply.text();
      const json = text ? JSON.parse(text) : undefined;
      if (reply.status >= 300) throw new Error(`${method} ${path}: ${reply.status} ${text}`);
      return json;
    };
    const putConfig = (config: unknown) => call('PUT', '/router/config', admin, config);
    let task = 0;
    const routeTarget = (): PostTarget => ({
      url: `${url}/router/route`,
      headers: headersOf(operator),
      body: JSON.stringify({ taskId: `safety-${task++}`, context: smallContext(), candidates: expertIds }),
    });

    // ---- 1. Shadow overhead ----
    log('\n(1) shadow overhead: warming up, learning 600 rewards into the baseline and the shadow…');
    const shadowConfig = (percent: number) => ({
      strategy: BASELINE_STRATEGY,
      experiment: { name: 'shadow-bench', candidate: CANDIDATE, mode: 'shadow', percent },
    });
    // Warm-up routes with the shadow at 100 %: their rewards train the baseline's LinUCB and the
    // candidate's own Beta-Bernoulli model (another model kind learns the rewards of the decisions it
    // evaluated), so the shadow decides on a stored state as it would after running a while.
    await putConfig(shadowConfig(100));
    const firstWarm = task;
    await openLoopRaw(routeTarget, 150, 4);
    const warmTasks = Array.from({ length: task - firstWarm }, (_, i) => `safety-${firstWarm + i}`);
    let r = 0;
    await openLoopRaw(
      () => ({
        url: `${url}/router/reward`,
        headers: headersOf(operator),
        body: JSON.stringify({
          taskId: warmTasks[r++ % warmTasks.length],
          signal: 'success_at_k',
          value: random() < 0.5 ? 1 : 0,
        }),
      }),
      150,
      4,
    );
    await sleep(4000);

    const arms = [
      { key: 'none', label: 'no experiment', config: { strategy: BASELINE_STRATEGY } },
      { key: 'shadow0', label: 'shadow at 0 %', config: shadowConfig(0) },
      { key: 'shadow100', label: 'shadow at 100 %', config: shadowConfig(100) },
    ] as const;
    // Check that the configurations do what they say: a shadow decision on every route at 100 %, none at 0 %.
    let shadowModelVersion = 0;
    for (const arm of arms) {
      await putConfig(arm.config);
      const answer = await call('POST', '/router/route', operator, {
        taskId: `check-${arm.key}`,
        context: smallContext(),
        candidates: expertIds,
      });
      const rationale = await call('GET', `/router/rationale/${answer.rationaleId}`, operator);
      const shadow = rationale.experiment?.shadow?.strategy;
      const expected = arm.key === 'shadow100' ? CANDIDATE.strategy : undefined;
      if (answer.strategy !== BASELINE_STRATEGY || shadow !== expected)
        throw new Error(`${arm.label}: served by ${answer.strategy}, shadow ${shadow}`);
      if (arm.key === 'shadow100') shadowModelVersion = rationale.experiment.shadow.modelVersion as number;
    }

    const ROUNDS = 5;
    const CHUNK_S = 2;
    const SETTLE_S = 0.5;
    const rates = [100, 150];
    const shadowRates = [];
    let otherCpuShare = 0;
    for (const rate of rates) {
      const acc = Object.fromEntries(
        arms.map((arm) => [
          arm.key,
          { latencies: [] as number[], sent: 0, errors: 0, server: [] as ProbeStats[] },
        ]),
      );
      for (let round = 0; round < ROUNDS; round += 1) {
        const order = arms.map((_, i) => arms[(i + round) % arms.length] as (typeof arms)[number]);
        for (const arm of order) {
          await putConfig(arm.config);
          await openLoopRaw(routeTarget, rate, SETTLE_S);
          await server.stats();
          const machineBefore = machineCpu();
          const selfBefore = process.cpuUsage();
          const chunk = await openLoopRaw(routeTarget, rate, CHUNK_S);
          const self = process.cpuUsage(selfBefore);
          const machineAfter = machineCpu();
          const stats = await server.stats();
          // Whatever the machine did beyond this process and the server under test (as bench:api).
          const others =
            machineAfter.busy - machineBefore.busy - (self.user + self.system) / 1000 - stats.cpuMs;
          otherCpuShare = Math.max(otherCpuShare, others / (machineAfter.total - machineBefore.total));
          const into = acc[arm.key] as (typeof acc)[string];
          into.latencies.push(...chunk.latencies);
          into.sent += chunk.sent;
          into.errors += chunk.errors;
          into.server.push(stats);
        }
        log(`  ${rate} req/s: round ${round + 1}/${ROUNDS} done`);
      }
      const results = arms.map((arm) => {
        const a = acc[arm.key] as (typeof acc)[string];
        const merged = mergeProbeStats(a.server);
        return {
          key: arm.key,
          label: arm.label,
          sent: a.sent,
          ok: a.latencies.length,
          errors: a.errors,
          latencyMs: summarize(a.latencies),
          cpuMsPerRoute: merged.cpuMs / Math.max(1, a.latencies.length + a.errors),
          server: merged,
        };
      });
      const byKey = (key: string) => results.find((x) => x.key === key) as (typeof results)[number];
      shadowRates.push({
        rate,
        arms: results,
        overheadP95: byKey('shadow100').latencyMs.p95 / byKey('shadow0').latencyMs.p95,
        overheadP95VsNone: byKey('shadow100').latencyMs.p95 / byKey('none').latencyMs.p95,
        overheadCpu: byKey('shadow100').cpuMsPerRoute / byKey('shadow0').cpuMsPerRoute,
      });
    }

    // ---- 2. Replay (in process; the server child idles) ----
    log(
      `\n(2) replay: timing 10k and 100k logged decisions, then ${ACCURACY_RUNS} runs against a known truth…`,
    );
    const replayStarted = performance.now();
    const throughput = replayThroughput();
    const accuracy = replayAccuracy();
    log(`  ${fixed((performance.now() - replayStarted) / 1000, 1)} s`);

    // ---- 3. Rollback time ----
    log(
      '\n(3) rollback: 5 canaries rolled back on the wall clock, then one paced on the controllable clock…',
    );
    const routeUsers = async (name: string, count: number) =>
      pool(
        Array.from({ length: count }, (_, i) => i),
        8,
        async (i) => {
          const taskId = `${name}-t${i}`;
          const userId = `${name}-user-${i}`;
          const answer = await call('POST', '/router/route', operator, {
            taskId,
            userId,
            context: smallContext(),
            candidates: expertIds,
          });
          return { taskId, userId, candidate: answer.strategy === CANDIDATE.strategy };
        },
      );
    /** A canary at 10 % of users; routes 300 users; every baseline task's outcome ok. */
    const prepareCanary = async (name: string) => {
      await putConfig({
        strategy: BASELINE_STRATEGY,
        experiment: {
          name,
          candidate: CANDIDATE,
          mode: 'canary',
          percent: 10,
          stickyBy: 'user',
          rollback: { minOutcomes: 20 },
        },
      });
      const served = await routeUsers(name, 300);
      const candidateTasks = served.filter((s) => s.candidate);
      const baselineTasks = served.filter((s) => !s.candidate);
      if (candidateTasks.length < 20)
        throw new Error(`${name}: only ${candidateTasks.length} candidate users`);
      const baselineArms = await pool(baselineTasks, 8, async (s) => {
        const answer = await call('POST', '/router/outcome', operator, {
          taskId: s.taskId,
          status: 'ok',
          latencyMs: 100,
        });
        return answer.arm as string;
      });
      if (baselineArms.some((arm) => arm !== 'baseline'))
        throw new Error(`${name}: a baseline outcome not baseline`);
      return { candidateTasks, baselineTasks };
    };
    const candidateError = (taskId: string) =>
      call('POST', '/router/outcome', operator, { taskId, status: 'error', latencyMs: 100 });

    const REPS = 5;
    const reps = [];
    for (let rep = 0; rep < REPS; rep += 1) {
      const name = `rollback-${rep}`;
      const { candidateTasks, baselineTasks } = await prepareCanary(name);
      const actions: string[] = [];
      // The 19 before it, timed one by one: what an outcome costs when the rule does not hold yet.
      const before: number[] = [];
      for (const s of candidateTasks.slice(0, 19)) {
        const sentAt = performance.now();
        actions.push((await candidateError(s.taskId)).canary);
        before.push(performance.now() - sentAt);
      }
      const trigger = candidateTasks[19] as (typeof candidateTasks)[number];
      const users = candidateTasks.map((s) => s.userId);
      const started = performance.now();
      // Probe routes of the candidate's users, back to back from the instant the outcome is sent.
      const probing = (async () => {
        let candidateAnswers = 0;
        for (let k = 0; performance.now() - started < 30_000; k += 1) {
          const answer = await call('POST', '/router/route', operator, {
            taskId: `${name}-probe-${k}`,
            userId: users[k % users.length],
            context: smallContext(),
            candidates: expertIds,
          });
          if (answer.strategy === BASELINE_STRATEGY)
            return { ms: performance.now() - started, candidateAnswers };
          candidateAnswers += 1;
        }
        return { ms: Number.NaN, candidateAnswers };
      })();
      const outcome = await candidateError(trigger.taskId);
      const outcomeMs = performance.now() - started;
      actions.push(outcome.canary);
      const probe = await probing;
      const config = await call('GET', '/router/config', admin);
      reps.push({
        name,
        baselineOutcomesOk: baselineTasks.length,
        candidateUsers: candidateTasks.length,
        rolledBackAt: actions.indexOf('rolled_back') + 1,
        rolledBackOnce: actions.filter((a) => a === 'rolled_back').length === 1,
        percentAfter: config.experiment?.percent as number,
        rolledBackRecord: config.experiment?.rolledBack?.candidateOutcomes as number,
        outcomeBeforeMs: median(before),
        outcomeMs,
        rollbackMs: probe.ms,
        candidateAnswersMeanwhile: probe.candidateAnswers,
      });
      log(
        `  ${name}: rolled back at candidate outcome ${actions.indexOf('rolled_back') + 1}, ${fixed(probe.ms)} ms`,
      );
    }

    // Paced on the controllable clock: the candidate's errors 15 s apart.
    const PACE_S = 15;
    const paced = await (async () => {
      const name = 'rollback-paced';
      const { candidateTasks } = await prepareCanary(name);
      const wallStarted = performance.now();
      let advancedMs = 0;
      let rolledBackAt = 0;
      for (const [i, s] of candidateTasks.entries()) {
        const answer = await candidateError(s.taskId);
        if (answer.canary === 'rolled_back') {
          rolledBackAt = i + 1;
          break;
        }
        const moved = await server.command<{ advancedMs: number }>(`clock ${PACE_S * 1000}`);
        advancedMs += PACE_S * 1000;
        if (moved.advancedMs < advancedMs) throw new Error('the clock did not move');
      }
      const wallMs = performance.now() - wallStarted;
      const status = await call('GET', '/router/experiment', operator);
      const after = await call('POST', '/router/route', operator, {
        taskId: `${name}-after`,
        userId: candidateTasks[0]?.userId,
        context: smallContext(),
        candidates: expertIds,
      });
      return {
        paceS: PACE_S,
        rolledBackAt,
        simulatedS: (advancedMs + wallMs) / 1000,
        wallMs,
        percentAfter: status.experiment?.percent as number,
        candidateErrorRate: status.window?.candidate?.errorRate as number,
        candidateUserServedBy: after.strategy as string,
      };
    })();

    // ---- Report ----
    log('\n(1) Shadow overhead: POST /router/route, baseline LinUCB d = 32, candidate Thompson (ms)');
    log(
      `    ${ROUNDS} interleaved rounds of ${CHUNK_S} s per configuration and rate, open loop; CPU = the runtime's own per route`,
    );
    log(
      table(
        [
          [
            'req/s',
            'configuration',
            'sent',
            'ok',
            'errors',
            'p50',
            'p95',
            'p99',
            'max',
            'CPU ms/route',
            'loop p99',
            'GC max',
          ],
          ...shadowRates.flatMap((s) =>
            s.arms.map((a) => [
              String(s.rate),
              a.label,
              String(a.sent),
              String(a.ok),
              String(a.errors),
              fixed(a.latencyMs.p50),
              fixed(a.latencyMs.p95),
              fixed(a.latencyMs.p99),
              fixed(a.latencyMs.max),
              fixed(a.cpuMsPerRoute),
              fixed(a.server.eventLoopDelayMs.p99),
              fixed(a.server.gc.maxMs),
            ]),
          ),
        ],
        'rlrrrrrrrrrr',
      ),
    );
    log(
      shadowModelVersion > 0
        ? `  the shadow decided on its own stored model (version ${shadowModelVersion}, learnt from the warm-up rewards)`
        : '  the shadow decided on its prior: no stored model of its own (the warm-up rewards did not reach it)',
    );
    if (otherCpuShare > 0.1)
      log(
        `WARNING: other processes used up to ${fixed(100 * otherCpuShare, 0)}% of the machine during a shadow chunk: tails are skewed, run again on a quiet machine`,
      );
    for (const s of shadowRates)
      log(
        `  ${s.rate} req/s: shadow overhead p95(100 %) / p95(0 %) = ${fixed(s.overheadP95)}x (vs no experiment ${fixed(s.overheadP95VsNone)}x); CPU per route ${fixed(s.overheadCpu)}x`,
      );

    log('\n(2) Replay throughput: logged decisions evaluated per second (4 experts, ε-greedy logs)');
    log(
      table(
        [
          [
            'policy',
            'decisions',
            'bare select/s (baseline)',
            'replaySamples/s',
            'replayEstimate/s',
            'estimate s',
            'select / estimate',
          ],
          ...throughput.rows.map((row) => [
            row.policy,
            String(row.n),
            fixed(row.selectPerS, 0),
            fixed(row.samplesPerS, 0),
            fixed(row.estimatePerS, 0),
            fixed(row.estimateS, 3),
            `${fixed(row.selectPerS / row.estimatePerS, 1)}x`,
          ]),
        ],
        'lrrrrrr',
      ),
    );
    for (const c of throughput.compare)
      log(
        `  compareReplay (LinUCB baseline vs Thompson candidate), ${c.n} decisions: ${fixed(c.seconds, 3)} s, ${fixed(c.perS, 0)} decisions/s`,
      );
    log(
      `\n(2) Replay accuracy: ${ACCURACY_RUNS} runs of ${ACCURACY_LOGS} logs, known truth (6 segments, 4 experts, ε-greedy logger worth ${fixed(accuracy.loggerValue, 3)})`,
    );
    log(
      table(
        [
          [
            'target',
            'true value',
            'mean ESS',
            'MAE IPS',
            'MAE SNIPS',
            'MAE DR',
            'cover IPS',
            'cover SNIPS',
            'cover DR',
          ],
          ...accuracy.perTarget.map((t) => [
            t.policy,
            fixed(t.truth, 3),
            fixed(t.meanEffectiveSampleSize, 0),
            fixed(t.ips.meanAbsoluteError, 4),
            fixed(t.snips.meanAbsoluteError, 4),
            fixed(t.doublyRobust.meanAbsoluteError, 4),
            fixed(t.ips.coverage, 2),
            fixed(t.snips.coverage, 2),
            fixed(t.doublyRobust.coverage, 2),
          ]),
        ],
        'lrrrrrrrr',
      ),
    );
    const cmp = accuracy.comparison;
    log(
      `  paired comparison ${cmp.candidate} - ${cmp.baseline}: true ${fixed(cmp.trueDifference, 3)}, MAE ${fixed(cmp.meanAbsoluteError, 4)}, interval coverage ${fixed(cmp.coverage, 2)}, passed ${cmp.passed}/${ACCURACY_RUNS}`,
    );

    log('\n(3) Rollback: canary 10 % by user, minOutcomes 20; wall clock from the 20th candidate error sent');
    log(
      table(
        [
          [
            'experiment',
            'candidate users',
            'baseline ok',
            'rolled back at',
            'outcome ms, the 19 before (median)',
            'outcome answered ms',
            'baseline serves ms',
            'candidate answers meanwhile',
            'share after',
          ],
          ...reps.map((rep) => [
            rep.name,
            String(rep.candidateUsers),
            String(rep.baselineOutcomesOk),
            `#${rep.rolledBackAt}`,
            fixed(rep.outcomeBeforeMs),
            fixed(rep.outcomeMs),
            fixed(rep.rollbackMs),
            String(rep.candidateAnswersMeanwhile),
            `${rep.percentAfter} %`,
          ]),
        ],
        'lrrrrrrrr',
      ),
    );
    const rollbackMs = summarize(reps.map((rep) => rep.rollbackMs));
    log(
      `  wall clock, rule holds -> baseline serves: median ${fixed(rollbackMs.p50)} ms, max ${fixed(rollbackMs.max)} ms`,
    );
    log(
      `  controllable clock: the watch acts on the outcome that makes the rule hold: 0 s simulated, by construction (bound ${ROLLBACK_BOUND_S} s)`,
    );
    log(
      `  paced (candidate errors ${paced.paceS} s apart on the controllable clock): rolled back at error #${paced.rolledBackAt}, ${fixed(paced.simulatedS, 1)} s simulated after the first error; share after ${paced.percentAfter} %, a candidate user then served by ${paced.candidateUserServedBy}`,
    );

    const checks = {
      shadowP95Requirement250ms: shadowRates.every(
        (s) =>
          s.arms.every((a) => a.errors === 0) &&
          (s.arms.find((a) => a.key === 'shadow100')?.latencyMs.p95 ?? Number.POSITIVE_INFINITY) <
            REQUIREMENT_P95_MS,
      ),
      shadowOverheadWithin125: shadowRates.every((s) => s.overheadP95 <= SHADOW_OVERHEAD_BOUND),
      replayCoverage90: accuracy.perTarget.every(
        (t) => t.snips.coverage >= COVERAGE_FLOOR && t.doublyRobust.coverage >= COVERAGE_FLOOR,
      ),
      replayDrBelowIps: accuracy.perTarget.every(
        (t) => t.doublyRobust.meanAbsoluteError < t.ips.meanAbsoluteError,
      ),
      rollbackAt20th: reps.every(
        (rep) => rep.rolledBackAt === 20 && rep.rolledBackOnce && rep.percentAfter === 0,
      ),
      rollbackWithin360s:
        reps.every((rep) => rep.rollbackMs / 1000 <= ROLLBACK_BOUND_S) &&
        paced.rolledBackAt === 20 &&
        paced.simulatedS <= ROLLBACK_BOUND_S &&
        paced.candidateUserServedBy === BASELINE_STRATEGY,
    };
    log('\nTargets');
    for (const s of shadowRates) {
      const shadow = s.arms.find((a) => a.key === 'shadow100');
      log(
        `  (1) ${s.rate} req/s, shadow 100 %: p95 ${fixed(shadow?.latencyMs.p95 ?? Number.NaN)} ms < ${REQUIREMENT_P95_MS} ms ${verdict((shadow?.latencyMs.p95 ?? Number.POSITIVE_INFINITY) < REQUIREMENT_P95_MS && (shadow?.errors ?? 1) === 0)}; overhead ${fixed(s.overheadP95)}x <= ${SHADOW_OVERHEAD_BOUND}x ${verdict(s.overheadP95 <= SHADOW_OVERHEAD_BOUND)}`,
      );
    }
    log(
      `  (2) SNIPS and DR 95 % intervals cover the truth in >= ${COVERAGE_FLOOR * 100} % of runs: ${verdict(checks.replayCoverage90)}; DR error below IPS's: ${verdict(checks.replayDrBelowIps)}; throughput: information`,
    );
    log(
      `  (3) rolled back at the 20th candidate outcome, once, share 0 %: ${verdict(checks.rollbackAt20th)}; within ${ROLLBACK_BOUND_S} s (wall max ${fixed(rollbackMs.max / 1000, 3)} s, simulated 0 s, paced ${fixed(paced.simulatedS, 1)} s): ${verdict(checks.rollbackWithin360s)}`,
    );

    const file = writeResult('router-safety', {
      benchmark: 'router-safety',
      measuredAt: new Date().toISOString(),
      machine: machine(),
      machineBusyBefore: round(busyBefore, 3),
      experts: expertIds.length,
      shadow: {
        baseline: BASELINE_STRATEGY,
        candidate: CANDIDATE,
        candidateModelVersion: shadowModelVersion,
        rounds: ROUNDS,
        chunkS: CHUNK_S,
        otherCpuBusyDuringChunksMax: round(otherCpuShare, 2),
        rates: shadowRates.map((s) => ({
          rate: s.rate,
          arms: s.arms.map((a) => ({
            ...a,
            latencyMs: roundSummary(a.latencyMs),
            cpuMsPerRoute: round(a.cpuMsPerRoute, 3),
            server: {
              cpuMs: round(a.server.cpuMs, 0),
              eventLoopDelayMs: {
                p99: round(a.server.eventLoopDelayMs.p99, 2),
                max: round(a.server.eventLoopDelayMs.max, 2),
              },
              gc: {
                count: a.server.gc.count,
                totalMs: round(a.server.gc.totalMs, 1),
                maxMs: round(a.server.gc.maxMs, 2),
              },
            },
          })),
          overheadP95: round(s.overheadP95, 3),
          overheadP95VsNone: round(s.overheadP95VsNone, 3),
          overheadCpu: round(s.overheadCpu, 3),
        })),
      },
      replay: {
        throughput: throughput.rows.map((row) => ({
          ...row,
          selectPerS: round(row.selectPerS, 0),
          samplesPerS: round(row.samplesPerS, 0),
          estimatePerS: round(row.estimatePerS, 0),
          estimateS: round(row.estimateS, 4),
        })),
        compare: throughput.compare.map((c) => ({
          n: c.n,
          seconds: round(c.seconds, 4),
          perS: round(c.perS, 0),
        })),
        accuracy: {
          runs: ACCURACY_RUNS,
          logs: ACCURACY_LOGS,
          loggerValue: round(accuracy.loggerValue, 4),
          targets: accuracy.perTarget.map((t) => ({
            policy: t.policy,
            truth: round(t.truth, 4),
            meanEffectiveSampleSize: round(t.meanEffectiveSampleSize, 1),
            ips: { meanAbsoluteError: round(t.ips.meanAbsoluteError, 4), coverage: t.ips.coverage },
            snips: { meanAbsoluteError: round(t.snips.meanAbsoluteError, 4), coverage: t.snips.coverage },
            doublyRobust: {
              meanAbsoluteError: round(t.doublyRobust.meanAbsoluteError, 4),
              coverage: t.doublyRobust.coverage,
            },
          })),
          comparison: {
            ...cmp,
            trueDifference: round(cmp.trueDifference, 4),
            meanAbsoluteError: round(cmp.meanAbsoluteError, 4),
          },
        },
      },
      rollback: {
        rule: { percent: 10, stickyBy: 'user', minOutcomes: 20, errorRate: 0.05, windowSeconds: 300 },
        reps: reps.map((rep) => ({
          ...rep,
          outcomeBeforeMs: round(rep.outcomeBeforeMs, 2),
          outcomeMs: round(rep.outcomeMs, 2),
          rollbackMs: round(rep.rollbackMs, 2),
        })),
        wallMs: { median: round(rollbackMs.p50, 2), max: round(rollbackMs.max, 2) },
        simulatedS: 0,
        boundS: ROLLBACK_BOUND_S,
        paced: { ...paced, simulatedS: round(paced.simulatedS, 1), wallMs: round(paced.wallMs, 0) },
      },
      checks,
    });
    log(`\nwritten: ${file}`);
    if (process.env.BENCH_STRICT === '1' && Object.values(checks).some((ok) => !ok)) process.exitCode = 1;
  } finally {
    await server.stop();
  }
};

await main();
