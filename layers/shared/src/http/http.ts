import type { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import * as z from 'zod';
import { ForbiddenError } from '../errors.js';
import { hasAtLeast, type Principal, type Role } from '../ports/identity.js';
import type { DecideMany } from '../ports/policy.js';
import { type IdGenerator, randomIds } from '../ports/system.js';
import type { OperationTracer } from '../telemetry.js';
import { type HttpEvent, type HttpMethod, HttpReply, type HttpResult, jsonResult } from './conventions.js';
import { guardEgress } from './egress.js';
import { decisionRecord } from './middleware/decision-record.js';
import { errorResponses } from './middleware/error-responses.js';
import { identity } from './middleware/identity.js';
import { jsonBody } from './middleware/json-body.js';
import { rateCount, rateLimitVerdict } from './middleware/rate-limit.js';
import { type KernelContext, type KernelMiddleware, routeOf, stateOf } from './middleware/request-state.js';
import { routeLookup } from './middleware/route-lookup.js';
import { routePolicy } from './middleware/route-policy.js';
import { traceIds } from './middleware/trace-ids.js';
import { validation } from './middleware/validation.js';

export {
  API_BASE,
  API_VERSION,
  errorResult,
  type HttpEvent,
  type HttpMethod,
  HttpReply,
  type HttpResult,
  jsonResult,
  routeKeyOf,
  TENANT_HEADER,
  TRACE_HEADER,
  VERSION_HEADER,
} from './conventions.js';
export { guardEgress, MASKED, TenantTagMismatchError } from './egress.js';
export { DEFAULT_MAX_BODY_BYTES } from './middleware/json-body.js';
export { traceIdOf } from './middleware/trace-ids.js';

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
  /** Per-tenant rate-limit family (see adapters/rate-limit.ts); `default` when unset. */
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
  /**
   * A valid request body: the example of the OpenAPI document, and the body the tests that drive
   * every route of the catalog (e.g. the cross-tenant suite) send when they have none of their own.
   */
  readonly exampleBody?: unknown;
}

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

/**
 * The route's own work, once every middleware let the request through: in its own trace segment,
 * its answer guarded on the way out (tenant tags, masks) and sent with the route's success status.
 */
const serveRoute =
  (logger: Logger, trace: OperationTracer | undefined) =>
  async (event: HttpEvent, context: KernelContext): Promise<HttpResult> => {
    const state = stateOf(context);
    const route = routeOf(state);
    const { traceId, principal, tenantId, masks, responseHeaders, decideMany, input } = state;
    const work = () =>
      route.impl({
        tenantId,
        params: input?.params,
        query: input?.query,
        body: input?.body,
        traceId,
        logger,
        event,
        principal,
        ...(decideMany ? { decideMany } : {}),
      });
    const result = await (trace ? trace(route.spec.operationId, work) : work());
    const reply = result instanceof HttpReply ? result : new HttpReply(route.spec.success.status, result);
    const guarded = principal ? guardEgress(reply.body, tenantId, masks) : reply.body;
    return jsonResult(reply.status, guarded, traceId, { ...responseHeaders, ...reply.headers });
  };

/**
 * Builds the Lambda handler of one function from its bound routes, one middleware per concern in
 * the order they apply. API Gateway has already matched the route (event.routeKey) and verified the
 * JWT; the kernel checks identity again (defence in depth), then the rate limit and the policy (one
 * wait for both), body size and JSON, and the zod schemas of params, query and body, before the route
 * runs. Errors are mapped to the uniform answer by `errorResponses`, whose onError runs after every
 * other middleware's (middy runs them in reverse): the deferred decision record is written first.
 */
export const httpApp = (options: HttpAppOptions) => {
  const { logger, authorize, rateLimit: limiter } = options;
  const ids = options.ids ?? randomIds;
  if (!authorize && options.routes.some((route) => route.spec.auth === 'jwt')) {
    throw new Error('httpApp: routes that need a token need an authorizer (the policy enforcer).');
  }
  // An app with public routes only (meta) has no caller to identify and nothing to enforce.
  const enforcement: KernelMiddleware[] = authorize
    ? [
        identity({ logger }),
        ...(limiter ? [rateCount(limiter)] : []),
        routePolicy(authorize),
        ...(limiter ? [rateLimitVerdict()] : []),
        decisionRecord(),
      ]
    : [];
  return middy<HttpEvent, HttpResult, Error, KernelContext>()
    .use(traceIds({ logger, ids }))
    .use(errorResponses({ logger, ids }))
    .use(routeLookup(options.routes))
    .use(enforcement)
    .use(jsonBody())
    .use(validation())
    .handler(serveRoute(logger, options.trace));
};
