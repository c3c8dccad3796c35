import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableSpecOf } from '#shared/pillar.js';
import { DynamoGrantLookup } from '#shared/policy/dynamo-policy-store.js';
import type { Grant } from '#shared/ports/grants.js';
import type { Principal } from '#shared/ports/identity.js';
import { PILLARS } from '../../../functions/catalog.js';
import { localTableName, startTestDynamo, type TestDynamo } from '../../../infra/local/dynamodb.js';

/**
 * DynamoGrantLookup against dynalite, on raw items keyed as the authorize pillar writes them: grants
 * at pk `T#<target>#GRANT`, live-grant index items at pk `T#<target>#GRANT_LIVE`, sk
 * `<requesterTenant>#<requesterSubject>#<grantId>`.
 */
let local: TestDynamo;
let doc: DynamoDBDocumentClient;
const tableName = localTableName(tableSpecOf(PILLARS, 'policy'));

beforeAll(async () => {
  local = await startTestDynamo();
  doc = local.doc;
});
afterAll(() => local?.close());

const AT = new Date('2026-04-01T12:00:00.000Z');
const epoch = (date: Date) => Math.floor(date.getTime() / 1000);
const HOUR = 3600;

const principal = (subject: string, tenantId = 'acme'): Principal => ({
  subject,
  tenantId,
  roles: ['admin'],
  amr: [],
});

const grantItem = (target: string, id: string, fields: Partial<Grant> = {}) => ({
  pk: `T#${target}#GRANT`,
  sk: id,
  entity: 'GRANT',
  tenantId: target,
  id,
  version: 2,
  createdAt: '2026-04-01T11:00:00.000Z',
  updatedAt: '2026-04-01T11:00:00.000Z',
  requesterSubject: 'alice',
  requesterTenant: 'acme',
  reason: 'incident',
  durationMinutes: 120,
  status: 'approved',
  approvedBy: 'gina',
  approvedAt: '2026-04-01T11:00:00.000Z',
  expiresAt: epoch(AT) + HOUR,
  ...fields,
});

const indexItem = (
  target: string,
  requesterTenant: string,
  subject: string,
  grantId: string,
  expiresAt: number,
) => ({
  pk: `T#${target}#GRANT_LIVE`,
  sk: `${requesterTenant}#${subject}#${grantId}`,
  entity: 'GRANT_LIVE',
  grantId,
  expiresAt,
});

const put = (...items: Record<string, unknown>[]) =>
  Promise.all(items.map((Item) => doc.send(new PutCommand({ TableName: tableName, Item }))));

/** A document client that records every command it sends (name and input) before sending it. */
const spying = () => {
  const sent: { name: string; input: Record<string, unknown> }[] = [];
  const client = {
    send: ((command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push({ name: command.constructor.name, input: command.input });
      return doc.send(command as never);
    }) as DynamoDBDocumentClient['send'],
  };
  return { client, sent };
};

/** The partition keys a sent command reads or writes, whatever its kind. */
const partitionsOf = (input: Record<string, unknown>): unknown[] => {
  const values = input.ExpressionAttributeValues as Record<string, unknown> | undefined;
  const key = input.Key as Record<string, unknown> | undefined;
  return [values?.[':pk'], key?.pk].filter((pk) => pk !== undefined);
};

