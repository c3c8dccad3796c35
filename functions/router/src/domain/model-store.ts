import { createHash } from 'node:crypto';
import { ConflictError } from '#shared/errors.js';
import type { TenantRecord, TenantRecords } from '#shared/ports/records.js';
import type { StoredModelState } from './bandits/index.js';
import type { ModelRecord } from './routing.js';

/**
 * Model states in the router table, in one item while they are small and in one item per expert
 * once they are not.
 *
 * DynamoDB refuses items over 400 KB. A LinUCB state keeps A and b per expert (about 24 KB at
 * d = 64), so with the applied-reward window one item holds about a dozen experts. Past
 * `INLINE_LIMIT_BYTES` of JSON (about 150 KB in DynamoDB's encoding) the state is split: the head
 * item (`MODEL`, id = model key) keeps the version, the applied-reward window, the state without its
 * arms and `armRefs`, the version of the head write that wrote each expert's arm; each arm is its
 * own item (`MODEL_ARM`, id = `<model key>#<expert>#v<that version>`).
 *
 * Arm items are never changed: a write creates new ones for the experts whose arm changed (a
 * conditional create, so two writers of the same version cannot share one), then replaces the head
 * on its version, as a one-item state is written. A write that loses that condition deletes the arm
 * items it created and reports the conflict as before (the reward consumer reads and retries); one
 * that wins deletes the arm items it superseded. A reader therefore always assembles one consistent
 * version: the head names immutable arm items. A reader whose head was superseded (and its arms
 * deleted) while it read finds an arm missing and reads again. Only a process that dies between
 * creating arm items and finishing the write leaves items nobody names (at most one per expert per
 * crash), which is documented, not collected.
 *
 * The reward consumer rewrites only the experts a batch touched: it knows which arms it read (a hash
 * of each, kept for the last states it read), so a reward costs one arm item and the head, not the
 * whole model.
 */
export const INLINE_LIMIT_BYTES = 256 * 1024;

export interface ModelHeadRecord extends TenantRecord {
  readonly state: StoredModelState;
  readonly appliedRewardIds?: readonly string[];
  /** Present when the arms live in their own items: expert id -> version of the write that wrote it. */
  readonly armRefs?: Readonly<Record<string, number>>;
}

export interface ModelArmRecord extends TenantRecord {
  readonly modelKey: string;
  readonly expertId: string;
  readonly arm: unknown;
}

export const armItemId = (modelKey: string, expertId: string, version: number): string =>
  `${modelKey}#${expertId}#v${version}`;

/** How many model states a store remembers the arm items of (what it read or wrote last). */
const REMEMBERED_STATES = 16;
/** A reader whose head was superseded while it read its arms reads again, at most this often. */
const READ_ATTEMPTS = 3;

interface Remembered {
  readonly version: number;
  /** The arm items the head of this version names (absent: the state was in one item). */
  readonly refs: Readonly<Record<string, number>> | undefined;
  /** A hash of each named arm's content, computed on the first write that needs it. */
  readonly hashOf: (expertId: string) => string | undefined;
}

/** JSON with every object's keys in order: DynamoDB does not keep a map's key order. */
const canonical = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  return value;
};

const hashOf = (value: unknown): string =>
  createHash('sha1')
    .update(JSON.stringify(canonical(value)))
    .digest('base64');

const armsOf = (state: StoredModelState): Readonly<Record<string, unknown>> =>
  (state as { arms?: Readonly<Record<string, unknown>> }).arms ?? {};

export class ArmMissingError extends Error {
  override readonly name = 'ArmMissingError';
}

export class SplitModelStore {
  readonly #remembered = new Map<string, Remembered>();

  constructor(
    private readonly heads: TenantRecords<ModelHeadRecord>,
    private readonly arms: TenantRecords<ModelArmRecord>,
    private readonly inlineLimitBytes = INLINE_LIMIT_BYTES,
  ) {}

  async get(tenantId: string, modelKey: string): Promise<ModelRecord | undefined> {
    for (let attempt = 1; ; attempt += 1) {
      const head = await this.heads.get(tenantId, modelKey);
      if (!head) return undefined;
      if (!head.armRefs) {
        this.#remember(tenantId, modelKey, head.version, undefined, {});
        return this.#recordOf(head, head.state);
      }
      const refs = head.armRefs;
      const ids = Object.entries(refs).map(([expertId, version]) => armItemId(modelKey, expertId, version));
      const items = await this.arms.getMany(tenantId, ids);
      if (items.size === ids.length) {
        const arms: Record<string, unknown> = {};
        for (const [expertId, version] of Object.entries(refs))
          arms[expertId] = items.get(armItemId(modelKey, expertId, version))?.arm;
        const state = { ...head.state, arms } as StoredModelState;
        this.#remember(tenantId, modelKey, head.version, refs, arms);
        return this.#recordOf(head, state);
      }
      // A writer superseded this head and deleted its arms while we read them: read the new head.
      if (attempt >= READ_ATTEMPTS)
        throw new ArmMissingError(
          `Model ${modelKey} of tenant ${tenantId}: ${ids.length - items.size} arm item(s) of version ${head.version} are missing.`,
        );
    }
  }

