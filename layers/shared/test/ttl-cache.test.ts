import { describe, expect, it } from 'vitest';
import { CachedRecordReads } from '#shared/adapters/cached-records.js';
import type { TenantRecord, TenantRecords } from '#shared/ports/records.js';
import { ManualClock } from '#shared/ports/system.js';
import { TtlCache } from '#shared/ports/ttl-cache.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';

const counter = () => {
  let loads = 0;
  return {
    load: (value: string) => async () => {
      loads += 1;
      return value;
    },
    get loads() {
      return loads;
    },
  };
};

describe('TtlCache', () => {
  it('serves a loaded value until ttlMs has passed, then loads again', async () => {
    // Prepare
    const clock = new ManualClock();
    const cache = new TtlCache<string>({ ttlMs: 1_000, clock });
    const source = counter();

    // Act
    const first = await cache.get('k', source.load('v1'));
    clock.advance(999);
    const cached = await cache.get('k', source.load('v2'));
    clock.advance(1);
    const reloaded = await cache.get('k', source.load('v3'));

    // Assess
    expect([first, cached, reloaded]).toEqual(['v1', 'v1', 'v3']);
    expect(source.loads).toBe(2);
  });

  it('shares one load among concurrent misses of a key', async () => {
    // Prepare
    const cache = new TtlCache<string>({ ttlMs: 1_000, clock: new ManualClock() });
    const source = counter();

    // Act
    const values = await Promise.all([1, 2, 3].map(() => cache.get('k', source.load('v'))));

    // Assess
    expect(values).toEqual(['v', 'v', 'v']);
    expect(source.loads).toBe(1);
  });

  it('does not keep a failed load', async () => {
    // Prepare
    const cache = new TtlCache<string>({ ttlMs: 1_000, clock: new ManualClock() });

    // Act
    await expect(cache.get('k', () => Promise.reject(new Error('table down')))).rejects.toThrow('table down');
    const value = await cache.get('k', async () => 'ok');

    // Assess
    expect(value).toBe('ok');
  });

  it('serves what set stored, forgets what delete removed, and evicts the oldest past maxEntries', async () => {
    // Prepare
    const cache = new TtlCache<string>({ ttlMs: 1_000, clock: new ManualClock(), maxEntries: 2 });
    const source = counter();

    // Act
    cache.set('a', 'set-a');
    const a = await cache.get('a', source.load('loaded-a'));
    cache.delete('a');
    const afterDelete = await cache.get('a', source.load('reloaded-a'));
    cache.set('b', 'b');
    cache.set('c', 'c');

    // Assess
    expect(a).toBe('set-a');
    expect(afterDelete).toBe('reloaded-a');
    expect(cache.size).toBe(2);
    expect(cache.peek('a')).toBeUndefined();
    expect(await cache.peek('c')).toBe('c');
  });

  it('caches nothing with ttlMs 0', async () => {
    // Prepare
    const cache = new TtlCache<string>({ ttlMs: 0, clock: new ManualClock() });
    const source = counter();

    // Act
    cache.set('k', 'set');
    await cache.get('k', source.load('a'));
    await cache.get('k', source.load('b'));

    // Assess
    expect(source.loads).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('refuses a negative or NaN ttl', () => {
    expect(() => new TtlCache({ ttlMs: -1, clock: new ManualClock() })).toThrow(RangeError);
    expect(() => new TtlCache({ ttlMs: Number.NaN, clock: new ManualClock() })).toThrow(RangeError);
  });
});

interface Thing extends TenantRecord {
  readonly colour: string;
}

const thing = (tenantId: string, id: string, colour: string, version = 1): Thing => ({
  tenantId,
  id,
  colour,
  version,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});

/** An in-memory store that counts the batch reads reaching it. */
const countingStore = () => {
  const store = new InMemoryTenantRecords<Thing>('THING');
  const reads: string[][] = [];
  const counted: TenantRecords<Thing> = {
    create: (record) => store.create(record),
    get: (tenantId, id) => store.get(tenantId, id),
    list: (tenantId, options) => store.list(tenantId, options),
    replace: (record, expectedVersion) => store.replace(record, expectedVersion),
    delete: (tenantId, id, expectedVersion) => store.delete(tenantId, id, expectedVersion),
    getMany: (tenantId, ids) => {
      reads.push([...ids]);
      return store.getMany(tenantId, ids);
    },
  };
  return { store, counted, reads };
};

describe('CachedRecordReads', () => {
  it('reads only the misses, in one batch, and serves hits and absences from memory within ttlMs', async () => {
    // Prepare
    const clock = new ManualClock();
    const { store, counted, reads } = countingStore();
    await store.create(thing('acme', 'a', 'red'));
    await store.create(thing('acme', 'b', 'blue'));
    const cached = new CachedRecordReads(counted, { ttlMs: 1_000, clock });

    // Act
    const first = await cached.getMany('acme', ['a', 'missing']);
    const second = await cached.getMany('acme', ['a', 'b', 'missing']);
    clock.advance(1_000);
    const third = await cached.getMany('acme', ['a']);

    // Assess
    expect([...first.keys()]).toEqual(['a']);
    expect([...second.keys()].sort()).toEqual(['a', 'b']);
    expect(third.get('a')?.colour).toBe('red');
    expect(reads).toEqual([['a', 'missing'], ['b'], ['a']]);
  });

  it('keeps tenants apart: the same id of another tenant is another entry', async () => {
    // Prepare
    const { store, counted } = countingStore();
    await store.create(thing('acme', 'a', 'red'));
    await store.create(thing('globex', 'a', 'green'));
    const cached = new CachedRecordReads(counted, { ttlMs: 60_000, clock: new ManualClock() });

    // Act
    const acme = await cached.getMany('acme', ['a']);
    const globex = await cached.getMany('globex', ['a']);

    // Assess
    expect(acme.get('a')?.colour).toBe('red');
    expect(globex.get('a')?.colour).toBe('green');
  });

  it('forgets a record written through it, so the next getMany sees the write', async () => {
    // Prepare
    const { store, counted } = countingStore();
    await store.create(thing('acme', 'a', 'red'));
    const cached = new CachedRecordReads(counted, { ttlMs: 60_000, clock: new ManualClock() });
    await cached.getMany('acme', ['a', 'b']);

    // Act
    await cached.replace(thing('acme', 'a', 'black', 2), 1);
    await cached.create(thing('acme', 'b', 'white'));
    const afterWrites = await cached.getMany('acme', ['a', 'b']);
    await cached.delete('acme', 'a');
    const afterDelete = await cached.getMany('acme', ['a', 'b']);

    // Assess
    expect(afterWrites.get('a')?.colour).toBe('black');
    expect(afterWrites.get('b')?.colour).toBe('white');
    expect([...afterDelete.keys()]).toEqual(['b']);
  });

  it('serves a write made elsewhere only after ttlMs, and get always reads the store', async () => {
    // Prepare
    const clock = new ManualClock();
    const { store, counted } = countingStore();
    await store.create(thing('acme', 'a', 'red'));
    const cached = new CachedRecordReads(counted, { ttlMs: 1_000, clock });
    await cached.getMany('acme', ['a']);

    // Act: another instance changes the record behind the cache.
    await store.replace(thing('acme', 'a', 'black', 2), 1);
    const stale = await cached.getMany('acme', ['a']);
    const direct = await cached.get('acme', 'a');
    clock.advance(1_000);
    const fresh = await cached.getMany('acme', ['a']);

    // Assess
    expect(stale.get('a')?.colour).toBe('red');
    expect(direct?.colour).toBe('black');
    expect(fresh.get('a')?.colour).toBe('black');
  });

  it('does not keep a failed batch read', async () => {
    // Prepare
    const { store, counted } = countingStore();
    await store.create(thing('acme', 'a', 'red'));
    let fail = true;
    const flaky: TenantRecords<Thing> = {
      ...counted,
      getMany: (tenantId, ids) =>
        fail ? Promise.reject(new Error('throttled')) : counted.getMany(tenantId, ids),
    };
    const cached = new CachedRecordReads(flaky, { ttlMs: 60_000, clock: new ManualClock() });

    // Act
    await expect(cached.getMany('acme', ['a'])).rejects.toThrow('throttled');
    fail = false;
    const retried = await cached.getMany('acme', ['a']);

    // Assess
    expect(retried.get('a')?.colour).toBe('red');
  });
});
