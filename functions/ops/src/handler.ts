import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { isSqsEvent } from '#shared/adapters/sqs-batch.js';
import { makeSqsClient } from '#shared/adapters/sqs-client.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import type { HttpEvent, HttpResult } from '#shared/http/http.js';
import { DEAD_LETTER_QUEUES_ENV } from '#shared/pillar.js';
import { randomIds, systemClock } from '#shared/ports/system.js';
import { makeHttpService } from '#shared/service-kit.js';
import { opsPillar } from '../pillar.js';
import { SqsDeadLetterQueues } from './adapters/sqs-dead-letter-queues.js';
import { makeOpsApp } from './app.js';
import { DeadLetterOffice, DISCARD_ENTITY, type DiscardRecord } from './domain/dead-letters.js';

const queueRefSchema = z.object({
  queueUrl: z.url(),
  queueArn: z.string().startsWith('arn:'),
  dlqUrl: z.url(),
  dlqArn: z.string().startsWith('arn:'),
  maxReceiveCount: z.number().int().min(1),
});

/** Composition root of the ops function: environment, clients, adapters, app. */
const service = await makeHttpService('ops', opsPillar, {
  OPS_TABLE_NAME: z.string().min(1),
  /** Every queue of the catalog with its DLQ (the manifest's `deadLetterAccess`). */
  [DEAD_LETTER_QUEUES_ENV]: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not JSON' });
        return z.NEVER;
      }
    })
    .pipe(z.record(z.string(), queueRefSchema)),
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
    discards: new TenantRecordStore<DiscardRecord>(service.doc, env.OPS_TABLE_NAME, DISCARD_ENTITY),
    clock: systemClock,
    ids: randomIds,
  }),
});

/** API Gateway requests only: the ops function consumes no queue. */
export const handler = async (event: HttpEvent, context: Context): Promise<HttpResult> => {
  if (isSqsEvent(event as never)) throw new Error('The ops function consumes no queue: SQS batch refused.');
  return http(event, context);
};
