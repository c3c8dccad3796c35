import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY_ENGINE } from '#shared/policy/source.js';
import { expectUniformError, type Harness, startHarness } from './harness.js';

let h: Harness;
let admin: string;
let operator: string;
let viewer: string;
const ids: Record<string, string> = {};

const createExpert = async (token: string, name: string, enabled = true): Promise<string> => {
  const reply = await h.call('POST', '/experts', {
    token,
    body: { name, type: 'model', costPerCallUsd: 0.001, endpoint: `https://${name}.example.com/v1`, enabled },
  });
  expect(reply.status, reply.text).toBe(201);
  return reply.json.id as string;
};

const route = (body: unknown, token = operator) => h.call('POST', '/router/route', { token, body });

beforeAll(async () => {
  h = await startHarness();
  admin = h.tokens.acmeAdmin ?? '';
  operator = h.tokens.acmeOperator ?? '';
  viewer = h.tokens.acmeViewer ?? '';
  ids.fast = await createExpert(admin, 'fast-model');
  ids.smart = await createExpert(admin, 'smart-model');
  ids.off = await createExpert(admin, 'retired-model', false);
  ids.globex = await createExpert(h.tokens.globexAdmin ?? '', 'globex-model');
});
afterAll(async () => {
  await h.conductor.stop();
});

