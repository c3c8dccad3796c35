import { z } from 'zod';
import { makeDocumentClient } from '#shared/dynamodb-client.js';
import { baseEnvSchema, parseEnv } from '#shared/env.js';
import { checkEndpointUrl } from '#shared/net.js';
import { randomIds, systemClock } from '#shared/ports.js';
import { telemetryFor } from '#shared/telemetry.js';
import { TenantRecordStore } from '#shared/tenant-store.js';
import { makeRouterApp } from './app.js';
import { type Expert, ExpertService } from './domain/experts.js';

/** Composition root of the router function: environment, clients, adapters, app. */
const env = parseEnv(
  baseEnvSchema.extend({
    ROUTER_TABLE_NAME: z.string().min(1),
    CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS: z.stringbool().default(false),
  }),
);

const { logger, tracer } = telemetryFor('router');
const doc = makeDocumentClient({
  region: env.AWS_REGION,
  endpoint: env.AWS_ENDPOINT_URL_DYNAMODB,
  instrument: (client) => tracer.captureAWSv3Client(client),
});

const experts = new ExpertService({
  repository: new TenantRecordStore<Expert>(doc, env.ROUTER_TABLE_NAME, 'EXPERT'),
  endpointPolicy: (url) => {
    const verdict = checkEndpointUrl(url, { allowPrivate: env.CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS });
    return verdict.ok ? { ok: true } : verdict;
  },
  clock: systemClock,
  ids: randomIds,
});

export const handler = makeRouterApp({ logger, experts });
