import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { artifactsStore } from '#shared/adapters/artifacts-store.js';
import { isSqsEvent } from '#shared/adapters/sqs-batch.js';
import type { HttpEvent, HttpResult } from '#shared/http/http.js';
import { systemClock } from '#shared/ports/system.js';
import { makeHttpService } from '#shared/service-kit.js';
import { tenantMetricsFor } from '#shared/telemetry.js';
import { edgeSyncPillar } from '../pillar.js';
import { makeEdgeApp } from './app.js';
import { EdgeSync } from './domain/sync.js';
import { edgeStores } from './wiring.js';

/** Composition root of the edge-sync function: environment, stores, the sync service, the app. */
const service = await makeHttpService('edge-sync', edgeSyncPillar, {
  EDGE_TABLE_NAME: z.string().min(1),
  ARTIFACTS_BUCKET_NAME: z.string().min(1).optional(),
  /** Log entries between snapshots of a document (DEFAULT_SNAPSHOT_EVERY). */
  EDGE_SNAPSHOT_EVERY: z.coerce.number().int().min(2).max(100_000).optional(),
});
const { env, logger } = service;
const metrics = tenantMetricsFor('edge-sync');
if (!service.events)
  throw new Error('Invalid environment: EVENT_BUS_NAME: required (edge_conflict is published there)');

const stores = edgeStores(service.doc, env.EDGE_TABLE_NAME);
const sync = new EdgeSync({
  ...stores,
  snapshots: await artifactsStore(env, service.instrument, 'document snapshots'),
  events: service.events,
  clock: systemClock,
  ...(env.EDGE_SNAPSHOT_EVERY === undefined ? {} : { snapshotEvery: env.EDGE_SNAPSHOT_EVERY }),
  onEventError: (error) =>
    logger.warn('edge_conflict not published; the conflict is recorded', { error: String(error) }),
  // Per tenant: EdgeConflictOpen (its alarm opens a ticket: a person must decide).
  onConflict: (tenantId, status) => {
    if (status === 'open') metrics.count(tenantId, 'EdgeConflictOpen', MetricUnit.Count, 1);
  },
});

const http = makeEdgeApp({
  logger,
  authorize: service.authorize,
  rateLimit: service.rateLimit,
  trace: service.traceOperation,
  sync,
  stores,
  clock: systemClock,
});

/** API Gateway requests only: the edge-sync function consumes no queue. */
export const handler = async (event: HttpEvent, context: Context): Promise<HttpResult> => {
  if (isSqsEvent(event as never))
    throw new Error('The edge-sync function consumes no queue: SQS batch refused.');
  return http(event, context);
};
