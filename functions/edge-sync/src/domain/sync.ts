import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as Y from 'yjs';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
} from '#shared/errors.js';
import { sha256Hex } from '#shared/ports/canonical-json.js';
import { type EventPublisher, eventOf } from '#shared/ports/events.js';
import type { TenantRecord, TenantRecords } from '#shared/ports/records.js';
import type { Clock } from '#shared/ports/system.js';
import { TtlCache } from '#shared/ports/ttl-cache.js';
import type { WormStore } from '#shared/ports/worm.js';
import { edgeConflict } from '../../events.js';
import { decodeSyncCursor, encodeSyncCursor } from './cursor.js';
import {
  assertYjsUpdate,
  type ConflictWrite,
  type DetectedConflict,
  EdgeDocument,
  InvalidUpdateError,
  type UpdateMeta,
} from './document.js';
import { HybridLogicalClock } from './hlc.js';
import type { DocumentTypeRules, FieldRule } from './rules.js';

/**
 * The edge sync service: nodes and their credentials, document types and documents, the op log
 * (push and pull with cursors), snapshots and compaction, and the conflict center. Storage is the
 * kernel's tenant-scoped record store (one table, entity per record kind) and a write-once store
 * for snapshots; the server's copy of each document is kept per process (EdgeDocument) and caught
 * up from the log, so a push costs one log write however long the document's history.
 */

/** A node is `online` when it was seen within this long, `stale` after. */
export const ONLINE_WINDOW_MS = 5 * 60_000;
/** A node's `lastSeenAt` is written at most this often (a push or pull is a heartbeat too). */
const SEEN_WRITE_INTERVAL_MS = 30_000;
/** Log entries between snapshots: after this many, the next push writes one and compacts. */
export const DEFAULT_SNAPSHOT_EVERY = 200;
/** Attempts at taking the next log sequence when other writers keep taking it first. */
const APPEND_ATTEMPTS = 8;
/** A pull answers at most this many bytes of updates (it says `hasMore`), whatever `limit` asks. */
export const MAX_PULL_BYTES = 1024 * 1024;
/** Documents kept in memory per process (least recently used dropped first). */
const CACHED_DOCUMENTS = 64;
/** A document type's rules are read again after this long (a change applies within it everywhere). */
export const TYPE_CACHE_MS = 30_000;
/** A duplicate push looks this far back in the log for the entry that took its ops. */
const DUPLICATE_LOOKBACK = 50;

export const NODE_TOKEN_PREFIX = 'cen_';

export type NodeStatus = 'online' | 'stale' | 'revoked';

export interface NodeRecord extends TenantRecord {
  readonly meta: Readonly<Record<string, string>>;
  /** SHA-256 (hex) of the node's credential: the credential itself is shown once, at registration. */
  readonly tokenHash: string;
  readonly revoked: boolean;
  readonly registeredBy: string;
  readonly lastSeenAt?: string;
  readonly revokedAt?: string;
  readonly revokedBy?: string;
  readonly revokeReason?: string;
}

export interface DocumentTypeRecord extends TenantRecord {
  readonly rules: DocumentTypeRules;
  readonly updatedBy: string;
}

export interface DocumentRecord extends TenantRecord {
  readonly type: string;
  readonly createdBy: string;
  /** The log sequence the latest snapshot holds everything up to (0: none). */
  readonly snapshotSeq: number;
  readonly snapshotKey?: string;
  /** Log entries up to this sequence are deleted (they are in the snapshot, and every node has them). */
  readonly compactedThrough: number;
}

export interface LogOp {
  readonly opId: string;
  /** The Yjs update, base64. */
  readonly update: string;
}

/** One push of one node to one document, or a server write: one sequence number of the log. */
export interface LogEntry extends TenantRecord {
  readonly documentId: string;
  readonly seq: number;
  /** The pushing node, or `conductor` for the server's own writes (a person's resolution). */
  readonly nodeId: string;
  readonly ops: readonly LogOp[];
  /** The node's state vector when it made the ops ({client id: clock}), when it sent one. */
  readonly stateVector?: Readonly<Record<string, number>>;
  /** The server's writes the ops caused (automatic rules' values), base64 Yjs updates. */
  readonly derived: readonly string[];
  /** The conflicts the ops caused, as detected: the conflict center's records are made from them. */
  readonly conflicts: readonly DetectedConflict[];
}

export interface AckRecord extends TenantRecord {
  readonly documentId: string;
  readonly nodeId: string;
  /** The node has every log entry up to this sequence (the cursor it last pulled from). */
  readonly seq: number;
}

export type ConflictStatus = 'auto-resolved' | 'open' | 'resolved';

