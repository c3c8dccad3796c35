import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { tableSpecOf } from '#shared/pillar.js';
import { localTableName, startTestDynamo, type TestDynamo } from '../../../../infra/local/dynamodb.js';
import { PILLARS } from '../../../catalog.js';
import { dynamoModelStore } from '../../src/adapters/dynamo-model-store.js';
import type { ModelArmRecord } from '../../src/domain/model-store.js';
import type { ModelRecord } from '../../src/domain/routing.js';
import { DYNAMODB_ITEM_LIMIT, dynamoItemBytes, linUcbState, modelRecord } from '../support/model-states.js';

const tableSpec = (id: string) => tableSpecOf(PILLARS, id);

/** The router's model store against a real DynamoDB API (dynalite, in this process), item limit included. */
let local: TestDynamo;
const table = localTableName(tableSpec('router'));

beforeAll(async () => {
  local = await startTestDynamo();
});
afterAll(() => local?.close());

const EXPERTS = Array.from({ length: 48 }, (_, i) => `expert-${i}`);
const WINDOW = Array.from({ length: 512 }, (_, i) => `task-${'x'.repeat(100)}-${i}#success_at_k`);

describe('dynamoModelStore on dynalite', () => {
  it('stores and reads back a LinUCB model of 48 experts at d = 64, which DynamoDB refuses as one item', async () => {
    const huge = modelRecord(linUcbState(64, EXPERTS, 0, 60), 1, WINDOW);
    expect(dynamoItemBytes(huge)).toBeGreaterThan(DYNAMODB_ITEM_LIMIT);
    // The failure this store exists for: the same record as one item.
    const single = new TenantRecordStore<ModelRecord>(local.doc, table, 'MODEL');
    await expect(single.create({ ...huge, tenantId: 'globex' })).rejects.toThrow(/size/i);

    const store = dynamoModelStore(local.doc, table);
    await store.create(huge);
    expect(await store.get('acme', 'ridge:d64')).toEqual(huge);

    // One more reward for one expert: one new arm item, the superseded one deleted.
    const next = modelRecord(linUcbState(64, EXPERTS, 2, 60), 2, [
      ...WINDOW.slice(1),
      'task-new#success_at_k',
    ]);
    await store.replace(next, 1);
    const reader = dynamoModelStore(local.doc, table);
    expect(await reader.get('acme', 'ridge:d64')).toEqual(next);
    const arms = new TenantRecordStore<ModelArmRecord>(local.doc, table, 'MODEL_ARM');
    const items = (await arms.list('acme', { limit: 100 })).items;
    expect(items).toHaveLength(EXPERTS.length);
    expect(items.filter((item) => item.id.endsWith('#v2')).map((item) => item.expertId)).toEqual([
      'expert-0',
    ]);
  });
});
