import { describe, expect, it } from 'vitest';
import { ConflictError } from '#shared/errors.js';
import type { TenantRecords } from '#shared/ports/records.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import {
  ArmMissingError,
  armItemId,
  type ModelArmRecord,
  type ModelHeadRecord,
  SplitModelStore,
} from '../../src/domain/model-store.js';
import {
  DYNAMODB_ITEM_LIMIT,
  dynamoItemBytes,
  linUcbState,
  modelRecord as record,
} from '../support/model-states.js';

const stores = (inlineLimitBytes?: number) => {
  const heads = new InMemoryTenantRecords<ModelHeadRecord>('MODEL');
  const arms = new InMemoryTenantRecords<ModelArmRecord>('MODEL_ARM');
  return { heads, arms, store: new SplitModelStore(heads, arms, inlineLimitBytes) };
};

const armItems = async (arms: InMemoryTenantRecords<ModelArmRecord>) =>
  (await arms.list('acme', { limit: 1000 })).items.map((item) => item.id).sort();

const EXPERTS = ['exp_a', 'exp_b', 'exp_c', 'exp_d'];
/** An inline limit four experts at d = 8 exceed and one does not. */
const LIMIT = 3_000;

describe('SplitModelStore', () => {
  it('keeps a small state in one item', async () => {
    const { heads, arms, store } = stores();
    const small = record(linUcbState(8, EXPERTS), 1, ['t1#success_at_k']);
    await store.create(small);
    expect(await armItems(arms)).toEqual([]);
    expect((await heads.get('acme', 'ridge:d8'))?.armRefs).toBeUndefined();
    expect(await store.get('acme', 'ridge:d8')).toEqual(small);
  });

  it('splits a state over the limit into a head and one item per expert, and reads it back whole', async () => {
    const { heads, arms, store } = stores(LIMIT);
    const big = record(linUcbState(8, EXPERTS), 1, ['t1#success_at_k', 't2#cost']);
    expect(JSON.stringify(big).length).toBeGreaterThan(LIMIT);
    await store.create(big);
    const head = await heads.get('acme', 'ridge:d8');
    expect(head?.armRefs).toEqual(Object.fromEntries(EXPERTS.map((e) => [e, 1])));
    expect((head?.state as { arms?: object } | undefined)?.arms).toEqual({});
    expect(head?.appliedRewardIds).toEqual(['t1#success_at_k', 't2#cost']);
    expect(await armItems(arms)).toEqual(EXPERTS.map((e) => armItemId('ridge:d8', e, 1)).sort());
    expect(await store.get('acme', 'ridge:d8')).toEqual(big);
  });

  it('rewrites only the experts a write changed, and deletes the arm items it superseded', async () => {
    const { arms, store } = stores(LIMIT);
    await store.create(record(linUcbState(8, EXPERTS), 1));
    await store.get('acme', 'ridge:d8');
    const next = record(linUcbState(8, EXPERTS, 2), 2);
    await store.replace(next, 1);
    expect(await armItems(arms)).toEqual(
      [armItemId('ridge:d8', 'exp_a', 2), ...EXPERTS.slice(1).map((e) => armItemId('ridge:d8', e, 1))].sort(),
    );
    expect(await store.get('acme', 'ridge:d8')).toEqual(next);
  });

  it('recognises an unchanged arm whatever order the table returned its keys in', async () => {
    const { heads, arms } = stores();
    // A table that hands maps back with their keys reversed, as DynamoDB may (it keeps no order).
    const reversed = <T>(value: T): T =>
      Array.isArray(value)
        ? (value.map(reversed) as T)
        : value !== null && typeof value === 'object'
          ? (Object.fromEntries(
              Object.entries(value as Record<string, unknown>)
                .reverse()
                .map(([k, v]) => [k, reversed(v)]),
            ) as T)
          : value;
    const shuffling: TenantRecords<ModelArmRecord> = {
      create: (r) => arms.create(r),
      get: async (t, id) => reversed(await arms.get(t, id)),
      list: (t, o) => arms.list(t, o),
      replace: (r, v) => arms.replace(r, v),
      delete: (t, id, v) => arms.delete(t, id, v),
      getMany: async (t, ids) =>
        new Map([...(await arms.getMany(t, ids))].map(([id, item]) => [id, reversed(item)])),
    };
    const store = new SplitModelStore(heads, shuffling, LIMIT);
    await store.create(record(linUcbState(8, EXPERTS), 1));
    await store.get('acme', 'ridge:d8');
    await store.replace(record(linUcbState(8, EXPERTS, 2), 2), 1);
    expect((await arms.list('acme', { limit: 100 })).items.filter((i) => i.id.endsWith('#v2'))).toHaveLength(
      1,
    );
  });

  it('moves a state that outgrows one item into arm items, and back', async () => {
    const { heads, arms, store } = stores(LIMIT);
    const small = record(linUcbState(8, EXPERTS.slice(0, 1)), 1);
    await store.create(small);
    expect(await armItems(arms)).toEqual([]);
    await store.get('acme', 'ridge:d8');
    const big = record(linUcbState(8, EXPERTS), 2);
    await store.replace(big, 1);
    expect(await armItems(arms)).toHaveLength(EXPERTS.length);
    expect(await store.get('acme', 'ridge:d8')).toEqual(big);
    const smallAgain = record(linUcbState(8, EXPERTS.slice(0, 1)), 3);
    await store.replace(smallAgain, 2);
    expect(await armItems(arms)).toEqual([]);
    expect((await heads.get('acme', 'ridge:d8'))?.armRefs).toBeUndefined();
    expect(await store.get('acme', 'ridge:d8')).toEqual(smallAgain);
  });

  it('a write that loses the version condition changes nothing and leaves no arm item behind', async () => {
    const { arms, store } = stores(LIMIT);
    const first = record(linUcbState(8, EXPERTS), 1);
    await store.create(first);
    await store.get('acme', 'ridge:d8');
    await expect(store.replace(record(linUcbState(8, EXPERTS, 3), 2), 7)).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(await armItems(arms)).toEqual(EXPERTS.map((e) => armItemId('ridge:d8', e, 1)).sort());
    expect(await store.get('acme', 'ridge:d8')).toEqual(first);
  });

  it('two writers of the same version: one wins, the other conflicts, and no arm item leaks', async () => {
    const { heads, arms } = stores();
    const [one, two] = [new SplitModelStore(heads, arms, LIMIT), new SplitModelStore(heads, arms, LIMIT)];
    await one.create(record(linUcbState(8, EXPERTS), 1));
    await one.get('acme', 'ridge:d8');
    await two.get('acme', 'ridge:d8');
    const mine = record(linUcbState(8, EXPERTS, 1), 2);
    const theirs = record(linUcbState(8, EXPERTS, 4), 2);
    const outcomes = await Promise.allSettled([one.replace(mine, 1), two.replace(theirs, 1)]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const lost = outcomes.find((o) => o.status === 'rejected');
    expect(lost?.status === 'rejected' && lost.reason).toBeInstanceOf(ConflictError);
    const stored = await one.get('acme', 'ridge:d8');
    expect([mine, theirs]).toContainEqual(stored);
    expect(await armItems(arms)).toHaveLength(EXPERTS.length);
  });

  it('a reader whose head is superseded while it reads the arms reads the new version', async () => {
    const { heads, arms } = stores();
    const writer = new SplitModelStore(heads, arms, LIMIT);
    await writer.create(record(linUcbState(8, EXPERTS), 1));
    await writer.get('acme', 'ridge:d8');
    const next = record(linUcbState(8, EXPERTS, 2), 2);
    let interleaved = false;
    const racingArms: TenantRecords<ModelArmRecord> = {
      ...arms,
      create: (r) => arms.create(r),
      get: (t, id) => arms.get(t, id),
      list: (t, o) => arms.list(t, o),
      replace: (r, v) => arms.replace(r, v),
      delete: (t, id, v) => arms.delete(t, id, v),
      getMany: async (t, ids) => {
        if (!interleaved) {
          interleaved = true;
          await writer.replace(next, 1);
        }
        return arms.getMany(t, ids);
      },
    };
    const reader = new SplitModelStore(heads, racingArms, LIMIT);
    expect(await reader.get('acme', 'ridge:d8')).toEqual(next);
  });

  it('reports arm items that stay missing instead of assembling a partial state', async () => {
    const { arms, store } = stores(LIMIT);
    await store.create(record(linUcbState(8, EXPERTS), 1));
    await arms.delete('acme', armItemId('ridge:d8', 'exp_b', 1));
    await expect(store.get('acme', 'ridge:d8')).rejects.toBeInstanceOf(ArmMissingError);
  });

  it('holds a LinUCB model of 48 experts at d = 64, which no single item can', async () => {
    const { heads, arms, store } = stores();
    const experts = Array.from({ length: 48 }, (_, i) => `expert-${i}`);
    const window = Array.from({ length: 512 }, (_, i) => `task-${'x'.repeat(100)}-${i}#success_at_k`);
    const huge = record(linUcbState(64, experts, 0, 60), 1, window);
    expect(dynamoItemBytes(huge)).toBeGreaterThan(DYNAMODB_ITEM_LIMIT);
    await store.create(huge);
    expect(dynamoItemBytes((await heads.get('acme', 'ridge:d64')) ?? {})).toBeLessThan(
      DYNAMODB_ITEM_LIMIT / 4,
    );
    const ids = await armItems(arms);
    expect(ids).toHaveLength(48);
    for (const id of ids)
      expect(dynamoItemBytes((await arms.get('acme', id)) ?? {})).toBeLessThan(DYNAMODB_ITEM_LIMIT / 4);
    expect(await store.get('acme', 'ridge:d64')).toEqual(huge);
  });
});
