import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerChild, startServerChild } from './lib/child.js';
import {
  type AutocannonResult,
  autocannon,
  type FixedRateResult,
  fixedRate,
  mergeFixedRate,
  type Target,
} from './lib/load.js';
import { checkQuiet, machine, machineCpu } from './lib/machine.js';
import { mergeProbeStats, type ProbeStats } from './lib/probe.js';
import { summarizeProfileDir } from './lib/profile.js';
import { REPO_ROOT, writeResult } from './lib/results.js';
import { fixed, round, type Summary, table, verdict } from './lib/stats.js';

/**
 * API latency and throughput of the embedded runtime (`GET /api/conductor/v1/experts`, 20 experts,
 * JWT-authenticated viewer) against its baseline: a bare `node:http` server answering the same bytes
 * with the same headers. Each server runs in its own child process; the load comes from this process
 * (fixed rate) or from an autocannon process (max throughput). See docs/benchmarks.md.
 */
const env = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};
const RATE = env('BENCH_RATE', 150);
const FIXED_MS = env('BENCH_FIXED_SECONDS', 10) * 1000;
const FIXED_WARMUP_MS = env('BENCH_FIXED_WARMUP_SECONDS', 2) * 1000;
const ROUNDS = Math.round(env('BENCH_FIXED_ROUNDS', 5));
const CONNECTIONS = env('BENCH_CONNECTIONS', 20);
const CANNON_S = env('BENCH_CANNON_SECONDS', 10);
const CANNON_WARMUP_S = env('BENCH_CANNON_WARMUP_SECONDS', 3);
const EXPERTS = env('BENCH_EXPERTS', 20);
/** BENCH_PROFILE=1: CPU-profile the kernel child (slows it; figures are then not written to results). */
const PROFILE = process.env.BENCH_PROFILE === '1';

const TARGET_P95_MS = 10;
const TARGET_RATIO = 3;

interface KernelReady {
  readonly url: string;
  readonly path: string;
  readonly token: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly items: number;
  readonly throttle: { rateLimit: number; burstLimit: number };
  readonly tenantRateLimitPerMinute: number;
}

type Name = 'bare' | 'query' | 'kernel' | 'health';
/** `query` and `health` are reference rows; a profiling run leaves them out so the profile is GET /experts only. */
const RUN: readonly Name[] = PROFILE ? ['bare', 'kernel'] : ['bare', 'query', 'kernel', 'health'];
const got = <T>(results: Partial<Record<Name, T>>, name: Name): T => {
  const result = results[name];
  if (!result) throw new Error(`no result for ${name}`);
  return result;
};

const log = (line = '') => process.stdout.write(`${line}\n`);

const latencyRow = (name: string, r: FixedRateResult) => [
  name,
  String(r.scheduled),
  fixed(r.achievedRps, 1),
  fixed(r.latencyMs.p50),
  fixed(r.latencyMs.p95),
  fixed(r.latencyMs.p99),
  fixed(r.latencyMs.max),
  String(r.errors),
  fixed(r.lagMs.p99),
];
const cannonRow = (name: string, r: AutocannonResult) => [
  name,
  String(r.connections),
  fixed(r.okPerSec, 0),
  String(r.totalRequests),
  String(r.p50Ms),
  String(r.p99Ms),
  String(r.maxMs),
  String(r.errors + r.timeouts + r.non2xx),
];
const cpuPerRequest = (stats: ProbeStats, requests: number) =>
  requests > 0 ? stats.cpuMs / requests : Number.NaN;
const serverRow = (name: string, stats: ProbeStats, requests: number) => [
  name,
  fixed(cpuPerRequest(stats, requests), 3),
  fixed(stats.eventLoopDelayMs.p99),
  fixed(stats.eventLoopDelayMs.max),
  String(stats.gc.count),
  fixed(stats.gc.totalMs, 1),
  fixed(stats.gc.maxMs, 2),
];
const serverJson = (stats: ProbeStats | undefined, requests: number) =>
  stats && {
    cpuMsPerRequest: round(cpuPerRequest(stats, requests), 4),
    eventLoopDelayMs: {
      p50: round(stats.eventLoopDelayMs.p50, 3),
      p99: round(stats.eventLoopDelayMs.p99, 3),
      max: round(stats.eventLoopDelayMs.max, 3),
    },
    gc: { count: stats.gc.count, totalMs: round(stats.gc.totalMs, 1), maxMs: round(stats.gc.maxMs, 2) },
  };
