import type { APIGatewayProxyEventV2WithJWTAuthorizer, Context } from 'aws-lambda';
import { flattenClaims, rolesClaimFromEnv } from '../http/claims.js';
import { API_BASE, type HttpMethod } from '../http/http.js';
import type { Role } from '../ports/identity.js';

/**
 * Test doubles of what API Gateway HTTP API (payload 2.0, JWT authorizer) hands a Lambda. They mimic
 * the gateway's own habits, so a handler sees in a unit test what it will see on AWS: lower-case
 * header names, claims flattened to strings, no authorizer context on public routes.
 */

/** A JWT payload as the issuer signed it, before the gateway flattens it. */
export type RawClaims = Readonly<Record<string, unknown>>;

export interface PrincipalClaimsInput {
  readonly tenant: string;
  readonly roles: readonly (Role | string)[];
  readonly sub?: string;
  readonly amr?: readonly string[];
}

/** The claims of a token the local issuer (or Cognito) would mint for this principal, unflattened. */
export const principalClaims = ({ tenant, roles, sub, amr }: PrincipalClaimsInput): RawClaims => ({
  iss: 'https://issuer.test',
  aud: 'conductor',
  sub: sub ?? `user-${tenant}`,
  iat: 1_767_225_600,
  exp: 1_767_268_800,
  tenant,
  [rolesClaimFromEnv()]: [...roles],
  ...(amr ? { amr: [...amr] } : {}),
});

export interface HttpEventInput {
  readonly method: HttpMethod | 'HEAD' | 'OPTIONS';
  /** Path below API_BASE with parameters filled in, e.g. `/experts/exp_1`; may carry `?query`. */
  readonly path: string;
  /**
   * The matched route key. Defaults to `METHOD /api/conductor/v1<template>`, where the template is the
   * path with each segment equal to a path parameter's value replaced by `{name}`. Pass `$default`
   * for a request no route matched.
   */
  readonly routeKey?: string;
  readonly pathParameters?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  readonly headers?: Readonly<Record<string, string>>;
  /** An object is sent as JSON (with `content-type: application/json` unless a header says otherwise); a string as is. */
  readonly body?: unknown;
  readonly isBase64Encoded?: boolean;
  /** Claims as the issuer signed them; flattened here as API Gateway does. Omitted: no authorizer context. */
  readonly claims?: RawClaims;
  readonly requestId?: string;
}

const templateOf = (path: string, pathParameters: Readonly<Record<string, string>>): string => {
  const byValue = new Map(Object.entries(pathParameters).map(([name, value]) => [value, name]));
  return path
    .split('/')
    .map((segment) => {
      const name = byValue.get(decodeURIComponent(segment));
      return name === undefined ? segment : `{${name}}`;
    })
    .join('/');
};

let requestCounter = 0;

/** A realistic API Gateway HTTP API v2 event for a request to `API_BASE + path`. */
export const httpEvent = (input: HttpEventInput): APIGatewayProxyEventV2WithJWTAuthorizer => {
  const [pathOnly = '', inlineQuery = ''] = input.path.split('?', 2);
  const rawPath = `${API_BASE}${pathOnly}`;
  const search = new URLSearchParams(inlineQuery);
  for (const [key, value] of Object.entries(input.query ?? {})) search.append(key, value);
  const queryStringParameters: Record<string, string> = {};
  for (const key of new Set(search.keys())) queryStringParameters[key] = search.getAll(key).join(',');

  const headers: Record<string, string> = {
    host: 'api.conductor.test',
    'user-agent': 'vitest',
    accept: 'application/json',
  };
  for (const [name, value] of Object.entries(input.headers ?? {})) headers[name.toLowerCase()] = value;

  let body: string | undefined;
  if (typeof input.body === 'string') body = input.body;
  else if (input.body !== undefined) body = JSON.stringify(input.body);
  if (body !== undefined) {
    headers['content-type'] ??= 'application/json';
    headers['content-length'] ??= String(Buffer.byteLength(body, 'utf8'));
  }
  if (input.claims) headers.authorization ??= 'Bearer test-token';

  const pathParameters = input.pathParameters ?? {};
  const routeKey = input.routeKey ?? `${input.method} ${API_BASE}${templateOf(pathOnly, pathParameters)}`;
  requestCounter += 1;
  const requestId = input.requestId ?? `req-${String(requestCounter).padStart(8, '0')}`;
  const timeEpoch = 1_767_225_600_000;

  const event: APIGatewayProxyEventV2WithJWTAuthorizer = {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString: search.toString(),
    headers,
    ...(Object.keys(queryStringParameters).length > 0 ? { queryStringParameters } : {}),
    ...(Object.keys(pathParameters).length > 0 ? { pathParameters: { ...pathParameters } } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api1234567',
      authorizer: {
        principalId: '',
        integrationLatency: 0,
        jwt: { claims: flattenClaims(input.claims ?? {}), scopes: [] },
      },
      domainName: 'api.conductor.test',
      domainPrefix: 'api',
      http: {
        method: input.method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.10',
        userAgent: 'vitest',
      },
      requestId,
      routeKey,
      stage: '$default',
      time: new Date(timeEpoch).toUTCString(),
      timeEpoch,
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: input.isBase64Encoded ?? false,
  };
  if (!input.claims) {
    // Public routes and `$default` carry no authorizer context on AWS.
    (event.requestContext as { authorizer?: unknown }).authorizer = undefined;
  }
  return event;
};

/** A Lambda context with a generous deadline. */
export const lambdaContext = (functionName = 'conductor-test'): Context => ({
  callbackWaitsForEmptyEventLoop: false,
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
  memoryLimitInMB: '512',
  awsRequestId: '00000000-0000-4000-8000-000000000000',
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: '2026/01/01/[$LATEST]0000000000000000',
  getRemainingTimeInMillis: () => 30_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});
