import { policyDenied } from '#shared/policy/events.js';
import type { EventDefinition, EventDetail } from '#shared/ports/events.js';
import { controlFailed, evidenceStale } from '../../../functions/compliance/events.js';
import { edgeConflict } from '../../../functions/edge-sync/events.js';
import { evalRegression } from '../../../functions/eval/events.js';
import {
  rewardIngested,
  routeDecision,
  routerCanaryRollback,
  routerDrift,
} from '../../../functions/router/events.js';
import {
  approvalRequested,
  runbookExecuted,
  runbookNotification,
  unsignedRunbook,
} from '../../../functions/runbooks/events.js';
import { budgetBreach } from '../../../functions/scheduler/events.js';

const envelope = { tenantId: 'acme', traceId: 'trace-0001', occurredAt: '2026-01-01T00:00:00.000Z' };

/** An event definition with one valid detail of it. */
export interface EventSample {
  readonly definition: EventDefinition;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** Typed by the definition, so a sample that does not fit its schema's input fails to compile. */
const sample = <D extends EventDefinition>(definition: D, detail: EventDetail<D>): EventSample => ({
  definition,
  detail: detail as Readonly<Record<string, unknown>>,
});

/** Every event type of DESIGN §7, from the contract that defines it, with one valid detail each. */
export const EVENT_SAMPLES: readonly EventSample[] = [
  sample(routeDecision, {
    ...envelope,
    taskId: 'task-1',
    decisionId: 'dec-1',
    expertId: 'exp_1',
    strategy: 'linucb',
    confidence: 0.8,
    propensity: 0.6,
  }),
  sample(rewardIngested, {
    ...envelope,
    taskId: 'task-1',
    signal: 'thumbs_up',
    value: 1,
    ingestionLatencyMs: 120,
  }),
  sample(routerCanaryRollback, { ...envelope, canaryId: 'canary-1', reason: 'error rate', errorRate: 0.12 }),
  sample(routerDrift, {
    ...envelope,
    expertId: 'exp_1',
    modelKey: 'ridge:d32',
    rewards: 8,
    observedMean: 0.1,
    expectedMean: 0.8,
    band: 0.53,
  }),
  sample(evalRegression, {
    ...envelope,
    runId: 'run_1',
    suiteId: 'arithmetic',
    expertId: 'exp_1',
    baselineId: 'arithmetic-main',
    metric: 'pass_rate',
    baseline: 0.9,
    observed: 0.8,
    delta: -0.1,
    tolerance: 0.02,
    severity: 'critical',
  }),
  sample(budgetBreach, {
    ...envelope,
    window: 'daily',
    windowId: 'daily:2026-01-01',
    threshold: 'breach',
    limitUsd: 100,
    projectedUsd: 130,
    spentUsd: 90,
    mode: 'throttle',
    action: 'throttle',
  }),
  sample(policyDenied, {
    ...envelope,
    decisionId: 'pd-1',
    subject: 'user-1',
    action: 'experts:create',
    obligations: ['mfa'],
    policyVersion: '2026-01-01',
  }),
  sample(runbookExecuted, {
    ...envelope,
    runbookId: 'rb-1',
    executionId: 'ex-1',
    status: 'succeeded',
    version: 2,
    durationMs: 1200,
  }),
  sample(runbookNotification, {
    ...envelope,
    runbookId: 'rb-1',
    executionId: 'ex-1',
    stepId: 'announce',
    channel: 'slack:#ops',
    message: 'Rotating the key',
  }),
  sample(approvalRequested, {
    ...envelope,
    runbookId: 'rb-1',
    executionId: 'ex-1',
    requestId: 'ex-1.0',
    stage: 'on-call',
    roles: ['operator', 'admin'],
    minApprovers: 1,
    expiresAt: '2026-01-01T01:00:00.000Z',
    requestedBy: 'user-1',
  }),
  sample(unsignedRunbook, {
    ...envelope,
    runbookId: 'rb-2',
    version: 3,
    at: 'execute',
    reason: 'digest_mismatch',
  }),
  sample(edgeConflict, {
    ...envelope,
    conflictId: 'c-1',
    documentId: 'doc-1',
    field: 'title',
    rule: 'lww',
    autoResolved: true,
    nodeId: 'node-1',
  }),
  sample(controlFailed, {
    ...envelope,
    framework: 'SOC2',
    controlId: 'CC6.1',
    findingId: 'f-1',
    reason: 'MFA off',
  }),
  sample(evidenceStale, { ...envelope, framework: 'GDPR', controlId: 'Art.30', ageHours: 200 }),
];

export const sampleOf = (type: string): EventSample => {
  const found = EVENT_SAMPLES.find((s) => s.definition.type === type);
  if (!found) throw new Error(`no sample of ${type}`);
  return found;
};
