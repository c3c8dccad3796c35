import * as z from 'zod';
import { baseEnvSchema, parseEnv } from '#shared/env.js';
import { buildOpenApi } from '#shared/http/openapi.js';
import { systemClock } from '#shared/ports/system.js';
import { telemetryFor } from '#shared/telemetry.js';
import { makeMetaApp } from './app.js';
import { ALL_ROUTES } from './catalog.js';

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
