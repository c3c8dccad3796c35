import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectUniformError,
  type Harness,
  putBudgetBreach,
  putForgedRunbookExecution,
  startHarness,
} from './harness.js';

/**
 * The compliance pillar over real HTTP on the embedded runtime: the catalog, assessments on demand
 * and by the hourly schedule (the local bus fires the manifest's rule), evidence in the local WORM
 * store (refuses overwrite and delete), findings and their lifecycle, freshness, risk, the packet's
 * input. Compliance is the platform's: org-admins only, whatever tenant they act in.
 */
let h: Harness;
const tokens = { orgAdmin: '', orgAdminNoStepUp: '', acmeAdmin: '' };

const busEvents = (type: string) =>
  h.conductor.bus
    .history(1000)
    .map((entry) => entry.event)
    .filter((event) => event['detail-type'] === type);

beforeAll(async () => {
  h = await startHarness();
  const mint = (subject: string, roles: string[], amr?: string[]) =>
    h.conductor.issuer.mint({ subject, tenant: 'acme', roles, ...(amr ? { amr } : {}) });
  tokens.orgAdmin = await mint('grc-lead', ['org-admin'], ['pwd', 'mfa']);
  tokens.orgAdminNoStepUp = await mint('grc-lead-pwd', ['org-admin']);
  tokens.acmeAdmin = h.tokens.acmeAdmin ?? '';
});
afterAll(() => h?.conductor.stop());

