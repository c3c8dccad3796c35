import * as z from 'zod';
import { ConflictError, ForbiddenError } from '#shared/errors.js';
import type { EventPublisher } from '#shared/events.js';
import type { Clock } from '#shared/ports.js';
import type { TenantRecord } from '#shared/tenant-store.js';
import {
  createBernoulliThompson,
  createGreedy,
  createLinUcb,
  emptyLinUcbState,
  loadModelState,
  type ModelState,
  type Strategy,
  sparseFromJson,
  toStoredModelState,
} from './bandits/index.js';
import { DECISION_TTL_SECONDS, type ModelRecord, type RouteDecision, storableNumbers } from './routing.js';

// ---------------------------------------------------------------------------------------------
// Signals and the reward mapping (signal + value -> the scalar reward a strategy learns from).

export const REWARD_SIGNALS = [
  'success_at_k',
  'human_thumbs',
  'incident_free',
  'latency_ms',
  'cost',
] as const;
export type RewardSignal = (typeof REWARD_SIGNALS)[number];

/**
 * How one signal becomes a reward: `clamp01` (value clamped to [0, 1]), `positive` (value > 0 -> 1,
 * else 0), or `ignore` (recorded, not learnt from).
 */
export type SignalRule = 'clamp01' | 'positive' | 'ignore';
export type RewardMapping = Readonly<Record<RewardSignal, SignalRule>>;

/**
 * The default mapping of every tenant. Latency and cost are not rewards by themselves (a cheap,
 * wrong answer is not a success): they are recorded, and learnt from only when a tenant maps them.
 */
export const DEFAULT_REWARD_MAPPING: RewardMapping = {
  success_at_k: 'clamp01',
  incident_free: 'clamp01',
  human_thumbs: 'positive',
  latency_ms: 'ignore',
  cost: 'ignore',
};

/** The scalar reward of a signal under a mapping, or undefined when the signal is not learnt from. */
export const rewardOf = (
  signal: RewardSignal,
  value: number,
  mapping: RewardMapping = DEFAULT_REWARD_MAPPING,
): number | undefined => {
  if (!Number.isFinite(value)) return undefined;
  switch (mapping[signal]) {
    case 'clamp01':
      return Math.min(1, Math.max(0, value));
    case 'positive':
      return value > 0 ? 1 : 0;
    case 'ignore':
      return undefined;
  }
};

// ---------------------------------------------------------------------------------------------
// The message the API puts on the rewards queue.

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

export const rewardMessageSchema = z.strictObject({
  tenantId: z.string().min(1),
  taskId: z.string().min(1).max(128),
  signal: z.enum(REWARD_SIGNALS),
  value: finite,
  ts: z.iso.datetime(),
  receivedAt: z.iso.datetime(),
  traceId: z.string().min(1),
});
export type RewardMessage = z.output<typeof rewardMessageSchema>;

export interface RewardInput {
  readonly taskId: string;
  readonly signal: RewardSignal;
  readonly value: number;
  readonly ts?: string | undefined;
  readonly tenantId?: string | undefined;
}

/** Port: the rewards queue. `send` resolves once the queue has accepted the message. */
export interface RewardQueue {
  send(message: RewardMessage): Promise<void>;
}

/** The API side: validate, stamp and hand the reward to the queue (202 once it is accepted). */
export class RewardIntake {
  constructor(private readonly deps: { readonly queue: RewardQueue; readonly clock: Clock }) {}

  async accept(
    tenantId: string,
    input: RewardInput,
    traceId: string,
  ): Promise<{ accepted: true; taskId: string }> {
    if (input.tenantId !== undefined && input.tenantId !== tenantId) {
      throw new ForbiddenError(
        'The body names another tenant than the one the request acts in.',
        [],
        'tenant_mismatch',
      );
    }
    const receivedAt = this.deps.clock.now().toISOString();
    await this.deps.queue.send(
      rewardMessageSchema.parse({
        tenantId,
        taskId: input.taskId,
        signal: input.signal,
        value: input.value,
        ts: input.ts ?? receivedAt,
        receivedAt,
        traceId,
      }),
    );
    return { accepted: true, taskId: input.taskId };
  }
}

// ---------------------------------------------------------------------------------------------
// The consumer side: join to the decision, exactly-once effect, no lost updates.

/** The durable record that (taskId, signal) has been ingested (sk `<taskId>#<signal>`). */
export interface RewardMarker extends TenantRecord {
  readonly taskId: string;
  readonly signal: RewardSignal;
  readonly value: number;
  /** The scalar learnt from, absent when the signal was only recorded. */
  readonly reward?: number;
  readonly outcome: 'applied' | 'recorded';
  readonly modelKey?: string;
  readonly expertId: string;
  readonly ts: string;
  readonly receivedAt: string;
  readonly traceId: string;
}

export type RejectionReason = 'unknown_task';

