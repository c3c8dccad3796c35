import * as z from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from 'zod-openapi';
import { TENANT_ID_PATTERN } from '../ports/identity.js';
import {
  API_BASE,
  API_VERSION,
  errorBodySchema,
  type RouteSpec,
  TENANT_HEADER,
  TRACE_HEADER,
  VERSION_HEADER,
} from './http.js';

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Invalid request (details.issues lists each field)',
  401: 'Missing, expired or invalid bearer token',
  403: 'Not allowed (details.obligations says what would allow it)',
  404: 'Not found (also for another tenant’s resources)',
  405: 'Method not allowed on this path',
  409: 'Conflict (already exists, or changed since the version sent in If-Match)',
  413: 'Request body too large',
  415: 'Request body is not JSON',
  422: 'Well-formed but refused (e.g. a private endpoint address)',
  429: 'Rate limited: the tenant’s per-minute budget for this endpoint family (with X-RateLimit-*), or the stage throttle; retry after Retry-After',
  500: 'Internal error (the body reveals nothing)',
  431: 'The request line or headers are too large (the embedded gateway: 16 KiB; API Gateway has its own limits)',
  503: 'Nothing was done, retry after Retry-After: the service is at capacity (overloaded), or the policy decision could not be recorded (decision log or archive)',
};

/** An example error body per status, with a code that status really answers. */
const ERROR_EXAMPLE: Readonly<Record<number, { code: string; message: string }>> = {
  400: { code: 'validation_failed', message: 'The request is invalid.' },
  401: { code: 'unauthorized', message: 'The bearer token is invalid or expired.' },
  403: { code: 'policy_denied', message: 'Access to another tenant needs an approved grant.' },
  404: { code: 'not_found', message: 'Not found.' },
  405: { code: 'method_not_allowed', message: 'Method not allowed here; allowed: GET.' },
  409: { code: 'version_conflict', message: 'Expert exp_1 was changed concurrently; re-read and retry.' },
  413: { code: 'payload_too_large', message: 'Request body exceeds the limit of 65536 bytes.' },
  415: { code: 'unsupported_media_type', message: 'Request body must be application/json.' },
  422: { code: 'unprocessable', message: 'The endpoint address is not allowed.' },
  429: {
    code: 'rate_limited',
    message: 'Rate limit of 600 requests per minute for router.route exceeded for this tenant.',
  },
  500: { code: 'internal_error', message: 'An internal error occurred.' },
  502: { code: 'expert_failed', message: 'No expert answered the task: exp_a timed out after 8000 ms.' },
  431: { code: 'request_too_large', message: 'The request line or headers are too large (16 KiB at most).' },
  503: { code: 'overloaded', message: 'The service is at capacity; retry after Retry-After.' },
};

/** Reusable headers (components.headers), referenced by name from every response that sends them. */
const HEADERS = {
  ApiVersion: {
    description: 'API version',
    schema: { type: 'string', const: API_VERSION },
    example: API_VERSION,
  },
  TraceId: {
    description: 'Trace id to quote in support requests (also the error body’s traceId)',
    schema: { type: 'string' },
    example: 'trace_01J9Z6Q4W8M2D5YB7K3T0R1XVC',
  },
  ETag: {
    description: 'The record’s version, quoted: send it back in If-Match to update or delete it',
    schema: { type: 'string', pattern: '^"[0-9]+"$' },
    example: '"3"',
  },
  RateLimitLimit: {
    description: 'Requests per minute this tenant may make in the endpoint family of this route',
    schema: { type: 'integer', minimum: 1 },
    example: 600,
  },
  RateLimitRemaining: {
    description: 'Requests left in the current one-minute window (0 on a 429)',
    schema: { type: 'integer', minimum: 0 },
    example: 598,
  },
  RateLimitReset: {
    description: 'Whole seconds until the current window ends and the count starts again',
    schema: { type: 'integer', minimum: 1 },
    example: 42,
  },
  RetryAfter: {
    description: 'Whole seconds to wait before retrying',
    required: true,
    schema: { type: 'integer', minimum: 1 },
    example: 1,
  },
} as const;
type HeaderName = keyof typeof HEADERS;
const ref = (name: HeaderName) => ({ $ref: `#/components/headers/${name}` });

