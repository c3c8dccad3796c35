import * as Y from 'yjs';
import {
  FIELDS_MAP,
  type FieldEnvelope,
  HybridLogicalClock,
  incrementOf,
  MAX_OP_BASE64,
  MAX_OPS_PER_PUSH,
  MAX_PUSH_BODY_BYTES,
  NODE_TOKEN_HEADER,
} from '../../functions/edge-sync/wire.js';
import type { EdgeState, EdgeStorage } from './storage.js';

/**
 * Conductor's edge client: a node's documents as Yjs docs that keep working offline, an outbox of
 * its own updates, and push/pull with the server when it is reachable. Everything it has not had
 * acknowledged is in its storage (a file in Node, web storage in a browser) after every change, so
 * a restart loses nothing. Runs in Node 20+ and browsers (fetch, no Node APIs).
 */

export interface EdgeClientOptions {
  /** The API's base URL, e.g. `http://localhost:3000/api/conductor/v1`. */
  readonly apiUrl: string;
  readonly nodeId: string;
  /** The node's credential (from registration). */
  readonly nodeToken: string;
  /** A bearer token of the tenant (a machine client's, or a person's): asked for at each request. */
  readonly bearerToken: () => string | Promise<string>;
  readonly storage: EdgeStorage;
  /** The documents this node keeps. */
  readonly documents: readonly string[];
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
  /** Retries of a sync round after a network error or a 5xx/429, with exponential backoff. */
  readonly retries?: number;
  readonly backoffMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface SyncStatus {
  readonly nodeId: string;
  /** Local updates not yet acknowledged by the server. */
  readonly pendingOps: number;
  /** Per document: the cursor of the last pull, and the last log sequence acknowledged. */
  readonly documents: Readonly<Record<string, { readonly cursor?: string; readonly lastSeq: number }>>;
  readonly lastSyncAt?: string;
  readonly lastError?: string;
  /** The server refused the node's credential (revoked, or not this node's): syncing has stopped. */
  readonly cutOff: boolean;
}

export interface SyncReport {
  readonly pushed: number;
  readonly duplicates: number;
  readonly pulled: number;
  readonly conflicts: number;
}

/** The server refused a request in a way a retry will not fix (4xx other than 429). */
export class EdgeSyncRefused extends Error {
  override readonly name = 'EdgeSyncRefused';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The server asked to slow down (429): retried after `retryAfterMs`. */
export class EdgeSyncBusy extends Error {
  override readonly name = 'EdgeSyncBusy';
  constructor(
    readonly retryAfterMs: number,
    message: string,
  ) {
    super(message);
  }
}

const REMOTE = 'conductor-remote';
const toBase64 = (bytes: Uint8Array): string => {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
};
const fromBase64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

export class EdgeClient {
  readonly #docs = new Map<string, Y.Doc>();
  readonly #clock: HybridLogicalClock;
  #state: EdgeState;
  #lastSyncAt: string | undefined;
  #lastError: string | undefined;
  #cutOff = false;
  #saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly options: EdgeClientOptions,
    state: EdgeState,
  ) {
    this.#state = state;
    this.#clock = new HybridLogicalClock(options.nodeId, options.now ?? Date.now, state.hlc);
    for (const documentId of new Set([...options.documents, ...Object.keys(state.documents)])) {
      this.#open(documentId);
    }
  }

  /** Opens the node's state from storage (or starts empty). */
  static async open(options: EdgeClientOptions): Promise<EdgeClient> {
    const stored = await options.storage.load();
    if (stored && stored.nodeId !== options.nodeId) {
      throw new Error(`The storage holds node ${stored.nodeId}'s state, not ${options.nodeId}'s.`);
    }
    return new EdgeClient(
      options,
      stored ?? { nodeId: options.nodeId, opCounter: 0, documents: {}, outbox: [] },
    );
  }

  /** The document's Yjs doc: read it, observe it, or change it directly (changes go to the outbox). */
  doc(documentId: string): Y.Doc {
    return this.#docs.get(documentId) ?? this.#open(documentId);
  }

  /** A field's value (without its envelope). */
  get(documentId: string, field: string): unknown {
    return (this.#fields(documentId).get(field) as FieldEnvelope | undefined)?.v;
  }

  /** Every field's value. */
  fields(documentId: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, value] of this.#fields(documentId).entries()) out[key] = (value as FieldEnvelope).v;
    return out;
  }

  /** Writes a field (stamped with the node and its HLC); saved before it returns. */
  async set(documentId: string, field: string, value: unknown): Promise<void> {
    this.#fields(documentId).set(field, { v: value, t: this.#clock.now(), n: this.options.nodeId });
    await this.#save();
  }

