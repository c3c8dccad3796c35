import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import { tableSpecOf } from '#shared/pillar.js';
import { NoArchive } from '#shared/policy/archive.js';
import { DynamoDecisionLog } from '#shared/policy/dynamo-policy-store.js';
import { PolicyEnforcer } from '#shared/policy/enforcer.js';
import { GRANT_ENTITY, type Grant } from '#shared/ports/grants.js';
import type { AuthzRequest, DecisionRecord } from '#shared/ports/policy.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { refusal } from '#shared/testing/refusal.js';
import { localTableName, startTestDynamo, type TestDynamo } from '../../../../infra/local/dynamodb.js';
import { PILLARS } from '../../../catalog.js';
import { DynamoDecisionLogReader } from '../../src/adapters/dynamo-decision-log-reader.js';
import { DynamoGrantStore } from '../../src/adapters/dynamo-grant-store.js';
import { GrantService } from '../../src/domain/grants.js';

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
    const service = new GrantService({ repository: store, clock, ids: new SequentialIds() });
    return { store, service, clock, target: tenant };
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
