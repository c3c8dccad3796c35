import * as Y from 'yjs';
import { WORK_ORDER_TYPE } from '../../clients/edge/drill.js';
import { NODE_TOKEN_HEADER } from '../../functions/edge-sync/contract.js';
import { FIELDS_MAP, HybridLogicalClock } from '../../functions/edge-sync/wire.js';
import type { CostContext, Kind, PillarKinds } from './kind.js';

/**
 * Edge sync's (M6) main request, priced by `npm run bench:cost`: a node's sync round of 10 ops. The
 * API makes a round two requests, as the edge client (clients/edge/client.ts) sends them: the push
 * (`POST /edge/operations`) and the pull (`POST /edge/sync`, which takes no ops); each is a kind, and
 * a round costs their sum. Tenant `bench-edge`, document type `work-order` (the drill's), nodes
 * registered with their credential sent as `x-conductor-node-token` beside an operator's token.
 * - "edge sync, 10 ops: push": one push of 10 ops (10 field edits, one Yjs update each with the state
 *   vector before it, as the client batches its outbox) to `push-doc` by node `bench-edge-pusher`:
 *   the node checked, the ops decoded and applied to the server's copy of the document (kept in
 *   memory), one log entry written. Every 200th entry's push also writes a snapshot and deletes the
 *   compacted entries, one DeleteItem of about 3 WRU per entry pushed (in a 200-request run exactly one
 *   falls in it, after the 5 of the warm-up; a shorter run has none).
 * - "edge sync, 10 ops: pull": one pull by node `bench-edge-puller` of `pull-doc` from its cursor
 *   (the previous answer's `nextCursor`, `limit` 1): what is new, one log entry of 10 ops pushed by
 *   node `bench-edge-writer` before the phase (unmetered), and the acknowledgement of its cursor.
 * Neither sets off work of the pillar's beyond the kernel's own (the decision record of every API
 * request, sent to the decision-archive queue and drained with it): a push publishes `edge_conflict`
 * only when it finds a concurrent write, which one writer per document never makes. A node's
 * last-seen write is made at most every 30 s per node: in a short run only the warm-up's, while a
 * node that syncs less often than that pays one PutItem more on every request.
 */

const TENANT = 'bench-edge';
/** The 10 fields one push edits (lww, or the type's default rule). */
const FIELDS = 'status notes assignee site eta crew vehicle weather customer priority'.split(' ');
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** A node's edits of a document: each call, 10 new field edits as the edge client pushes them. */
const editor = (nodeId: string, clientId: number, documentId: string) => {
  const doc = new Y.Doc();
  doc.clientID = clientId;
  const clock = new HybridLogicalClock(nodeId);
  let update: Uint8Array | undefined;
  doc.on('update', (bytes: Uint8Array) => {
    update = bytes;
  });
  let count = 0;
  return (label: string) => ({
    nodeId,
    ops: FIELDS.map((field) => {
      const stateVector = b64(Y.encodeStateVector(doc));
      doc.getMap(FIELDS_MAP).set(field, { v: `${field} ${label}`, t: clock.now(), n: nodeId });
      count += 1;
      return { documentId, opId: `${nodeId}:${count}`, update: b64(update as Uint8Array), stateVector };
    }),
  });
};

/** A request of a node: its credential beside the bearer token; throws unless it answers 200. */
const nodeCall = (context: CostContext, path: string, token: string, nodeToken: string, body: unknown) =>
  context.call('POST', path, token, body, 200, { [NODE_TOKEN_HEADER]: nodeToken });

interface PushReply {
  readonly accepted: number;
  readonly duplicates: number;
  readonly results: readonly { readonly status: string; readonly seq?: number }[];
  readonly conflicts: readonly unknown[];
}
interface PullReply {
  readonly ops: readonly { readonly seq: number; readonly nodeId: string; readonly kind: string }[];
  readonly nextCursor: string;
}

