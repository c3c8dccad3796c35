import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY_ENGINE } from '#shared/policy/source.js';
import { expectUniformError, type Harness, type Reply, startHarness } from './harness.js';

/** The engine this run decides with: Cedar, or OPA when ./authorize.opa.test.ts runs this suite. */
const RUNNING_ENGINE = process.env.CONDUCTOR_TEST_POLICY_ENGINE ?? DEFAULT_POLICY_ENGINE;

/**
 * The authorize API (M4) over real HTTP on the embedded runtime: the product's acceptance scenario
 * (acme's tenant-admin and globex's expert), grants, step-up, the decision log and policy dry-run.
 */
const ACME_ADMIN = 'test-acme-tenant-admin';
const GLOBEX_ADMIN = 'test-globex-tenant-admin';

let h: Harness;
let acmeAdmin: string;
let globexAdmin: string;
/** acme's tenant-admin without step-up (amr pwd only). */
let acmeAdminNoMfa: string;
let globexAdminNoMfa: string;
/** A globex tenant-admin account of the same person (same subject) as acme's requesting admin. */
let globexTwinOfRequester: string;
let globexExpertId: string;

beforeAll(async () => {
  h = await startHarness();
  acmeAdmin = h.tokens.acmeAdmin ?? '';
  globexAdmin = h.tokens.globexAdmin ?? '';
  const mint = (subject: string, tenant: string, amr: string[]) =>
    h.conductor.issuer.mint({ subject, tenant, roles: ['tenant-admin'], amr });
  acmeAdminNoMfa = await mint('acme-admin-without-mfa', 'acme', ['pwd']);
  globexAdminNoMfa = await mint('globex-admin-without-mfa', 'globex', ['pwd']);
  globexTwinOfRequester = await mint(ACME_ADMIN, 'globex', ['pwd', 'mfa']);
  const expert = await h.call('POST', '/experts', {
    token: globexAdmin,
    body: {
      name: 'globex-graph-expert',
      type: 'agent',
      costPerCallUsd: 0.01,
      endpoint: 'https://graph.globex.example.com/v1',
    },
  });
  expect(expert.status, expert.text).toBe(201);
  globexExpertId = expert.json.id;
});
afterAll(async () => {
  await h.conductor.stop();
});

const AS_GLOBEX = { 'x-conductor-tenant': 'globex' };

/** "May acme's tenant-admin read globex's expert?" as another service of acme would ask it. */
const readGlobexExpert = () => ({
  subject: { id: ACME_ADMIN, tenantId: 'acme', roles: ['tenant-admin'] },
  action: 'experts:get',
  resource: { tenantId: 'globex', kind: 'experts', id: globexExpertId },
  context: { mfa: true },
});

const askAuthorize = (token: string, body: unknown = readGlobexExpert()) =>
  h.call('POST', '/policy/authorize', { token, body });

const requestGrant = async (durationMinutes = 60, token = acmeAdmin): Promise<Reply> =>
  h.call('POST', '/policy/grants', {
    token,
    headers: AS_GLOBEX,
    body: { reason: 'incident INC-42: compare routing of the graph expert', durationMinutes },
  });

const onGrant = (
  action: 'approve' | 'revoke',
  id: string,
  token: string,
  headers: Record<string, string> = {},
) => h.call('POST', `/policy/grants/${id}/${action}`, { token, headers });

const epochSeconds = (iso: string): number => Math.floor(Date.parse(iso) / 1000);

