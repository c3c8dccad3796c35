import { createHash } from 'node:crypto';
import * as z from 'zod';
import { ConflictError, ServiceUnavailableError } from '#shared/errors.js';
import { type EventPublisher, eventOf } from '#shared/ports/events.js';
import type { TenantRecord, TenantRecords } from '#shared/ports/records.js';
import type { Clock, IdGenerator } from '#shared/ports/system.js';
import { type JobPriority, jobCompleted } from '../../events.js';

/**
 * Jobs of the scheduler (M3). The API side (`JobIntake`, POST scheduler/enqueue) writes the job, then
 * hands it to the jobs queue, and only then answers; the worker side (`JobWorker`, the queue's
 * consumer) completes it once, however often the queue delivers it. Issue 17 grows the worker's
 * step into priority queues, budgets and expert calls; the hand-off and its guarantees stay.
 */

/** How long a job is kept after its last change (DynamoDB TTL), like the router's decisions. */
export const JOB_TTL_SECONDS = 30 * 24 * 60 * 60;

export const JOB_STATUSES = ['queued', 'completed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** A job record, in the scheduler table at pk `T#<tenant>#JOB`, sk the job id. */
export interface Job extends TenantRecord {
  readonly status: JobStatus;
  readonly priority: JobPriority;
  /**
   * The payload as canonical JSON text (object keys sorted). Text, not a DynamoDB map: any JSON object
   * the API accepts fits (numbers beyond DynamoDB's 38 digits, nesting beyond its 32 levels), and a
   * replay compares it byte for byte.
   */
  readonly payloadJson: string;
  readonly idempotencyKey?: string;
  /** The trace of the request that created the job; its message and event carry it. */
  readonly traceId: string;
  readonly completedAt?: string;
}

/** The jobs queue's message: which job to work on. The job itself is read from the table. */
export const jobMessageSchema = z.strictObject({
  tenantId: z.string().min(1),
  jobId: z.string().min(1).max(200),
  traceId: z.string().min(1),
});
export type JobMessage = z.output<typeof jobMessageSchema>;

/** Port: the jobs queue. `send` resolves once the queue has accepted the message. */
export interface JobQueue {
  send(message: JobMessage): Promise<void>;
}

/** The job records: conditional create, consistent read, replace on the expected version. */
export type JobRepository = Pick<TenantRecords<Job>, 'create' | 'get' | 'replace'>;

export interface EnqueueRequest {
  readonly payload: Readonly<Record<string, unknown>>;
  readonly priority: JobPriority;
  readonly idempotencyKey?: string | undefined;
}

export interface EnqueueResult {
  readonly jobId: string;
  /** `queued` for a new job; a replay answers the job as it stands. */
  readonly status: JobStatus;
  /** The idempotency key named an existing job: nothing was created. */
  readonly replayed: boolean;
}

/** JSON with every object's keys sorted: equal JSON values give equal text, whatever the key order sent. */
export const canonicalJson = (value: unknown): string => JSON.stringify(sortKeys(value));

const sortKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  );
};

/**
 * The job id of an idempotency key: a UUIDv8 (RFC 9562) from SHA-256 of tenant and key, so a retry
 * finds its job by a conditional create (no lookup table, no transaction), keyed and random ids share
 * one shape, and the same key in another tenant is another job.
 */
