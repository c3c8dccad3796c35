import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { callMeteringActive, chunksOf, recordCall } from '#shared/adapters/call-meter.js';
import type { QueueSpec } from '#shared/pillar.js';
import { recordInvocation } from './lambda-context.js';

/** SQS's ReceiveMessage and DeleteMessageBatch take at most 10 messages. */
const SQS_MESSAGES_PER_CALL = 10;

import { lambdaContext } from './lambda-context.js';
import type { LocalQueue } from './queue.js';

/** Lambda's synchronous invocation payload limit: the ESM never builds a bigger batch. */
const MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** The handler shape Lambda calls for an SQS event source (a middy handler fits). */
export type SqsBatchHandler = (
  event: SQSEvent,
  context: Context,
  // biome-ignore lint/suspicious/noConfusingVoidType: as @types/aws-lambda's SQSHandler, so `async () => {}` fits.
) => Promise<SQSBatchResponse | void>;

export interface EventSourceMappingOptions {
  /** 1–10000, default 10; above 10 needs `maximumBatchingWindowMs`, as in AWS. */
  batchSize?: number;
  /** How long to gather records before invoking with a partial batch (0–300000 ms), default 0. */
  maximumBatchingWindowMs?: number;
  /** Concurrent invocations (2–1000, as the ESM's ScalingConfig), default 2. */
  maximumConcurrency?: number;
  /** Name used in the Lambda context, default `<queue name>-consumer`. */
  functionName?: string;
  /** Lambda function timeout: an invocation running longer counts as failed. Default 30 s. */
  timeoutSeconds?: number;
  /** Poll interval when the queue is idle (ms), default 25. Sends wake the mapping at once. */
  idlePollMs?: number;
  /** Builds the context of each invocation; default a Lambda-like context. */
  createContext?: (functionName: string, timeoutMs: number) => Context;
  /** Called when an invocation fails as a whole (the handler threw, timed out, or answered malformed). */
  onError?: (error: unknown, event: SQSEvent) => void;
}

export interface EventSourceMappingStats {
  invocations: number;
  /** Invocations whose whole batch failed. */
  failedInvocations: number;
  /** Invocations that reported some batch item failures. */
  partialFailures: number;
  /** Records deleted after successful processing. */
  deleted: number;
  inFlightInvocations: number;
}

/** A malformed SQSBatchResponse: like Lambda, the whole batch is then treated as failed. */
export class BatchResponseError extends Error {
  override readonly name = 'BatchResponseError';
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The failed message ids of a handler's answer, per Lambda's ReportBatchItemFailures rules: no
 * answer, `{}`, or a null/empty `batchItemFailures` means success; an empty, missing or unknown
 * `itemIdentifier` (or any other malformed answer) throws, which fails the whole batch.
 */
export const failedItemIds = (response: unknown, messageIds: ReadonlySet<string>): Set<string> => {
  if (response === undefined || response === null) return new Set();
  if (!isObject(response))
    throw new BatchResponseError('The function response is not a batch response object.');
  const failures = response.batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) throw new BatchResponseError('batchItemFailures is not a list.');
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = isObject(failure) ? failure.itemIdentifier : undefined;
    if (typeof id !== 'string' || id === '') {
      throw new BatchResponseError('A batch item failure has an empty or missing itemIdentifier.');
    }
    if (!messageIds.has(id))
      throw new BatchResponseError(`itemIdentifier ${id} is not a message of the batch.`);
    failed.add(id);
  }
  return failed;
};

const defaultContext = lambdaContext;

/**
 * The event source mapping options of a pillar queue (its `QueueSpec`), as the CDK app gives them to
 * Lambda: batch size, batching window and maximum concurrency.
 */
export const eventSourceMappingOptionsOf = (
  spec: Pick<QueueSpec, 'batchSize' | 'maxBatchingWindowSeconds' | 'maximumConcurrency'>,
): Pick<EventSourceMappingOptions, 'batchSize' | 'maximumBatchingWindowMs' | 'maximumConcurrency'> => ({
  batchSize: spec.batchSize,
  maximumBatchingWindowMs: (spec.maxBatchingWindowSeconds ?? 0) * 1000,
  maximumConcurrency: spec.maximumConcurrency,
});

