import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { tableSpecOf } from '#shared/pillar.js';
import type { TenantRecord } from '#shared/ports/records.js';
import { localTableName, startTestDynamo, type TestDynamo } from '../../../../infra/local/dynamodb.js';
import { PILLARS } from '../../../catalog.js';
import {
  DynamoBudgetReader,
  DynamoEvalRunReader,
  MAX_EVAL_RUN_PAGES,
} from '../../src/adapters/tenant-activity.js';

/** The budget and eval-run readers against a real DynamoDB API (dynalite, in this process). */
let local: TestDynamo;
const schedulerTable = localTableName(tableSpecOf(PILLARS, 'scheduler'));
const evalTable = localTableName(tableSpecOf(PILLARS, 'eval'));

beforeAll(async () => {
  local = await startTestDynamo();
});
afterAll(() => local?.close());

const NOW = '2026-12-07T06:00:00.000Z';
const DAY = 86_400_000;
const daysAgo = (days: number): string => new Date(Date.parse(NOW) - days * DAY).toISOString();
const since = daysAgo(30);

const recordOf = (tenantId: string, id: string, at = NOW): TenantRecord => ({
  tenantId,
  id,
  version: 1,
  createdAt: at,
  updatedAt: at,
});

/** A run as the eval pillar's store keeps it (the fields the reader looks at, and some it does not). */
const run = (tenantId: string, id: string, phase: string, finishedAt?: string) => ({
  ...recordOf(tenantId, id, finishedAt ?? NOW),
  suiteId: 'suite-1',
  phase,
  ...(phase === 'completed' ? { verdict: 'pass' } : {}),
  ...(finishedAt === undefined ? {} : { finishedAt }),
  requestedBy: 'alice',
});

describe('DynamoBudgetReader on dynalite', () => {
  it('finds a tenant’s budget in the scheduler table, and none for a tenant with only a ledger', async () => {
    // Prepare: as the scheduler's stores write them.
    const budgets = new TenantRecordStore(local.doc, schedulerTable, 'BUDGET');
    const ledgers = new TenantRecordStore(local.doc, schedulerTable, 'BUDGET_LEDGER');
    await budgets.create({ ...recordOf('budget-acme', 'monthly'), limitUsd: 100 } as TenantRecord);
    await budgets.create({ ...recordOf('budget-acme', 'daily'), limitUsd: 5 } as TenantRecord);
    await ledgers.create(recordOf('budget-globex', 'monthly:2026-12'));
    const reader = new DynamoBudgetReader(local.doc, schedulerTable);

    // Act
    const answers = await Promise.all(
      ['budget-acme', 'budget-globex', 'budget-initech'].map((t) => reader.hasBudget(t)),
    );

    // Assess
    expect(answers).toEqual([true, false, false]);
  });

  it('asks one key of the tenant’s BUDGET partition, which the record read allows', async () => {
    // Prepare
    const sent: QueryCommand[] = [];
    const reader = new DynamoBudgetReader(
      {
        send: async (command: unknown) => {
          sent.push(command as QueryCommand);
          return { Items: [] };
        },
      } as never,
      'scheduler',
    );

    // Act
    await reader.hasBudget('acme');

    // Assess
    expect(sent).toHaveLength(1);
    expect(sent[0]).toBeInstanceOf(QueryCommand);
    expect(sent[0]?.input).toMatchObject({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'T#acme#BUDGET' },
      Limit: 1,
    });
  });
});

describe('DynamoEvalRunReader on dynalite', () => {
  const runs = () => new TenantRecordStore(local.doc, evalTable, 'EVAL_RUN', 30 * 86_400);

  it('finds a run completed since the date, not a recent failed or queued one, nor an older completed one', async () => {
    // Prepare
    const store = runs();
    await store.create(run('eval-acme', 'run_1', 'completed', daysAgo(2)) as TenantRecord);
    await store.create(run('eval-globex', 'run_2', 'failed', daysAgo(1)) as TenantRecord);
    await store.create(run('eval-globex', 'run_3', 'queued') as TenantRecord);
    await store.create(run('eval-globex', 'run_4', 'completed', daysAgo(31)) as TenantRecord);
    const reader = new DynamoEvalRunReader(local.doc, evalTable);

    // Act
    const answers = await Promise.all(
      ['eval-acme', 'eval-globex', 'eval-initech'].map((t) => reader.completedRunSince(t, since)),
    );

    // Assess
    expect(answers).toEqual([true, false, false]);
  });

  it('follows pages past the filtered ones, and answers undefined past its bound', async () => {
    // Prepare: MAX_EVAL_RUN_PAGES failed runs sort before the completed one (one item a page).
    const store = runs();
    for (let i = 0; i < MAX_EVAL_RUN_PAGES; i += 1)
      await store.create(
        run('eval-hooli', `run_a${String(i).padStart(2, '0')}`, 'failed', daysAgo(1)) as TenantRecord,
      );
    await store.create(run('eval-hooli', 'run_z', 'completed', daysAgo(1)) as TenantRecord);

    // Act
    const paged = await new DynamoEvalRunReader(local.doc, evalTable, 2).completedRunSince(
      'eval-hooli',
      since,
    );
    const bounded = await new DynamoEvalRunReader(local.doc, evalTable, 1).completedRunSince(
      'eval-hooli',
      since,
    );

    // Assess
    expect(paged).toBe(true);
    expect(bounded).toBeUndefined();
  });
});
