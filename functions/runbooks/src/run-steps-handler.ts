import { STSClient } from '@aws-sdk/client-sts';
import * as z from 'zod';
import { instrumented, sdkConfig } from '#shared/adapters/clients.js';
import { baseEnvSchema, parseEnv } from '#shared/env.js';
import { parsePortList } from '#shared/outbound/net.js';
import { GuardedHttpClient } from '#shared/outbound/outbound.js';
import { eventOf } from '#shared/ports/events.js';
import { standIns } from '#shared/ports/stand-ins.js';
import { systemClock } from '#shared/ports/system.js';
import { makeServiceBasics } from '#shared/service-kit.js';
import { RUNBOOK_EVENTS, runbookNotification } from '../events.js';
import { AwsApiStepRunner } from './adapters/aws-json-api.js';
import { LocalAwsApi } from './adapters/local-aws-api.js';
import { ScopedCredentials } from './adapters/scoped-credentials.js';
import { HttpStepRunner, LambdaStepRunner, NotifyStepRunner } from './adapters/step-runners.js';
import type { StepRunners } from './domain/steps.js';
import { makeRunbooks, runbooksEnv } from './wiring.js';
import type { JsonValue, RunStepsPayload } from './workflow/flow-contract.js';

/**
 * Composition root of runbooks-run-steps: the approval flow's "Run the steps" task invokes it once
 * every stage approved. It verifies the stored runbook and the approvals once more, then runs each
 * step once: `http` through the guarded outbound client, `lambda` and `aws-api` with credentials
 * scoped to the one action the step declares (AssumeRole on the step role with a session policy),
 * `notify` as a `runbook_notification` event. Locally, `aws-api` steps reach the KMS stand-in of the
 * key rotation only.
 */
const env = parseEnv(
  baseEnvSchema.extend({
    ...runbooksEnv,
    /** The role each lambda / aws-api step assumes, narrowed per step (CDK's step role). */
    RUNBOOK_STEP_ROLE_ARN: z.string().min(1).optional(),
    CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS: z.stringbool().default(false),
    CONDUCTOR_ALLOWED_ENDPOINT_PORTS: z.string().transform(parsePortList).optional(),
  }),
);
const { logger, doc, events, instrument, traceOperation } = await makeServiceBasics(
  'runbooks-run-steps',
  env,
  RUNBOOK_EVENTS,
);
if (!events)
  throw new Error('Invalid environment: EVENT_BUS_NAME: required (runbook events are published there)');

const clientOptions = { region: env.AWS_REGION, instrument };
const scoped = env.RUNBOOK_STEP_ROLE_ARN
  ? new ScopedCredentials(instrumented(clientOptions, new STSClient(sdkConfig(clientOptions))), {
      roleArn: env.RUNBOOK_STEP_ROLE_ARN,
      region: env.AWS_REGION,
    })
  : undefined;
const noRole = async (): Promise<never> => {
  throw new Error('RUNBOOK_STEP_ROLE_ARN is not set: lambda and aws-api steps cannot run in this deployment');
};
const localKeyDir = standIns().runbookKeyDir;

const runners: StepRunners = {
  http: new HttpStepRunner(
    new GuardedHttpClient({
      allowPrivate: env.CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS,
      ...(env.CONDUCTOR_ALLOWED_ENDPOINT_PORTS ? { allowedPorts: env.CONDUCTOR_ALLOWED_ENDPOINT_PORTS } : {}),
      userAgent: 'conductor-runbooks',
    }),
  ),
  lambda: new LambdaStepRunner({
    client: clientOptions,
    credentialsFor: scoped ? (step, context) => scoped.credentialsFor(step, context) : noRole,
  }),
  'aws-api': localKeyDir
    ? new LocalAwsApi({
        directory: localKeyDir,
        ...(env.RUNBOOK_ALLOWED_AWS_APIS ? { allowedActions: env.RUNBOOK_ALLOWED_AWS_APIS } : {}),
      })
    : new AwsApiStepRunner({
        region: env.AWS_REGION,
        allowedActions: env.RUNBOOK_ALLOWED_AWS_APIS ?? [],
        credentialsFor: scoped ? (step, context) => scoped.credentialsFor(step, context) : noRole,
      }),
  notify: new NotifyStepRunner(async (message) => {
    await events.publish([
      eventOf(runbookNotification, {
        traceId: message.executionId,
        occurredAt: systemClock.now().toISOString(),
        ...message,
      }),
    ]);
  }),
};

const { executions } = await makeRunbooks(
  { doc, env, events, instrument },
  {
    runners,
    onPublishError: (error, subject) =>
      logger.warn('event not published; the steps go on', { subject, error: String(error) }),
  },
);

export const handler = (payload: RunStepsPayload): Promise<JsonValue> =>
  traceOperation('runbooks-run-steps', async () => {
    logger.appendKeys({ executionId: payload.executionId });
    try {
      return await executions.runSteps(payload);
    } catch (error) {
      logger.warn('runbook steps failed', { error: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      logger.resetKeys();
    }
  });
