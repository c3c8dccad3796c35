/**
 * `npm run bench:route-cpu` — where the CPU of a route goes on the embedded runtime, and how much of
 * it is the work a Lambda would do (and bill) on AWS.
 *
 * The embedded runtime of `bench/servers/router.ts` (one thread, 4 experts, LinUCB) gets POST
 * /router/route open loop at BENCH_RATE (150) routes/s for BENCH_SECONDS (20) s after a warm-up, twice
 * per round:
 * - as is: the server's CPU per route (`process.cpuUsage`, lib/probe.ts), and from /proc (Linux) its
 *   main thread's and its other threads' (V8's GC helpers and compiler, libuv's pool);
 * - under V8's CPU profiler (`--cpu-prof`, which samples the main thread), stopped right after the
 *   load: every sample of the measured window goes to a side (lib/profile.ts
 *   `attributeProfileWindow`): Conductor's functions, the AWS SDK, the stand-ins for AWS (gateway,
 *   queues, bus, dynalite), JWT verification by its caller, Node internals with no caller of ours, GC.
 * The first run's main-thread CPU is split by the second's shares (the profiler's own cost stays
 * out of the figures). "On Lambda" is the functions, the SDK and the functions' own JWT checks: what
 * the route handler and the consumer it sets off (the decision archive) spend, which AWS bills as
 * Lambda duration; the stand-ins are what AWS runs for us.
 *
 * Side by side: `BENCH_BASELINE_ROOT=<a worktree of another commit>` runs that tree's
 * `bench/servers/router.ts` too (with its own code, the same load), rounds interleaved (this tree,
 * the baseline, this tree, …), and prints the ratios. BENCH_ROUNDS (2) rounds. Writes
 * bench/results/route-cpu.json.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startServerChild } from './lib/child.js';
import { seededRandom, smallContextOf } from './lib/contexts.js';
import { checkQuiet, machine } from './lib/machine.js';
import { openLoopPost, type PostTarget } from './lib/post.js';
import { attributeProfileWindow, SIDES, type Side } from './lib/profile.js';
import { REPO_ROOT, writeResult } from './lib/results.js';
import { fixed, round, table } from './lib/stats.js';

const log = (line = '') => process.stdout.write(`${line}\n`);
const positive = (name: string, fallback: number) => {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
};
const RATE = positive('BENCH_RATE', 150);
const SECONDS = positive('BENCH_SECONDS', 20);
const ROUNDS = positive('BENCH_ROUNDS', 2);
const BASELINE_ROOT = process.env.BENCH_BASELINE_ROOT ? resolve(process.env.BENCH_BASELINE_ROOT) : undefined;

const LABELS: Record<Side, string> = {
  functions: "Conductor's functions (functions/, layers/, the packages they use)",
  sdk: 'AWS SDK v3 (handlers and consumers)',
  standIns: 'stand-ins for AWS (infra/local, dynalite)',
  jwtGateway: "JWT verification, the gateway's authorizer",
  jwtFunction: "JWT verification, the functions' own",
  nodeInternals: 'Node internals with no caller of ours',
  gc: 'garbage collector',
  loader: 'module loader (tsx)',
};
const ON_LAMBDA: readonly Side[] = ['functions', 'sdk', 'jwtFunction'];

interface Run {
  readonly ok: number;
  readonly sent: number;
  readonly cpuMsPerRoute: number;
  /** From /proc (Linux): the main thread's CPU per route and the other threads'. */
  readonly mainThreadMsPerRoute?: number;
  readonly otherThreadsMsPerRoute?: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
}
interface Round {
  readonly plain: Run;
  readonly profiled: Run & { readonly busyMs: number; readonly shares: Record<Side, number> };
}

const commitOf = (root: string) => {
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
};

/** CLK_TCK of Linux's /proc (USER_HZ), 100 on every common kernel build. */
const TICK_MS = 10;

/**
 * CPU ms of a process's threads from /proc: its main thread (tid = pid) and the rest (V8's GC helpers
 * and compiler, libuv's pool). Undefined where /proc does not exist (not Linux).
 */
const threadCpuMs = (pid: number): { main: number; other: number } | undefined => {
  try {
    let main = 0;
    let other = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state is the first, utime the 12th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
      if (Number(tid) === pid) main += ms;
      else other += ms;
    }
    return { main, other };
  } catch {
    return undefined;
  }
};

