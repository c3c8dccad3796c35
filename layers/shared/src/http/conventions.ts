import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { AppError } from '../errors.js';

/** The wire conventions every Conductor endpoint shares: base path, headers, JSON answers. */
export const API_BASE = '/api/conductor/v1';
export const API_VERSION = 'v1';
export const VERSION_HEADER = 'X-Conductor-API-Version';
export const TRACE_HEADER = 'X-Conductor-Trace-Id';
/** Header naming the tenant a request acts in, when it is not the caller's own (needs a grant). */
export const TENANT_HEADER = 'X-Conductor-Tenant';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type HttpEvent = APIGatewayProxyEventV2WithJWTAuthorizer;
export type HttpResult = APIGatewayProxyStructuredResultV2;

/** API Gateway's route key of a route, e.g. `GET /api/conductor/v1/experts/{expertId}`. */
export const routeKeyOf = (spec: { readonly method: HttpMethod; readonly path: string }): string =>
  `${spec.method} ${API_BASE}${spec.path}`;

/** A request header by name, whatever its case (API Gateway lower-cases them; tests may not). */
export const headerValue = (event: HttpEvent, name: string): string | undefined => {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
};

/** A reply with a status or headers other than the route's default success. */
export class HttpReply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {}
}

const baseHeaders = (traceId: string): Record<string, string> => ({
  'Content-Type': 'application/json; charset=utf-8',
  [VERSION_HEADER]: API_VERSION,
  [TRACE_HEADER]: traceId,
  'Cache-Control': 'no-store',
});

export const jsonResult = (
  status: number,
  body: unknown,
  traceId: string,
  headers: Readonly<Record<string, string>> = {},
): HttpResult => ({
  statusCode: status,
  headers: { ...baseHeaders(traceId), ...headers },
  body: body === undefined ? '' : JSON.stringify(body),
});

/** The uniform error answer `{ code, message, traceId, details? }`, with the error's own headers. */
export const errorResult = (error: AppError, traceId: string): HttpResult =>
  jsonResult(
    error.statusCode,
    {
      code: error.code,
      message: error.message,
      traceId,
      ...(error.details ? { details: error.details } : {}),
    },
    traceId,
    error.headers,
  );
