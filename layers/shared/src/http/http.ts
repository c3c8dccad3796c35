import type { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import { ForbiddenError } from '../errors.js';
import { hasAtLeast } from '../ports/identity.js';
import { type IdGenerator, randomIds } from '../ports/system.js';
import type { OperationTracer } from '../telemetry.js';
import { type HttpEvent, HttpReply, type HttpResult, jsonResult } from './conventions.js';
import { guardEgress } from './egress.js';
import { type JwtVerifier, jwtVerifierFromEnv } from './jwt-verify.js';
import { decisionRecord } from './middleware/decision-record.js';
import { errorResponses } from './middleware/error-responses.js';
import { identity } from './middleware/identity.js';
import { jsonBody } from './middleware/json-body.js';
import { refusalBudget, tenantRateLimit } from './middleware/rate-limit.js';
import { type KernelContext, type KernelMiddleware, routeOf, stateOf } from './middleware/request-state.js';
import { routeLookup } from './middleware/route-lookup.js';
import { routePolicy } from './middleware/route-policy.js';
import { traceIds } from './middleware/trace-ids.js';
import { validation } from './middleware/validation.js';
import type { BoundRoute, RouteAuthorizer, RouteRateLimiter } from './route-spec.js';

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
export { type JwtVerifier, jwtVerifierFromEnv, TokenRejectedError } from './jwt-verify.js';
export { DEFAULT_MAX_BODY_BYTES } from './middleware/json-body.js';
export { REFUSED_RATE_FAMILY } from './middleware/rate-limit.js';
export { traceIdOf } from './middleware/trace-ids.js';
export {
  type BoundRoute,
  bind,
  type DeferredDecisionLog,
  errorBodySchema,
  MIN_STORABLE_MAGNITUDE,
  pageQuerySchema,
  pageSchemaOf,
  type RequestInput,
  type RouteAuthorization,
  type RouteAuthorizer,
  type RouteImpl,
  type RouteRateLimiter,
  type RouteSpec,
  storableNumberSchema,
} from './route-spec.js';

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

/**
 * The requirements' bodies name the tenant (`{tenantId, ...}`); the request acts in the tenant the
 * kernel decided (the caller's own, or the one X-Conductor-Tenant names and the policy allowed). A
 * body naming another one is refused with 403 `tenant_mismatch`, before anything is done.
 */
export const assertBodyTenant = (named: string | undefined, tenantId: string): void => {
  if (named !== undefined && named !== tenantId) {
    throw new ForbiddenError(
      'The body names another tenant than the one the request acts in.',
      [],
      'tenant_mismatch',
    );
  }
};

export interface HttpAppOptions {
  readonly logger: Logger;
  readonly routes: readonly BoundRoute[];
  /** Required for apps with jwt routes: the policy enforcement point. */
  readonly authorize?: RouteAuthorizer;
  readonly rateLimit?: RouteRateLimiter;
  readonly ids?: IdGenerator;
  /** Runs each route's work in its own trace segment, named after its operationId (telemetry.ts). */
  readonly trace?: OperationTracer;
  /**
   * Verifies the bearer token in the function itself instead of trusting the claims API Gateway
   * passed. @default the one CONDUCTOR_VERIFY_JWT asks for (jwtVerifierFromEnv), else none
   */
  readonly verifyToken?: JwtVerifier;
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
 * JWT; the kernel does NOT verify the token again: it reads the caller from the claims the gateway
 * passed, so the function must be invocable by the API only (its resource policy allows
 * `lambda:InvokeFunction` to the API alone). Where that cannot be guaranteed, CONDUCTOR_VERIFY_JWT
 * makes the function verify the token itself (jwt-verify.ts). The kernel then checks that the claims
 * make a usable identity (401), the policy (403), body size and JSON, the zod schemas of params,
 * query and body, and last the tenant's rate limit, before the route runs: only requests the policy
 * and the schemas let through spend their tenant's budget; refused ones spend their caller's
 * (`refusalBudget`). Errors are mapped to the uniform answer by `errorResponses`, whose onError runs
 * after every other middleware's (middy runs them in reverse): the deferred decision record is
 * written first, then a refusal is counted.
 */
export const httpApp = (options: HttpAppOptions) => {
  const { logger, authorize, rateLimit: limiter } = options;
  const ids = options.ids ?? randomIds;
  if (!authorize && options.routes.some((route) => route.spec.auth === 'jwt')) {
    throw new Error('httpApp: routes that need a token need an authorizer (the policy enforcer).');
  }
  const verify = options.verifyToken ?? jwtVerifierFromEnv();
  // An app with public routes only (meta) has no caller to identify and nothing to enforce.
  const enforcement: KernelMiddleware[] = authorize
    ? [
        identity({ logger, ...(verify ? { verify } : {}) }),
        ...(limiter ? [refusalBudget({ limiter, logger })] : []),
        routePolicy(authorize),
        decisionRecord(),
      ]
    : [];
  const admission: KernelMiddleware[] = authorize && limiter ? [tenantRateLimit(limiter)] : [];
  return middy<HttpEvent, HttpResult, Error, KernelContext>()
    .use(traceIds({ logger, ids }))
    .use(errorResponses({ logger, ids }))
    .use(routeLookup(options.routes))
    .use(enforcement)
    .use(jsonBody())
    .use(validation())
    .use(admission)
    .handler(serveRoute(logger, options.trace));
};
