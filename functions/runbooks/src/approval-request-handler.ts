import { baseEnvSchema, parseEnv } from '#shared/env.js';
import { makeServiceBasics } from '#shared/service-kit.js';
import { RUNBOOK_EVENTS } from '../events.js';
import { makeRunbooks, runbooksEnv } from './wiring.js';
import type { ApprovalRequestPayload } from './workflow/flow-contract.js';

/**
 * Composition root of runbooks-approval-request: the approval flow's "Wait for approval" task
 * invokes it with a stage's task token. It records the token on the stage, appends
 * `approval_requested` to the trail and publishes it; the flow then waits until a decision settles
 * the token or the stage's timeout fails the execution. Invoked by the state machine only.
 */
const env = parseEnv(baseEnvSchema.extend(runbooksEnv));
const { logger, doc, events, instrument, traceOperation } = await makeServiceBasics(
  'runbooks-approval-request',
  env,
  RUNBOOK_EVENTS,
);
if (!events)
  throw new Error('Invalid environment: EVENT_BUS_NAME: required (approval_requested is published there)');

const { executions } = await makeRunbooks(
  { doc, env, events, instrument },
  {
    onPublishError: (error, subject) =>
      logger.warn('event not published; the stage waits anyway', { subject, error: String(error) }),
  },
);

export const handler = (payload: ApprovalRequestPayload): Promise<void> =>
  traceOperation('runbooks-approval-request', async () => {
    logger.appendKeys({ executionId: payload.executionId, stage: payload.stage?.name });
    try {
      await executions.stageReached(payload);
    } finally {
      logger.resetKeys();
    }
  });
