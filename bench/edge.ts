/**
 * `npm run bench:edge` — edge sync (M6): push and pull throughput and bytes on the wire per op on
 * the embedded runtime, next to applying the same updates to a bare Yjs doc in the same run (the
 * overhead ratio); the time to bring a node that was offline for 10k ops up to date; the drill's
 * auto-resolved share. The issue's bars: the drill's share >= 85 % (requirement), >= 95 % (target),
 * zero ops lost; for throughput it sets no number (the ratios are reported, no bar invented here).
 *
 * One process: this one runs the embedded runtime (`startBenchConductor`: memory, port 0, the stage
 * throttle and the per-tenant limits out of the way), the nodes and the baseline. Tenant `acme`: an
 * admin (tenant-admin, MFA) declares the document type `bench-order` (the drill's type,
 * `WORK_ORDER_TYPE` of clients/edge/drill.ts: 8 named fields, any other field `manual`), creates
 * the documents and registers three nodes (`bench-pusher`, `bench-puller`, `bench-lagger`); the
 * nodes push and pull with an operator's bearer token and their own credential
 * (`x-conductor-node-token`). Requests go over `node:http`,
 * one keep-alive socket per phase, one request at a time (a node syncs sequentially), so the
 * socket's byte counters are the bytes on the wire of that phase (HTTP/1.1 headers included, no TLS,
 * no compression); "body" bytes are the JSON bodies alone.
 *
 * The ops. `BENCH_EDGE_OPS` (10,000) + 1 edits made as one node makes them: a Y.Doc with a fixed
 * client id, each edit one `fields.set(key, {v, t, n[, d]})` (the edge client's envelope: value, HLC
 * stamp of a deterministic clock, node; `d` for a counter's increment) of one of 20 keys (the
 * drill's 8, weighted as the drill weights them, and 12 more: strings, numbers, small lists and
 * objects), drawn from a seeded generator; `doc.on('update')` captures one update per edit, with the
 * state vector before it (the edge client sends both: `update` and `stateVector`, base64). The
 * first N are the throughput runs' ops; the lagging node misses ops 1..N.
 *
 * Baseline, same run: the same N updates applied one by one with `Y.applyUpdate` to a bare
 * `new Y.Doc()`, `BENCH_EDGE_BASELINE_ROUNDS` (5) rounds after one discarded, median ops/s. For
 * information, the server's document engine in process (`EdgeDocument.apply`: gc off, conflict
 * detection on every update; no HTTP, no storage) on the first 1,000 ops and on all N, 3 rounds
 * each, median: the two differ when its cost per op grows with the document's history.
 *
 * 1. Push. `POST /edge/operations` of the N ops in batches of 100 (the route's maximum) into a fresh
 *    document, and of the first 1,000 in batches of 1 into another (the per-request overhead);
 *    bodies built before the clock starts. Reported: ops/s over the whole run (ops / wall time),
 *    request p50/p95, body and wire bytes per op each way. Every answer must be 200 with `accepted`
 *    equal to the ops sent (no duplicate). A warm-up document (300 ops in batches of 10, one pull)
 *    first, discarded.
 * 2. Pull. The second node pulls the batch-100 document from no cursor (`POST /edge/sync`, `limit`
 *    500: 500 log entries, the server also stops at 1 MB of updates) until `hasMore` is false,
 *    decoding and applying every update to a fresh Y.Doc as it goes (timed: what a node pays), 3
 *    rounds, the median round. Its doc must equal the pusher's (the `fields` map with its envelopes,
 *    canonical JSON, and the state vector) and the server's (`GET /edge/documents/{id}`: `fields`
 *    without envelopes, `stateVector`).
 * 3. A node offline for 10k ops. Document `bench-lag`: the pusher pushes op 0; the lagging node
 *    pulls from no cursor (op 0, a cursor after log entry 1) and pulls again with that cursor, as
 *    its next sync would (the cursor a node sends acknowledges entry 1, whatever the first pull
 *    recorded); then it is offline while the pusher pushes ops 1..N in batches of
 *    `BENCH_EDGE_LAG_BATCH` (10: an online node syncing as it goes, so N/10 log entries). The server
 *    keeps its default `EDGE_SNAPSHOT_EVERY` (200, what deploys): every 200 entries the next push
 *    writes a snapshot and compacts, but compaction never drops an entry a live (not revoked) node
 *    has not acknowledged, so the lagging node's cursor stays valid however many snapshots pass.
 *    Then, from a copy of the lagging node's doc (op 0 only), 3 rounds in alternating order: (a)
 *    paging the log from its cursor (`limit` 500, applying each page) until `hasMore` is false; (b)
 *    one pull with its state vector (the minimal delta: one update). Wall time, requests, bytes; both
 *    must end equal to the server. For information: (c) a fresh node (no cursor) on the same
 *    document: the latest snapshot, then the log after it.
 * 4. The drill (`runDrill`, clients/edge/drill.ts, against this runtime with the admin token): 5
 *    nodes x 20 rounds x 3 edits and 10 nodes x 20 rounds x 3 edits, seed 1 (offline nodes, lost
 *    requests and answers, duplicates, restarts; then a full sync). Reported: the auto-resolved
 *    share, conflicts by rule, ops lost, converged, seconds. The share is not exactly repeatable
 *    (the seeded generator is shared by concurrently syncing nodes, so timing changes the draws).
 *
 * Bars (the issue's): each drill's auto-resolved share >= 0.85 (requirement) and >= 0.95 (target),
 * 0 ops lost, converged; and, as correctness checks, every push answered 200 with every op accepted
 * and every pulled doc equal to the server's. `BENCH_STRICT=1` exits 1 on a FAIL. Writes
 * bench/results/edge.json. About a minute and a half on 2 cores.
 */

