/**
 * `npm run bench:router-invoke` — what invoke mode (POST /router/invoke) adds over calling the same
 * expert directly, measured in the same run.
 *
 * Three processes besides this one's load generator, none sharing an event loop:
 * - the fake expert (bench/servers/router-invoke.ts, role `expert`): a bare node:http server on
 *   127.0.0.1 that answers any POST with `{ answer: "pong", serviceMs, costUsd: 0.0004 }` after the
 *   `serviceMs` its JSON input asks for (setTimeout; 0 answers at once);
 * - the embedded runtime (same script, role `conductor`): memory, port 0, throttles and per-tenant
 *   limits out of the way, private endpoints allowed, tenant acme with 4 experts all registered at
 *   the fake expert (`/e0` … `/e3`), LinUCB, an operator token.
 * For each service time (20 ms, then 0 ms) and each rate (50, then 150 req/s), three modes get the
 * same open-loop load (requests sent on schedule whatever earlier ones do; 127.0.0.1 only), in 4
 * interleaved rounds of 2.5 s per mode (10 s each; the order rotated each round, 0.5 s of discarded
 * warm-up per mode first, 2 s at 50 req/s before the first), so drift hits all three alike:
 * - direct: POST the input straight to the fake expert (the paths rotated): the baseline;
 * - invoke: POST /router/invoke, unique taskIds, small random contexts, the 4 experts as
 *   candidates, the same input;
 * - route: POST /router/route with the same kind of tasks (the routing part of invoke alone).
 * Every answer is checked: direct's body, and invoke's `output`, must be the expert's body; an
 * invoke must be served by the first pick (no fallback), report the expert's cost and say its
 * signals were recorded; a route must pick a candidate. The rewards queue's consumer runs in the
 * runtime's process (on AWS it is another function): it is paused while an invoke chunk is timed, so
 * invoke pays for enqueueing its signals but not for learning them, and the queue is drained (the
 * consumer resumed, every signal learnt) after each invoke chunk, before the next chunk starts
 * (`BENCH_CONSUMER=alongside` keeps it running during the chunk, as `npm start` does).
 * Reported per service time and rate: p50/p95/p99 of each mode, the runtime's CPU per request, the
 * p95 ratio invoke / direct and the p95 (and p50) invoke adds in ms, split into the route and the
 * rest (expert lookup, the call through the guarded outbound client, the outcome and reward
 * signals): rest = added − route, at p50 (percentiles of sums do not add; p50 is the honest split).
 * Target (this benchmark's own; the issue names none): invoke adds at most 30 ms of p95 over the
 * direct call to the 20 ms expert, at each rate — the router's route target (p95 < 15 ms at
 * 150 req/s, bench:router-http) plus as much again for the expert lookup, the call through the guard
 * and the signals. The runtime's CPU per invoke times the rate ("invoke load", in cores) says when
 * the runtime, one Node process, is saturated: the figure then measures its queue, not the
 * overhead. The ratio is printed for every row, without a bound: it depends on the expert's own time
 * (with a 0 ms expert it measures Conductor, not an overhead). Also: no errors, no wrong answer,
 * every signal learnt.
 * `BENCH_RATES` (e.g. "50,150"), `BENCH_SERVICE_MS` ("20,0"), `BENCH_ROUNDS` (4) and
 * `BENCH_CHUNK_SECONDS` (2.5) change the load; `BENCH_STRICT=1` exits 1 on a FAIL.
 */

import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { childRegistry, startServerChild } from './lib/child.js';
import { seededRandom, smallContextOf } from './lib/contexts.js';
import { checkQuiet, machine, machineCpu } from './lib/machine.js';
import { openLoopPost } from './lib/post.js';
import { mergeProbeStats, type ProbeStats } from './lib/probe.js';
import { writeResult } from './lib/results.js';
import { fixed, round, roundSummary, type Summary, summarize, table, verdict } from './lib/stats.js';

const log = (line = '') => process.stdout.write(`${line}\n`);

