import type { Logger } from '@aws-lambda-powertools/logger';
import * as z from 'zod';
import type { Principal, Role } from '../ports/identity.js';
import type { DecideMany } from '../ports/policy.js';
import type { HttpEvent, HttpMethod } from './conventions.js';

/**
 * What a route is, as data (`RouteSpec`), and the shapes the kernel's HTTP app and its middlewares
 * share: bound routes, the route-level authorization hook and its result, the rate-limit hook.
 * Pillar contracts import these through `http.ts`.
 */

/** The uniform error body of every 4xx and 5xx. */
export const errorBodySchema = z
  .object({
    code: z.string(),
    message: z.string(),
    traceId: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'Error' });

/** The smallest magnitude a number stored in a table may have (DynamoDB refuses those below 1e-130). */
export const MIN_STORABLE_MAGNITUDE = 1e-100;

/**
 * A number a table can hold: finite, and 0 or between MIN_STORABLE_MAGNITUDE and
 * Number.MAX_SAFE_INTEGER in magnitude (DynamoDB refuses magnitudes below 1e-130, the document
 * client those above the safe integers): refused with a 400 before the write, not a 500 after it.
 */
export const storableNumberSchema = z
  .number()
  .refine(Number.isFinite, 'must be a finite number')
  .refine(
    (v) => v === 0 || (Math.abs(v) >= MIN_STORABLE_MAGNITUDE && Math.abs(v) <= Number.MAX_SAFE_INTEGER),
    `must be 0 or between ${MIN_STORABLE_MAGNITUDE} and ${Number.MAX_SAFE_INTEGER} in magnitude`,
  );

/** The answer of every paged list: a page of `item`, and the cursor of the next one when there is more. */
export const pageSchemaOf = <T extends z.ZodType>(item: T, id: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().optional() }).meta({ id });

/**
 * The query of every paged list: `limit` (1-100, default 25) and the opaque `cursor` of the previous
 * page's `nextCursor`. A list with filters extends it.
 */
export const pageQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(25),
  cursor: z.string().max(2048).optional(),
});

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
  /** The answer carries the record's version as `ETag` (`"3"`), to send back in `If-Match`. */
  readonly etag?: boolean;
  /**
   * The route takes the version the client last read in `If-Match` and refuses with 409
   * `version_conflict` when the record changed since (no lost update); without it, it applies anyway.
   */
  readonly ifMatch?: boolean;
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

/**
 * Per-tenant rate limiting hook: counts one request of the tenant in the family (of one caller of
 * the tenant when `caller` is given: the `refused` family); throws a 429 when limited, else returns
 * headers to add.
 */
export type RouteRateLimiter = (
  tenantId: string,
  family: string,
  caller?: string,
) => Promise<Readonly<Record<string, string>>>;
