import { ConflictError } from '#shared/errors.js';
import { type ConductorEvent, type EventPublisher, eventOf } from '#shared/ports/events.js';
import type { TenantRecord } from '#shared/ports/records.js';
import type { Clock } from '#shared/ports/system.js';
import { rewardIngested } from '../../events.js';
import {
  createBernoulliThompson,
  createGreedy,
  createLinUcb,
  emptyLinUcbState,
  loadModelState,
  type ModelState,
  type SparseVector,
  type Strategy,
  sparseFromJson,
  toStoredModelState,
} from './bandits/index.js';
import type { LearntObservation } from './drift.js';
import type { RewardMessage } from './reward-intake.js';
import {
  DEFAULT_REWARD_MAPPING,
  type RewardMapping,
  type RewardSignal,
  rewardOf,
  rewardValueProblem,
} from './reward-mapping.js';
import type { RejectionReason, RewardRejection } from './reward-rejections.js';
import {
  DECISION_TTL_SECONDS,
  type ModelRecord,
  modelOfKey,
  type RouteDecision,
  storableNumbers,
} from './routing.js';

// Signals and the reward mapping live in reward-mapping.ts (part of the router configuration).
export {
  DEFAULT_REWARD_MAPPING,
  REWARD_SIGNALS,
  type RewardMapping,
  type RewardSignal,
  rewardOf,
  rewardValueProblem,
  SIGNAL_RANGES,
  type SignalRule,
} from './reward-mapping.js';

// ---------------------------------------------------------------------------------------------
// The consumer side (the reward function): join to the decision, exactly-once effect, no lost updates.

/** The durable record that (taskId, signal) has been ingested (sk `<taskId>#<signal>`). */
export interface RewardMarker extends TenantRecord {
  readonly taskId: string;
  readonly signal: RewardSignal;
  /** The reward as it arrived (absent on a `window` marker, see `markedBy`). */
  readonly value?: number;
  /** The scalar learnt from, absent when the signal was only recorded. */
  readonly reward?: number;
  readonly outcome: 'applied' | 'recorded';
  readonly modelKey?: string;
  readonly expertId?: string;
  readonly ts?: string;
  readonly receivedAt?: string;
  readonly traceId?: string;
  /**
   * `window`: written by a later model write, when this reward's id was about to leave the model's
   * applied-id window and its own marker had not been written (the write after the model update
   * failed). The reward was applied; the marker keeps a redelivery from applying it again.
   */
  readonly markedBy?: 'window';
}

// Rejections live in reward-rejections.ts (the API lists them without bundling the consumer).
export type { RejectionReason, RewardRejection } from './reward-rejections.js';

/** Create is conditional on absence (ConflictError when the record exists). */
export interface CreateOnlyRepository<T extends TenantRecord> {
  create(record: T): Promise<void>;
  get(tenantId: string, id: string): Promise<T | undefined>;
}

/**
 * Reads several records of one tenant in one round trip (TenantRecordStore: one BatchGetItem per 100
 * ids). Missing ids are absent from the map.
 */
