import type { EventDetail, EventType } from '#shared/ports/events.js';

const envelope = { tenantId: 'acme', traceId: 'trace-0001', occurredAt: '2026-01-01T00:00:00.000Z' };

/** One valid detail per event type; the mapped type makes a new event type fail to compile here until it has one. */
export const sampleDetails: { readonly [T in EventType]: EventDetail<T> } = {
  route_decision: {
    ...envelope,
    taskId: 'task-1',
    decisionId: 'dec-1',
    expertId: 'exp_1',
    strategy: 'linucb',
    confidence: 0.8,
    propensity: 0.6,
  },
  reward_ingested: { ...envelope, taskId: 'task-1', signal: 'thumbs_up', value: 1, ingestionLatencyMs: 120 },
  router_canary_rollback: { ...envelope, canaryId: 'canary-1', reason: 'error rate', errorRate: 0.12 },
  eval_regression: {
    ...envelope,
    runId: 'run-1',
    expertId: 'exp_1',
    metric: 'accuracy',
    baseline: 0.9,
    observed: 0.8,
    tolerance: 0.02,
  },
  budget_breach: { ...envelope, window: 'daily', limitUsd: 100, projectedUsd: 130, action: 'throttle' },
  policy_denied: {
    ...envelope,
    decisionId: 'pd-1',
    subject: 'user-1',
    action: 'experts:create',
    obligations: ['mfa'],
    policyVersion: '2026-01-01',
  },
  runbook_executed: { ...envelope, runbookId: 'rb-1', executionId: 'ex-1', status: 'succeeded' },
  unsigned_runbook: { ...envelope, runbookId: 'rb-2', reason: 'no signature' },
  edge_conflict: { ...envelope, nodeId: 'node-1', documentId: 'doc-1', key: 'title', resolution: 'auto' },
  control_failed: { ...envelope, framework: 'SOC2', controlId: 'CC6.1', findingId: 'f-1', reason: 'MFA off' },
  evidence_stale: { ...envelope, framework: 'GDPR', controlId: 'Art.30', ageHours: 200 },
};