  /**
   * Adds `by` (negative: subtracts) to a counter field (a `counter` rule field): every node's
   * increments are kept, so concurrent increments all count.
   */
  async increment(documentId: string, field: string, by: number): Promise<void> {
    const current = this.#fields(documentId).get(field) as FieldEnvelope | undefined;
    this.#fields(documentId).set(field, incrementOf(current, this.options.nodeId, by, this.#clock.now()));
    await this.#save();
  }

  /** Adds an item to a set field (a `union` rule field). */
  async addToSet(documentId: string, field: string, item: unknown): Promise<void> {
    const current = this.get(documentId, field);
    const list = Array.isArray(current) ? current : [];
    if (list.some((x) => JSON.stringify(x) === JSON.stringify(item))) return;
    await this.set(documentId, field, [...list, item]);
  }

  status(): SyncStatus {
    return {
      nodeId: this.options.nodeId,
      pendingOps: this.#state.outbox.length,
      documents: Object.fromEntries(
        Object.entries(this.#state.documents).map(([id, d]) => [
          id,
          { ...(d.cursor === undefined ? {} : { cursor: d.cursor }), lastSeq: d.lastSeq ?? 0 },
        ]),
      ),
      ...(this.#lastSyncAt === undefined ? {} : { lastSyncAt: this.#lastSyncAt }),
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
      cutOff: this.#cutOff,
    };
  }

  /**
   * One sync round with retries: push the outbox, then pull every document. A network error, a 5xx
   * or a 429 is retried with exponential backoff (the outbox stays); a refusal (another 4xx) is not.
   * Resolves with what moved; rejects when every attempt failed (nothing is lost: try again later).
   */
  async sync(): Promise<SyncReport> {
    const retries = this.options.retries ?? 4;
    const backoff = this.options.backoffMs ?? 250;
    const sleep = this.options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
    for (let attempt = 0; ; attempt += 1) {
      try {
        const report = await this.syncOnce();
        this.#lastError = undefined;
        this.#lastSyncAt = new Date((this.options.now ?? Date.now)()).toISOString();
        return report;
      } catch (error) {
        this.#lastError = (error as Error).message;
        if (error instanceof EdgeSyncRefused || attempt >= retries) throw error;
        // A 429 says when to come back (Retry-After); otherwise exponential backoff with jitter.
        const wait = error instanceof EdgeSyncBusy ? error.retryAfterMs : 0;
        await sleep(Math.max(wait, backoff * 2 ** attempt * (0.5 + Math.random() / 2)));
      }
    }
  }

  /** One push and pull, no retry. */
  async syncOnce(): Promise<SyncReport> {
    const { pushed, duplicates, conflicts } = await this.#push();
    let pulled = 0;
    for (const documentId of this.#docs.keys()) pulled += await this.#pull(documentId);
    return { pushed, duplicates, pulled, conflicts };
  }

  /** Waits until everything changed so far is in storage. */
  flush(): Promise<void> {
    return this.#saving;
  }

  // ----------------------------------------------------------------------------------------------

  #fields(documentId: string): Y.Map<unknown> {
    return this.doc(documentId).getMap(FIELDS_MAP);
  }