export interface BatchReadable<T extends TenantRecord> {
  getMany(tenantId: string, ids: readonly string[]): Promise<ReadonlyMap<string, T>>;
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
 * is in the window (see the README); an id leaves it only once its marker exists, so any size is safe.
 * The window is rewritten with every model write, so its size is paid on every reward: 32 ids of
 * ~30 bytes are about 1 KB (512 were 17 KB, 70 % of a 4-expert model at d = 32, bench:cost).
 */
export const APPLIED_WINDOW = 32;

/**
 * The most rewards one model write learns: a larger group of a batch is written in consecutive
 * chunks. Every id of a write must still be in the window right after it (a crash before the markers
 * relies on it), so a chunk is at most half the window (16: above the rewards queue's batch of 10).
 */
export const MAX_REWARDS_PER_MODEL_WRITE = APPLIED_WINDOW / 2;

/** PutEvents takes at most 10 entries: the events of a batch go out in calls of this size, concurrently. */
const EVENTS_PER_PUBLISH = 10;

export const rewardIdOf = (taskId: string, signal: RewardSignal): string => `${taskId}#${signal}`;

/**
 * The strategy whose `update` learns into a stored state of this kind, with the tenant's forgetting
 * factor (ridge and Beta models; the running means of greedy and Gaussian Thompson keep everything).
 */
export const updaterFor = (state: ModelState, discount = 1): Strategy<ModelState> => {
  switch (state.model) {
    case 'ridge': {
      const ridge = state as ModelState & { dimension: number; lambda: number };
      return createLinUcb({
        dimension: ridge.dimension,
        lambda: ridge.lambda,
        discount,
      }) as unknown as Strategy<ModelState>;
    }
    case 'beta-bernoulli':
      return createBernoulliThompson({ discount }) as unknown as Strategy<ModelState>;
    default:
      return createGreedy() as unknown as Strategy<ModelState>;
  }
};

/** A model key that `modelKeyOf` never produces: guessing a state for it would corrupt the model. */
export class UnknownModelKeyError extends Error {
  override readonly name = 'UnknownModelKeyError';
}

/**
 * The state of a model key nobody has written yet, exactly as the router decides on it (a feature
 * spec or a clip other than 5 gives a ridge key a `:f<hash>` suffix: still a ridge state of that d).
 */
export const initialStateOf = (modelKey: string): ModelState => {
  const model = modelOfKey(modelKey);
  switch (model?.kind) {
    case 'ridge':
      return emptyLinUcbState(model.dimension as number, 1);
    case 'beta-bernoulli':
      return createBernoulliThompson().initialState();
    case 'running-means':
      return createGreedy().initialState();
    default:
      throw new UnknownModelKeyError(`No strategy learns into model key ${modelKey}.`);
  }
};

/** A reward learnt for the first time, with the decision it was joined to. */
export interface AppliedReward {
  readonly tenantId: string;
  readonly decision: RouteDecision;
  readonly reward: number;
  readonly traceId: string;
}

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

/**
 * What became of one message of a batch: its outcome once everything it needs is durable, or the
 * error that kept it from being so (the message must be redelivered).
 */
export type RewardResult =
  | { readonly ok: true; readonly outcome: RewardOutcome }
  | { readonly ok: false; readonly error: unknown };

/** The model write kept conflicting past the retry budget: the message must come back later. */
export class ModelContentionError extends Error {
  override readonly name = 'ModelContentionError';
}

export interface RewardConsumerDeps {
  /** Decisions by task id: `getMany` for a batch, a consistent `get` to confirm a miss. */
  readonly decisions: {
    get(tenantId: string, taskId: string): Promise<RouteDecision | undefined>;
  } & BatchReadable<RouteDecision>;
  readonly markers: CreateOnlyRepository<RewardMarker> & BatchReadable<RewardMarker>;
  readonly rejections: CreateOnlyRepository<RewardRejection>;
  readonly models: WritableModelStateRepository;
  readonly clock: Clock;
  readonly events?: EventPublisher | undefined;
  readonly onPublishError?: (error: unknown) => void;
  /** The tenant's reward mapping (the default for every tenant until the config API carries one). */
  readonly mappingFor?: (tenantId: string) => Promise<RewardMapping> | RewardMapping;
  /**
   * Told, after each model write, of the rewards it learnt and the model as it stood before them
   * (the drift signal, drift.ts). Best effort: its failure is reported through `onPublishError` and
   * fails nothing (the rewards are learnt).
   */
  readonly onLearnt?: (
    tenantId: string,
    modelKey: string,
    before: ModelState,
    learnt: readonly LearntObservation[],
  ) => Promise<void> | void;
  /** The tenant's forgetting factor γ (its router configuration's `discount`; absent: 1, no forgetting). */
  readonly discountFor?: (tenantId: string) => Promise<number> | number;
  /**
   * Told of the rewards a batch learnt for the first time (not the duplicates), once their markers
   * are written: the canary watch counts them per arm. Best effort: its failure is reported through
   * `onAppliedError` and fails no message (the rewards are learnt).
   */
  readonly onApplied?: (applied: readonly AppliedReward[]) => Promise<void>;
  readonly onAppliedError?: (error: unknown) => void;
  /** Conditional-write attempts before giving up (the message is then redelivered). */
  readonly maxAttempts?: number;
  /** Waits between attempts (jitter); tests pass a no-op. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Conditional-write attempts on one model before its rewards fail (and come back after the
 * visibility timeout). With full jitter on 5 ms x 2^attempt capped at MAX_BACKOFF_MS, the waits of
 * all attempts add up to at most about 4 s (2 s on average): inside the reward function's 10 s
 * timeout, so contention from another process is waited out instead of costing a redelivery.
 */
export const DEFAULT_MAX_ATTEMPTS = 20;
const MAX_BACKOFF_MS = 250;

/** One message of a batch, where it sits in the batch. */
interface Slot {
  readonly index: number;
  readonly message: RewardMessage;
  readonly id: string;
}

/** A message that cannot be learnt from, and why. */
interface Rejected extends Slot {
  readonly reason: RejectionReason;
  readonly detail?: string | undefined;
}

/** A message joined to its decision. */
interface Joined extends Slot {
  readonly decision: RouteDecision;
}

/** A message whose reward a model learns from. */
interface Learnable extends Joined {
  readonly x: SparseVector;
  readonly reward: number;
}

/** What a model write did with one reward of its chunk. */
type Learnt =
  | { readonly outcome: 'applied'; readonly modelVersion: number; readonly attempts: number }
  | { readonly outcome: 'duplicate' }
  | { readonly outcome: 'failed'; readonly error: unknown };

/** A marker to write, and the outcome of its message once it is written. */
interface Mark extends Joined {
  readonly reward?: number | undefined;
  readonly marker: RewardMarker['outcome'];
  readonly outcome: RewardOutcome;
}

const pushTo = <K, V>(map: Map<K, V[]>, key: K, value: V): void => {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
};

const chunksOf = <T>(items: readonly T[], size: number): T[][] => {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
};

/**
 * Ingests rewards a batch at a time: join -> dedupe -> map -> learn (optimistic concurrency) ->
 * mark -> tell.
 *
 * Exactly-once effect per (taskId, signal): the model item carries the ids of its last
 * APPLIED_WINDOW rewards and the update is written with `version = :expected` (or absence for the
 * first write), so the check "not applied yet" and the update are one atomic write; the marker item
 * is written after, and is what recognises a duplicate beyond the window. A crash between the two
 * writes leaves the id in the model item, so the redelivery is recognised as a duplicate and only
 * writes the marker.
 *
 * A batch reads its decisions and markers with one batch read per tenant, and learns each
 * (tenant, model key) group with one model read and one conditional write that applies all its new
 * rewards in order and appends all their ids (re-read and re-applied whole on a conflict): the
 * argument above holds per write, for every id of it. Groups are independent and run concurrently;
 * a group whose write fails fails only its own messages, and a message is reported successful only
 * once its effect and its marker are durable, so whatever is not gets redelivered.
 */
export class RewardConsumer {
  readonly #maxAttempts: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  /** The last write of each (tenant, model) in this consumer: the next one waits for it. */
  readonly #turns = new Map<string, Promise<void>>();

