import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import { tableSpecOf } from '#shared/pillar.js';
import { NoArchive } from '#shared/policy/archive.js';
import { DynamoDecisionLog, DynamoGrantLookup } from '#shared/policy/dynamo-policy-store.js';
import { PolicyEnforcer } from '#shared/policy/enforcer.js';
import { GRANT_ENTITY, type Grant } from '#shared/ports/grants.js';
import type { AuthzRequest, DecisionRecord } from '#shared/ports/policy.js';
import { ManualClock, randomIds, SequentialIds } from '#shared/ports/system.js';
import { refusal } from '#shared/testing/refusal.js';
import { localTableName, startTestDynamo, type TestDynamo } from '../../../../infra/local/dynamodb.js';
import { PILLARS } from '../../../catalog.js';
import { DynamoDecisionLogReader } from '../../src/adapters/dynamo-decision-log-reader.js';
import {
  DynamoGrantStore,
  DynamoPendingGrantSlots,
  PENDING_GRANT_SLOT_ENTITY,
} from '../../src/adapters/dynamo-grant-store.js';
import { GrantService, PENDING_GRANT_LAPSE_SECONDS } from '../../src/domain/grants.js';

const tableSpec = (id: string) => tableSpecOf(PILLARS, id);

/** The authorize function's DynamoDB adapters against a real DynamoDB API: dynalite, in this process. */
let local: TestDynamo;
let doc: DynamoDBDocumentClient;
const tableName = localTableName(tableSpec('policy'));

beforeAll(async () => {
  local = await startTestDynamo();
  doc = local.doc;
});
afterAll(() => local?.close());

/** An enforcer whose engine allows what `allow` says, logging to the table under test. */
const enforcerOnTable = (allow: (request: AuthzRequest) => boolean, clock: ManualClock) =>
  new PolicyEnforcer({
    engine: {
      name: 'cedar',
      policyVersion: 'cedar-test',
      decide: (request) => ({
        allow: allow(request),
        obligations: [],
        masks: [],
        reasons: [],
        policyVersion: 'cedar-test',
      }),
    },
    grants: { grantedTenants: async () => [] },
    log: new DynamoDecisionLog(doc, tableName),
    archive: new NoArchive(),
    clock,
    ids: new SequentialIds(),
  });

describe('DynamoGrantStore on dynalite', () => {
  const setup = (tenant: string) => {
    const store = new DynamoGrantStore(doc, tableName);
    const clock = new ManualClock('2026-02-01T00:00:00.000Z');
    const pending = new DynamoPendingGrantSlots(doc, tableName);
    const service = new GrantService({ repository: store, pending, clock, ids: new SequentialIds() });
    return { store, pending, service, clock, target: tenant };
  };

  it('reads back exactly the grant it stored, expiresAt included', async () => {
    // Prepare
    const { store, service, target } = setup('globex-a');
    const pending = await service.request(
      target,
      { subject: 'alice', tenantId: 'acme' },
      {
        reason: 'incident',
        durationMinutes: 15,
      },
    );
    const approved = await service.approve(target, pending.id, { subject: 'gina', tenantId: target });

    // Act
    const read = await store.get(target, pending.id);
    const page = await store.list(target, { limit: 10 });

    // Assess
    expect(read).toEqual(approved);
    expect(page.items).toEqual([approved]);
  });

  it('keys grants where the kernel’s grant lookup reads them, with expiresAt as the TTL attribute', async () => {
    // Prepare
    const { service, target } = setup('globex-b');

    // Act
    const pending = await service.request(
      target,
      { subject: 'alice', tenantId: 'acme' },
      {
        reason: 'incident',
        durationMinutes: 15,
      },
    );
    const raw = await doc.send(
      new GetCommand({
        TableName: tableName,
        Key: { pk: partitionKey(target, GRANT_ENTITY), sk: pending.id },
      }),
    );

    // Assess
    expect(raw.Item).toMatchObject({ pk: `T#${target}#GRANT`, sk: pending.id, expiresAt: pending.expiresAt });
  });

  it('refuses a replace on a stale version (no lost update)', async () => {
    // Prepare
    const { store, service, target } = setup('globex-c');
    const pending = await service.request(
      target,
      { subject: 'alice', tenantId: 'acme' },
      {
        reason: 'incident',
        durationMinutes: 15,
      },
    );
    await service.approve(target, pending.id, { subject: 'gina', tenantId: target });

    // Act
    const error = await refusal(
      store.replace({ ...pending, status: 'revoked', version: 2 } satisfies Grant, 1),
    );

    // Assess
    expect([error.statusCode, error.code]).toEqual([409, 'version_conflict']);
  });

  it('pages with a cursor that cannot point into another tenant’s partition', async () => {
    // Prepare
    const { store, service, target } = setup('globex-d');
    for (let i = 0; i < 3; i += 1) {
      await service.request(
        target,
        { subject: `u${i}`, tenantId: 'acme' },
        { reason: 'r', durationMinutes: 5 },
      );
    }
    const forged = Buffer.from(JSON.stringify({ pk: 'T#acme#GRANT', sk: 'grt_0' })).toString('base64url');

    // Act
    const first = await store.list(target, { limit: 2 });
    const second = await store.list(target, { limit: 2, cursor: first.nextCursor });
    const error = await refusal(store.list(target, { limit: 2, cursor: forged }));

    // Assess
    expect(first.items).toHaveLength(2);
    expect(second.items).toHaveLength(1);
    expect(second.nextCursor).toBeUndefined();
    expect([error.statusCode, error.code]).toEqual([400, 'invalid_cursor']);
  });
});

