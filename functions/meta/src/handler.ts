import * as z from 'zod';
import { baseEnvSchema, parseEnv } from '#shared/env.js';
import { buildOpenApi } from '#shared/http/openapi.js';
import { routesOf } from '#shared/pillar.js';
import { systemClock } from '#shared/ports/system.js';
import { telemetryFor } from '#shared/telemetry.js';
import { PILLARS } from '../../catalog.js';
import { makeMetaApp } from './app.js';

const ALL_ROUTES = routesOf(PILLARS);

const env = parseEnv(baseEnvSchema.extend({ CONDUCTOR_VERSION: z.string().min(1).default('0.1.0') }));
const { logger } = telemetryFor('meta');

let document: unknown;

export const handler = makeMetaApp({
  logger,
  clock: systemClock,
  version: env.CONDUCTOR_VERSION,
  stage: env.CONDUCTOR_STAGE,
  allRoutes: ALL_ROUTES,
  openApi: () => {
    document ??= buildOpenApi(ALL_ROUTES, env.CONDUCTOR_VERSION);
    return document;
  },
});
