import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteSpec } from '#shared/http/http.js';
import { routesOf } from '#shared/pillar.js';
import { PILLARS } from '../../functions/catalog.js';
import { expectUniformError, type Harness, type Reply, startHarness } from './harness.js';

const ALL_ROUTES = routesOf(PILLARS);

/**
 * Tenant isolation over real HTTP, driven by the route table: every token-bearing route of the
 * catalog is attacked by a tenant-admin (with MFA) of `acme` against `globex`, in the two ways a
 * caller can aim at another tenant: by naming it (X-Conductor-Tenant) and by using its ids. A new
 * route is covered automatically, with its contract's `exampleBody`; one that takes a body and has
 * neither an example nor a fixture below fails until it gets one.
 */
const MARKER = 'globex-secret-marker';

/** A valid body per operation (validation must not be what stops the attack). */
const BODIES: Record<string, unknown> = {
  createExpert: {
    name: 'intruder',
    type: 'tool',
    costPerCallUsd: 0,
    endpoint: 'https://intruder.example.com/x',
  },
  setExpertHealth: { status: 'unhealthy', reason: 'cross-tenant' },
  // Aimed at globex's routed task (globex-task, below): an outcome would feed its canary.
  postOutcome: { taskId: 'globex-task', status: 'error', latencyMs: 1 },
  updateExpert: {
    name: 'pwned',
    type: 'tool',
    costPerCallUsd: 0,
    endpoint: 'https://intruder.example.com/x',
  },
  authorize: {
    subject: { id: 'mallory', tenantId: 'acme', roles: ['tenant-admin'] },
    action: 'experts:get',
    resource: { tenantId: 'globex', kind: 'experts' },
    context: { mfa: true },
  },
  authorizeBatch: {
    requests: [
      {
        subject: { id: 'mallory', tenantId: 'acme', roles: ['tenant-admin'] },
        action: 'experts:list',
        resource: { tenantId: 'globex', kind: 'experts' },
        context: {},
      },
    ],
  },
  requestGrant: { reason: 'cross-tenant suite', durationMinutes: 60 },
  dryRunPolicies: { policies: { 'all.cedar': '@id("permit-all")\npermit (principal, action, resource);' } },
  // routeTask's candidates are globex's expert, filled in once it exists (beforeAll).
  updateRouterConfig: { strategy: 'static', killSwitch: true },
  // A reward aimed at globex's task: unknown in acme, so it is accepted and then recorded as rejected.
  postReward: { taskId: 'globex-task', signal: 'success_at_k', value: 1 },
};

/** Operations that are allowed to reach into another tenant by design, and what they may do there. */
const CROSS_TENANT_BY_DESIGN = new Set(['policy:grants:request']);
/**
 * Operations another tenant reaches only for what is its own there: a requester withdraws its own
 * grant request (revoke); anyone else's grant looks missing to it.
 */
const CROSS_TENANT_OWN_ONLY = new Map([['policy:grants:revoke', 'grant_not_found']]);

let h: Harness;
let attacker: string;
/** Path parameter values that name globex's real resources. */
const globexIds: Record<string, string> = {};
/** Path parameter values that name nothing at all, for the "indistinguishable from missing" check. */
const missingIds: Record<string, string> = {
  expertId: 'exp_00000000-0000-0000-0000-000000000000',
  grantId: 'grt_00000000-0000-0000-0000-000000000000',
  rationaleId: `rat_${Buffer.from('no-such-task').toString('base64url')}`,
  jobId: 'rpl_00000000-0000-0000-0000-000000000000',
};

beforeAll(async () => {
  h = await startHarness();
  attacker = await h.conductor.issuer.mint({
    subject: 'mallory',
    tenant: 'acme',
    roles: ['tenant-admin', 'org-admin'],
    amr: ['pwd', 'mfa'],
  });
  const expert = await h.call('POST', '/experts', {
    token: h.tokens.globexAdmin,
    body: { name: MARKER, type: 'model', costPerCallUsd: 1, endpoint: `https://${MARKER}.example.com/v1` },
  });
  expect(expert.status).toBe(201);
  globexIds.expertId = expert.json.id;
  BODIES.routeTask = {
    taskId: 'cross-tenant-task',
    context: { project: MARKER },
    candidates: [expert.json.id],
  };
  // Invoking globex's expert from acme: unknown there (and never called).
  BODIES.invokeTask = {
    taskId: 'cross-tenant-invoke',
    context: { project: MARKER },
    candidates: [expert.json.id],
    input: { project: MARKER },
  };
  // A routing decision of globex, whose rationale names the marker: its rationale id is aimed at.
  const routed = await h.call('POST', '/router/route', {
    token: h.tokens.globexAdmin,
    body: { taskId: 'globex-task', context: { project: MARKER }, candidates: [expert.json.id] },
  });
  expect(routed.status, routed.text).toBe(200);
  globexIds.rationaleId = routed.json.rationaleId;
  // A replay job of globex over its decisions: its result names globex's expert.
  const replay = await h.call('POST', '/router/replay', {
    token: h.tokens.globexAdmin,
    body: {
      from: new Date(Date.now() - 3_600_000).toISOString(),
      to: new Date(Date.now() + 3_600_000).toISOString(),
      candidate: { strategy: 'greedy' },
    },
  });
  expect(replay.status, replay.text).toBe(202);
  globexIds.jobId = replay.json.jobId;
  // A grant request of a third tenant lives in globex's partition: another globex id to aim at.
  const initechAdmin = await h.conductor.issuer.mint({
    subject: 'ivan',
    tenant: 'initech',
    roles: ['tenant-admin'],
    amr: ['pwd', 'mfa'],
  });
  const grant = await h.call('POST', '/policy/grants', {
    token: initechAdmin,
    headers: { 'x-conductor-tenant': 'globex' },
    body: { reason: MARKER, durationMinutes: 30 },
  });
  expect(grant.status, grant.text).toBe(201);
  globexIds.grantId = grant.json.id;
  // The dead letters are the platform's, not a tenant's: these name a real queue and no message.
  globexIds.queueId = 'rewards';
  globexIds.messageId = '00000000-0000-0000-0000-000000000000';
});
afterAll(async () => {
  await h.conductor.stop();
});