describe('DynamoPendingGrantSlots on dynalite', () => {
  const START = '2026-02-01T00:00:00.000Z';
  const setup = (target: string, maxPendingPerTenantPair = 3) => {
    const store = new DynamoGrantStore(doc, tableName);
    const pending = new DynamoPendingGrantSlots(doc, tableName);
    const clock = new ManualClock(START);
    // Random ids, as in production: a place names exactly one grant.
    const service = new GrantService({
      repository: store,
      pending,
      clock,
      ids: randomIds,
      maxPendingPerTenantPair,
    });
    const ask = (tenantId = 'acme', subject = 'alice') =>
      service.request(target, { subject, tenantId }, { reason: 'incident', durationMinutes: 15 });
    return { store, pending, service, clock, ask };
  };
  const places = async (target: string) =>
    (
      await doc.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': partitionKey(target, PENDING_GRANT_SLOT_ENTITY) },
          ConsistentRead: true,
        }),
      )
    ).Items ?? [];

  it('keeps one place per pending request under the requester tenant’s key range, beside the grants', async () => {
    // Prepare
    const { store, ask } = setup('slots-a');

    // Act
    const first = await ask();
    const second = await ask('acme', 'bob');
    const other = await ask('initech', 'ivan');

    // Assess
    expect(await places('slots-a')).toEqual([
      expect.objectContaining({ sk: 'acme#000', grantId: first.id, expiresAt: first.expiresAt }),
      expect.objectContaining({ sk: 'acme#001', grantId: second.id }),
      expect.objectContaining({ sk: 'initech#000', grantId: other.id }),
    ]);
    // The grant partition (what GET /policy/grants and every enforcement point read) holds grants only.
    expect((await store.list('slots-a', { limit: 100 })).items.map((g) => g.id).sort()).toEqual(
      [first.id, second.id, other.id].sort(),
    );
  });

  it('refuses a request beyond the cap, and lets concurrent requests take no more places than the cap', async () => {
    // Prepare
    const { ask, store } = setup('slots-b', 3);

    // Act
    const settled = await Promise.allSettled(Array.from({ length: 8 }, (_, n) => ask('acme', `u${n}`)));

    // Assess
    const filed = settled.filter((s) => s.status === 'fulfilled');
    const refused = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : []));
    expect(filed).toHaveLength(3);
    expect(refused.map((e) => e.code)).toEqual(Array.from({ length: 5 }, () => 'too_many_pending_grants'));
    expect((await store.list('slots-b', { limit: 100 })).items).toHaveLength(3);
    expect(await places('slots-b')).toHaveLength(3);
  });

  it('gives a place back when the target approves or turns down a request, and takes a lapsed place again', async () => {
    // Prepare
    const { service, clock, ask } = setup('slots-c', 2);
    const approved = await ask();
    const turnedDown = await ask('acme', 'bob');

    // Act + Assess
    await service.approve('slots-c', approved.id, { subject: 'gina', tenantId: 'slots-c' });
    await service.revoke('slots-c', turnedDown.id, { subject: 'gina', tenantId: 'slots-c' });
    expect(await places('slots-c')).toEqual([]);

    const [lapsing] = [await ask(), await ask('acme', 'bob')];
    expect((await refusal(ask())).code).toBe('too_many_pending_grants');
    clock.advance(PENDING_GRANT_LAPSE_SECONDS * 1000);
    const after = await ask();
    expect((await places('slots-c')).map((p) => p.grantId)).toContain(after.id);
    expect((await places('slots-c')).map((p) => p.grantId)).not.toContain(lapsing?.id);
  });
});

