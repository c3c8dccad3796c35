import { randomInt } from 'node:crypto';
import * as z from 'zod';
import { checkEndpointUrl } from '#shared/net.js';
import { randomIds, systemClock } from '#shared/ports.js';
import { makeHttpService } from '#shared/service-kit.js';
import { TenantRecordStore } from '#shared/tenant-store.js';
import { makeRouterApp } from './app.js';
import { type Expert, ExpertService } from './domain/experts.js';
import { type RouterConfig, RouterConfigService } from './domain/router-config.js';
import {
  DECISION_TTL_SECONDS,
  type ModelRecord,
  type RouteDecision,
  RoutingService,
} from './domain/routing.js';

/** Composition root of the router function: environment, clients, adapters, app. */
const service = await makeHttpService('router', {
  ROUTER_TABLE_NAME: z.string().min(1),
  CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS: z.stringbool().default(false),
  /** The global kill-switch: every tenant is served its static (default) expert. */
  ROUTER_GLOBAL_KILL_SWITCH: z.stringbool().default(false),
});
const { env } = service;

const expertRecords = new TenantRecordStore<Expert>(service.doc, env.ROUTER_TABLE_NAME, 'EXPERT');
const experts = new ExpertService({
  repository: expertRecords,
  endpointPolicy: (url) => {
    const verdict = checkEndpointUrl(url, { allowPrivate: env.CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS });
    return verdict.ok ? { ok: true } : verdict;
  },
  clock: systemClock,
  ids: randomIds,
});

const routerConfig = new RouterConfigService({
  repository: new TenantRecordStore<RouterConfig>(service.doc, env.ROUTER_TABLE_NAME, 'ROUTER_CONFIG'),
  experts: expertRecords,
  clock: systemClock,
});

const routing = new RoutingService({
  experts: expertRecords,
  configs: routerConfig,
  decisions: new TenantRecordStore<RouteDecision>(
    service.doc,
    env.ROUTER_TABLE_NAME,
    'ROUTE',
    DECISION_TTL_SECONDS,
  ),
  models: new TenantRecordStore<ModelRecord>(service.doc, env.ROUTER_TABLE_NAME, 'MODEL'),
  clock: systemClock,
  ids: randomIds,
  seed: () => randomInt(0, 2 ** 32),
  events: service.events,
  onPublishError: (error) =>
    service.logger.warn('route_decision event not published; the decision stands', { error: String(error) }),
  globalKillSwitch: env.ROUTER_GLOBAL_KILL_SWITCH,
});

export const handler = makeRouterApp({
  logger: service.logger,
  experts,
  routing,
  routerConfig,
  authorize: service.authorize,
  rateLimit: service.rateLimit,
});
