import type { Clock } from './system.js';

export interface TtlCacheOptions {
  /** How long a loaded value is served before the next `get` loads it again. */
  readonly ttlMs: number;
  /** Entries kept at most; the oldest loaded is dropped first. */
  readonly maxEntries?: number;
  readonly clock: Clock;
}

interface Entry<V> {
  readonly value: Promise<V>;
  readonly expiresAt: number;
}

/**
 * A per-process read-through cache with a hard age bound: a value is never served more than `ttlMs`
 * after it was loaded, so whoever reads through it sees every write within that bound. Concurrent
 * misses of one key share one load (single flight), and a failed load is not kept. `set` and
 * `delete` let the writer in the same process see its own writes at once.
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #maxEntries: number;

  constructor(private readonly options: TtlCacheOptions) {
    if (!(options.ttlMs >= 0)) throw new RangeError('ttlMs must be >= 0');
    this.#maxEntries = options.maxEntries ?? 10_000;
  }

  get(key: string, load: () => Promise<V>): Promise<V> {
    return this.peek(key) ?? this.#load(key, load());
  }

  /** The value of `key` if it was loaded less than `ttlMs` ago (or is being loaded). */
  peek(key: string): Promise<V> | undefined {
    const entry = this.#entries.get(key);
    return entry && entry.expiresAt > this.options.clock.now().getTime() ? entry.value : undefined;
  }

  /** Keeps a value being loaded elsewhere (e.g. one batch read for many keys) under `key`. */
  loading(key: string, value: Promise<V>): Promise<V> {
    return this.#load(key, value);
  }

  set(key: string, value: V): void {
    this.#load(key, Promise.resolve(value));
  }

  #load(key: string, value: Promise<V>): Promise<V> {
    if (this.options.ttlMs === 0) return value;
    this.#put(key, value, this.options.clock.now().getTime());
    value.catch(() => {
      if (this.#entries.get(key)?.value === value) this.#entries.delete(key);
    });
    return value;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  #put(key: string, value: Promise<V>, now: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: now + this.options.ttlMs });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }
}
