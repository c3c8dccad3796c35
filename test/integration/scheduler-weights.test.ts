import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.js';

/**
 * Weighted fair share over HTTP on the embedded runtime: acme weighs 3 (SCHEDULER_TENANT_WEIGHTS,
 * what the CDK context `schedulerTenantWeights` sets on AWS), globex 1. Both have the same backlog
 * in the low queue; the SQS stand-in serves message groups as SQS fair queues do.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ functionEnv: { SCHEDULER_TENANT_WEIGHTS: JSON.stringify({ acme: 3 }) } });
});
afterAll(async () => {
  await h?.conductor.stop();
});

describe('fairness between tenants of one priority, weighted', () => {
  it('serves a tenant of weight 3 about three jobs for each one of a tenant of weight 1 while both have a backlog', async () => {
    // Prepare: the low queue's worker stopped while both tenants send 30 jobs each.
    const mapping = h.conductor.mappings.get('conductor-scheduler-low');
    if (!mapping) throw new Error('no event source mapping for the low queue');
    await mapping.stop();
    const operator = async (tenant: string) =>
      h.conductor.issuer.mint({ subject: `${tenant}-operator-weights`, tenant, roles: ['operator'] });
    const tokens = { acme: await operator('acme'), globex: await operator('globex') };
    const sent: Record<string, Set<string>> = { acme: new Set(), globex: new Set() };
    for (let i = 0; i < 30; i += 1) {
      for (const tenant of ['globex', 'acme'] as const) {
        const reply = await h.call('POST', '/scheduler/enqueue', {
          token: tokens[tenant],
          body: { queue: 'batch', payload: { i } },
        });
        expect(reply.status, reply.text).toBe(202);
        sent[tenant]?.add(String(reply.json.jobId));
      }
    }

    // Act
    mapping.start();
    await mapping.drain();

    // Assess: of the first 20 completions (two batches), about three quarters are acme's.
    const order = h.conductor.bus
      .history(1000)
      .map((entry) => entry.event)
      .filter((event) => event['detail-type'] === 'job_completed')
      .map((event) => (event.detail as { jobId: string }).jobId)
      .reverse();
    expect(order.filter((jobId) => sent.acme?.has(jobId) || sent.globex?.has(jobId))).toHaveLength(60);
    const acmeFirst = order.slice(0, 20).filter((jobId) => sent.acme?.has(jobId)).length;
    expect(acmeFirst).toBeGreaterThanOrEqual(13);
    expect(acmeFirst).toBeLessThanOrEqual(17);
  });
});