const listOf = (value: string | undefined, fallback: number[]) =>
  value
    ? value
        .split(',')
        .map((v) => Number(v.trim()))
        .filter((v) => Number.isFinite(v) && v >= 0)
    : fallback;
const RATES = listOf(process.env.BENCH_RATES, [50, 150]);
const SERVICE_MS = listOf(process.env.BENCH_SERVICE_MS, [20, 0]);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CHUNK_SECONDS = Number(process.env.BENCH_CHUNK_SECONDS ?? 2.5);
const WARM_UP_SECONDS = 0.5;
/** Once, before the first cell, at 50 req/s. */
const FIRST_WARM_UP_SECONDS = 2;
/**
 * `between` (default): the rewards consumer is paused while invoke is timed and learns between
 * chunks, as on AWS, where it is another function; `alongside`: it runs in the runtime's process
 * during the chunk (the embedded runtime as `npm start` runs it).
 */
const CONSUMER = process.env.BENCH_CONSUMER === 'alongside' ? 'alongside' : 'between';

/** The router's route target over HTTP (bench:router-http): p95 < 15 ms at 150 req/s. */
const ROUTE_TARGET_P95_MS = 15;
/** This benchmark's bound on what invoke adds: the route target plus as much for call and signals. */
const ADDED_P95_BOUND_MS = 2 * ROUTE_TARGET_P95_MS;
const ROUTE_TARGET_RATE = 150;
const TARGET_SERVICE_MS = 20;
/** Cores of invoke work at which the runtime's one event loop is taken as saturated. */
const SATURATED_CORES = 0.8;

const random = seededRandom(13);
/** The same small contexts as bench:router-http. */
const smallContext = () => smallContextOf(random);

/** What the fake expert answers (bench/servers/router-invoke.ts `expertAnswer`). */
const EXPERT_COST_USD = 0.0004;
const expertAnswer = (serviceMs: number) => ({ answer: 'pong', serviceMs, costUsd: EXPERT_COST_USD });
/** The input every mode sends: the fake expert reads its service time from it. */
const inputOf = (serviceMs: number) => ({ question: 'ping', serviceMs });

interface ConductorReady {
  url: string;
  token: string;
  expertIds: string[];
}
interface ExpertReady {
  url: string;
}
interface Drain {
  waitedMs: number;
  deleted: number;
  failedInvocations: number;
  partialFailures: number;
  error?: string;
}

/** One request of a mode: where, what, and how to judge the answer (a reason when it is wrong). */
interface Shot {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly check: (body: string) => string | undefined;
}

interface ChunkResult {
  sent: number;
  ok: number;
  errors: number;
  /** 200 answers that failed their check, by reason. */
  problems: Record<string, number>;
  statuses: Record<string, number>;
  latencies: number[];
}

/** Open-loop POST load (bench/lib/post.ts), each success's body checked: every mode is timed alike. */
const openLoop = async (next: () => Shot, rate: number, seconds: number): Promise<ChunkResult> => {
  const { sent, ok, errors, problems, statuses, latencies } = await openLoopPost(next, rate, seconds);
  return { sent, ok, errors, problems, statuses, latencies };
};