import { Agent, request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import * as Y from 'yjs';
import { canonicalJson } from '#shared/ports/canonical-json.js';
import {
  type DrillReport,
  FIELD_WEIGHTS,
  runDrill,
  seededRandom,
  WORK_ORDER_TYPE,
} from '../clients/edge/drill.js';
import { MAX_OPS_PER_PUSH, NODE_TOKEN_HEADER } from '../functions/edge-sync/contract.js';
import { EdgeDocument } from '../functions/edge-sync/src/domain/document.js';
import { DEFAULT_SNAPSHOT_EVERY } from '../functions/edge-sync/src/domain/sync.js';
import { FIELDS_MAP, type FieldEnvelope, HybridLogicalClock } from '../functions/edge-sync/wire.js';
import { startBenchConductor } from './lib/conductor.js';
import { checkQuiet, machine, otherCpuWatch } from './lib/machine.js';
import { writeResult } from './lib/results.js';
import { fixed, round, roundSummary, summarize, table, verdict } from './lib/stats.js';

const log = (line = '') => process.stdout.write(`${line}\n`);

const N = Math.max(200, Number(process.env.BENCH_EDGE_OPS ?? 10_000));
const BASELINE_ROUNDS = Math.max(1, Number(process.env.BENCH_EDGE_BASELINE_ROUNDS ?? 5));
const ENGINE_ROUNDS = 3;
const PULL_ROUNDS = 3;
const LAG_ROUNDS = 3;
const SINGLE_N = Math.min(1000, N);
const PULL_LIMIT = 500;
const LAG_BATCH = Math.max(1, Math.min(MAX_OPS_PER_PUSH, Number(process.env.BENCH_EDGE_LAG_BATCH ?? 10)));
const WARM_UP_OPS = 300;
const DRILLS = [
  { nodes: 5, rounds: 20, edits: 3, seed: 1 },
  { nodes: 10, rounds: 20, edits: 3, seed: 1 },
] as const;

/** The issue's bars for the drill. */
const BARS = { shareRequirement: 0.85, shareTarget: 0.95, opsLost: 0 };

const TENANT = 'acme';
const TYPE = 'bench-order';
const PUSHER = 'bench-pusher';
const PULLER = 'bench-puller';
const LAGGER = 'bench-lagger';
/** The pushing node's Yjs client id (fixed: the ops are the same every run). */
const CLIENT_ID = 0x5eed01;
/** The pushing node's wall clock: 2026-12-01, 37 ms per edit (the HLC stamps are deterministic). */
const BASE_MS = Date.UTC(2026, 11, 1);

/** Other processes' CPU use during the timed phases (skews the figures). */
const { watched, otherShare } = otherCpuWatch();

const median = (values: readonly number[]): number => summarize(values).p50;
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const fromB64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'));
const thousands = (value: number): string => Math.round(value).toLocaleString('en-US');

// ---------------------------------------------------------------------------------------------
// The ops

interface Op {
  readonly opId: string;
  readonly field: string;
  /** The raw Yjs update (v1). */
  readonly update: Uint8Array;
  readonly updateB64: string;
  /** The node's state vector before the edit, base64 (sent with the op, as the edge client does). */
  readonly stateVectorB64: string;
}

/** The 20 keys and how often each is edited (the drill's 8 with its weights, then 12 more). */
const KEY_WEIGHTS: readonly [string, number][] = [
  ...FIELD_WEIGHTS,
  ['site', 4],
  ['priority', 6],
  ['customer', 3],
  ['eta', 8],
  ['odometer', 6],
  ['fuelLevel', 6],
  ['checklist', 5],
  ['photoCount', 6],
  ['weather', 4],
  ['crew', 4],
  ['vehicle', 3],
  ['lastInspection', 3],
];
const STATUSES = ['open', 'assigned', 'en-route', 'on-site', 'blocked', 'waiting-parts', 'done'];
const WORDS = ['checked', 'valve', 'replaced', 'gasket', 'pressure', 'nominal', 'leak', 'north', 'pump'];
const WEATHER = ['clear', 'rain', 'snow', 'fog', 'wind'];

/** `count` edits of one node, one captured update each. */
const generateOps = (count: number): Op[] => {
  const rng = seededRandom(20_261_201);
  const int = (below: number) => Math.floor(rng() * below);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)] as T;
  const total = KEY_WEIGHTS.reduce((sum, [, w]) => sum + w, 0);
  const pickKey = (): string => {
    let roll = rng() * total;
    for (const [key, weight] of KEY_WEIGHTS) {
      roll -= weight;
      if (roll < 0) return key;
    }
    return 'status';
  };
  let edit = 0;
  const clock = new HybridLogicalClock(PUSHER, () => BASE_MS + edit * 37);
  let hours = 0;
  let parts: string[] = [];
  const valueFor = (key: string): { v: unknown; d?: number } => {
    switch (key) {
      case 'status':
        return { v: pick(STATUSES) };
      case 'notes':
        return { v: Array.from({ length: 3 + int(8) }, () => pick(WORDS)).join(' ') };
      case 'assignee':
      case 'signOff':
        return { v: `tech-${1 + int(40)}` };
      case 'hoursLogged': {
        const d = 1 + int(3);
        hours += d;
        return { v: hours, d };
      }
      case 'partsUsed':
        parts = [...parts, `part-${int(500)}`].slice(-4);
        return { v: parts };
      case 'peakTemperature':
        return { v: int(1000) };
      case 'lowestPressure':
        return { v: int(100) / 10 };
      case 'site':
        return { v: `site-${int(30)}` };
      case 'priority':
        return { v: 1 + int(5) };
      case 'customer':
        return { v: `cust-${int(200)}` };
      case 'eta':
        return { v: new Date(BASE_MS + edit * 60_000).toISOString() };
      case 'odometer':
        return { v: 120_000 + edit * 3 };
      case 'fuelLevel':
        return { v: int(100) / 100 };
      case 'checklist':
        return { v: { brakes: rng() < 0.9, lights: rng() < 0.9, tyres: rng() < 0.9 } };
      case 'photoCount':
        return { v: int(20) };
      case 'weather':
        return { v: pick(WEATHER) };
      case 'crew':
        return { v: Array.from({ length: 1 + int(3) }, () => `tech-${1 + int(40)}`) };
      case 'vehicle':
        return { v: `truck-${int(60)}` };
      default:
        return { v: new Date(BASE_MS - int(365) * 86_400_000).toISOString().slice(0, 10) };
    }
  };

  const doc = new Y.Doc();
  doc.clientID = CLIENT_ID;
  const fields = doc.getMap(FIELDS_MAP);
  let captured: Uint8Array[] = [];
  doc.on('update', (update: Uint8Array) => captured.push(update));
  const ops: Op[] = [];
  for (edit = 0; edit < count; edit += 1) {
    const before = Y.encodeStateVector(doc);
    const key = pickKey();
    const { v, d } = valueFor(key);
    const envelope: FieldEnvelope = { v, t: clock.now(), n: PUSHER, ...(d === undefined ? {} : { d }) };
    captured = [];
    fields.set(key, envelope);
    if (captured.length !== 1) throw new Error(`edit ${edit} made ${captured.length} updates, not 1`);
    const update = captured[0] as Uint8Array;
    ops.push({
      opId: `${PUSHER}:${edit + 1}`,
      field: key,
      update,
      updateB64: b64(update),
      stateVectorB64: b64(before),
    });
  }
  return ops;
};