const compact = (s: Summary) => ({
  p50: round(s.p50, 3),
  p95: round(s.p95, 3),
  p99: round(s.p99, 3),
  max: round(s.max, 3),
  mean: round(s.mean, 3),
});
const fixedJson = (r: FixedRateResult, stats: ProbeStats | undefined) => ({
  scheduled: r.scheduled,
  ok: r.ok,
  errors: r.errors,
  errorKinds: r.errorKinds,
  achievedRps: round(r.achievedRps, 1),
  latencyMs: compact(r.latencyMs),
  dispatchLagMs: { p99: round(r.lagMs.p99, 3), max: round(r.lagMs.max, 3) },
  server: serverJson(stats, r.ok),
});
const cannonJson = (r: AutocannonResult | undefined, stats: ProbeStats | undefined) =>
  r && {
    ...r,
    requestsPerSec: round(r.requestsPerSec, 1),
    okPerSec: round(r.okPerSec, 1),
    server: serverJson(stats, r.totalRequests),
  };

const printProfile = (dir: string) => {
  const summary = summarizeProfileDir(dir, REPO_ROOT);
  if (!summary) {
    log('no CPU profile was written');
    return;
  }
  const pct = (share: number) => `${fixed(100 * share, 1)}%`;
  log();
  log(
    `Kernel process CPU profile: shares of ${fixed(summary.totalMs / 1000, 1)} s busy CPU over the whole run (idle excluded)`,
  );
  const rows: string[][] = [['self time', '', 'inclusive time', '']];
  for (let i = 0; i < Math.max(summary.self.length, summary.inclusive.length); i += 1) {
    const a = summary.self[i];
    const b = summary.inclusive[i];
    rows.push([a?.owner ?? '', a ? pct(a.share) : '', b?.owner ?? '', b ? pct(b.share) : '']);
  }
  log(table(rows, 'lrlr'));
  log();
  log('Self time by kind of work:');
  log(table([['kind', 'share'], ...summary.buckets.map((b) => [b.owner, pct(b.share)])]));
};

