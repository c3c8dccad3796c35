import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { HttpEvent, HttpResult } from '#shared/http/http.js';
import { makeHttpService } from '#shared/service-kit.js';
import { tenantMetricsFor } from '#shared/telemetry.js';
import { runbooksPillar } from '../pillar.js';
import { makeRunbooksApp } from './app.js';
import { makeRunbooks, runbooksEnv } from './wiring.js';

/**
 * Composition root of the runbooks function (the API): the registry, execute, executions and their
 * timelines, approval requests and decisions, manual step confirmations.
 */
const service = await makeHttpService('runbooks', runbooksPillar, runbooksEnv);
const { env, logger } = service;
const metrics = tenantMetricsFor('runbooks');

if (!service.events)
  throw new Error('Invalid environment: EVENT_BUS_NAME: required (unsigned_runbook is published there)');

const { registry, executions, tenantKeys } = await makeRunbooks(
  { doc: service.doc, env, events: service.events, instrument: service.instrument },
  {
    // Per tenant and by service: UnsignedRunbook (the unsigned-runbook alarm pages on it).
    onUnsigned: (tenantId, runbookId, reason) => {
      logger.warn('runbook signature refused', { tenantId, runbookId, reason });
      metrics.count(tenantId, 'UnsignedRunbook', MetricUnit.Count, 1);
    },
    onPublishError: (error, subject) =>
      logger.warn('event not published; the answer stands', { subject, error: String(error) }),
  },
);

const http = makeRunbooksApp({
  logger,
  authorize: service.authorize,
  rateLimit: service.rateLimit,
  trace: service.traceOperation,
  registry,
  executions,
  tenantKeys,
  decideMany: service.decideMany,
});

export const handler = (event: HttpEvent, context: Context): Promise<HttpResult> => http(event, context);