export interface ConflictRecord extends TenantRecord {
  readonly documentId: string;
  readonly field: string;
  readonly rule: FieldRule;
  readonly status: ConflictStatus;
  readonly current: ConflictWrite;
  readonly incoming: ConflictWrite;
  /** The node whose push found the conflict. */
  readonly nodeId: string;
  /** The log entry that found it. */
  readonly seq: number;
  readonly autoResolution?: { readonly how: string; readonly value: unknown };
  readonly resolvedBy?: string;
  readonly resolvedAt?: string;
  readonly resolvedValue?: unknown;
  readonly resolutionNote?: string;
  readonly resolutionSeq?: number;
  readonly traceId: string;
}

export interface EdgeStores {
  readonly nodes: TenantRecords<NodeRecord>;
  readonly types: TenantRecords<DocumentTypeRecord>;
  readonly documents: TenantRecords<DocumentRecord>;
  readonly log: TenantRecords<LogEntry>;
  readonly acks: TenantRecords<AckRecord>;
  readonly conflicts: TenantRecords<ConflictRecord>;
}

export interface EdgeSyncDeps extends EdgeStores {
  /** Snapshots of documents (the artifacts bucket on AWS, files locally): written once per sequence. */
  readonly snapshots: WormStore;
  readonly events: EventPublisher;
  readonly clock: Clock;
  /** Log entries between snapshots. */
  readonly snapshotEvery?: number;
  readonly onEventError?: (error: unknown) => void;
  /** Each conflict recorded (for the EdgeConflictOpen metric). */
  readonly onConflict?: (tenantId: string, status: ConflictStatus) => void;
}

export interface PushOp {
  readonly documentId: string;
  readonly opId: string;
  readonly update: string;
  readonly stateVector?: string | undefined;
}

export interface PushResult {
  readonly accepted: number;
  readonly duplicates: number;
  readonly results: readonly {
    readonly documentId: string;
    readonly opId: string;
    readonly status: 'accepted' | 'duplicate';
    readonly seq?: number;
  }[];
  readonly conflicts: readonly {
    readonly conflictId: string;
    readonly field: string;
    readonly status: ConflictStatus;
  }[];
}

export interface PulledOp {
  readonly seq: number;
  readonly nodeId: string;
  readonly opId: string;
  readonly update: string;
  readonly kind: 'op' | 'derived' | 'snapshot' | 'delta';
}

export interface PullResult {
  readonly documentId: string;
  readonly ops: readonly PulledOp[];
  readonly nextCursor: string;
  readonly hasMore: boolean;
}

interface DecodedOp {
  readonly documentId: string;
  readonly opId: string;
  readonly update: string;
  readonly bytes: Uint8Array;
  readonly stateVector: Record<string, number> | undefined;
}

interface Loaded {
  readonly doc: EdgeDocument;
  seq: number;
  readonly typeVersion: number;
}

const pad = (seq: number): string => String(seq).padStart(12, '0');
const logId = (documentId: string, seq: number): string => `${documentId}#${pad(seq)}`;
export const hashToken = (token: string): string => sha256Hex(token);
const toBase64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

/** Base64 (standard alphabet, padded) to bytes; undefined for text that is not exactly that. */
const fromBase64 = (text: string): Uint8Array | undefined => {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  return new Uint8Array(Buffer.from(text, 'base64'));
};

/** A deterministic conflict id: the same detection (a replayed push) names the same conflict. */
export const conflictIdOf = (documentId: string, key: string): string =>
  `cf_${sha256Hex(`${documentId}\n${key}`).slice(0, 24)}`;

export const nodeStatusOf = (node: NodeRecord, now: Date): NodeStatus =>
  node.revoked
    ? 'revoked'
    : node.lastSeenAt !== undefined && now.getTime() - Date.parse(node.lastSeenAt) <= ONLINE_WINDOW_MS
      ? 'online'
      : 'stale';

