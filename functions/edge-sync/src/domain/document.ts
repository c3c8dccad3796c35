import * as Y from 'yjs';
import { FIELDS_MAP } from './fields.js';
import {
  asFieldValue,
  type DocumentTypeRules,
  type FieldRule,
  type FieldValue,
  resolveConflict,
  ruleOf,
} from './rules.js';

/**
 * The server's copy of one document: a Yjs doc that keeps every deleted value (`gc: false`, so a
 * conflict's losing value and its history stay readable; loaded from a snapshot, it keeps the ids
 * of older values, not their content), the conflict detection on every update
 * applied, and the rules' writes. Pure (Yjs only): the sync service loads it from the snapshot and
 * the op log, and the tests drive it directly.
 *
 * **Conflicts from the causal history.** A map write in Yjs is an item whose `origin` is the item
 * the writer saw as the key's latest when it wrote. So a new write B of a key knew the value P the
 * server held before it arrived exactly when P is on B's origin chain (B.origin, its origin, …).
 * When P is not, B was written without seeing P: the two are concurrent, whichever of them Yjs's
 * client-id tie-break shows. That is a conflict, and the document type's rule for the field settles
 * it: an automatic rule's value is written back by the server (a new item after both, which every
 * node receives through the op log), a manual one is left for a person.
 */

export { FIELDS_MAP };

/** The transaction origin of the server's own writes (rules' values, resolutions): not checked again. */
const SERVER_ORIGIN = 'conductor-server';

/** One side of a detected conflict, as the conflict center shows it. */
export interface ConflictWrite {
  readonly value: unknown;
  /** The writing node (from the value's envelope), or `unknown` for a value written without one. */
  readonly writer: string;
  /** Its HLC stamp ('' without an envelope). */
  readonly hlc: string;
  /** The Yjs item: client id and clock. */
  readonly item: { readonly client: number; readonly clock: number };
  /**
   * The writer's vector clock when it wrote: the state vector its node sent with the op (client id:
   * next clock), or undefined when unknown (a node that sent none, or a write older than the
   * snapshot this copy was loaded from).
   */
  readonly vectorClock?: Readonly<Record<string, number>>;
  /** The node whose op carried the write, when known (the envelope's `writer` can say anything). */
  readonly viaNode?: string;
  /** The values the key held before, newest first, down to where the two sides parted (at most 10). */
  readonly history: readonly { readonly value: unknown; readonly writer: string; readonly hlc: string }[];
}

export interface DetectedConflict {
  /** `<field>@<client>.<clock>` of the incoming write: the same on every replay of the same update. */
  readonly key: string;
  readonly field: string;
  readonly rule: FieldRule;
  readonly current: ConflictWrite;
  readonly incoming: ConflictWrite;
  /** What the rule decided: the value written back, or manual. */
  readonly resolution:
    | { readonly kind: 'auto'; readonly how: string; readonly value: unknown }
    | { readonly kind: 'manual' };
}

/** Who sent an update: recorded per Yjs client range, for the conflict center. */
export interface UpdateMeta {
  readonly nodeId: string;
  readonly stateVector?: Readonly<Record<string, number>> | undefined;
}

export interface ApplyResult {
  /** The update changed the document (false: everything in it was known: a duplicate). */
  readonly changed: boolean;
  readonly conflicts: readonly DetectedConflict[];
  /** The server's own writes this update caused (rules' values), as one Yjs update, if any. */
  readonly derived?: Uint8Array;
}

/** Thrown when bytes are not a Yjs update (v1 encoding). */
export class InvalidUpdateError extends Error {
  override readonly name = 'InvalidUpdateError';
}

/**
 * Checks that `bytes` decode as a Yjs update carrying something (structs or deletions), without
 * applying them anywhere: a decode error or an empty update is an InvalidUpdateError.
 */
export const assertYjsUpdate = (bytes: Uint8Array): void => {
  let decoded: ReturnType<typeof Y.decodeUpdate>;
  try {
    decoded = Y.decodeUpdate(bytes);
  } catch (error) {
    throw new InvalidUpdateError(`not a Yjs update (${(error as Error).message})`);
  }
  if (decoded.structs.length === 0 && decoded.ds.clients.size === 0) {
    throw new InvalidUpdateError('an empty Yjs update: it carries no change');
  }
};

type MapItem = Y.Item & { parentSub: string };

const HISTORY_LIMIT = 10;
const HISTORY_VALUE_CHARS = 1024;