describe('compliance', () => {
  it('lists the catalog: SOC2 and GDPR criteria mapped to controls', async () => {
    const reply = await h.call('GET', '/compliance/frameworks', { token: tokens.orgAdmin });
    expect(reply.status, reply.text).toBe(200);
    expect(reply.json.items.map((f: { id: string }) => f.id).sort()).toEqual(['GDPR', 'SOC2']);
    const soc2 = reply.json.items.find((f: { id: string }) => f.id === 'SOC2');
    expect(soc2.criteria.find((c: { id: string }) => c.id === 'CC6.1').controls).toContain('log-retention');
    expect(reply.json.controls.find((c: { id: string }) => c.id === 'log-retention')).toMatchObject({
      frequency: 'daily',
      tests: expect.arrayContaining(['aws.log-retention']),
    });
  });

  it('the hourly schedule collects CC6.1’s log-retention evidence: fresh, written once, readable by GET', async () => {
    // Act: the manifest's schedule fires on the local bus, as EventBridge would invoke the function
    await h.conductor.bus.trigger('conductor-compliance-sweep');

    // Assess
    const freshness = await h.call('GET', '/compliance/freshness?framework=SOC2', { token: tokens.orgAdmin });
    expect(freshness.status, freshness.text).toBe(200);
    const row = freshness.json.items.find((r: { controlId: string }) => r.controlId === 'log-retention');
    expect(row.status).toBe('fresh');
    expect(row.ageHours).toBeLessThan(24);
    expect(freshness.json.fresh).toBe(freshness.json.total);
    const listed = await h.call('GET', '/compliance/assessments', { token: tokens.orgAdmin });
    expect(listed.json.items.map((a: { requestedBy: string }) => a.requestedBy)).toContain(
      'conductor:schedule',
    );
    // The stale announcement came first (nothing was collected yet), once per control.
    expect(busEvents('evidence_stale').length).toBeGreaterThan(0);
    // The evidence record is in the WORM store, named by the control state, and cannot be replaced.
    const stored = await h.conductor.worm.get(row.lastEvidenceKey);
    expect(JSON.parse(stored ?? '{}')).toMatchObject({
      controlId: 'log-retention',
      criteria: expect.arrayContaining(['SOC2 CC6.1']),
    });
    await expect(h.conductor.worm.putOnce(row.lastEvidenceKey, '{"result":"pass"}')).rejects.toThrow();
    await expect(h.conductor.worm.delete(row.lastEvidenceKey)).rejects.toThrow();
  });

  it('re-runs spend-limits when a budget_breach crosses the bus (the manifest’s subscription)', async () => {
    // Act: a scheduler's event, as the scheduler publishes it
    await putBudgetBreach(h);

    // Assess: an assessment of spend-limits, requested by the event
    const byEvent = async () =>
      (
        await h.call('GET', '/compliance/assessments?limit=100', { token: tokens.orgAdmin })
      ).json.items.filter((a: { requestedBy: string }) => a.requestedBy === 'conductor:event:budget_breach');
    for (let i = 0; i < 50 && (await byEvent()).length === 0; i += 1)
      await new Promise((r) => setTimeout(r, 100));
    const runs = await byEvent();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ framework: 'SOC2', scope: ['spend-limits'] });
  });

  it('runs an assessment on demand: the AWS checks say they cannot run here, the WORM probe passes', async () => {
    const reply = await h.call('POST', '/compliance/assessments', {
      token: tokens.orgAdmin,
      body: { framework: 'SOC2', scope: ['evidence-worm', 'key-management'] },
    });
    expect(reply.status, reply.text).toBe(201);
    expect(reply.json).toMatchObject({ framework: 'SOC2', requestedBy: 'grc-lead', status: 'completed' });
    const byTest = Object.fromEntries(
      reply.json.results.map((r: { testId: string; result: string }) => [r.testId, r.result]),
    );
    expect(byTest).toEqual({
      'aws.evidence-bucket-lock': 'not_applicable',
      'platform.evidence-store-worm': 'pass',
      'aws.kms-rotation': 'not_applicable',
    });
    const again = await h.call('GET', `/compliance/assessments/${reply.json.assessmentId}`, {
      token: tokens.orgAdmin,
    });
    expect(again.json).toEqual(reply.json);
  });

  it('a failing control opens a finding, which follows its lifecycle', async () => {
    // Prepare: a runbook execution the runbooks pillar has no trail of (a forged event) fails the
    // change-management control's trail check: a finding
    await putForgedRunbookExecution(h);
    const run = await h.call('POST', '/compliance/assessments', {
      token: tokens.orgAdmin,
      body: { framework: 'SOC2', scope: ['change-management'] },
    });
    expect(run.status, run.text).toBe(201);
    const trail = run.json.results.find(
      (r: { testId: string }) => r.testId === 'platform.runbooks-signed-approved',
    );
    expect(trail).toMatchObject({ result: 'fail' });
    expect(trail.summary).toContain('rbx_forged (no trail in the evidence store)');
    const findingId = trail.findingId as string;
    expect(findingId).toMatch(/^fnd_change-management_/);
    expect(
      busEvents('control_failed').some((e) => (e.detail as { findingId: string }).findingId === findingId),
    ).toBe(true);

    // Act
    const listed = await h.call('GET', '/compliance/findings?status=open&controlId=change-management', {
      token: tokens.orgAdmin,
    });
    const remediating = await h.call('POST', `/compliance/findings/${findingId}/transition`, {
      token: tokens.orgAdmin,
      body: { to: 'in_remediation', note: 'who ran rbx_forged?', runbookId: 'incident-review' },
    });
    const resolveEarly = await h.call('POST', `/compliance/findings/${findingId}/transition`, {
      token: tokens.orgAdmin,
      body: { to: 'resolved' },
    });
    const acceptNoExpiry = await h.call('POST', `/compliance/findings/${findingId}/transition`, {
      token: tokens.orgAdmin,
      body: { to: 'risk_accepted' },
    });
    const noStepUp = await h.call('POST', `/compliance/findings/${findingId}/transition`, {
      token: tokens.orgAdminNoStepUp,
      body: { to: 'risk_accepted', acceptedUntil: '2099-01-01T00:00:00Z' },
    });
    const accepted = await h.call('POST', `/compliance/findings/${findingId}/transition`, {
      token: tokens.orgAdmin,
      body: { to: 'risk_accepted', acceptedUntil: '2099-01-01T00:00:00Z', note: 'manual review quarterly' },
    });

    // Assess
    expect(listed.json.items.map((f: { findingId: string }) => f.findingId)).toEqual([findingId]);
    expect(listed.json.items[0]).toMatchObject({ severity: 'high', owner: 'engineering', overdue: false });
    expect(remediating.status, remediating.text).toBe(200);
    expect(remediating.json).toMatchObject({ status: 'in_remediation', runbookId: 'incident-review' });
    expectUniformError(resolveEarly, 409, 'control_still_failing');
    expectUniformError(acceptNoExpiry, 400, 'acceptance_expiry_required');
    expectUniformError(noStepUp, 403, 'policy_denied');
    expect(accepted.json.status).toBe('risk_accepted');
    expect(accepted.json.history.map((e: { to: string }) => e.to)).toEqual([
      'open',
      'in_remediation',
      'risk_accepted',
    ]);
    const got = await h.call('GET', `/compliance/findings/${findingId}`, { token: tokens.orgAdmin });
    expect(got.json).toEqual(accepted.json);
  });

  it('scores the risk register and gives the packet’s input with every evidence as stored', async () => {
    const risk = await h.call('GET', '/compliance/risk?framework=SOC2', { token: tokens.orgAdmin });
    expect(risk.status, risk.text).toBe(200);
    expect(risk.json.heatmap).toHaveLength(5);
    expect(risk.json.register[0].score).toBeGreaterThanOrEqual(risk.json.register.at(-1).score);
    const evidence = await h.call('GET', '/compliance/evidence?framework=SOC2', { token: tokens.orgAdmin });
    expect(evidence.status, evidence.text).toBe(200);
    const logRetention = evidence.json.evidence.find(
      (e: { controlId: string }) => e.controlId === 'log-retention',
    );
    for (const item of logRetention.items) {
      expect(await h.conductor.worm.get(item.key)).toBe(item.recordText);
      expect(JSON.parse(item.recordText)).toEqual(item.record);
    }
    expect(evidence.json.framework.id).toBe('SOC2');
  });

  it('refuses bad input with a clear 4xx, writing nothing', async () => {
    const before = (await h.call('GET', '/compliance/assessments?limit=100', { token: tokens.orgAdmin })).json
      .items.length;
    const unknownFramework = await h.call('POST', '/compliance/assessments', {
      token: tokens.orgAdmin,
      body: { framework: 'PCI', scope: 'all' },
    });
    const unknownScope = await h.call('POST', '/compliance/assessments', {
      token: tokens.orgAdmin,
      body: { framework: 'GDPR', scope: ['monitoring'] },
    });
    const malformed = await h.call('POST', '/compliance/assessments', {
      token: tokens.orgAdmin,
      body: { framework: 'SOC2', scope: 'some' },
    });
    const badQuery = await h.call('GET', '/compliance/freshness?framework=no%20such', {
      token: tokens.orgAdmin,
    });
    const missing = await h.call('GET', '/compliance/findings/fnd_nope_1', { token: tokens.orgAdmin });
    expectUniformError(unknownFramework, 400, 'unknown_framework');
    expect(unknownFramework.json.message).toContain('SOC2, GDPR');
    expectUniformError(unknownScope, 400, 'unknown_scope');
    expect(unknownScope.json.message).toContain('monitoring');
    expectUniformError(malformed, 400, 'validation_failed');
    expectUniformError(badQuery, 400, 'validation_failed');
    expectUniformError(missing, 404, 'finding_not_found');
    const after = (await h.call('GET', '/compliance/assessments?limit=100', { token: tokens.orgAdmin })).json
      .items.length;
    expect(after).toBe(before);
  });

  it('is for org-admins only: a tenant admin is refused every route', async () => {
    for (const [method, path] of [
      ['GET', '/compliance/frameworks'],
      ['GET', '/compliance/findings'],
      ['GET', '/compliance/evidence?framework=SOC2'],
      ['POST', '/compliance/assessments'],
    ] as const) {
      const reply = await h.call(method, path, {
        token: tokens.acmeAdmin,
        ...(method === 'POST' ? { body: { framework: 'SOC2' } } : {}),
      });
      expectUniformError(reply, 403, 'policy_denied');
    }
  });
});
