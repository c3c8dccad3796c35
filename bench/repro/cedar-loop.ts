/**
 * One fresh process of the V8 fatal-error repro (see `bench/repro/README.md`): the in-process phase
 * of `npm run bench:policy`, without the HTTP phase, the tables or the result file, repeated
 * REPRO_ROUNDS times (default 1). The request mix, its seed and the call shapes are the bench's.
 *
 *   node --import tsx bench/repro/cedar-loop.ts <mode>
 *
 * mode:
 *   raw     the raw `statefulIsAuthorized` call on a preparsed schema and policy set, 20,000 requests
 *           plus 2,000 warm-up (the bench's baseline row)
 *   engine  `CedarPolicyEngine.decide` only, uncached then through the 60 s cache (60,000 requests)
 *   opa     `OpaPolicyEngine.decide` only (the committed wasm bundle), uncached, batch of 30, cached
 *   full    the whole in-process phase in the bench's order: raw + engine interleaved warm-up, raw,
 *           engine, cache; then Cedar and OPA side by side (uncached, batch of 30, cached); then
 *           engine load times (a new CedarPolicyEngine and OPA bundle 6 times each)
 *
 * Exits 0 and prints `ok <mode> <ms>` when it lives; a V8 fatal error kills it with SIGTRAP (133).
 */

import { createRequire } from 'node:module';
import { CachedPolicyEngine } from '#shared/policy/cache.js';
import { CedarPolicyEngine } from '#shared/policy/cedar.js';
import { OpaPolicyEngine } from '#shared/policy/opa.js';
import { defaultOpaBundleDir, defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import type { AuthzRequest, PolicyEngine } from '#shared/ports/policy.js';
import { rawCedarCaller, realisticRequest, time } from '../lib/policy-mix.js';

type Cedar = typeof import('@cedar-policy/cedar-wasm/nodejs');
const cedar = createRequire(import.meta.url)('@cedar-policy/cedar-wasm/nodejs') as Cedar;

const sources = readPolicySources(defaultPolicyDir());
// Where a crashed run was: the last `phase` line of its stdout (writes to a file are synchronous).
const phase = (name: string) => process.stdout.write(`phase ${name}\n`);

const rawCall = () => rawCedarCaller(cedar, sources);

const engineFigures = (
  engine: PolicyEngine,
  requests: readonly AuthzRequest[],
  mix: readonly AuthzRequest[],
) => {
  for (const request of requests.slice(0, 2000)) engine.decide(request);
  let i = 0;
  time(() => engine.decide(requests[i++ % requests.length] as AuthzRequest), requests.length);
  i = 0;
  time(() => {
    for (let k = 0; k < 30; k += 1) engine.decide(requests[i++ % requests.length] as AuthzRequest);
  }, 2000);
  let now = 0;
  const cached = new CachedPolicyEngine(engine, () => now);
  i = 0;
  time(() => {
    now += 1000 / 150;
    cached.decide(mix[i++ % mix.length] as AuthzRequest);
  }, mix.length);
};

const modes: Record<string, () => Promise<void>> = {
  raw: async () => {
    const { raw } = rawCall();
    const requests = Array.from({ length: 20_000 }, realisticRequest);
    for (const request of requests.slice(0, 2000)) raw(request);
    let i = 0;
    time(() => raw(requests[i++ % requests.length] as AuthzRequest), requests.length);
  },
  engine: async () => {
    const engine = new CedarPolicyEngine(sources);
    engineFigures(
      engine,
      Array.from({ length: 20_000 }, realisticRequest),
      Array.from({ length: 60_000 }, realisticRequest),
    );
  },
  opa: async () => {
    const engine = await OpaPolicyEngine.loadBundle(defaultOpaBundleDir());
    engineFigures(
      engine,
      Array.from({ length: 20_000 }, realisticRequest),
      Array.from({ length: 60_000 }, realisticRequest),
    );
  },
  full: async () => {
    phase('warm-up raw+engine');
    const { engine, raw } = rawCall();
    const requests = Array.from({ length: 20_000 }, realisticRequest);
    for (const request of requests.slice(0, 2000)) {
      raw(request);
      engine.decide(request);
    }
    phase('raw');
    let i = 0;
    time(() => raw(requests[i++ % requests.length] as AuthzRequest), requests.length);
    phase('engine uncached');
    i = 0;
    time(() => engine.decide(requests[i++ % requests.length] as AuthzRequest), requests.length);
    phase('engine cached');
    let now = 0;
    const cached = new CachedPolicyEngine(engine, () => now);
    const mix = Array.from({ length: 60_000 }, realisticRequest);
    i = 0;
    time(() => {
      now += 1000 / 150;
      cached.decide(mix[i++ % mix.length] as AuthzRequest);
    }, mix.length);
    const same = Array.from({ length: 20_000 }, realisticRequest);
    const sameMix = Array.from({ length: 60_000 }, realisticRequest);
    phase('side by side: cedar');
    engineFigures(new CedarPolicyEngine(sources), same, sameMix);
    phase('side by side: opa');
    engineFigures(await OpaPolicyEngine.loadBundle(defaultOpaBundleDir()), same, sameMix);
    phase('load times');
    for (let k = 0; k < 6; k += 1) {
      new CedarPolicyEngine(sources);
      await OpaPolicyEngine.loadBundle(defaultOpaBundleDir());
    }
  },
};

const mode = process.argv[2] ?? 'full';
const run = modes[mode];
if (!run) {
  process.stderr.write(`unknown mode ${mode}: one of ${Object.keys(modes).join(', ')}\n`);
  process.exit(2);
}
const rounds = Number(process.env.REPRO_ROUNDS ?? 1);
const start = process.hrtime.bigint();
for (let r = 0; r < rounds; r += 1) await run();
process.stdout.write(`ok ${mode} ${Math.round(Number(process.hrtime.bigint() - start) / 1e6)}\n`);