describe('DynamoGrantLookup on dynalite', () => {
  it('finds a live grant through its index item, never reading the target’s grant partition', async () => {
    // Prepare: the target holds 60 other grants (pending, revoked, other subjects) and alice's approved one
    const target = 'lookup-a';
    const others = Array.from({ length: 60 }, (_, n) =>
      grantItem(target, `grt_other${String(n).padStart(3, '0')}`, {
        requesterSubject: `user-${n}`,
        status: n % 2 === 0 ? 'pending' : 'revoked',
      }),
    );
    await put(
      ...others,
      grantItem(target, 'grt_alice'),
      indexItem(target, 'acme', 'alice', 'grt_alice', epoch(AT) + HOUR),
    );
    const { client, sent } = spying();

    // Act
    const granted = await new DynamoGrantLookup(client, tableName).grantedTenants(
      principal('alice'),
      target,
      AT,
    );

    // Assess
    expect(granted).toEqual([target]);
    expect(sent.map((command) => [command.name, ...partitionsOf(command.input)])).toEqual([
      ['QueryCommand', `T#${target}#GRANT_LIVE`],
      ['GetCommand', `T#${target}#GRANT`],
    ]);
    expect(sent[0]?.input).toMatchObject({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: expect.objectContaining({ ':prefix': 'acme#alice#' }),
    });
    expect(sent[1]?.input).toMatchObject({ Key: { pk: `T#${target}#GRANT`, sk: 'grt_alice' } });
  });

  it('grants nothing, reading one empty key range, to a subject without an index item', async () => {
    // Prepare
    const target = 'lookup-b';
    await put(
      ...Array.from({ length: 30 }, (_, n) => grantItem(target, `grt_${n}`, { requesterSubject: `u${n}` })),
    );
    const { client, sent } = spying();

    // Act
    const granted = await new DynamoGrantLookup(client, tableName).grantedTenants(
      principal('mallory'),
      target,
      AT,
    );

    // Assess
    expect(granted).toEqual([]);
    expect(sent.map((command) => [command.name, ...partitionsOf(command.input)])).toEqual([
      ['QueryCommand', `T#${target}#GRANT_LIVE`],
    ]);
  });

  it('does not honour an approved grant that has no index item (approved before the index existed)', async () => {
    // Prepare
    const target = 'lookup-c';
    await put(grantItem(target, 'grt_legacy'));

    // Act
    const granted = await new DynamoGrantLookup(doc, tableName).grantedTenants(
      principal('alice'),
      target,
      AT,
    );

    // Assess
    expect(granted).toEqual([]);
  });

  it('grants nothing through an index item whose grant was revoked, ended, or is gone', async () => {
    // Prepare: three stale hints, as a failed index delete or a lost approval race leaves them
    const target = 'lookup-d';
    await put(
      grantItem(target, 'grt_revoked', { status: 'revoked', revokedBy: 'gina' }),
      grantItem(target, 'grt_ended', { expiresAt: epoch(AT) - 1 }),
      indexItem(target, 'acme', 'alice', 'grt_revoked', epoch(AT) + HOUR),
      indexItem(target, 'acme', 'alice', 'grt_ended', epoch(AT) + HOUR),
      indexItem(target, 'acme', 'alice', 'grt_missing', epoch(AT) + HOUR),
    );

    // Act
    const granted = await new DynamoGrantLookup(doc, tableName).grantedTenants(
      principal('alice'),
      target,
      AT,
    );

    // Assess
    expect(granted).toEqual([]);
  });

  it('grants nothing once the grant has ended, though dynalite keeps its index item (no TTL expiry)', async () => {
    // Prepare
    const target = 'lookup-e';
    const ends = epoch(AT) + 60;
    await put(
      grantItem(target, 'grt_short', { expiresAt: ends }),
      indexItem(target, 'acme', 'alice', 'grt_short', ends),
    );
    const lookup = new DynamoGrantLookup(doc, tableName);

    // Act
    const before = await lookup.grantedTenants(principal('alice'), target, AT);
    const after = await lookup.grantedTenants(principal('alice'), target, new Date((ends + 1) * 1000));

    // Assess
    expect(before).toEqual([target]);
    expect(after).toEqual([]);
    const index = await doc.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `T#${target}#GRANT_LIVE` },
      }),
    );
    expect(index.Items).toHaveLength(1);
  });

  it('opens a grant to its own subject and tenant only, though a subject with `#` shares a key prefix', async () => {
    // Prepare: `acme#a#` is a prefix of the key of subject `a#b`
    const target = 'lookup-f';
    await put(
      grantItem(target, 'grt_ab', { requesterSubject: 'a#b' }),
      indexItem(target, 'acme', 'a#b', 'grt_ab', epoch(AT) + HOUR),
    );
    const lookup = new DynamoGrantLookup(doc, tableName);

    // Act
    const [prefixSubject, ownSubject, otherTenant] = await Promise.all([
      lookup.grantedTenants(principal('a'), target, AT),
      lookup.grantedTenants(principal('a#b'), target, AT),
      lookup.grantedTenants(principal('a#b', 'initech'), target, AT),
    ]);

    // Assess
    expect(prefixSubject).toEqual([]);
    expect(ownSubject).toEqual([target]);
    expect(otherTenant).toEqual([]);
  });
});