const fill = (spec: RouteSpec, ids: Record<string, string>): string =>
  spec.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = ids[name];
    if (value === undefined)
      throw new Error(`cross-tenant suite: add a fixture id for {${name}} (route ${spec.operationId})`);
    return value;
  });

const bodyOf = (spec: RouteSpec): unknown => {
  if (!spec.body) return undefined;
  // A body aimed at globex where the route takes one; else the contract's own valid example.
  const body = spec.operationId in BODIES ? BODIES[spec.operationId] : spec.exampleBody;
  if (body === undefined)
    throw new Error(
      `cross-tenant suite: give ${spec.operationId} an exampleBody in its contract, or a body here`,
    );
  return body;
};

const send = (spec: RouteSpec, path: string, headers: Record<string, string> = {}): Promise<Reply> => {
  const body = bodyOf(spec);
  return h.call(spec.method, path, { token: attacker, headers, ...(body === undefined ? {} : { body }) });
};

const jwtRoutes = ALL_ROUTES.filter((spec) => spec.auth === 'jwt');

describe('cross-tenant isolation, for every route of the catalog', () => {
  it('covers every token-bearing route', () => {
    expect(jwtRoutes.length).toBeGreaterThanOrEqual(5);
  });

  for (const spec of jwtRoutes) {
    describe(`${spec.method} ${spec.path} (${spec.action})`, () => {
      it('refuses acting in another tenant by naming it, unless the route exists to ask for access', async () => {
        const reply = await send(spec, fill(spec, globexIds), { 'x-conductor-tenant': 'globex' });

        expect(reply.text).not.toContain(MARKER);
        if (CROSS_TENANT_BY_DESIGN.has(spec.action)) {
          expect(reply.status).toBeLessThan(300);
          return;
        }
        const ownOnly = CROSS_TENANT_OWN_ONLY.get(spec.action);
        if (ownOnly) {
          expectUniformError(reply, 404, ownOnly);
          return;
        }
        expectUniformError(reply, 403, 'policy_denied');
        expect(reply.json.details.obligations).toContain('request_approval');
      });

      it('never answers with another tenant’s data when given its ids, and looks like a missing resource', async () => {
        const reply = await send(spec, fill(spec, globexIds));

        expect(reply.text).not.toContain(MARKER);
        expect(reply.status).not.toBe(500);
        if (spec.path.includes('{')) {
          const missing = await send(spec, fill(spec, { ...globexIds, ...missingIds }));
          expect(reply.status).toBe(missing.status);
          expect(reply.json?.code).toBe(missing.json?.code);
          const strip = (text: string) => text.replace(/exp_[\w-]+|grant_[\w-]+|grt_[\w-]+/g, '<id>');
          expect(strip(reply.json?.message ?? '')).toBe(strip(missing.json?.message ?? ''));
        }
      });
    });
  }

  it('leaves globex’s data unchanged after every attack', async () => {
    const reply = await h.call('GET', `/experts/${globexIds.expertId}`, { token: h.tokens.globexAdmin });
    expect(reply.status).toBe(200);
    expect(reply.json.name).toBe(MARKER);
    expect(reply.json.version).toBe(1);
    const grant = await h.call('GET', `/policy/grants/${globexIds.grantId}`, { token: h.tokens.globexAdmin });
    expect(grant.status).toBe(200);
    expect(grant.json.status).toBe('pending');
    const rationale = await h.call('GET', `/router/rationale/${globexIds.rationaleId}`, {
      token: h.tokens.globexAdmin,
    });
    expect(rationale.status).toBe(200);
    expect(rationale.json.taskId).toBe('globex-task');
    const config = await h.call('GET', '/router/config', { token: h.tokens.globexAdmin });
    expect(config.json).toMatchObject({ version: 0, killSwitch: false });
  });

  it('grants nothing by asking: a pending request of acme opens no globex data', async () => {
    const reply = await h.call('GET', '/experts', {
      token: attacker,
      headers: { 'x-conductor-tenant': 'globex' },
    });
    expectUniformError(reply, 403, 'policy_denied');
  });
});
