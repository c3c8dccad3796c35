import * as z from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from 'zod-openapi';
import {
  API_BASE,
  API_VERSION,
  errorBodySchema,
  type RouteSpec,
  TRACE_HEADER,
  VERSION_HEADER,
} from './http.js';

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Invalid request (details.issues lists each field)',
  401: 'Missing, expired or invalid bearer token',
  403: 'Not allowed (details.obligations says what would allow it)',
  404: 'Not found (also for another tenant’s resources)',
  405: 'Method not allowed on this path',
  409: 'Conflict (already exists, or changed concurrently)',
  413: 'Request body too large',
  415: 'Request body is not JSON',
  422: 'Well-formed but refused (e.g. a private endpoint address)',
  429: 'Rate limited (see Retry-After)',
  500: 'Internal error (the body reveals nothing)',
  503: 'The policy decision could not be recorded (decision log or archive); nothing was done, retry after Retry-After',
};

const commonHeaders = {
  [VERSION_HEADER]: { description: 'API version', schema: { type: 'string', const: API_VERSION } },
  [TRACE_HEADER]: { description: 'Trace id to quote in support requests', schema: { type: 'string' } },
} as const;

const errorResponse = (status: number) => ({
  description: STATUS_TEXT[status] ?? 'Error',
  headers: commonHeaders,
  content: { 'application/json': { schema: errorBodySchema } },
});

const operationOf = (spec: RouteSpec): ZodOpenApiOperationObject => {
  const statuses = new Set<number>([
    ...spec.errors,
    500,
    ...(spec.auth === 'jwt' ? [401, 403, 429, 503] : []),
  ]);
  const responses: Record<string, unknown> = {
    [String(spec.success.status)]: {
      description: spec.success.description,
      headers: commonHeaders,
      ...(spec.success.schema ? { content: { 'application/json': { schema: spec.success.schema } } } : {}),
    },
  };
  for (const status of [...statuses].sort()) responses[String(status)] = errorResponse(status);
  const requestParams: Record<string, z.ZodObject> = {};
  if (spec.params instanceof z.ZodObject) requestParams.path = spec.params;
  if (spec.query instanceof z.ZodObject) requestParams.query = spec.query;
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    tags: [spec.tag],
    ...(spec.auth === 'jwt' ? { security: [{ bearerAuth: [] }] } : { security: [] }),
    ...(Object.keys(requestParams).length > 0 ? { requestParams } : {}),
    ...(spec.body
      ? {
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: spec.body,
                ...(spec.exampleBody === undefined ? {} : { example: spec.exampleBody }),
              },
            },
          },
        }
      : {}),
    responses: responses as ZodOpenApiOperationObject['responses'],
    'x-conductor-action': spec.action,
    ...(spec.minRole ? { 'x-conductor-min-role': spec.minRole } : {}),
  };
};

/** The OpenAPI 3.1 document of the given routes, generated from the same zod schemas the handlers use. */
export const buildOpenApi = (routes: readonly RouteSpec[], version: string) => {
  const paths: ZodOpenApiPathsObject = {};
  for (const spec of routes) {
    const key = `${API_BASE}${spec.path}`;
    const item = (paths[key] ?? {}) as Record<string, ZodOpenApiOperationObject>;
    item[spec.method.toLowerCase()] = operationOf(spec);
    paths[key] = item;
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Conductor API',
      version,
      description:
        'Routes tasks to the best expert backend with contextual bandits and governs that traffic. ' +
        'Every response carries X-Conductor-API-Version and X-Conductor-Trace-Id; errors are {code, message, traceId}.',
    },
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
    paths,
  });
};
