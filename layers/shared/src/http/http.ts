import type { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import type {
  APIGatewayProxyEventV2WithJWTAuthorizer,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import * as z from 'zod';
import {
  AppError,
  type FieldIssue,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../errors.js';
import { hasAtLeast, type Principal, type Role, TENANT_ID_PATTERN } from '../ports/identity.js';
import type { DecideMany } from '../ports/policy.js';
import type { IdGenerator } from '../ports/system.js';
import { randomIds } from '../ports/system.js';
import type { OperationTracer } from '../telemetry.js';
import { principalFromClaims } from './claims.js';

export const API_BASE = '/api/conductor/v1';
export const API_VERSION = 'v1';
export const VERSION_HEADER = 'X-Conductor-API-Version';
export const TRACE_HEADER = 'X-Conductor-Trace-Id';
/** Default request body limit; API Gateway's own hard limit is 10 MB. */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type HttpEvent = APIGatewayProxyEventV2WithJWTAuthorizer;
export type HttpResult = APIGatewayProxyStructuredResultV2;

/** The uniform error body of every 4xx and 5xx. */
export const errorBodySchema = z
  .object({
    code: z.string(),
    message: z.string(),
    traceId: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'Error' });

/**
 * What one endpoint is: its method and path, who may call it, what it accepts and answers.
 * Pure data plus zod schemas, so the CDK app, the embedded runtime and the OpenAPI generator all
 * read the same table the handler serves.
 */
export interface RouteSpec<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
> {
  readonly operationId: string;
  readonly method: HttpMethod;
  /** Path below API_BASE, with `{param}` segments as API Gateway writes them. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  /** `public` routes carry no JWT authorizer (health, the OpenAPI document). */
  readonly auth: 'jwt' | 'public';
  /** Lowest role that may call the route at all. */
  readonly minRole?: Role;
  /** Action name for the policy engine and decision logs, e.g. `experts:create`. */
  readonly action: string;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  readonly maxBodyBytes?: number;
  readonly success: { readonly status: number; readonly description: string; readonly schema?: z.ZodType };
  /** Per-tenant rate-limit family (see rate-limit.ts); `default` when unset. */
  readonly rateFamily?: string;
  /** Error statuses this route can answer besides the ones every route can (401/403/429/500). */
  readonly errors: readonly number[];
  /**
   * The route-level allow's record is written with the handler's first `decideMany` (one write
   * instead of two), or by the kernel after the handler — always before any answer, error answers
   * included. Only for routes whose handler does nothing durable before that first `decideMany` or
   * its return (a deny is recorded at once, as everywhere). Every GET defers without asking: its record
   * is written while it reads.
   */
  readonly deferDecisionLog?: boolean;
}

export const routeKeyOf = (spec: Pick<RouteSpec, 'method' | 'path'>): string =>
  `${spec.method} ${API_BASE}${spec.path}`;

export interface RequestInput<P, Q, B> {
  /** The tenant this request acts in (decided by the kernel: the caller's own, or a granted one). */
  readonly tenantId: string;
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  readonly traceId: string;
  readonly logger: Logger;
  readonly event: HttpEvent;
  /**
   * On a `deferDecisionLog` route: decides resource-level questions (one write, carrying the
   * route-level record). Undefined elsewhere.
   */
  readonly decideMany?: DecideMany;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export type RouteImpl<S extends RouteSpec> = (
  input: RequestInput<Out<S['params']>, Out<S['query']>, Out<S['body']>> & {
    readonly principal: S['auth'] extends 'public' ? Principal | undefined : Principal;
  },
) => Promise<unknown>;

/** A reply with a status or headers other than the route's default success. */
export class HttpReply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {}
}

export interface BoundRoute {
  readonly spec: RouteSpec;
  readonly impl: (
    input: RequestInput<unknown, unknown, unknown> & { principal: Principal | undefined },
  ) => Promise<unknown>;
}

export const bind = <S extends RouteSpec>(spec: S, impl: RouteImpl<S>): BoundRoute => ({
  spec,
  impl: impl as BoundRoute['impl'],
});

/** What the enforcement point decided for one request. */
export interface RouteAuthorization {
  /** Fields to mask in every object of the response (policy `@mask` obligations). */
  readonly masks: readonly string[];
  readonly decisionId?: string;
  /** For a `deferDecisionLog` route: the allow's record, not yet written (see RouteSpec). */
  readonly deferred?: DeferredDecisionLog;
}

/** A route-level decision whose record waits for the request's first batch of decisions. */
export interface DeferredDecisionLog {
  /** Decides resource-level questions, writing the route-level record in the same write. */
  readonly decideMany: DecideMany;
  /** Writes the route-level record if no batch has (the kernel calls it before any answer). */
  flush(): Promise<void>;
}

/**
 * Route-level authorization: may this principal perform this route's action on the tenant it acts
 * in? Throws a ForbiddenError to refuse. The policy engine's enforcer is the production one; every
 * function must pass one (there is no default, so no handler can forget it).
 */
export type RouteAuthorizer = (request: {
  readonly principal: Principal;
  readonly spec: RouteSpec;
  /** The tenant the request acts in: the caller's own, or the one named in X-Conductor-Tenant. */
  readonly tenantId: string;
  readonly traceId: string;
  /** The route defers its allow's record (RouteSpec.deferDecisionLog). */
  readonly defer?: boolean;
}) => Promise<RouteAuthorization>;

/** A role ladder for tests that do not exercise the policy engine: minRole, same tenant only. */
export const roleLadderAuthorizer: RouteAuthorizer = async ({ principal, spec, tenantId }) => {
  if (tenantId !== principal.tenantId) {
    throw new ForbiddenError(
      'Access to another tenant needs an approved grant.',
      ['request_approval'],
      'policy_denied',
    );
  }
  if (spec.minRole && !hasAtLeast(principal, spec.minRole)) {
    throw new ForbiddenError(
      `This operation requires the ${spec.minRole} role or higher.`,
      [],
      'insufficient_role',
    );
  }
  return { masks: [] };
};

/** Per-tenant rate limiting hook: throws a 429 when limited, else returns headers to add. */
export type RouteRateLimiter = (
  tenantId: string,
  family: string,
) => Promise<Readonly<Record<string, string>>>;

export interface HttpAppOptions {
  readonly logger: Logger;
  readonly routes: readonly BoundRoute[];
  /** Required for apps with jwt routes: the policy enforcement point. */
  readonly authorize?: RouteAuthorizer;
  readonly rateLimit?: RouteRateLimiter;
  readonly ids?: IdGenerator;
  /** Runs each route's work in its own trace segment, named after its operationId (telemetry.ts). */
  readonly trace?: OperationTracer;
}

/** What a function's app hands the kernel from its composition root, besides its routes. */
export type KernelDeps = Pick<HttpAppOptions, 'logger' | 'authorize' | 'rateLimit' | 'trace'>;

/** The kernel options out of an app's deps (the optional ones only when set). */
export const kernelOptionsOf = (deps: KernelDeps): KernelDeps => ({
  logger: deps.logger,
  ...(deps.authorize ? { authorize: deps.authorize } : {}),
  ...(deps.rateLimit ? { rateLimit: deps.rateLimit } : {}),
  ...(deps.trace ? { trace: deps.trace } : {}),
});

/** Header naming the tenant a request acts in, when it is not the caller's own (needs a grant). */
export const TENANT_HEADER = 'X-Conductor-Tenant';
export const MASKED = '[masked]';

/** Raised when a response would carry a record of a tenant other than the one the request acts in. */
export class TenantTagMismatchError extends Error {}

/**
 * The last line of tenant isolation, on the way out: every object in a response that carries a
 * `tenantId` must carry the request's tenant (tag propagation), and masked fields are replaced.
 */
export const guardEgress = (
  body: unknown,
  tenantId: string,
  masks: readonly string[],
  depth = 0,
): unknown => {
  if (depth > 32 || body === null || typeof body !== 'object') return body;
  if (Array.isArray(body)) return body.map((item) => guardEgress(item, tenantId, masks, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === 'tenantId' && typeof value === 'string' && value !== tenantId) {
      throw new TenantTagMismatchError(`response carries a record of another tenant (${value})`);
    }
    out[key] =
      masks.includes(key) && value !== undefined ? MASKED : guardEgress(value, tenantId, masks, depth + 1);
  }
  return out;
};

const TRACE_ID_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;

const headerValue = (event: HttpEvent, name: string): string | undefined => {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
};

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

const issuesOf = (where: string, error: z.ZodError): FieldIssue[] =>
  error.issues.flatMap((issue) => {
    const base = [where, ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: `${base}.${key}`, message: 'unknown field' }));
    }
    return [{ path: base, message: issue.message }];
  });

