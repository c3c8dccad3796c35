import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import { ConflictError } from '#shared/errors.js';
import { tableSpecOf } from '#shared/pillar.js';
import { localTableName, startTestDynamo, type TestDynamo } from '../../../../infra/local/dynamodb.js';
import { PILLARS } from '../../../catalog.js';
import { DynamoPersonalRecords } from '../../src/adapters/personal-records.js';
import type { StoredItem } from '../../src/domain/dsr.js';

/** The DSR adapter against a real DynamoDB API: dynalite, in memory, in this process. */
let local: TestDynamo;
const table = localTableName(tableSpecOf(PILLARS, 'eval'));
const records = () => new DynamoPersonalRecords(local.doc, { eval: table });

beforeAll(async () => {
  local = await startTestDynamo();
});
afterAll(() => local?.close());

const put = (tenantId: string, entity: string, sk: string, attributes: Record<string, unknown>) =>
  local.doc.send(
    new PutCommand({ TableName: table, Item: { pk: partitionKey(tenantId, entity), sk, ...attributes } }),
  );
const read = async (tenantId: string, entity: string, sk: string) =>
  (
    await local.doc.send(
      new GetCommand({ TableName: table, Key: { pk: partitionKey(tenantId, entity), sk } }),
    )
  ).Item;

describe('DynamoPersonalRecords on dynalite', () => {
  it('pages through one tenant’s partition of one entity, and nothing else', async () => {
    for (let i = 0; i < 1_203; i += 1)
      await put('acme', 'DSR_PAGE', `r${String(i).padStart(5, '0')}`, { by: 'x' });
    await put('globex', 'DSR_PAGE', 'other-tenant', { by: 'x' });
    await put('acme', 'DSR_OTHER', 'other-entity', { by: 'x' });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await records().page('eval', 'acme', 'DSR_PAGE', cursor);
      seen.push(...page.items.map((item) => item.sk));
      cursor = page.cursor;
      pages += 1;
    } while (cursor !== undefined);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(1_203);
    expect(new Set(seen).size).toBe(1_203);
    expect(seen.every((sk) => sk.startsWith('r'))).toBe(true);
  });

  it('deletes and rewrites an item only while it is as read, by version (or, without one, while it exists)', async () => {
    await put('acme', 'DSR_WRITE', 'v', { requestedBy: 'jane', version: 3 });
    const [item] = (await records().page('eval', 'acme', 'DSR_WRITE')).items as StoredItem[];
    if (!item) throw new Error('not read');
    // Someone else changes it meanwhile: the rewrite is refused, the item keeps their change.
    await put('acme', 'DSR_WRITE', 'v', { requestedBy: 'jane', version: 4, note: 'theirs' });
    await expect(
      records().replace('eval', item, { ...item, requestedBy: '[erased]', version: 4 }),
    ).rejects.toBeInstanceOf(ConflictError);
    await expect(records().delete('eval', item)).rejects.toBeInstanceOf(ConflictError);
    expect(await read('acme', 'DSR_WRITE', 'v')).toMatchObject({ note: 'theirs', requestedBy: 'jane' });
    const [fresh] = (await records().page('eval', 'acme', 'DSR_WRITE')).items as StoredItem[];
    if (!fresh) throw new Error('not read');
    await records().replace('eval', fresh, { ...fresh, requestedBy: '[erased]', version: 5 });
    expect(await read('acme', 'DSR_WRITE', 'v')).toMatchObject({ requestedBy: '[erased]', version: 5 });

    await put('acme', 'DSR_WRITE', 'unversioned', { requestedBy: 'jane' });
    const unversioned = { pk: partitionKey('acme', 'DSR_WRITE'), sk: 'unversioned', requestedBy: 'jane' };
    await records().delete('eval', unversioned);
    expect(await read('acme', 'DSR_WRITE', 'unversioned')).toBeUndefined();
    // Gone already: a second delete is a conflict (the caller reads again and finds nothing).
    await expect(records().delete('eval', unversioned)).rejects.toBeInstanceOf(ConflictError);
  });

  it('refuses a table it was not given', async () => {
    await expect(records().page('router', 'acme', 'EXPERT')).rejects.toThrow(
      "table 'router' is not given to this function",
    );
  });
});