/**
 * The Lambda SQS event source mapping with ReportBatchItemFailures: polls the queue, invokes the
 * handler with up to `batchSize` records and at most `maximumConcurrency` invocations at a time,
 * deletes what succeeded and leaves the rest to reappear after the visibility timeout (and reach
 * the DLQ through the queue's redrive policy).
 *
 * Batching as Lambda's: records are received 10 at a time (ReceiveMessage's limit) into one
 * gathering batch. Without a window, a batch is invoked at once with the records visible (up to
 * `batchSize`, at most 10 then, as AWS requires). With `maximumBatchingWindowMs`, the mapping waits up to
 * the window, counted from the first record gathered, and invokes early once the batch is full
 * (`batchSize` records, or 6 MB of bodies, Lambda's payload limit). Gathered records are in flight:
 * their visibility timeout runs during the window.
 */
export class EventSourceMapping {
  readonly queue: LocalQueue;
  readonly #handler: SqsBatchHandler;
  readonly #batchSize: number;
  readonly #windowMs: number;
  readonly #maxConcurrency: number;
  readonly #functionName: string;
  readonly #timeoutMs: number;
  readonly #idlePollMs: number;
  readonly #createContext: (functionName: string, timeoutMs: number) => Context;
  readonly #onError: (error: unknown, event: SQSEvent) => void;

  readonly #inFlight = new Set<Promise<void>>();
  #buffer: SQSRecord[] = [];
  #bufferBytes = 0;
  #bufferSince = 0;
  /** The next visible record would take the batch over the payload limit: invoke without waiting. */
  #bufferFull = false;
  #running = false;
  #unsubscribe: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #stats = { invocations: 0, failedInvocations: 0, partialFailures: 0, deleted: 0 };

