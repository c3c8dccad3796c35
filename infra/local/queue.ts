/**
 * A local stand-in for an SQS standard queue, in-process. Its consumer is the Lambda event source
 * mapping of ./event-source-mapping.ts; the SDK reaches it through ./aws-endpoint.ts.
 *
 * What is emulated:
 * - visibility timeout (a received message is invisible until it expires, then redelivered with
 *   a new receipt handle and a higher `ApproximateReceiveCount`);
 * - redrive: on the receive that would exceed `maxReceiveCount` the message moves to the DLQ
 *   (same id, body, attributes and `SentTimestamp`, plus `DeadLetterQueueSourceArn`);
 * - `DelaySeconds`, message size, content and attribute validation, batch limits;
 * - durability: with `persistDir`, every accepted message is in an append-only journal before
 *   `send` returns; after a restart, in-flight messages are visible again (receive counts kept).
 *
 * - fair queues: messages with a `MessageGroupId` are served from the group with the fewest
 *   messages in flight first (see `#candidates`), so one tenant's backlog does not delay another's.
 *
 * Deliberate differences from AWS: ordering is first-in first-out on a best-effort basis (SQS
 * standard gives no ordering), there is no message retention period, and
 * `visibilityTimeoutSeconds` may be fractional (so tests need not wait whole seconds).
 */
import { createHash, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './account.js';

const SENDER_ID = 'AIDALOCALCONDUCTOR0000';
/** SQS maximum message size since August 2025 (it was 256 KiB before). */
const DEFAULT_MAX_MESSAGE_BYTES = 1_048_576;
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;
const ATTRIBUTE_NAME = /^(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9_.-]{1,256}$/;
// Characters SQS accepts in a message body: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what we look for.
const INVALID_BODY_CHARS = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** An error named like the SQS API error it stands for (`err.name === err.code`), as SDK v3 errors are. */
export class QueueError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = code;
    this.code = code;
  }
}

export interface SendAttributes {
  /** Passed through as the `MessageGroupId` attribute (SQS fair queues); no FIFO semantics. */
  messageGroupId?: string;
  /** 0–900 seconds, as SQS. */
  delaySeconds?: number;
  /** String message attributes (at most 10). */
  messageAttributes?: Record<string, string>;
}

export interface SendResult {
  messageId: string;
  md5OfBody: string;
  md5OfMessageAttributes?: string;
}

export interface SendBatchEntry extends SendAttributes {
  /** Unique within the batch: letters, digits, `-` and `_`, at most 80 characters. */
  id: string;
  body: string;
}

export interface SendBatchResult {
  successful: Array<{ id: string } & SendResult>;
  failed: Array<{ id: string; code: string; message: string; senderFault: boolean }>;
}

export interface ReceiveOptions {
  /** Overrides the queue's visibility timeout for this receive, as ReceiveMessage's VisibilityTimeout. */
  visibilityTimeoutSeconds?: number;
  /** Stop adding messages once their bodies would exceed this many bytes (at least one is returned). */
  maxBytes?: number;
  /**
   * With `maxBytes`: return nothing rather than a first message over it (the event source mapping
   * topping up a batch it has started). Not an SQS option.
   */
  strictMaxBytes?: boolean;
}

export interface QueueDepth {
  /** Receivable now. */
  visible: number;
  /** Received and not yet deleted, still inside their visibility timeout. */
  inFlight: number;
  /** Sent with a delay that has not elapsed yet. */
  delayed: number;
}

export interface QueuedMessageSnapshot {
  messageId: string;
  body: string;
  messageAttributes: Record<string, string>;
  receiveCount: number;
  sentTimestamp: number;
  state: 'visible' | 'inFlight' | 'delayed';
}

/** What a message move task did: messages moved, out of those receivable when it started. */
export interface MoveResult {
  moved: number;
  toMove: number;
  /** Set when the task stopped before moving them all. */
  failureReason?: string;
}