describe('routing over HTTP on the embedded runtime', () => {
  it('routes a task to one of its candidates and answers the decision’s fields', async () => {
    // Act
    const reply = await route({
      taskId: 'task-route-1',
      context: { language: 'ts', tokens: 1200, urgent: true, tags: ['graph'] },
      candidates: [ids.fast, ids.smart],
    });

    // Assess
    expect(reply.status, reply.text).toBe(200);
    expect(Object.keys(reply.json).sort()).toEqual([
      'confidence',
      'decisionId',
      'expertId',
      'rationaleId',
      'strategy',
    ]);
    expect([ids.fast, ids.smart]).toContain(reply.json.expertId);
    expect(reply.json.strategy).toBe('linucb');
    expect(reply.json.confidence).toBeGreaterThanOrEqual(0);
    expect(reply.json.confidence).toBeLessThanOrEqual(1);
    expect(reply.headers.get('x-ratelimit-limit')).toBeTruthy();
  });

  it('answers a retried task with the identical decision', async () => {
    // Prepare
    const body = { taskId: 'task-retry', context: { tier: 'gold' }, candidates: [ids.fast, ids.smart] };
    const first = await route(body);

    // Act
    const retries = await Promise.all([
      route(body),
      route(body),
      route({ ...body, candidates: [ids.smart] }),
    ]);

    // Assess
    expect(first.status).toBe(200);
    for (const retry of retries) {
      expect(retry.status).toBe(200);
      expect(retry.json).toEqual(first.json);
    }
  });

  it('serves the rationale: candidates assessed, removed ones with reasons, named top features', async () => {
    // Prepare
    const routed = await route({
      taskId: 'task-rationale',
      context: { language: 'go' },
      candidates: [ids.fast, 'exp_00000000-0000-0000-0000-000000000000', ids.off, ids.smart, ids.globex],
    });
    expect(routed.status, routed.text).toBe(200);

    // Act
    const reply = await h.call('GET', `/router/rationale/${routed.json.rationaleId}`, { token: viewer });

    // Assess
    expect(reply.status, reply.text).toBe(200);
    expect(reply.json).toMatchObject({
      rationaleId: routed.json.rationaleId,
      decisionId: routed.json.decisionId,
      taskId: 'task-rationale',
      tenantId: 'acme',
      expertId: routed.json.expertId,
      strategy: 'linucb',
      killSwitch: false,
      removed: [
        { expertId: 'exp_00000000-0000-0000-0000-000000000000', reason: 'unknown' },
        { expertId: ids.off, reason: 'disabled' },
        { expertId: ids.globex, reason: 'unknown' },
      ],
    });
    expect(reply.json.candidates.map((c: { expertId: string }) => c.expertId)).toEqual([ids.fast, ids.smart]);
    expect(reply.json.candidates[0]).toEqual(
      expect.objectContaining({ estimate: expect.any(Number), bonus: expect.any(Number) }),
    );
    // Neither expert has learnt anything yet: nothing to attribute.
    expect(reply.json.attribution).toBeUndefined();

    // Once a reward is learnt, the pick against the runner-up, feature by feature, with names.
    const rewarded = await h.call('POST', '/router/reward', {
      token: operator,
      body: { taskId: 'task-rationale', signal: 'success_at_k', value: 1 },
    });
    expect(rewarded.status, rewarded.text).toBe(202);
    for (const mapping of h.conductor.mappings.values()) await mapping.drain();
    // The router reads the model again within its 5 s cache.
    let again = await route({
      taskId: 'task-rationale-2',
      context: { language: 'go' },
      candidates: [ids.fast, ids.smart],
    });
    let explained = await h.call('GET', `/router/rationale/${again.json.rationaleId}`, { token: viewer });
    for (let attempt = 3; attempt <= 22 && explained.json.attribution === undefined; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      again = await route({
        taskId: `task-rationale-${attempt}`,
        context: { language: 'go' },
        candidates: [ids.fast, ids.smart],
      });
      explained = await h.call('GET', `/router/rationale/${again.json.rationaleId}`, { token: viewer });
    }
    const attribution = explained.json.attribution as {
      runnerUpExpertId: string;
      estimateMargin: number;
      features: {
        names: string[];
        weight: number;
        runnerUpWeight: number;
        value: number;
        marginContribution: number;
      }[];
    };
    expect(attribution.runnerUpExpertId).toBe([ids.fast, ids.smart].find((id) => id !== again.json.expertId));
    expect(attribution.features.length).toBeGreaterThan(0);
    expect(attribution.features.flatMap((f) => f.names)).toContain('(intercept)');
    for (const f of attribution.features)
      expect(f.marginContribution).toBeCloseTo((f.weight - f.runnerUpWeight) * f.value, 4);
    expect(reply.text).not.toContain('globex-model');
  });

  it('treats another tenant’s rationale like a missing one (404)', async () => {
    // Prepare
    const routed = await route({ taskId: 'task-private', context: {}, candidates: [ids.fast] });
    expect(routed.status).toBe(200);

    // Act
    const foreign = await h.call('GET', `/router/rationale/${routed.json.rationaleId}`, {
      token: h.tokens.globexViewer,
    });
    const missing = await h.call('GET', '/router/rationale/rat_bm8tc3VjaC10YXNr', { token: viewer });

    // Assess
    expectUniformError(foreign, 404, 'rationale_not_found');
    expectUniformError(missing, 404, 'rationale_not_found');
    expect(foreign.json.message).toBe(missing.json.message);
  });

  it('serves the default expert under the tenant kill-switch, with If-Match on the config', async () => {
    // Prepare
    const initial = await h.call('GET', '/router/config', { token: viewer });
    expect(initial.status).toBe(200);
    expect(initial.json).toMatchObject({ strategy: 'linucb', alpha: 0.5, dimension: 32, killSwitch: false });
    const version = initial.json.version as number;

    // Act
    const on = await h.call('PUT', '/router/config', {
      token: admin,
      headers: { 'if-match': `"${version}"` },
      body: { strategy: 'linucb', defaultExpertId: ids.smart, killSwitch: true },
    });
    const stale = await h.call('PUT', '/router/config', {
      token: admin,
      headers: { 'if-match': `"${version}"` },
      body: { strategy: 'greedy' },
    });
    const routed = await Promise.all(
      ['ks-1', 'ks-2', 'ks-3'].map((taskId) =>
        route({ taskId, context: { n: 1 }, candidates: [ids.fast, ids.smart] }),
      ),
    );
    const off = await h.call('PUT', '/router/config', {
      token: admin,
      headers: { 'if-match': on.headers.get('etag') ?? '' },
      body: { strategy: 'linucb', killSwitch: false },
    });
    const after = await route({ taskId: 'ks-after', context: { n: 1 }, candidates: [ids.fast, ids.smart] });

    // Assess
    expect(on.status, on.text).toBe(200);
    expect(on.json).toMatchObject({ killSwitch: true, defaultExpertId: ids.smart, version: version + 1 });
    expect(on.headers.get('etag')).toBe(`"${version + 1}"`);
    expectUniformError(stale, 409, 'version_conflict');
    for (const reply of routed) {
      expect(reply.status).toBe(200);
      expect(reply.json).toMatchObject({ expertId: ids.smart, strategy: 'kill_switch' });
    }
    const rationale = await h.call('GET', `/router/rationale/${routed[0]?.json.rationaleId}`, {
      token: viewer,
    });
    expect(rationale.json).toMatchObject({ killSwitch: true, propensity: 1, exploration: false });
    expect(off.status, off.text).toBe(200);
    expect(after.json.strategy).toBe('linucb');
  });

  it('refuses a config change without step-up, by an operator, or with unknown fields', async () => {
    // Prepare
    const adminWithoutMfa = await h.conductor.issuer.mint({ subject: 'a', tenant: 'acme', roles: ['admin'] });
    // MFA two hours ago, token refreshed now: not a fresh step-up (the default window is an hour).
    const refreshedLater = await h.conductor.issuer.mint({
      subject: 'a',
      tenant: 'acme',
      roles: ['admin'],
      amr: ['pwd', 'mfa'],
      authTime: Math.floor(Date.now() / 1000) - 2 * 3600,
    });

    // Act
    const noMfa = await h.call('PUT', '/router/config', {
      token: adminWithoutMfa,
      body: { strategy: 'greedy' },
    });
    const stale = await h.call('PUT', '/router/config', {
      token: refreshedLater,
      body: { strategy: 'greedy' },
    });
    const byOperator = await h.call('PUT', '/router/config', {
      token: operator,
      body: { strategy: 'greedy' },
    });
    const unknownField = await h.call('PUT', '/router/config', {
      token: admin,
      body: { strategy: 'greedy', version: 7 },
    });
    const badValues = await h.call('PUT', '/router/config', {
      token: admin,
      body: { strategy: 'ucb', epsilon: 2, dimension: 4 },
    });
    const unknownDefault = await h.call('PUT', '/router/config', {
      token: admin,
      body: { strategy: 'static', defaultExpertId: ids.globex },
    });

    // Assess
    expectUniformError(noMfa, 403);
    expect(noMfa.json.details.obligations).toContain('step_up');
    expectUniformError(stale, 403);
    expect(stale.json.details.obligations).toContain('step_up');
    expectUniformError(byOperator, 403);
    expectUniformError(unknownField, 400, 'validation_failed');
    expectUniformError(badValues, 400, 'validation_failed');
    const paths = badValues.json.details.issues.map((i: { path: string }) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['body.strategy', 'body.epsilon', 'body.dimension']));
    expectUniformError(unknownDefault, 422, 'unknown_expert');
  });
});