  create(record: ModelRecord): Promise<void> {
    return this.#write(record, undefined);
  }

  replace(record: ModelRecord, expectedVersion: number): Promise<void> {
    return this.#write(record, expectedVersion);
  }

  async #write(record: ModelRecord, expectedVersion: number | undefined): Promise<void> {
    const { tenantId, id: modelKey } = record;
    const key = `${tenantId}\u0000${modelKey}`;
    // What the store read of the version being replaced. Without it (a replace not preceded by a get
    // here) every arm is written anew and nothing is deleted: correct, only more writes and storage.
    const remembered = this.#remembered.get(key);
    const previous =
      expectedVersion !== undefined && remembered?.version === expectedVersion ? remembered : undefined;
    const arms = armsOf(record.state);
    const split = JSON.stringify(record).length > this.inlineLimitBytes;

    const created: string[] = [];
    const refs: Record<string, number> = {};
    const hashes = new Map<string, string>();
    if (split) {
      const now = record.updatedAt;
      for (const [expertId, arm] of Object.entries(arms)) {
        const hash = hashOf(arm);
        hashes.set(expertId, hash);
        const kept = previous?.refs?.[expertId];
        if (kept !== undefined && previous?.hashOf(expertId) === hash) {
          refs[expertId] = kept;
          continue;
        }
        const id = armItemId(modelKey, expertId, record.version);
        try {
          await this.arms.create({
            tenantId,
            id,
            version: 1,
            createdAt: now,
            updatedAt: now,
            modelKey,
            expertId,
            arm,
          });
        } catch (error) {
          await this.#deleteArms(tenantId, created);
          // Another writer of the same version got there first: the head write would lose too.
          throw error;
        }
        created.push(id);
        refs[expertId] = record.version;
      }
    }

    const head: ModelHeadRecord = split
      ? { ...record, state: { ...record.state, arms: {} } as StoredModelState, armRefs: refs }
      : record;
    try {
      if (expectedVersion === undefined) await this.heads.create(head);
      else await this.heads.replace(head, expectedVersion);
    } catch (error) {
      await this.#deleteArms(tenantId, created);
      if (error instanceof ConflictError) this.#remembered.delete(key);
      throw error;
    }

    this.#remember(tenantId, modelKey, record.version, split ? refs : undefined, split ? arms : {}, hashes);
    // The arm items the previous version named and this one does not: nobody will read them again
    // once readers of the previous version are done (they read again if one goes missing).
    const superseded = Object.entries(previous?.refs ?? {})
      .filter(([expertId, version]) => refs[expertId] !== version)
      .map(([expertId, version]) => armItemId(modelKey, expertId, version));
    await this.#deleteArms(tenantId, superseded);
  }

  #remember(
    tenantId: string,
    modelKey: string,
    version: number,
    refs: Readonly<Record<string, number>> | undefined,
    arms: Readonly<Record<string, unknown>>,
    known: ReadonlyMap<string, string> = new Map(),
  ): void {
    const key = `${tenantId}\u0000${modelKey}`;
    this.#remembered.delete(key);
    if (this.#remembered.size >= REMEMBERED_STATES)
      this.#remembered.delete(this.#remembered.keys().next().value as string);
    const hashes = new Map(known);
    this.#remembered.set(key, {
      version,
      refs,
      hashOf: (expertId) => {
        let hash = hashes.get(expertId);
        if (hash === undefined && refs && Object.hasOwn(arms, expertId)) {
          hash = hashOf(arms[expertId]);
          hashes.set(expertId, hash);
        }
        return hash;
      },
    });
  }

  #recordOf(head: ModelHeadRecord, state: StoredModelState): ModelRecord {
    const { armRefs: _refs, ...rest } = head;
    return { ...rest, state };
  }

  /** Best effort: an arm item left behind is named by no head and costs only its storage. */
  async #deleteArms(tenantId: string, ids: readonly string[]): Promise<void> {
    await Promise.all(ids.map((id) => this.arms.delete(tenantId, id).catch(() => false)));
  }
}
