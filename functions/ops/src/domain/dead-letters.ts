import { createHash } from 'node:crypto';
import { NotFoundError } from '#shared/errors.js';
import type { Page, TenantRecord } from '#shared/ports/records.js';
import type { Clock, IdGenerator } from '#shared/ports/system.js';

/** How much of a dead letter's body an operator sees: enough to recognise it, not to copy it. */
export const PREVIEW_CHARS = 200;
/** Discard audit records are kept; no TTL (an operator removed work for good). */
export const DISCARD_ENTITY = 'DLQ_DISCARD';

/** One message of a dead-letter queue, as SQS shows it. */
export interface DeadLetter {
  readonly messageId: string;
  readonly body: string;
  /** SQS's ApproximateReceiveCount before this read. */
  readonly receiveCount: number;
  readonly sentTimestamp: number;
  readonly firstReceiveTimestamp?: number;
  /** The queue it was dead-lettered from (DeadLetterQueueSourceArn), when SQS says. */
  readonly deadLetteredFrom?: string;
  readonly messageAttributes: Readonly<Record<string, string>>;
}

/** A dead letter this process holds (received, invisible to others) until it removes or releases it. */
export interface HeldDeadLetter extends DeadLetter {
  readonly receipt: string;
}

export interface QueueDepth {
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
}

/** The state of the latest redrive of a DLQ (SQS's message move task). */
export interface RedriveTask {
  readonly status: string;
  readonly moved: number;
  readonly toMove?: number;
  readonly startedAt?: string;
  readonly failureReason?: string;
}

/** Port: the dead-letter queues of the catalog's queues, by queue id. */
export interface DeadLetterQueues {
  /** The queue ids of the catalog, each with its DLQ. */
  ids(): readonly string[];
  maxReceiveCount(queueId: string): number;
  depth(queueId: string): Promise<QueueDepth>;
  /** Up to `limit` messages, read and released again (their receive counts grow by one). */
  peek(queueId: string, limit: number): Promise<DeadLetter[]>;
  /** The message with this id, held until `remove` or `release`; undefined when the DLQ has none. */
  hold(queueId: string, messageId: string): Promise<HeldDeadLetter | undefined>;
  release(queueId: string, message: HeldDeadLetter): Promise<void>;
  remove(queueId: string, message: HeldDeadLetter): Promise<void>;
  /** Sends the message's body and attributes to the queue itself (the DLQ's source). */
  resend(queueId: string, message: HeldDeadLetter): Promise<void>;
  /** Starts SQS's redrive of every message of the DLQ back to the queue. */
  startRedrive(queueId: string): Promise<void>;
  lastRedrive(queueId: string): Promise<RedriveTask | undefined>;
}

/** The audit record of a discarded dead letter, in the tenant of the operator who discarded it. */
export interface DiscardRecord extends TenantRecord {
  readonly queueId: string;
  readonly messageId: string;
  readonly discardedBy: string;
  readonly reason?: string;
  readonly traceId: string;
  /** The tenant the message named (its body's `tenantId`), when it named one. */
  readonly messageTenant?: string;
  readonly bodySha256: string;
  readonly bodyBytes: number;
  readonly preview: string;
  readonly receiveCount: number;
  readonly sentAt: string;
  /** Why its consumer last failed it (`conductor-last-error`), when it said. */
  readonly lastError?: string;
}

/**
 * Port: the audit records of discards, in the tenant of the operator who discarded (DISCARD_ENTITY).
 * Their ids begin with the time of the discard, so id order is time order.
 */
export interface DiscardLog {
  /** Writes a record; never overwrites one. */
  create(record: DiscardRecord): Promise<void>;
  /** A tenant's records, newest first, a page at a time (`nextCursor` while more follow). */
  newestFirst(
    tenantId: string,
    options: { readonly limit: number; readonly cursor?: string | undefined },
  ): Promise<Page<DiscardRecord>>;
}

/** A dead letter as the API shows it: a bounded preview, never the whole body. */
export interface DeadLetterView {
  readonly messageId: string;
  /** The tenant the message names (its body's `tenantId`), when it names one. */
  readonly tenant?: string;
  readonly receiveCount: number;
  readonly sentAt: string;
  readonly firstReceivedAt?: string;
  readonly deadLetteredFrom?: string;
  readonly bodyBytes: number;
  readonly preview: string;
  readonly truncated: boolean;
  /** The consumer's last error, when the message carries it (attribute `conductor-last-error`). */
  readonly lastError?: string;
}

export interface DeadLetterQueueView {
  readonly queueId: string;
  readonly maxReceiveCount: number;
  readonly depth: QueueDepth;
  readonly lastRedrive?: RedriveTask;
}

export interface DeadLetterOfficeDeps {
  readonly queues: DeadLetterQueues;
  readonly discards: DiscardLog;
  readonly clock: Clock;
  readonly ids: IdGenerator;
}

/**
 * The message attribute in which a consumer puts why it last failed a message, when it dead-letters
 * it itself on its last delivery (the kernel's LAST_ERROR_ATTRIBUTE, `#shared/adapters/sqs-last-attempt.js`;
 * a test keeps the two equal).
 */
export const LAST_ERROR_ATTRIBUTE = 'conductor-last-error';

/** `discard_<yyyymmddThhmmssSSSZ>_<id>`: ids in time order, so the log lists newest first by key. */
const discardIdOf = (at: Date, ids: IdGenerator): string =>
  ids.next(`discard_${at.toISOString().replace(/[-:.]/g, '')}`);