export interface LocalQueueOptions {
  name: string;
  visibilityTimeoutSeconds?: number;
  maxReceiveCount?: number;
  deadLetterQueue?: LocalQueue;
  /** Only standard queues are emulated. */
  fifo?: false;
  /** Milliseconds since the epoch; default `Date.now`. */
  clock?: () => number;
  /** Directory for the journal `<name>.jsonl`; without it the queue lives in memory only. */
  persistDir?: string;
  /** Default 1 MiB (the SQS maximum). */
  maxMessageBytes?: number;
  region?: string;
  accountId?: string;
}

interface StoredMessage {
  messageId: string;
  body: string;
  md5OfBody: string;
  messageAttributes: Record<string, string>;
  md5OfMessageAttributes: string | undefined;
  messageGroupId: string | undefined;
  deadLetterSourceArn: string | undefined;
  sentTimestamp: number;
  /** When the message first becomes receivable (sent time + delay). */
  availableAt: number;
  /** When the message is next receivable. */
  visibleAt: number;
  receiveCount: number;
  firstReceiveTimestamp: number | undefined;
  receiptHandle: string | undefined;
}

type PersistedMessage = Omit<
  StoredMessage,
  'md5OfBody' | 'md5OfMessageAttributes' | 'visibleAt' | 'receiptHandle'
>;

type JournalRecord =
  | { t: 'send'; m: PersistedMessage }
  | { t: 'recv'; ids: string[]; at: number }
  | { t: 'del'; ids: string[] }
  | { t: 'purge' };

const md5 = (data: string | Buffer): string => createHash('md5').update(data).digest('hex');