export class EdgeDocument {
  readonly doc: Y.Doc;
  #rules: DocumentTypeRules;
  #pending: DetectedConflict[] = [];
  #changed = false;
  #meta: UpdateMeta | undefined;
  /** Per Yjs client: from which clock on which op's sender and state vector (ascending). */
  readonly #senders = new Map<number, { from: number; meta: UpdateMeta }[]>();

  constructor(
    rules: DocumentTypeRules,
    private readonly ids: { conflictId: (key: string) => string } = { conflictId: (key) => key },
  ) {
    this.#rules = rules;
    this.doc = new Y.Doc({ gc: false });
    this.doc.on('afterTransaction', (transaction: Y.Transaction) => this.#inspect(transaction));
  }

  set rules(rules: DocumentTypeRules) {
    this.#rules = rules;
  }

  /** Applies a log entry's update with no conflict detection (the log already holds their outcome). */
  replay(update: Uint8Array, meta?: UpdateMeta): void {
    this.#meta = meta;
    try {
      Y.transact(this.doc, () => Y.applyUpdate(this.doc, update), SERVER_ORIGIN);
    } finally {
      this.#meta = undefined;
    }
  }

  /**
   * Applies a node's update: finds the conflicts it creates, writes the automatic rules' values,
   * and says whether anything changed. Throws InvalidUpdateError (the document unchanged) on bytes
   * that are not an update.
   */
  apply(update: Uint8Array, meta?: UpdateMeta): ApplyResult {
    assertYjsUpdate(update);
    this.#pending = [];
    this.#changed = false;
    this.#meta = meta;
    const pendingBefore = this.#pendingBytes();
    try {
      Y.applyUpdate(this.doc, update, 'node');
    } finally {
      this.#meta = undefined;
    }
    const conflicts = this.#pending;
    this.#pending = [];
    const changed = this.#changed || !sameBytes(pendingBefore, this.#pendingBytes());
    const writes = conflicts.flatMap((conflict) => (conflict.resolution.kind === 'auto' ? [conflict] : []));
    const derived = writes.length > 0 ? this.#write(writes) : undefined;
    return { changed, conflicts, ...(derived ? { derived } : {}) };
  }

  /**
   * Writes a person's value for a field (a resolved conflict) after whatever the field holds now,
   * as the server: the returned update is what every node must receive.
   */
  writeField(field: string, value: FieldValue): Uint8Array {
    const before = Y.encodeStateVector(this.doc);
    Y.transact(
      this.doc,
      () => {
        const { map, key } = this.#mapOf(field, true);
        map?.set(key, value);
      },
      SERVER_ORIGIN,
    );
    return Y.encodeStateAsUpdate(this.doc, before);
  }

  /** The `fields` map as plain JSON, each value without its envelope. */
  fieldsJson(): Record<string, unknown> {
    return unwrap(this.doc.getMap(FIELDS_MAP).toJSON()) as Record<string, unknown>;
  }

  stateVector(): Uint8Array {
    return Y.encodeStateVector(this.doc);
  }

  /**
   * What a node lacks beyond `stateVector` (everything, without it), as Yjs's own garbage collection
   * leaves it: overwritten values are sent as deleted ranges, not with their content (this copy keeps
   * them for the conflict center; nodes and snapshots need not). The minimal delta, and a snapshot.
   */
  delta(stateVector?: Uint8Array): Uint8Array {
    const collected = new Y.Doc({ gc: true });
    Y.applyUpdate(collected, Y.encodeStateAsUpdate(this.doc));
    return Y.encodeStateAsUpdate(collected, stateVector);
  }

  #pendingBytes(): Uint8Array | undefined {
    return this.doc.store.pendingStructs?.update;
  }

