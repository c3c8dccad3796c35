import * as z from 'zod';

/**
 * The typed events of Conductor's one EventBridge bus (DESIGN §7). Each detail carries tenantId and
 * traceId. Producers publish after their write; consumers are idempotent (eventId is stable).
 */
export const EVENT_SOURCE = 'conductor';

const envelope = {
  tenantId: z.string().min(1),
  traceId: z.string().min(1),
  occurredAt: z.iso.datetime(),
};

export const eventDetailSchemas = {
  route_decision: z.object({
    ...envelope,
    taskId: z.string(),
    decisionId: z.string(),
    expertId: z.string(),
    strategy: z.string(),
    confidence: z.number(),
    propensity: z.number().min(0).max(1),
    shadow: z.boolean().default(false),
  }),
  reward_ingested: z.object({
    ...envelope,
    taskId: z.string(),
    signal: z.string(),
    value: z.number(),
    ingestionLatencyMs: z.number().nonnegative(),
  }),
  router_canary_rollback: z.object({
    ...envelope,
    canaryId: z.string(),
    reason: z.string(),
    errorRate: z.number(),
  }),
  eval_regression: z.object({
    ...envelope,
    runId: z.string(),
    expertId: z.string(),
    metric: z.string(),
    baseline: z.number(),
    observed: z.number(),
    tolerance: z.number(),
  }),
  budget_breach: z.object({
    ...envelope,
    window: z.enum(['daily', 'weekly', 'monthly']),
    limitUsd: z.number(),
    projectedUsd: z.number(),
    action: z.enum(['alert', 'prioritize', 'throttle']),
  }),
  policy_denied: z.object({
    ...envelope,
    decisionId: z.string(),
    subject: z.string(),
    action: z.string(),
    resourceTenantId: z.string().optional(),
    obligations: z.array(z.string()),
    policyVersion: z.string(),
  }),
  runbook_executed: z.object({
    ...envelope,
    runbookId: z.string(),
    executionId: z.string(),
    status: z.enum(['started', 'succeeded', 'failed', 'rejected', 'timed_out']),
  }),
  unsigned_runbook: z.object({
    ...envelope,
    runbookId: z.string(),
    reason: z.string(),
  }),
  edge_conflict: z.object({
    ...envelope,
    nodeId: z.string(),
    documentId: z.string(),
    key: z.string(),
    resolution: z.enum(['auto', 'manual']),
  }),
  control_failed: z.object({
    ...envelope,
    framework: z.enum(['SOC2', 'GDPR']),
    controlId: z.string(),
    findingId: z.string(),
    reason: z.string(),
  }),
  evidence_stale: z.object({
    ...envelope,
    framework: z.enum(['SOC2', 'GDPR']),
    controlId: z.string(),
    ageHours: z.number(),
  }),
} as const;

export type EventType = keyof typeof eventDetailSchemas;
export const EVENT_TYPES = Object.keys(eventDetailSchemas) as EventType[];
export type EventDetail<T extends EventType> = z.input<(typeof eventDetailSchemas)[T]>;

export interface ConductorEvent<T extends EventType = EventType> {
  readonly type: T;
  readonly detail: EventDetail<T>;
}

/** Port: where domain code sends its events. */
export interface EventPublisher {
  publish(events: readonly ConductorEvent[]): Promise<void>;
}

/** Validates a detail against its schema; a producer bug fails loudly instead of emitting junk. */
export const parseEvent = <T extends EventType>(
  type: T,
  detail: unknown,
): z.output<(typeof eventDetailSchemas)[T]> =>
  eventDetailSchemas[type].parse(detail) as z.output<(typeof eventDetailSchemas)[T]>;

/** An in-memory publisher for tests and for functions that run with no bus configured. */
export class RecordingPublisher implements EventPublisher {
  readonly published: ConductorEvent[] = [];
  async publish(events: readonly ConductorEvent[]): Promise<void> {
    for (const event of events) {
      parseEvent(event.type, event.detail);
      this.published.push(event);
    }
  }
}
