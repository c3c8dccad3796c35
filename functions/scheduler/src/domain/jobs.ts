import { createHash } from 'node:crypto';
import * as z from 'zod';
import { AppError, ConflictError, ServiceUnavailableError, UnprocessableError } from '#shared/errors.js';
import { type EventPublisher, eventOf } from '#shared/ports/events.js';
import type { TenantRecord, TenantRecords } from '#shared/ports/records.js';
import type { Clock, IdGenerator } from '#shared/ports/system.js';
import { type JobPriority, jobCompleted } from '../../events.js';
import { LedgerContentionError } from './budget-ledger.js';
import {
  BUDGET_STATES,
  type BudgetAdmission,
  type BudgetState,
  type BudgetStatus,
  type Budgets,
} from './budgets.js';
import {
  actualCostOf,
  type ExpertCaller,
  type ExpertCallResult,
  type JobTarget,
  MAX_RESULT_BYTES,
  type OutcomeReporter,
  type ResolvedTarget,
  type TargetResolver,
} from './targets.js';

/**
 * Jobs of the scheduler (M3). The API side (`JobIntake`, POST scheduler/enqueue) writes the job, then
 * hands it to the jobs queue, and only then answers; the worker side (`JobWorker`, the queue's
 * consumer) completes it once, however often the queue delivers it. Issue 17 grows the worker's
 * step into priority queues, budgets and expert calls; the hand-off and its guarantees stay.
 */

/** How long a job is kept after its last change (DynamoDB TTL), like the router's decisions. */
export const JOB_TTL_SECONDS = 30 * 24 * 60 * 60;

/**
 * `queued` until the worker completes it; `completing` once its expert has answered (the call's
 * result and cost are on the job: a redelivery commits them without calling the expert again);
 * `dead_lettered` when its message failed its last delivery (the job says why in `lastError`; a
 * redrive of the message runs it again); `completed` once.
 */
