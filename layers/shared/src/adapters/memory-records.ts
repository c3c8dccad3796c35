import { ConflictError } from '../errors.js';
import type { ListOptions, Page, TenantRecord } from '../ports/records.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { MissingTenantError, partitionKey, resourceNameOf } from './tenant-store.js';

/** Every operation is asynchronous, as the table's are (callers interleave at each await). */
const settle = (): Promise<void> => Promise.resolve();

/**
 * TenantRecords in memory: the stand-in for TenantRecordStore in domain tests, and the store of
 * simulations that must not touch the table (the scheduler's what-if). Same contract: creates fail with
 * `already_exists` when the id is taken, replaces and deletes on a stale version with
 * `version_conflict`, lists go a page at a time in id order with an opaque cursor bound to the
 * tenant, and a record without a valid tenant is refused before anything is stored. Like DynamoDB,
 * a full page always carries a cursor, even when nothing follows it.
 */
export class InMemoryTenantRecords<T extends TenantRecord> {
  readonly #partitions = new Map<string, Map<string, T>>();

  /** How its 409 messages name a record, as the DynamoDB store does ("Expert e1 already exists."). */
  readonly #subject: string;

  constructor(private readonly entity = 'RECORD') {
    const name = resourceNameOf(entity);
    this.#subject = name.charAt(0).toUpperCase() + name.slice(1);
  }

  #partition(tenantId: string): Map<string, T> {
    const pk = partitionKey(tenantId, this.entity);
    let partition = this.#partitions.get(pk);
    if (!partition) {
      partition = new Map();
      this.#partitions.set(pk, partition);
    }
    return partition;
  }

  #partitionOf(record: T): Map<string, T> {
    if (!record.tenantId) throw new MissingTenantError(`${this.entity} record without tenantId`);
    return this.#partition(record.tenantId);
  }

  async create(record: T): Promise<void> {
    await settle();
    const partition = this.#partitionOf(record);
    if (partition.has(record.id)) {
      throw new ConflictError(`${this.#subject} ${record.id} already exists.`, 'already_exists');
    }
    partition.set(record.id, structuredClone(record));
  }

  async get(tenantId: string, id: string): Promise<T | undefined> {
    await settle();
    const found = this.#partition(tenantId).get(id);
    return found === undefined ? undefined : structuredClone(found);
  }

  async getMany(tenantId: string, ids: readonly string[]): Promise<Map<string, T>> {
    await settle();
    const partition = this.#partition(tenantId);
    const found = new Map<string, T>();
    for (const id of new Set(ids)) {
      const record = partition.get(id);
      if (record !== undefined) found.set(id, structuredClone(record));
    }
    return found;
  }

  async list(tenantId: string, options: ListOptions): Promise<Page<T>> {
    await settle();
    const pk = partitionKey(tenantId, this.entity);
    const prefix = options.prefix ?? '';
    const ids = [...this.#partition(tenantId).keys()].filter((id) => id.startsWith(prefix)).sort();
    let start = 0;
    const from = options.cursor ? decodeCursor(options.cursor, pk).sk : options.after;
    if (from !== undefined) {
      const after = from;
      start = ids.findIndex((id) => id > after);
      if (start === -1) start = ids.length;
    }
    const pageIds = ids.slice(start, start + options.limit);
    const partition = this.#partition(tenantId);
    const items = pageIds.map((id) => structuredClone(partition.get(id) as T));
    const last = pageIds.at(-1);
    return pageIds.length === options.limit && last !== undefined
      ? { items, nextCursor: encodeCursor({ pk, sk: last }) }
      : { items };
  }

  async replace(record: T, expectedVersion: number): Promise<void> {
    await settle();
    const partition = this.#partitionOf(record);
    const current = partition.get(record.id);
    if (!current || current.version !== expectedVersion) {
      throw new ConflictError(
        `${this.#subject} ${record.id} was changed concurrently; re-read and retry.`,
        'version_conflict',
      );
    }
    partition.set(record.id, structuredClone(record));
  }

  async delete(tenantId: string, id: string, expectedVersion?: number): Promise<boolean> {
    await settle();
    const partition = this.#partition(tenantId);
    const current = partition.get(id);
    if (!current) return false;
    if (expectedVersion !== undefined && current.version !== expectedVersion) {
      throw new ConflictError(
        `${this.#subject} ${id} was changed concurrently; re-read and retry.`,
        'version_conflict',
      );
    }
    partition.delete(id);
    return true;
  }

  /** Every stored record of every tenant, for assertions ("nothing was stored"). */
  all(): T[] {
    return [...this.#partitions.values()].flatMap((partition) =>
      [...partition.values()].map((record) => structuredClone(record)),
    );
  }
}
