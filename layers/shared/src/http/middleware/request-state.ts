import type middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { Principal } from '../../ports/identity.js';
import type { DecideMany } from '../../ports/policy.js';
import type { HttpEvent, HttpResult } from '../conventions.js';
import type { BoundRoute, DeferredDecisionLog } from '../route-spec.js';

/**
 * What the kernel's middlewares learn about one request, each adding its part in turn; the route
 * handler reads the whole. Created by `traceIds`, the first middleware.
 */
export interface RequestState {
  readonly traceId: string;
  /** `routeLookup`: the bound route of the event's route key. */
  route?: BoundRoute;
  /** `identity`, on jwt routes: the caller, and the tenant it acts in ('' on public routes). */
  principal?: Principal;
  tenantId: string;
  /**
   * `tenantRateLimit`: the request reached its tenant's count (refused ones spend their caller's
   * budget instead, `refusalBudget`); the count's headers are added to the answer.
   */
  admitted?: boolean;
  responseHeaders: Readonly<Record<string, string>>;
  /** `routePolicy`: fields to mask in the answer, and the allow's record when it waits. */
  masks: readonly string[];
  deferred?: DeferredDecisionLog;
  /** `decisionRecord`: the pending write of the deferred record, and the batch the route may write it with. */
  recorded?: Promise<void>;
  decideMany?: DecideMany;
  /** `jsonBody`: the parsed body; `validation`: everything the route reads, checked by its schemas. */
  body?: unknown;
  input?: { readonly params: unknown; readonly query: unknown; readonly body: unknown };
}

/**
 * The Lambda context as the kernel's middlewares leave it. Values for the handler travel on the
 * context, as middy's own middlewares hand them over (a fresh context per invocation).
 */
export interface KernelContext extends Context {
  conductor?: RequestState;
}

export type KernelMiddleware = middy.MiddlewareObj<HttpEvent, HttpResult, Error, KernelContext>;

/** The request's state; only `traceIds` runs before it exists. */
export const stateOf = (context: KernelContext): RequestState => {
  if (!context.conductor) throw new Error('http kernel: the traceIds middleware must run first');
  return context.conductor;
};

/** The matched route; only `traceIds` and `routeLookup` run before it is known. */
export const routeOf = (state: RequestState): BoundRoute => {
  if (!state.route) throw new Error('http kernel: the routeLookup middleware must run first');
  return state.route;
};
