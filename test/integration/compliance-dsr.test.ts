import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelExpert, expectUniformError, type Harness, type Reply, startHarness } from './harness.js';

/**
 * Data subject requests (GDPR Art. 15-20) over real HTTP on the embedded runtime: POST
 * /compliance/dsr finds every record naming a person across the pillars' declared entities, in the
 * named tenants only, and answers (access), exports or erases them (delete) as each entity declares;
 * the request's record and its WORM log entry keep no person's id in clear. Org-admins only, with
 * step-up to run one.
 */
let h: Harness;
const JANE = 'u-dsr-jane';
const BOB = 'u-dsr-bob';
const tokens = {
  orgAdmin: '',
  orgAdminNoStepUp: '',
  acmeAdmin: '',
  janeAcme: '',
  bobAcme: '',
  janeGlobex: '',
  globexAdmin: '',
};
const experts = { jane: '', bob: '' };

/** The entities the seeds below write jane's id into, in acme. */
const JANE_ACME_ENTITIES = ['BUDGET', 'EVAL_SUITE', 'EVAL_SUITE_VERSION', 'EXPERT', 'ROUTER_CONFIG'];

interface Outcome {
  pillar: string;
  table: string;
  entity: string;
  onErasure: string;
  records: number;
  deleted: number;
  redacted: number;
  kept: number;
}
interface Found {
  pillar: string;
  table: string;
  entity: string;
  tenant: string;
  key: string;
  record: Record<string, unknown>;
}

const suiteDocument = (id: string, version = '1') => ({
  apiVersion: 'conductor.suite/v1',
  id,
  version,
  defaults: { scorer: { type: 'exact' } },
  tasks: [{ id: 'add', input: { question: '2+2' }, expected: 4 }],
});

const budgetBody = (window: 'monthly' | 'weekly', limit: number) => ({
  window,
  limit,
  timeZone: 'Europe/Berlin',
  policy: { gracePercent: 10, mode: 'throttle', alertThresholds: [50, 80, 100] },
});

const ok = (reply: Reply, status = 200): Reply => {
  expect(reply.status, reply.text).toBe(status);
  return reply;
};

const dsr = (body: unknown, token = tokens.orgAdmin) => h.call('POST', '/compliance/dsr', { token, body });

const listDsrIds = async (): Promise<string[]> => {
  const reply = ok(await h.call('GET', '/compliance/dsr?limit=100', { token: tokens.orgAdmin }));
  return (reply.json.items as { dsrId: string }[]).map((item) => item.dsrId);
};

const byEntity = (outcome: readonly Outcome[]) =>
  Object.fromEntries(outcome.map((entry) => [entry.entity, entry]));

const sortRecords = (records: readonly Found[]) =>
  [...records].sort((a, b) =>
    `${a.entity}|${a.tenant}|${a.key}`.localeCompare(`${b.entity}|${b.tenant}|${b.key}`),
  );

const suitesOf = async (token: string) => {
  const reply = ok(await h.call('GET', '/eval/suites?limit=100', { token }));
  return Object.fromEntries(
    (reply.json.items as { suiteId: string; registeredBy: string }[]).map((s) => [s.suiteId, s.registeredBy]),
  );
};