const main = async () => {
  const host = machine();
  log('bench:api — embedded runtime vs bare node:http, both on 127.0.0.1, each in its own child process');
  log(`machine: ${host.cpus} cores (${host.cpuModel}), ${host.memoryGiB} GiB, Node ${host.node}`);
  const busyBefore = await checkQuiet(log);

  const children: ServerChild<unknown>[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'conductor-bench-api-'));
  const profileDir = join(scratch, 'profile');
  let measured = false;
  try {
    const kernel = await startServerChild<KernelReady>(join(REPO_ROOT, 'bench/servers/kernel.ts'), {
      env: { BENCH_EXPERTS: String(EXPERTS) },
      nodeArgs: PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
    });
    children.push(kernel);
    const k = kernel.ready;
    log(
      `kernel: embedded runtime (memory, port 0), stage throttle raised to ${k.throttle.rateLimit} rps / burst ${k.throttle.burstLimit} and per-tenant limits to ${k.tenantRateLimitPerMinute}/min (still counted) so this measures latency, not throttling; ${k.items} experts seeded for acme`,
    );

    const responseFile = join(scratch, 'response.json');
    writeFileSync(responseFile, JSON.stringify({ status: k.status, headers: k.headers, body: k.body }));
    const bare = await startServerChild<{ url: string }>(join(REPO_ROOT, 'bench/servers/bare.ts'), {
      env: { BENCH_RESPONSE_FILE: responseFile },
    });
    children.push(bare);
    const query = await startServerChild<{ url: string }>(join(REPO_ROOT, 'bench/servers/bare-query.ts'), {
      env: { BENCH_EXPERTS: String(EXPERTS), BENCH_RESPONSE_HEADERS: JSON.stringify(k.headers) },
    });
    children.push(query);

    const expectBytes = Buffer.byteLength(k.body);
    const headers = { authorization: `Bearer ${k.token}` };
    const targets: Record<Name, Target> = {
      bare: { url: `${bare.ready.url}${k.path}`, headers, expectBytes },
      // Same query and headers, but its own ids and timestamps: the body differs by a few bytes.
      query: { url: `${query.ready.url}${k.path}`, headers },
      kernel: { url: `${k.url}${k.path}`, headers, expectBytes },
      health: { url: `${k.url}/api/conductor/v1/health`, headers: {} },
    };

    // Fairness check: the baseline answers the same bytes with the same number of headers.
    const probe = await fetch(targets.bare.url, { headers });
    const probeBody = await probe.text();
    const probeHeaders = [...probe.headers.keys()];
    if (probeBody !== k.body) throw new Error('the bare server does not answer the captured body');
    if (probeHeaders.length !== Object.keys(k.headers).length)
      throw new Error(
        `header count differs: bare ${probeHeaders.length}, kernel ${Object.keys(k.headers).length}`,
      );
    log(
      `request: GET ${k.path} with a viewer JWT for acme; response ${expectBytes} B JSON, ${probeHeaders.length} headers (identical bytes and header count from both servers)`,
    );

    log();
    log(
      `fixed rate: ${RATE} req/s open loop, ${FIXED_MS / 1000} s per server in ${ROUNDS} interleaved chunks (after ${FIXED_WARMUP_MS / 1000} s warm-up each), latency per request with hrtime…`,
    );
    const serverOf = (name: Name) => (name === 'bare' ? bare : name === 'query' ? query : kernel);
    let otherCpuShare = 0;
    for (const name of RUN) await fixedRate(targets[name], { rate: RATE, durationMs: FIXED_WARMUP_MS });
    // Round-robin chunks: drift on the machine (and the load generator's own warm-up) hits every server alike.
    const chunks = new Map<Name, { load: FixedRateResult[]; server: ProbeStats[] }>(
      RUN.map((name) => [name, { load: [], server: [] }]),
    );
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const name of RUN) {
        await serverOf(name).stats();
        const machineBefore = machineCpu();
        const selfBefore = process.cpuUsage();
        const load = await fixedRate(targets[name], { rate: RATE, durationMs: FIXED_MS / ROUNDS });
        const self = process.cpuUsage(selfBefore);
        const machineAfter = machineCpu();
        const server = await serverOf(name).stats();
        chunks.get(name)?.load.push(load);
        chunks.get(name)?.server.push(server);
        // Whatever the machine did beyond this process and the server under test: other work skews tails.
        const others =
          machineAfter.busy - machineBefore.busy - (self.user + self.system) / 1000 - server.cpuMs;
        otherCpuShare = Math.max(otherCpuShare, others / (machineAfter.total - machineBefore.total));
      }
    }
    const fixedResults: Partial<Record<Name, FixedRateResult>> = {};
    const fixedServer: Partial<Record<Name, ProbeStats>> = {};
    for (const [name, chunk] of chunks) {
      fixedResults[name] = mergeFixedRate(chunk.load);
      fixedServer[name] = mergeProbeStats(chunk.server);
    }

    log(
      `max throughput: autocannon, ${CONNECTIONS} connections, ${CANNON_S} s each (after ${CANNON_WARMUP_S} s warm-up)…`,
    );
    const cannonResults: Partial<Record<Name, AutocannonResult>> = {};
    const cannonServer: Partial<Record<Name, ProbeStats>> = {};
    for (const name of RUN) {
      await autocannon(targets[name], { connections: CONNECTIONS, durationS: CANNON_WARMUP_S });
      await serverOf(name).stats();
      cannonResults[name] = await autocannon(targets[name], {
        connections: CONNECTIONS,
        durationS: CANNON_S,
      });
      cannonServer[name] = await serverOf(name).stats();
    }

    const labels = {
      bare: 'bare node:http (baseline)',
      query: 'bare node:http + same query (ref.)',
      kernel: 'kernel GET /experts',
      health: 'kernel GET /health (ref.)',
    };
    if (otherCpuShare > 0.1)
      log(
        `WARNING: other processes used up to ${fixed(100 * otherCpuShare, 0)}% of the machine during a fixed-rate phase: tails are skewed, run again on a quiet machine`,
      );
    log();
    log(`Fixed rate ${RATE} req/s, ${FIXED_MS / 1000} s (latency in ms, from dispatch to last byte)`);
    log(
      table([
        ['server', 'requests', 'achieved/s', 'p50', 'p95', 'p99', 'max', 'errors', 'lag p99'],
        ...RUN.map((n) => latencyRow(labels[n], got(fixedResults, n))),
      ]),
    );
    log();
    log(
      `Max throughput, autocannon ${CONNECTIONS} connections, ${CANNON_S} s (autocannon latencies: whole ms)`,
    );
    log(
      table([
        ['server', 'conns', '2xx/s', 'requests', 'p50', 'p99', 'max', 'errors', 'CPU ms/req'],
        ...RUN.map((n) => [
          ...cannonRow(labels[n], got(cannonResults, n)),
          fixed(cpuPerRequest(got(cannonServer, n), got(cannonResults, n).totalRequests), 3),
        ]),
      ]),
    );
    for (const n of RUN) {
      const r = got(cannonResults, n);
      if (r.errors + r.timeouts + r.non2xx > 0)
        log(
          `  ${labels[n]}: ${r.errors} errors, ${r.timeouts} timeouts, status codes ${JSON.stringify(r.statusCodes)} (only 2xx count as throughput)`,
        );
    }
    log();
    log(`Inside each server during the ${RATE} req/s phase (what the server process itself spent)`);
    log(
      table([
        ['server', 'CPU ms/req', 'loop delay p99*', 'loop delay max', 'GCs', 'GC total ms', 'GC max ms'],
        ...RUN.map((n) => serverRow(labels[n], got(fixedServer, n), got(fixedResults, n).ok)),
      ]),
    );
    log('* worst of the chunks; the probe samples the loop every 10 ms');

    measured = true;
    const kernelFixed = got(fixedResults, 'kernel');
    const bareFixed = got(fixedResults, 'bare');
    const bareCannon = got(cannonResults, 'bare');
    const kernelCannon = got(cannonResults, 'kernel');
    const p95Ratio = kernelFixed.latencyMs.p95 / bareFixed.latencyMs.p95;
    const rpsRatio = bareCannon.okPerSec / kernelCannon.okPerSec;
    // Not a target: says how much more work each request costs, whatever the scheduling.
    const cpuRatio =
      cpuPerRequest(got(fixedServer, 'kernel'), kernelFixed.ok) /
      cpuPerRequest(got(fixedServer, 'bare'), bareFixed.ok);
    const checks = [
      {
        target: `kernel p95 < ${TARGET_P95_MS} ms at ${RATE} req/s`,
        measured: `${fixed(kernelFixed.latencyMs.p95)} ms`,
        ok: kernelFixed.latencyMs.p95 < TARGET_P95_MS,
      },
      {
        target: `no errors at ${RATE} req/s`,
        measured: `${kernelFixed.errors} errors`,
        ok: kernelFixed.errors === 0,
      },
      {
        target: `p95 overhead: kernel p95 / bare p95 <= ${TARGET_RATIO}x`,
        measured: `${fixed(kernelFixed.latencyMs.p95)} / ${fixed(bareFixed.latencyMs.p95)} = ${fixed(p95Ratio, 1)}x`,
        ok: p95Ratio <= TARGET_RATIO,
      },
      {
        target: `throughput overhead: bare req/s / kernel req/s <= ${TARGET_RATIO}x`,
        measured: `${fixed(bareCannon.okPerSec, 0)} / ${fixed(kernelCannon.okPerSec, 0)} = ${fixed(rpsRatio, 1)}x`,
        ok: rpsRatio <= TARGET_RATIO,
      },
    ];
    log();
    log('Targets');
    log(
      table([['target', 'measured', 'verdict'], ...checks.map((c) => [c.target, c.measured, verdict(c.ok)])]),
    );
    log(`(not a target) server CPU per request at ${RATE} req/s: kernel / bare = ${fixed(cpuRatio, 1)}x`);
    const healthFixed = fixedResults.health;
    const healthCannon = cannonResults.health;
    if (healthFixed && healthCannon)
      log(
        `(reference) gateway + handler framework alone, GET /health (no JWT, no DynamoDB) vs bare: p95 ${fixed(healthFixed.latencyMs.p95 / bareFixed.latencyMs.p95, 1)}x, req/s ${fixed(bareCannon.okPerSec / healthCannon.okPerSec, 1)}x`,
      );
    const queryFixed = fixedResults.query;
    const queryCannon = cannonResults.query;
    if (queryFixed && queryCannon)
      log(
        `(reference) Conductor's request pipeline on top of the query itself, GET /experts vs a bare server making the same DynamoDB query: p95 ${fixed(kernelFixed.latencyMs.p95 / queryFixed.latencyMs.p95, 1)}x, req/s ${fixed(queryCannon.okPerSec / kernelCannon.okPerSec, 1)}x`,
      );

    const result = {
      benchmark: 'api',
      measuredAt: new Date().toISOString(),
      machine: host,
      otherCpuBusyBefore: round(busyBefore, 2),
      otherCpuBusyDuringFixedRateMax: round(otherCpuShare, 2),
      request: { method: 'GET', path: k.path, experts: k.items, responseBytes: expectBytes },
      kernelThrottle: k.throttle,
      kernelTenantRateLimitPerMinute: k.tenantRateLimitPerMinute,
      fixedRate: {
        rate: RATE,
        durationS: FIXED_MS / 1000,
        interleavedChunks: ROUNDS,
        bare: fixedJson(bareFixed, fixedServer.bare),
        kernel: fixedJson(kernelFixed, fixedServer.kernel),
        kernelHealth: fixedResults.health && fixedJson(fixedResults.health, fixedServer.health),
        bareQuery: fixedResults.query && fixedJson(fixedResults.query, fixedServer.query),
      },
      maxThroughput: {
        tool: 'autocannon 9',
        connections: CONNECTIONS,
        durationS: CANNON_S,
        bare: cannonJson(bareCannon, cannonServer.bare),
        kernel: cannonJson(kernelCannon, cannonServer.kernel),
        kernelHealth: cannonJson(cannonResults.health, cannonServer.health),
        bareQuery: cannonJson(cannonResults.query, cannonServer.query),
      },
      ratios: {
        p95KernelOverBare: round(p95Ratio, 2),
        rpsBareOverKernel: round(rpsRatio, 2),
        cpuPerRequestKernelOverBare: round(cpuRatio, 2),
        healthP95OverBare: healthFixed && round(healthFixed.latencyMs.p95 / bareFixed.latencyMs.p95, 2),
        rpsBareOverHealth: healthCannon && round(bareCannon.okPerSec / healthCannon.okPerSec, 2),
        p95KernelOverSameQuery: queryFixed && round(kernelFixed.latencyMs.p95 / queryFixed.latencyMs.p95, 2),
        rpsSameQueryOverKernel: queryCannon && round(queryCannon.okPerSec / kernelCannon.okPerSec, 2),
      },
      targets: checks.map((c) => ({ target: c.target, measured: c.measured, verdict: verdict(c.ok) })),
    };
    log();
    if (PROFILE) log('BENCH_PROFILE=1: the kernel ran under the CPU profiler; results not written.');
    else log(`wrote ${writeResult('api', result)}`);
    if (process.env.BENCH_STRICT === '1' && checks.some((c) => !c.ok)) process.exitCode = 1;
  } finally {
    for (const child of children.reverse()) await child.stop();
    if (PROFILE && measured) printProfile(profileDir);
    rmSync(scratch, { recursive: true, force: true });
  }
};

await main();