  constructor(private readonly deps: RewardConsumerDeps) {
    this.#maxAttempts = deps.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    this.#sleep = deps.sleep ?? defaultSleep;
    this.#random = deps.random ?? Math.random;
  }

  /** Ingests one reward (a batch of one); throws what would make its message come back. */
  async ingest(message: RewardMessage): Promise<RewardOutcome> {
    const [result] = await this.ingestBatch([message]);
    if (!result) throw new Error('The reward was not processed.');
    if (!result.ok) throw result.error;
    return result.outcome;
  }

  /**
   * Ingests a batch; the results are in the order of `messages`, one each, and the call itself does
   * not throw. A (tenant, taskId, signal) seen twice in the batch counts once: the later copies are
   * duplicates, and fail with the first when it fails (so neither is lost).
   */
  async ingestBatch(messages: readonly RewardMessage[]): Promise<RewardResult[]> {
    const results: (RewardResult | undefined)[] = messages.map(() => undefined);
    const succeed = (index: number, outcome: RewardOutcome) => {
      results[index] = { ok: true, outcome };
    };
    const fail = (index: number, error: unknown) => {
      results[index] = { ok: false, error };
    };

    // Copies inside the batch: only the first of each (tenant, taskId, signal) is ingested.
    const firstOf = new Map<string, number>();
    const copies: (readonly [copy: number, first: number])[] = [];
    const byTenant = new Map<string, Slot[]>();
    const rejected: Rejected[] = [];
    messages.forEach((message, index) => {
      const id = rewardIdOf(message.taskId, message.signal);
      const key = `${message.tenantId}\n${id}`;
      const first = firstOf.get(key);
      if (first !== undefined) {
        copies.push([index, first]);
        return;
      }
      firstOf.set(key, index);
      // A poison value (one intake refuses) that got in anyway: rejected and kept, not redelivered
      // until the DLQ, and never joined, stored as a number or learnt from.
      const problem = rewardValueProblem(message.signal, message.value);
      if (problem)
        rejected.push({ index, message, id, reason: 'value_out_of_range', detail: `value ${problem}` });
      else pushTo(byTenant, message.tenantId, { index, message, id });
    });
    const now = this.deps.clock.now();
    const recorded: Mark[] = [];
    const groups = new Map<string, Learnable[]>();
    await Promise.all(
      [...byTenant].map(async ([tenantId, slots]) => {
        let decisions: ReadonlyMap<string, RouteDecision>;
        let markers: ReadonlyMap<string, RewardMarker>;
        let mapping: RewardMapping;
        try {
          [decisions, markers, mapping] = await Promise.all([
            this.#decisionsOf(
              tenantId,
              slots.map((slot) => slot.message.taskId),
            ),
            this.deps.markers.getMany(
              tenantId,
              slots.map((slot) => slot.id),
            ),
            this.#mappingOf(tenantId),
          ]);
        } catch (error) {
          for (const slot of slots) fail(slot.index, error);
          return;
        }
        for (const slot of slots) {
          const decision = decisions.get(slot.message.taskId);
          if (
            !decision ||
            new Date(decision.createdAt).getTime() + DECISION_TTL_SECONDS * 1000 <= now.getTime()
          ) {
            rejected.push({ ...slot, reason: 'unknown_task' });
          } else if (markers.has(slot.id)) {
            succeed(slot.index, { outcome: 'duplicate' });
          } else {
            try {
              const reward = rewardOf(slot.message.signal, slot.message.value, mapping);
              if (reward === undefined || decision.modelKey === undefined) {
                recorded.push({ ...slot, decision, marker: 'recorded', outcome: { outcome: 'recorded' } });
              } else {
                const x = sparseFromJson(decision.features);
                pushTo(groups, `${tenantId}\n${decision.modelKey}`, { ...slot, decision, x, reward });
              }
            } catch (error) {
              fail(slot.index, error);
            }
          }
        }
      }),
    );