/** A reward that could not be joined to a decision: kept, never silently dropped. */
export interface RewardRejection extends TenantRecord {
  readonly taskId: string;
  readonly signal: RewardSignal;
  readonly value: number;
  readonly reason: RejectionReason;
  readonly ts: string;
  readonly receivedAt: string;
  readonly traceId: string;
}

/** Create is conditional on absence (ConflictError when the record exists). */
export interface CreateOnlyRepository<T extends TenantRecord> {
  create(record: T): Promise<void>;
  get(tenantId: string, id: string): Promise<T | undefined>;
}

/** Model states with the version-conditional writes the consumer needs (TenantRecordStore). */
export interface WritableModelStateRepository {
  get(tenantId: string, modelKey: string): Promise<ModelRecord | undefined>;
  create(record: ModelRecord): Promise<void>;
  replace(record: ModelRecord, expectedVersion: number): Promise<void>;
}

/**
 * How many `taskId#signal` ids a model item remembers. The id is checked and appended in the same
 * version-conditional write as the update, so a redelivery can never apply a reward twice while its id
 * is in the window (see the README). 512 ids of ≤ 160 bytes stay under 82 KB of the 400 KB item.
 */
export const APPLIED_WINDOW = 512;

export const rewardIdOf = (taskId: string, signal: RewardSignal): string => `${taskId}#${signal}`;

/** The strategy whose `update` learns into a stored state of this kind (update needs no tenant knobs). */
export const updaterFor = (state: ModelState): Strategy<ModelState> => {
  switch (state.model) {
    case 'ridge': {
      const ridge = state as ModelState & { dimension: number; lambda: number };
      return createLinUcb({
        dimension: ridge.dimension,
        lambda: ridge.lambda,
      }) as unknown as Strategy<ModelState>;
    }
    case 'beta-bernoulli':
      return createBernoulliThompson() as unknown as Strategy<ModelState>;
    default:
      return createGreedy() as unknown as Strategy<ModelState>;
  }
};

/** The state of a model key nobody has written yet (as the router decides on it). */
export const initialStateOf = (modelKey: string): ModelState => {
  const ridge = /^ridge:d(\d+)$/.exec(modelKey);
  if (ridge?.[1]) return emptyLinUcbState(Number(ridge[1]), 1);
  if (modelKey === 'beta-bernoulli') return createBernoulliThompson().initialState();
  return createGreedy().initialState();
};

export type RewardOutcome =
  | {
      readonly outcome: 'applied';
      readonly modelKey: string;
      readonly modelVersion: number;
      readonly attempts: number;
    }
  | { readonly outcome: 'recorded' }
  | { readonly outcome: 'duplicate' }
  | { readonly outcome: 'rejected'; readonly reason: RejectionReason };

/** The model write kept conflicting past the retry budget: the message must come back later. */
export class ModelContentionError extends Error {
  override readonly name = 'ModelContentionError';
}

export interface RewardConsumerDeps {
  readonly decisions: { get(tenantId: string, taskId: string): Promise<RouteDecision | undefined> };
  readonly markers: CreateOnlyRepository<RewardMarker>;
  readonly rejections: CreateOnlyRepository<RewardRejection>;
  readonly models: WritableModelStateRepository;
  readonly clock: Clock;
  readonly events?: EventPublisher | undefined;
  readonly onPublishError?: (error: unknown) => void;
  /** The tenant's reward mapping (the default for every tenant until the config API carries one). */
  readonly mappingFor?: (tenantId: string) => Promise<RewardMapping> | RewardMapping;
  /** Conditional-write attempts before giving up (the message is then redelivered). */
  readonly maxAttempts?: number;
  /** Waits between attempts (jitter); tests pass a no-op. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Ingests one reward: join -> dedupe -> map -> learn (optimistic concurrency) -> mark -> tell.
 *
 * Exactly-once effect per (taskId, signal): the model item carries the ids of its last
 * APPLIED_WINDOW rewards and the update is written with `version = :expected` (or absence for the
 * first write), so the check "not applied yet" and the update are one atomic write; the marker item
 * is written after, and is what recognises a duplicate beyond the window. A crash between the two
 * writes leaves the id in the model item, so the redelivery is recognised as a duplicate and only
 * writes the marker.
 */
export class RewardConsumer {
  readonly #maxAttempts: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;

  constructor(private readonly deps: RewardConsumerDeps) {
    this.#maxAttempts = deps.maxAttempts ?? 10;
    this.#sleep = deps.sleep ?? defaultSleep;
    this.#random = deps.random ?? Math.random;
  }