  constructor(queue: LocalQueue, handler: SqsBatchHandler, options: EventSourceMappingOptions = {}) {
    const batchSize = options.batchSize ?? 10;
    const windowMs = options.maximumBatchingWindowMs ?? 0;
    const maxConcurrency = options.maximumConcurrency ?? 2;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
      throw new RangeError('batchSize must be an integer between 1 and 10000.');
    }
    if (!(windowMs >= 0 && windowMs <= 300_000)) {
      throw new RangeError('maximumBatchingWindowMs must be between 0 and 300000.');
    }
    if (batchSize > 10 && windowMs === 0) {
      throw new RangeError('A batchSize above 10 needs a maximumBatchingWindowMs, as in AWS.');
    }
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 2 || maxConcurrency > 1000) {
      throw new RangeError('maximumConcurrency must be an integer between 2 and 1000, as in AWS.');
    }
    this.queue = queue;
    this.#handler = handler;
    this.#batchSize = batchSize;
    this.#windowMs = windowMs;
    this.#maxConcurrency = maxConcurrency;
    this.#functionName = options.functionName ?? `${queue.name}-consumer`;
    this.#timeoutMs = (options.timeoutSeconds ?? 30) * 1000;
    this.#idlePollMs = options.idlePollMs ?? 25;
    this.#createContext = options.createContext ?? defaultContext;
    this.#onError =
      options.onError ??
      ((error) =>
        console.error(
          `[esm ${this.#functionName}] batch failed:`,
          error instanceof Error ? error.message : error,
        ));
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#unsubscribe = this.queue.onAvailable(() => this.#wake());
    this.#wake();
  }

  /** Stops polling, waits for running invocations, and releases records gathered but not yet invoked. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#clearTimers();
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    const buffered = this.#buffer;
    this.#buffer = [];
    this.#bufferBytes = 0;
    this.#bufferFull = false;
    if (this.queue.closed) return;
    for (const record of buffered) {
      try {
        this.queue.changeVisibility(record.receiptHandle, 0);
      } catch {
        // Already visible again: nothing to release.
      }
    }
  }

  /**
   * Resolves when the queue has no visible or in-flight messages and no invocation is running
   * (delayed messages do not count); rejects after `timeoutMs`.
   */
  drain(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const depth = this.queue.depth();
        if (
          depth.visible === 0 &&
          depth.inFlight === 0 &&
          this.#inFlight.size === 0 &&
          this.#buffer.length === 0
        ) {
          resolve();
        } else if (Date.now() >= deadline) {
          reject(
            new Error(
              `drain of ${this.queue.name} timed out after ${timeoutMs} ms: ${JSON.stringify(depth)}, ` +
                `${this.#inFlight.size} invocation(s) running`,
            ),
          );
        } else {
          setTimeout(check, 5);
        }
      };
      check();
    });
  }

  stats(): EventSourceMappingStats {
    return { ...this.#stats, inFlightInvocations: this.#inFlight.size };
  }

  #clearTimers(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
  }

  /** Polls on the next turn of the event loop (never in a microtask, so timers keep running). */
  #wake(): void {
    if (!this.#running || this.#immediate) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#immediate = setImmediate(() => {
      this.#immediate = undefined;
      this.#poll();
    });
  }

  #sleep(ms: number): void {
    if (!this.#running || this.#immediate || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#poll();
    }, ms);
  }

  #poll(): void {
    if (!this.#running || this.queue.closed) return;
    try {
      while (this.#inFlight.size < this.#maxConcurrency) {
        this.#fill();
        if (this.#buffer.length === 0) break;
        const full =
          this.#bufferFull ||
          this.#buffer.length >= this.#batchSize ||
          this.#bufferBytes >= MAX_INVOKE_PAYLOAD_BYTES;
        const waited = Date.now() - this.#bufferSince;
        if (!full && waited < this.#windowMs) {
          this.#sleep(Math.min(this.#idlePollMs, this.#windowMs - waited));
          return;
        }
        const batch = this.#buffer;
        this.#buffer = [];
        this.#bufferBytes = 0;
        this.#bufferFull = false;
        this.#launch(batch);
      }
    } catch (error) {
      this.#onError(error, { Records: [] });
    }
    // At the concurrency cap, a finishing invocation wakes the mapping.
    if (this.#inFlight.size < this.#maxConcurrency) this.#sleep(this.#idlePollMs);
  }

  /**
   * Receives into the buffer, 10 at a time as ReceiveMessage allows, up to the batch and payload
   * limits. The first record of a batch is taken whatever its size; later ones only if they fit.
   */
  #fill(): void {
    while (
      !this.#bufferFull &&
      this.#buffer.length < this.#batchSize &&
      this.#bufferBytes < MAX_INVOKE_PAYLOAD_BYTES
    ) {
      const want = Math.min(10, this.#batchSize - this.#buffer.length);
      const started = this.#buffer.length > 0;
      const records = this.queue.receive(want, {
        maxBytes: MAX_INVOKE_PAYLOAD_BYTES - this.#bufferBytes,
        strictMaxBytes: started,
      });
      if (records.length === 0) {
        // Nothing received although records are visible: the next one does not fit in this batch.
        if (started && this.queue.depth().visible > 0) this.#bufferFull = true;
        return;
      }
      if (this.#buffer.length === 0) this.#bufferSince = Date.now();
      for (const record of records) {
        this.#buffer.push(record);
        this.#bufferBytes += Buffer.byteLength(record.body);
      }
    }
  }

  #launch(records: SQSRecord[]): void {
    const invocation = this.#invoke(records).finally(() => {
      this.#inFlight.delete(invocation);
      this.#wake();
    });
    this.#inFlight.add(invocation);
  }

  async #invoke(records: SQSRecord[]): Promise<void> {
    const event: SQSEvent = { Records: records };
    this.#stats.invocations += 1;
    let failed: Set<string>;
    const metered = callMeteringActive();
    // On AWS the mapping's own ReceiveMessage and DeleteMessageBatch are billed SQS requests: at most
    // 10 messages each, so a batch of 100 is at least 10 of each (each 64 KiB of payload one more).
    if (metered) {
      const bytes = records.reduce((sum, record) => sum + Buffer.byteLength(record.body), 0);
      const receives = Math.ceil(records.length / SQS_MESSAGES_PER_CALL);
      recordCall(
        'sqs',
        'ReceiveMessage',
        { requests: Math.max(receives, chunksOf(bytes, 64 * 1024)) },
        receives,
      );
    }
    const startedAt = performance.now();
    try {
      const response = await this.#withTimeout(event);
      failed = failedItemIds(response, new Set(records.map((r) => r.messageId)));
      if (metered) {
        recordInvocation(this.#functionName, startedAt);
        const deletes = Math.ceil((records.length - failed.size) / SQS_MESSAGES_PER_CALL);
        if (deletes > 0) recordCall('sqs', 'DeleteMessageBatch', { requests: deletes }, deletes);
      }
    } catch (error) {
      if (metered) recordInvocation(this.#functionName, startedAt);
      // The whole batch stays: each record reappears when its visibility timeout expires.
      this.#stats.failedInvocations += 1;
      this.#onError(error, event);
      return;
    }
    if (failed.size > 0) this.#stats.partialFailures += 1;
    if (this.queue.closed) return;
    for (const record of records) {
      if (failed.has(record.messageId)) continue;
      if (this.queue.delete(record.receiptHandle)) this.#stats.deleted += 1;
    }
  }

  #withTimeout(event: SQSEvent): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Task timed out after ${(this.#timeoutMs / 1000).toFixed(2)} seconds`)),
        this.#timeoutMs,
      );
    });
    const run = Promise.resolve().then(() =>
      this.#handler(event, this.#createContext(this.#functionName, this.#timeoutMs)),
    );
    return Promise.race([run, timeout]).finally(() => clearTimeout(timer));
  }
}