export class EdgeSync {
  readonly #cache = new Map<string, Promise<Loaded>>();
  /** Document types, read through: every push and pull needs its document's rules. */
  readonly #types: TtlCache<DocumentTypeRecord | undefined>;
  /** Appends to one document, one at a time in this process (its copy is shared). */
  readonly #appending = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: EdgeSyncDeps) {
    this.#types = new TtlCache({ ttlMs: TYPE_CACHE_MS, maxEntries: 1_000, clock: deps.clock });
  }

  // Nodes ---------------------------------------------------------------------------------------

  /** Registers a node; answers its credential, which is never shown again. 409 if the id is taken. */
  async registerNode(
    tenantId: string,
    nodeId: string,
    meta: Record<string, string>,
    by: string,
  ): Promise<{ node: NodeRecord; token: string }> {
    const token = `${NODE_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const now = this.deps.clock.now().toISOString();
    const node: NodeRecord = {
      tenantId,
      id: nodeId,
      version: 1,
      createdAt: now,
      updatedAt: now,
      meta,
      tokenHash: hashToken(token),
      revoked: false,
      registeredBy: by,
    };
    try {
      await this.deps.nodes.create(node);
    } catch (error) {
      if (error instanceof ConflictError) {
        throw new ConflictError(`Node ${nodeId} is already registered in this tenant.`, 'node_exists');
      }
      throw error;
    }
    return { node, token };
  }

  async getNode(tenantId: string, nodeId: string): Promise<NodeRecord> {
    const node = await this.deps.nodes.get(tenantId, nodeId);
    if (!node) throw new NotFoundError(`No node ${nodeId} in this tenant.`, 'node_not_found');
    return node;
  }

  async revokeNode(tenantId: string, nodeId: string, by: string, reason?: string): Promise<NodeRecord> {
    for (let attempt = 0; ; attempt += 1) {
      const node = await this.getNode(tenantId, nodeId);
      if (node.revoked) return node;
      const now = this.deps.clock.now().toISOString();
      const revoked: NodeRecord = {
        ...node,
        revoked: true,
        revokedAt: now,
        revokedBy: by,
        ...(reason === undefined ? {} : { revokeReason: reason }),
        version: node.version + 1,
        updatedAt: now,
      };
      try {
        await this.deps.nodes.replace(revoked, node.version);
        return revoked;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= 3) throw error;
      }
    }
  }

  /**
   * The node, if `token` is its credential and it is not revoked: 404 node_not_found, 403
   * node_revoked, 403 node_credential_invalid. Counts as a heartbeat.
   */
  async authenticateNode(tenantId: string, nodeId: string, token: string | undefined): Promise<NodeRecord> {
    const node = await this.deps.nodes.get(tenantId, nodeId);
    if (!node)
      throw new NotFoundError(`No node ${nodeId} in this tenant: register it first.`, 'node_not_found');
    if (node.revoked) {
      throw new ForbiddenError(`Node ${nodeId} is revoked: it can no longer sync.`, [], 'node_revoked');
    }
    const given = Buffer.from(hashToken(token ?? ''), 'hex');
    const expected = Buffer.from(node.tokenHash, 'hex');
    if (token === undefined || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ForbiddenError(
        `The node credential (X-Conductor-Node-Token) is missing or is not node ${nodeId}'s.`,
        [],
        'node_credential_invalid',
      );
    }
    return this.#seen(node);
  }

  /** Records that the node was seen now (at most every SEEN_WRITE_INTERVAL_MS; a lost race is fine). */
  async #seen(node: NodeRecord): Promise<NodeRecord> {
    const now = this.deps.clock.now();
    if (
      node.lastSeenAt !== undefined &&
      now.getTime() - Date.parse(node.lastSeenAt) < SEEN_WRITE_INTERVAL_MS
    ) {
      return node;
    }
    const seen = {
      ...node,
      lastSeenAt: now.toISOString(),
      version: node.version + 1,
      updatedAt: now.toISOString(),
    };
    try {
      await this.deps.nodes.replace(seen, node.version);
      return seen;
    } catch (error) {
      if (error instanceof ConflictError) return node;
      throw error;
    }
  }

  // Document types and documents -----------------------------------------------------------------

  async putType(
    tenantId: string,
    type: string,
    rules: DocumentTypeRules,
    by: string,
  ): Promise<DocumentTypeRecord> {
    for (let attempt = 0; ; attempt += 1) {
      const existing = await this.deps.types.get(tenantId, type);
      const now = this.deps.clock.now().toISOString();
      const record: DocumentTypeRecord = {
        tenantId,
        id: type,
        version: (existing?.version ?? 0) + 1,
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
        rules,
        updatedBy: by,
      };
      try {
        if (existing) await this.deps.types.replace(record, existing.version);
        else await this.deps.types.create(record);
        this.#types.set(`${tenantId}\n${type}`, record);
        return record;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= 3) throw error;
      }
    }
  }

  async createDocument(
    tenantId: string,
    documentId: string,
    type: string,
    by: string,
  ): Promise<DocumentRecord> {
    if (!(await this.deps.types.get(tenantId, type))) {
      throw new NotFoundError(
        `No document type ${type} in this tenant: declare it first.`,
        'document_type_not_found',
      );
    }
    const now = this.deps.clock.now().toISOString();
    const record: DocumentRecord = {
      tenantId,
      id: documentId,
      version: 1,
      createdAt: now,
      updatedAt: now,
      type,
      createdBy: by,
      snapshotSeq: 0,
      compactedThrough: 0,
    };
    try {
      await this.deps.documents.create(record);
    } catch (error) {
      if (error instanceof ConflictError) {
        throw new ConflictError(`Document ${documentId} already exists in this tenant.`, 'document_exists');
      }
      throw error;
    }
    return record;
  }

  async getDocument(tenantId: string, documentId: string): Promise<DocumentRecord> {
    const record = await this.deps.documents.get(tenantId, documentId);
    if (!record) throw new NotFoundError(`No document ${documentId} in this tenant.`, 'document_not_found');
    return record;
  }

  /** The document as the server holds it now: its fields, head sequence and state vector. */
  async readDocument(tenantId: string, documentId: string) {
    const record = await this.getDocument(tenantId, documentId);
    const loaded = await this.#load(tenantId, record);
    return {
      record,
      head: loaded.seq,
      fields: loaded.doc.fieldsJson(),
      stateVector: toBase64(loaded.doc.stateVector()),
    };
  }

  // Push -----------------------------------------------------------------------------------------

  /**
   * Appends a node's ops: each document's new ops in one log entry (one conditional write that takes
   * the next sequence number), with the conflicts they cause and the rules' writes. Ops the server
   * already holds are duplicates: accepted once, never logged twice. Every op is checked before
   * anything is stored (a bad one: 400 naming it, nothing stored).
   */
  async push(
    tenantId: string,
    node: NodeRecord,
    ops: readonly PushOp[],
    traceId: string,
  ): Promise<PushResult> {
    const decoded = ops.map((op, index) => {
      const bytes = fromBase64(op.update);
      const problem = bytes === undefined ? 'not base64' : validity(bytes);
      if (problem !== undefined) {
        throw new ValidationError(
          `ops[${index}] (${op.opId}): ${problem}.`,
          [{ path: `body.ops.${index}.update`, message: problem }],
          'invalid_update',
        );
      }
      const stateVector = op.stateVector === undefined ? undefined : decodeStateVector(op.stateVector, index);
      return { ...op, bytes: bytes as Uint8Array, stateVector };
    });
    const byDocument = new Map<string, typeof decoded>();
    for (const op of decoded) byDocument.set(op.documentId, [...(byDocument.get(op.documentId) ?? []), op]);
    const records = new Map<string, DocumentRecord>();
    for (const documentId of byDocument.keys())
      records.set(documentId, await this.getDocument(tenantId, documentId));

    const results: PushResult['results'][number][] = [];
    const conflicts: PushResult['conflicts'][number][] = [];
    for (const [documentId, documentOps] of byDocument) {
      const record = records.get(documentId) as DocumentRecord;
      const appended = await this.#append(tenantId, record, node.id, documentOps, traceId);
      results.push(...appended.results);
      conflicts.push(...appended.conflicts);
    }
    const accepted = results.filter((r) => r.status === 'accepted').length;
    return { accepted, duplicates: results.length - accepted, results, conflicts };
  }

  async #append(
    tenantId: string,
    record: DocumentRecord,
    nodeId: string,
    ops: readonly DecodedOp[],
    traceId: string,
  ) {
    let results: PushResult['results'][number][] = [];
    const appended = await this.#appendEntry(tenantId, record, (loaded) => {
      const fresh: LogOp[] = [];
      const detected: DetectedConflict[] = [];
      const derived: string[] = [];
      results = [];
      for (const op of ops) {
        const outcome = loaded.doc.apply(op.bytes, { nodeId, stateVector: op.stateVector });
        if (!outcome.changed) {
          results.push({ documentId: record.id, opId: op.opId, status: 'duplicate' });
          continue;
        }
        fresh.push({ opId: op.opId, update: op.update });
        detected.push(...outcome.conflicts);
        if (outcome.derived) derived.push(toBase64(outcome.derived));
        results.push({ documentId: record.id, opId: op.opId, status: 'accepted', seq: loaded.seq + 1 });
      }
      if (fresh.length === 0) return undefined;
      const stateVector = ops.find((op) => op.stateVector !== undefined)?.stateVector;
      return { nodeId, ops: fresh, ...(stateVector ? { stateVector } : {}), derived, conflicts: detected };
    });
    if (!appended) {
      // Every op was known: a retry of a push that landed. Its conflicts may not have been recorded
      // (the first attempt stopped after the log write): record them from the entry that took them.
      return { results, conflicts: await this.#repairConflicts(tenantId, record.id, nodeId, ops, traceId) };
    }
    const conflicts = await this.#recordConflicts(appended.entry, traceId);
    await this.#compactIfDue(tenantId, record, appended.loaded);
    return { results, conflicts };
  }

  /**
   * Takes the log's next sequence number for what `change` applies to the server's copy (undefined:
   * nothing to log). One conditional write: when another writer took the number first, this copy
   * holds changes the log does not, so it is dropped and the change is made again on a fresh one.
   */
  async #appendEntry(
    tenantId: string,
    record: DocumentRecord,
    change: (
      loaded: Loaded,
    ) => Pick<LogEntry, 'nodeId' | 'ops' | 'stateVector' | 'derived' | 'conflicts'> | undefined,
  ): Promise<{ entry: LogEntry; loaded: Loaded } | undefined> {
    // Requests of one process share the document's copy: they append one after the other, so only
    // another process (another Lambda container) can take a sequence number first.
    const key = cacheKey(tenantId, record.id);
    const before = this.#appending.get(key) ?? Promise.resolve();
    const mine = before.catch(() => undefined).then(() => this.#appendOnce(tenantId, record, change));
    this.#appending.set(key, mine);
    try {
      return await mine;
    } finally {
      if (this.#appending.get(key) === mine) this.#appending.delete(key);
    }
  }

  async #appendOnce(
    tenantId: string,
    record: DocumentRecord,
    change: (
      loaded: Loaded,
    ) => Pick<LogEntry, 'nodeId' | 'ops' | 'stateVector' | 'derived' | 'conflicts'> | undefined,
  ): Promise<{ entry: LogEntry; loaded: Loaded } | undefined> {
    for (let attempt = 1; ; attempt += 1) {
      const loaded = await this.#load(tenantId, record);
      const content = change(loaded);
      if (!content) return undefined;
      const seq = loaded.seq + 1;
      const now = this.deps.clock.now().toISOString();
      const entry: LogEntry = {
        tenantId,
        id: logId(record.id, seq),
        version: 1,
        createdAt: now,
        updatedAt: now,
        documentId: record.id,
        seq,
        ...content,
      };
      try {
        await this.deps.log.create(entry);
      } catch (error) {
        this.#cache.delete(cacheKey(tenantId, record.id));
        if (error instanceof ConflictError && attempt < APPEND_ATTEMPTS) continue;
        throw error;
      }
      loaded.seq = seq;
      return { entry, loaded };
    }
  }

  async #recordConflicts(entry: LogEntry, traceId: string) {
    const out: PushResult['conflicts'][number][] = [];
    const events = [];
    for (const conflict of entry.conflicts) {
      const id = conflictIdOf(entry.documentId, conflict.key);
      const status: ConflictStatus = conflict.resolution.kind === 'auto' ? 'auto-resolved' : 'open';
      const record: ConflictRecord = {
        tenantId: entry.tenantId,
        id,
        version: 1,
        createdAt: entry.createdAt,
        updatedAt: entry.createdAt,
        documentId: entry.documentId,
        field: conflict.field,
        rule: conflict.rule,
        status,
        current: conflict.current,
        incoming: conflict.incoming,
        nodeId: entry.nodeId,
        seq: entry.seq,
        ...(conflict.resolution.kind === 'auto'
          ? { autoResolution: { how: conflict.resolution.how, value: conflict.resolution.value } }
          : {}),
        traceId,
      };
      try {
        await this.deps.conflicts.create(record);
        this.deps.onConflict?.(entry.tenantId, status);
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error; // recorded by an earlier attempt
      }
      out.push({ conflictId: id, field: conflict.field, status });
      events.push(
        eventOf(edgeConflict, {
          tenantId: entry.tenantId,
          traceId,
          occurredAt: entry.createdAt,
          conflictId: id,
          documentId: entry.documentId,
          field: conflict.field,
          rule: conflict.rule,
          autoResolved: status === 'auto-resolved',
          nodeId: entry.nodeId,
        }),
      );
    }
    if (events.length > 0) {
      // The conflict records are the state; the events announce them (at least once, best effort).
      await this.deps.events.publish(events).catch((error: unknown) => this.deps.onEventError?.(error));
    }
    return out;
  }

  async #repairConflicts(
    tenantId: string,
    documentId: string,
    nodeId: string,
    ops: readonly DecodedOp[],
    traceId: string,
  ) {
    const loaded = this.#cache.get(cacheKey(tenantId, documentId));
    const head = loaded ? (await loaded).seq : 0;
    const opIds = new Set(ops.map((op) => op.opId));
    const page = await this.deps.log.list(tenantId, {
      prefix: `${documentId}#`,
      after: logId(documentId, Math.max(0, head - DUPLICATE_LOOKBACK)),
      limit: DUPLICATE_LOOKBACK + 1,
    });
    const out: PushResult['conflicts'][number][] = [];
    for (const entry of page.items) {
      if (entry.nodeId !== nodeId || entry.conflicts.length === 0) continue;
      if (!entry.ops.some((op) => opIds.has(op.opId))) continue;
      out.push(...(await this.#recordConflicts(entry, traceId)));
    }
    return out;
  }

  // Pull -----------------------------------------------------------------------------------------

  /**
   * What a node lacks of a document: the log entries after its cursor (a page: `hasMore` says
   * whether to pull again), or with a state vector the minimal delta at once. Without a cursor a
   * node starts from the beginning: the latest snapshot, then the log after it. The cursor a node
   * sends is its acknowledgement: compaction keeps every entry after the oldest acknowledged one.
   */
  async pull(
    tenantId: string,
    node: NodeRecord,
    request: {
      documentId: string;
      cursor?: string | undefined;
      stateVector?: string | undefined;
      limit: number;
    },
  ): Promise<PullResult> {
    const record = await this.getDocument(tenantId, request.documentId);
    if (request.stateVector !== undefined) {
      const sv = fromBase64(request.stateVector);
      let delta: Uint8Array;
      const loaded = await this.#load(tenantId, record);
      try {
        if (!sv) throw new Error('not base64');
        Y.decodeStateVector(sv);
        delta = loaded.doc.delta(sv);
      } catch {
        throw new ValidationError(
          'stateVector is not a Yjs state vector (base64).',
          [{ path: 'body.stateVector', message: 'not a Yjs state vector' }],
          'invalid_state_vector',
        );
      }
      await this.#acknowledge(tenantId, record.id, node.id, loaded.seq);
      return {
        documentId: record.id,
        ops: [
          {
            seq: loaded.seq,
            nodeId: 'conductor',
            opId: `delta-${loaded.seq}`,
            update: toBase64(delta),
            kind: 'delta',
          },
        ],
        nextCursor: encodeSyncCursor(record.id, loaded.seq),
        hasMore: false,
      };
    }
    const from = request.cursor === undefined ? undefined : decodeSyncCursor(request.cursor, record.id);
    if (from !== undefined && from > 0) {
      if (from < record.compactedThrough) {
        throw new ValidationError(
          `The cursor is older than the document's compacted log (through ${record.compactedThrough}): sync with your state vector instead.`,
          [{ path: 'body.cursor', message: 'compacted' }],
          'cursor_expired',
        );
      }
      if (from > record.compactedThrough && !(await this.deps.log.get(tenantId, logId(record.id, from)))) {
        throw new ValidationError(
          `The cursor points past the document's log (sequence ${from} does not exist).`,
          [{ path: 'body.cursor', message: 'unknown sequence' }],
          'cursor_unknown',
        );
      }
    }
    const ops: PulledOp[] = [];
    let position = from ?? 0;
    // A node with nothing yet (no cursor, or the cursor of an empty log) starts from the snapshot.
    if (
      (from === undefined || from === 0) &&
      record.snapshotKey !== undefined &&
      record.compactedThrough > 0
    ) {
      const snapshot = await this.deps.snapshots.get(record.snapshotKey);
      if (snapshot === undefined) throw new Error(`snapshot ${record.snapshotKey} is missing`);
      ops.push({
        seq: record.snapshotSeq,
        nodeId: 'conductor',
        opId: `snapshot-${record.snapshotSeq}`,
        update: snapshot,
        kind: 'snapshot',
      });
      position = record.snapshotSeq;
    }
    // What the node has: from here on, compaction keeps every entry after it (the first pull of a
    // document, without a cursor, subscribes the node at where it starts).
    await this.#acknowledge(tenantId, record.id, node.id, position);
    const page = await this.deps.log.list(tenantId, {
      prefix: `${record.id}#`,
      after: logId(record.id, position),
      limit: request.limit,
    });
    let bytes = ops.reduce((sum, op) => sum + op.update.length, 0);
    let hasMore = page.nextCursor !== undefined;
    for (const entry of page.items) {
      const entryOps: PulledOp[] = [
        ...entry.ops.map((op) => ({
          seq: entry.seq,
          nodeId: entry.nodeId,
          opId: op.opId,
          update: op.update,
          kind: 'op' as const,
        })),
        ...entry.derived.map((update, i) => ({
          seq: entry.seq,
          nodeId: 'conductor',
          opId: `derived-${entry.seq}-${i}`,
          update,
          kind: 'derived' as const,
        })),
      ];
      const size = entryOps.reduce((sum, op) => sum + op.update.length, 0);
      if (ops.length > 0 && bytes + size > MAX_PULL_BYTES) {
        hasMore = true;
        break;
      }
      ops.push(...entryOps);
      bytes += size;
      position = entry.seq;
    }
    return { documentId: record.id, ops, nextCursor: encodeSyncCursor(record.id, position), hasMore };
  }

  async #acknowledge(tenantId: string, documentId: string, nodeId: string, seq: number): Promise<void> {
    const id = `${documentId}#${nodeId}`;
    const existing = await this.deps.acks.get(tenantId, id);
    if (existing && existing.seq >= seq) return;
    const now = this.deps.clock.now().toISOString();
    const ack: AckRecord = {
      tenantId,
      id,
      version: (existing?.version ?? 0) + 1,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
      documentId,
      nodeId,
      seq,
    };
    try {
      if (existing) await this.deps.acks.replace(ack, existing.version);
      else await this.deps.acks.create(ack);
    } catch (error) {
      // A concurrent pull of the same node acknowledged at the same time: either value is safe.
      if (!(error instanceof ConflictError)) throw error;
    }
  }

  // Conflict center ------------------------------------------------------------------------------

  async getConflict(tenantId: string, conflictId: string): Promise<ConflictRecord> {
    const conflict = await this.deps.conflicts.get(tenantId, conflictId);
    if (!conflict) throw new NotFoundError(`No conflict ${conflictId} in this tenant.`, 'conflict_not_found');
    return conflict;
  }

  /**
   * A person settles an open conflict: the value (one side's, or a new one) is written to the field
   * as the server, after whatever it holds now, and reaches every node through the log.
   */
  async resolveConflict(
    tenantId: string,
    conflictId: string,
    choice: {
      readonly choose?: 'current' | 'incoming' | undefined;
      readonly value?: unknown;
      readonly note?: string | undefined;
    },
    by: string,
  ): Promise<ConflictRecord> {
    const conflict = await this.getConflict(tenantId, conflictId);
    if (conflict.status !== 'open') {
      throw new ConflictError(
        `Conflict ${conflictId} is ${conflict.status}: only an open one can be resolved.`,
        'conflict_not_open',
      );
    }
    const value =
      choice.choose === 'current'
        ? conflict.current.value
        : choice.choose === 'incoming'
          ? conflict.incoming.value
          : choice.value;
    const record = await this.getDocument(tenantId, conflict.documentId);
    const writer = `person:${by}`;
    const clock = new HybridLogicalClock(writer, () => this.deps.clock.now().getTime());
    clock.observe(conflict.current.hlc);
    clock.observe(conflict.incoming.hlc);
    const appended = await this.#appendEntry(tenantId, record, (loaded) => {
      const update = loaded.doc.writeField(conflict.field, {
        v: value,
        t: clock.now(),
        n: writer,
        r: conflictId,
      });
      return { nodeId: 'conductor', ops: [], derived: [toBase64(update)], conflicts: [] };
    });
    const seq = appended?.entry.seq ?? 0;
    const now = this.deps.clock.now().toISOString();
    const resolved: ConflictRecord = {
      ...conflict,
      status: 'resolved',
      resolvedBy: by,
      resolvedAt: now,
      resolvedValue: value,
      ...(choice.note === undefined ? {} : { resolutionNote: choice.note }),
      resolutionSeq: seq,
      version: conflict.version + 1,
      updatedAt: now,
    };
    await this.deps.conflicts.replace(resolved, conflict.version);
    return resolved;
  }

  // The server's copy ----------------------------------------------------------------------------

  /** The document as of the log's last entry: from this process's copy, or the snapshot and the log. */
  async #load(tenantId: string, record: DocumentRecord): Promise<Loaded> {
    const key = cacheKey(tenantId, record.id);
    const type = await this.#types.get(`${tenantId}\n${record.type}`, () =>
      this.deps.types.get(tenantId, record.type),
    );
    if (!type)
      throw new NotFoundError(`The document type ${record.type} is gone.`, 'document_type_not_found');
    let cached = this.#cache.get(key);
    if (cached) {
      const loaded = await cached.catch(() => undefined);
      // A copy older than the compacted log cannot catch up; a copy of older rules is reloaded.
      if (!loaded || loaded.seq < record.compactedThrough || loaded.typeVersion !== type.version) {
        this.#cache.delete(key);
        cached = undefined;
      }
    }
    if (!cached) {
      cached = this.#fromStore(record, type);
      this.#cache.set(key, cached);
      cached.catch(() => this.#cache.delete(key));
      if (this.#cache.size > CACHED_DOCUMENTS) this.#cache.delete(this.#cache.keys().next().value as string);
    } else {
      this.#cache.delete(key);
      this.#cache.set(key, cached);
    }
    const loaded = await cached;
    await this.#catchUp(tenantId, record.id, loaded);
    return loaded;
  }

  async #fromStore(record: DocumentRecord, type: DocumentTypeRecord): Promise<Loaded> {
    const doc = new EdgeDocument(type.rules, { conflictId: (key) => conflictIdOf(record.id, key) });
    let seq = 0;
    if (record.snapshotKey !== undefined && record.snapshotSeq > 0) {
      const snapshot = await this.deps.snapshots.get(record.snapshotKey);
      if (snapshot === undefined) throw new Error(`snapshot ${record.snapshotKey} is missing`);
      doc.replay(new Uint8Array(Buffer.from(snapshot, 'base64')));
      seq = record.snapshotSeq;
    }
    return { doc, seq, typeVersion: type.version };
  }

  async #catchUp(tenantId: string, documentId: string, loaded: Loaded): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await this.deps.log.list(tenantId, {
        prefix: `${documentId}#`,
        ...(cursor === undefined ? { after: logId(documentId, loaded.seq) } : { cursor }),
        limit: 100,
      });
      for (const entry of page.items) {
        const meta: UpdateMeta = { nodeId: entry.nodeId, stateVector: entry.stateVector };
        for (const op of entry.ops) loaded.doc.replay(new Uint8Array(Buffer.from(op.update, 'base64')), meta);
        for (const update of entry.derived) loaded.doc.replay(new Uint8Array(Buffer.from(update, 'base64')));
        loaded.seq = entry.seq;
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }

  /**
   * Every `snapshotEvery` entries: the whole document written once as a snapshot, then the log
   * entries every node (not revoked) has acknowledged and the snapshot holds are deleted. A node
   * that never acknowledged anything starts from the snapshot; one that did keeps its entries.
   */
  async #compactIfDue(tenantId: string, record: DocumentRecord, loaded: Loaded): Promise<void> {
    const every = this.deps.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
    if (loaded.seq - record.snapshotSeq < every) return; // the record read at the push's start says not yet
    const current = await this.deps.documents.get(tenantId, record.id);
    if (!current || loaded.seq - current.snapshotSeq < every) return;
    const snapshotSeq = loaded.seq;
    const snapshotKey = `edge/${tenantId}/${record.id}/${pad(snapshotSeq)}.yjs`;
    await this.deps.snapshots.putOnce(snapshotKey, toBase64(loaded.doc.delta()), 'application/octet-stream');
    const acks = await this.#allAcks(tenantId, record.id);
    const nodes = await this.deps.nodes.getMany(
      tenantId,
      acks.map((ack) => ack.nodeId),
    );
    const live = acks.filter((ack) => nodes.get(ack.nodeId)?.revoked === false).map((ack) => ack.seq);
    const through = Math.min(snapshotSeq, ...live);
    const now = this.deps.clock.now().toISOString();
    try {
      await this.deps.documents.replace(
        {
          ...current,
          snapshotSeq,
          snapshotKey,
          compactedThrough: Math.max(current.compactedThrough, through),
          version: current.version + 1,
          updatedAt: now,
        },
        current.version,
      );
    } catch (error) {
      if (error instanceof ConflictError) return; // another writer compacted meanwhile
      throw error;
    }
    // Deleted only after the document says they are compacted (a reader never misses them).
    for (let seq = current.compactedThrough + 1; seq <= through; seq += 1) {
      await this.deps.log.delete(tenantId, logId(record.id, seq));
    }
  }

  async #allAcks(tenantId: string, documentId: string): Promise<AckRecord[]> {
    const acks: AckRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.deps.acks.list(tenantId, { prefix: `${documentId}#`, cursor, limit: 100 });
      acks.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return acks;
  }
}