export const edgeCostKinds: PillarKinds = async (context) => {
  const admin = await context.token(TENANT, `${TENANT}-admin`, ['tenant-admin'], true);
  const operator = await context.token(TENANT, `${TENANT}-operator`, ['operator']);
  await context.call('PUT', '/edge/document-types/work-order', admin, WORK_ORDER_TYPE, 200);
  for (const documentId of ['push-doc', 'pull-doc'])
    await context.call('POST', '/edge/documents', operator, { documentId, type: 'work-order' }, 201);
  const register = async (nodeId: string) =>
    (await context.call('POST', '/edge/nodes', admin, { nodeId, meta: { site: 'bench' } }, 201))
      .token as string;
  const [pusher, writer, puller] = ['bench-edge-pusher', 'bench-edge-writer', 'bench-edge-puller'];
  const [pusherToken, writerToken, pullerToken] = [
    await register(pusher),
    await register(writer),
    await register(puller),
  ];

  // The push kind's bodies, made before each phase in the order they are sent (Yjs updates chain).
  const pushEdits = editor(pusher, 0xed6e01, 'push-doc');
  const pushBodies = new Map<string, ReturnType<typeof pushEdits>[]>();
  let lastPushSeq = 0;

  // The puller subscribes to its document (its first pull, no cursor); then it pulls from its cursor.
  const writerEdits = editor(writer, 0xed6e02, 'pull-doc');
  const pull = (cursor?: string) => ({
    nodeId: puller,
    documentId: 'pull-doc',
    limit: 1,
    ...(cursor ? { cursor } : {}),
  });
  let cursor = (await nodeCall(context, '/edge/sync', operator, pullerToken, pull())).nextCursor as string;
  let lastPullSeq = 0;

  const push: Kind = {
    name: 'edge sync, 10 ops: push',
    method: 'POST',
    path: '/edge/operations',
    token: operator,
    status: 200,
    headers: () => ({ [NODE_TOKEN_HEADER]: pusherToken }),
    prepare: async (count, phase) => {
      pushBodies.set(
        phase,
        Array.from({ length: count }, (_, i) => pushEdits(`${phase}-${i}`)),
      );
    },
    body: (i, phase) => pushBodies.get(phase)?.[i],
    check: (reply) => {
      const { accepted, duplicates, results, conflicts } = reply as PushReply;
      const entry = lastPushSeq + 1;
      if (
        accepted !== 10 ||
        duplicates !== 0 ||
        conflicts.length !== 0 ||
        results.some((r) => r.status !== 'accepted' || r.seq !== entry)
      )
        throw new Error(`expected 10 ops accepted as log entry ${entry}, no conflict`);
      lastPushSeq = entry;
    },
    note:
      'One push of 10 ops (10 field edits) to a document: one log entry. Every 200th entry’s push also ' +
      'writes a snapshot and deletes the 200 compacted entries (one DeleteItem per entry pushed): priced ' +
      'in a run of 200 requests, absent from shorter ones. A sync round is this push and the pull.',
  };

  const pullKind: Kind = {
    name: 'edge sync, 10 ops: pull',
    method: 'POST',
    path: '/edge/sync',
    token: operator,
    status: 200,
    headers: () => ({ [NODE_TOKEN_HEADER]: pullerToken }),
    // What the pulls of the phase find new: one log entry of 10 ops of another node each.
    prepare: async (count, phase) => {
      for (let i = 0; i < count; i += 1)
        await nodeCall(context, '/edge/operations', operator, writerToken, writerEdits(`${phase}-${i}`));
    },
    body: () => pull(cursor),
    // Checks the entry is the next one, its 10 ops the writer's; keeps the cursor, as a node does.
    check: (reply) => {
      const { ops, nextCursor } = reply as PullReply;
      if (
        ops.length !== 10 ||
        ops.some((op) => op.kind !== 'op' || op.nodeId !== writer || op.seq !== lastPullSeq + 1)
      )
        throw new Error(`expected log entry ${lastPullSeq + 1}: 10 ops of ${writer}`);
      lastPullSeq += 1;
      cursor = nextCursor;
    },
    note: 'One pull from the node’s cursor of what is new: one log entry of 10 ops another node pushed (limit 1).',
  };
  return [push, pullKind];
};
