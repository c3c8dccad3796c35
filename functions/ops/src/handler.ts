import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { isSqsEvent } from '#shared/adapters/sqs-batch.js';
import { makeSqsClient } from '#shared/adapters/sqs-client.js';
import { deadLetterQueueRefsSchema } from '#shared/adapters/sqs-last-attempt.js';
import type { HttpEvent, HttpResult } from '#shared/http/http.js';
import { DEAD_LETTER_QUEUES_ENV } from '#shared/pillar.js';
import { randomIds, systemClock } from '#shared/ports/system.js';
import { makeHttpService } from '#shared/service-kit.js';
import { opsPillar } from '../pillar.js';
import { DynamoDiscardLog } from './adapters/dynamo-discard-log.js';
import { SqsDeadLetterQueues } from './adapters/sqs-dead-letter-queues.js';
import { makeOpsApp } from './app.js';
import { DeadLetterOffice } from './domain/dead-letters.js';

/** Composition root of the ops function: environment, clients, adapters, app. */
const service = await makeHttpService('ops', opsPillar, {
  OPS_TABLE_NAME: z.string().min(1),
  /** Every queue of the catalog with its DLQ (the manifest's `deadLetterAccess`). */
  [DEAD_LETTER_QUEUES_ENV]: deadLetterQueueRefsSchema,
});
const { env, logger } = service;

const sqs = makeSqsClient({
  region: env.AWS_REGION,
  endpoint: env.AWS_ENDPOINT_URL_SQS,
  instrument: service.instrument,
});

const http = makeOpsApp({
  logger,
  authorize: service.authorize,
  rateLimit: service.rateLimit,
  trace: service.traceOperation,
  office: new DeadLetterOffice({
    queues: new SqsDeadLetterQueues(sqs, env[DEAD_LETTER_QUEUES_ENV]),
    discards: new DynamoDiscardLog(service.doc, env.OPS_TABLE_NAME),
    clock: systemClock,
    ids: randomIds,
  }),
});

/** API Gateway requests only: the ops function consumes no queue. */
export const handler = async (event: HttpEvent, context: Context): Promise<HttpResult> => {
  if (isSqsEvent(event as never)) throw new Error('The ops function consumes no queue: SQS batch refused.');
  return http(event, context);
};