  #write(conflicts: readonly DetectedConflict[]): Uint8Array | undefined {
    const before = Y.encodeStateVector(this.doc);
    Y.transact(
      this.doc,
      () => {
        for (const conflict of conflicts) {
          if (conflict.resolution.kind !== 'auto') continue;
          const { map, key } = this.#mapOf(conflict.field, false);
          if (!map) continue;
          const visible = map.get(key);
          const value = conflict.resolution.value as FieldValue;
          // Already what the key shows (Yjs's tie-break picked the rule's winner): nothing to write.
          if (JSON.stringify(visible) !== JSON.stringify(value)) map.set(key, value);
        }
      },
      SERVER_ORIGIN,
    );
    const update = Y.encodeStateAsUpdate(this.doc, before);
    return Y.parseUpdateMeta(update).to.size > 0 ? update : undefined;
  }

  /** The map holding `field` (`a.b.c`: nested maps under `fields`) and the last key. */
  #mapOf(field: string, create: boolean): { map: Y.Map<unknown> | undefined; key: string } {
    const parts = field.split('.');
    const key = parts.pop() as string;
    let map: Y.Map<unknown> | undefined = this.doc.getMap(FIELDS_MAP);
    for (const part of parts) {
      const next: unknown = map?.get(part);
      if (next instanceof Y.Map) map = next as Y.Map<unknown>;
      else if (create && map) {
        const nested = new Y.Map<unknown>();
        map.set(part, nested);
        map = nested;
      } else map = undefined;
    }
    return { map, key };
  }

  /** After each transaction: the map writes it integrated, checked against what the keys held before. */
  #inspect(transaction: Y.Transaction): void {
    for (const [client, end] of transaction.afterState) {
      const start = transaction.beforeState.get(client) ?? 0;
      if (end > start && this.#meta) {
        const ranges = this.#senders.get(client);
        if (ranges) ranges.push({ from: start, meta: this.#meta });
        else this.#senders.set(client, [{ from: start, meta: this.#meta }]);
      }
    }
    if (transaction.origin === SERVER_ORIGIN) return;
    const inserted: MapItem[] = [];
    for (const [client, end] of transaction.afterState) {
      const start = transaction.beforeState.get(client) ?? 0;
      if (end <= start) continue;
      this.#changed = true;
      const structs = this.doc.store.clients.get(client) ?? [];
      for (let i = Y.findIndexSS(structs, start); i < structs.length; i += 1) {
        const struct = structs[i];
        if (!struct || struct.id.clock >= end) break;
        if (struct instanceof Y.Item && struct.parentSub !== null) inserted.push(struct as MapItem);
      }
    }
    if (transaction.deleteSet.clients.size > 0) this.#changed = true;
    if (inserted.length === 0) return;
    const isNew = (item: Y.Item) => item.id.clock >= (transaction.beforeState.get(item.id.client) ?? 0);
    // Group the new writes by map and key; keep the heads (no other new write of the key built on them).
    const byKey = new Map<string, MapItem[]>();
    for (const item of inserted) {
      const field = this.#fieldOf(item);
      if (field === undefined) continue;
      byKey.set(field, [...(byKey.get(field) ?? []), item]);
    }
    for (const [field, items] of byKey) {
      const anyItem = items[0] as MapItem;
      const previous = this.#visibleBefore(anyItem, transaction, isNew);
      if (!previous) continue;
      // The heads: new writes no other new write of the key built on (walks stop at old items).
      const builtOn = new Set<Y.Item>();
      for (const item of items) {
        for (let older = this.#originOf(item); older && isNew(older); older = this.#originOf(older)) {
          if (builtOn.has(older)) break;
          builtOn.add(older);
        }
      }
      for (const head of items.filter((item) => !builtOn.has(item))) {
        const fork = this.#fork(head, previous);
        if (fork.sawOther) continue; // built on what the server held: no conflict
        this.#pending.push(this.#conflict(field, previous, head));
      }
    }
  }

  /** The item the writer of `item` saw as the key's latest, or null for the key's first write. */
  #originOf(item: Y.Item): Y.Item | null {
    if (!item.origin) return null;
    const origin = Y.getItem(this.doc.store, item.origin);
    return origin instanceof Y.Item ? origin : null;
  }

  /**
   * Whether `a`'s writer had seen `b` (b is on a's origin chain). Both chains are walked a step at a
   * time and the walk stops where they meet: a chain reaching an item of the other's chain before
   * reaching `b` itself never reaches it (chains only go back in time). So the cost is the distance
   * to where the two parted, not the key's whole history.
   */
  #fork(a: Y.Item, b: Y.Item): { sawOther: boolean } {
    const seenA = new Set<Y.Item>([a]);
    const seenB = new Set<Y.Item>([b]);
    let stepA: Y.Item | null = a;
    let stepB: Y.Item | null = b;
    while (stepA || stepB) {
      if (stepA) {
        stepA = this.#originOf(stepA);
        if (stepA === b) return { sawOther: true };
        if (stepA && seenB.has(stepA)) return { sawOther: false };
        if (stepA) seenA.add(stepA);
      }
      if (stepB) {
        stepB = this.#originOf(stepB);
        if (stepB && seenA.has(stepB)) return { sawOther: false };
        if (stepB) seenB.add(stepB);
      }
    }
    return { sawOther: false };
  }

  /** The key's item the server showed before this transaction: an old item, visible then. */
  #visibleBefore(
    item: MapItem,
    transaction: Y.Transaction,
    isNew: (item: Y.Item) => boolean,
  ): Y.Item | undefined {
    const parent = item.parent as Y.AbstractType<unknown>;
    let cursor: Y.Item | null = parent._map.get(item.parentSub) ?? null;
    while (cursor) {
      if (!isNew(cursor)) {
        const deletedNow = Y.isDeleted(transaction.deleteSet, cursor.id);
        return !cursor.deleted || deletedNow ? cursor : undefined;
      }
      cursor = cursor.left;
    }
    return undefined;
  }

  /** The node and state vector of the op that brought `item`, when this copy saw it arrive. */
  #senderOf(item: Y.Item): { vectorClock?: Record<string, number>; viaNode?: string } {
    const ranges = this.#senders.get(item.id.client) ?? [];
    const range = ranges.findLast((candidate) => candidate.from <= item.id.clock);
    if (!range) return {};
    const own = { [String(item.id.client)]: item.id.clock + 1 };
    return {
      viaNode: range.meta.nodeId,
      ...(range.meta.stateVector ? { vectorClock: { ...range.meta.stateVector, ...own } } : {}),
    };
  }

  /** `key` or `parent.key` below the `fields` map; undefined for writes elsewhere in the doc. */
  #fieldOf(item: MapItem): string | undefined {
    const path = [item.parentSub];
    let parent = item.parent as Y.AbstractType<unknown>;
    while (parent._item) {
      const holder = parent._item;
      if (holder.parentSub === null) return undefined; // inside an array: not a field
      path.unshift(holder.parentSub);
      parent = holder.parent as Y.AbstractType<unknown>;
    }
    return parent === this.doc.share.get(FIELDS_MAP) ? path.join('.') : undefined;
  }

  #conflict(field: string, current: Y.Item, incoming: Y.Item): DetectedConflict {
    const rule = ruleOf(this.#rules, field);
    const key = `${field}@${incoming.id.client}.${incoming.id.clock}`;
    const resolution = resolveConflict(
      rule,
      asFieldValue(contentOf(current)),
      asFieldValue(contentOf(incoming)),
      this.ids.conflictId(key),
    );
    return {
      key,
      field,
      rule,
      current: { ...write(current, this.#history(current)), ...this.#senderOf(current) },
      incoming: { ...write(incoming, this.#history(incoming)), ...this.#senderOf(incoming) },
      resolution:
        resolution.kind === 'auto'
          ? { kind: 'auto', how: resolution.how, value: resolution.value }
          : { kind: 'manual' },
    };
  }

  /** The values `item`'s writer had seen for the key, newest first, at most HISTORY_LIMIT. */
  #history(item: Y.Item): Y.Item[] {
    const older: Y.Item[] = [];
    for (let step = this.#originOf(item); step && older.length < HISTORY_LIMIT; step = this.#originOf(step)) {
      older.push(step);
    }
    return older;
  }
}

const contentOf = (item: Y.Item): unknown => {
  const content = item.content.getContent();
  const value = content[content.length - 1];
  return value instanceof Y.AbstractType ? value.toJSON() : value;
};

const write = (item: Y.Item, history: readonly Y.Item[]): ConflictWrite => {
  const value = asFieldValue(contentOf(item));
  return {
    value: value.v,
    writer: value.n,
    hlc: value.t,
    item: { client: item.id.client, clock: item.id.clock },
    history: history.map((older) => {
      const old = asFieldValue(contentOf(older));
      return { value: bounded(old.v), writer: old.n, hlc: old.t };
    }),
  };
};

/** A past value as the history shows it: itself up to HISTORY_VALUE_CHARS of JSON, else its size. */
const bounded = (value: unknown): unknown => {
  const json = JSON.stringify(value) ?? 'null';
  return json.length <= HISTORY_VALUE_CHARS ? value : `[a value of ${json.length} characters]`;
};

/** A `fields` map's JSON with each envelope replaced by its value. */
const unwrap = (json: unknown): unknown => {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return json;
  const record = json as Record<string, unknown>;
  if ('v' in record && 't' in record && 'n' in record) return record.v;
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unwrap(v)]));
};

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean => {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  return a.every((byte, i) => byte === b[i]);
};
