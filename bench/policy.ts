/**
 * `npm run bench:policy` — how fast a policy decision is, in-process and over HTTP.
 *
 * 1. In-process: the raw Cedar call (`statefulIsAuthorized` on a preparsed schema and policy set:
 *    the baseline), Conductor's engine uncached (raw call + annotation mapping), and the 60 s
 *    decision cache on a realistic mix, with its hit rate. Per-call latency with hrtime.
 * 2. HTTP: `POST /api/conductor/v1/policy/authorize` on the embedded runtime at 900 rpm per tenant
 *    for 10 tenants (150 rps), open loop, p50/p95/p99 (the endpoint logs every decision to the
 *    policy table: the figure includes that durable write).
 * 3. Cedar and OPA (the committed wasm bundle) side by side on the same requests: uncached, a batch
 *    of 30, cached, engine load; and the HTTP run once per engine.
 * Targets (issues): uncached p99 < 1 ms in-process, hit rate > 90 % on the mix, HTTP p95 < 10 ms;
 * OPA within 2x of Cedar (the condition for OPA to become the default engine).
 */

import { fileURLToPath } from 'node:url';
import { CachedPolicyEngine } from '#shared/policy/cache.js';
import { CedarPolicyEngine, loadCedar } from '#shared/policy/cedar.js';
import { OpaPolicyEngine } from '#shared/policy/opa.js';
import {
  defaultOpaBundleDir,
  defaultPolicyDir,
  type PolicyEngineName,
  readPolicySources,
} from '#shared/policy/source.js';
import type { AuthzRequest, PolicyEngine } from '#shared/ports/policy.js';
import { startServerChild } from './lib/child.js';
import { machine } from './lib/machine.js';
import { rawCedarCaller, realisticRequest, TENANTS, time } from './lib/policy-mix.js';
import { openLoopPost, type PostTarget } from './lib/post.js';
import { writeResult } from './lib/results.js';
import { fixed, latencyCells, round, type Summary, summarize, table, verdict } from './lib/stats.js';

// Through the kernel's loader, which also turns off the V8 inlining that crashed this benchmark (cedar.ts).
const cedar = loadCedar();

const log = (line = '') => process.stdout.write(`${line}\n`);
const us = (summary: Summary, key: keyof Summary) => fixed(summary[key] as number, 1);