  async ingest(message: RewardMessage): Promise<RewardOutcome> {
    const { tenantId, taskId, signal } = message;
    const id = rewardIdOf(taskId, signal);
    const now = this.deps.clock.now();

    const decision = await this.deps.decisions.get(tenantId, taskId);
    const expired =
      decision !== undefined &&
      new Date(decision.createdAt).getTime() + DECISION_TTL_SECONDS * 1000 <= now.getTime();
    if (!decision || expired) {
      await this.#reject(message, 'unknown_task');
      return { outcome: 'rejected', reason: 'unknown_task' };
    }

    if (await this.deps.markers.get(tenantId, id)) return { outcome: 'duplicate' };

    const mapping = (await this.deps.mappingFor?.(tenantId)) ?? DEFAULT_REWARD_MAPPING;
    const reward = rewardOf(signal, message.value, mapping);
    let outcome: RewardOutcome;
    if (reward === undefined || decision.modelKey === undefined) {
      outcome = { outcome: 'recorded' };
    } else {
      const learnt = await this.#learn(tenantId, decision, decision.modelKey, id, reward);
      if (learnt === 'duplicate') {
        await this.#mark(message, decision, undefined, 'applied');
        return { outcome: 'duplicate' };
      }
      outcome = learnt;
    }
    const fresh = await this.#mark(
      message,
      decision,
      outcome.outcome === 'applied' ? reward : undefined,
      outcome.outcome === 'applied' ? 'applied' : 'recorded',
    );
    if (!fresh) return { outcome: 'duplicate' };
    await this.#publish(message, now);
    return outcome;
  }

  async #learn(
    tenantId: string,
    decision: RouteDecision,
    modelKey: string,
    id: string,
    reward: number,
  ): Promise<RewardOutcome | 'duplicate'> {
    const x = sparseFromJson(decision.features);
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt += 1) {
      const stored = await this.deps.models.get(tenantId, modelKey);
      const applied = stored?.appliedRewardIds ?? [];
      if (applied.includes(id)) return 'duplicate';
      const state = stored ? loadModelState(stored.state) : initialStateOf(modelKey);
      const next = updaterFor(state).update(state, decision.expertId, x, reward);
      const now = this.deps.clock.now().toISOString();
      const record: ModelRecord = storableNumbers({
        tenantId,
        id: modelKey,
        version: (stored?.version ?? 0) + 1,
        createdAt: stored?.createdAt ?? now,
        updatedAt: now,
        state: toStoredModelState(next),
        appliedRewardIds: [...applied, id].slice(-APPLIED_WINDOW),
      });
      try {
        if (stored) await this.deps.models.replace(record, stored.version);
        else await this.deps.models.create(record);
        return { outcome: 'applied', modelKey, modelVersion: record.version, attempts: attempt };
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        if (attempt < this.#maxAttempts) {
          // Full jitter on a small exponential base: concurrent consumers spread out.
          await this.#sleep(this.#random() * Math.min(200, 5 * 2 ** attempt));
        }
      }
    }
    throw new ModelContentionError(
      `Model ${modelKey} of tenant ${tenantId} kept changing; ${this.#maxAttempts} attempts failed.`,
    );
  }

  /** The fields a marker and a rejection share: the reward as it arrived, keyed by (taskId, signal). */
  #receipt(message: RewardMessage) {
    const now = this.deps.clock.now().toISOString();
    return {
      tenantId: message.tenantId,
      id: rewardIdOf(message.taskId, message.signal),
      version: 1,
      createdAt: now,
      updatedAt: now,
      taskId: message.taskId,
      signal: message.signal,
      value: message.value,
      ts: message.ts,
      receivedAt: message.receivedAt,
      traceId: message.traceId,
    };
  }

  /** Creates a record once; false when it already existed (a redelivery or a concurrent duplicate). */
  async #createOnce<R extends TenantRecord>(
    repository: CreateOnlyRepository<R>,
    record: R,
  ): Promise<boolean> {
    try {
      await repository.create(record);
      return true;
    } catch (error) {
      if (error instanceof ConflictError) return false;
      throw error;
    }
  }

  /** Writes the marker; false when it already existed (a concurrent duplicate got there first). */
  #mark(
    message: RewardMessage,
    decision: RouteDecision,
    reward: number | undefined,
    outcome: RewardMarker['outcome'],
  ): Promise<boolean> {
    return this.#createOnce(this.deps.markers, {
      ...this.#receipt(message),
      ...(reward === undefined ? {} : { reward }),
      outcome,
      ...(decision.modelKey === undefined ? {} : { modelKey: decision.modelKey }),
      expertId: decision.expertId,
    });
  }

  /** Records a rejection; one record is enough if the same reward is rejected again. */
  async #reject(message: RewardMessage, reason: RejectionReason): Promise<void> {
    await this.#createOnce(this.deps.rejections, { ...this.#receipt(message), reason });
  }

  async #publish(message: RewardMessage, now: Date): Promise<void> {
    if (!this.deps.events) return;
    try {
      await this.deps.events.publish([
        {
          type: 'reward_ingested',
          detail: {
            tenantId: message.tenantId,
            traceId: message.traceId,
            occurredAt: now.toISOString(),
            taskId: message.taskId,
            signal: message.signal,
            value: message.value,
            ingestionLatencyMs: Math.max(0, now.getTime() - new Date(message.receivedAt).getTime()),
          },
        },
      ]);
    } catch (error) {
      this.deps.onPublishError?.(error);
    }
  }
}
