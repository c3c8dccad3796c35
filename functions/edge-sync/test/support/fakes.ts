import * as Y from 'yjs';
import type { ConductorEvent } from '#shared/ports/events.js';
import { ManualClock } from '#shared/ports/system.js';
import { InMemoryTenantRecords, InMemoryWormStore } from '#shared/testing/fakes.js';
import { FIELDS_MAP } from '../../src/domain/document.js';
import { type DocumentTypeRules, type FieldValue, incrementOf } from '../../src/domain/rules.js';
import {
  type AckRecord,
  type ConflictRecord,
  type DocumentRecord,
  type DocumentTypeRecord,
  EdgeSync,
  type EdgeSyncDeps,
  type LogEntry,
  type NodeRecord,
} from '../../src/domain/sync.js';

export const WORK_ORDER: DocumentTypeRules = {
  fields: { status: 'lww', hours: 'counter', parts: 'union', peak: 'max', low: 'min', signOff: 'manual' },
  defaultRule: 'lww',
};

/** The sync service on in-memory stores, with a work-order type and document `doc-1` in tenant acme. */
export const makeSync = async (overrides: Partial<EdgeSyncDeps> = {}) => {
  const published: ConductorEvent[] = [];
  const clock = new ManualClock(new Date('2026-12-01T10:00:00Z'));
  const stores = {
    nodes: new InMemoryTenantRecords<NodeRecord>('EDGE_NODE'),
    types: new InMemoryTenantRecords<DocumentTypeRecord>('EDGE_TYPE'),
    documents: new InMemoryTenantRecords<DocumentRecord>('EDGE_DOC'),
    log: new InMemoryTenantRecords<LogEntry>('EDGE_LOG'),
    acks: new InMemoryTenantRecords<AckRecord>('EDGE_ACK'),
    conflicts: new InMemoryTenantRecords<ConflictRecord>('EDGE_CONFLICT'),
  };
  const snapshots = new InMemoryWormStore();
  const deps: EdgeSyncDeps = {
    ...stores,
    snapshots,
    events: { publish: async (events) => void published.push(...events) },
    clock,
    ...overrides,
  };
  const sync = new EdgeSync(deps);
  await sync.putType('acme', 'work-order', WORK_ORDER, 'admin');
  await sync.createDocument('acme', 'doc-1', 'work-order', 'admin');
  return { sync, deps, stores, snapshots, clock, published };
};

/** A node as the edge client is, without HTTP: a doc, an outbox of its own updates, a cursor. */
export class SimNode {
  doc = new Y.Doc();
  outbox: { opId: string; update: string; documentId: string }[] = [];
  cursor: string | undefined;
  node!: NodeRecord;
  token = '';
  #ops = 0;
  #tick = 0;

  constructor(
    readonly id: string,
    readonly clientId: number,
  ) {
    this.#attach();
  }

  #attach(): void {
    this.doc.clientID = this.clientId;
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === 'remote') return;
      this.#ops += 1;
      this.outbox.push({
        documentId: 'doc-1',
        opId: `${this.id}:${this.#ops}`,
        update: Buffer.from(update).toString('base64'),
      });
    });
  }

  #stamp(): string {
    this.#tick += 1;
    return `${String(1_765_000_000_000 + this.#tick * 10 + (this.clientId % 10)).padStart(13, '0')}.000000.${this.id}`;
  }

  set(field: string, v: unknown): void {
    this.doc.getMap(FIELDS_MAP).set(field, { v, t: this.#stamp(), n: this.id });
  }

  increment(field: string, by: number): void {
    const current = this.doc.getMap(FIELDS_MAP).get(field) as FieldValue | undefined;
    this.doc.getMap(FIELDS_MAP).set(field, incrementOf(current, this.id, by, this.#stamp()));
  }

  get(field: string): unknown {
    return (this.doc.getMap(FIELDS_MAP).get(field) as { v?: unknown } | undefined)?.v;
  }

  receive(updates: readonly string[]): void {
    Y.transact(
      this.doc,
      () => {
        for (const u of updates) Y.applyUpdate(this.doc, Buffer.from(u, 'base64'), 'remote');
      },
      'remote',
    );
  }

  /** A restart: only what the edge client keeps durable survives (doc state, outbox, cursor). */
  restart(): void {
    const state = Y.encodeStateAsUpdate(this.doc);
    this.doc = new Y.Doc();
    this.#attach();
    Y.applyUpdate(this.doc, state, 'remote');
  }
}

type SyncContext = Awaited<ReturnType<typeof makeSync>>;

/** Registers `node` in acme and keeps its record and credential on it. */
export const register = async (ctx: SyncContext, node: SimNode): Promise<SimNode> => {
  const { node: record, token } = await ctx.sync.registerNode('acme', node.id, {}, 'admin');
  node.node = record;
  node.token = token;
  return node;
};

/** Pulls doc-1 from the node's cursor, `limit` entries a page, until nothing more. */
export const pullAll = async (ctx: SyncContext, node: SimNode, limit = 3): Promise<void> => {
  for (;;) {
    const page = await ctx.sync.pull('acme', node.node, { documentId: 'doc-1', cursor: node.cursor, limit });
    node.receive(page.ops.map((op) => op.update));
    node.cursor = page.nextCursor;
    if (!page.hasMore) return;
  }
};