/** ms to build each engine: the first load in this process (module and wasm compiled), then the median of 5 more. */
const loadTimes = async () => {
  const sources = readPolicySources(defaultPolicyDir());
  const ms = async (load: () => unknown) => {
    const start = process.hrtime.bigint();
    await load();
    return Number(process.hrtime.bigint() - start) / 1e6;
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const cedarFirst = await ms(() => new CedarPolicyEngine(sources));
  const opaFirst = await ms(() => OpaPolicyEngine.loadBundle(defaultOpaBundleDir()));
  const cedarNext: number[] = [];
  const opaNext: number[] = [];
  for (let k = 0; k < 5; k += 1) {
    cedarNext.push(await ms(() => new CedarPolicyEngine(sources)));
    opaNext.push(await ms(() => OpaPolicyEngine.loadBundle(defaultOpaBundleDir())));
  }
  return {
    cedar: { firstMs: cedarFirst, nextMedianMs: median(cedarNext) },
    opa: { firstMs: opaFirst, nextMedianMs: median(opaNext) },
  };
};

/** One engine on the same requests: uncached, a batch of 30 (as one route's candidates), 60 s cache. */
const engineFigures = (
  engine: PolicyEngine,
  requests: readonly AuthzRequest[],
  mix: readonly AuthzRequest[],
) => {
  for (const request of requests.slice(0, 2000)) engine.decide(request);
  let i = 0;
  const uncached = time(
    () => engine.decide(requests[i++ % requests.length] as AuthzRequest),
    requests.length,
  );
  i = 0;
  const batch = time(() => {
    for (let k = 0; k < 30; k += 1) engine.decide(requests[i++ % requests.length] as AuthzRequest);
  }, 2000);
  let now = 0;
  const cached = new CachedPolicyEngine(engine, () => now);
  i = 0;
  const cachedSamples = time(() => {
    now += 1000 / 150;
    cached.decide(mix[i++ % mix.length] as AuthzRequest);
  }, mix.length);
  return {
    uncached: summarize(uncached),
    batch30: summarize(batch),
    cached: summarize(cachedSamples),
    hitRate: cached.hitRate,
  };
};

const inProcess = () => {
  const sources = readPolicySources(defaultPolicyDir());
  const { engine, raw } = rawCedarCaller(cedar, sources);
  const requests = Array.from({ length: 20_000 }, realisticRequest);

  // Warm up the JIT and the wasm instance on all three paths.
  for (const request of requests.slice(0, 2000)) {
    raw(request);
    engine.decide(request);
  }
  let i = 0;
  const rawSamples = time(() => raw(requests[i++ % requests.length] as AuthzRequest), requests.length);
  i = 0;
  const uncachedSamples = time(
    () => engine.decide(requests[i++ % requests.length] as AuthzRequest),
    requests.length,
  );

  // The cache on a timeline: 150 requests per second of virtual time, TTL 60 s.
  let now = 0;
  const cached = new CachedPolicyEngine(engine, () => now);
  const mix = Array.from({ length: 60_000 }, realisticRequest);
  i = 0;
  const cachedSamples = time(() => {
    now += 1000 / 150;
    cached.decide(mix[i++ % mix.length] as AuthzRequest);
  }, mix.length);
  return {
    raw: summarize(rawSamples),
    uncached: summarize(uncachedSamples),
    cached: summarize(cachedSamples),
    hitRate: cached.hitRate,
    distinctKeys: cached.stats.misses,
  };
};

const overHttp = async (policyEngine: PolicyEngineName) => {
  // The server runs in its own process so the load generator does not share its event loop.
  const server = await startServerChild<{ url: string; tokens: Record<string, string> }>(
    fileURLToPath(new URL('./servers/policy.ts', import.meta.url)),
    { env: { BENCH_TENANTS: String(TENANTS.length), BENCH_POLICY_ENGINE: policyEngine } },
  );
  try {
    const bodies = TENANTS.map((tenant) => ({
      token: server.ready.tokens[tenant] ?? '',
      body: JSON.stringify({
        subject: { id: `${tenant}-user-1`, tenantId: tenant, roles: ['viewer'] },
        action: 'experts:get',
        resource: { tenantId: tenant, kind: 'experts' },
        context: {},
      }),
    }));
    const url = `${server.ready.url}/policy/authorize`;
    let n = 0;
    const target = (): PostTarget => {
      const { token, body } = bodies[n++ % bodies.length] ?? { token: '', body: '' };
      return { url, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body };
    };
    // Warm-up, then 150 rps (900 rpm x 10 tenants) for 10 s.
    await openLoopPost(target, 50, 2);
    await server.stats();
    const result = await openLoopPost(target, 150, 10);
    return { ...result, server: await server.stats() };
  } finally {
    await server.stop();
  }
};

const main = async () => {
  log('bench:policy — policy decisions in-process and over HTTP');
  log(`machine: ${JSON.stringify(machine())}`);
  const local = inProcess();
  log(
    '\nIn-process decision latency (µs), 20,000 realistic requests; cached: 60,000 at 150 rps of virtual time',
  );
  log(
    table(
      [
        ['path', 'p50', 'p95', 'p99', 'max', 'vs raw p99'],
        [
          'raw Cedar statefulIsAuthorized (baseline)',
          us(local.raw, 'p50'),
          us(local.raw, 'p95'),
          us(local.raw, 'p99'),
          us(local.raw, 'max'),
          '1.00x',
        ],
        [
          'engine.decide, uncached',
          us(local.uncached, 'p50'),
          us(local.uncached, 'p95'),
          us(local.uncached, 'p99'),
          us(local.uncached, 'max'),
          `${fixed(local.uncached.p99 / local.raw.p99)}x`,
        ],
        [
          'engine.decide, 60 s cache',
          us(local.cached, 'p50'),
          us(local.cached, 'p95'),
          us(local.cached, 'p99'),
          us(local.cached, 'max'),
          `${fixed(local.cached.p99 / local.raw.p99)}x`,
        ],
      ],
      'lrrrrr',
    ),
  );
  log(`cache hit rate on the mix: ${fixed(local.hitRate * 100, 1)} % (${local.distinctKeys} misses)`);

  // Cedar and OPA side by side, on the same requests in the same process.
  const sameRequests = Array.from({ length: 20_000 }, realisticRequest);
  const sameMix = Array.from({ length: 60_000 }, realisticRequest);
  const engines = {
    cedar: engineFigures(new CedarPolicyEngine(readPolicySources(defaultPolicyDir())), sameRequests, sameMix),
    opa: engineFigures(await OpaPolicyEngine.loadBundle(defaultOpaBundleDir()), sameRequests, sameMix),
  };
  const loads = await loadTimes();
  const ratio = (o: number, c: number) => `${fixed(o / c)}x`;
  log('\nCedar and OPA (wasm, the committed bundle) in-process, the same requests (µs; batch: 30 decisions)');
  log(
    table(
      [
        ['measure', 'Cedar', 'OPA', 'OPA / Cedar'],
        ...(['p50', 'p99'] as const).flatMap((q) => [
          [
            `uncached ${q}`,
            us(engines.cedar.uncached, q),
            us(engines.opa.uncached, q),
            ratio(engines.opa.uncached[q], engines.cedar.uncached[q]),
          ],
          [
            `batch of 30 ${q}`,
            us(engines.cedar.batch30, q),
            us(engines.opa.batch30, q),
            ratio(engines.opa.batch30[q], engines.cedar.batch30[q]),
          ],
          [
            `60 s cache ${q}`,
            us(engines.cedar.cached, q),
            us(engines.opa.cached, q),
            ratio(engines.opa.cached[q], engines.cedar.cached[q]),
          ],
        ]),
        [
          'load, first in process (ms)',
          fixed(loads.cedar.firstMs),
          fixed(loads.opa.firstMs),
          ratio(loads.opa.firstMs, loads.cedar.firstMs),
        ],
        [
          'load, again (median of 5, ms)',
          fixed(loads.cedar.nextMedianMs),
          fixed(loads.opa.nextMedianMs),
          ratio(loads.opa.nextMedianMs, loads.cedar.nextMedianMs),
        ],
      ],
      'lrrr',
    ),
  );

  const http = await overHttp('cedar');
  const httpOpa = await overHttp('opa');
  log(
    '\nHTTP POST /policy/authorize at 150 rps (900 rpm x 10 tenants), 10 s, open loop (ms): Cedar, then OPA',
  );
  log(
    table(
      [
        ['engine', 'ok', 'errors', 'p50', 'p95', 'p99', 'max'],
        ...[
          ['cedar', http],
          ['opa', httpOpa],
        ].map(([name, run]) => {
          const r = run as typeof http;
          return [name as string, String(r.ok), String(r.errors), ...latencyCells(r.latencyMs)];
        }),
      ],
      'lrrrrrr',
    ),
  );

  const checks = {
    uncachedP99Under1ms: local.uncached.p99 < 1000,
    hitRateAbove90: local.hitRate > 0.9,
    httpP95Under10ms: http.latencyMs.p95 < 10 && http.errors === 0,
    opaUncachedWithin2xOfCedar:
      engines.opa.uncached.p50 <= 2 * engines.cedar.uncached.p50 &&
      engines.opa.uncached.p99 <= 2 * engines.cedar.uncached.p99,
    opaHttpP95Within2xOfCedar: httpOpa.latencyMs.p95 <= 2 * http.latencyMs.p95 && httpOpa.errors === 0,
  };
  log('\nTargets');
  log(
    `  uncached p99 < 1 ms in-process: ${verdict(checks.uncachedP99Under1ms)} (${us(local.uncached, 'p99')} µs)`,
  );
  log(
    `  cache hit rate > 90 %:          ${verdict(checks.hitRateAbove90)} (${fixed(local.hitRate * 100, 1)} %)`,
  );
  log(
    `  HTTP p95 < 10 ms at 150 rps:    ${verdict(checks.httpP95Under10ms)} (${fixed(http.latencyMs.p95)} ms, ${http.errors} errors)`,
  );
  log(
    `  OPA uncached within 2x of Cedar (p50, p99): ${verdict(checks.opaUncachedWithin2xOfCedar)} (${ratio(engines.opa.uncached.p50, engines.cedar.uncached.p50)}, ${ratio(engines.opa.uncached.p99, engines.cedar.uncached.p99)})`,
  );
  log(
    `  OPA HTTP p95 within 2x of Cedar:             ${verdict(checks.opaHttpP95Within2xOfCedar)} (${fixed(httpOpa.latencyMs.p95)} / ${fixed(http.latencyMs.p95)} ms = ${ratio(httpOpa.latencyMs.p95, http.latencyMs.p95)})`,
  );

  const file = writeResult('policy', {
    benchmark: 'policy',
    measuredAt: new Date().toISOString(),
    machine: machine(),
    inProcessMicros: {
      raw: roundSummary(local.raw),
      uncached: roundSummary(local.uncached),
      cached: roundSummary(local.cached),
    },
    cacheHitRate: round(local.hitRate, 4),
    http: {
      rate: 150,
      durationS: 10,
      ok: http.ok,
      errors: http.errors,
      latencyMs: roundSummary(http.latencyMs),
    },
    engines: Object.fromEntries(
      Object.entries(engines).map(([name, e]) => [
        name,
        {
          uncached: roundSummary(e.uncached),
          batch30: roundSummary(e.batch30),
          cached: roundSummary(e.cached),
          hitRate: round(e.hitRate, 4),
        },
      ]),
    ),
    engineLoadMs: loads,
    httpOpa: {
      rate: 150,
      durationS: 10,
      ok: httpOpa.ok,
      errors: httpOpa.errors,
      latencyMs: roundSummary(httpOpa.latencyMs),
    },
    checks,
  });
  log(`\nwritten: ${file}`);
};

const roundSummary = (s: Summary) =>
  Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v as number, 2)])) as Record<string, number>;

await main();
