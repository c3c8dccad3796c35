import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { deadLetterQueueRefsSchema, SqsLastAttemptDeadLetters } from '#shared/adapters/sqs-last-attempt.js';
import { baseEnvSchema, parseEnv } from '#shared/env.js';
import { CONSUMED_QUEUES_ENV } from '#shared/pillar.js';
import { systemClock } from '#shared/ports/system.js';
import { makeServiceBasics } from '#shared/service-kit.js';
import { ROUTER_EVENTS } from '../../router/events.js';
import { makeReplayEntry } from '../../router/replay-entry.js';

/**
 * Composition root of the replay function: the router pillar's third entry point, the consumer of
 * its `replay` queue (off-policy replay jobs). The protocol and domain are the router's, reached only
 * through `functions/router/replay-entry.ts`.
 */
const env = parseEnv(
  baseEnvSchema.extend({
    ROUTER_TABLE_NAME: z.string().min(1),
    /** The replay queue and its DLQ: a job failing its last delivery goes there with its error. */
    [CONSUMED_QUEUES_ENV]: deadLetterQueueRefsSchema,
  }),
);
const { logger, doc, instrument, traceOperation } = await makeServiceBasics('replay', env, ROUTER_EVENTS);

const run = makeReplayEntry({
  doc,
  tableName: env.ROUTER_TABLE_NAME,
  logger,
  clock: systemClock,
  deadLetters: SqsLastAttemptDeadLetters.of(env[CONSUMED_QUEUES_ENV], {
    region: env.AWS_REGION,
    endpoint: env.AWS_ENDPOINT_URL_SQS,
    instrument,
  }),
});

/** One replay job (batch size 1), in its trace segment `conductor.replay.runReplay`. */
export const handler = (event: SQSEvent): Promise<SQSBatchResponse> =>
  traceOperation('runReplay', () => run(event));