/**
 * Dead letters of every queue, for platform operators: list them, redrive them (all through SQS's
 * own redrive, or one), discard one with an audit record. Not tenant-scoped (see the README):
 * a DLQ holds every tenant's messages, so views name each message's tenant and show a preview only.
 */
export class DeadLetterOffice {
  constructor(private readonly deps: DeadLetterOfficeDeps) {}

  async queues(): Promise<DeadLetterQueueView[]> {
    const { queues } = this.deps;
    return Promise.all(
      queues.ids().map(async (queueId) => {
        const [depth, lastRedrive] = await Promise.all([queues.depth(queueId), queues.lastRedrive(queueId)]);
        return {
          queueId,
          maxReceiveCount: queues.maxReceiveCount(queueId),
          depth,
          ...(lastRedrive ? { lastRedrive } : {}),
        };
      }),
    );
  }

  async messages(queueId: string, limit: number): Promise<DeadLetterView[]> {
    this.#known(queueId);
    return (await this.deps.queues.peek(queueId, limit)).map(viewOf);
  }

  /** Starts SQS's redrive of the whole DLQ; answers the task's state as SQS then reports it. */
  async redriveAll(queueId: string): Promise<RedriveTask | undefined> {
    this.#known(queueId);
    await this.deps.queues.startRedrive(queueId);
    return this.deps.queues.lastRedrive(queueId);
  }

  /** Sends one dead letter back to its queue, then deletes it here: a crash between may duplicate, never lose. */
  async redriveOne(queueId: string, messageId: string): Promise<DeadLetterView> {
    const held = await this.#hold(queueId, messageId);
    try {
      await this.deps.queues.resend(queueId, held);
    } catch (error) {
      await this.deps.queues.release(queueId, held).catch(() => undefined);
      throw error;
    }
    await this.deps.queues.remove(queueId, held);
    return viewOf(held);
  }

  /** Deletes one dead letter for good, once its audit record is written. */
  async discard(
    queueId: string,
    messageId: string,
    by: {
      readonly tenantId: string;
      readonly subject: string;
      readonly traceId: string;
      readonly reason?: string;
    },
  ): Promise<DiscardRecord> {
    const held = await this.#hold(queueId, messageId);
    const at = this.deps.clock.now();
    const now = at.toISOString();
    const view = viewOf(held);
    const record: DiscardRecord = {
      tenantId: by.tenantId,
      id: discardIdOf(at, this.deps.ids),
      version: 1,
      createdAt: now,
      updatedAt: now,
      queueId,
      messageId,
      discardedBy: by.subject,
      ...(by.reason !== undefined ? { reason: by.reason } : {}),
      traceId: by.traceId,
      ...(view.tenant !== undefined ? { messageTenant: view.tenant } : {}),
      bodySha256: createHash('sha256').update(held.body).digest('hex'),
      bodyBytes: view.bodyBytes,
      preview: view.preview,
      receiveCount: held.receiveCount,
      sentAt: view.sentAt,
      ...(view.lastError !== undefined ? { lastError: view.lastError } : {}),
    };
    try {
      await this.deps.discards.create(record);
    } catch (error) {
      await this.deps.queues.release(queueId, held).catch(() => undefined);
      throw error;
    }
    await this.deps.queues.remove(queueId, held);
    return record;
  }

  /**
   * The audit records of the discards made in `tenantId` (an operator's own tenant), newest first.
   * Every discard of the platform is there for the operators of the tenant that made it.
   */
  discards(
    tenantId: string,
    page: { readonly limit: number; readonly cursor?: string | undefined },
  ): Promise<Page<DiscardRecord>> {
    return this.deps.discards.newestFirst(tenantId, page);
  }

  async #hold(queueId: string, messageId: string): Promise<HeldDeadLetter> {
    this.#known(queueId);
    const held = await this.deps.queues.hold(queueId, messageId);
    if (!held) {
      throw new NotFoundError(
        'The dead-letter queue holds no such message now (or another reader holds it for up to 30 s).',
        'dead_letter_not_found',
      );
    }
    return held;
  }

  #known(queueId: string): void {
    if (!this.deps.queues.ids().includes(queueId)) {
      throw new NotFoundError(`No queue ${queueId}.`, 'queue_not_found');
    }
  }
}

const tenantOf = (body: string): string | undefined => {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const tenant = (parsed as Record<string, unknown>).tenantId;
      return typeof tenant === 'string' ? tenant : undefined;
    }
  } catch {
    // Not JSON: no tenant to name.
  }
  return undefined;
};

export const viewOf = (message: DeadLetter): DeadLetterView => {
  const chars = [...message.body];
  const tenant = tenantOf(message.body);
  const lastError = message.messageAttributes[LAST_ERROR_ATTRIBUTE];
  return {
    messageId: message.messageId,
    ...(tenant !== undefined ? { tenant } : {}),
    receiveCount: message.receiveCount,
    sentAt: new Date(message.sentTimestamp).toISOString(),
    ...(message.firstReceiveTimestamp !== undefined
      ? { firstReceivedAt: new Date(message.firstReceiveTimestamp).toISOString() }
      : {}),
    ...(message.deadLetteredFrom !== undefined ? { deadLetteredFrom: message.deadLetteredFrom } : {}),
    bodyBytes: new TextEncoder().encode(message.body).length,
    preview: chars.slice(0, PREVIEW_CHARS).join(''),
    truncated: chars.length > PREVIEW_CHARS,
    ...(lastError !== undefined ? { lastError } : {}),
  };
};
