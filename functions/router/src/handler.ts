import * as z from 'zod';
import { checkEndpointUrl } from '#shared/net.js';
import { randomIds, systemClock } from '#shared/ports.js';
import { makeHttpService } from '#shared/service-kit.js';
import { TenantRecordStore } from '#shared/tenant-store.js';
import { makeRouterApp } from './app.js';
import { type Expert, ExpertService } from './domain/experts.js';

/** Composition root of the router function: environment, clients, adapters, app. */
const service = await makeHttpService('router', {
  ROUTER_TABLE_NAME: z.string().min(1),
  CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS: z.stringbool().default(false),
});
const { env } = service;

const experts = new ExpertService({
  repository: new TenantRecordStore<Expert>(service.doc, env.ROUTER_TABLE_NAME, 'EXPERT'),
  endpointPolicy: (url) => {
    const verdict = checkEndpointUrl(url, { allowPrivate: env.CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS });
    return verdict.ok ? { ok: true } : verdict;
  },
  clock: systemClock,
  ids: randomIds,
});

export const handler = makeRouterApp({
  logger: service.logger,
  experts,
  authorize: service.authorize,
  rateLimit: service.rateLimit,
});
