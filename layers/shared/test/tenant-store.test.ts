import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  MissingTenantError,
  partitionKey,
  resourceNameOf,
  TenantRecordStore,
} from '#shared/adapters/tenant-store.js';
import { tableSpecOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { localTableName, startTestDynamo, type TestDynamo } from '../../../infra/local/dynamodb.js';
import { describeTenantRecordContract, type Note, note } from './tenant-records.contract.js';

const tableSpec = (id: string) => tableSpecOf(PILLARS, id);

/** TenantRecordStore against a real DynamoDB API: dynalite, in memory, in this process. */
let local: TestDynamo;
let doc: DynamoDBDocumentClient;
const tableName = localTableName(tableSpec('router'));

let entities = 0;
/** Each test gets its own entity type, so its partitions are its own. */
const freshEntity = (): string => {
  entities += 1;
  return `NOTE${entities}`;
};

const rawItem = async (
  tenantId: string,
  entity: string,
  id: string,
): Promise<Record<string, unknown> | undefined> =>
  (
    await doc.send(
      new GetCommand({ TableName: tableName, Key: { pk: partitionKey(tenantId, entity), sk: id } }),
    )
  ).Item;

beforeAll(async () => {
  local = await startTestDynamo();
  doc = local.doc;
});
afterAll(() => local?.close());

describeTenantRecordContract(
  'TenantRecordStore on dynalite',
  () => new TenantRecordStore<Note>(doc, tableName, freshEntity()),
);

describe('TenantRecordStore on dynalite', () => {
  it('keys every item tenant-first, as IAM LeadingKeys expects', async () => {
    // Prepare
    const entity = freshEntity();
    const store = new TenantRecordStore<Note>(doc, tableName, entity);

    // Act
    await store.create(note({ tenantId: 'acme', id: 'n1' }));

    // Assess
    expect(await rawItem('acme', entity, 'n1')).toMatchObject({ pk: `T#acme#${entity}`, sk: 'n1', entity });
  });

  it('leaves the stored item byte for byte unchanged when a replace loses on version', async () => {
    // Prepare
    const entity = freshEntity();
    const store = new TenantRecordStore<Note>(doc, tableName, entity);
    await store.create(note());
    await store.replace(note({ version: 2, title: 'second', updatedAt: '2026-01-02T00:00:00.000Z' }), 1);
    const before = await rawItem('acme', entity, 'note-1');

    // Act
    const attempt = store.replace(
      note({ version: 2, title: 'stale', updatedAt: '2026-01-03T00:00:00.000Z' }),
      1,
    );

    // Assess
    await expect(attempt).rejects.toMatchObject({ statusCode: 409, code: 'version_conflict' });
    expect(await rawItem('acme', entity, 'note-1')).toEqual(before);
  });

  it.each([
    ['missing', ''],
    ['invalid', 'NOT A TENANT'],
  ])('refuses a record whose tenantId is %s before sending anything to DynamoDB', async (_, tenantId) => {
    // Prepare
    const send = vi.fn((command: Parameters<DynamoDBDocumentClient['send']>[0]) => doc.send(command));
    const store = new TenantRecordStore<Note>(
      { send } as unknown as DynamoDBDocumentClient,
      tableName,
      freshEntity(),
    );

    // Act
    const attempts = await Promise.allSettled([
      store.create(note({ tenantId })),
      store.replace(note({ tenantId, version: 2 }), 1),
    ]);

    // Assess
    expect(
      attempts.map(
        (attempt) => attempt.status === 'rejected' && attempt.reason instanceof MissingTenantError,
      ),
    ).toEqual([true, true]);
    expect(send).not.toHaveBeenCalled();
  });

  it('sets expiresAt to updatedAt plus ttlSeconds, in epoch seconds, when the store has a TTL', async () => {
    // Prepare
    const entity = freshEntity();
    const store = new TenantRecordStore<Note>(doc, tableName, entity, 3600);
    const updatedAt = '2026-01-01T12:00:00.750Z';

    // Act
    await store.create(note({ updatedAt }));

    // Assess
    expect((await rawItem('acme', entity, 'note-1'))?.expiresAt).toBe(
      Math.floor(Date.parse(updatedAt) / 1000) + 3600,
    );
  });

  it('moves expiresAt forward when a record with a TTL is replaced', async () => {
    // Prepare
    const entity = freshEntity();
    const store = new TenantRecordStore<Note>(doc, tableName, entity, 60);
    await store.create(note({ updatedAt: '2026-01-01T00:00:00.000Z' }));

    // Act
    await store.replace(note({ version: 2, updatedAt: '2026-01-01T01:00:00.000Z' }), 1);

    // Assess
    expect((await rawItem('acme', entity, 'note-1'))?.expiresAt).toBe(
      Date.parse('2026-01-01T01:00:00.000Z') / 1000 + 60,
    );
  });

  it('sets no expiresAt without a TTL, and never returns the key attributes to callers', async () => {
    // Prepare
    const entity = freshEntity();
    const plain = new TenantRecordStore<Note>(doc, tableName, entity);
    const expiring = new TenantRecordStore<Note>(doc, tableName, freshEntity(), 60);
    await plain.create(note({ id: 'plain' }));
    await expiring.create(note({ id: 'expiring' }));

    // Act
    const raw = await rawItem('acme', entity, 'plain');
    const read = await expiring.get('acme', 'expiring');

    // Assess
    expect(raw).not.toHaveProperty('expiresAt');
    expect(Object.keys(read ?? {}).sort()).toEqual(Object.keys(note()).sort());
  });

  it('lists with a strongly consistent Query when asked (twice the read units), eventually consistent otherwise', async () => {
    // Prepare
    const store = new TenantRecordStore<Note>(doc, tableName, freshEntity());
    await store.create(note({ id: 'n1' }));
    const send = vi.spyOn(doc, 'send');

    // Act
    const consistent = await store.list('acme', { limit: 10, consistent: true });
    const eventual = await store.list('acme', { limit: 10 });

    // Assess
    const inputs = send.mock.calls.map(
      ([command]) => (command as { input: { ConsistentRead?: boolean } }).input,
    );
    send.mockRestore();
    expect(consistent.items.map((item) => item.id)).toEqual(['n1']);
    expect(eventual.items.map((item) => item.id)).toEqual(['n1']);
    expect(inputs.map((input) => input.ConsistentRead)).toEqual([true, undefined]);
  });

  it('names the record in its 409 messages the way the API does, not by its storage entity', async () => {
    // Prepare
    const entity = `${freshEntity()}_CONFIG`;
    const named = new TenantRecordStore<Note>(doc, tableName, entity, undefined, { resourceName: 'expert' });
    const unnamed = new TenantRecordStore<Note>(doc, tableName, entity);
    await named.create(note({ id: 'n1' }));

    // Act
    const attempts = await Promise.allSettled([
      named.create(note({ id: 'n1' })),
      named.replace(note({ id: 'n1', version: 3 }), 2),
      named.delete('acme', 'n1', 2),
      unnamed.create(note({ id: 'n1' })),
    ]);

    // Assess
    const messages = attempts.map((attempt) =>
      attempt.status === 'rejected' ? (attempt.reason as Error).message : 'fulfilled',
    );
    expect(messages).toEqual([
      'Expert n1 already exists.',
      'Expert n1 was changed concurrently; re-read and retry.',
      'Expert n1 was changed concurrently; re-read and retry.',
      expect.stringMatching(/^Note\d+ config n1 already exists\.$/),
    ]);
    expect(messages.join(' ')).not.toContain(entity);
  });
});

describe('resourceNameOf', () => {
  it.each([
    ['EXPERT', 'expert'],
    ['ROUTER_CONFIG', 'router config'],
    ['REWARD_REJECTED', 'reward rejected'],
    ['JOB', 'job'],
  ])('reads the entity %s as "%s"', (entity, name) => {
    // Act
    const read = resourceNameOf(entity);

    // Assess
    expect(read).toBe(name);
  });
});
