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
}

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

/** Reads the largest `.cpuprofile` in `dir` (the main thread's) and summarises it. */
export const summarizeProfileDir = (dir: string, root: string, top = 12): ProfileSummary | undefined => {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  const file = files[0];
  if (!file) return undefined;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);

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