describe('bad route requests', () => {
  it('refuses empty candidates with 400 and candidates that are all unusable with 422 no_candidates', async () => {
    // Act
    const empty = await route({ taskId: 'bad-empty', context: {}, candidates: [] });
    const unusable = await route({ taskId: 'bad-none', context: {}, candidates: [ids.off, ids.globex, 'x'] });

    // Assess
    expectUniformError(empty, 400, 'validation_failed');
    expectUniformError(unusable, 422, 'no_candidates');
    expect(unusable.json.details.removed).toEqual([
      { expertId: ids.off, reason: 'disabled' },
      { expertId: ids.globex, reason: 'unknown' },
      { expertId: 'x', reason: 'unknown' },
    ]);
    expect(unusable.text).not.toContain('globex-model');
  });

  it('refuses an oversized context with 413', async () => {
    // Act
    const reply = await route({
      taskId: 'bad-big',
      context: { blob: 'x'.repeat(20_000) },
      candidates: [ids.fast],
    });

    // Assess
    expectUniformError(reply, 413, 'payload_too_large');
  });

  it('refuses non-finite numbers, wrong value types and bad task ids with 400', async () => {
    // Act
    const overflow = await h.call('POST', '/router/route', {
      token: operator,
      rawBody: `{"taskId":"bad-inf","context":{"size":1e999},"candidates":["${ids.fast}"]}`,
      headers: { 'content-type': 'application/json' },
    });
    const nan = await h.call('POST', '/router/route', {
      token: operator,
      rawBody: `{"taskId":"bad-nan","context":{"size":NaN},"candidates":["${ids.fast}"]}`,
      headers: { 'content-type': 'application/json' },
    });
    const nested = await route({ taskId: 'bad-nested', context: { deep: { x: 1 } }, candidates: [ids.fast] });
    const badTask = await route({ taskId: 'has spaces', context: {}, candidates: [ids.fast] });
    const tooMany = await route({
      taskId: 'bad-many',
      context: {},
      candidates: Array.from({ length: 33 }, (_, i) => `exp_${i}`),
    });
    const noContext = await route({ taskId: 'bad-noctx', candidates: [ids.fast] });

    // Assess
    expectUniformError(overflow, 400, 'validation_failed');
    expectUniformError(nan, 400, 'malformed_json');
    expectUniformError(nested, 400, 'validation_failed');
    expectUniformError(badTask, 400, 'validation_failed');
    expectUniformError(tooMany, 400, 'validation_failed');
    expectUniformError(noContext, 400, 'validation_failed');
  });

  it('refuses a body naming another tenant with 403, and a viewer with 403', async () => {
    // Act
    const otherTenant = await route({
      taskId: 'bad-tenant',
      tenantId: 'globex',
      context: {},
      candidates: [ids.fast],
    });
    const sameTenant = await route({
      taskId: 'ok-tenant',
      tenantId: 'acme',
      context: {},
      candidates: [ids.fast],
    });
    const byViewer = await route({ taskId: 'bad-viewer', context: {}, candidates: [ids.fast] }, viewer);

    // Assess
    expectUniformError(otherTenant, 403, 'tenant_mismatch');
    expect(sameTenant.status).toBe(200);
    expectUniformError(byViewer, 403);
  });
});

