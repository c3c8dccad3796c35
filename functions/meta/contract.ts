import * as z from 'zod';
import type { RouteSpec } from '#shared/http/http.js';

export const healthSchema = z
  .object({
    status: z.literal('ok'),
    version: z.string(),
    stage: z.string(),
    time: z.string(),
  })
  .meta({ id: 'Health' });

export const health = {
  operationId: 'getHealth',
  method: 'GET',
  path: '/health',
  summary: 'Liveness of the API',
  tag: 'meta',
  auth: 'public',
  action: 'meta:health',
  success: { status: 200, description: 'The API is up', schema: healthSchema },
  errors: [],
} as const satisfies RouteSpec;

export const openApiDocument = {
  operationId: 'getOpenApi',
  method: 'GET',
  path: '/openapi.json',
  summary: 'This OpenAPI 3.1 document',
  tag: 'meta',
  auth: 'public',
  action: 'meta:openapi',
  success: { status: 200, description: 'The OpenAPI document', schema: z.record(z.string(), z.unknown()) },
  errors: [],
} as const satisfies RouteSpec;

export const metaRoutes = [health, openApiDocument] as const;