const parse = (body: string): Record<string, unknown> | undefined => {
  try {
    return JSON.parse(body) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};

const MODES = ['direct', 'invoke', 'route'] as const;
type Mode = (typeof MODES)[number];

const children = childRegistry();
const stopAll = children.stopAll;

const SERVER_SCRIPT = fileURLToPath(new URL('./servers/router-invoke.ts', import.meta.url));

const main = async () => {
  const startedAt = performance.now();
  log('bench:router-invoke — POST /router/invoke against a direct call to the same fake expert');
  log(`machine: ${JSON.stringify(machine())}`);
  const busyBefore = await checkQuiet(log);
  try {
    const expert = await startServerChild<ExpertReady>(SERVER_SCRIPT, { env: { BENCH_ROLE: 'expert' } });
    children.add(expert);
    const server = await startServerChild<ConductorReady>(SERVER_SCRIPT, {
      env: { BENCH_ROLE: 'conductor', BENCH_EXPERT_URL: expert.ready.url },
    });
    children.add(server);
    const { url, token, expertIds } = server.ready;
    log(
      `fake expert ${expert.ready.url} (pid ${expert.pid}); runtime ${url} (pid ${server.pid}), ${expertIds.length} experts, LinUCB; rewards consumer ${CONSUMER === 'between' ? 'paused while invoke is timed, drained after each chunk' : 'running alongside'}`,
    );
    const apiHeaders = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const jsonHeaders = { 'content-type': 'application/json' };

    let task = 0;
    let path = 0;
    const shotOf = (mode: Mode, serviceMs: number): Shot => {
      const input = inputOf(serviceMs);
      const expected = expertAnswer(serviceMs);
      if (mode === 'direct')
        return {
          url: `${expert.ready.url}/e${path++ % expertIds.length}`,
          headers: jsonHeaders,
          body: JSON.stringify(input),
          check: (body) => (isDeepStrictEqual(parse(body), expected) ? undefined : 'body'),
        };
      const taskId = `${mode}-${serviceMs}-${task++}`;
      if (mode === 'route')
        return {
          url: `${url}/router/route`,
          headers: apiHeaders,
          body: JSON.stringify({ taskId, context: smallContext(), candidates: expertIds }),
          check: (body) => (expertIds.includes(String(parse(body)?.expertId)) ? undefined : 'expertId'),
        };
      return {
        url: `${url}/router/invoke`,
        headers: apiHeaders,
        body: JSON.stringify({
          taskId,
          context: smallContext(),
          candidates: expertIds,
          input,
          timeoutMs: 5000,
        }),
        check: (body) => {
          const answer = parse(body);
          if (!answer) return 'json';
          if (!isDeepStrictEqual(answer.output, expected)) return 'output';
          if (!expertIds.includes(String(answer.expertId))) return 'expertId';
          if (answer.fallbackUsed !== false) return 'fallback';
          if (answer.costUsd !== EXPERT_COST_USD) return 'cost';
          if (answer.signalsRecorded !== true) return 'signals';
          return undefined;
        },
      };
    };

    const drains: Drain[] = [];
    const drain = async () => {
      const d = await server.command<Drain>('drain', 35_000);
      if (d.error) throw new Error(`rewards queue not drained: ${d.error}`);
      drains.push(d);
      return d;
    };
    await drain();
    const deletedBefore = drains[0]?.deleted ?? 0;
    let invokesAnswered = 0;

    interface Cell {
      serviceMs: number;
      rate: number;
      modes: Record<
        Mode,
        ChunkResult & { latencyMs: Summary; conductor: ProbeStats; expert: ProbeStats; chunks: number }
      >;
    }
    // The runtime's first requests run cold (JIT, connection pools, caches): a longer warm-up once,
    // so that the first cell does not pay for it.
    for (const mode of MODES) {
      const warm = await openLoop(() => shotOf(mode, SERVICE_MS[0] ?? 0), 50, FIRST_WARM_UP_SECONDS);
      if (mode === 'invoke') {
        invokesAnswered += warm.ok;
        await drain();
      }
    }
    const cells: Cell[] = [];
    let otherCpuShare = 0;
    for (const serviceMs of SERVICE_MS) {
      for (const rate of RATES) {
        // Warm-up: every mode once, discarded (connections, caches, the model item).
        for (const mode of MODES) {
          const warm = await openLoop(() => shotOf(mode, serviceMs), rate, WARM_UP_SECONDS);
          if (mode === 'invoke') {
            invokesAnswered += warm.ok;
            await drain();
          }
        }
        const pooled = Object.fromEntries(
          MODES.map((mode) => [
            mode,
            {
              result: {
                sent: 0,
                ok: 0,
                errors: 0,
                problems: {},
                statuses: {},
                latencies: [],
              } as ChunkResult,
              conductor: [] as ProbeStats[],
              expert: [] as ProbeStats[],
            },
          ]),
        ) as Record<Mode, { result: ChunkResult; conductor: ProbeStats[]; expert: ProbeStats[] }>;
        for (let r = 0; r < ROUNDS; r += 1) {
          const order = MODES.map((_, i) => MODES[(i + r) % MODES.length] as Mode);
          for (const mode of order) {
            if (mode === 'invoke' && CONSUMER === 'between') await server.command('pause', 35_000);
            await Promise.all([server.stats(), expert.stats()]);
            const machineBefore = machineCpu();
            const selfBefore = process.cpuUsage();
            const chunk = await openLoop(() => shotOf(mode, serviceMs), rate, CHUNK_SECONDS);
            const self = process.cpuUsage(selfBefore);
            const machineAfter = machineCpu();
            const [conductorStats, expertStats] = await Promise.all([server.stats(), expert.stats()]);
            // Whatever the machine did beyond these three processes: other work skews the tails.
            const others =
              machineAfter.busy -
              machineBefore.busy -
              (self.user + self.system) / 1000 -
              conductorStats.cpuMs -
              expertStats.cpuMs;
            otherCpuShare = Math.max(otherCpuShare, others / (machineAfter.total - machineBefore.total));
            if (mode === 'invoke') {
              invokesAnswered += chunk.ok;
              await drain();
            }
            const into = pooled[mode];
            into.result.sent += chunk.sent;
            into.result.ok += chunk.ok;
            into.result.errors += chunk.errors;
            for (const [k, v] of Object.entries(chunk.problems))
              into.result.problems[k] = (into.result.problems[k] ?? 0) + v;
            for (const [k, v] of Object.entries(chunk.statuses))
              into.result.statuses[k] = (into.result.statuses[k] ?? 0) + v;
            into.result.latencies.push(...chunk.latencies);
            into.conductor.push(conductorStats);
            into.expert.push(expertStats);
          }
        }
        cells.push({
          serviceMs,
          rate,
          modes: Object.fromEntries(
            MODES.map((mode) => {
              const p = pooled[mode];
              return [
                mode,
                {
                  ...p.result,
                  latencyMs: summarize(p.result.latencies),
                  conductor: mergeProbeStats(p.conductor),
                  expert: mergeProbeStats(p.expert),
                  chunks: p.conductor.length,
                },
              ];
            }),
          ) as Cell['modes'],
        });
      }
    }

    const problemsOf = (m: ChunkResult) => Object.values(m.problems).reduce((sum, v) => sum + v, 0);
    log(
      `\nLatency (ms), open loop, ${ROUNDS} interleaved rounds of ${CHUNK_SECONDS} s per mode; runtime CPU per request (ms)`,
    );
    log(
      table(
        [
          [
            'expert ms',
            'rps',
            'mode',
            'sent',
            'ok',
            'errors',
            'wrong',
            'p50',
            'p95',
            'p99',
            'max',
            'CPU/req',
          ],
          ...cells.flatMap((cell) =>
            MODES.map((mode) => {
              const m = cell.modes[mode];
              return [
                String(cell.serviceMs),
                String(cell.rate),
                mode,
                String(m.sent),
                String(m.ok),
                String(m.errors),
                String(problemsOf(m)),
                fixed(m.latencyMs.p50),
                fixed(m.latencyMs.p95),
                fixed(m.latencyMs.p99),
                fixed(m.latencyMs.max),
                mode === 'direct' ? '-' : fixed(m.conductor.cpuMs / Math.max(1, m.sent)),
              ];
            }),
          ),
        ],
        'rrlrrrrrrrrr',
      ),
    );

    const overhead = cells.map((cell) => {
      const { direct, invoke, route } = cell.modes;
      const addedP50 = invoke.latencyMs.p50 - direct.latencyMs.p50;
      const addedP95 = invoke.latencyMs.p95 - direct.latencyMs.p95;
      return {
        serviceMs: cell.serviceMs,
        rate: cell.rate,
        ratioP95: invoke.latencyMs.p95 / direct.latencyMs.p95,
        addedP95Ms: addedP95,
        addedP50Ms: addedP50,
        routeP50Ms: route.latencyMs.p50,
        routeP95Ms: route.latencyMs.p95,
        /** Expert lookup + the call through the guard + the signals, at p50: added − route. */
        restP50Ms: addedP50 - route.latencyMs.p50,
        runtimeCpuPerInvokeMs: invoke.conductor.cpuMs / Math.max(1, invoke.sent),
        runtimeCpuPerRouteMs: route.conductor.cpuMs / Math.max(1, route.sent),
        /** Cores the runtime needs for invoke at this rate: near or above 1, its event loop queues. */
        invokeLoadCores: (cell.rate * invoke.conductor.cpuMs) / Math.max(1, invoke.sent) / 1000,
      };
    });
    log('\nInvoke over direct: p95 ratio, what invoke adds (ms) and its split at p50 (route | the rest)');
    log(
      table(
        [
          [
            'expert ms',
            'rps',
            'p95 ratio',
            '+p95 ms',
            '+p50 ms',
            'route p50',
            'rest p50',
            'route p95',
            'CPU invoke',
            'CPU route',
            'invoke load',
          ],
          ...overhead.map((o) => [
            String(o.serviceMs),
            String(o.rate),
            `${fixed(o.ratioP95)}x`,
            fixed(o.addedP95Ms),
            fixed(o.addedP50Ms),
            fixed(o.routeP50Ms),
            fixed(o.restP50Ms),
            fixed(o.routeP95Ms),
            fixed(o.runtimeCpuPerInvokeMs),
            fixed(o.runtimeCpuPerRouteMs),
            fixed(o.invokeLoadCores),
          ]),
        ],
        'rrrrrrrrrrr',
      ),
    );
    log(
      '(rest = added − route at p50: the expert lookup, the call through the guarded client, the outcome and 3 reward signals; CPU = the runtime process per request, ms; invoke load = rps × CPU invoke, in cores: the runtime is one Node process, near 1 its event loop queues)',
    );

    const last = drains.at(-1);
    const learnt = (last?.deleted ?? 0) - deletedBefore;
    const drainWaits = summarize(drains.slice(1).map((d) => d.waitedMs));
    log(
      `\nsignals: ${invokesAnswered} invokes answered, ${learnt} reward-queue records learnt (3 signals per answer: ${3 * invokesAnswered}); failed consumer batches ${last?.failedInvocations ?? 0}, partial ${last?.partialFailures ?? 0}; drain after an invoke chunk p50 ${fixed(drainWaits.p50, 0)} ms, max ${fixed(drainWaits.max, 0)} ms`,
    );

    const allModes = cells.flatMap((cell) => MODES.map((mode) => cell.modes[mode]));
    const held = overhead.filter((o) => o.serviceMs === TARGET_SERVICE_MS);
    const routeAt150 = cells.find((c) => c.rate === ROUTE_TARGET_RATE && c.serviceMs === TARGET_SERVICE_MS)
      ?.modes.route;
    const checks: Record<string, boolean> = {
      noErrors: allModes.every((m) => m.errors === 0),
      everyAnswerRight: allModes.every((m) => problemsOf(m) === 0),
      signalsLearnt: learnt >= 3 * invokesAnswered && (last?.failedInvocations ?? 0) === 0,
      ...Object.fromEntries(
        held.map((o) => [
          `addedP95Within${ADDED_P95_BOUND_MS}msAt${o.rate}rps`,
          o.addedP95Ms <= ADDED_P95_BOUND_MS,
        ]),
      ),
    };
    log('\nTargets');
    log(
      `  no errors, every answer the expert's (invoke: no fallback, cost reported, signals recorded): ${verdict(!!checks.noErrors && !!checks.everyAnswerRight)} (${allModes.reduce((s, m) => s + m.errors, 0)} errors, ${allModes.reduce((s, m) => s + problemsOf(m), 0)} wrong)`,
    );
    log(
      `  every signal learnt by the rewards consumer: ${verdict(!!checks.signalsLearnt)} (${learnt} of ${3 * invokesAnswered})`,
    );
    log(
      `  target: invoke adds <= ${ADDED_P95_BOUND_MS} ms of p95 over the direct call to the ${TARGET_SERVICE_MS} ms expert (the route target, p95 < ${ROUTE_TARGET_P95_MS} ms at ${ROUTE_TARGET_RATE} rps, plus as much again for the expert lookup, the call through the guard and the signals)`,
    );
    if (held.length === 0) log(`    not measured: no ${TARGET_SERVICE_MS} ms expert in this run`);
    for (const o of held)
      log(
        `    at ${String(o.rate).padStart(3)} rps: ${verdict(o.addedP95Ms <= ADDED_P95_BOUND_MS)} (+${fixed(o.addedP95Ms)} ms p95, ratio ${fixed(o.ratioP95)}x; invoke load ${fixed(o.invokeLoadCores)} cores${o.invokeLoadCores >= SATURATED_CORES ? ': the runtime is saturated, this measures its queue, not the overhead' : ''})`,
      );
    log(
      `  route p95 < ${ROUTE_TARGET_P95_MS} ms at ${ROUTE_TARGET_RATE} rps (information here; bench:router-http holds it): ${routeAt150 ? `${fixed(routeAt150.latencyMs.p95)} ms ${verdict(routeAt150.latencyMs.p95 < ROUTE_TARGET_P95_MS)}` : '-'}`,
    );
    for (const o of overhead.filter((o) => o.serviceMs !== TARGET_SERVICE_MS))
      log(
        `  ${o.serviceMs} ms expert, ${o.rate} rps (information): ratio ${fixed(o.ratioP95)}x, +${fixed(o.addedP95Ms)} ms p95${o.serviceMs === 0 ? ' — with a 0 ms expert the ratio measures Conductor itself, not an overhead' : ''}`,
      );
    log(
      '  hold the added p95 in ms, not the ratio: the ms do not depend on how slow the expert is, the ratio does (it tends to 1 for a slow expert and is unbounded for a 0 ms one)',
    );

    if (otherCpuShare > 0.1)
      log(
        `\nWARNING: other processes used up to ${fixed(100 * otherCpuShare, 0)}% of the machine during a timed chunk: tails are skewed, run again on a quiet machine`,
      );

    const file = writeResult('router-invoke', {
      benchmark: 'router-invoke',
      measuredAt: new Date().toISOString(),
      machine: machine(),
      machineBusyBefore: round(busyBefore, 3),
      otherCpuShareMax: round(otherCpuShare, 3),
      consumer: CONSUMER,
      experts: expertIds.length,
      strategy: 'linucb',
      rounds: ROUNDS,
      chunkS: CHUNK_SECONDS,
      warmUpS: WARM_UP_SECONDS,
      cells: cells.map((cell) => ({
        serviceMs: cell.serviceMs,
        rate: cell.rate,
        modes: Object.fromEntries(
          MODES.map((mode) => {
            const m = cell.modes[mode];
            return [
              mode,
              {
                sent: m.sent,
                ok: m.ok,
                errors: m.errors,
                problems: m.problems,
                statuses: m.statuses,
                latencyMs: roundSummary(m.latencyMs),
                runtime: m.conductor,
                expert: m.expert,
              },
            ];
          }),
        ),
      })),
      overhead: overhead.map((o) =>
        Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v, k === 'ratioP95' ? 3 : 2)])),
      ),
      signals: {
        invokesAnswered,
        recordsLearnt: learnt,
        failedInvocations: last?.failedInvocations ?? 0,
        partialFailures: last?.partialFailures ?? 0,
        drainAfterInvokeChunkMs: roundSummary(drainWaits),
      },
      target: { addedP95BoundMs: ADDED_P95_BOUND_MS, serviceMs: TARGET_SERVICE_MS },
      checks,
      runS: round((performance.now() - startedAt) / 1000, 1),
    });
    log(`\nwritten: ${file} (run ${fixed((performance.now() - startedAt) / 1000, 0)} s)`);
    if (process.env.BENCH_STRICT === '1' && Object.values(checks).some((ok) => !ok)) process.exitCode = 1;
  } finally {
    await stopAll();
  }
};

await main();