/** One server of `root`, warmed up, then RATE routes/s for SECONDS; profiled when `profileDir` is given. */
const runOnce = async (root: string, profileDir?: string) => {
  const server = await startServerChild<{ url: string; token: string; expertIds: string[] }>(
    join(root, 'bench/servers/router.ts'),
    { nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [] },
  );
  try {
    const { url, token, expertIds } = server.ready;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const random = seededRandom(7);
    let task = 0;
    const target = (): PostTarget => ({
      url: `${url}/router/route`,
      headers,
      body: JSON.stringify({
        taskId: `cpu-${task++}`,
        context: smallContextOf(random),
        candidates: expertIds,
      }),
    });
    await openLoopPost(target, 50, 3);
    // The warm-up's consumers done before the window opens.
    await new Promise((done) => setTimeout(done, 2000));
    await server.stats();
    const threadsBefore = threadCpuMs(server.pid);
    const load = await openLoopPost(target, RATE, SECONDS);
    const stats = await server.stats();
    const threadsAfter = threadCpuMs(server.pid);
    if (load.ok < load.sent) throw new Error(`${root}: ${load.sent - load.ok} of ${load.sent} routes failed`);
    return {
      ok: load.ok,
      sent: load.sent,
      cpuMsPerRoute: stats.cpuMs / load.ok,
      ...(threadsBefore && threadsAfter
        ? {
            mainThreadMsPerRoute: (threadsAfter.main - threadsBefore.main) / load.ok,
            otherThreadsMsPerRoute: (threadsAfter.other - threadsBefore.other) / load.ok,
          }
        : {}),
      p50Ms: load.latencyMs.p50,
      p95Ms: load.latencyMs.p95,
    };
  } finally {
    // Stopping the child writes its profile.
    await server.stop();
  }
};