describe('the router configuration’s audit trail', () => {
  it('answers who changed the configuration, when and to what, to admins only', async () => {
    // Prepare
    const put = await h.call('PUT', '/router/config', {
      token: admin,
      body: { strategy: 'thompson', explorationCap: 0.25 },
    });
    expect(put.status, put.text).toBe(200);
    expect(put.json.updatedBy).toBeTruthy();

    // Act
    const history = await h.call('GET', '/router/config/history', { token: admin });
    const byViewer = await h.call('GET', '/router/config/history', { token: viewer });
    const byOperator = await h.call('GET', '/router/config/history', { token: operator });

    // Assess
    expect(history.status, history.text).toBe(200);
    expect(history.json.items[0]).toMatchObject({
      version: put.json.version,
      changedBy: put.json.updatedBy,
      config: { strategy: 'thompson', explorationCap: 0.25 },
    });
    expect(history.json.items.map((c: { version: number }) => c.version)).toEqual(
      [...history.json.items.map((c: { version: number }) => c.version)].sort((a, b) => b - a),
    );
    expectUniformError(byViewer, 403);
    expectUniformError(byOperator, 403);
  });
});

describe('what a route may route to: health and policy', () => {
  it('skips an expert an operator marked unhealthy (reason unhealthy), and routes to it again once marked healthy', async () => {
    // Prepare
    const flaky = await createExpert(admin, 'flaky-model');
    const mark = await h.call('PUT', `/experts/${flaky}/health`, {
      token: operator,
      body: { status: 'unhealthy', reason: 'error rate 40%', ttlSeconds: 600 },
    });
    expect(mark.status, mark.text).toBe(200);
    expect(mark.json.health).toMatchObject({ status: 'unhealthy', reason: 'error rate 40%' });
    expect(mark.json.health.setBy).toBeTruthy();

    // Act
    const during = await route({ taskId: 'health-1', context: {}, candidates: [flaky, ids.fast] });
    const healed = await h.call('PUT', `/experts/${flaky}/health`, {
      token: operator,
      body: { status: 'healthy' },
    });
    const after = await route({ taskId: 'health-2', context: {}, candidates: [flaky] });

    // Assess
    expect(during.status, during.text).toBe(200);
    expect(during.json.expertId).toBe(ids.fast);
    const rationale = await h.call('GET', `/router/rationale/${during.json.rationaleId}`, { token: viewer });
    expect(rationale.json.removed).toEqual([{ expertId: flaky, reason: 'unhealthy' }]);
    expect(healed.status, healed.text).toBe(200);
    expect(after.status, after.text).toBe(200);
    expect(after.json.expertId).toBe(flaky);
  });

  it('refuses a health mark by a viewer (403), on another tenant’s expert (404), and with bad input (400)', async () => {
    expectUniformError(
      await h.call('PUT', `/experts/${ids.fast}/health`, { token: viewer, body: { status: 'unhealthy' } }),
      403,
    );
    expectUniformError(
      await h.call('PUT', `/experts/${ids.globex}/health`, {
        token: operator,
        body: { status: 'unhealthy' },
      }),
      404,
      'expert_not_found',
    );
    expectUniformError(
      await h.call('PUT', `/experts/${ids.fast}/health`, {
        token: operator,
        body: { status: 'healthy', ttlSeconds: 600 },
      }),
      400,
      'validation_failed',
    );
    expectUniformError(
      await h.call('PUT', `/experts/${ids.fast}/health`, { token: operator, body: { status: 'sick' } }),
      400,
      'validation_failed',
    );
  });

  it('removes a restricted expert from an operator’s routes (reason policy) but not from a tenant-admin’s', async () => {
    // Prepare: an expert classified restricted (metadata.classification).
    const created = await h.call('POST', '/experts', {
      token: admin,
      body: {
        name: 'pii-model',
        type: 'model',
        costPerCallUsd: 0.01,
        endpoint: 'https://pii.example.com/v1',
        metadata: { classification: 'restricted' },
      },
    });
    expect(created.status, created.text).toBe(201);
    const restricted = created.json.id as string;

    // Act
    const byOperator = await route({ taskId: 'policy-1', context: {}, candidates: [restricted, ids.smart] });
    const onlyRestricted = await route({ taskId: 'policy-2', context: {}, candidates: [restricted] });
    const byAdmin = await route({ taskId: 'policy-3', context: {}, candidates: [restricted] }, admin);

    // Assess
    expect(byOperator.status, byOperator.text).toBe(200);
    expect(byOperator.json.expertId).toBe(ids.smart);
    const rationale = await h.call('GET', `/router/rationale/${byOperator.json.rationaleId}`, {
      token: viewer,
    });
    expect(rationale.json.removed).toEqual([{ expertId: restricted, reason: 'policy' }]);
    expect(rationale.json.policyVersion).toMatch(new RegExp(`^${DEFAULT_POLICY_ENGINE}-[0-9a-f]{12}$`));
    expectUniformError(onlyRestricted, 422, 'no_candidates');
    expect(onlyRestricted.json.details.removed).toEqual([{ expertId: restricted, reason: 'policy' }]);
    expect(byAdmin.status, byAdmin.text).toBe(200);
    expect(byAdmin.json.expertId).toBe(restricted);
    // Each candidate question is a logged decision of action router:route-to.
    const decisions = await h.call('GET', '/policy/decisions?limit=100&action=router:route-to', {
      token: admin,
    });
    expect(decisions.status, decisions.text).toBe(200);
    const routeTo = (
      decisions.json.items as { input: { action: string; resource: { id?: string } }; allow: boolean }[]
    ).filter((d) => d.input.action === 'router:route-to' && d.input.resource.id === restricted);
    expect(routeTo.some((d) => !d.allow)).toBe(true);
    expect(routeTo.some((d) => d.allow)).toBe(true);
    // The route-level decisions (router:route) are on record too, written with the candidates'.
    const routeLevel = await h.call('GET', '/policy/decisions?limit=100&action=router:route', {
      token: admin,
    });
    const routeTraces = new Set(
      (routeLevel.json.items as { traceId: string; allow: boolean }[])
        .filter((d) => d.allow)
        .map((d) => d.traceId),
    );
    const candidateTraces = [
      ...new Set(
        (decisions.json.items as { traceId: string; input: { resource: { id?: string } } }[])
          .filter((d) => d.input.resource.id === restricted)
          .map((d) => d.traceId),
      ),
    ];
    expect(candidateTraces.length).toBeGreaterThanOrEqual(3);
    for (const trace of candidateTraces) expect(routeTraces.has(trace)).toBe(true);

    // A retry is answered from the task's record, but the caller's policy is asked again: the
    // operator reusing the admin's taskId gets the policy's answer (403), not the restricted expert.
    const replayByOperator = await route({
      taskId: 'policy-3',
      context: {},
      candidates: [restricted, ids.smart],
    });
    const replayByAdmin = await route({ taskId: 'policy-3', context: {}, candidates: [restricted] }, admin);
    expectUniformError(replayByOperator, 403, 'task_replay_forbidden');
    expect(replayByOperator.text).not.toContain(restricted);
    expect(replayByAdmin.status, replayByAdmin.text).toBe(200);
    expect(replayByAdmin.json).toEqual(byAdmin.json);
  });
});

