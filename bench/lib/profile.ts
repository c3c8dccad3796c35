import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`) by where the time went: npm package, repo
 * folder or Node internal module. Self time says who burns the CPU; inclusive time (a package counted
 * once per sample if anywhere on the stack) says what the CPU was doing on whose behalf.
 */
interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  /** µs, on the profiled process's monotonic clock. */
  readonly startTime: number;
  readonly endTime: number;
}

/**
 * The largest `.cpuprofile` in `dir` (the main thread's: a worker thread writes a smaller one), with
 * its nodes by id and each node's parent.
 */
const largestProfile = (dir: string) => {
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size)[0];
  if (!file) return undefined;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  return { profile, byId, parent };
};

const ownerOf = (node: ProfileNode, root: string): string => {
  const { url, functionName } = node.callFrame;
  if (!url) return functionName.startsWith('(') ? functionName : `(${functionName || 'anonymous'})`;
  if (url.startsWith('wasm:')) return 'wasm';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) return pkg;
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:');
  const path = url.replace(/^file:\/\//, '').replace(`${root}/`, '');
  return path.split('/').slice(0, 3).join('/');
};

/** Coarse buckets for the self-time split (sums to 100% of busy time). */
const BUCKETS: [string, RegExp][] = [
  ['AWS SDK v3 client (@smithy, @aws-sdk)', /^@(smithy|aws-sdk)\//],
  [
    'dynalite, the local DynamoDB (+ level)',
    /^(dynalite|level|level-.*|abstract-level|memory-level|classic-level|buffer-crc32|lazy|big\.js|async|lock|once|module-error|maybe-combine-errors|functional-red-black-tree)$/,
  ],
  [
    'X-Ray context: cls-hooked async hooks',
    /^(cls-hooked|async-hook-jl|emitter-listener|shimmer|node:async_hooks|\(registerDestroyHook\))$/,
  ],
  ['JWT verify (jose, WebCrypto)', /^(jose|node:crypto\/.*)$/],
  ['Cedar policy engine (wasm and its glue)', /^(wasm|@cedar-policy\/.*)$/],
  ['garbage collector', /^\(garbage collector\)$/],
  ['zod', /^zod$/],
  ['Powertools, middy', /^(@aws-lambda-powertools\/.*|@middy\/.*)$/],
  ['Conductor code (infra, layers, functions)', /^(infra|layers|functions)\//],
  [
    'Node HTTP, streams, sockets',
    /^(node:_http_.*|node:http|node:net|node:streams\/.*|node:stream_base_commons|node:stream|\(writev\)|\(writeUtf8String\)|\(writeBuffer\)|node:events|node:timers|node:url|node:buffer)$/,
  ],
];
const bucketOf = (owner: string) =>
  BUCKETS.find(([, re]) => re.test(owner))?.[0] ?? 'other (node internals, program)';

export interface ProfileSummary {
  /** Busy (non-idle) sampled time. */
  readonly totalMs: number;
  readonly self: { owner: string; share: number }[];
  readonly inclusive: { owner: string; share: number }[];
  readonly buckets: { owner: string; share: number }[];
}

/** Summarises the largest `.cpuprofile` in `dir` (the main thread's). */
export const summarizeProfileDir = (dir: string, root: string, top = 12): ProfileSummary | undefined => {
  const read = largestProfile(dir);
  if (!read) return undefined;
  const { profile, byId, parent } = read;

  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  let total = 0;
  const self = new Map<string, number>();
  const buckets = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const owner = ownerOf(node, root);
    // Shares are of busy time: the kernel idles while the baseline is measured.
    if (owner === '(idle)') continue;
    total += us;
    self.set(owner, (self.get(owner) ?? 0) + us);
    buckets.set(bucketOf(owner), (buckets.get(bucketOf(owner)) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n) seen.add(ownerOf(n, root));
    }
    for (const o of seen) inclusive.set(o, (inclusive.get(o) ?? 0) + us);
  }
  const NOISE = new Set(['(root)', '(program)', 'node:process/task_queues', '(runMicrotasks)']);
  const rank = (m: Map<string, number>, skip: Set<string>) =>
    [...m]
      .filter(([owner]) => !skip.has(owner))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([owner, us]) => ({ owner, share: us / total }));
  return {
    totalMs: total / 1000,
    self: rank(self, new Set()),
    inclusive: rank(inclusive, NOISE),
    buckets: rank(buckets, new Set()),
  };
};

/**
 * Who a route's CPU is spent for. Each sample goes to the nearest frame on its stack that is not a
 * Node internal (so Node's HTTP, streams and buffers count for whoever called them), by where that
 * frame's code lives:
 * - `functions`: Conductor's functions and layers (functions/, layers/) and the packages they use
 *   (zod, Powertools, middy, the policy engines' wasm, ajv, …) — what runs in a Lambda;
 * - `sdk`: the AWS SDK v3 (@aws-sdk, @smithy and the packages only it uses), whoever called it;
 *   handlers and consumers alike, which all run in Lambdas on AWS;
 * - `standIns`: the embedded runtime standing in for AWS (infra/local: gateway, queues, bus, event
 *   source mappings, transports) and dynalite with its level store;
 * - `jwtGateway`, `jwtFunction`: jose, by who called it (the gateway's authorizer or a function);
 * - `nodeInternals`: Node internals with no caller of ours on the stack (sockets, timers, parsing
 *   started by the event loop); `gc`: the garbage collector; `loader`: tsx and module loading.
 */
export const SIDES = [
  'functions',
  'sdk',
  'standIns',
  'jwtGateway',
  'jwtFunction',
  'nodeInternals',
  'gc',
  'loader',
] as const;
export type Side = (typeof SIDES)[number];

const STAND_IN_PACKAGES =
  /node_modules\/(dynalite|level[^/]*|abstract-level|memory-level|classic-level|buffer-crc32|lazy|big\.js|async|lock|once|module-error|maybe-combine-errors|functional-red-black-tree|catering|queue-microtask|napi-macros)\//;
const SDK_PACKAGES =
  /node_modules\/(@aws-sdk|@smithy|@aws-crypto|fast-xml-parser|strnum|bowser|tslib|uuid)\//;

const sideOfUrl = (url: string): Side | 'jose' | undefined => {
  if (!url || url.startsWith('node:')) return undefined;
  if (url.includes('/infra/local/') || STAND_IN_PACKAGES.test(url)) return 'standIns';
  if (url.includes('node_modules/jose/')) return 'jose';
  if (/node_modules\/(tsx|esbuild|get-tsconfig)\//.test(url)) return 'loader';
  if (SDK_PACKAGES.test(url)) return 'sdk';
  return 'functions';
};

/**
 * Splits the busy time of the last `windowSeconds` of the largest `.cpuprofile` in `dir`
 * (less `marginSeconds` at the end, where the process was being stopped) by `Side`, in ms.
 */
export const attributeProfileWindow = (
  dir: string,
  windowSeconds: number,
  marginSeconds = 0.5,
): { busyMs: number; ms: Record<Side, number> } | undefined => {
  const read = largestProfile(dir);
  if (!read) return undefined;
  const { profile, byId, parent } = read;
  const cache = new Map<number, Side>();
  const sideOf = (id: number): Side => {
    const known = cache.get(id);
    if (known) return known;
    let side: Side | undefined;
    let jose = false;
    for (let cur: number | undefined = id; cur !== undefined && !side; cur = parent.get(cur)) {
      const found = sideOfUrl(byId.get(cur)?.callFrame.url ?? '');
      if (found === 'jose') jose = true;
      else if (found) side = jose ? (found === 'standIns' ? 'jwtGateway' : 'jwtFunction') : found;
    }
    side ??= jose
      ? 'jwtGateway'
      : byId.get(id)?.callFrame.functionName === '(garbage collector)'
        ? 'gc'
        : 'nodeInternals';
    cache.set(id, side);
    return side;
  };
  const to = profile.endTime - marginSeconds * 1e6;
  const from = to - windowSeconds * 1e6;
  const ms = Object.fromEntries(SIDES.map((side) => [side, 0])) as Record<Side, number>;
  let busyMs = 0;
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t <= from || t > to || byId.get(id)?.callFrame.functionName === '(idle)') return;
    busyMs += delta / 1000;
    ms[sideOf(id)] += delta / 1000;
  });
  return { busyMs, ms };
};
