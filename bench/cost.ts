/**
 * `npm run bench:cost` — what one API request costs on AWS, from the calls it makes.
 *
 * Starts the embedded runtime in this process (memory, port 0, handlers at log level INFO as
 * deployed, EMF metrics on so their lines are counted, throttle and per-tenant limits out of the way,
 * private expert endpoints allowed for the invoke kinds' local experts), seeds 16 experts of tenant
 * acme and warms every request kind of acme up. The invoke kinds (POST /router/invoke) run in tenants
 * of their own, so their experts and the signals they learn never touch acme's model (what the other
 * kinds read and write), and are warmed up just before they are measured: `bench-invoke` (the default
 * strategy, 4 experts) and `bench-fallback` (the static strategy, whose default expert answers 503,
 * so every invoke falls back once, to the next candidate). Their experts answer from a bare node:http
 * server on 127.0.0.1 in this process (no AWS call, nothing metered). Then, per request kind, an
 * ambient CallMeter records N requests (BENCH_COST_REQUESTS, default 200) sent one after another over real
 * HTTP, plus the asynchronous work they cause (every event source mapping is drained before the meter
 * stops: the reward consumer, the decision-archive consumer). Log writes are counted, not printed,
 * while a meter runs. The calls are priced with the us-east-1 list prices of bench/prices.ts.
 * Writes bench/results/cost.json.
 */

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type CallLine,
  CallMeter,
  meterLogWrites,
  setAmbientCallMeter,
} from '#shared/adapters/call-meter.js';
import { DEFAULT_FUNCTION_MEMORY_MB, rateFamiliesOf } from '#shared/pillar.js';
import { PILLARS } from '../functions/catalog.js';
import { startConductor } from '../infra/local/runtime.js';
import { complianceCostKinds } from './cost-kinds/compliance.js';
import { edgeCostKinds } from './cost-kinds/edge.js';
import { evalCostKinds } from './cost-kinds/eval.js';
import type { CostContext, Kind, PillarKinds } from './cost-kinds/kind.js';
import { runbooksCostKinds } from './cost-kinds/runbooks.js';
import { schedulerCostKinds } from './cost-kinds/scheduler.js';
import { BENCH_TENANT_LIMIT, BENCH_THROTTLE, benchTransport, seedBenchExperts } from './lib/conductor.js';
import { checkQuiet, machine } from './lib/machine.js';
import { writeResult } from './lib/results.js';
import { fixed, round, table } from './lib/stats.js';
import {
  COST_COMPONENTS,
  type CostBreakdown,
  LAMBDA_PLATFORM_LOG_BYTES,
  LAMBDA_XRAY_REPORT_BYTES,
  PRICES,
  PRICES_CHECKED,
  PRICES_REGION,
  priceCallLines,
  SECONDS_PER_MONTH,
  scaleCost,
  XRAY_DEFAULT_SAMPLING,
  XRAY_STATED_RATE,
  xraySampledShare,
} from './prices.js';

const REQUESTS = Number(process.env.BENCH_COST_REQUESTS ?? 200);
if (!Number.isInteger(REQUESTS) || REQUESTS < 1)
  throw new Error('BENCH_COST_REQUESTS must be a positive integer');
const WARM_UP = 5;
/**
 * Rewards learnt before the reward phase: the model item carries the ids of its last rewards (the
 * applied window), rewritten with every reward, so a reward costs its steady-state price only once
 * that window is full. 600 fills any window up to 512 (the size before "the price of a route").
 */
const REWARD_WARM_UP = Number(process.env.BENCH_COST_REWARD_WARM_UP ?? 600);
if (!Number.isInteger(REWARD_WARM_UP) || REWARD_WARM_UP < 0)
  throw new Error('BENCH_COST_REWARD_WARM_UP must be a whole number');
const EXPERTS = 16;
const MONTHLY_ROUTE_RATES = [10, 150, 1_000];

const LAMBDA_CAVEAT =
  'Lambda duration is measured here, in this process, on this machine’s Node on x86 (handler time of ' +
  'the in-process invocation, rounded up to the ms as Lambda bills it); Lambda runs the functions on ' +
  'arm64 with Node 22 and 512 MB (a fraction of a vCPU), where the same work may take longer or shorter. ' +
  'Cold starts (init duration, billed) are excluded.';

