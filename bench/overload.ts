/**
 * `npm run bench:overload` — where the embedded runtime's knee is, and what its in-flight bound does
 * beyond it (infra/local/gateway.ts, `maxInFlight`).
 *
 * The runtime runs in a child process (this file again, with OVERLOAD_SERVE set: memory, port 0,
 * throttles out of the way, 4 experts for tenant acme). From this process, open loop on 127.0.0.1:
 * POST /router/route at each step's rate plus POST /router/reward at half of it (for tasks routed
 * earlier), 8 s per step, each request with a 20 s timeout. Twice: with the default bound and with
 * none (the behaviour before it). Per step: offered and served (2xx) per second, p50/p95 of the
 * served, the share shed (503 overloaded) and the share lost (timeouts, socket errors, other status),
 * with what each lost request met (`lostBy`: `timeout`, `error` or the status).
 * Writes bench/results/overload.json.
 */

import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { rateFamiliesOf } from '#shared/pillar.js';
import { PILLARS } from '../functions/catalog.js';
import { startConductor } from '../infra/local/runtime.js';
import { startServerChild } from './lib/child.js';
import {
  BENCH_TENANT_LIMIT,
  BENCH_THROTTLE,
  benchApiWorkers,
  benchTransport,
  benchVariant,
  seedBenchExperts,
} from './lib/conductor.js';
import { checkQuiet, machine } from './lib/machine.js';
import { serveUntilStopped } from './lib/probe.js';
import { writeResult } from './lib/results.js';
import { fixed, round, summarize, table } from './lib/stats.js';

const STEP_SECONDS = 8;
const ROUTE_RATES = [25, 50, 75, 100, 150, 200, 300];
const REWARD_SHARE = 0.5;
const TIMEOUT_MS = 20_000;
/** "No bound": more than a step can ever have in flight. */
const UNBOUNDED = 1_000_000;

interface Ready {
  url: string;
  token: string;
  expertIds: string[];
}

const serve = async (maxInFlight: number | undefined) => {
  // As startBenchConductor, plus the bound under test.
  const conductor = await startConductor({
    memory: true,
    port: 0,
    transport: benchTransport(),
    apiWorkers: benchApiWorkers(),
    throttle: BENCH_THROTTLE,
    rateLimits: Object.fromEntries(
      Object.keys(rateFamiliesOf(PILLARS)).map((family) => [family, BENCH_TENANT_LIMIT]),
    ),
    ...(maxInFlight === undefined ? {} : { maxInFlight }),
  });
  const admin = await conductor.issuer.mint({
    subject: 'acme-admin',
    tenant: 'acme',
    roles: ['tenant-admin'],
    amr: ['pwd', 'mfa'],
  });
  const token = await conductor.issuer.mint({
    subject: 'acme-operator',
    tenant: 'acme',
    roles: ['operator'],
  });
  const expertIds = await seedBenchExperts(conductor.apiUrl, admin, 4, 'overload');
  process.stdout.write(`${JSON.stringify({ ready: { url: conductor.apiUrl, token, expertIds } })}\n`);
  serveUntilStopped(conductor);
};

interface Outcome {
  readonly status: number | 'timeout' | 'error';
  readonly ms: number;
}