export const JOB_STATUSES = ['queued', 'completing', 'dead_lettered', 'completed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** A job's kind, and the priority it gets when the request names none. */
export const JOB_QUEUES = ['interactive', 'default', 'batch'] as const;
export type JobQueueName = (typeof JOB_QUEUES)[number];
export const QUEUE_PRIORITY: Readonly<Record<JobQueueName, JobPriority>> = {
  interactive: 'high',
  default: 'normal',
  batch: 'low',
};

/** A job record, in the scheduler table at pk `T#<tenant>#JOB`, sk the job id. */
export interface Job extends TenantRecord {
  readonly status: JobStatus;
  /** The priority it runs at (its SQS queue): the requested one, or one lower under a breached `downgrade` budget. */
  readonly priority: JobPriority;
  /** The priority asked for (or its queue's); absent on jobs written before budgets: `priority`. */
  readonly requestedPriority?: JobPriority;
  /** Absent on jobs written before queues: `default`. */
  readonly queue?: JobQueueName;
  /** The cost reserved against the budgets at admission, in USD (absent: 0). */
  readonly estimatedCostUsd?: number;
  /** The budget windows holding its reservation (absent: none). */
  readonly budgetWindows?: readonly string[];
  /** The actual cost, once completed. */
  readonly costUsd?: number;
  /** The target as asked, as canonical JSON (compared on a replay); absent: no target. */
  readonly targetJson?: string;
  /** The resolved target: the expert called, its endpoint, its declared cost (see targets.ts). */
  readonly expertId?: string;
  readonly endpoint?: string;
  readonly expertCostUsd?: number;
  /** A routed job: the router's decision (its taskId is the job id). */
  readonly taskId?: string;
  readonly decisionId?: string;
  /** The expert call, once completed. */
  readonly outcome?: 'ok' | 'error';
  readonly httpStatus?: number;
  readonly latencyMs?: number;
  readonly attempts?: number;
  /** The expert's answer as JSON text when it fits MAX_RESULT_BYTES, else its first bytes as text. */
  readonly resultJson?: string;
  readonly resultText?: string;
  readonly resultTruncated?: boolean;
  /** When its outcome was handed to the router (a routed job; absent: not yet, the next delivery does it). */
  readonly outcomeReportedAt?: string;
  /** Why its last delivery failed (`dead_lettered`): the error's name and message, at most 500 characters. */
  readonly lastError?: string;
  readonly deadLetteredAt?: string;
  /**
   * A delivery committing the job's cost to its budgets holds the job until then (ISO time): another
   * delivery of it waits (see JobWorker.complete).
   */
  readonly claimedUntil?: string;
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

/** Port: the jobs queues, one per priority. `send` resolves once the priority's queue has accepted the message. */
export interface JobQueue {
  send(message: JobMessage, priority: JobPriority): Promise<void>;
}

/** The job records: conditional create, consistent read, replace on the expected version. */
export type JobRepository = Pick<TenantRecords<Job>, 'create' | 'get' | 'replace'>;

export interface EnqueueRequest {
  /** Absent: `default`. */
  readonly queue?: JobQueueName | undefined;
  readonly payload: Readonly<Record<string, unknown>>;
  /** Absent: the queue's (QUEUE_PRIORITY). */
  readonly priority?: JobPriority | undefined;
  /** Absent: the target's declared cost per call, or 0 without a target. */
  readonly estimatedCostUsd?: number | undefined;
  /** The expert to call (absent: the job does no call; it completes at its estimate). */
  readonly target?: JobTarget | undefined;
  readonly idempotencyKey?: string | undefined;
}

export interface EnqueueResult {
  readonly jobId: string;
  /** `queued` for a new job; a replay answers the job as it stands. */
  readonly status: JobStatus;
  readonly priority: JobPriority;
  /** The idempotency key named an existing job: nothing was created. */
  readonly replayed: boolean;
  /** The worst state among the tenant's budgets after the admission (absent: no budget, or a replay). */
  readonly budgetState?: BudgetState;
}

/** The worst of several budget states (the order of BUDGET_STATES). */
export const worstState = (statuses: readonly Pick<BudgetStatus, 'state'>[]): BudgetState | undefined =>
  statuses.reduce<BudgetState | undefined>(
    (worst, { state }) =>
      worst === undefined || BUDGET_STATES.indexOf(state) > BUDGET_STATES.indexOf(worst) ? state : worst,
    undefined,
  );

/** A job the tenant's budgets refused: 429 with Retry-After, nothing stored. */
export class BudgetThrottledError extends AppError {
  constructor(refusal: Extract<BudgetAdmission, { admitted: false }>, priority: JobPriority) {
    const { status } = refusal;
    const held = refusal.reason === 'held_back';
    super(
      429,
      held ? 'budget_throttled' : 'budget_exhausted',
      held
        ? `The ${status.window} budget is breached (projected $${status.projectedUsd} of a $${status.capUsd} cap): ${priority} jobs wait; nothing was queued.`
        : `The ${status.window} budget has no room for this job ($${status.remainingUsd} left of a $${status.capUsd} cap); nothing was queued.`,
      {
        details: {
          window: status.window,
          windowId: status.windowId,
          state: status.state,
          priority,
          projectedUsd: status.projectedUsd,
          capUsd: status.capUsd,
          remainingUsd: status.remainingUsd,
        },
        headers: {
          'Retry-After': String(refusal.retryAfterSeconds),
          [BUDGET_STATE_HEADER]: status.state,
        },
      },
    );
  }
}

/** The response header that carries the tenant's budget state on enqueue answers. */
export const BUDGET_STATE_HEADER = 'X-Conductor-Budget-State';

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
  /** The tenant's budgets: each new job is admitted against them (absent: every job is admitted). */
  readonly budgets?: Pick<Budgets, 'admit' | 'release' | 'degraded'> | undefined;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** Told why a hand-off failed (the caller only sees a 503). */
  readonly onQueueError?: (error: unknown, jobId: string) => void;
}

/** The API side: write the job, hand it to the queue, then answer (a durable hand-off). */
export class JobIntake {
  constructor(private readonly deps: JobIntakeDeps) {}

  /**
   * @param resolve resolves the request's target with the caller's rights (absent: a request with a
   *   target is refused, 422 `targets_unavailable`).
   */
  async enqueue(
    tenantId: string,
    request: EnqueueRequest,
    traceId: string,
    resolve?: TargetResolver,
  ): Promise<EnqueueResult> {
    const now = this.deps.clock.now().toISOString();
    const key = request.idempotencyKey;
    const queue = request.queue ?? 'default';
    const requestedPriority = request.priority ?? QUEUE_PRIORITY[queue];
    const id = key === undefined ? this.deps.ids.next('job') : jobIdFor(tenantId, key);
    const payloadJson = canonicalJson(request.payload);
    const targetJson = request.target === undefined ? undefined : canonicalJson(request.target);
    const same = (existing: Job) =>
      existing.payloadJson === payloadJson &&
      (existing.requestedPriority ?? existing.priority) === requestedPriority &&
      (existing.queue ?? 'default') === queue &&
      existing.targetJson === targetJson &&
      (request.estimatedCostUsd === undefined ||
        (existing.estimatedCostUsd ?? 0) === request.estimatedCostUsd);

    // A replay is answered from the job its key names, before any admission: it was admitted once.
    if (key !== undefined) {
      const existing = await this.deps.jobs.get(tenantId, id);
      if (existing) return this.#replay(existing, same);
    }

    // The target first: its declared cost is the estimate admission reserves.
    let resolved: ResolvedTarget | undefined;
    if (request.target !== undefined) {
      if (!resolve) {
        throw new UnprocessableError('Jobs with a target cannot be resolved here.', 'targets_unavailable');
      }
      const preferCheaper =
        'route' in request.target && ((await this.deps.budgets?.degraded(tenantId)) ?? false);
      resolved = await resolve(request.target, { taskId: id, preferCheaper });
    }
    const estimate = request.estimatedCostUsd ?? resolved?.costPerCallUsd ?? 0;

    const admission = this.deps.budgets
      ? await this.deps.budgets
          .admit(tenantId, requestedPriority, estimate, traceId)
          .catch((error: unknown) => {
            // The table throttled the tenant's ledger item: nothing was reserved; the client retries.
            if (error instanceof LedgerContentionError) {
              throw new ServiceUnavailableError(
                'The tenant’s budget is busy with other jobs; nothing was queued. Retry in a second.',
                'budget_busy',
                1,
              );
            }
            throw error;
          })
      : ({ admitted: true, priority: requestedPriority, windowIds: [], statuses: [] } as const);
    if (!admission.admitted) throw new BudgetThrottledError(admission, requestedPriority);

    const job: Job = {
      tenantId,
      id,
      version: 1,
      createdAt: now,
      updatedAt: now,
      status: 'queued',
      queue,
      priority: admission.priority,
      requestedPriority,
      estimatedCostUsd: estimate,
      budgetWindows: admission.windowIds,
      payloadJson,
      ...(targetJson === undefined ? {} : { targetJson }),
      ...(resolved === undefined
        ? {}
        : {
            expertId: resolved.expertId,
            endpoint: resolved.endpoint,
            expertCostUsd: resolved.costPerCallUsd,
            ...(resolved.taskId === undefined ? {} : { taskId: resolved.taskId }),
            ...(resolved.decisionId === undefined ? {} : { decisionId: resolved.decisionId }),
          }),
      ...(key === undefined ? {} : { idempotencyKey: key }),
      traceId,
    };
    try {
      await this.deps.jobs.create(job);
    } catch (error) {
      // Not written (the same key created concurrently by another call, or a failed write): this
      // call's reservation is undone; the job the key names holds its own.
      await this.#releaseQuietly(job);
      if (error instanceof ConflictError && key !== undefined) {
        const existing = await this.deps.jobs.get(tenantId, id);
        if (existing) return this.#replay(existing, same);
      }
      throw error;
    }
    await this.#handOff(job);
    const budgetState = worstState(admission.statuses);
    return {
      jobId: job.id,
      status: job.status,
      priority: job.priority,
      replayed: false,
      ...(budgetState === undefined ? {} : { budgetState }),
    };
  }

  /** The job an idempotency key already names, if the request is the same; a queued one is handed over again. */
  async #replay(existing: Job, same: (job: Job) => boolean): Promise<EnqueueResult> {
    if (!same(existing)) {
      throw new ConflictError(
        'This idempotencyKey was used for a different job (payload, queue, priority, target or estimate); use a new key.',
        'idempotency_key_reused',
      );
    }
    // The earlier request may have failed after its write (a 503); a duplicate message is harmless to the worker.
    // A dead-lettered job is not handed over again: its message waits in the DLQ for a redrive.
    if (existing.status === 'queued') await this.#handOff(existing);
    return { jobId: existing.id, status: existing.status, priority: existing.priority, replayed: true };
  }

  /** A job that could not be written frees its reservation (if that fails too, it is only conservative). */
  async #releaseQuietly(job: Job): Promise<void> {
    const windows = job.budgetWindows ?? [];
    if (!this.deps.budgets || windows.length === 0) return;
    await this.deps.budgets
      .release(job.tenantId, windows, job.estimatedCostUsd ?? 0, job.traceId)
      .catch(() => undefined);
  }

  async #handOff(job: Job): Promise<void> {
    try {
      await this.deps.queue.send(
        jobMessageSchema.parse({ tenantId: job.tenantId, jobId: job.id, traceId: job.traceId }),
        job.priority,
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

/** What a completed job keeps of its expert call: outcome, status, latency, and the answer, cut to MAX_RESULT_BYTES. */
const callFields = (call: ExpertCallResult): Partial<Job> => {
  const json = JSON.stringify(call.result ?? null);
  const fits = Buffer.byteLength(json) <= MAX_RESULT_BYTES;
  return {
    outcome: call.outcome,
    ...(call.httpStatus === undefined ? {} : { httpStatus: call.httpStatus }),
    latencyMs: call.latencyMs,
    attempts: call.attempts,
    ...(fits
      ? { resultJson: json }
      : {
          resultText: Buffer.from(json).subarray(0, MAX_RESULT_BYTES).toString('utf8'),
          resultTruncated: true,
        }),
  };
};

/** A message names a job its tenant does not have: it goes back to the queue, and to the DLQ in the end. */
export class JobNotFoundError extends Error {
  override readonly name = 'JobNotFoundError';
}

/**
 * Another delivery of the job holds it while it commits the job's cost: this one goes back to the
 * queue and comes again after the visibility timeout, when that delivery has completed the job or
 * ended (a duplicate of an at-least-once queue; rare).
 */
export class JobClaimedError extends Error {
  override readonly name = 'JobClaimedError';
}

/**
 * How long a delivery holds a job it commits (see JobWorker.complete): longer than the worker's
 * Lambda timeout (30 s; an invocation cannot outlive it, so a claim outlives its holder), shorter
 * than the queues' visibility timeout (60 s; a redelivery after a holder died finds the claim
 * expired). The pillar's test checks both against its manifest.
 */
export const JOB_CLAIM_SECONDS = 40;

export type CompletionOutcome = 'completed' | 'already_completed';

export interface JobWorkerDeps {
  readonly jobs: JobRepository;
  readonly clock: Clock;
  /** The budgets the job's actual cost is committed to (absent: none kept). */
  readonly budgets?: Pick<Budgets, 'settle' | 'forget'> | undefined;
  /** How long a delivery holds a job whose cost it commits (default JOB_CLAIM_SECONDS). */
  readonly claimSeconds?: number;
  /** The job's actual cost in USD (absent: its estimate; see `complete`). */
  readonly costOf?: ((job: Job) => number) | undefined;
  /** Told once per job, when this delivery completed it (its metrics). */
  readonly onCompleted?: ((job: Job) => void) | undefined;
  /** Calls a job's expert (absent: a job with an endpoint fails, and comes back). */
  readonly experts?: ExpertCaller | undefined;
  /** Hands a routed job's outcome to the router (absent: not reported). */
  readonly outcomes?: OutcomeReporter | undefined;
  /** Where job_completed goes (absent: not published, e.g. no bus configured). */
  readonly events?: EventPublisher | undefined;
  /** Told when job_completed could not be published; the completion stands. */
  readonly onPublishError?: (error: unknown, jobId: string) => void;
}

/**
 * The worker side: completes a job once. The version-conditional write decides which delivery
 * completes it; every other delivery (a duplicate, a redelivery after a crash, a replayed hand-off)
 * finds it completed and does nothing. Only the completing delivery publishes job_completed.
 *
 * A job with budgets has its cost committed once: the delivery claims the job (a version-
 * conditional write with `claimedUntil`) before the ledger commit, the commit is marked in the
 * ledger item (a redelivery after a crash finds the mark and adds nothing), and once the job is
 * completed the mark is forgotten. Between the claim and the completion no other delivery can pass
 * the claim, and after the completion every delivery finds the job completed: so no delivery can
 * commit again once the mark is gone, and the ledger item holds only the marks of jobs in flight.
 */
export class JobWorker {
  constructor(private readonly deps: JobWorkerDeps) {}

  /**
   * The job with its expert's answer on it: called now and written as `completing` (conditional on
   * the version read; with this delivery's claim when `claim` is given), or as an earlier delivery
   * left it. A job without an expert as it is. `mine`: this delivery wrote it (and holds its claim).
   */
  async #withCall(
    job: Job,
    claim: string | undefined,
  ): Promise<{ job: Job; mine: boolean } | 'already_completed'> {
    if (job.endpoint === undefined || job.status === 'completing') return { job, mine: false };
    const call = await this.#callExpert(job);
    if (call === undefined) return { job, mine: false };
    const now = this.deps.clock.now().toISOString();
    const completing: Job = {
      ...job,
      status: 'completing',
      costUsd: this.deps.costOf?.(job) ?? actualCostOf(call, job.expertCostUsd ?? job.estimatedCostUsd ?? 0),
      ...callFields(call),
      ...(claim === undefined ? {} : { claimedUntil: claim }),
      updatedAt: now,
      version: job.version + 1,
    };
    try {
      await this.deps.jobs.replace(completing, job.version);
      return { job: completing, mine: true };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      // Another delivery wrote first: its answer stands (this call was a repeat the expert can tell).
      const other = await this.deps.jobs.get(job.tenantId, job.id);
      if (other?.status === 'completed') return 'already_completed';
      if (other?.status === 'completing') return { job: other, mine: false };
      throw error;
    }
  }

  /** The job is held by another delivery's claim that has not expired. */
  #heldByAnother(job: Job): boolean {
    return job.claimedUntil !== undefined && Date.parse(job.claimedUntil) > this.deps.clock.now().getTime();
  }

  /** This delivery claims the job until `until` (a version-conditional write), or learns it cannot. */
  async #claim(job: Job, until: string): Promise<Job | 'already_completed'> {
    if (this.#heldByAnother(job)) {
      throw new JobClaimedError(
        `job ${job.id} is being committed by another delivery until ${job.claimedUntil}`,
      );
    }
    const claimed: Job = {
      ...job,
      claimedUntil: until,
      updatedAt: this.deps.clock.now().toISOString(),
      version: job.version + 1,
    };
    try {
      await this.deps.jobs.replace(claimed, job.version);
      return claimed;
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const other = await this.deps.jobs.get(job.tenantId, job.id);
      if (other?.status === 'completed') return 'already_completed';
      throw new JobClaimedError(`job ${job.id} was changed by another delivery; this one comes back later`);
    }
  }

  /**
   * The job's expert call (none without an endpoint). At least once: a delivery that dies after the
   * call and before its result is written calls again; the expert gets the job id as
   * `Idempotency-Key` to tell a repeat.
   */
  async #callExpert(job: Job): Promise<ExpertCallResult | undefined> {
    if (job.endpoint === undefined) return undefined;
    if (!this.deps.experts)
      throw new Error(`job ${job.id} has an expert to call and no caller is configured`);
    return this.deps.experts.call({
      endpoint: job.endpoint,
      payload: JSON.parse(job.payloadJson) as unknown,
      jobId: job.id,
      traceId: job.traceId,
    });
  }

  /**
   * The job's message failed its last delivery and goes to the DLQ: the job says so, with why, so
   * its tenant sees it (GET scheduler/jobs/{jobId}). Its reservation stays: a redrive runs it again.
   */
  async markDeadLettered(message: JobMessage, error: unknown): Promise<void> {
    const job = await this.deps.jobs.get(message.tenantId, message.jobId);
    if (!job || job.status === 'completed') return;
    const now = this.deps.clock.now().toISOString();
    const described = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    await this.deps.jobs.replace(
      {
        ...job,
        // A completing job keeps its expert's answer: a redrive commits it without calling again.
        status: job.status === 'completing' ? 'completing' : 'dead_lettered',
        lastError: described.slice(0, 500),
        deadLetteredAt: now,
        updatedAt: now,
        version: job.version + 1,
      },
      job.version,
    );
  }

  async complete(message: JobMessage): Promise<CompletionOutcome> {
    const job = await this.deps.jobs.get(message.tenantId, message.jobId);
    if (!job) throw new JobNotFoundError(`job ${message.jobId} of ${message.tenantId} does not exist`);
    if (job.status === 'completed') {
      // Completed, but its outcome may not have reached the router (the delivery died in between).
      await this.#reportOutcome(job);
      return 'already_completed';
    }

    // A job with an expert: the call's result and cost are written first (`completing`), so a
    // delivery that dies after the call commits them without calling again. A job without one costs
    // its estimate. A job with budgets is claimed before its commit (see the class's comment).
    const windows = job.budgetWindows ?? [];
    const claim =
      this.deps.budgets !== undefined && windows.length > 0
        ? new Date(
            this.deps.clock.now().getTime() + (this.deps.claimSeconds ?? JOB_CLAIM_SECONDS) * 1000,
          ).toISOString()
        : undefined;
    if (claim !== undefined && this.#heldByAnother(job)) {
      throw new JobClaimedError(
        `job ${job.id} is being committed by another delivery until ${job.claimedUntil}`,
      );
    }
    const estimate = job.estimatedCostUsd ?? 0;
    const called = await this.#withCall(job, claim);
    if (called === 'already_completed') return called;
    const current = claim === undefined || called.mine ? called.job : await this.#claim(called.job, claim);
    if (current === 'already_completed') return current;
    const costUsd = current.costUsd ?? this.deps.costOf?.(current) ?? estimate;
    await this.deps.budgets?.settle(
      current.tenantId,
      current.id,
      current.budgetWindows ?? [],
      estimate,
      costUsd,
      current.traceId,
    );
    const now = this.deps.clock.now().toISOString();
    const { claimedUntil: _claim, ...unclaimed } = current;
    const completed: Job = {
      ...unclaimed,
      status: 'completed',
      costUsd,
      completedAt: now,
      updatedAt: now,
      version: current.version + 1,
    };
    try {
      await this.deps.jobs.replace(completed, current.version);
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      // Another delivery got there first; if it did not complete the job, this one comes back later.
      const current = await this.deps.jobs.get(job.tenantId, job.id);
      if (current?.status === 'completed') return 'already_completed';
      throw error;
    }
    // Completed: no delivery commits the job again, so its ledger marks can go.
    this.deps.budgets?.forget(completed.tenantId, completed.id, windows);

    this.deps.onCompleted?.(completed);
    try {
      await this.deps.events?.publish([
        eventOf(jobCompleted, {
          tenantId: job.tenantId,
          traceId: job.traceId,
          occurredAt: now,
          jobId: job.id,
          priority: job.priority,
          costUsd,
          ...(completed.expertId === undefined ? {} : { expertId: completed.expertId }),
          ...(completed.taskId === undefined ? {} : { taskId: completed.taskId }),
          ...(completed.outcome === undefined ? {} : { outcome: completed.outcome }),
          ...(completed.latencyMs === undefined ? {} : { latencyMs: completed.latencyMs }),
        }),
      ]);
    } catch (error) {
      this.deps.onPublishError?.(error, job.id);
    }
    // Last: if the router's queue refuses, this delivery fails and the next one (finding the job
    // completed) hands the outcome over, without calling the expert again.
    await this.#reportOutcome(completed);
    return 'completed';
  }

  /**
   * A routed job's outcome to the router, once it is completed, then marked on the job (an outbox
   * on the job record): a repeat after a failed mark is a duplicate the router ignores (the first
   * report of a task stands).
   */
  async #reportOutcome(job: Job): Promise<void> {
    if (!this.deps.outcomes || job.taskId === undefined || job.outcome === undefined) return;
    if (job.outcomeReportedAt !== undefined) return;
    await this.deps.outcomes.report({
      tenantId: job.tenantId,
      taskId: job.taskId,
      status: job.outcome,
      latencyMs: job.latencyMs ?? 0,
      traceId: job.traceId,
    });
    const now = this.deps.clock.now().toISOString();
    try {
      await this.deps.jobs.replace(
        { ...job, outcomeReportedAt: now, updatedAt: now, version: job.version + 1 },
        job.version,
      );
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
  }
}