const lines: string[] = [];
/** Collects report lines; printed once no meter runs (see `print`). */
const log = (line = '') => lines.push(line);

/**
 * The invoke kinds' experts: any POST is answered at once with a small JSON body that reports its
 * cost (the invoke's `cost` signal), or with 503 under /fail (an infrastructure error: a fallback).
 */
const EXPERT_ANSWER = JSON.stringify({ answer: 'pong', costUsd: 0.0004 });
const expertServer = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const status = req.method !== 'POST' ? 405 : req.url?.startsWith('/fail') ? 503 : 200;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(
      status === 200 ? EXPERT_ANSWER : JSON.stringify({ error: status === 503 ? 'down' : 'POST only' }),
    );
  });
});
await new Promise<void>((resolve) => expertServer.listen(0, '127.0.0.1', resolve));
const expertBase = `http://127.0.0.1:${(expertServer.address() as AddressInfo).port}`;

const conductor = await startConductor({
  memory: true,
  port: 0,
  transport: benchTransport(),
  logLevel: 'INFO',
  // The invoke kinds' experts are on 127.0.0.1 (`npm start -- --allow-private-endpoints`); only the
  // guarded outbound client reads this, which no other kind uses.
  allowPrivateEndpoints: true,
  // EMF metric lines are written to stdout as on Lambda, so the log bytes count them.
  functionEnv: { POWERTOOLS_METRICS_DISABLED: 'false' },
  maxInFlight: 1_000_000,
  throttle: BENCH_THROTTLE,
  rateLimits: Object.fromEntries(
    Object.keys(rateFamiliesOf(PILLARS)).map((family) => [family, BENCH_TENANT_LIMIT]),
  ),
});
// Handler logs and EMF lines are counted into the active meter and not printed while it runs.
meterLogWrites({ discard: true });

/**
 * Waits until nothing a request set off is left: every queue's consumer, the bus's deliveries (and
 * the subscriptions they run) and the approval flows, each of which may set off the others; done
 * when a whole pass finds all of them idle.
 */
const drainAll = async () => {
  const busy = () =>
    [...conductor.mappings.values()].some(({ queue }) => {
      const depth = queue.depth();
      return depth.visible > 0 || depth.inFlight > 0;
    });
  for (let pass = 0; pass < 100; pass += 1) {
    for (const mapping of conductor.mappings.values()) await mapping.drain(30_000);
    await conductor.bus.drain();
    await conductor.approvalFlow.settled();
    if (!busy()) return;
  }
  throw new Error('the runtime did not come to rest after 100 passes of its queues, bus and flows');
};

/** Runs setup work under a throw-away meter: unmetered, and its handler logs are not printed. */
const quietly = async <T>(work: () => Promise<T>): Promise<T> => {
  setAmbientCallMeter(new CallMeter());
  try {
    const result = await work();
    await drainAll();
    return result;
  } finally {
    setAmbientCallMeter(undefined);
  }
};