const runRound = async (root: string): Promise<Round> => {
  const plain = await runOnce(root);
  const dir = mkdtempSync(join(tmpdir(), 'conductor-route-cpu-'));
  try {
    const profiled = await runOnce(root, dir);
    const split = attributeProfileWindow(dir, SECONDS);
    if (!split || split.busyMs === 0) throw new Error(`${root}: no CPU profile was written`);
    const shares = Object.fromEntries(SIDES.map((side) => [side, split.ms[side] / split.busyMs])) as Record<
      Side,
      number
    >;
    return { plain, profiled: { ...profiled, busyMs: split.busyMs, shares } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

/**
 * Per side, ms per route (mean of rounds): the unprofiled run's main-thread CPU split by the profiled
 * run's shares (the profile samples the main thread); the other threads as measured. Without /proc
 * the whole process's CPU is split by the shares instead (its other threads then counted in).
 */
const splitOf = (rounds: readonly Round[]) => {
  const mean = (f: (r: Round) => number) => rounds.reduce((sum, r) => sum + f(r), 0) / rounds.length;
  const mainOf = (r: Round) => r.plain.mainThreadMsPerRoute ?? r.plain.cpuMsPerRoute;
  const perSide = Object.fromEntries(
    SIDES.map((side) => [side, mean((r) => mainOf(r) * r.profiled.shares[side])]),
  ) as Record<Side, number>;
  return {
    perSide,
    onLambda: ON_LAMBDA.reduce((sum, side) => sum + perSide[side], 0),
    otherThreads: mean((r) => r.plain.otherThreadsMsPerRoute ?? 0),
    cpuMsPerRoute: mean((r) => r.plain.cpuMsPerRoute),
    p50Ms: mean((r) => r.plain.p50Ms),
    p95Ms: mean((r) => r.plain.p95Ms),
  };
};

const main = async () => {
  const host = machine();
  log('bench:route-cpu — where the CPU of a route goes on the embedded runtime (one thread)');
  log(`machine: ${host.cpus} cores (${host.cpuModel}), ${host.memoryGiB} GiB, Node ${host.node}`);
  log(
    `load: POST /router/route, 4 candidates, ${RATE} routes/s open loop for ${SECONDS} s after a warm-up; ${ROUNDS} round(s), each an unprofiled run and a profiled one`,
  );
  const busyBefore = await checkQuiet(log);
  const trees = [
    { name: 'this tree', root: REPO_ROOT, commit: commitOf(REPO_ROOT) },
    ...(BASELINE_ROOT ? [{ name: 'baseline', root: BASELINE_ROOT, commit: commitOf(BASELINE_ROOT) }] : []),
  ];
  const rounds = new Map(trees.map((tree) => [tree.name, [] as Round[]]));
  for (let r = 0; r < ROUNDS; r += 1) {
    for (const tree of trees) {
      const result = await runRound(tree.root);
      rounds.get(tree.name)?.push(result);
      log(
        `round ${r + 1}, ${tree.name} (${tree.commit}): ${fixed(result.plain.cpuMsPerRoute, 3)} ms CPU per route, p95 ${fixed(result.plain.p95Ms)} ms; profiled ${fixed(result.profiled.busyMs, 0)} ms busy in the window`,
      );
    }
  }
  const splits = trees.map((tree) => ({ ...tree, ...splitOf(rounds.get(tree.name) ?? []) }));
  const [current, baseline] = splits;
  if (!current) throw new Error('no run');
  log();
  log(
    "CPU per route (ms) without the profiler: the main thread's split by the profiled run's shares, the other threads as measured (/proc):",
  );
  const ratio = (a: number, b: number | undefined) => (b && b > 0 ? `${fixed(a / b, 2)}x` : '—');
  const header = [
    'side',
    ...splits.map((s) => `${s.name} (${s.commit})`),
    ...(baseline ? ['this / baseline'] : []),
  ];
  const rowOf = (label: string, of: (s: (typeof splits)[number]) => number) => [
    label,
    ...splits.map((s) => fixed(of(s), 3)),
    ...(baseline ? [ratio(of(current), of(baseline))] : []),
  ];
  log(
    table(
      [
        header,
        ...SIDES.map((side) => rowOf(LABELS[side], (s) => s.perSide[side])),
        rowOf("the process's other threads (V8's GC helpers and compiler, libuv)", (s) => s.otherThreads),
        rowOf('total', (s) => s.cpuMsPerRoute),
        rowOf("on Lambda: the functions, the SDK, the functions' JWT checks", (s) => s.onLambda),
      ],
      `l${'r'.repeat(header.length - 1)}`,
    ),
  );
  log(
    `p95 at ${RATE} routes/s (unprofiled): ${splits.map((s) => `${s.name} ${fixed(s.p95Ms)} ms`).join(', ')}`,
  );
  const file = writeResult('route-cpu', {
    benchmark: 'route-cpu',
    measuredAt: new Date().toISOString(),
    machine: host,
    machineBusyBefore: round(busyBefore, 3),
    load: { rate: RATE, seconds: SECONDS, rounds: ROUNDS, candidates: 4 },
    trees: splits.map((s) => ({
      name: s.name,
      commit: s.commit,
      cpuMsPerRoute: round(s.cpuMsPerRoute, 3),
      onLambdaMsPerRoute: round(s.onLambda, 3),
      otherThreadsMsPerRoute: round(s.otherThreads, 3),
      perSideMsPerRoute: Object.fromEntries(SIDES.map((side) => [side, round(s.perSide[side], 3)])),
      p50Ms: round(s.p50Ms, 2),
      p95Ms: round(s.p95Ms, 2),
      rounds: (rounds.get(s.name) ?? []).map((r) => ({
        cpuMsPerRoute: round(r.plain.cpuMsPerRoute, 3),
        mainThreadMsPerRoute:
          r.plain.mainThreadMsPerRoute === undefined ? null : round(r.plain.mainThreadMsPerRoute, 3),
        otherThreadsMsPerRoute:
          r.plain.otherThreadsMsPerRoute === undefined ? null : round(r.plain.otherThreadsMsPerRoute, 3),
        profiledCpuMsPerRoute: round(r.profiled.cpuMsPerRoute, 3),
        profiledBusyMsPerRoute: round(r.profiled.busyMs / r.profiled.ok, 3),
        shares: Object.fromEntries(SIDES.map((side) => [side, round(r.profiled.shares[side], 4)])),
      })),
    })),
    ...(baseline
      ? {
          ratios: {
            total: round(current.cpuMsPerRoute / baseline.cpuMsPerRoute, 3),
            onLambda: round(current.onLambda / baseline.onLambda, 3),
            standIns: round(current.perSide.standIns / baseline.perSide.standIns, 3),
          },
        }
      : {}),
  });
  log(`\nresults: ${file}`);
};

await main();