describe('the live-grant index on dynalite (what the enforcement points look grants up by)', () => {
  const START = '2026-02-01T00:00:00.000Z';
  const alice = { subject: 'alice', tenantId: 'acme', roles: ['admin' as const], amr: [] };

  /** Sends through to dynalite, recording every command, and failing those `fails` picks. */
  const spyingDoc = (fails: (name: string, input: Record<string, unknown>) => boolean = () => false) => {
    const sent: { name: string; input: Record<string, unknown> }[] = [];
    const client = {
      send: (async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        const name = command.constructor.name;
        sent.push({ name, input: command.input });
        if (fails(name, command.input)) throw new Error(`injected ${name} failure`);
        return doc.send(command as never);
      }) as DynamoDBDocumentClient['send'],
    };
    return { client, sent };
  };
  const onIndex = (input: Record<string, unknown>) =>
    String(
      (input.Key as { pk?: unknown } | undefined)?.pk ?? (input.Item as { pk?: unknown } | undefined)?.pk,
    ).endsWith('#GRANT_LIVE');

  const setup = (target: string, storeDoc: Pick<DynamoDBDocumentClient, 'send'> = doc) => {
    const clock = new ManualClock(START);
    const service = new GrantService({
      repository: new DynamoGrantStore(storeDoc, tableName),
      pending: new DynamoPendingGrantSlots(doc, tableName),
      clock,
      ids: randomIds,
      maxPendingPerTenantPair: 100,
    });
    const approver = { subject: 'gina', tenantId: target };
    const ask = (subject = 'alice', tenantId = 'acme') =>
      service.request(target, { subject, tenantId }, { reason: 'incident', durationMinutes: 30 });
    return { service, clock, approver, ask };
  };
  const indexOf = async (target: string) =>
    (
      await doc.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `T#${target}#GRANT_LIVE` },
          ConsistentRead: true,
        }),
      )
    ).Items ?? [];

  it('writes an index item on approval, keyed by requester tenant, subject and grant, ending with the grant', async () => {
    // Prepare
    const { service, approver, ask } = setup('live-a');
    const pending = await ask();

    // Act
    const approved = await service.approve('live-a', pending.id, approver);

    // Assess
    expect(await indexOf('live-a')).toEqual([
      {
        pk: 'T#live-a#GRANT_LIVE',
        sk: `acme#alice#${approved.id}`,
        entity: 'GRANT_LIVE',
        grantId: approved.id,
        expiresAt: approved.expiresAt,
      },
    ]);
  });

  it('lets the lookup find an approved grant among many without reading the grant partition', async () => {
    // Prepare: 40 other requests in the target, half of them approved for other subjects
    const { service, approver, ask } = setup('live-b');
    for (let n = 0; n < 40; n += 1) {
      const other = await ask(`user-${n}`, n % 2 === 0 ? 'acme' : 'initech');
      if (n % 2 === 0) await service.approve('live-b', other.id, approver);
    }
    const mine = await service.approve('live-b', (await ask()).id, approver);
    const { client, sent } = spyingDoc();

    // Act
    const granted = await new DynamoGrantLookup(client, tableName).grantedTenants(
      alice,
      'live-b',
      new Date(START),
    );

    // Assess
    expect(granted).toEqual(['live-b']);
    expect(sent.map((command) => command.name)).toEqual(['QueryCommand', 'GetCommand']);
    expect(sent[0]?.input.ExpressionAttributeValues).toMatchObject({ ':pk': 'T#live-b#GRANT_LIVE' });
    expect(sent[1]?.input.Key).toEqual({ pk: 'T#live-b#GRANT', sk: mine.id });
    expect(
      sent.some(
        (command) =>
          (command.input.ExpressionAttributeValues as Record<string, unknown>)?.[':pk'] === 'T#live-b#GRANT',
      ),
    ).toBe(false);
  });

  it('removes the index item when the target revokes or the requester withdraws, closing access', async () => {
    // Prepare
    const { service, approver, ask } = setup('live-c');
    const revoked = await service.approve('live-c', (await ask()).id, approver);
    const withdrawn = await service.approve('live-c', (await ask('bob')).id, approver);
    const lookup = new DynamoGrantLookup(doc, tableName);
    expect(await indexOf('live-c')).toHaveLength(2);

    // Act
    await service.revoke('live-c', revoked.id, approver);
    await service.revoke('live-c', withdrawn.id, { subject: 'bob', tenantId: 'acme' });

    // Assess
    expect(await indexOf('live-c')).toEqual([]);
    expect(await lookup.grantedTenants(alice, 'live-c', new Date(START))).toEqual([]);
    expect(await lookup.grantedTenants({ ...alice, subject: 'bob' }, 'live-c', new Date(START))).toEqual([]);
  });

  it('revokes even when the index delete fails, and the item left behind grants nothing', async () => {
    // Prepare
    const { client } = spyingDoc((name, input) => name === 'DeleteCommand' && onIndex(input));
    const { service, approver, ask } = setup('live-d', client);
    const approved = await service.approve('live-d', (await ask()).id, approver);

    // Act
    const revoked = await service.revoke('live-d', approved.id, approver);

    // Assess
    expect(revoked.status).toBe('revoked');
    expect(await indexOf('live-d')).toHaveLength(1);
    expect(
      await new DynamoGrantLookup(doc, tableName).grantedTenants(alice, 'live-d', new Date(START)),
    ).toEqual([]);
  });

  it('stores no approval when the index item cannot be written (the hint is written first)', async () => {
    // Prepare
    const { client } = spyingDoc((name, input) => name === 'PutCommand' && onIndex(input));
    const { service, approver, ask } = setup('live-e', client);
    const pending = await ask();

    // Act
    const error = await service.approve('live-e', pending.id, approver).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(Error);
    expect((await service.get('live-e', pending.id)).status).toBe('pending');
  });

  it('grants nothing once the grant has ended, though dynalite never expires its index item', async () => {
    // Prepare
    const { service, clock, approver, ask } = setup('live-f');
    const approved = await service.approve('live-f', (await ask()).id, approver);
    const lookup = new DynamoGrantLookup(doc, tableName);
    const during = await lookup.grantedTenants(alice, 'live-f', clock.now());

    // Act
    clock.advance(approved.durationMinutes * 60 * 1000);
    const after = await lookup.grantedTenants(alice, 'live-f', clock.now());

    // Assess
    expect(during).toEqual(['live-f']);
    expect(after).toEqual([]);
    expect(await indexOf('live-f')).toHaveLength(1);
  });
});