/** One POST, whatever happens to it, with its latency. */
const post = (agent: Agent, url: string, headers: Record<string, string>, body: string) =>
  new Promise<Outcome>((resolve) => {
    const sentAt = performance.now();
    const done = (status: Outcome['status']) => resolve({ status, ms: performance.now() - sentAt });
    const req = request(url, { method: 'POST', agent, headers, timeout: TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    req.on('timeout', () => {
      req.destroy();
      done('timeout');
    });
    req.on('error', () => done('error'));
    req.end(body);
  });

const drive = async (ready: Ready, routeRate: number, routed: string[]) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 2048 });
  const headers = { authorization: `Bearer ${ready.token}`, 'content-type': 'application/json' };
  const rewardRate = routeRate * REWARD_SHARE;
  const total = Math.round((routeRate + rewardRate) * STEP_SECONDS);
  const started = performance.now();
  const pending: Promise<Outcome>[] = [];
  for (let i = 0; i < total; i += 1) {
    const due = started + (i * 1000) / (routeRate + rewardRate);
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const reward = routed.length > 0 && i % 3 === 2;
    if (reward) {
      const taskId = routed[i % routed.length] as string;
      const body = JSON.stringify({ taskId, signal: 'success_at_k', value: i % 2 });
      pending.push(post(agent, `${ready.url}/router/reward`, headers, body));
    } else {
      const taskId = `overload-${routeRate}-${i}`;
      routed.push(taskId);
      const body = JSON.stringify({
        taskId,
        context: { language: 'ts', tokens: i % 4000, urgent: i % 5 === 0 },
        candidates: ready.expertIds,
      });
      pending.push(post(agent, `${ready.url}/router/route`, headers, body));
    }
  }
  const outcomes = await Promise.all(pending);
  const elapsedSeconds = (performance.now() - started) / 1000;
  agent.destroy();
  const served = outcomes.filter((o) => typeof o.status === 'number' && o.status < 300);
  const shed = outcomes.filter((o) => o.status === 503);
  const latency = summarize(served.map((o) => o.ms));
  /** What became of the requests neither served nor shed: a timeout, a socket error or a status. */
  const lostBy: Record<string, number> = {};
  for (const { status } of outcomes) {
    if ((typeof status === 'number' && status < 300) || status === 503) continue;
    lostBy[String(status)] = (lostBy[String(status)] ?? 0) + 1;
  }
  return {
    offeredPerSecond: round(total / STEP_SECONDS, 1),
    servedPerSecond: round(served.length / elapsedSeconds, 1),
    p50Ms: round(latency.p50, 1),
    p95Ms: round(latency.p95, 1),
    shedShare: round(shed.length / total, 3),
    lostShare: round((total - served.length - shed.length) / total, 3),
    lostBy,
  };
};

const measure = async (label: string, maxInFlight: number | undefined, log: (line: string) => void) => {
  const server = await startServerChild<Ready>(fileURLToPath(import.meta.url), {
    env: { OVERLOAD_SERVE: maxInFlight === undefined ? 'default' : String(maxInFlight) },
  });
  try {
    const routed: string[] = [];
    await drive(server.ready, 20, routed);
    const steps = [];
    for (const rate of ROUTE_RATES) {
      steps.push({ routesPerSecond: rate, ...(await drive(server.ready, rate, routed)) });
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
    log(`\n${label}`);
    log(
      table(
        [
          ['routes/s', 'offered/s', 'served/s', 'p50 ms', 'p95 ms', '503 share', 'lost share'],
          ...steps.map((s) => [
            String(s.routesPerSecond),
            fixed(s.offeredPerSecond, 1),
            fixed(s.servedPerSecond, 1),
            fixed(s.p50Ms, 1),
            fixed(s.p95Ms, 1),
            fixed(s.shedShare, 3),
            fixed(s.lostShare, 3),
          ]),
        ],
        'rrrrrrr',
      ),
    );
    for (const s of steps) {
      const lost = Object.entries(s.lostBy);
      if (lost.length > 0)
        log(`  lost at ${s.routesPerSecond} routes/s: ${lost.map(([what, n]) => `${n} ${what}`).join(', ')}`);
    }
    return steps;
  } finally {
    await server.stop();
  }
};

const main = async () => {
  const log = (line = '') => process.stdout.write(`${line}\n`);
  log('bench:overload — routes plus rewards (half the route rate) past the knee, with and without the bound');
  log(`machine: ${JSON.stringify(machine())}`);
  log(`runtime: transport ${benchTransport()}, API workers ${benchApiWorkers()}`);
  const busyBefore = await checkQuiet(log);
  const bounded = await measure('with the default in-flight bound (DEFAULT_MAX_IN_FLIGHT)', undefined, log);
  const unbounded = await measure('with no bound (the runtime before it)', UNBOUNDED, log);
  const file = writeResult(`overload${benchVariant()}`, {
    machine: machine(),
    runtime: { transport: benchTransport(), apiWorkers: benchApiWorkers() },
    busyBefore: round(busyBefore, 2),
    stepSeconds: STEP_SECONDS,
    rewardShare: REWARD_SHARE,
    timeoutMs: TIMEOUT_MS,
    bounded,
    unbounded,
  });
  log(`\nwrote ${file}`);
};

const serving = process.env.OVERLOAD_SERVE;
if (serving !== undefined) await serve(serving === 'default' ? undefined : Number(serving));
else await main();
