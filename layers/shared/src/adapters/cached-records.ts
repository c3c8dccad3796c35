import type { ListOptions, Page, TenantRecord, TenantRecords } from '../ports/records.js';
import type { Clock } from '../ports/system.js';
import { TtlCache } from '../ports/ttl-cache.js';

/**
 * A record store whose batch read, `getMany`, is served from memory for at most `ttlMs`: the read a
 * hot path makes on every request (the router's candidate experts). Everything else goes to the
 * store: `get` and `list` read it (an API read is as fresh as the table), and every write through
 * this store forgets the record, so a change made through this process is seen by its next
 * `getMany` at once, and one made elsewhere within `ttlMs`. Absent records are cached too.
 */
export class CachedRecordReads<T extends TenantRecord> implements TenantRecords<T> {
  readonly #cache: TtlCache<T | undefined>;

  constructor(
    private readonly store: TenantRecords<T>,
    options: { readonly ttlMs: number; readonly clock: Clock; readonly maxEntries?: number },
  ) {
    this.#cache = new TtlCache(options);
  }

  async getMany(tenantId: string, ids: readonly string[]): Promise<Map<string, T>> {
    const unique = [...new Set(ids)];
    const pending = new Map<string, Promise<T | undefined>>();
    const misses: string[] = [];
    for (const id of unique) {
      const hit = this.#cache.peek(keyOf(tenantId, id));
      if (hit) pending.set(id, hit);
      else misses.push(id);
    }
    if (misses.length > 0) {
      const batch = this.store.getMany(tenantId, misses);
      for (const id of misses) {
        pending.set(
          id,
          this.#cache.loading(
            keyOf(tenantId, id),
            batch.then((found) => found.get(id)),
          ),
        );
      }
    }
    const out = new Map<string, T>();
    for (const [id, value] of pending) {
      const record = await value;
      if (record) out.set(id, record);
    }
    return out;
  }

  get(tenantId: string, id: string): Promise<T | undefined> {
    return this.store.get(tenantId, id);
  }

  list(tenantId: string, options: ListOptions): Promise<Page<T>> {
    return this.store.list(tenantId, options);
  }

  async create(record: T): Promise<void> {
    try {
      await this.store.create(record);
    } finally {
      this.#cache.delete(keyOf(record.tenantId, record.id));
    }
  }

  async replace(record: T, expectedVersion: number): Promise<void> {
    try {
      await this.store.replace(record, expectedVersion);
    } finally {
      this.#cache.delete(keyOf(record.tenantId, record.id));
    }
  }

  async delete(tenantId: string, id: string, expectedVersion?: number): Promise<boolean> {
    try {
      return await this.store.delete(tenantId, id, expectedVersion);
    } finally {
      this.#cache.delete(keyOf(tenantId, id));
    }
  }
}

const keyOf = (tenantId: string, id: string): string => `${tenantId}\u0000${id}`;