const validate = <S extends z.ZodType | undefined>(where: string, schema: S, value: unknown): unknown => {
  if (!schema) return undefined;
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = issuesOf(where, result.error);
    const first = issues[0];
    throw new ValidationError(
      first ? `Invalid request: ${first.path}: ${first.message}` : 'Invalid request.',
      issues,
    );
  }
  return result.data;
};

const decodeBody = (event: HttpEvent): string | undefined => {
  if (event.body === undefined || event.body === null || event.body === '') return undefined;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
};

/** The trace id of a request: the caller's when well-formed, else API Gateway's request id, else a new one. */
export const traceIdOf = (event: HttpEvent, ids: IdGenerator = randomIds): string => {
  const offered = headerValue(event, TRACE_HEADER);
  if (offered && TRACE_ID_PATTERN.test(offered)) return offered;
  return event.requestContext?.requestId ?? ids.next('trace');
};

interface RequestState {
  traceId: string;
}
const state = new WeakMap<object, RequestState>();

/**
 * The HTTP conventions of every Conductor endpoint, as one middy middleware: trace id in and out,
 * version header, uniform error body, and 5xx answers that reveal nothing.
 */
export const httpConventions = (
  logger: Logger,
  ids: IdGenerator,
): middy.MiddlewareObj<HttpEvent, HttpResult, Error, Context> => ({
  name: 'conductorHttpConventions',
  before: (request) => {
    const traceId = traceIdOf(request.event, ids);
    state.set(request.event, { traceId });
    logger.appendKeys({ traceId, routeKey: request.event.routeKey });
  },
  after: () => {
    logger.removeKeys(['traceId', 'routeKey', 'tenantId']);
  },
  onError: (request) => {
    const traceId = state.get(request.event)?.traceId ?? ids.next('trace');
    const error = request.error;
    if (error instanceof AppError && error.statusCode < 500) {
      logger.info('request refused', { status: error.statusCode, code: error.code });
      request.response = errorResult(error, traceId);
    } else if (error instanceof AppError) {
      logger.error('request failed', { status: error.statusCode, code: error.code });
      request.response = errorResult(error, traceId);
    } else {
      logger.error('unhandled error', error as Error);
      request.response = jsonResult(
        500,
        { code: 'internal_error', message: 'An internal error occurred.', traceId },
        traceId,
      );
    }
    logger.removeKeys(['traceId', 'routeKey', 'tenantId']);
  },
});

