import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EventBridgeEvent } from 'aws-lambda';
import { baseEnvSchema, parseEnv } from '#shared/env.js';
import { makeServiceBasics } from '#shared/service-kit.js';
import { tenantMetricsFor } from '#shared/telemetry.js';
import { RUNBOOK_EVENTS } from '../events.js';
import { makeRunbooks, runbooksEnv } from './wiring.js';
import type { ExecutionStatus } from './workflow/flow-contract.js';

/**
 * Composition root of runbooks-flow-events: an EventBridge rule hands it the approval flow's
 * "Step Functions Execution Status Change" events. A stopped flow ends its runbook execution:
 * final status, the trail's last entry, `runbook_executed` with the duration, and the
 * RunbookExecutionFailed metric for a failed or timed-out one. A repeated event changes nothing.
 */
const env = parseEnv(baseEnvSchema.extend(runbooksEnv));
const { logger, doc, events, instrument, traceOperation } = await makeServiceBasics(
  'runbooks-flow-events',
  env,
  RUNBOOK_EVENTS,
);
if (!events)
  throw new Error('Invalid environment: EVENT_BUS_NAME: required (runbook_executed is published there)');
const metrics = tenantMetricsFor('runbooks-flow-events');

const { executions } = await makeRunbooks(
  { doc, env, events, instrument },
  {
    onEnded: (tenantId) => metrics.count(tenantId, 'RunbookExecutionFailed', MetricUnit.Count, 1),
    onPublishError: (error, subject) =>
      logger.warn('event not published; the execution ended anyway', { subject, error: String(error) }),
  },
);

export interface ExecutionStatusChange {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly status: ExecutionStatus;
  /** The execution input, JSON text: it names the tenant and the runbook execution. */
  readonly input?: string | null;
  readonly error?: string | null;
  readonly cause?: string | null;
}

export const handler = (
  event: EventBridgeEvent<'Step Functions Execution Status Change', ExecutionStatusChange>,
): Promise<void> =>
  traceOperation('runbooks-flow-events', async () => {
    const { detail } = event;
    let input: { tenantId?: unknown; executionId?: unknown; traceId?: unknown } = {};
    try {
      input = JSON.parse(detail.input ?? '{}') as typeof input;
    } catch {
      // An input that is not JSON did not come from Executions.execute: nothing to end.
    }
    if (typeof input.tenantId !== 'string' || typeof input.executionId !== 'string') {
      logger.warn('status change of an execution without a runbook execution', { name: detail.name });
      return;
    }
    await executions.flowEnded(
      input.tenantId,
      input.executionId,
      detail.status,
      detail.error ?? undefined,
      typeof input.traceId === 'string' ? input.traceId : event.id,
      new Date(event.time),
    );
  });