const cacheKey = (tenantId: string, documentId: string): string => `${tenantId}\n${documentId}`;

/** Why bytes are not an acceptable update, or undefined. */
const validity = (bytes: Uint8Array): string | undefined => {
  try {
    assertYjsUpdate(bytes);
    return undefined;
  } catch (error) {
    return error instanceof InvalidUpdateError ? error.message : 'not a Yjs update';
  }
};

const decodeStateVector = (text: string, index: number): Record<string, number> => {
  const bytes = fromBase64(text);
  try {
    if (!bytes) throw new Error('not base64');
    return Object.fromEntries(
      [...Y.decodeStateVector(bytes)].map(([client, clock]) => [String(client), clock]),
    );
  } catch {
    throw new ValidationError(
      `ops[${index}]: stateVector is not a Yjs state vector (base64).`,
      [{ path: `body.ops.${index}.stateVector`, message: 'not a Yjs state vector' }],
      'invalid_state_vector',
    );
  }
};

/** Too many bytes in one push (besides the route's body limit): 413. */
export const assertPushSize = (ops: readonly PushOp[], maxOpBytes: number): void => {
  for (const [index, op] of ops.entries()) {
    if (op.update.length > maxOpBytes) {
      throw new PayloadTooLargeError(maxOpBytes, `ops[${index}] (${op.opId}), in base64,`);
    }
  }
};
