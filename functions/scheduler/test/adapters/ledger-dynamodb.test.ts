import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableSpecOf } from '#shared/pillar.js';
import { ManualClock } from '#shared/ports/system.js';
import { localTableName, startTestDynamo, type TestDynamo } from '../../../../infra/local/dynamodb.js';
import { PILLARS } from '../../../catalog.js';
import { DynamoLedgerStore } from '../../src/adapters/ledger-dynamodb.js';
import { BudgetLedger, commitMark, emptyLedger } from '../../src/domain/budget-ledger.js';

/** The budget ledger's DynamoDB adapter against a real DynamoDB API (dynalite, in this process). */
let local: TestDynamo;
const table = localTableName(tableSpecOf(PILLARS, 'scheduler'));
const LIMIT = { limit: 1000, grace: 0.1 };
const AT = '2026-03-10T10:00:00.000Z';
let windows = 0;
/** A window of its own per test: the tests share one table. */
const freshWindow = () => {
  windows += 1;
  return `monthly:2026-${String(windows).padStart(2, '0')}`;
};

beforeAll(async () => {
  local = await startTestDynamo();
});
afterAll(() => local?.close());

describe('DynamoLedgerStore on dynalite', () => {
  it('applies additions atomically under their conditions, and tells duplicate, refused and absent apart', async () => {
    // Prepare
    const store = new DynamoLedgerStore(local.doc, table, 3600);
    const window = freshWindow();
    const absent = await store.add('acme', window, { reserved: 1, committed: 0 }, AT);
    await store.open(emptyLedger('acme', window, LIMIT, AT, 25));
    await store.open(emptyLedger('acme', window, { limit: 1, grace: 0 }, AT));

    // Act
    const reserved = await store.add(
      'acme',
      window,
      { reserved: 600, committed: 0, maxUsedBefore: 500, limit: LIMIT },
      AT,
    );
    const refused = await store.add('acme', window, { reserved: 600, committed: 0, maxUsedBefore: 500 }, AT);
    const committed = await store.add('acme', window, { reserved: -600, committed: 650.25, op: 'c:j1' }, AT);
    const duplicate = await store.add('acme', window, { reserved: -600, committed: 650.25, op: 'c:j1' }, AT);
    const forgotten = await store.add(
      'acme',
      window,
      { reserved: 0.1, committed: 0, forget: ['c:j1', 'c:never'] },
      AT,
    );

    // Assess
    expect(absent).toEqual({ outcome: 'absent' });
    expect(reserved).toMatchObject({
      outcome: 'applied',
      ledger: { reserved: 600, used: 600, limit: 1000, carryIn: 25 },
    });
    expect(refused).toMatchObject({ outcome: 'refused', ledger: { used: 600 } });
    expect(committed).toMatchObject({
      outcome: 'applied',
      ledger: { reserved: 0, committed: 650.25, used: 650.25 },
    });
    expect(committed.outcome === 'applied' && committed.ledger.ops).toEqual({
      'c:j1': Date.parse(AT) / 1000,
    });
    expect(duplicate).toMatchObject({ outcome: 'duplicate', ledger: { committed: 650.25 } });
    expect(forgotten).toMatchObject({ outcome: 'applied', ledger: { ops: {}, used: 650.35, version: 4 } });
    // Stored under the tenant's partition with a TTL.
    const raw = await local.doc.send(
      new GetCommand({ TableName: table, Key: { pk: 'T#acme#BUDGET_LEDGER', sk: window } }),
    );
    expect(raw.Item).toMatchObject({ entity: 'BUDGET_LEDGER', expiresAt: Date.parse(AT) / 1000 + 3600 });
  });

  it('lets 40 concurrent admissions of 100 from four processes through exactly 11 times under a cap of 1,100', async () => {
    // Prepare
    const window = freshWindow();
    const ledgers = Array.from(
      { length: 4 },
      () =>
        new BudgetLedger({
          store: new DynamoLedgerStore(local.doc, table, 3600),
          clock: new ManualClock(AT),
        }),
    );

    // Act
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (ledgers[i % 4] as BudgetLedger).reserve('acme', window, LIMIT, 100),
      ),
    );

    // Assess
    expect(answers.filter((answer) => answer.admitted)).toHaveLength(11);
    expect(await ledgers[0]?.get('acme', window)).toMatchObject({ reserved: 1100, used: 1100, version: 12 });
  });

  it('records announcement markers once (a string set), splitting racing callers, and nothing for a window with no ledger', async () => {
    // Prepare
    const store = new DynamoLedgerStore(local.doc, table, 3600);
    const window = freshWindow();
    const none = await store.mark('acme', window, ['t50'], AT);
    await store.open(emptyLedger('acme', window, LIMIT, AT));

    // Act
    const [a, b] = await Promise.all([
      store.mark('acme', window, ['t50', 't80'], AT),
      store.mark('acme', window, ['t80', 'breach'], AT),
    ]);
    const again = await store.mark('acme', window, ['t50'], AT);

    // Assess
    expect(none).toEqual([]);
    expect([...a, ...b].sort()).toEqual(['breach', 't50', 't80']);
    expect(again).toEqual([]);
    expect((await store.get('acme', window))?.alerted?.slice().sort()).toEqual(['breach', 't50', 't80']);
  });

  it('keeps the item under 1 KB (one write unit), ten commits in flight included, once completed jobs’ marks are forgotten', async () => {
    // Prepare
    const window = freshWindow();
    const ledger = new BudgetLedger({
      store: new DynamoLedgerStore(local.doc, table, 3600),
      clock: new ManualClock(AT),
    });
    for (let i = 0; i < 100; i += 1) {
      await ledger.reserve('acme', window, { limit: 1e9, grace: 0 }, 1);
      await ledger.commit('acme', window, `job-${i}`, 1, 1);
      ledger.forget('acme', window, `job-${i}`);
    }

    // Act
    const item = await local.doc.send(
      new GetCommand({ TableName: table, Key: { pk: 'T#acme#BUDGET_LEDGER', sk: window } }),
    );

    // A worker's batch of ten commits in flight at once.
    for (let i = 0; i < 10; i += 1) await ledger.commit('acme', window, `batch-${i}`, 0, 0);
    const busy = await local.doc.send(
      new GetCommand({ TableName: table, Key: { pk: 'T#acme#BUDGET_LEDGER', sk: window } }),
    );

    // Assess
    expect(Object.keys(busy.Item?.ops ?? {})).toHaveLength(10);
    expect(Buffer.byteLength(JSON.stringify(busy.Item))).toBeLessThan(1024);
    expect(Object.keys(item.Item?.ops ?? {})).toEqual([commitMark('job-99')]);
    expect(Buffer.byteLength(JSON.stringify(item.Item))).toBeLessThan(1024);
    expect(item.Item).toMatchObject({ committed: 100, reserved: 0, used: 100 });
  });
});