    const ingested: Slot[] = [];
    const markAll = (marks: readonly Mark[]) =>
      Promise.all(
        marks.map(async (mark) => {
          try {
            const fresh = await this.#mark(mark.message, mark.decision, mark.reward, mark.marker);
            if (!fresh || mark.outcome.outcome === 'duplicate') {
              succeed(mark.index, { outcome: 'duplicate' });
            } else {
              succeed(mark.index, mark.outcome);
              ingested.push(mark);
            }
          } catch (error) {
            fail(mark.index, error);
          }
        }),
      );

    await Promise.all([
      ...rejected.map(async (slot) => {
        try {
          await this.#reject(slot);
          succeed(slot.index, { outcome: 'rejected', reason: slot.reason });
        } catch (error) {
          fail(slot.index, error);
        }
      }),
      markAll(recorded),
      ...[...groups.values()].map((group) => this.#learnGroup(group, markAll, fail)),
    ]);

    await this.#publish(ingested.sort((a, b) => a.index - b.index));

    for (const [copy, first] of copies) {
      const result = results[first];
      results[copy] = result?.ok ? { ok: true, outcome: { outcome: 'duplicate' } } : result;
    }
    return results.map(
      (result) => result ?? { ok: false, error: new Error('The reward was not processed.') },
    );
  }

