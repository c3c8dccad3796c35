import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { artifactsStore } from '#shared/adapters/artifacts-store.js';
import { isSqsEvent } from '#shared/adapters/sqs-batch.js';
import { makeSqsClient } from '#shared/adapters/sqs-client.js';
import { SqsJsonQueue } from '#shared/adapters/sqs-json-queue.js';
import { headerValue } from '#shared/http/conventions.js';
import { type HttpEvent, type HttpResult, TENANT_HEADER } from '#shared/http/http.js';
import { ownApiUrlOf } from '#shared/http/own-api.js';
import { randomIds, systemClock } from '#shared/ports/system.js';
import { makeHttpService } from '#shared/service-kit.js';
import { evalPillar } from '../pillar.js';
import { routerExperts } from './adapters/router-experts.js';
import { makeEvalApp } from './app.js';
import { type EvalRunMessage, EvalService } from './domain/runs.js';
import { evalRecords } from './wiring.js';

/** Composition root of the eval function (the API side): environment, clients, adapters, app. */
const service = await makeHttpService('eval', evalPillar, {
  EVAL_TABLE_NAME: z.string().min(1),
  /** The eval queue: POST eval/run answers once it accepted the run. */
  EVAL_RUNS_QUEUE_URL: z.url(),
  /** The artifacts bucket (suite documents, baselines' rates, reports); the embedded runtime gives a stand-in. */
  ARTIFACTS_BUCKET_NAME: z.string().min(1).optional(),
});
const { env } = service;

const records = evalRecords(service.doc, env.EVAL_TABLE_NAME);
const evals = new EvalService({
  ...records,
  artifacts: await artifactsStore(env, service.instrument, 'eval reports'),
  clock: systemClock,
  ids: randomIds,
  onQueueError: (error, runId) =>
    service.logger.error('eval run not queued; answered 503', { runId, error: String(error) }),
});
const queue = new SqsJsonQueue<EvalRunMessage>(
  makeSqsClient({
    region: env.AWS_REGION,
    endpoint: env.AWS_ENDPOINT_URL_SQS,
    instrument: service.instrument,
  }),
  env.EVAL_RUNS_QUEUE_URL,
);

const http = makeEvalApp({
  logger: service.logger,
  authorize: service.authorize,
  rateLimit: service.rateLimit,
  trace: service.traceOperation,
  service: evals,
  records,
  submit: ({ event, traceId }) => ({
    resolve: routerExperts({
      apiUrl: ownApiUrlOf(event),
      authorization: headerValue(event, 'authorization') ?? '',
      tenantHeader: headerValue(event, TENANT_HEADER),
      traceId,
    }),
    // Each run in its tenant's message group: SQS fair queues keep one tenant's runs from starving the others.
    queue: { send: (message) => queue.send(message, message.tenantId) },
  }),
});

/** API Gateway requests only (the eval queue is consumed by the eval-worker function). */
export const handler = async (event: HttpEvent, context: Context): Promise<HttpResult> => {
  if (isSqsEvent(event as never)) throw new Error('The eval function consumes no queue: SQS batch refused.');
  return http(event, context);
};