/**
 * Builds the Lambda handler of one function from its bound routes. API Gateway has already matched
 * the route (event.routeKey) and verified the JWT; this checks it again (defence in depth), then
 * body size, JSON, role, and the zod schemas of params, query and body, before the route runs.
 */
/**
 * Routes whose allow record may wait (see RouteSpec.deferDecisionLog): those that ask for it, and
 * every GET, whose record is then written while the handler reads (a read changes nothing, and the
 * answer still waits for the record).
 */
const defers = (spec: RouteSpec): boolean => spec.deferDecisionLog === true || spec.method === 'GET';

export const httpApp = (options: HttpAppOptions) => {
  const ids = options.ids ?? randomIds;
  const authorize = options.authorize;
  if (!authorize && options.routes.some((route) => route.spec.auth === 'jwt')) {
    throw new Error('httpApp: routes that need a token need an authorizer (the policy enforcer).');
  }
  const byKey = new Map(options.routes.map((route) => [routeKeyOf(route.spec), route]));

  const dispatch = async (event: HttpEvent): Promise<HttpResult> => {
    const traceId = state.get(event)?.traceId ?? ids.next('trace');
    const route = byKey.get(event.routeKey);
    if (!route) throw new NotFoundError('No such route.', 'route_not_found');
    const { spec } = route;

    let principal: Principal | undefined;
    let tenantId = '';
    let masks: readonly string[] = [];
    let extraHeaders: Readonly<Record<string, string>> = {};
    let deferred: DeferredDecisionLog | undefined;
    if (spec.auth === 'jwt' && authorize) {
      const identity = principalFromClaims(event.requestContext?.authorizer?.jwt?.claims);
      if (!identity.ok) throw new UnauthorizedError(`Unauthorized: ${identity.reason}.`);
      principal = identity.principal;
      const named = headerValue(event, TENANT_HEADER);
      if (named !== undefined && !TENANT_ID_PATTERN.test(named)) {
        throw new ValidationError(`${TENANT_HEADER} is not a tenant id.`, [
          { path: `headers.${TENANT_HEADER.toLowerCase()}`, message: 'not a tenant id' },
        ]);
      }
      tenantId = named ?? principal.tenantId;
      options.logger.appendKeys({ tenantId: principal.tenantId });
      // The tenant's rate-limit counter and the policy decision are independent round trips: run them
      // together. A request that is both limited and denied gets the policy's refusal.
      const [limited, authorized] = await Promise.allSettled([
        options.rateLimit?.(principal.tenantId, spec.rateFamily ?? 'default'),
        authorize({ principal, spec, tenantId, traceId, ...(defers(spec) ? { defer: true } : {}) }),
      ]);
      if (authorized.status === 'rejected') throw authorized.reason;
      deferred = authorized.value.deferred;
      if (limited.status === 'rejected') {
        // Refused by the rate limit after all: a deferred allow is still recorded first.
        await deferred?.flush();
        throw limited.reason;
      }
      extraHeaders = limited.value ?? {};
      masks = authorized.value.masks;
    }
    if (!deferred) return serve(route, event, { traceId, principal, tenantId, masks, extraHeaders });
    // A read has no side effect to wait for: its record is written while it reads, in parallel.
    const early = spec.method === 'GET' ? deferred.flush() : undefined;
    early?.catch(() => undefined); // awaited below; this only keeps it from being unhandled meanwhile
    // Whatever the handler does, the route-level record is durable before anything is answered: a
    // failed write turns any answer into a 503 (it replaces an error being thrown, too).
    try {
      return await serve(route, event, {
        traceId,
        principal,
        tenantId,
        masks,
        extraHeaders,
        ...(early ? {} : { deferred }),
      });
    } finally {
      await (early ?? deferred.flush());
    }
  };

  const serve = async (
    route: BoundRoute,
    event: HttpEvent,
    request: {
      readonly traceId: string;
      readonly principal: Principal | undefined;
      readonly tenantId: string;
      readonly masks: readonly string[];
      readonly extraHeaders: Readonly<Record<string, string>>;
      readonly deferred?: DeferredDecisionLog;
    },
  ): Promise<HttpResult> => {
    const { spec } = route;
    const { traceId, principal, tenantId, masks, extraHeaders, deferred } = request;

    const raw = decodeBody(event);
    const limit = spec.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    if (raw !== undefined && Buffer.byteLength(raw, 'utf8') > limit) throw new PayloadTooLargeError(limit);
    let parsed: unknown;
    if (spec.body) {
      const contentType = headerValue(event, 'content-type');
      if (raw !== undefined && contentType && !/^application\/([a-z.+-]*\+)?json\b/i.test(contentType)) {
        throw new UnsupportedMediaTypeError();
      }
      if (raw === undefined) {
        throw new ValidationError(
          'Request body is required.',
          [{ path: 'body', message: 'required' }],
          'body_required',
        );
      }
      try {
        parsed = JSON.parse(raw);
      } catch {
        throw new ValidationError(
          'Request body is not valid JSON.',
          [{ path: 'body', message: 'malformed JSON' }],
          'malformed_json',
        );
      }
    }

    const params = validate('params', spec.params, event.pathParameters ?? {});
    const query = validate('query', spec.query, event.queryStringParameters ?? {});
    const body = validate('body', spec.body, parsed);

    const work = () =>
      route.impl({
        tenantId,
        params,
        query,
        body,
        traceId,
        logger: options.logger,
        event,
        principal,
        ...(deferred ? { decideMany: deferred.decideMany } : {}),
      });
    const result = await (options.trace ? options.trace(spec.operationId, work) : work());
    const reply = result instanceof HttpReply ? result : new HttpReply(spec.success.status, result);
    const guarded = principal ? guardEgress(reply.body, tenantId, masks) : reply.body;
    return jsonResult(reply.status, guarded, traceId, { ...extraHeaders, ...reply.headers });
  };

  return middy<HttpEvent, HttpResult, Error, Context>()
    .use(httpConventions(options.logger, ids))
    .handler(dispatch);
};