  /** The decisions of some tasks: one batch read, and a consistent read to confirm each miss. */
  async #decisionsOf(
    tenantId: string,
    taskIds: readonly string[],
  ): Promise<ReadonlyMap<string, RouteDecision>> {
    const found = new Map(await this.deps.decisions.getMany(tenantId, taskIds));
    // A batch read may lag a decision written a moment ago: never reject a reward on that alone.
    const missing = [...new Set(taskIds)].filter((taskId) => !found.has(taskId));
    const confirmed = await Promise.all(missing.map((taskId) => this.deps.decisions.get(tenantId, taskId)));
    missing.forEach((taskId, k) => {
      const decision = confirmed[k];
      if (decision) found.set(taskId, decision);
    });
    return found;
  }

  async #mappingOf(tenantId: string): Promise<RewardMapping> {
    return (await this.deps.mappingFor?.(tenantId)) ?? DEFAULT_REWARD_MAPPING;
  }

  /**
   * Learns one (tenant, model key) group in chunks of MAX_REWARDS_PER_MODEL_WRITE, one conditional
   * write each, and marks each chunk once it is written. A chunk that cannot be written fails its
   * messages and the ones of the chunks after it.
   */
  async #learnGroup(
    group: readonly Learnable[],
    markAll: (marks: readonly Mark[]) => Promise<unknown>,
    fail: (index: number, error: unknown) => void,
  ): Promise<void> {
    const chunks = chunksOf(group, MAX_REWARDS_PER_MODEL_WRITE);
    for (const [c, chunk] of chunks.entries()) {
      let learnt: Learnt[];
      try {
        learnt = await this.#learn(chunk);
      } catch (error) {
        for (const item of chunks.slice(c).flat()) fail(item.index, error);
        return;
      }
      const marks: Mark[] = [];
      chunk.forEach((item, k) => {
        const result = learnt[k] as Learnt;
        if (result.outcome === 'failed') fail(item.index, result.error);
        else if (result.outcome === 'duplicate') {
          // Applied by an earlier delivery that crashed before its marker: only the marker is missing.
          // What it learnt then is not known here (a re-sent reward may carry another value): no reward.
          marks.push({ ...item, reward: undefined, marker: 'applied', outcome: { outcome: 'duplicate' } });
        } else {
          const { modelKey } = item.decision as RouteDecision & { modelKey: string };
          marks.push({
            ...item,
            marker: 'applied',
            outcome: {
              outcome: 'applied',
              modelKey,
              modelVersion: result.modelVersion,
              attempts: result.attempts,
            },
          });
        }
      });
      await markAll(marks);
      await this.#tellApplied(marks);
      await this.#learnShadows(chunk.filter((_, k) => learnt[k]?.outcome === 'applied'));
    }
  }

  /**
   * A shadow experiment's candidate learns too: a reward of a decision the shadow evaluated is also
   * learnt into the candidate's model when its kind differs from the served one's (a Thompson shadow
   * next to a LinUCB baseline), so the shadow decides on a model that learns from the same traffic.
   * Best effort, after the served model and the markers are durable: the candidate's own applied-id
   * window keeps it exactly once while the id is in it; a failure is reported, and fails nothing.
   */
  async #learnShadows(applied: readonly Learnable[]): Promise<void> {
    const groups = new Map<string, Learnable[]>();
    for (const item of applied) {
      const shadowKey = item.decision.experiment?.shadow?.modelKey;
      if (shadowKey === undefined || shadowKey === item.decision.modelKey) continue;
      pushTo(groups, `${item.message.tenantId}\n${shadowKey}`, {
        ...item,
        decision: { ...item.decision, modelKey: shadowKey },
      });
    }
    for (const group of groups.values()) {
      for (const chunk of chunksOf(group, MAX_REWARDS_PER_MODEL_WRITE)) {
        try {
          const results = await this.#learn(chunk);
          const failed = results.find((r) => r.outcome === 'failed');
          if (failed?.outcome === 'failed') throw failed.error;
        } catch (error) {
          this.deps.onAppliedError?.(error);
        }
      }
    }
  }

  async #tellApplied(marks: readonly Mark[]): Promise<void> {
    if (!this.deps.onApplied) return;
    const applied = marks.flatMap((mark) =>
      mark.outcome.outcome === 'applied' && mark.reward !== undefined
        ? [
            {
              tenantId: mark.message.tenantId,
              decision: mark.decision,
              reward: mark.reward,
              traceId: mark.message.traceId,
            },
          ]
        : [],
    );
    if (applied.length === 0) return;
    try {
      await this.deps.onApplied(applied);
    } catch (error) {
      this.deps.onAppliedError?.(error);
    }
  }

  /**
   * One model read, every reward of the chunk not yet in the window applied in order, one
   * version-conditional write carrying the state and the ids; on a conflict, all over again.
   * A reward the strategy refuses (it throws) fails alone, the others go on.
   */
  async #learn(chunk: readonly Learnable[]): Promise<Learnt[]> {
    const first = chunk[0];
    if (!first) return [];
    const { tenantId } = first.message;
    const modelKey = first.decision.modelKey as string;
    const discount = (await this.deps.discountFor?.(tenantId)) ?? 1;
    return this.#serialised(`${tenantId}\n${modelKey}`, () =>
      this.#write(chunk, tenantId, modelKey, discount),
    );
  }

  /**
   * Runs the writes of one model one at a time in this consumer (this process): two batches of one
   * tenant's rewards delivered at once (the event source mapping's concurrency) then take turns
   * instead of colliding on the version and burning their retries. Consumers in other processes
   * still race; the conditional write and the retries below settle that.
   */
  async #serialised<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#turns.get(key) ?? Promise.resolve();
    const mine = previous.then(work, work);
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    this.#turns.set(key, settled);
    try {
      return await mine;
    } finally {
      if (this.#turns.get(key) === settled) this.#turns.delete(key);
    }
  }

  async #write(
    chunk: readonly Learnable[],
    tenantId: string,
    modelKey: string,
    discount: number,
  ): Promise<Learnt[]> {
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt += 1) {
      const stored = await this.deps.models.get(tenantId, modelKey);
      const window = stored?.appliedRewardIds ?? [];
      const seen = new Set(window);
      let state = stored ? loadModelState(stored.state) : initialStateOf(modelKey);
      const before = state;
      const updater = updaterFor(state, discount);
      const appended: string[] = [];
      const learnt: LearntObservation[] = [];
      const fates = chunk.map((item): 'new' | 'duplicate' | { readonly error: unknown } => {
        if (seen.has(item.id)) return 'duplicate';
        try {
          state = updater.update(state, item.decision.expertId, item.x, item.reward);
        } catch (error) {
          return { error };
        }
        seen.add(item.id);
        appended.push(item.id);
        learnt.push({ expertId: item.decision.expertId, x: item.x, reward: item.reward });
        return 'new';
      });
      let version = stored?.version ?? 0;
      if (appended.length > 0) {
        // No id leaves the window before its marker exists: that closes the one gap of the
        // exactly-once argument (a marker write that failed after its model write).
        const kept = [...window, ...appended];
        await this.#markLeaving(tenantId, modelKey, kept.slice(0, Math.max(0, kept.length - APPLIED_WINDOW)));
        const now = this.deps.clock.now().toISOString();
        const record: ModelRecord = storableNumbers({
          tenantId,
          id: modelKey,
          version: version + 1,
          createdAt: stored?.createdAt ?? now,
          updatedAt: now,
          state: toStoredModelState(state),
          appliedRewardIds: [...window, ...appended].slice(-APPLIED_WINDOW),
        });
        try {
          if (stored) await this.deps.models.replace(record, stored.version);
          else await this.deps.models.create(record);
        } catch (error) {
          if (!(error instanceof ConflictError)) throw error;
          if (attempt < this.#maxAttempts) {
            // Full jitter on an exponential base capped at 250 ms: concurrent consumers spread out.
            await this.#sleep(this.#random() * Math.min(MAX_BACKOFF_MS, 5 * 2 ** attempt));
          }
          continue;
        }
        version = record.version;
        try {
          await this.deps.onLearnt?.(tenantId, modelKey, before, learnt);
        } catch (error) {
          this.deps.onPublishError?.(error);
        }
      }
      return fates.map((fate): Learnt => {
        if (fate === 'new') return { outcome: 'applied', modelVersion: version, attempts: attempt };
        if (fate === 'duplicate') return { outcome: 'duplicate' };
        return { outcome: 'failed', error: fate.error };
      });
    }
    throw new ModelContentionError(
      `Model ${modelKey} of tenant ${tenantId} kept changing; ${this.#maxAttempts} attempts failed.`,
    );
  }

  /** Writes a `window` marker for every leaving id that has none (one batch read, then creates). */
  async #markLeaving(tenantId: string, modelKey: string, leaving: readonly string[]): Promise<void> {
    if (leaving.length === 0) return;
    const marked = await this.deps.markers.getMany(tenantId, leaving);
    const now = this.deps.clock.now().toISOString();
    await Promise.all(
      leaving
        .filter((id) => !marked.has(id))
        .map((id) => {
          const cut = id.lastIndexOf('#');
          return this.#createOnce(this.deps.markers, {
            tenantId,
            id,
            version: 1,
            createdAt: now,
            updatedAt: now,
            taskId: id.slice(0, cut),
            signal: id.slice(cut + 1) as RewardSignal,
            outcome: 'applied',
            modelKey,
            markedBy: 'window',
          });
        }),
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

  /**
   * Records a rejection; one record is enough if the same reward is rejected again. An out-of-range
   * value is kept as text: it may be a number the table cannot hold (1e16, 1e-200).
   */
  async #reject(slot: Rejected): Promise<void> {
    const { value, ...receipt } = this.#receipt(slot.message);
    await this.#createOnce(this.deps.rejections, {
      ...receipt,
      ...(slot.reason === 'value_out_of_range' ? { valueText: String(value) } : { value }),
      reason: slot.reason,
      ...(slot.detail === undefined ? {} : { detail: slot.detail }),
    });
  }

  /**
   * Tells the bus about the ingested rewards, in calls of at most 10 events (one PutEvents each),
   * concurrently: a call that fails loses only its own events. Events are best effort; the rewards
   * stand either way.
   */
  async #publish(ingested: readonly Slot[]): Promise<void> {
    const { events } = this.deps;
    if (!events || ingested.length === 0) return;
    const now = this.deps.clock.now();
    const all: ConductorEvent[] = ingested.map(({ message }) =>
      eventOf(rewardIngested, {
        tenantId: message.tenantId,
        traceId: message.traceId,
        occurredAt: now.toISOString(),
        taskId: message.taskId,
        signal: message.signal,
        value: message.value,
        ingestionLatencyMs: Math.max(0, now.getTime() - new Date(message.receivedAt).getTime()),
      }),
    );
    await Promise.all(
      chunksOf(all, EVENTS_PER_PUBLISH).map(async (chunk) => {
        try {
          await events.publish(chunk);
        } catch (error) {
          this.deps.onPublishError?.(error);
        }
      }),
    );
  }
}