describe('DynamoDecisionLogReader on dynalite', () => {
  /** Logs decisions the way every endpoint does: through the enforcer, into DynamoDecisionLog. */
  const logDecisions = async (tenant: string) => {
    const clock = new ManualClock('2026-03-01T00:00:00.000Z');
    const enforcer = enforcerOnTable((request) => request.action.endsWith(':list'), clock);
    const principal = { subject: 'u', tenantId: tenant, roles: ['admin' as const], amr: [] };
    const actions = [
      'experts:list',
      'experts:create',
      'experts:list',
      'experts:delete',
      'experts:list',
      'experts:get',
    ];
    const ids: string[] = [];
    for (const action of actions) {
      clock.advance(1000);
      const decision = await enforcer.decide({
        principal,
        action,
        resource: { tenantId: tenant, kind: 'experts' },
        traceId: 't',
      });
      ids.push(decision.decisionId);
    }
    // A decision of another tenant in the same table, which must never show up.
    await enforcer.decide({
      principal: { ...principal, tenantId: `${tenant}-other` },
      action: 'experts:list',
      resource: { tenantId: `${tenant}-other`, kind: 'experts' },
      traceId: 't',
    });
    return { ids, actions };
  };

  it('lists a tenant’s decisions newest first, with their inputs, and only that tenant’s', async () => {
    // Prepare
    const { ids } = await logDecisions('tenant-a');
    const reader = new DynamoDecisionLogReader(doc, tableName);

    // Act
    const page = await reader.list('tenant-a', { limit: 100 });

    // Assess
    expect(page.items.map((d) => d.decisionId)).toEqual([...ids].reverse());
    expect(page.items.every((d) => d.tenantId === 'tenant-a')).toBe(true);
    expect(page.nextCursor).toBeUndefined();
    const newest = page.items[0] as DecisionRecord & Record<string, unknown>;
    expect(newest.input).toMatchObject({ action: 'experts:get', principal: { tenantId: 'tenant-a' } });
    expect(newest).not.toHaveProperty('pk');
    expect(newest).not.toHaveProperty('expiresAt');
  });

  it('filters by outcome and action, filling each page across queries', async () => {
    // Prepare
    const { ids, actions } = await logDecisions('tenant-b');
    const reader = new DynamoDecisionLogReader(doc, tableName);
    const listIds = ids.filter((_, i) => actions[i] === 'experts:list').reverse();

    // Act
    const first = await reader.list('tenant-b', { limit: 2, decision: 'allow', action: 'experts:list' });
    const rest = await reader.list('tenant-b', { limit: 2, decision: 'allow', cursor: first.nextCursor });
    const denies = await reader.list('tenant-b', { limit: 10, decision: 'deny' });

    // Assess
    expect(first.items.map((d) => d.decisionId)).toEqual(listIds.slice(0, 2));
    expect(rest.items.map((d) => d.decisionId)).toEqual(listIds.slice(2));
    expect(denies.items).toHaveLength(3);
    expect(denies.items.every((d) => !d.allow)).toBe(true);
  });

  it('pages newest first and refuses a cursor into another tenant’s partition', async () => {
    // Prepare
    const { ids } = await logDecisions('tenant-c');
    const reader = new DynamoDecisionLogReader(doc, tableName);
    const foreign = await reader.list('tenant-c-other', { limit: 1 });
    const forged = Buffer.from(JSON.stringify({ pk: 'T#tenant-c-other#DECISION', sk: 'z' })).toString(
      'base64url',
    );

    // Act
    const first = await reader.list('tenant-c', { limit: 4 });
    const second = await reader.list('tenant-c', { limit: 4, cursor: first.nextCursor });
    const errors = await Promise.all(
      [forged, foreign.nextCursor ?? forged, 'not-base64-json'].map((cursor) =>
        refusal(reader.list('tenant-c', { limit: 4, cursor })),
      ),
    );

    // Assess
    expect([...first.items, ...second.items].map((d) => d.decisionId)).toEqual([...ids].reverse());
    expect(errors.map((e) => e.code)).toEqual(['invalid_cursor', 'invalid_cursor', 'invalid_cursor']);
  });

  it('stores a decideMany batch in BatchWriteItem chunks: every record, both tenants’ copies, classification kept', async () => {
    // Prepare: 20 own-tenant and 10 cross-tenant decisions, 40 records (two chunks of 25 and 15)
    const enforcer = enforcerOnTable(
      (request) => request.principal.tenantId === request.resource.tenantId,
      new ManualClock('2026-03-02T00:00:00.000Z'),
    );
    const principal = { subject: 'u', tenantId: 'tenant-e', roles: ['operator' as const], amr: [] };
    const inputs = Array.from({ length: 30 }, (_, i) => ({
      principal,
      action: 'router:route-to',
      resource: {
        tenantId: i < 20 ? 'tenant-e' : 'tenant-e-other',
        kind: 'experts',
        id: `exp-${i}`,
        ...(i % 2 === 0 ? { classification: 'restricted' } : {}),
      },
      traceId: 't',
    }));
    const reader = new DynamoDecisionLogReader(doc, tableName);

    // Act
    const decisions = await enforcer.decideMany(inputs);
    const own = await reader.recent('tenant-e', 1000);
    const other = await reader.recent('tenant-e-other', 1000);

    // Assess
    const ids = decisions.map((d) => d.decisionId);
    expect(own.map((d) => d.decisionId).sort()).toEqual([...ids].sort());
    expect(other.map((d) => d.decisionId).sort()).toEqual(ids.slice(20).sort());
    expect(own.find((d) => d.input.resource.id === 'exp-0')?.input.resource.classification).toBe(
      'restricted',
    );
    expect(own.find((d) => d.input.resource.id === 'exp-1')?.input.resource).not.toHaveProperty(
      'classification',
    );
  });

  it('pages through the records of one request’s group and on into the next, filters applied to the records', async () => {
    // Prepare: two requests of 12 decisions each (two group items), allows and denies mixed
    const enforcer = enforcerOnTable(
      (request) => Number(request.resource.id?.slice(4)) % 3 !== 0,
      new ManualClock('2026-03-03T00:00:00.000Z'),
    );
    const principal = { subject: 'u', tenantId: 'tenant-f', roles: ['operator' as const], amr: [] };
    const batch = (from: number) =>
      Array.from({ length: 12 }, (_, i) => ({
        principal,
        action: 'router:route-to',
        resource: { tenantId: 'tenant-f', kind: 'experts', id: `exp-${from + i}` },
        traceId: `t${from}`,
      }));
    await enforcer.decideMany(batch(0));
    await enforcer.decideMany(batch(12));
    const reader = new DynamoDecisionLogReader(doc, tableName);
    const all = (await reader.recent('tenant-f', 100)).map((d) => d.decisionId);

    // Act
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await reader.list('tenant-f', { limit: 5, ...(cursor ? { cursor } : {}) });
      pages.push(page.items.map((d) => d.decisionId));
      cursor = page.nextCursor;
    } while (cursor && pages.length < 10);
    const denies: string[] = [];
    cursor = undefined;
    do {
      const page = await reader.list('tenant-f', {
        limit: 3,
        decision: 'deny',
        ...(cursor ? { cursor } : {}),
      });
      denies.push(...page.items.map((d) => d.decisionId));
      cursor = page.nextCursor;
    } while (cursor);

    // Assess
    expect(all).toHaveLength(24);
    expect(pages.flat()).toEqual(all);
    expect(pages.slice(0, 4).map((page) => page.length)).toEqual([5, 5, 5, 5]);
    const denied = (await reader.recent('tenant-f', 100)).filter((d) => !d.allow).map((d) => d.decisionId);
    expect(denied).toHaveLength(8);
    expect(denies).toEqual(denied);
  });

  it('reads the last N decisions for a dry-run', async () => {
    // Prepare
    const { ids } = await logDecisions('tenant-d');
    const reader = new DynamoDecisionLogReader(doc, tableName);

    // Act
    const recent = await reader.recent('tenant-d', 4);
    const all = await reader.recent('tenant-d', 1000);

    // Assess
    expect(recent.map((d) => d.decisionId)).toEqual([...ids].reverse().slice(0, 4));
    expect(all).toHaveLength(ids.length);
  });
});