  #open(documentId: string): Y.Doc {
    const doc = new Y.Doc();
    const saved = this.#state.documents[documentId];
    if (saved?.state) Y.applyUpdate(doc, fromBase64(saved.state), REMOTE);
    if (!saved) this.#state.documents[documentId] = { lastSeq: 0 };
    let before = Y.encodeStateVector(doc);
    doc.on('beforeTransaction', () => {
      before = Y.encodeStateVector(doc);
    });
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === REMOTE) return;
      this.#state.opCounter += 1;
      this.#state.outbox.push({
        documentId,
        opId: `${this.options.nodeId}:${this.#state.opCounter}`,
        update: toBase64(update),
        stateVector: toBase64(before),
      });
    });
    // Learn the time of every value received, so the next local stamp is after it.
    doc.getMap(FIELDS_MAP).observe((event) => {
      if (event.transaction.origin !== REMOTE) return;
      for (const key of event.keysChanged) {
        this.#clock.observe((doc.getMap(FIELDS_MAP).get(key) as FieldEnvelope | undefined)?.t);
      }
    });
    this.#docs.set(documentId, doc);
    return doc;
  }

  async #push(): Promise<{ pushed: number; duplicates: number; conflicts: number }> {
    let pushed = 0;
    let duplicates = 0;
    let conflicts = 0;
    while (this.#state.outbox.length > 0) {
      const batch = [];
      let bytes = 200;
      for (const op of this.#state.outbox) {
        if (op.update.length > MAX_OP_BASE64) {
          throw new EdgeSyncRefused(413, 'op_too_large', `op ${op.opId} is larger than one op may be`);
        }
        const size = op.update.length + (op.stateVector?.length ?? 0) + op.opId.length + 80;
        if (
          batch.length >= MAX_OPS_PER_PUSH ||
          (batch.length > 0 && bytes + size > MAX_PUSH_BODY_BYTES * 0.9)
        )
          break;
        batch.push(op);
        bytes += size;
      }
      const reply = (await this.#request('/edge/operations', {
        nodeId: this.options.nodeId,
        ops: batch,
      })) as {
        accepted: number;
        duplicates: number;
        conflicts: unknown[];
      };
      pushed += reply.accepted;
      duplicates += reply.duplicates;
      conflicts += reply.conflicts.length;
      const sent = new Set(batch.map((op) => op.opId));
      this.#state.outbox = this.#state.outbox.filter((op) => !sent.has(op.opId));
      await this.#save();
    }
    return { pushed, duplicates, conflicts };
  }

  async #pull(documentId: string): Promise<number> {
    const doc = this.doc(documentId);
    const saved = this.#state.documents[documentId] ?? { lastSeq: 0 };
    let pulled = 0;
    let cursor = saved.cursor;
    for (;;) {
      let reply: { ops: { seq: number; update: string }[]; nextCursor: string; hasMore: boolean };
      try {
        reply = (await this.#request('/edge/sync', {
          nodeId: this.options.nodeId,
          documentId,
          ...(cursor === undefined ? {} : { cursor }),
        })) as typeof reply;
      } catch (error) {
        // The log was compacted past this node's cursor: ask for exactly what it lacks instead.
        if (!(error instanceof EdgeSyncRefused && error.code === 'cursor_expired')) throw error;
        reply = (await this.#request('/edge/sync', {
          nodeId: this.options.nodeId,
          documentId,
          stateVector: toBase64(Y.encodeStateVector(doc)),
        })) as typeof reply;
      }
      Y.transact(
        doc,
        () => {
          for (const op of reply.ops) Y.applyUpdate(doc, fromBase64(op.update), REMOTE);
        },
        REMOTE,
      );
      pulled += reply.ops.length;
      cursor = reply.nextCursor;
      const lastSeq = reply.ops.at(-1)?.seq ?? saved.lastSeq ?? 0;
      this.#state.documents[documentId] = { ...this.#state.documents[documentId], cursor, lastSeq };
      await this.#save();
      if (!reply.hasMore) return pulled;
    }
  }

  async #request(path: string, body: unknown): Promise<unknown> {
    if (this.#cutOff)
      throw new EdgeSyncRefused(403, 'node_cut_off', 'this node was refused: it no longer syncs');
    const doFetch = this.options.fetch ?? fetch;
    const response = await doFetch(`${this.options.apiUrl}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await this.options.bearerToken()}`,
        [NODE_TOKEN_HEADER]: this.options.nodeToken,
      },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (response.ok) return JSON.parse(text) as unknown;
    let code = 'unknown';
    let message = text.slice(0, 200);
    try {
      const error = JSON.parse(text) as { code?: string; message?: string };
      code = error.code ?? code;
      message = error.message ?? message;
    } catch {
      // not the uniform error body (a proxy's page): keep the text
    }
    if (response.status === 403 && (code === 'node_revoked' || code === 'node_credential_invalid')) {
      this.#cutOff = true;
    }
    if (response.status === 429) {
      const seconds = Number(response.headers.get('retry-after') ?? '1');
      throw new EdgeSyncBusy(
        Math.min(60, Number.isFinite(seconds) ? seconds : 1) * 1000,
        `${path}: 429 ${code}: ${message}`,
      );
    }
    if (response.status >= 400 && response.status < 500) {
      throw new EdgeSyncRefused(response.status, code, `${path}: ${response.status} ${code}: ${message}`);
    }
    throw new Error(`${path}: ${response.status} ${code}: ${message}`);
  }

  /** Writes the whole state (docs, outbox, cursors, clock) once the previous write ended. */
  #save(): Promise<void> {
    const next = this.#saving.then(async () => {
      for (const [documentId, doc] of this.#docs) {
        this.#state.documents[documentId] = {
          ...this.#state.documents[documentId],
          lastSeq: this.#state.documents[documentId]?.lastSeq ?? 0,
          state: toBase64(Y.encodeStateAsUpdate(doc)),
        };
      }
      this.#state.hlc = this.#clock.last;
      await this.options.storage.save(structuredClone(this.#state));
    });
    this.#saving = next.catch(() => undefined);
    return next;
  }
}