// ---------------------------------------------------------------------------------------------
// Doc states, compared

const vectorText = (sv: Uint8Array): string =>
  [...Y.decodeStateVector(sv)]
    .sort((a, b) => a[0] - b[0])
    .map(([client, clock]) => `${client}:${clock}`)
    .join(',');

/** The `fields` map without envelopes, as the server's GET shows it. */
const valuesOf = (doc: Y.Doc): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(doc.getMap(FIELDS_MAP).toJSON()).map(([key, envelope]) => [
      key,
      (envelope as FieldEnvelope).v,
    ]),
  );

interface ServerState {
  readonly head: number;
  readonly snapshotSeq: number;
  readonly compactedThrough: number;
  readonly fields: Record<string, unknown>;
  readonly stateVector: string;
}

/** Whether a node's doc holds what the server holds (values and state vector). */
const equalsServer = (doc: Y.Doc, server: ServerState): boolean =>
  canonicalJson(valuesOf(doc)) === canonicalJson(server.fields) &&
  vectorText(Y.encodeStateVector(doc)) === vectorText(fromB64(server.stateVector));

/** Whether two docs hold the same `fields` map (envelopes included) and state vector. */
const sameDoc = (a: Y.Doc, b: Y.Doc): boolean =>
  canonicalJson(a.getMap(FIELDS_MAP).toJSON()) === canonicalJson(b.getMap(FIELDS_MAP).toJSON()) &&
  vectorText(Y.encodeStateVector(a)) === vectorText(Y.encodeStateVector(b));

const docOf = (ops: readonly Op[]): Y.Doc => {
  const doc = new Y.Doc();
  for (const op of ops) Y.applyUpdate(doc, op.update);
  return doc;
};

// ---------------------------------------------------------------------------------------------
// Baselines (in process)

interface Rounds {
  readonly opsPerSecond: number[];
  readonly median: number;
}

const bareYjs = (ops: readonly Op[]): Rounds => {
  const once = () => {
    const doc = new Y.Doc();
    const started = performance.now();
    for (const op of ops) Y.applyUpdate(doc, op.update);
    return (ops.length * 1000) / (performance.now() - started);
  };
  once(); // discarded: JIT
  const opsPerSecond = Array.from({ length: BASELINE_ROUNDS }, once);
  return { opsPerSecond, median: median(opsPerSecond) };
};

const engine = (ops: readonly Op[]): Rounds => {
  const opsPerSecond = Array.from({ length: ENGINE_ROUNDS }, () => {
    const doc = new EdgeDocument({
      fields: { ...WORK_ORDER_TYPE.fields },
      defaultRule: WORK_ORDER_TYPE.defaultRule,
    });
    const meta = { nodeId: PUSHER };
    const started = performance.now();
    for (const op of ops) {
      if (!doc.apply(op.update, meta).changed) throw new Error(`engine: ${op.opId} changed nothing`);
    }
    return (ops.length * 1000) / (performance.now() - started);
  });
  return { opsPerSecond, median: median(opsPerSecond) };
};

// ---------------------------------------------------------------------------------------------
// HTTP: one keep-alive socket per phase, one request at a time

interface Exchange {
  readonly status: number;
  readonly text: string;
  readonly ms: number;
  readonly bodyBytes: number;
  readonly responseBytes: number;
}