describe('the authorize API over HTTP on the embedded runtime', () => {
  describe('the acceptance scenario: acme’s tenant-admin and a globex expert', () => {
    it('denies with request_approval, allows after an approved grant, and denies again after revoke', async () => {
      // Asked through the decision service: a deny is an answer.
      const before = await askAuthorize(acmeAdmin);
      expect(before.status, before.text).toBe(200);
      expect(before.json).toEqual({
        allow: false,
        obligations: ['request_approval'],
        decisionId: expect.stringMatching(/^dec_/),
        policyVersion: expect.stringMatching(new RegExp(`^${RUNNING_ENGINE}-[0-9a-f]{12}$`)),
        reasons: ['cross-tenant-needs-approved-grant'],
      });
      const refused = await h.call('GET', '/experts', { token: acmeAdmin, headers: AS_GLOBEX });
      expectUniformError(refused, 403, 'policy_denied');
      expect(refused.json.details.obligations).toEqual(['request_approval']);

      // acme's admin asks globex for access.
      const requested = await requestGrant();
      expect(requested.status, requested.text).toBe(201);
      const grant = requested.json;
      expect(grant).toMatchObject({
        tenantId: 'globex',
        status: 'pending',
        requesterSubject: ACME_ADMIN,
        requesterTenant: 'acme',
        durationMinutes: 60,
        version: 1,
      });
      expect(grant.id).toMatch(/^grt_/);
      expect(grant.expiresAt).toBe(epochSeconds(grant.createdAt) + 24 * 3600);
      expect(requested.headers.get('location')).toBe(`/api/conductor/v1/policy/grants/${grant.id}`);

      // The requester cannot approve: not from acme (cross-tenant), not as a globex account of theirs.
      const selfFromAcme = await onGrant('approve', grant.id, acmeAdmin, AS_GLOBEX);
      expectUniformError(selfFromAcme, 403, 'policy_denied');
      expect(selfFromAcme.json.details.obligations).toEqual(['request_approval']);
      expectUniformError(await onGrant('approve', grant.id, acmeAdmin), 404, 'grant_not_found');
      expectUniformError(
        await onGrant('approve', grant.id, globexTwinOfRequester),
        403,
        'approver_is_requester',
      );

      // globex's own tenant-admin approves.
      const approved = await onGrant('approve', grant.id, globexAdmin);
      expect(approved.status, approved.text).toBe(200);
      expect(approved.json).toMatchObject({ status: 'approved', approvedBy: GLOBEX_ADMIN, version: 2 });
      expect(approved.json.expiresAt).toBe(epochSeconds(approved.json.approvedAt) + 60 * 60);
      expectUniformError(await onGrant('approve', grant.id, globexAdmin), 409, 'grant_not_pending');

      // Now acme's admin reads globex's experts, and the decision service says so.
      const experts = await h.call('GET', '/experts?limit=100', { token: acmeAdmin, headers: AS_GLOBEX });
      expect(experts.status, experts.text).toBe(200);
      expect(experts.json.items.map((e: { id: string }) => e.id)).toContain(globexExpertId);
      expect(experts.json.items.every((e: { tenantId: string }) => e.tenantId === 'globex')).toBe(true);
      const during = await askAuthorize(acmeAdmin);
      expect(during.json).toMatchObject({ allow: true, obligations: [] });

      // Let in by the grant, acme's admin still cannot open globex to a colleague.
      const colleague = await h.conductor.issuer.mint({
        subject: 'acme-colleague',
        tenant: 'acme',
        roles: ['tenant-admin'],
        amr: ['pwd', 'mfa'],
      });
      const colleagues = await requestGrant(60, colleague);
      // The policy refuses it (forbid `grant-approved-by-its-tenant`); the grants service would too
      // (`approver_not_of_tenant`, its unit tests).
      expectUniformError(
        await onGrant('approve', colleagues.json.id, acmeAdmin, AS_GLOBEX),
        403,
        'policy_denied',
      );

      // Revoked (twice: idempotent), the door closes again.
      const revoked = await onGrant('revoke', grant.id, globexAdmin);
      expect(revoked.status, revoked.text).toBe(200);
      expect(revoked.json).toMatchObject({ status: 'revoked', revokedBy: GLOBEX_ADMIN, version: 3 });
      const again = await onGrant('revoke', grant.id, globexAdmin);
      expect(again.status).toBe(200);
      expect(again.json).toEqual(revoked.json);

      const closed = await h.call('GET', '/experts', { token: acmeAdmin, headers: AS_GLOBEX });
      expectUniformError(closed, 403, 'policy_denied');
      expect(closed.json.details.obligations).toEqual(['request_approval']);
      const after = await askAuthorize(acmeAdmin);
      expect(after.json).toMatchObject({ allow: false, obligations: ['request_approval'] });
    });

    it('ends an approved grant at approval time plus its duration, as stored and read back', async () => {
      const requested = await requestGrant(5);
      expect(requested.status, requested.text).toBe(201);

      const approved = await onGrant('approve', requested.json.id, globexAdmin);
      const read = await h.call('GET', `/policy/grants/${requested.json.id}`, { token: globexAdmin });

      expect(approved.status, approved.text).toBe(200);
      expect(approved.json.expiresAt - epochSeconds(approved.json.approvedAt)).toBe(5 * 60);
      expect(read.status, read.text).toBe(200);
      expect(read.json).toEqual(approved.json);
      await onGrant('revoke', requested.json.id, globexAdmin);
    });

    it('lists the grants of the acting tenant only', async () => {
      const requested = await requestGrant();

      const globexList = await h.call('GET', '/policy/grants?limit=100', { token: globexAdmin });
      const acmeList = await h.call('GET', '/policy/grants?limit=100', { token: acmeAdmin });

      expect(globexList.status).toBe(200);
      expect(globexList.json.items.map((g: { id: string }) => g.id)).toContain(requested.json.id);
      expect(globexList.json.items.every((g: { tenantId: string }) => g.tenantId === 'globex')).toBe(true);
      expect(acmeList.json.items.map((g: { id: string }) => g.id)).not.toContain(requested.json.id);
    });

    it('refuses a grant request without a target tenant, or naming the caller’s own', async () => {
      const body = { reason: 'why not', durationMinutes: 30 };
      expectUniformError(
        await h.call('POST', '/policy/grants', { token: acmeAdmin, body }),
        400,
        'grant_target_required',
      );
      expectUniformError(
        await h.call('POST', '/policy/grants', {
          token: acmeAdmin,
          headers: { 'x-conductor-tenant': 'acme' },
          body,
        }),
        400,
        'grant_target_required',
      );
      for (const durationMinutes of [4, 1441]) {
        expectUniformError(await requestGrant(durationMinutes), 400, 'validation_failed');
      }
    });
  });

  describe('step-up', () => {
    it('refuses a grant request by a tenant-admin without MFA, with obligation step_up', async () => {
      const reply = await requestGrant(60, acmeAdminNoMfa);

      expectUniformError(reply, 403, 'policy_denied');
      expect(reply.json.details.obligations).toEqual(['step_up']);
    });

    it('refuses an approval by a tenant-admin without MFA, with obligation step_up', async () => {
      const requested = await requestGrant();

      const reply = await onGrant('approve', requested.json.id, globexAdminNoMfa);

      expectUniformError(reply, 403, 'policy_denied');
      expect(reply.json.details.obligations).toEqual(['step_up']);
      const still = await h.call('GET', `/policy/grants/${requested.json.id}`, { token: globexAdmin });
      expect(still.json.status).toBe('pending');
    });
  });

  describe('POST /policy/authorize', () => {
    it('answers an operator’s question about its own tenant', async () => {
      const reply = await askAuthorize(h.tokens.acmeOperator ?? '', {
        subject: { id: 'someone', tenantId: 'acme', roles: ['viewer'] },
        action: 'experts:list',
        resource: { tenantId: 'acme', kind: 'experts' },
      });

      expect(reply.status, reply.text).toBe(200);
      expect(reply.json).toMatchObject({
        allow: true,
        obligations: [],
        reasons: ['read-own-or-granted-tenant', 'viewer-reads-experts-masked'],
      });
    });

    it('refuses a body whose subject belongs to another tenant than the caller’s (tampered tenant)', async () => {
      const reply = await askAuthorize(h.tokens.acmeOperator ?? '', {
        ...readGlobexExpert(),
        subject: { id: GLOBEX_ADMIN, tenantId: 'globex', roles: ['tenant-admin'] },
      });

      expectUniformError(reply, 403, 'policy_denied');
    });

    it('refuses an action the schema does not declare, and grants smuggled into the context', async () => {
      const unknown = await askAuthorize(acmeAdmin, { ...readGlobexExpert(), action: 'experts:purge' });
      const smuggled = await askAuthorize(acmeAdmin, {
        ...readGlobexExpert(),
        context: { mfa: true, grantedTenants: ['globex'] },
      });

      expectUniformError(unknown, 400, 'unknown_action');
      expect(unknown.json.message).toContain('experts:purge');
      expectUniformError(smuggled, 400, 'validation_failed');
    });

    it('decides router:route-to with the resource classification, and logs the classification', async () => {
      const routeTo = (roles: string[], classification?: unknown) =>
        askAuthorize(h.tokens.acmeOperator ?? '', {
          subject: { id: 'route-caller', tenantId: 'acme', roles },
          action: 'router:route-to',
          resource: {
            tenantId: 'acme',
            kind: 'experts',
            id: 'exp-classified-1',
            ...(classification !== undefined ? { classification } : {}),
          },
        });

      const operatorRestricted = await routeTo(['operator'], 'restricted');
      const adminRestricted = await routeTo(['tenant-admin'], 'restricted');
      const operatorOpen = await routeTo(['operator']);
      const malformed = await routeTo(['operator'], 7);

      expect(operatorRestricted.status, operatorRestricted.text).toBe(200);
      expect(operatorRestricted.json).toMatchObject({
        allow: false,
        obligations: [],
        reasons: ['restricted-experts-need-admin'],
      });
      expect(adminRestricted.json).toMatchObject({ allow: true, reasons: ['operate-own-or-granted-tenant'] });
      expect(operatorOpen.json).toMatchObject({ allow: true, reasons: ['operate-own-or-granted-tenant'] });
      expectUniformError(malformed, 400, 'validation_failed');

      const log = await h.call('GET', '/policy/decisions?action=router:route-to&limit=10', {
        token: acmeAdmin,
      });
      expect(log.status, log.text).toBe(200);
      const logged = log.json.items as { decisionId: string; input: { resource: Record<string, unknown> } }[];
      const byId = new Map(logged.map((d) => [d.decisionId, d.input.resource]));
      expect(byId.get(operatorRestricted.json.decisionId)).toEqual({
        tenant: 'acme',
        kind: 'experts',
        id: 'exp-classified-1',
        classification: 'restricted',
      });
      expect(byId.get(operatorOpen.json.decisionId)).toEqual({
        tenant: 'acme',
        kind: 'experts',
        id: 'exp-classified-1',
      });
    });

    it('refuses a viewer, who may not call the decision service', async () => {
      expectUniformError(await askAuthorize(h.tokens.acmeViewer ?? ''), 403, 'policy_denied');
    });

    it('answers a batch in request order, and refuses 31 requests', async () => {
      const own = {
        subject: { id: 'op', tenantId: 'acme', roles: ['operator'] },
        action: 'experts:create',
        resource: { tenantId: 'acme', kind: 'experts' },
      };
      const batch = await h.call('POST', '/policy/authorize/batch', {
        token: h.tokens.acmeOperator,
        body: { requests: [readGlobexExpert(), own, { ...own, action: 'experts:list' }] },
      });
      const tooMany = await h.call('POST', '/policy/authorize/batch', {
        token: h.tokens.acmeOperator,
        body: { requests: Array.from({ length: 31 }, () => own) },
      });

      expect(batch.status, batch.text).toBe(200);
      expect(batch.json.results.map((r: { allow: boolean }) => r.allow)).toEqual([false, false, true]);
      expect(batch.json.results[0].obligations).toEqual(['request_approval']);
      expect(new Set(batch.json.results.map((r: { decisionId: string }) => r.decisionId)).size).toBe(3);
      expectUniformError(tooMany, 400, 'validation_failed');
    });
  });

  describe('the decision log', () => {
    it('lists the acting tenant’s decisions newest first, with their inputs, and no other tenant’s', async () => {
      await h.call('GET', '/experts', { token: acmeAdmin, headers: AS_GLOBEX });
      await h.call('GET', '/experts', { token: h.tokens.globexViewer });

      const reply = await h.call('GET', '/policy/decisions?limit=50', { token: globexAdmin });

      expect(reply.status, reply.text).toBe(200);
      const items = reply.json.items as {
        decisionId: string;
        tenantId: string;
        at: string;
        engine: string;
        policyVersion: string;
        latencyMs: number;
        allow: boolean;
        input: {
          principal: { subject: string; tenant: string };
          action: string;
          resource: { tenant: string };
        };
      }[];
      expect(items.length).toBeGreaterThan(3);
      expect(items.every((d) => d.tenantId === 'globex')).toBe(true);
      expect(items.map((d) => d.at)).toEqual([...items.map((d) => d.at)].sort().reverse());
      for (const decision of items) {
        expect(decision.decisionId).toMatch(/^dec_/);
        expect(decision.engine).toBe(RUNNING_ENGINE);
        expect(decision.policyVersion).toMatch(new RegExp(`^${RUNNING_ENGINE}-`));
        expect(typeof decision.latencyMs).toBe('number');
        expect(decision.input.resource.tenant).toBe('globex');
      }
      // acme's cross-tenant attempt is in globex's log too, with acme's principal as its input.
      expect(
        items.some(
          (d) => d.input.principal.subject === ACME_ADMIN && d.input.principal.tenant === 'acme' && !d.allow,
        ),
      ).toBe(true);
    });

    it('filters by outcome and action, and pages with a cursor bound to the tenant', async () => {
      const denies = await h.call('GET', '/policy/decisions?decision=deny&action=experts:list&limit=5', {
        token: globexAdmin,
      });
      const first = await h.call('GET', '/policy/decisions?limit=2', { token: globexAdmin });
      const second = await h.call('GET', `/policy/decisions?limit=2&cursor=${first.json.nextCursor}`, {
        token: globexAdmin,
      });
      const forged = Buffer.from(JSON.stringify({ pk: 'T#acme#DECISION', sk: '9999' })).toString('base64url');

      expect(denies.status, denies.text).toBe(200);
      expect(denies.json.items.length).toBeGreaterThan(0);
      for (const d of denies.json.items) {
        expect(d.allow).toBe(false);
        expect(d.input.action).toBe('experts:list');
      }
      expect(first.json.items).toHaveLength(2);
      expect(second.json.items).toHaveLength(2);
      expect(second.json.items[0].at <= first.json.items[1].at).toBe(true);
      expect(second.json.items[0].decisionId).not.toBe(first.json.items[1].decisionId);
      expectUniformError(
        await h.call('GET', `/policy/decisions?cursor=${forged}`, { token: globexAdmin }),
        400,
        'invalid_cursor',
      );
    });

    it('is for admins: an operator is refused', async () => {
      expectUniformError(
        await h.call('GET', '/policy/decisions', { token: h.tokens.acmeOperator }),
        403,
        'policy_denied',
      );
    });
  });

  describe('policy dry-run', () => {
    const deployed = (file: string) =>
      readFileSync(new URL(`../../policies/cedar/${file}`, import.meta.url), 'utf8');

    it('reports the logged policy:authorize decisions a candidate without the operate permit would change', async () => {
      await askAuthorize(h.tokens.acmeOperator ?? '', {
        subject: { id: 'op', tenantId: 'acme', roles: ['operator'] },
        action: 'experts:list',
        resource: { tenantId: 'acme', kind: 'experts' },
      });
      const tenant = deployed('tenant.cedar');
      const withoutOperate = tenant.replace(/@id\("operate-own-or-granted-tenant"\)[\s\S]*?\};\n/, '');
      expect(withoutOperate).not.toBe(tenant);

      const reply = await h.call('POST', '/policy/dry-run', {
        token: acmeAdmin,
        body: { policies: { 'guards.cedar': deployed('guards.cedar'), 'tenant.cedar': withoutOperate } },
      });
      const unchanged = await h.call('POST', '/policy/dry-run', {
        token: acmeAdmin,
        body: { policies: { 'guards.cedar': deployed('guards.cedar'), 'tenant.cedar': tenant }, limit: 50 },
      });

      expect(reply.status, reply.text).toBe(200);
      expect(reply.json.evaluated).toBeGreaterThan(0);
      expect(reply.json.candidateVersion).not.toBe(reply.json.currentVersion);
      const authorizeChanges = reply.json.changed.filter(
        (c: { action: string }) => c.action === 'policy:authorize',
      );
      expect(authorizeChanges.length).toBeGreaterThan(0);
      for (const change of authorizeChanges) {
        expect(change.before.allow).toBe(true);
        expect(change.after.allow).toBe(false);
      }
      expect(unchanged.status).toBe(200);
      expect(unchanged.json.candidateVersion).toBe(unchanged.json.currentVersion);
      expect(unchanged.json.changed).toEqual([]);
    });

    it('refuses an invalid candidate with 422 and Cedar’s messages', async () => {
      const reply = await h.call('POST', '/policy/dry-run', {
        token: acmeAdmin,
        body: {
          policies: {
            'broken.cedar':
              '@id("typo")\npermit (principal, action == Conductor::Action::"experts:purge", resource);',
          },
        },
      });

      expectUniformError(reply, 422, 'invalid_policy_set');
      expect(reply.json.details.errors.length).toBeGreaterThan(0);
      expect(reply.json.details.errors.join(' ')).toContain('experts:purge');
    });
  });

  it('shows the engine, its policy version and its decision-cache hit rate', async () => {
    const reply = await h.call('GET', '/policy/engine', { token: acmeAdmin });

    expect(reply.status, reply.text).toBe(200);
    expect(reply.json.engine).toBe(RUNNING_ENGINE);
    expect(reply.json.policyVersion).toMatch(new RegExp(`^${RUNNING_ENGINE}-[0-9a-f]{12}$`));
    expect(reply.json.cache.hits + reply.json.cache.misses).toBeGreaterThan(0);
    expect(reply.json.cache.hitRate).toBeGreaterThanOrEqual(0);
    expect(reply.json.cache.hitRate).toBeLessThanOrEqual(1);
  });

  describe('decisions asked about another tenant’s resources', () => {
    interface LoggedDecision {
      decisionId: string;
      tenantId: string;
      source: string;
      input: { principal: { subject: string; tenant: string }; resource: { tenant: string; id?: string } };
    }

    /** A tenant's whole log of one action, every page, as that tenant's admin reads it. */
    const logOf = async (token: string, action: string): Promise<LoggedDecision[]> => {
      const items: LoggedDecision[] = [];
      let cursor: string | undefined;
      do {
        const page = await h.call(
          'GET',
          `/policy/decisions?action=${action}&limit=100${cursor ? `&cursor=${cursor}` : ''}`,
          { token },
        );
        expect(page.status, page.text).toBe(200);
        items.push(...page.json.items);
        cursor = page.json.nextCursor;
      } while (cursor);
      return items;
    };

    const aboutGlobexExpert = (subjectId: string) => ({
      subject: { id: subjectId, tenantId: 'acme', roles: ['tenant-admin'] },
      action: 'experts:get',
      resource: { tenantId: 'globex', kind: 'experts', id: globexExpertId },
      context: { mfa: true },
    });

    it('writes nothing into the resource tenant’s log: a batch of 30 lands in the asker’s log only', async () => {
      const globexBefore = await logOf(globexAdmin, 'experts:get');

      const batch = await h.call('POST', '/policy/authorize/batch', {
        token: h.tokens.acmeOperator,
        body: { requests: Array.from({ length: 30 }, (_, n) => aboutGlobexExpert(`forged-${n}`)) },
      });

      expect(batch.status, batch.text).toBe(200);
      const answered = batch.json.results as { decisionId: string; allow: boolean }[];
      expect(answered).toHaveLength(30);
      expect(answered.every((a) => !a.allow)).toBe(true);
      expect(await logOf(globexAdmin, 'experts:get')).toEqual(globexBefore);
      const acmeLog = new Map((await logOf(acmeAdmin, 'experts:get')).map((d) => [d.decisionId, d]));
      answered.forEach(({ decisionId }, n) => {
        expect(acmeLog.get(decisionId)).toMatchObject({
          tenantId: 'acme',
          source: 'api',
          input: {
            principal: { subject: `forged-${n}`, tenant: 'acme' },
            resource: { tenant: 'globex', id: globexExpertId },
          },
        });
      });
    });

    it('refuses a subject id with a newline or markup with 400, and logs nothing anywhere', async () => {
      const forged = 'FORGED-1\nline2 <script>';
      const globexBefore = await logOf(globexAdmin, 'experts:get');
      const acmeBefore = await logOf(acmeAdmin, 'experts:get');

      const one = await askAuthorize(h.tokens.acmeOperator ?? '', aboutGlobexExpert(forged));
      const batch = await h.call('POST', '/policy/authorize/batch', {
        token: h.tokens.acmeOperator,
        body: { requests: [aboutGlobexExpert('fine'), aboutGlobexExpert(forged)] },
      });

      expectUniformError(one, 400, 'validation_failed');
      expect(one.json.details.issues.map((i: { path: string }) => i.path)).toEqual(['body.subject.id']);
      expectUniformError(batch, 400, 'validation_failed');
      expect(batch.json.details.issues.map((i: { path: string }) => i.path)).toEqual([
        'body.requests.1.subject.id',
      ]);
      expect(await logOf(globexAdmin, 'experts:get')).toEqual(globexBefore);
      expect(await logOf(acmeAdmin, 'experts:get')).toEqual(acmeBefore);
    });
  });

  describe('pending grant requests', () => {
    const mintAdmin = (subject: string, tenant: string) =>
      h.conductor.issuer.mint({ subject, tenant, roles: ['tenant-admin'], amr: ['pwd', 'mfa'] });

    it('lets the requester withdraw its own pending request from its tenant, and no one else of it', async () => {
      const requested = await requestGrant();
      expect(requested.status, requested.text).toBe(201);
      const colleague = await mintAdmin('acme-colleague-withdrawing', 'acme');

      const byColleague = await onGrant('revoke', requested.json.id, colleague, AS_GLOBEX);
      const withoutMfa = await onGrant('revoke', requested.json.id, acmeAdminNoMfa, AS_GLOBEX);
      const stillPending = await h.call('GET', `/policy/grants/${requested.json.id}`, { token: globexAdmin });
      const withdrawn = await onGrant('revoke', requested.json.id, acmeAdmin, AS_GLOBEX);
      const read = await h.call('GET', `/policy/grants/${requested.json.id}`, { token: globexAdmin });

      expectUniformError(byColleague, 404, 'grant_not_found');
      expectUniformError(withoutMfa, 403, 'policy_denied');
      expect(withoutMfa.json.details.obligations).toEqual(['step_up']);
      expect(stillPending.json.status).toBe('pending');
      expect(withdrawn.status, withdrawn.text).toBe(200);
      expect(withdrawn.json).toMatchObject({ status: 'revoked', revokedBy: ACME_ADMIN, version: 2 });
      expect(read.json).toEqual(withdrawn.json);
      expectUniformError(await onGrant('approve', requested.json.id, globexAdmin), 409, 'grant_not_pending');
    });

    it('caps unanswered requests per requester and target tenant at 20: the 21st is 409 until the target answers one', async () => {
      const hooliAdmin = await mintAdmin('hooli-admin', 'hooli');
      const hooliColleague = await mintAdmin('hooli-colleague', 'hooli');
      const ask = (token: string, target = 'globex') =>
        h.call('POST', '/policy/grants', {
          token,
          headers: { 'x-conductor-tenant': target },
          body: { reason: 'capacity planning', durationMinutes: 30 },
        });

      const filed: string[] = [];
      for (let n = 0; n < 20; n += 1) {
        const reply = await ask(n % 2 === 0 ? hooliAdmin : hooliColleague);
        expect(reply.status, reply.text).toBe(201);
        filed.push(reply.json.id);
      }
      const twentyFirst = await ask(hooliColleague);
      const elsewhere = await ask(hooliAdmin, 'initech');
      const someoneElses = await onGrant('revoke', filed[1] ?? '', hooliAdmin, AS_GLOBEX);
      const withdrawn = await onGrant('revoke', filed[0] ?? '', hooliAdmin, AS_GLOBEX);
      // A withdrawn request keeps its place until it would have lapsed: no withdraw-and-ask-again flood.
      const afterWithdrawal = await ask(hooliColleague);
      const turnedDown = await onGrant('revoke', filed[2] ?? '', globexAdmin);
      const afterAnswer = await ask(hooliColleague);
      const overAgain = await ask(hooliAdmin);

      expectUniformError(twentyFirst, 409, 'too_many_pending_grants');
      expect(twentyFirst.json.message).toContain('20 pending');
      expect(elsewhere.status, elsewhere.text).toBe(201);
      expectUniformError(someoneElses, 404, 'grant_not_found');
      expect(withdrawn.status, withdrawn.text).toBe(200);
      expectUniformError(afterWithdrawal, 409, 'too_many_pending_grants');
      expect(turnedDown.status, turnedDown.text).toBe(200);
      expect(afterAnswer.status, afterAnswer.text).toBe(201);
      expectUniformError(overAgain, 409, 'too_many_pending_grants');
      const listed = await h.call('GET', '/policy/grants?limit=100', { token: globexAdmin });
      const hooliPending = listed.json.items.filter(
        (g: { requesterTenant: string; status: string }) =>
          g.requesterTenant === 'hooli' && g.status === 'pending',
      );
      expect(hooliPending).toHaveLength(19);
    });
  });
});