beforeAll(async () => {
  // Experts and the router configuration are read through a cache; read-backs must see the table.
  h = await startHarness({ functionEnv: { ROUTER_CONFIG_CACHE_MS: '0' } });
  const mint = (subject: string, tenant: string, roles: string[], amr?: string[]) =>
    h.conductor.issuer.mint({ subject, tenant, roles, ...(amr ? { amr } : {}) });
  tokens.orgAdmin = await mint('grc-lead', 'acme', ['org-admin'], ['pwd', 'mfa']);
  tokens.orgAdminNoStepUp = await mint('grc-lead-pwd', 'acme', ['org-admin']);
  tokens.acmeAdmin = h.tokens.acmeAdmin ?? '';
  tokens.globexAdmin = h.tokens.globexAdmin ?? '';
  tokens.janeAcme = await mint(JANE, 'acme', ['tenant-admin'], ['pwd', 'mfa']);
  tokens.bobAcme = await mint(BOB, 'acme', ['tenant-admin'], ['pwd', 'mfa']);
  tokens.janeGlobex = await mint(JANE, 'globex', ['tenant-admin'], ['pwd', 'mfa']);

  // Seed, over the API, records that name jane and bob in acme, and jane in globex.
  // Eval suites: EVAL_SUITE and EVAL_SUITE_VERSION, registeredBy.
  ok(
    await h.call('PUT', '/eval/suites/dsr-jane-suite', {
      token: tokens.janeAcme,
      body: suiteDocument('dsr-jane-suite'),
    }),
  );
  ok(
    await h.call('PUT', '/eval/suites/dsr-bob-suite', {
      token: tokens.bobAcme,
      body: suiteDocument('dsr-bob-suite'),
    }),
  );
  ok(
    await h.call('PUT', '/eval/suites/dsr-jane-suite', {
      token: tokens.janeGlobex,
      body: suiteDocument('dsr-jane-suite'),
    }),
  );
  // Experts' health marks: EXPERT, health.setBy.
  experts.jane = await createModelExpert(h, tokens.acmeAdmin, 'dsr-jane-expert');
  experts.bob = await createModelExpert(h, tokens.acmeAdmin, 'dsr-bob-expert');
  ok(
    await h.call('PUT', `/experts/${experts.jane}/health`, {
      token: tokens.janeAcme,
      body: { status: 'unhealthy', reason: 'flaky' },
    }),
  );
  ok(
    await h.call('PUT', `/experts/${experts.bob}/health`, {
      token: tokens.bobAcme,
      body: { status: 'unhealthy', reason: 'slow' },
    }),
  );
  // The router configuration: one record naming both (changes[0] jane's, changes[1] and updatedBy bob's).
  ok(await h.call('PUT', '/router/config', { token: tokens.janeAcme, body: { strategy: 'thompson' } }));
  ok(await h.call('PUT', '/router/config', { token: tokens.bobAcme, body: { strategy: 'greedy' } }));
  // Budgets: BUDGET, changedBy (one record per window).
  ok(await h.call('PUT', '/budgets/limits', { token: tokens.janeAcme, body: budgetBody('monthly', 1000) }));
  ok(await h.call('PUT', '/budgets/limits', { token: tokens.bobAcme, body: budgetBody('weekly', 250) }));
  ok(await h.call('PUT', '/budgets/limits', { token: tokens.janeGlobex, body: budgetBody('monthly', 500) }));
});
afterAll(() => h?.conductor.stop());