/** The MD5 SQS computes over message attributes (name, data type, transport type and value, sorted by name). */
export const md5OfMessageAttributes = (attributes: Record<string, string>): string | undefined => {
  const names = Object.keys(attributes).sort();
  if (names.length === 0) return undefined;
  const parts: Buffer[] = [];
  const withLength = (text: string): void => {
    const bytes = Buffer.from(text, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  };
  for (const name of names) {
    withLength(name);
    withLength('String');
    parts.push(Buffer.from([1])); // transport type 1: String / Number
    withLength(attributes[name] ?? '');
  }
  return md5(Buffer.concat(parts));
};

const attributeBytes = (attributes: Record<string, string>): number =>
  Object.entries(attributes).reduce(
    (sum, [name, value]) =>
      sum + Buffer.byteLength(name) + Buffer.byteLength('String') + Buffer.byteLength(value),
    0,
  );

export class LocalQueue {
  readonly name: string;
  readonly arn: string;
  readonly region: string;
  readonly visibilityTimeoutSeconds: number;
  readonly maxReceiveCount: number;
  readonly deadLetterQueue: LocalQueue | undefined;

  readonly #clock: () => number;
  readonly #maxMessageBytes: number;
  readonly #journalPath: string | undefined;
  /** Insertion order is delivery order; a received message moves to the back. */
  readonly #messages = new Map<string, StoredMessage>();
  /** Current receipt handle -> message id. Older handles of a message are forgotten. */
  readonly #handles = new Map<string, string>();
  readonly #listeners = new Set<() => void>();
  #journalRecords = 0;
  #closed = false;

  constructor(options: LocalQueueOptions) {
    if (!QUEUE_NAME.test(options.name)) {
      throw new QueueError(
        'InvalidParameterValue',
        `Queue name "${options.name}" must be 1-80 letters, digits, hyphens or underscores.`,
      );
    }
    if (options.fifo) throw new QueueError('InvalidParameterValue', 'FIFO queues are not emulated locally.');
    const visibility = options.visibilityTimeoutSeconds ?? 30;
    if (!(visibility >= 0 && visibility <= 43_200)) {
      throw new QueueError('InvalidParameterValue', 'visibilityTimeoutSeconds must be between 0 and 43200.');
    }
    const maxReceiveCount = options.maxReceiveCount ?? 3;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new QueueError('InvalidParameterValue', 'maxReceiveCount must be an integer between 1 and 1000.');
    }
    if (options.deadLetterQueue?.name === options.name) {
      throw new QueueError('InvalidParameterValue', 'A queue cannot be its own dead-letter queue.');
    }
    this.name = options.name;
    this.region = options.region ?? LOCAL_REGION;
    this.arn = `arn:aws:sqs:${this.region}:${options.accountId ?? LOCAL_ACCOUNT_ID}:${options.name}`;
    this.visibilityTimeoutSeconds = visibility;
    this.maxReceiveCount = maxReceiveCount;
    this.deadLetterQueue = options.deadLetterQueue;
    this.#clock = options.clock ?? Date.now;
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (options.persistDir !== undefined) {
      mkdirSync(options.persistDir, { recursive: true });
      this.#journalPath = join(options.persistDir, `${options.name}.jsonl`);
      this.#replay();
      this.#compact();
    }
  }

  /** Accepts a message; with `persistDir`, it is in the journal before this returns. */
  send(body: string, attrs: SendAttributes = {}): SendResult {
    this.#assertOpen();
    const message = this.#build(body, attrs);
    this.#accept(message);
    return {
      messageId: message.messageId,
      md5OfBody: message.md5OfBody,
      ...(message.md5OfMessageAttributes ? { md5OfMessageAttributes: message.md5OfMessageAttributes } : {}),
    };
  }

  /** SendMessageBatch: up to 10 entries with distinct ids; invalid entries fail alone. */
  sendBatch(entries: readonly SendBatchEntry[]): SendBatchResult {
    this.#assertOpen();
    if (entries.length === 0)
      throw new QueueError('EmptyBatchRequest', 'There should be at least one entry.');
    if (entries.length > 10) {
      throw new QueueError(
        'TooManyEntriesInBatchRequest',
        `Maximum number of entries per request are 10. You have sent ${entries.length}.`,
      );
    }
    const ids = new Set<string>();
    let total = 0;
    for (const entry of entries) {
      if (!BATCH_ENTRY_ID.test(entry.id)) {
        throw new QueueError('InvalidBatchEntryId', `A batch entry id "${entry.id}" is not valid.`);
      }
      if (ids.has(entry.id)) throw new QueueError('BatchEntryIdsNotDistinct', `Id ${entry.id} repeated.`);
      ids.add(entry.id);
      total += Buffer.byteLength(entry.body) + attributeBytes(entry.messageAttributes ?? {});
    }
    if (total > this.#maxMessageBytes) {
      throw new QueueError(
        'BatchRequestTooLong',
        `Batch requests cannot be longer than ${this.#maxMessageBytes} bytes.`,
      );
    }
    const result: SendBatchResult = { successful: [], failed: [] };
    for (const entry of entries) {
      try {
        result.successful.push({ id: entry.id, ...this.send(entry.body, entry) });
      } catch (error) {
        if (!(error instanceof QueueError)) throw error;
        result.failed.push({ id: entry.id, code: error.code, message: error.message, senderFault: true });
      }
    }
    return result;
  }

  /**
   * ReceiveMessage: up to `max` (1–10) visible messages, which become invisible for the visibility
   * timeout. A message whose receive count would exceed `maxReceiveCount` is moved to the
   * dead-letter queue instead (when there is one), as the SQS redrive policy does.
   */
  receive(max: number, options: ReceiveOptions = {}): SQSRecord[] {
    this.#assertOpen();
    if (!Number.isInteger(max) || max < 1 || max > 10) {
      throw new QueueError('InvalidParameterValue', 'max must be an integer between 1 and 10.');
    }
    const visibility = options.visibilityTimeoutSeconds ?? this.visibilityTimeoutSeconds;
    const now = this.#clock();
    const chosen: StoredMessage[] = [];
    const redriven: StoredMessage[] = [];
    let bytes = 0;
    for (const message of this.#candidates(max, now, redriven)) {
      const size = Buffer.byteLength(message.body);
      if (
        options.maxBytes !== undefined &&
        (chosen.length > 0 || options.strictMaxBytes) &&
        bytes + size > options.maxBytes
      )
        break;
      bytes += size;
      chosen.push(message);
    }
    if (redriven.length > 0) this.#redrive(redriven);
    if (chosen.length === 0) return [];
    this.#journal({ t: 'recv', ids: chosen.map((m) => m.messageId), at: now });
    return chosen.map((message) => {
      if (message.receiptHandle) this.#handles.delete(message.receiptHandle);
      message.receiveCount += 1;
      message.firstReceiveTimestamp ??= now;
      message.visibleAt = now + visibility * 1000;
      message.receiptHandle = Buffer.from(`${message.messageId}#${randomUUID()}`).toString('base64url');
      this.#handles.set(message.receiptHandle, message.messageId);
      this.#messages.delete(message.messageId);
      this.#messages.set(message.messageId, message);
      return this.#toRecord(message);
    });
  }

  /**
   * The messages a receive of `max` takes, in order (those past `maxReceiveCount` go to `redriven`).
   * Without message groups: the oldest visible ones. With them (SQS fair queues: a standard queue
   * whose messages carry a `MessageGroupId`, e.g. the tenant), one at a time from the group with the
   * fewest messages in flight (received, not yet deleted, counting those this receive takes), its
   * oldest visible message first; ties go to the group whose next message is oldest. So a group with
   * a large backlog does not hold back another group's messages: what AWS describes for fair queues
   * ("reduces dwell time for other tenants"), emulated by this one rule.
   */
  #candidates(max: number, now: number, redriven: StoredMessage[]): StoredMessage[] {
    const visible = new Map<string, StoredMessage[]>();
    const inFlight = new Map<string, number>();
    let grouped = false;
    let total = 0;
    for (const message of this.#messages.values()) {
      const group = message.messageGroupId ?? '';
      if (message.visibleAt > now) {
        if (message.receiveCount > 0) inFlight.set(group, (inFlight.get(group) ?? 0) + 1);
        continue;
      }
      if (this.deadLetterQueue && message.receiveCount + 1 > this.maxReceiveCount) {
        redriven.push(message);
        continue;
      }
      if (message.messageGroupId !== undefined) grouped = true;
      const queue = visible.get(group) ?? [];
      if (queue.length < max) {
        queue.push(message);
        visible.set(group, queue);
        total += 1;
      }
      // Without groups the first `max` visible messages are the answer: no need to read on.
      if (!grouped && total >= max && visible.size === 1) break;
    }
    if (!grouped) return (visible.get('') ?? []).slice(0, max);
    const order = [...this.#messages.keys()];
    const position = new Map(order.map((id, index) => [id, index]));
    const chosen: StoredMessage[] = [];
    while (chosen.length < max) {
      let best: { group: string; load: number; at: number } | undefined;
      for (const [group, queue] of visible) {
        const next = queue[0];
        if (!next) continue;
        const load = inFlight.get(group) ?? 0;
        const at = position.get(next.messageId) ?? 0;
        if (!best || load < best.load || (load === best.load && at < best.at)) best = { group, load, at };
      }
      if (!best) break;
      const message = visible.get(best.group)?.shift();
      if (!message) break;
      chosen.push(message);
      inFlight.set(best.group, best.load + 1);
    }
    return chosen;
  }

  /**
   * DeleteMessage with the most recent receipt handle. Returns whether a message was deleted; like
   * SQS, a stale handle (the message was received again since) deletes nothing and is not an error.
   */
  delete(receiptHandle: string): boolean {
    this.#assertOpen();
    const id = this.#handles.get(receiptHandle);
    if (id === undefined) return false;
    this.#journal({ t: 'del', ids: [id] });
    this.#handles.delete(receiptHandle);
    this.#messages.delete(id);
    return true;
  }

  /** ChangeMessageVisibility: the message becomes visible `seconds` from now (0 releases it at once). */
  changeVisibility(receiptHandle: string, seconds: number): void {
    this.#assertOpen();
    if (!(seconds >= 0 && seconds <= 43_200)) {
      throw new QueueError(
        'InvalidParameterValue',
        'Visibility timeout must be between 0 and 43200 seconds.',
      );
    }
    const id = this.#handles.get(receiptHandle);
    const message = id === undefined ? undefined : this.#messages.get(id);
    const now = this.#clock();
    if (!message || message.visibleAt <= now) {
      throw new QueueError('MessageNotInflight', 'The message referred to is not in flight.');
    }
    message.visibleAt = now + seconds * 1000;
    if (seconds === 0) this.#notify();
  }

  depth(): QueueDepth {
    const now = this.#clock();
    const depth: QueueDepth = { visible: 0, inFlight: 0, delayed: 0 };
    for (const message of this.#messages.values()) depth[this.#state(message, now)] += 1;
    return depth;
  }

  /** The messages currently held, for debugging and tests (does not change visibility). */
  peek(limit = 100): QueuedMessageSnapshot[] {
    const now = this.#clock();
    const out: QueuedMessageSnapshot[] = [];
    for (const message of this.#messages.values()) {
      if (out.length >= limit) break;
      out.push({
        messageId: message.messageId,
        body: message.body,
        messageAttributes: { ...message.messageAttributes },
        receiveCount: message.receiveCount,
        sentTimestamp: message.sentTimestamp,
        state: this.#state(message, now),
      });
    }
    return out;
  }

  /**
   * The work of a message move task (StartMessageMoveTask), done at once: every message receivable
   * now moves to the queue `destinationOf` names for it (the task's destination, or the queue it was
   * dead-lettered from), keeping its id, body and attributes, with a fresh receive count; in-flight
   * and delayed messages stay. Written there before deleted here (a crash may duplicate, never lose).
   * Stops at the first message with no destination, naming why, as a task that FAILED.
   */
  moveMessages(destinationOf: (sourceArn: string | undefined) => LocalQueue | undefined): MoveResult {
    this.#assertOpen();
    const now = this.#clock();
    const ready = [...this.#messages.values()].filter((message) => message.visibleAt <= now);
    let moved = 0;
    for (const message of ready) {
      const destination = destinationOf(message.deadLetterSourceArn);
      if (!destination) {
        return {
          moved,
          toMove: ready.length,
          failureReason: `Message ${message.messageId} has no destination: it was not dead-lettered from a known queue and the task names none.`,
        };
      }
      if (destination === this)
        throw new QueueError('InvalidParameterValue', 'A queue cannot move messages to itself.');
      destination.#assertOpen();
      destination.#accept(
        destination.#hydrate({
          ...this.#persisted(message),
          receiveCount: 0,
          firstReceiveTimestamp: undefined,
          availableAt: now,
          deadLetterSourceArn: undefined,
        }),
      );
      this.#journal({ t: 'del', ids: [message.messageId] });
      if (message.receiptHandle) this.#handles.delete(message.receiptHandle);
      this.#messages.delete(message.messageId);
      moved += 1;
    }
    return { moved, toMove: ready.length };
  }

  /** PurgeQueue: deletes every message, in flight or not. */
  purge(): void {
    this.#assertOpen();
    this.#journal({ t: 'purge' });
    this.#messages.clear();
    this.#handles.clear();
  }

  /** Calls `listener` whenever messages may have become receivable. Returns the unsubscribe function. */
  onAvailable(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Compacts the journal and refuses further operations. */
  close(): void {
    if (this.#closed) return;
    this.#compact();
    this.#closed = true;
    this.#listeners.clear();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #state(message: StoredMessage, now: number): keyof QueueDepth {
    if (message.visibleAt <= now) return 'visible';
    return message.receiveCount > 0 ? 'inFlight' : 'delayed';
  }

  #build(body: string, attrs: SendAttributes): StoredMessage {
    if (typeof body !== 'string' || body.length === 0) {
      throw new QueueError('InvalidParameterValue', 'The message body must be a non-empty string.');
    }
    if (INVALID_BODY_CHARS.test(body)) {
      throw new QueueError('InvalidMessageContents', 'Invalid characters found in the message body.');
    }
    const delay = attrs.delaySeconds ?? 0;
    if (!Number.isInteger(delay) || delay < 0 || delay > 900) {
      throw new QueueError('InvalidParameterValue', 'DelaySeconds must be an integer between 0 and 900.');
    }
    const messageAttributes = { ...(attrs.messageAttributes ?? {}) };
    const names = Object.keys(messageAttributes);
    if (names.length > 10) {
      throw new QueueError('InvalidParameterValue', 'Number of message attributes exceeds the limit of 10.');
    }
    for (const name of names) {
      if (!ATTRIBUTE_NAME.test(name) || /^(aws|amazon)\./i.test(name)) {
        throw new QueueError('InvalidParameterValue', `Message attribute name "${name}" is invalid.`);
      }
      const value = messageAttributes[name];
      if (typeof value !== 'string' || value.length === 0) {
        throw new QueueError(
          'InvalidParameterValue',
          `Message attribute "${name}" must contain a non-empty value.`,
        );
      }
    }
    const size = Buffer.byteLength(body) + attributeBytes(messageAttributes);
    if (size > this.#maxMessageBytes) {
      throw new QueueError('MessageTooLong', `Message must be shorter than ${this.#maxMessageBytes} bytes.`);
    }
    const now = this.#clock();
    return this.#hydrate({
      messageId: randomUUID(),
      body,
      messageAttributes,
      messageGroupId: attrs.messageGroupId,
      deadLetterSourceArn: undefined,
      sentTimestamp: now,
      availableAt: now + delay * 1000,
      receiveCount: 0,
      firstReceiveTimestamp: undefined,
    });
  }

  #hydrate(persisted: PersistedMessage): StoredMessage {
    return {
      ...persisted,
      md5OfBody: md5(persisted.body),
      md5OfMessageAttributes: md5OfMessageAttributes(persisted.messageAttributes),
      visibleAt: persisted.availableAt,
      receiptHandle: undefined,
    };
  }

  #persisted(message: StoredMessage): PersistedMessage {
    return {
      messageId: message.messageId,
      body: message.body,
      messageAttributes: message.messageAttributes,
      messageGroupId: message.messageGroupId,
      deadLetterSourceArn: message.deadLetterSourceArn,
      sentTimestamp: message.sentTimestamp,
      availableAt: message.availableAt,
      receiveCount: message.receiveCount,
      firstReceiveTimestamp: message.firstReceiveTimestamp,
    };
  }

  /** Journal first, then memory: a crash in between loses nothing that was acknowledged. */
  #accept(message: StoredMessage): void {
    this.#journal({ t: 'send', m: this.#persisted(message) });
    this.#messages.set(message.messageId, message);
    this.#notify();
  }

  /** Moves messages to the DLQ: written there before they are deleted here (a crash may duplicate, never lose). */
  #redrive(messages: StoredMessage[]): void {
    const dlq = this.deadLetterQueue;
    if (!dlq) return;
    dlq.#assertOpen();
    for (const message of messages) {
      dlq.#accept(
        dlq.#hydrate({
          ...this.#persisted(message),
          receiveCount: 0,
          firstReceiveTimestamp: undefined,
          availableAt: message.sentTimestamp,
          deadLetterSourceArn: this.arn,
        }),
      );
    }
    this.#journal({ t: 'del', ids: messages.map((m) => m.messageId) });
    for (const message of messages) {
      if (message.receiptHandle) this.#handles.delete(message.receiptHandle);
      this.#messages.delete(message.messageId);
    }
  }

  #toRecord(message: StoredMessage): SQSRecord {
    const messageAttributes: SQSMessageAttributes = {};
    for (const [name, value] of Object.entries(message.messageAttributes)) {
      messageAttributes[name] = {
        stringValue: value,
        stringListValues: [],
        binaryListValues: [],
        dataType: 'String',
      };
    }
    return {
      messageId: message.messageId,
      receiptHandle: message.receiptHandle ?? '',
      body: message.body,
      attributes: {
        ApproximateReceiveCount: String(message.receiveCount),
        SentTimestamp: String(message.sentTimestamp),
        SenderId: SENDER_ID,
        ApproximateFirstReceiveTimestamp: String(message.firstReceiveTimestamp ?? message.sentTimestamp),
        ...(message.messageGroupId !== undefined ? { MessageGroupId: message.messageGroupId } : {}),
        ...(message.deadLetterSourceArn !== undefined
          ? { DeadLetterQueueSourceArn: message.deadLetterSourceArn }
          : {}),
      },
      messageAttributes,
      md5OfBody: message.md5OfBody,
      ...(message.md5OfMessageAttributes ? { md5OfMessageAttributes: message.md5OfMessageAttributes } : {}),
      eventSource: 'aws:sqs',
      eventSourceARN: this.arn,
      awsRegion: this.region,
    };
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }

  #assertOpen(): void {
    if (this.#closed) throw new QueueError('QueueClosed', `Queue ${this.name} is closed.`);
  }

  #journal(record: JournalRecord): void {
    if (this.#journalPath === undefined) return;
    appendFileSync(this.#journalPath, `${JSON.stringify(record)}\n`);
    this.#journalRecords += 1;
    if (this.#journalRecords > 10_000 && this.#journalRecords > 4 * this.#messages.size) this.#compact();
  }

  /** Rebuilds the queue from the journal. A torn last line (a crash mid-append) is ignored. */
  #replay(): void {
    const path = this.#journalPath;
    if (path === undefined || !existsSync(path)) return;
    const lines = readFileSync(path, 'utf8').split('\n');
    lines.forEach((line, index) => {
      if (line.trim() === '') return;
      let record: JournalRecord;
      try {
        record = JSON.parse(line) as JournalRecord;
      } catch (error) {
        const isLast = lines.slice(index + 1).every((rest) => rest.trim() === '');
        if (isLast) return;
        throw new QueueError('JournalCorrupt', `${path}:${index + 1} is not valid JSON: ${String(error)}`);
      }
      this.#apply(record);
    });
  }

  #apply(record: JournalRecord): void {
    switch (record.t) {
      case 'send':
        this.#messages.set(record.m.messageId, this.#hydrate(record.m));
        break;
      case 'recv':
        for (const id of record.ids) {
          const message = this.#messages.get(id);
          if (!message) continue;
          message.receiveCount += 1;
          message.firstReceiveTimestamp ??= record.at;
        }
        break;
      case 'del':
        for (const id of record.ids) this.#messages.delete(id);
        break;
      case 'purge':
        this.#messages.clear();
        break;
    }
  }

  /** Rewrites the journal as one `send` per live message (write to a temp file, then rename). */
  #compact(): void {
    const path = this.#journalPath;
    if (path === undefined || this.#closed) return;
    const lines = [...this.#messages.values()].map(
      (m) => `${JSON.stringify({ t: 'send', m: this.#persisted(m) })}\n`,
    );
    const temp = `${path}.tmp`;
    writeFileSync(temp, lines.join(''));
    renameSync(temp, path);
    this.#journalRecords = lines.length;
  }
}