describe('contextual Thompson sampling (linear-thompson) over HTTP', () => {
  it('routes with the strategy a tenant admin picks, and the rationale shows each candidate’s draw and its P(best) for this context', async () => {
    // Prepare
    const put = await h.call('PUT', '/router/config', {
      token: admin,
      body: { strategy: 'linear-thompson', posteriorScale: 0.2 },
    });
    expect(put.status, put.text).toBe(200);
    expect(put.json.posteriorScale).toBe(0.2);
    const zero = await h.call('PUT', '/router/config', {
      token: admin,
      body: { strategy: 'linear-thompson', posteriorScale: 0 },
    });
    expectUniformError(zero, 400);

    // Act
    const routed = await route({
      taskId: 'lints-1',
      context: { language: 'rust', tokens: 300 },
      candidates: [ids.fast, ids.smart],
    });
    const rationale = await h.call('GET', `/router/rationale/${routed.json.rationaleId}`, { token: viewer });

    // Assess
    expect(routed.status, routed.text).toBe(200);
    expect(routed.json.strategy).toBe('linear-thompson');
    expect(rationale.status, rationale.text).toBe(200);
    expect(rationale.json.strategy).toBe('linear-thompson');
    const candidates = rationale.json.candidates as { probability: number; sampled: number }[];
    expect(candidates).toHaveLength(2);
    for (const c of candidates) {
      expect(c.sampled).toEqual(expect.any(Number));
      expect(c.probability).toBeGreaterThan(0);
    }
    expect(candidates.reduce((sum, c) => sum + c.probability, 0)).toBeCloseTo(1, 3);
    expect(routed.json.confidence).toBeCloseTo(
      (rationale.json.candidates as { expertId: string; probability: number }[]).find(
        (c) => c.expertId === routed.json.expertId,
      )?.probability ?? -1,
      3,
    );
  });
});