class Wire {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 1 });
  readonly #sockets = new Set<Socket>();
  readonly #base: string;

  constructor(apiUrl: string) {
    this.#base = apiUrl;
  }

  send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Exchange> {
    const payload = body === undefined ? undefined : Buffer.from(body);
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const req = httpRequest(
        `${this.#base}${path}`,
        {
          method,
          agent: this.#agent,
          headers: {
            ...headers,
            ...(payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': String(payload.length) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const raw = Buffer.concat(chunks);
            resolve({
              status: res.statusCode ?? 0,
              text: raw.toString('utf8'),
              ms: performance.now() - started,
              bodyBytes: payload?.length ?? 0,
              responseBytes: raw.length,
            });
          });
          res.on('error', reject);
        },
      );
      req.on('socket', (socket: Socket) => this.#sockets.add(socket));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Bytes written and read on this phase's sockets so far (HTTP/1.1: request and status lines, headers, bodies). */
  bytes(): { sent: number; received: number } {
    let sent = 0;
    let received = 0;
    for (const socket of this.#sockets) {
      sent += socket.bytesWritten;
      received += socket.bytesRead;
    }
    return { sent, received };
  }

  close(): void {
    this.#agent.destroy();
  }
}

interface Phase {
  readonly ops: number;
  readonly requests: number;
  readonly wallMs: number;
  readonly latencies: number[];
  readonly bodyBytes: number;
  readonly responseBytes: number;
  readonly wireSent: number;
  readonly wireReceived: number;
}

const perOp = (bytes: number, ops: number) => (ops > 0 ? bytes / ops : Number.NaN);

// ---------------------------------------------------------------------------------------------
// The runtime's side

interface Ctx {
  readonly apiUrl: string;
  readonly admin: string;
  readonly operator: string;
  readonly nodeTokens: Record<string, string>;
}

const adminCall = async (ctx: Ctx, method: string, path: string, token: string, body?: unknown) => {
  const response = await fetch(`${ctx.apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
};

const serverState = async (ctx: Ctx, documentId: string): Promise<ServerState> =>
  (await adminCall(ctx, 'GET', `/edge/documents/${documentId}`, ctx.operator)) as unknown as ServerState;

const nodeHeaders = (ctx: Ctx, nodeId: string): Record<string, string> => ({
  authorization: `Bearer ${ctx.operator}`,
  [NODE_TOKEN_HEADER]: ctx.nodeTokens[nodeId] as string,
});

interface PushPhase extends Phase {
  readonly batch: number;
  /** Answers that were not 200 with every op accepted (the first few, for the report). */
  readonly problems: string[];
}

/** Pushes `ops` into `documentId` as `nodeId`, `batch` at a time, one request after another. */
const push = async (
  ctx: Ctx,
  nodeId: string,
  documentId: string,
  ops: readonly Op[],
  batch: number,
): Promise<PushPhase> => {
  const bodies: { body: string; count: number }[] = [];
  for (let i = 0; i < ops.length; i += batch) {
    const slice = ops.slice(i, i + batch);
    bodies.push({
      count: slice.length,
      body: JSON.stringify({
        nodeId,
        ops: slice.map((op) => ({
          documentId,
          opId: op.opId,
          update: op.updateB64,
          stateVector: op.stateVectorB64,
        })),
      }),
    });
  }
  const headers = nodeHeaders(ctx, nodeId);
  const wire = new Wire(ctx.apiUrl);
  const latencies: number[] = [];
  const problems: string[] = [];
  let bodyBytes = 0;
  let responseBytes = 0;
  const started = performance.now();
  for (const { body, count } of bodies) {
    const reply = await wire.send('POST', '/edge/operations', headers, body);
    latencies.push(reply.ms);
    bodyBytes += reply.bodyBytes;
    responseBytes += reply.responseBytes;
    let ok = reply.status === 200;
    if (ok) {
      const answer = JSON.parse(reply.text) as { accepted: number; duplicates: number };
      ok = answer.accepted === count && answer.duplicates === 0;
    }
    if (!ok && problems.length < 5) problems.push(`${reply.status} ${reply.text.slice(0, 200)}`);
  }
  const wallMs = performance.now() - started;
  const bytes = wire.bytes();
  wire.close();
  return {
    batch,
    ops: ops.length,
    requests: bodies.length,
    wallMs,
    latencies,
    bodyBytes,
    responseBytes,
    wireSent: bytes.sent,
    wireReceived: bytes.received,
    problems,
  };
};

interface PullPhase extends Phase {
  /** Updates received (node ops, server writes, a snapshot or a delta). */
  readonly updates: number;
  readonly kinds: Record<string, number>;
  readonly nextCursor: string;
  /** Sum of the requests' own latencies (the rest of the wall: decoding and applying). */
  readonly requestMs: number;
}

/**
 * Pulls `documentId` as `nodeId` into `doc` until `hasMore` is false: from `cursor` (none: from the
 * start) a page of `limit` entries at a time, or with `stateVector` at once. Each page is decoded and
 * applied (one transaction) before the next request, as the edge client does.
 */
const pull = async (
  ctx: Ctx,
  nodeId: string,
  documentId: string,
  doc: Y.Doc,
  from: { cursor?: string; stateVector?: string },
): Promise<PullPhase> => {
  const headers = nodeHeaders(ctx, nodeId);
  const wire = new Wire(ctx.apiUrl);
  const latencies: number[] = [];
  const kinds: Record<string, number> = {};
  let bodyBytes = 0;
  let responseBytes = 0;
  let updates = 0;
  let cursor = from.cursor;
  let ops = 0;
  const started = performance.now();
  for (;;) {
    const body = JSON.stringify({
      nodeId,
      documentId,
      ...(cursor === undefined ? {} : { cursor }),
      ...(from.stateVector === undefined ? { limit: PULL_LIMIT } : { stateVector: from.stateVector }),
    });
    const reply = await wire.send('POST', '/edge/sync', headers, body);
    if (reply.status !== 200)
      throw new Error(`pull ${documentId}: ${reply.status} ${reply.text.slice(0, 300)}`);
    latencies.push(reply.ms);
    bodyBytes += reply.bodyBytes;
    responseBytes += reply.responseBytes;
    const answer = JSON.parse(reply.text) as {
      ops: { kind: string; update: string }[];
      nextCursor: string;
      hasMore: boolean;
    };
    Y.transact(doc, () => {
      for (const op of answer.ops) Y.applyUpdate(doc, fromB64(op.update));
    });
    for (const op of answer.ops) kinds[op.kind] = (kinds[op.kind] ?? 0) + 1;
    updates += answer.ops.length;
    ops += answer.ops.filter((op) => op.kind === 'op').length;
    cursor = answer.nextCursor;
    if (!answer.hasMore || from.stateVector !== undefined) break;
  }
  const wallMs = performance.now() - started;
  const bytes = wire.bytes();
  wire.close();
  return {
    ops,
    updates,
    kinds,
    requests: latencies.length,
    wallMs,
    requestMs: latencies.reduce((sum, ms) => sum + ms, 0),
    latencies,
    bodyBytes,
    responseBytes,
    wireSent: bytes.sent,
    wireReceived: bytes.received,
    nextCursor: cursor as string,
  };
};

/** A pull that did not complete (its figures NaN), so the report still prints. */
const FAILED_PULL: PullPhase = {
  ops: 0,
  updates: 0,
  kinds: {},
  requests: 0,
  wallMs: Number.NaN,
  requestMs: Number.NaN,
  latencies: [],
  bodyBytes: 0,
  responseBytes: 0,
  wireSent: 0,
  wireReceived: 0,
  nextCursor: '',
};

/** The round whose wall time is the median (odd counts; the upper middle otherwise). */
const medianRound = <T extends { wallMs: number }>(rounds: readonly T[]): T =>
  [...rounds].sort((a, b) => a.wallMs - b.wallMs)[Math.floor(rounds.length / 2)] as T;

// ---------------------------------------------------------------------------------------------

const main = async () => {
  const startedAt = performance.now();
  log('bench:edge — push/pull throughput and bytes per op vs a bare Yjs doc, a lagging node, the drill');
  log(`machine: ${JSON.stringify(machine())}`);
  const busyBefore = await checkQuiet(log);

  const generatedAt = performance.now();
  const all = generateOps(N + 1);
  const ops = all.slice(0, N);
  const reference = docOf(ops);
  const rawBytes = summarize(ops.map((op) => op.update.length));
  const b64Chars = summarize(ops.map((op) => op.updateB64.length));
  const svChars = summarize(ops.map((op) => op.stateVectorB64.length));
  log(
    `\n${thousands(N + 1)} edits of one node generated in ${fixed((performance.now() - generatedAt) / 1000, 1)} s: raw update ${fixed(rawBytes.mean, 1)} bytes per op (p50 ${rawBytes.p50}, max ${rawBytes.max}), base64 ${fixed(b64Chars.mean, 1)} chars, state vector ${fixed(svChars.mean, 1)} chars`,
  );

  log(`\nBaseline: Y.applyUpdate of the ${thousands(N)} updates to a bare Y.Doc, ${BASELINE_ROUNDS} rounds`);
  const bare = await watched(async () => bareYjs(ops));
  log(`  ${bare.opsPerSecond.map((v) => thousands(v)).join(', ')} ops/s; median ${thousands(bare.median)}`);
  log(
    `Info: EdgeDocument.apply (the server's engine, in process), ${ENGINE_ROUNDS} rounds of the first ${thousands(SINGLE_N)} and of all ${thousands(N)}`,
  );
  const engineFirst = await watched(async () => engine(ops.slice(0, SINGLE_N)));
  const engineRounds = await watched(async () => engine(ops));
  log(
    `  first ${thousands(SINGLE_N)}: ${engineFirst.opsPerSecond.map((v) => thousands(v)).join(', ')} ops/s; median ${thousands(engineFirst.median)}`,
  );
  log(
    `  all ${thousands(N)}: ${engineRounds.opsPerSecond.map((v) => thousands(v)).join(', ')} ops/s; median ${thousands(engineRounds.median)}`,
  );

  log('\nStarting the embedded runtime (in memory, limits out of the way)');
  const conductor = await startBenchConductor();
  let result: Awaited<ReturnType<typeof runAll>>;
  try {
    log(`runtime ${conductor.apiUrl}`);
    result = await runAll(conductor, all, ops, reference);
  } finally {
    await conductor.stop();
  }
  const { push100, push1, pullRounds, pullServerEqual, lag, drills } = result;

  // ---- Report
  const pullMid = medianRound(pullRounds);
  const opsPerSecond = (p: Phase) => (p.ops * 1000) / p.wallMs;
  const pushRatio = opsPerSecond(push100) / bare.median;
  const pushRatio1 = opsPerSecond(push1) / bare.median;
  const pullRatio = opsPerSecond(pullMid) / bare.median;

  log(
    `\n(1) Push: POST /edge/operations, one node, one request at a time; bytes per op (body: JSON alone; wire: with HTTP/1.1 headers)`,
  );
  const pushRow = (p: PushPhase) => {
    const s = summarize(p.latencies);
    return [
      `${p.batch} op${p.batch === 1 ? '' : 's'} a request`,
      thousands(p.ops),
      String(p.requests),
      fixed(p.wallMs / 1000, 2),
      thousands(opsPerSecond(p)),
      `${fixed(opsPerSecond(p) / bare.median, 4)}x`,
      fixed(s.p50),
      fixed(s.p95),
      fixed(perOp(p.bodyBytes, p.ops), 1),
      fixed(perOp(p.responseBytes, p.ops), 1),
      fixed(perOp(p.wireSent, p.ops), 1),
      fixed(perOp(p.wireReceived, p.ops), 1),
      p.problems.length === 0 ? 'all 200, all accepted' : `${p.problems.length}+ wrong`,
    ];
  };
  log(
    table(
      [
        [
          'push',
          'ops',
          'requests',
          'wall s',
          'ops/s',
          'x bare Yjs',
          'p50 ms',
          'p95 ms',
          'body B/op',
          'answer B/op',
          'wire out B/op',
          'wire in B/op',
          'answers',
        ],
        pushRow(push100),
        pushRow(push1),
        [
          'bare Y.applyUpdate (baseline)',
          thousands(N),
          '-',
          fixed(N / bare.median, 3),
          thousands(bare.median),
          '1x',
          '-',
          '-',
          fixed(rawBytes.mean, 1),
          '-',
          '-',
          '-',
          'raw update bytes',
        ],
        [
          `EdgeDocument.apply, first ${thousands(SINGLE_N)} (info)`,
          thousands(SINGLE_N),
          '-',
          fixed(SINGLE_N / engineFirst.median, 3),
          thousands(engineFirst.median),
          `${fixed(engineFirst.median / bare.median, 3)}x`,
          '-',
          '-',
          '-',
          '-',
          '-',
          '-',
          '',
        ],
        [
          'EdgeDocument.apply (info)',
          thousands(N),
          '-',
          fixed(N / engineRounds.median, 3),
          thousands(engineRounds.median),
          `${fixed(engineRounds.median / bare.median, 3)}x`,
          '-',
          '-',
          '-',
          '-',
          '-',
          '-',
          '',
        ],
      ],
      'lrrrrrrrrrrrl',
    ),
  );
  for (const p of [push100, push1]) for (const problem of p.problems) log(`  batch ${p.batch}: ${problem}`);
  const drift = {
    first10: summarize(push100.latencies.slice(0, 10)).p50,
    last10: summarize(push100.latencies.slice(-10)).p50,
  };
  log(
    `  batches of ${MAX_OPS_PER_PUSH}, request p50 of the first 10 requests ${fixed(drift.first10)} ms, of the last 10 ${fixed(drift.last10)} ms (the document grows)`,
  );

  log(
    `\n(2) Pull: the second node, from no cursor, limit ${PULL_LIMIT}, decoding and applying each page; ${PULL_ROUNDS} rounds`,
  );
  log(
    table(
      [
        [
          'round',
          'requests',
          'updates',
          'wall ms',
          'requests ms',
          'ops/s',
          'x bare Yjs',
          'answer B/op',
          'wire in B/op',
          'wire out B/op',
          'equal',
        ],
        ...pullRounds.map((p, i) => [
          String(i + 1) + (p === pullMid ? ' (median)' : ''),
          String(p.requests),
          thousands(p.updates),
          fixed(p.wallMs, 1),
          fixed(p.requestMs, 1),
          thousands(opsPerSecond(p)),
          `${fixed(opsPerSecond(p) / bare.median, 4)}x`,
          fixed(perOp(p.responseBytes, p.ops), 1),
          fixed(perOp(p.wireReceived, p.ops), 1),
          fixed(perOp(p.wireSent, p.ops), 2),
          verdict(p.equal),
        ]),
      ],
      'lrrrrrrrrrl',
    ),
  );
  log(`  the server's document equals the pusher's: ${verdict(pullServerEqual)}`);

  log(
    `\n(3) A node offline for ${thousands(N)} ops (pushed in batches of ${LAG_BATCH}: ${lag.server.head} log entries; snapshot at ${lag.server.snapshotSeq}, compacted through ${lag.server.compactedThrough}); ${LAG_ROUNDS} rounds, median`,
  );
  const lagRow = (label: string, rounds: readonly (PullPhase & { equal: boolean })[]) => {
    const p = medianRound(rounds);
    return [
      label,
      rounds.map((r) => fixed(r.wallMs, 1)).join(' / '),
      fixed(p.wallMs, 1),
      String(p.requests),
      thousands(p.updates),
      fixed(p.responseBytes / 1024, 1),
      fixed(p.wireReceived / 1024, 1),
      fixed(p.wireSent / 1024, 2),
      rounds.every((r) => r.equal) ? 'PASS' : 'FAIL',
    ];
  };
  log(
    table(
      [
        [
          'catch-up',
          'wall ms per round',
          'median ms',
          'requests',
          'updates',
          'answers KiB',
          'wire in KiB',
          'wire out KiB',
          'equal to server',
        ],
        lagRow(`(a) page the log from its cursor (limit ${PULL_LIMIT})`, lag.paged),
        lagRow('(b) one pull with its state vector', lag.delta),
        lagRow('(c) a fresh node, no cursor (info)', lag.fresh),
      ],
      'lrrrrrrrl',
    ),
  );
  log(
    `  the other node's ${thousands(N)} pushes in batches of ${LAG_BATCH}: ${fixed(lag.pushes.wallMs / 1000, 2)} s, ${thousands(opsPerSecond(lag.pushes))} ops/s, p50 ${fixed(summarize(lag.pushes.latencies).p50)} ms, p95 ${fixed(summarize(lag.pushes.latencies).p95)} ms${lag.pushes.problems.length ? `; ${lag.pushes.problems[0]}` : ''}`,
  );
  log(
    `  the lagging node's cursor after the snapshots: ${lag.cursorValid ? 'valid (no cursor_expired)' : 'EXPIRED'}`,
  );

  log('\n(4) The drill (clients/edge/drill.ts), seed 1');
  log(
    table(
      [
        [
          'nodes x rounds x edits',
          'edits',
          'conflicts',
          'auto',
          'open',
          'share',
          'by rule',
          'ops lost',
          'converged',
          'faults (off/drop/lost/dup/restart)',
          'seconds',
        ],
        ...drills.map((d) => [
          `${d.nodes} x ${d.rounds} x ${d.edits / d.nodes / d.rounds}`,
          String(d.edits),
          String(d.conflicts.total),
          String(d.conflicts.autoResolved),
          String(d.conflicts.open),
          `${fixed(100 * d.autoResolvedShare, 1)} %`,
          Object.entries(d.byRule)
            .sort((a, b) => b[1] - a[1])
            .map(([rule, n]) => `${rule} ${n}`)
            .join(', '),
          String(d.opsLost),
          d.converged ? 'yes' : 'NO',
          `${d.faults.offlineRequests}/${d.faults.dropped}/${d.faults.lostReplies}/${d.faults.duplicated}/${d.faults.restarts}`,
          fixed(d.seconds, 1),
        ]),
      ],
      'lrrrrrlrlrr',
    ),
  );

  const lagMid = {
    paged: medianRound(lag.paged),
    delta: medianRound(lag.delta),
    fresh: medianRound(lag.fresh),
  };
  const checks = {
    drillShareRequirement: drills.every((d) => d.autoResolvedShare >= BARS.shareRequirement),
    drillShareTarget: drills.every((d) => d.autoResolvedShare >= BARS.shareTarget),
    drillNoOpsLost: drills.every((d) => d.opsLost === BARS.opsLost),
    drillConverged: drills.every((d) => d.converged),
    pushAllAccepted: [push100, push1, lag.pushes].every((p) => p.problems.length === 0),
    pullEqual: pullServerEqual && pullRounds.every((p) => p.equal),
    lagCaughtUp: lag.cursorValid && [...lag.paged, ...lag.delta, ...lag.fresh].every((p) => p.equal),
  };
  const shares = drills.map((d) => `${d.nodes} nodes ${fixed(100 * d.autoResolvedShare, 1)} %`).join(', ');
  log('\nVerdicts (the issue sets no number for throughput: the ratios are information)');
  log(
    `  push: ${thousands(opsPerSecond(push100))} ops/s in batches of 100 (${fixed(pushRatio, 4)}x the bare Yjs apply, ${thousands(bare.median)} ops/s: 1/${fixed(1 / pushRatio, 0)}), ${thousands(opsPerSecond(push1))} ops/s one op a request (${fixed(pushRatio1, 4)}x: 1/${fixed(1 / pushRatio1, 0)}); ${fixed(perOp(push100.bodyBytes, push100.ops), 1)} body bytes per op for ${fixed(rawBytes.mean, 1)} raw bytes`,
  );
  log(
    `  pull: ${thousands(opsPerSecond(pullMid))} ops/s from no cursor (${fixed(pullRatio, 4)}x: 1/${fixed(1 / pullRatio, 1)}), ${fixed(perOp(pullMid.responseBytes, pullMid.ops), 1)} answer bytes per op`,
  );
  log(
    `  offline for ${thousands(N)} ops: ${fixed(lagMid.paged.wallMs, 1)} ms paging the log (${lagMid.paged.requests} requests, ${fixed(lagMid.paged.responseBytes / 1024, 1)} KiB), ${fixed(lagMid.delta.wallMs, 1)} ms with the state vector (1 request, ${fixed(lagMid.delta.responseBytes / 1024, 1)} KiB)`,
  );
  const pooled = drills.reduce(
    (sum, d) => ({ auto: sum.auto + d.conflicts.autoResolved, total: sum.total + d.conflicts.total }),
    { auto: 0, total: 0 },
  );
  const bar = (label: string, ok: boolean, detail = '') =>
    log(`  ${label.padEnd(48)} ${verdict(ok)}${detail ? ` (${detail})` : ''}`);
  bar(
    `drill auto-resolved share >= ${100 * BARS.shareRequirement} % (requirement)`,
    checks.drillShareRequirement,
    `${shares}; both drills pooled ${fixed((100 * pooled.auto) / Math.max(1, pooled.total), 1)} %`,
  );
  bar(`drill auto-resolved share >= ${100 * BARS.shareTarget} % (target)`, checks.drillShareTarget, shares);
  bar('drill ops lost = 0', checks.drillNoOpsLost, drills.map((d) => d.opsLost).join(', '));
  bar('drill converged', checks.drillConverged);
  bar('every push 200, every op accepted', checks.pushAllAccepted);
  bar("pulled docs equal the server's", checks.pullEqual);
  bar('the lagging node caught up both ways', checks.lagCaughtUp);
  if (otherShare() > 0.1)
    log(
      `\nWARNING: other processes used up to ${fixed(100 * otherShare(), 0)}% of the machine during a timed phase: figures are skewed, run again on a quiet machine`,
    );

  const phaseJson = (p: Phase) => ({
    ops: p.ops,
    requests: p.requests,
    wallMs: round(p.wallMs, 1),
    opsPerSecond: round(opsPerSecond(p), 1),
    ratioToBareYjs: round(opsPerSecond(p) / bare.median, 5),
    requestMs: roundSummary(summarize(p.latencies)),
    bytesPerOp: {
      body: round(perOp(p.bodyBytes, p.ops), 1),
      answer: round(perOp(p.responseBytes, p.ops), 1),
      wireOut: round(perOp(p.wireSent, p.ops), 1),
      wireIn: round(perOp(p.wireReceived, p.ops), 1),
    },
  });
  const catchUpJson = (rounds: readonly (PullPhase & { equal: boolean })[]) => {
    const p = medianRound(rounds);
    return {
      wallMsPerRound: rounds.map((r) => round(r.wallMs, 1)),
      wallMs: round(p.wallMs, 1),
      requests: p.requests,
      updates: p.updates,
      kinds: p.kinds,
      answerBytes: p.responseBytes,
      bodyBytes: p.bodyBytes,
      wireIn: p.wireReceived,
      wireOut: p.wireSent,
      equal: rounds.every((r) => r.equal),
    };
  };
  const file = writeResult('edge', {
    benchmark: 'edge',
    measuredAt: new Date().toISOString(),
    machine: machine(),
    machineBusyBefore: round(busyBefore, 3),
    otherCpuShareMax: round(otherShare(), 3),
    wallSeconds: round((performance.now() - startedAt) / 1000, 1),
    config: {
      ops: N,
      pushBatch: MAX_OPS_PER_PUSH,
      singleOps: SINGLE_N,
      pullLimit: PULL_LIMIT,
      lagBatch: LAG_BATCH,
      snapshotEvery: DEFAULT_SNAPSHOT_EVERY,
      keys: KEY_WEIGHTS.length,
    },
    bars: BARS,
    opBytes: {
      raw: roundSummary(rawBytes, 1),
      base64: roundSummary(b64Chars, 1),
      stateVectorBase64: roundSummary(svChars, 1),
    },
    bareYjs: { opsPerSecond: bare.opsPerSecond.map((v) => round(v, 0)), median: round(bare.median, 0) },
    engine: {
      firstOps: SINGLE_N,
      firstOpsPerSecond: engineFirst.opsPerSecond.map((v) => round(v, 0)),
      firstMedian: round(engineFirst.median, 0),
      opsPerSecond: engineRounds.opsPerSecond.map((v) => round(v, 0)),
      median: round(engineRounds.median, 0),
    },
    pushRequestMsP50FirstLast10: { first: round(drift.first10, 2), last: round(drift.last10, 2) },
    push: [phaseJson(push100), phaseJson(push1)].map((p, i) => ({
      batch: i === 0 ? MAX_OPS_PER_PUSH : 1,
      ...p,
      problems: (i === 0 ? push100 : push1).problems,
    })),
    pull: {
      ...phaseJson(pullMid),
      updates: pullMid.updates,
      kinds: pullMid.kinds,
      wallMsPerRound: pullRounds.map((p) => round(p.wallMs, 1)),
      equal: pullRounds.every((p) => p.equal) && pullServerEqual,
    },
    ratios: { push100: round(pushRatio, 5), push1: round(pushRatio1, 5), pull: round(pullRatio, 5) },
    lag: {
      missedOps: N,
      batch: LAG_BATCH,
      server: {
        head: lag.server.head,
        snapshotSeq: lag.server.snapshotSeq,
        compactedThrough: lag.server.compactedThrough,
      },
      pushes: phaseJson(lag.pushes),
      cursorValid: lag.cursorValid,
      paged: catchUpJson(lag.paged),
      stateVector: catchUpJson(lag.delta),
      freshNode: catchUpJson(lag.fresh),
    },
    drillsPooledShare: round(pooled.auto / Math.max(1, pooled.total), 4),
    drills: drills.map((d) => ({
      nodes: d.nodes,
      rounds: d.rounds,
      edits: d.edits,
      conflicts: d.conflicts,
      autoResolvedShare: round(d.autoResolvedShare, 4),
      byRule: d.byRule,
      opsLost: d.opsLost,
      converged: d.converged,
      faults: d.faults,
      seconds: round(d.seconds, 1),
    })),
    checks,
  });
  log(`\nwrote ${file} (${fixed((performance.now() - startedAt) / 1000, 1)} s)`);
  if (process.env.BENCH_STRICT === '1' && Object.values(checks).some((ok) => !ok)) process.exitCode = 1;
};

const runAll = async (
  conductor: Awaited<ReturnType<typeof startBenchConductor>>,
  all: readonly Op[],
  ops: readonly Op[],
  reference: Y.Doc,
) => {
  const admin = await conductor.issuer.mint({
    subject: 'bench-admin',
    tenant: TENANT,
    roles: ['tenant-admin'],
    amr: ['pwd', 'mfa'],
  });
  const operator = await conductor.issuer.mint({
    subject: 'bench-operator',
    tenant: TENANT,
    roles: ['operator'],
  });
  const base: Ctx = { apiUrl: conductor.apiUrl, admin, operator, nodeTokens: {} };
  await adminCall(base, 'PUT', `/edge/document-types/${TYPE}`, admin, WORK_ORDER_TYPE);
  for (const documentId of ['bench-warm', 'bench-push-100', 'bench-push-1', 'bench-lag'])
    await adminCall(base, 'POST', '/edge/documents', operator, { documentId, type: TYPE });
  const nodeTokens: Record<string, string> = {};
  for (const nodeId of [PUSHER, PULLER, LAGGER]) {
    const node = await adminCall(base, 'POST', '/edge/nodes', admin, { nodeId, meta: { bench: 'edge' } });
    nodeTokens[nodeId] = node.token as string;
  }
  const ctx: Ctx = { ...base, nodeTokens };

  // Warm-up, discarded: JIT, the handler's first requests, the pull path.
  const warm = await push(ctx, PUSHER, 'bench-warm', ops.slice(0, WARM_UP_OPS), 10);
  if (warm.problems.length > 0) throw new Error(`warm-up push: ${warm.problems[0]}`);
  await pull(ctx, PULLER, 'bench-warm', new Y.Doc(), {});

  log(
    `\n(1) Push ${thousands(ops.length)} ops in batches of ${MAX_OPS_PER_PUSH}, then ${SINGLE_N} one op a request`,
  );
  const push100 = await watched(() => push(ctx, PUSHER, 'bench-push-100', ops, MAX_OPS_PER_PUSH));
  log(
    `  batches of ${MAX_OPS_PER_PUSH}: ${fixed(push100.wallMs / 1000, 2)} s, ${push100.problems.length} wrong answers`,
  );
  const push1 = await watched(() => push(ctx, PUSHER, 'bench-push-1', ops.slice(0, SINGLE_N), 1));
  log(`  one op a request: ${fixed(push1.wallMs / 1000, 2)} s, ${push1.problems.length} wrong answers`);

  log(`\n(2) Pull bench-push-100 from no cursor, ${PULL_ROUNDS} rounds`);
  const pushed = await serverState(ctx, 'bench-push-100');
  const pullServerEqual = equalsServer(reference, pushed);
  const pullRounds: (PullPhase & { equal: boolean })[] = [];
  for (let r = 0; r < PULL_ROUNDS; r += 1) {
    const doc = new Y.Doc();
    const phase = await watched(() => pull(ctx, PULLER, 'bench-push-100', doc, {}));
    const equal = sameDoc(doc, reference) && equalsServer(doc, pushed);
    pullRounds.push({ ...phase, equal });
    log(`  round ${r + 1}: ${phase.requests} requests, ${fixed(phase.wallMs, 1)} ms, equal ${equal}`);
  }

  log(`\n(3) A node offline for ${thousands(N)} ops`);
  const first = await push(ctx, PUSHER, 'bench-lag', all.slice(0, 1), 1);
  if (first.problems.length > 0) throw new Error(`lag: first push: ${first.problems[0]}`);
  const lagDoc = new Y.Doc();
  const synced = await pull(ctx, LAGGER, 'bench-lag', lagDoc, {});
  // Its next sync sends the cursor: that acknowledges entry 1.
  const acked = await pull(ctx, LAGGER, 'bench-lag', lagDoc, { cursor: synced.nextCursor });
  const cursor = acked.nextCursor;
  const lagState = Y.encodeStateAsUpdate(lagDoc);
  const lagVector = b64(Y.encodeStateVector(lagDoc));
  const pushes = await watched(() => push(ctx, PUSHER, 'bench-lag', all.slice(1, N + 1), LAG_BATCH));
  log(
    `  the other node pushed ${thousands(N)} ops in ${fixed(pushes.wallMs / 1000, 2)} s (${pushes.requests} requests)`,
  );
  const server = await serverState(ctx, 'bench-lag');
  const copy = () => {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, lagState);
    return doc;
  };
  const paged: (PullPhase & { equal: boolean })[] = [];
  const delta: (PullPhase & { equal: boolean })[] = [];
  const fresh: (PullPhase & { equal: boolean })[] = [];
  let cursorValid = true;
  for (let r = 0; r < LAG_ROUNDS; r += 1) {
    const order = r % 2 === 0 ? (['paged', 'delta'] as const) : (['delta', 'paged'] as const);
    for (const mode of order) {
      const doc = copy();
      if (mode === 'paged') {
        try {
          const phase = await watched(() => pull(ctx, LAGGER, 'bench-lag', doc, { cursor }));
          paged.push({ ...phase, equal: equalsServer(doc, server) });
        } catch (error) {
          // Reported as a FAIL (e.g. 400 cursor_expired: compaction passed the node's cursor).
          cursorValid = false;
          log(`  paging from the lagging node's cursor failed: ${(error as Error).message}`);
          paged.push({ ...FAILED_PULL, equal: false });
        }
      } else {
        const phase = await watched(() => pull(ctx, LAGGER, 'bench-lag', doc, { stateVector: lagVector }));
        delta.push({ ...phase, equal: equalsServer(doc, server) });
      }
    }
    const doc = new Y.Doc();
    const phase = await watched(() => pull(ctx, PULLER, 'bench-lag', doc, {}));
    fresh.push({ ...phase, equal: equalsServer(doc, server) });
    log(
      `  round ${r + 1}: paged ${fixed(paged.at(-1)?.wallMs ?? Number.NaN, 1)} ms, state vector ${fixed(delta.at(-1)?.wallMs ?? Number.NaN, 1)} ms, fresh ${fixed(phase.wallMs, 1)} ms`,
    );
  }

  log('\n(4) The drill');
  const drills: DrillReport[] = [];
  for (const options of DRILLS) {
    const report = await runDrill({ apiUrl: conductor.apiUrl, adminToken: admin, ...options });
    drills.push(report);
    log(
      `  ${options.nodes} nodes: share ${fixed(100 * report.autoResolvedShare, 1)} % of ${report.conflicts.total}, ops lost ${report.opsLost}, converged ${report.converged}, ${fixed(report.seconds, 1)} s`,
    );
  }
  return {
    push100,
    push1,
    pullRounds,
    pullServerEqual,
    lag: { server, pushes, cursorValid, paged, delta, fresh },
    drills,
  };
};

await main();