const send = async (kind: Kind, i: number, phase: string) => {
  const body = kind.body?.(i, phase);
  const reply = await fetch(`${conductor.apiUrl}${kind.path}`, {
    method: kind.method,
    headers: {
      authorization: `Bearer ${kind.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...kind.headers?.(i, phase),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await reply.text();
  if (reply.status !== kind.status) {
    throw new Error(`${kind.name} #${i} (${phase}): expected ${kind.status}, got ${reply.status}: ${text}`);
  }
  try {
    kind.check?.(JSON.parse(text));
  } catch (error) {
    throw new Error(`${kind.name} #${i} (${phase}): ${(error as Error).message}: ${text}`);
  }
};

const [admin, operator, viewer] = await Promise.all([
  conductor.issuer.mint({
    subject: 'bench-acme-admin',
    tenant: 'acme',
    roles: ['tenant-admin'],
    amr: ['pwd', 'mfa'],
  }),
  conductor.issuer.mint({ subject: 'bench-acme-operator', tenant: 'acme', roles: ['operator'] }),
  conductor.issuer.mint({ subject: 'bench-acme-viewer', tenant: 'acme', roles: ['viewer'] }),
]);
/** A tenant admin (with MFA, as a router configuration asks) and an operator of `tenant`. */
const tenantTokens = (tenant: string) =>
  Promise.all([
    conductor.issuer.mint({
      subject: `bench-${tenant}-admin`,
      tenant,
      roles: ['tenant-admin'],
      amr: ['pwd', 'mfa'],
    }),
    conductor.issuer.mint({ subject: `bench-${tenant}-operator`, tenant, roles: ['operator'] }),
  ]);
const [invokeAdmin, invokeOperator] = await tenantTokens('bench-invoke');
const [fallbackAdmin, fallbackOperator] = await tenantTokens('bench-fallback');
const experts = await quietly(() => seedBenchExperts(conductor.apiUrl, admin, EXPERTS, 'cost'));

/** A request of the bench's own (setup, unmetered when run `quietly`); its JSON answer. */
const call: CostContext['call'] = async (method, path, token, body, status, headers = {}) => {
  const reply = await fetch(`${conductor.apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await reply.text();
  if (reply.status !== status) throw new Error(`${method} ${path}: ${reply.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
};
/** Model experts of the token's tenant on the local expert server, at `paths`; their ids. */
const seedLocalExperts = async (token: string, prefix: string, paths: readonly string[]) => {
  const ids: string[] = [];
  for (const [i, path] of paths.entries()) {
    const body = {
      name: `${prefix}-e${i}`,
      type: 'model',
      costPerCallUsd: 0.001,
      endpoint: `${expertBase}${path}`,
    };
    ids.push((await call('POST', '/experts', token, body, 201)).id as string);
  }
  return ids;
};
const [invokeExperts, fallbackExperts] = await quietly(async () => {
  const answering = await seedLocalExperts(invokeAdmin, 'cost-invoke', ['/e0', '/e1', '/e2', '/e3']);
  // The first candidate answers 503; the static strategy picks it first, then the next candidate.
  const falling = await seedLocalExperts(fallbackAdmin, 'cost-fallback', ['/fail', '/e1', '/e2', '/e3']);
  await call(
    'PUT',
    '/router/config',
    fallbackAdmin,
    { strategy: 'static', defaultExpertId: falling[0] },
    200,
  );
  return [answering, falling];
});

const LANGUAGES = ['typescript', 'python', 'go', 'rust'];
const routeBody = (candidates: readonly string[]) => (i: number, phase: string) => ({
  taskId: `cost-${phase}-${candidates.length}-${i}`,
  context: {
    language: LANGUAGES[i % LANGUAGES.length],
    tokens: 100 + ((i * 37) % 3900),
    urgent: i % 5 === 0,
  },
  candidates,
});
const rewardTaskId = (i: number, phase: string) => `cost-reward-${phase}-${i}`;

/** POST /router/reward for tasks routed (4 candidates) before the phase, unmetered. */
const rewardKind = (name: string, extra: Pick<Kind, 'warmUp' | 'wave'>): Kind => ({
  name,
  method: 'POST',
  path: '/router/reward',
  token: operator,
  status: 202,
  ...extra,
  body: (i, phase) => ({ taskId: rewardTaskId(i, phase), signal: 'success_at_k', value: 1 }),
  prepare: async (count, phase) => {
    const route = routeBody(experts.slice(0, 4));
    for (let i = 0; i < count; i += 1) {
      await send(
        {
          name: 'route before reward',
          method: 'POST',
          path: '/router/route',
          token: operator,
          status: 200,
          body: () => ({ ...route(i, phase), taskId: rewardTaskId(i, phase) }),
        },
        i,
        phase,
      );
    }
  },
});

/** What an invoke answered, as far as the checks below read it. */
interface InvokeReply {
  readonly fallbackUsed?: boolean;
  readonly signalsRecorded?: boolean;
  readonly attempts?: readonly { readonly outcome: string }[];
}
/**
 * POST /router/invoke of 4 candidates on the local experts, in a tenant of its own. `outcomes`: the
 * attempts each invoke must make. Warmed up like the reward: every attempt learns its incident_free
 * signal, and REWARD_WARM_UP of them are learnt first, so that the model's window of applied reward
 * ids is full and the signals are priced at their steady state.
 */
const invokeKind = (
  name: string,
  token: string,
  candidates: readonly string[],
  outcomes: readonly string[],
): Kind => ({
  name,
  method: 'POST',
  path: '/router/invoke',
  token,
  status: 200,
  ownTenant: true,
  warmUp: Math.max(WARM_UP, Math.ceil(REWARD_WARM_UP / outcomes.length)),
  body: (i, phase) => ({
    ...routeBody(candidates)(i, phase),
    taskId: `cost-invoke-${phase}-${i}`,
    input: { question: `task ${i}` },
  }),
  check: (reply) => {
    const { fallbackUsed, signalsRecorded, attempts } = reply as InvokeReply;
    const seen = (attempts ?? []).map((a) => a.outcome).join(',');
    if (seen !== outcomes.join(',') || fallbackUsed !== outcomes.length > 1 || signalsRecorded !== true)
      throw new Error(`expected attempts ${outcomes.join(',')} with every signal recorded`);
  },
});

/** Each pillar's main requests (bench/cost-kinds/), each in tenants of its own, set up unmetered. */
const PILLAR_KINDS: Readonly<Record<string, PillarKinds>> = {
  scheduler: schedulerCostKinds,
  eval: evalCostKinds,
  runbooks: runbooksCostKinds,
  edge: edgeCostKinds,
  compliance: complianceCostKinds,
};
/** `BENCH_COST_ONLY=<pillar>[,…]`: only those pillars' kinds (`router` for the router's and the kernel's). */
const ONLY = process.env.BENCH_COST_ONLY?.split(',').map((name) => name.trim());
for (const name of ONLY ?? []) {
  if (name !== 'router' && !(name in PILLAR_KINDS))
    throw new Error(
      `BENCH_COST_ONLY: no kinds named ${name} (router, ${Object.keys(PILLAR_KINDS).join(', ')})`,
    );
}
const wanted = (name: string) => ONLY === undefined || ONLY.includes(name);
const costContext: CostContext = {
  conductor,
  token: (tenant, subject, roles, mfa = false) =>
    conductor.issuer.mint({ subject, tenant, roles, ...(mfa ? { amr: ['pwd', 'mfa'] } : {}) }),
  call,
  expertBase,
};
const pillarKinds: Kind[] = [];
for (const [name, kindsOf] of Object.entries(PILLAR_KINDS)) {
  if (wanted(name)) pillarKinds.push(...(await quietly(() => kindsOf(costContext))));
}

const ROUTER_KINDS: readonly Kind[] = [
  {
    name: 'route, 4 candidates',
    method: 'POST',
    path: '/router/route',
    token: operator,
    status: 200,
    body: routeBody(experts.slice(0, 4)),
  },
  {
    name: 'route, 16 candidates',
    method: 'POST',
    path: '/router/route',
    token: operator,
    status: 200,
    body: routeBody(experts.slice(0, 16)),
  },
  rewardKind('reward', { warmUp: REWARD_WARM_UP }),
  // Ten at once: the consumer may learn several in one model write, as under load.
  rewardKind('reward, 10 at once', { wave: 10 }),
  {
    name: 'authorize',
    method: 'POST',
    path: '/policy/authorize',
    token: operator,
    status: 200,
    body: (i) => ({
      subject: { id: `someone-${i % 8}`, tenantId: 'acme', roles: ['viewer'] },
      action: 'experts:list',
      resource: { tenantId: 'acme', kind: 'experts' },
    }),
  },
  { name: 'GET experts', method: 'GET', path: '/experts', token: viewer, status: 200 },
  invokeKind('invoke, 4 candidates', invokeOperator, invokeExperts, ['ok']),
  // The first pick answers 503, the next candidate answers: two routes, two calls, two attempts' signals.
  invokeKind('invoke with a fallback, 4 candidates', fallbackOperator, fallbackExperts, [
    'unavailable',
    'ok',
  ]),
];
const KINDS: readonly Kind[] = [
  ...(wanted('router') ? ROUTER_KINDS : []),
  ...pillarKinds.map((kind) => ({ ...kind, ownTenant: true })),
];

/** A few requests of a kind (or its `warmUp`), unmetered: first imports, caches, JIT. */
const warmUp = async (kind: Kind, index: number) => {
  const count = kind.warmUp ?? WARM_UP;
  await kind.prepare?.(count, `warm${index}`);
  for (let i = 0; i < count; i += 1) await send(kind, i, `warm${index}`);
  if (kind.verify) {
    await drainAll();
    await kind.verify();
  }
};

// Warm-up of every kind of acme (the others are warmed up just before they are measured).
await quietly(async () => {
  for (const [index, kind] of KINDS.entries()) if (!kind.ownTenant) await warmUp(kind, index);
  for (const mapping of conductor.mappings.values()) await mapping.drain();
});

const busyBefore = await checkQuiet(log);

interface Measured {
  readonly kind: Kind;
  readonly lines: CallLine[];
  /** Mean wall time of one request as the client saw it (drain excluded). */
  readonly meanRequestMs: number;
}

const measured: Measured[] = [];
for (const [index, kind] of KINDS.entries()) {
  const phase = `run${index}`;
  if (kind.ownTenant) await quietly(() => warmUp(kind, index));
  if (kind.prepare) await quietly(() => kind.prepare?.(REQUESTS, phase) ?? Promise.resolve());
  const meter = new CallMeter();
  setAmbientCallMeter(meter);
  let requestMs = 0;
  try {
    const started = performance.now();
    const wave = kind.wave ?? 1;
    for (let i = 0; i < REQUESTS; i += wave) {
      const ids = Array.from({ length: Math.min(wave, REQUESTS - i) }, (_, k) => i + k);
      await Promise.all(ids.map((j) => send(kind, j, phase)));
    }
    requestMs = performance.now() - started;
    await drainAll();
  } finally {
    setAmbientCallMeter(undefined);
  }
  if (kind.verify) await quietly(kind.verify);
  measured.push({ kind, lines: meter.lines(), meanRequestMs: requestMs / REQUESTS });
}

// Report. From here on no meter runs: log writes print again.
meterLogWrites({ discard: false });

const perMillion = (cost: CostBreakdown) => scaleCost(cost, 1_000_000 / REQUESTS);
const money = (usd: number) => (usd >= 100 ? fixed(usd, 0) : usd >= 1 ? fixed(usd, 2) : fixed(usd, 3));
const unitsText = (units: Readonly<Record<string, number>>) =>
  Object.entries(units)
    .map(([unit, value]) => {
      const perRequest = value / REQUESTS;
      return `${unit}=${perRequest >= 100 ? fixed(perRequest, 0) : fixed(perRequest, 3)}`;
    })
    .join(' ');
const sampledShare = xraySampledShare(XRAY_STATED_RATE);

log(
  `bench:cost — AWS cost per API request from the embedded runtime's call accounting (${REQUESTS} requests per kind, one after another unless the kind says otherwise, asynchronous work drained)`,
);
log(
  `List prices ${PRICES_REGION}, checked ${PRICES_CHECKED} (bench/prices.ts; first tiers, no free tier). X-Ray at the default sampling (${XRAY_DEFAULT_SAMPLING.reservoirPerSecond}/s + ${XRAY_DEFAULT_SAMPLING.fixedRate * 100} % of the rest) at ${XRAY_STATED_RATE} req/s: ${fixed(sampledShare * 100, 1)} % of requests traced.`,
);
log(
  `Lambda's own log lines: START/END/REPORT ≈ ${LAMBDA_PLATFORM_LOG_BYTES} B per invocation, + ${LAMBDA_XRAY_REPORT_BYTES} B of X-Ray fields on traced ones (estimate, bench/prices.ts).`,
);

const results = measured.map(({ kind, lines: callLines, meanRequestMs }) => {
  const priced = priceCallLines(callLines);
  const cost = perMillion(priced.cost);
  const invocations = callLines.find((l) => l.service === 'lambda')?.calls ?? 0;
  const lambdaMs = callLines.find((l) => l.service === 'lambda')?.units.ms ?? 0;
  const meanInvocationMs = invocations > 0 ? lambdaMs / invocations : 0;

  log();
  log(`== ${kind.name} (${kind.method} ${kind.path}), ${fixed(meanRequestMs, 1)} ms per request here`);
  if (kind.note) log(kind.note);
  log(
    table(
      [
        ['service.operation', 'calls/req', 'units/req'],
        ...callLines.map((l) => [
          `${l.service}.${l.operation}`,
          // Log writes are counted in bytes, not calls.
          l.service === 'logs' ? '-' : fixed(l.calls / REQUESTS, 3),
          unitsText(l.units),
        ]),
      ],
      'lrl',
    ),
  );
  log();
  const notes: Record<string, string> = {
    lambdaRequests: `${fixed(invocations / REQUESTS, 3)} invocations per request`,
    lambdaDuration: `mean ${fixed(meanInvocationMs, 2)} ms per invocation at ${DEFAULT_FUNCTION_MEMORY_MB} MB, arm64 price`,
    logs: `${fixed(priced.logBytes.measured / REQUESTS, 0)} B handler logs + EMF measured, + ${fixed(priced.logBytes.lambdaPlatform / REQUESTS, 0)} B Lambda's own lines (est.)`,
    xray: `${fixed(sampledShare * 100, 1)} % traced at ${XRAY_STATED_RATE} req/s`,
  };
  log(
    table(
      [
        ['component', '$ per million requests', ''],
        ...COST_COMPONENTS.map(([key, label]) => [label, money(cost[key]), notes[key] ?? '']),
        ['total', money(cost.total), ''],
        ['floor', money(cost.floor), 'API Gateway request + one Lambda request'],
        ['ratio', `${fixed(cost.total / cost.floor, 2)}x`, 'total / floor'],
      ],
      'lrl',
    ),
  );
  if (priced.unpriced.length > 0) log(`  not priced: ${priced.unpriced.join(', ')}`);
  return { kind, callLines, cost, priced, meanInvocationMs, meanRequestMs };
});

log();
/** The same calls priced as a deployment with `-c tracing=pass-through -c platformLogs=warn` runs them. */
const LEAN_TELEMETRY = { tracing: 'pass-through', platformLogLevel: 'WARN' } as const;
const leanOf = (r: (typeof results)[number]) =>
  perMillion(priceCallLines(r.callLines, { telemetry: LEAN_TELEMETRY }).cost);
log(
  'Summary ($ per million requests; "lean telemetry": the same calls with tracing pass-through and platformLogs warn)',
);
log(
  table(
    [
      ['request kind', 'total', 'floor', 'ratio', 'lean telemetry', 'ratio'],
      ...results.map((r) => {
        const lean = leanOf(r);
        return [
          r.kind.name,
          money(r.cost.total),
          money(r.cost.floor),
          `${fixed(r.cost.total / r.cost.floor, 2)}x`,
          money(lean.total),
          `${fixed(lean.total / lean.floor, 2)}x`,
        ];
      }),
    ],
    'lrrrrr',
  ),
);

// Monthly: routes (4 candidates) plus one reward per route, X-Ray sampled on the whole API stream.
const routeLines = measured.find((m) => m.kind.name === 'route, 4 candidates')?.lines ?? [];
const rewardLines = measured.find((m) => m.kind.name === 'reward')?.lines ?? [];
const batchedRewardLines = measured.find((m) => m.kind.name === 'reward, 10 at once')?.lines ?? [];
// Without the router's kinds (BENCH_COST_ONLY) there is no monthly table.
const monthly = (routeLines.length > 0 ? MONTHLY_ROUTE_RATES : []).map((routesPerSecond) => {
  const requestsPerSecond = routesPerSecond * 2;
  const perRequest = (callLines: CallLine[]) =>
    scaleCost(priceCallLines(callLines, { requestsPerSecond }).cost, 1 / REQUESTS);
  const route = perRequest(routeLines);
  const reward = perRequest(rewardLines);
  const perMonth = routesPerSecond * SECONDS_PER_MONTH;
  const total = (route.total + reward.total) * perMonth;
  const batched = (route.total + perRequest(batchedRewardLines).total) * perMonth;
  const floor = (route.floor + reward.floor) * perMonth;
  const byComponent = Object.fromEntries(
    COST_COMPONENTS.map(([key]) => [key, round((route[key] + reward[key]) * perMonth, 2)]),
  );
  return { routesPerSecond, routesPerMonth: perMonth, total, batched, floor, byComponent };
});
if (monthly.length > 0) {
  log();
  log(
    `Monthly cost: "route, 4 candidates" plus one reward per route (${fixed(SECONDS_PER_MONTH / 1e6, 3)} million seconds a month; X-Ray sampled on routes + rewards); "$ total" prices every reward learnt alone, "$ batched" at the "reward, 10 at once" price`,
  );
  log(
    table(
      [
        ['routes/s', 'routes/month', '$ total', '$ batched', '$ floor', 'ratio', 'largest components'],
        ...monthly.map((m) => [
          String(m.routesPerSecond),
          `${fixed(m.routesPerMonth / 1e6, 1)} M`,
          money(m.total),
          money(m.batched),
          money(m.floor),
          `${fixed(m.total / m.floor, 2)}x`,
          Object.entries(m.byComponent)
            .sort((a, b) => b[1] - a[1])
            .slice(0, 3)
            .map(([key, usd]) => `${COST_COMPONENTS.find(([k]) => k === key)?.[1] ?? key} ${money(usd)}`)
            .join(', '),
        ]),
      ],
      'rrrrrrl',
    ),
  );
}
log();
log(`Caveat: ${LAMBDA_CAVEAT}`);
const unconfirmed = Object.entries(PRICES)
  .filter(([, price]) => !price.confirmed)
  .map(([name]) => name);
if (unconfirmed.length > 0) {
  log(
    `Prices not confirmed on an AWS page (third-party figures used, see bench/prices.ts): ${unconfirmed.join(', ')}`,
  );
}

const result = {
  machine: machine(),
  date: new Date().toISOString(),
  otherCpuBusyBefore: round(busyBefore, 2),
  requestsPerKind: REQUESTS,
  region: PRICES_REGION,
  pricesChecked: PRICES_CHECKED,
  prices: PRICES,
  xray: {
    sampling: XRAY_DEFAULT_SAMPLING,
    statedRequestsPerSecond: XRAY_STATED_RATE,
    sampledShare: round(sampledShare, 4),
  },
  lambdaOwnLogBytes: {
    perInvocation: LAMBDA_PLATFORM_LOG_BYTES,
    xrayFieldsPerTracedInvocation: LAMBDA_XRAY_REPORT_BYTES,
  },
  lambdaCaveat: LAMBDA_CAVEAT,
  kinds: results.map((r) => ({
    name: r.kind.name,
    request: `${r.kind.method} ${r.kind.path}`,
    ...(r.kind.note ? { note: r.kind.note } : {}),
    perRequest: r.callLines.map((l) => ({
      call: `${l.service}.${l.operation}`,
      calls: round(l.calls / REQUESTS, 4),
      units: Object.fromEntries(
        Object.entries(l.units).map(([unit, value]) => [unit, round(value / REQUESTS, 4)]),
      ),
    })),
    meanInvocationMs: round(r.meanInvocationMs, 3),
    meanRequestMs: round(r.meanRequestMs, 2),
    usdPerMillion: Object.fromEntries(Object.entries(r.cost).map(([key, value]) => [key, round(value, 4)])),
    ratio: round(r.cost.total / r.cost.floor, 3),
    leanTelemetry: (() => {
      const lean = leanOf(r);
      return { usdPerMillion: round(lean.total, 4), ratio: round(lean.total / lean.floor, 3) };
    })(),
    unpriced: r.priced.unpriced,
  })),
  monthly: monthly.map((m) => ({
    routesPerSecond: m.routesPerSecond,
    rewardsPerSecond: m.routesPerSecond,
    usdTotal: round(m.total, 2),
    usdTotalRewardsBatched: round(m.batched, 2),
    usdFloor: round(m.floor, 2),
    usdByComponent: m.byComponent,
  })),
};
if (ONLY === undefined) log(`wrote ${writeResult('cost', result)}`);
else log('BENCH_COST_ONLY: a partial run, bench/results/cost.json not written');

await conductor.stop();
expertServer.closeAllConnections();
await new Promise((resolve) => expertServer.close(resolve));
console.log(lines.join('\n'));