export const jobIdFor = (tenantId: string, idempotencyKey: string): string => {
  const hex = createHash('sha256').update(`${tenantId}\n${idempotencyKey}`).digest('hex');
  const variant = ((Number.parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `job_${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
};

export interface JobIntakeDeps {
  readonly jobs: JobRepository;
  readonly queue: JobQueue;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** Told why a hand-off failed (the caller only sees a 503). */
  readonly onQueueError?: (error: unknown, jobId: string) => void;
}

/** The API side: write the job, hand it to the queue, then answer (a durable hand-off). */
export class JobIntake {
  constructor(private readonly deps: JobIntakeDeps) {}

  async enqueue(tenantId: string, request: EnqueueRequest, traceId: string): Promise<EnqueueResult> {
    const now = this.deps.clock.now().toISOString();
    const key = request.idempotencyKey;
    const job: Job = {
      tenantId,
      id: key === undefined ? this.deps.ids.next('job') : jobIdFor(tenantId, key),
      version: 1,
      createdAt: now,
      updatedAt: now,
      status: 'queued',
      priority: request.priority,
      payloadJson: canonicalJson(request.payload),
      ...(key === undefined ? {} : { idempotencyKey: key }),
      traceId,
    };
    const stored = await this.#createOrReplay(job);
    // A replay of a job not yet completed hands it over again: the earlier request may have failed
    // after its write (a 503), and a duplicate message is harmless to the idempotent worker.
    if (stored.status === 'queued') await this.#handOff(stored);
    return { jobId: stored.id, status: stored.status, replayed: stored !== job };
  }

  /** The new job, or the one its idempotency key already names (if the request is the same). */
  async #createOrReplay(job: Job): Promise<Job> {
    try {
      await this.deps.jobs.create(job);
      return job;
    } catch (error) {
      if (!(error instanceof ConflictError) || job.idempotencyKey === undefined) throw error;
    }
    const existing = await this.deps.jobs.get(job.tenantId, job.id);
    if (!existing) throw new Error(`job ${job.id} exists and cannot be read`);
    if (existing.payloadJson !== job.payloadJson || existing.priority !== job.priority) {
      throw new ConflictError(
        'This idempotencyKey was used for a different job (payload or priority); use a new key.',
        'idempotency_key_reused',
      );
    }
    return existing;
  }

  async #handOff(job: Job): Promise<void> {
    try {
      await this.deps.queue.send(
        jobMessageSchema.parse({ tenantId: job.tenantId, jobId: job.id, traceId: job.traceId }),
      );
    } catch (error) {
      this.deps.onQueueError?.(error, job.id);
      throw new ServiceUnavailableError(
        'The job could not be queued; retry with the same idempotencyKey.',
        'job_not_queued',
      );
    }
  }
}

/** A message names a job its tenant does not have: it goes back to the queue, and to the DLQ in the end. */
export class JobNotFoundError extends Error {
  override readonly name = 'JobNotFoundError';
}

export type CompletionOutcome = 'completed' | 'already_completed';

export interface JobWorkerDeps {
  readonly jobs: JobRepository;
  readonly clock: Clock;
  /** Where job_completed goes (absent: not published, e.g. no bus configured). */
  readonly events?: EventPublisher | undefined;
  /** Told when job_completed could not be published; the completion stands. */
  readonly onPublishError?: (error: unknown, jobId: string) => void;
}

/**
 * The worker side: completes a job once. The version-conditional write decides which delivery
 * completes it; every other delivery (a duplicate, a redelivery after a crash, a replayed hand-off)
 * finds it completed and does nothing. Only the completing delivery publishes job_completed.
 */
export class JobWorker {
  constructor(private readonly deps: JobWorkerDeps) {}

  async complete(message: JobMessage): Promise<CompletionOutcome> {
    const job = await this.deps.jobs.get(message.tenantId, message.jobId);
    if (!job) throw new JobNotFoundError(`job ${message.jobId} of ${message.tenantId} does not exist`);
    if (job.status === 'completed') return 'already_completed';

    const now = this.deps.clock.now().toISOString();
    const completed: Job = {
      ...job,
      status: 'completed',
      completedAt: now,
      updatedAt: now,
      version: job.version + 1,
    };
    try {
      await this.deps.jobs.replace(completed, job.version);
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      // Another delivery got there first; if it did not complete the job, this one comes back later.
      const current = await this.deps.jobs.get(job.tenantId, job.id);
      if (current?.status === 'completed') return 'already_completed';
      throw error;
    }

    try {
      await this.deps.events?.publish([
        eventOf(jobCompleted, {
          tenantId: job.tenantId,
          traceId: job.traceId,
          occurredAt: now,
          jobId: job.id,
          priority: job.priority,
        }),
      ]);
    } catch (error) {
      this.deps.onPublishError?.(error, job.id);
    }
    return 'completed';
  }
}