describe('data subject requests', () => {
  const created: string[] = [];
  let accessReply: Reply;

  it('access: jane’s records of acme, other people masked, no id in clear in the log', async () => {
    // Act
    const reply = await dsr({ type: 'access', subject: JANE, tenantIds: ['acme'] });
    accessReply = reply;

    // Assess: the answer
    expect(reply.status, reply.text).toBe(201);
    created.push(reply.json.dsrId);
    expect(reply.json).toMatchObject({
      type: 'access',
      status: 'completed',
      requestedBy: 'grc-lead',
      tenantIds: ['acme', 'platform'],
    });
    expect(reply.json.dsrId).toMatch(/^dsr_/);
    expect(reply.json.subjectHash).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(reply.headers.get('content-disposition')).toBeNull();
    const outcome = byEntity(reply.json.outcome);
    expect(Object.keys(outcome).sort()).toEqual(JANE_ACME_ENTITIES);
    for (const entity of JANE_ACME_ENTITIES) {
      expect(outcome[entity], entity).toMatchObject({ records: 1, deleted: 0, redacted: 0, kept: 0 });
    }
    expect(outcome.EVAL_SUITE).toMatchObject({ pillar: 'eval', table: 'eval', onErasure: 'redact' });
    expect(outcome.BUDGET).toMatchObject({ pillar: 'scheduler', table: 'scheduler' });

    const records = reply.json.records as Found[];
    expect(records.map((r) => r.entity).sort()).toEqual(JANE_ACME_ENTITIES);
    // Tenant B's records are not read: every record is acme's.
    expect(records.every((r) => r.tenant === 'acme')).toBe(true);
    const of = (entity: string) => records.find((r) => r.entity === entity)?.record ?? {};
    expect(of('EVAL_SUITE')).toMatchObject({ id: 'dsr-jane-suite', registeredBy: JANE });
    expect(of('EVAL_SUITE_VERSION')).toMatchObject({ id: 'dsr-jane-suite@1', registeredBy: JANE });
    expect(of('EXPERT')).toMatchObject({ id: experts.jane, health: { setBy: JANE, reason: 'flaky' } });
    expect(of('BUDGET')).toMatchObject({ window: 'monthly', limitUsd: 1000, changedBy: JANE });
    // The record naming both: bob's id reads [another person].
    const config = of('ROUTER_CONFIG') as { updatedBy: string; changes: { changedBy: string }[] };
    expect(config.updatedBy).toBe('[another person]');
    expect(config.changes.map((c) => c.changedBy)).toEqual([JANE, '[another person]']);
    // No record of bob, and his id nowhere in the answer; the keys are not handed out.
    expect(reply.text).not.toContain(BOB);
    for (const r of records) expect(Object.keys(r.record)).not.toContain('pk');
    // jane's id is in her records only, nowhere else in the answer.
    const { records: _records, ...rest } = reply.json;
    expect(JSON.stringify(rest)).not.toContain(JANE);

    // Where her id may remain unsearched.
    const where = (reply.json.retained as { where: string }[]).map((r) => r.where);
    expect(where).toEqual(expect.arrayContaining(['evidence:decisions/', 'table:policy/DECISION']));

    // Assess: the stored request (no person’s id at all) and its WORM log entry
    const stored = ok(await h.call('GET', `/compliance/dsr/${reply.json.dsrId}`, { token: tokens.orgAdmin }));
    expect(JSON.stringify(stored.json)).not.toContain(JANE);
    expect(stored.json.records).toBeUndefined();
    expect(stored.json).toEqual(rest);
    expect(stored.json.evidenceKey).toMatch(
      new RegExp(`^compliance/dsr/\\d{4}-\\d{2}-\\d{2}/${reply.json.dsrId}\\.json$`),
    );
    const logged = await h.conductor.worm.get(stored.json.evidenceKey);
    expect(logged).toBeDefined();
    expect(logged).not.toContain(JANE);
    expect(logged).not.toContain('grc-lead');
    const entry = JSON.parse(logged ?? '{}');
    expect(entry).toMatchObject({
      id: reply.json.dsrId,
      type: 'access',
      status: 'completed',
      subjectHash: reply.json.subjectHash,
      outcome: reply.json.outcome,
    });
    expect(entry.requestedBy).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    // The log entry is evidence: it cannot be replaced or deleted.
    await expect(h.conductor.worm.putOnce(stored.json.evidenceKey, '{}')).rejects.toThrow();
    await expect(h.conductor.worm.delete(stored.json.evidenceKey)).rejects.toThrow();
  });

  it('export: the same records, as an attachment', async () => {
    // Act
    const reply = await dsr({ type: 'export', subject: JANE, tenantIds: ['acme'] });

    // Assess
    expect(reply.status, reply.text).toBe(201);
    created.push(reply.json.dsrId);
    expect(reply.headers.get('content-disposition')).toBe(`attachment; filename="${reply.json.dsrId}.json"`);
    expect(reply.json.dsrId).toMatch(/^dsr_/);
    expect(reply.json.dsrId).not.toBe(accessReply.json.dsrId);
    expect(reply.json).toMatchObject({ type: 'export', status: 'completed' });
    // The same person, the same keyed hash.
    expect(reply.json.subjectHash).toBe(accessReply.json.subjectHash);
    expect(reply.json.outcome).toEqual(accessReply.json.outcome);
    expect(sortRecords(reply.json.records)).toEqual(sortRecords(accessReply.json.records));
  });

  it('hashes another person differently, and finds bob’s records only for bob', async () => {
    const reply = ok(await dsr({ type: 'access', subject: BOB, tenantIds: ['acme'] }), 201);
    created.push(reply.json.dsrId);
    expect(reply.json.subjectHash).not.toBe(accessReply.json.subjectHash);
    expect(Object.keys(byEntity(reply.json.outcome)).sort()).toEqual([
      'BUDGET',
      'EVAL_SUITE',
      'EVAL_SUITE_VERSION',
      'EXPERT',
      'ROUTER_CONFIG',
    ]);
    expect(reply.text).not.toContain(JANE);
  });

  it('delete: redacts jane’s id in acme as each entity declares; bob and globex untouched; again harmless', async () => {
    // Act
    const reply = await dsr({ type: 'delete', subject: JANE, tenantIds: ['acme'] });

    // Assess: the outcome
    expect(reply.status, reply.text).toBe(201);
    const dsrId = reply.json.dsrId as string;
    created.push(dsrId);
    expect(reply.json).toMatchObject({ type: 'delete', status: 'completed' });
    expect(reply.json.records).toBeUndefined();
    expect(reply.headers.get('content-disposition')).toBeNull();
    expect(reply.text).not.toContain(JANE);
    const outcome = byEntity(reply.json.outcome);
    expect(Object.keys(outcome).sort()).toEqual(JANE_ACME_ENTITIES);
    for (const entity of JANE_ACME_ENTITIES) {
      expect(outcome[entity], entity).toMatchObject({
        onErasure: 'redact',
        records: 1,
        redacted: 1,
        deleted: 0,
        kept: 0,
      });
    }
    const logged = await h.conductor.worm.get(reply.json.evidenceKey);
    expect(logged).toBeDefined();
    expect(logged).not.toContain(JANE);

    // Assess: the resources read back through the API
    const marker = `[erased by ${dsrId}]`;
    const acmeSuites = await suitesOf(tokens.acmeAdmin);
    expect(acmeSuites['dsr-jane-suite']).toBe(marker);
    expect(acmeSuites['dsr-bob-suite']).toBe(BOB);
    expect((await suitesOf(tokens.globexAdmin))['dsr-jane-suite']).toBe(JANE);
    const janeExpert = ok(await h.call('GET', `/experts/${experts.jane}`, { token: tokens.acmeAdmin }));
    expect(janeExpert.json.health).toMatchObject({ status: 'unhealthy', reason: 'flaky', setBy: marker });
    const bobExpert = ok(await h.call('GET', `/experts/${experts.bob}`, { token: tokens.acmeAdmin }));
    expect(bobExpert.json.health).toMatchObject({ status: 'unhealthy', reason: 'slow', setBy: BOB });
    const config = ok(await h.call('GET', '/router/config', { token: tokens.acmeAdmin }));
    expect(config.json).toMatchObject({ strategy: 'greedy', updatedBy: BOB });
    const history = ok(await h.call('GET', '/router/config/history', { token: tokens.acmeAdmin }));
    // Newest first: bob's change, then jane's.
    expect(history.json.items.map((c: { changedBy: string }) => c.changedBy)).toEqual([BOB, marker]);
    expect(history.json.items.map((c: { config: { strategy: string } }) => c.config.strategy)).toEqual([
      'greedy',
      'thompson',
    ]);

    // Assess: a second access finds nothing of jane in acme; bob's and globex's records remain.
    const again = ok(await dsr({ type: 'access', subject: JANE, tenantIds: ['acme'] }), 201);
    created.push(again.json.dsrId);
    expect(again.json.outcome).toEqual([]);
    expect(again.json.records).toEqual([]);
    const bob = ok(await dsr({ type: 'access', subject: BOB, tenantIds: ['acme'] }), 201);
    created.push(bob.json.dsrId);
    const bobOutcome = byEntity(bob.json.outcome);
    expect(Object.keys(bobOutcome).sort()).toEqual(JANE_ACME_ENTITIES);
    expect((bob.json.records as Found[]).find((r) => r.entity === 'BUDGET')?.record).toMatchObject({
      window: 'weekly',
      changedBy: BOB,
    });
    // Jane's erased id in the shared record is not bob's: it reads as the marker, not as him.
    const bobConfig = (bob.json.records as Found[]).find((r) => r.entity === 'ROUTER_CONFIG')?.record as {
      changes: { changedBy: string }[];
    };
    expect(bobConfig.changes.map((c) => c.changedBy)).toEqual(['[another person]', BOB]);
    // Act + assess: erasing again finds nothing and changes nothing.
    const twice = ok(await dsr({ type: 'delete', subject: JANE, tenantIds: ['acme'] }), 201);
    created.push(twice.json.dsrId);
    expect(twice.json).toMatchObject({ type: 'delete', status: 'completed', outcome: [] });
    expect((await suitesOf(tokens.acmeAdmin))['dsr-jane-suite']).toBe(marker);
    const historyAfter = ok(await h.call('GET', '/router/config/history', { token: tokens.acmeAdmin }));
    expect(historyAfter.json).toEqual(history.json);
  });

  it('answers for a tenant other than the caller’s, and for the platform’s own records', async () => {
    // Act: the org-admin's token acts in acme; jane's globex records were left alone by the erasure.
    const before = await listDsrIds();
    const globex = await dsr({ type: 'access', subject: JANE, tenantIds: ['globex'] });
    // The org-admin's own id is in the platform partition (the DSR log's requestedBy, kept on erasure).
    const self = await dsr({ type: 'export', subject: 'grc-lead', tenantIds: ['acme'] });
    const added = (await listDsrIds()).filter((id) => !before.includes(id));
    created.push(...added);

    // Assess: both requests ran to their end and were logged, answer or not
    expect(added).toHaveLength(2);
    const [globexLogged, selfLogged] = await Promise.all(
      added.map(
        async (id) => ok(await h.call('GET', `/compliance/dsr/${id}`, { token: tokens.orgAdmin })).json,
      ),
    );
    expect(globexLogged).toMatchObject({
      type: 'access',
      status: 'completed',
      tenantIds: ['globex', 'platform'],
    });
    expect(Object.keys(byEntity(globexLogged.outcome)).sort()).toEqual([
      'BUDGET',
      'EVAL_SUITE',
      'EVAL_SUITE_VERSION',
    ]);
    expect(selfLogged).toMatchObject({ type: 'export', status: 'completed' });
    expect(byEntity(selfLogged.outcome).DSR).toMatchObject({ pillar: 'compliance', onErasure: 'keep' });
    // ...and the caller gets the answer.
    expect(globex.status, globex.text).toBe(201);
    expect(Object.keys(byEntity(globex.json.outcome)).sort()).toEqual([
      'BUDGET',
      'EVAL_SUITE',
      'EVAL_SUITE_VERSION',
    ]);
    for (const entry of globex.json.outcome as Outcome[]) expect(entry.records, entry.entity).toBe(1);
    const records = globex.json.records as Found[];
    expect(records.map((r) => r.entity).sort()).toEqual(['BUDGET', 'EVAL_SUITE', 'EVAL_SUITE_VERSION']);
    expect(records.find((r) => r.entity === 'EVAL_SUITE')?.record).toMatchObject({ registeredBy: JANE });
    expect(records.find((r) => r.entity === 'BUDGET')?.record).toMatchObject({
      limitUsd: 500,
      changedBy: JANE,
    });
    expect(self.status, self.text).toBe(201);
    expect(byEntity(self.json.outcome).DSR).toMatchObject({ pillar: 'compliance', onErasure: 'keep' });
  });

  it('refuses bad input with a 400 in the uniform shape, recording nothing', async () => {
    const before = await listDsrIds();
    const refused = [
      { type: 'rectify', subject: JANE, tenantIds: ['acme'] },
      { type: 'access', subject: '   ', tenantIds: ['acme'] },
      { type: 'access', subject: '', tenantIds: ['acme'] },
      { type: 'access', subject: JANE, tenantIds: [] },
      { type: 'access', subject: JANE, tenantIds: ['Not A Tenant!'] },
      { type: 'access', subject: JANE, tenantIds: ['acme'], reason: 'extra field' },
      { type: 'access', tenantIds: ['acme'] },
    ];
    for (const body of refused) {
      const reply = await dsr(body);
      expectUniformError(reply, 400, 'validation_failed');
    }
    const notJson = await h.call('POST', '/compliance/dsr', {
      token: tokens.orgAdmin,
      rawBody: '{"type":"access",',
      headers: { 'content-type': 'application/json' },
    });
    expect(notJson.status, notJson.text).toBe(400);
    expectUniformError(notJson, 400);
    expect(await listDsrIds()).toEqual(before);
  });

  it('is org-admin only, with step-up to run; lists the requests oldest first', async () => {
    const before = await listDsrIds();

    // Act
    const noStepUp = await dsr(
      { type: 'access', subject: JANE, tenantIds: ['acme'] },
      tokens.orgAdminNoStepUp,
    );
    const tenantAdminRun = await dsr(
      { type: 'access', subject: JANE, tenantIds: ['acme'] },
      tokens.acmeAdmin,
    );
    const tenantAdminErase = await dsr(
      { type: 'delete', subject: BOB, tenantIds: ['acme'] },
      tokens.janeAcme,
    );
    const tenantAdminList = await h.call('GET', '/compliance/dsr', { token: tokens.acmeAdmin });
    const tenantAdminGet = await h.call('GET', `/compliance/dsr/${created[0]}`, { token: tokens.acmeAdmin });
    const anonymous = await h.call('GET', '/compliance/dsr');
    const unknown = await h.call('GET', '/compliance/dsr/dsr_20990101T000000000Z_nope', {
      token: tokens.orgAdmin,
    });
    const malformedId = await h.call('GET', '/compliance/dsr/not-a-dsr', { token: tokens.orgAdmin });

    // Assess
    expectUniformError(noStepUp, 403, 'policy_denied');
    expect(noStepUp.json.details.obligations).toEqual(['step_up']);
    expectUniformError(tenantAdminRun, 403, 'policy_denied');
    expectUniformError(tenantAdminErase, 403, 'policy_denied');
    expectUniformError(tenantAdminList, 403, 'policy_denied');
    expectUniformError(tenantAdminGet, 403, 'policy_denied');
    expect(tenantAdminGet.text).not.toContain('hmac-sha256');
    expectUniformError(anonymous, 401);
    expectUniformError(unknown, 404);
    expectUniformError(malformedId, 400, 'validation_failed');
    // Nothing was recorded by a refusal; bob's records are still there.
    expect(await listDsrIds()).toEqual(before);
    expect((await suitesOf(tokens.acmeAdmin))['dsr-bob-suite']).toBe(BOB);

    // Reads need no step-up; the log lists every request, oldest first.
    const list = ok(await h.call('GET', '/compliance/dsr?limit=100', { token: tokens.orgAdminNoStepUp }));
    expect(list.json.items.map((item: { dsrId: string }) => item.dsrId)).toEqual(created);
    const requestedAt = list.json.items.map((item: { requestedAt: string }) => item.requestedAt);
    expect(requestedAt).toEqual([...requestedAt].sort());
    expect(list.json.items.map((item: { type: string }) => item.type)).toEqual([
      'access',
      'export',
      'access',
      'delete',
      'access',
      'access',
      'delete',
      'access',
      'export',
    ]);
    expect(JSON.stringify(list.json)).not.toContain(JANE);
    expect(JSON.stringify(list.json)).not.toContain(BOB);
    const paged = ok(await h.call('GET', '/compliance/dsr?limit=3', { token: tokens.orgAdmin }));
    expect(paged.json.items.map((item: { dsrId: string }) => item.dsrId)).toEqual(created.slice(0, 3));
    expect(typeof paged.json.nextCursor).toBe('string');
  });
});