/** Reusable request headers (components.parameters). */
const PARAMETERS = {
  IfMatch: {
    name: 'If-Match',
    in: 'header',
    required: false,
    description:
      'The version last read (its ETag): the change is refused with 409 version_conflict if the record changed since. Without it the change applies whatever the version.',
    schema: { type: 'string', pattern: '^\\s*(W/)?"?[0-9]{1,15}"?\\s*$' },
    example: '"3"',
  },
  Tenant: {
    name: TENANT_HEADER,
    in: 'header',
    required: false,
    description:
      'The tenant to act in when it is not the caller’s own; allowed only with an approved grant (403 policy_denied otherwise).',
    schema: { type: 'string', pattern: TENANT_ID_PATTERN.source },
    example: 'globex',
  },
} as const;
const parameterRef = (name: keyof typeof PARAMETERS) => ({ $ref: `#/components/parameters/${name}` });

const commonHeaders = { [VERSION_HEADER]: ref('ApiVersion'), [TRACE_HEADER]: ref('TraceId') };

/** What the per-tenant limiter adds to every answer of a counted (jwt) route. */
const rateLimitHeaders = {
  'X-RateLimit-Limit': ref('RateLimitLimit'),
  'X-RateLimit-Remaining': ref('RateLimitRemaining'),
  'X-RateLimit-Reset': ref('RateLimitReset'),
};

const errorResponse = (status: number, spec: RouteSpec) => {
  const retry = status === 429 || status === 503;
  const example = ERROR_EXAMPLE[status];
  return {
    description: STATUS_TEXT[status] ?? 'Error',
    headers: {
      ...commonHeaders,
      ...(retry ? { 'Retry-After': ref('RetryAfter') } : {}),
      // The stage throttle's 429 comes before any tenant is known: these are the limiter's only.
      ...(status === 429 && spec.auth === 'jwt' ? rateLimitHeaders : {}),
    },
    content: {
      'application/json': {
        schema: errorBodySchema,
        ...(example ? { example: { ...example, traceId: HEADERS.TraceId.example } } : {}),
      },
    },
  };
};

const operationOf = (spec: RouteSpec): ZodOpenApiOperationObject => {
  // Every route can be throttled (429) or shed (503) before it runs; jwt routes can also be refused,
  // and answer 400 to a malformed X-Conductor-Tenant header, which every one of them accepts.
  const statuses = new Set<number>([
    ...spec.errors,
    429,
    431,
    500,
    503,
    ...(spec.auth === 'jwt' ? [400, 401, 403] : []),
  ]);
  if (spec.ifMatch) statuses.add(409);
  const responses: Record<string, unknown> = {
    [String(spec.success.status)]: {
      description: spec.success.description,
      headers: {
        ...commonHeaders,
        ...(spec.etag ? { ETag: ref('ETag') } : {}),
        ...(spec.auth === 'jwt' ? rateLimitHeaders : {}),
      },
      ...(spec.success.schema ? { content: { 'application/json': { schema: spec.success.schema } } } : {}),
    },
  };
  for (const status of [...statuses].sort()) responses[String(status)] = errorResponse(status, spec);
  const requestParams: Record<string, z.ZodObject> = {};
  if (spec.params instanceof z.ZodObject) requestParams.path = spec.params;
  if (spec.query instanceof z.ZodObject) requestParams.query = spec.query;
  const headerParams = [
    ...(spec.ifMatch ? [parameterRef('IfMatch')] : []),
    ...(spec.auth === 'jwt' ? [parameterRef('Tenant')] : []),
  ];
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    tags: [spec.tag],
    ...(spec.auth === 'jwt' ? { security: [{ bearerAuth: [] }] } : { security: [] }),
    ...(Object.keys(requestParams).length > 0 ? { requestParams } : {}),
    ...(headerParams.length > 0 ? { parameters: headerParams } : {}),
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
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      description:
        'Routes tasks to the best expert backend with contextual bandits and governs that traffic. ' +
        'Every response carries X-Conductor-API-Version and X-Conductor-Trace-Id; errors are {code, message, traceId}.',
    },
    servers: [
      {
        url: 'http://127.0.0.1:{port}',
        description: 'The embedded runtime (`npm start`)',
        variables: { port: { default: '4000', description: '`npm start -- --port <n>` or PORT' } },
      },
      {
        url: 'https://{apiId}.execute-api.{region}.amazonaws.com',
        description: 'A CDK deployment: its API Gateway HTTP API (`$default` stage)',
        variables: {
          apiId: { default: 'abcde12345', description: 'The HTTP API id (the stack output `ApiUrl`)' },
          region: { default: 'us-east-1', description: 'The AWS region of the deployment' },
        },
      },
    ],
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      headers: HEADERS,
      parameters: PARAMETERS,
    },
    paths,
  });
};
