import { decodeCursor, encodeCursor } from '#shared/adapters/cursor.js';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import type { Page } from '#shared/ports/records.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import {
  type DeadLetter,
  type DeadLetterQueues,
  DISCARD_ENTITY,
  type DiscardLog,
  type DiscardRecord,
  type HeldDeadLetter,
  type QueueDepth,
  type RedriveTask,
} from '../../src/domain/dead-letters.js';

/** The discard log in memory: the kernel's record fake, listed newest first (id order, reversed) with its cursors. */
export class InMemoryDiscardLog implements DiscardLog {
  readonly records = new InMemoryTenantRecords<DiscardRecord>(DISCARD_ENTITY);

  create(record: DiscardRecord): Promise<void> {
    return this.records.create(record);
  }

  async newestFirst(
    tenantId: string,
    options: { readonly limit: number; readonly cursor?: string | undefined },
  ): Promise<Page<DiscardRecord>> {
    const pk = partitionKey(tenantId, DISCARD_ENTITY);
    const after = options.cursor ? decodeCursor(options.cursor, pk).sk : undefined;
    const mine = this.records
      .all()
      .filter((record) => record.tenantId === tenantId)
      .sort((a, b) => (a.id < b.id ? 1 : -1))
      .filter((record) => after === undefined || record.id < after);
    const items = mine.slice(0, options.limit);
    const last = items.at(-1);
    return mine.length > options.limit && last
      ? { items, nextCursor: encodeCursor({ pk, sk: last.id }) }
      : { items };
  }
}

/** In-memory dead-letter queues: one DLQ and its source queue per id; holds and sends can be made to fail. */
export class FakeDeadLetterQueues implements DeadLetterQueues {
  readonly dlqs = new Map<string, DeadLetter[]>();
  readonly resent = new Map<string, string[]>();
  readonly held = new Set<string>();
  failResend = false;
  #redrives = new Map<string, RedriveTask>();

  constructor(ids: readonly string[]) {
    for (const id of ids) {
      this.dlqs.set(id, []);
      this.resent.set(id, []);
    }
  }

  put(queueId: string, message: Partial<DeadLetter> & Pick<DeadLetter, 'messageId' | 'body'>): void {
    this.dlqs.get(queueId)?.push({ receiveCount: 5, sentTimestamp: 0, messageAttributes: {}, ...message });
  }

  ids(): readonly string[] {
    return [...this.dlqs.keys()];
  }
  maxReceiveCount(): number {
    return 5;
  }
  async depth(queueId: string): Promise<QueueDepth> {
    const all = this.dlqs.get(queueId) ?? [];
    const inFlight = all.filter((m) => this.held.has(m.messageId)).length;
    return { visible: all.length - inFlight, inFlight, delayed: 0 };
  }
  async peek(queueId: string, limit: number): Promise<DeadLetter[]> {
    return (this.dlqs.get(queueId) ?? []).filter((m) => !this.held.has(m.messageId)).slice(0, limit);
  }
  async hold(queueId: string, messageId: string): Promise<HeldDeadLetter | undefined> {
    const found = (this.dlqs.get(queueId) ?? []).find(
      (m) => m.messageId === messageId && !this.held.has(m.messageId),
    );
    if (!found) return undefined;
    this.held.add(messageId);
    return { ...found, receipt: `r-${messageId}` };
  }
  async release(_queueId: string, message: HeldDeadLetter): Promise<void> {
    this.held.delete(message.messageId);
  }
  async remove(queueId: string, message: HeldDeadLetter): Promise<void> {
    this.held.delete(message.messageId);
    this.dlqs.set(
      queueId,
      (this.dlqs.get(queueId) ?? []).filter((m) => m.messageId !== message.messageId),
    );
  }
  async resend(queueId: string, message: HeldDeadLetter): Promise<void> {
    if (this.failResend) throw new Error('SQS refused the send');
    this.resent.get(queueId)?.push(message.body);
  }
  async startRedrive(queueId: string): Promise<void> {
    const all = this.dlqs.get(queueId) ?? [];
    this.resent.get(queueId)?.push(...all.map((m) => m.body));
    this.dlqs.set(queueId, []);
    this.#redrives.set(queueId, { status: 'COMPLETED', moved: all.length, toMove: all.length });
  }
  async lastRedrive(queueId: string): Promise<RedriveTask | undefined> {
    return this.#redrives.get(queueId);
  }
}
