import type { Logger } from '@aws-lambda-powertools/logger';
import { AppError } from '../../errors.js';
import { REFUSED_RATE_FAMILY } from '../../pillar.js';
import type { RouteRateLimiter } from '../route-spec.js';
import { type KernelMiddleware, routeOf, stateOf } from './request-state.js';

/*
 * Per-tenant rate limiting counts only what the tenant's callers were let do: a request is counted
 * against its tenant's family once the policy allowed it and its input passed validation. A request
 * refused before that (403 of the policy, 400/413/415 of its body or headers) spends its caller's
 * own, smaller `refused` budget instead, so one caller hammering refusals gets 429 itself without
 * starving the rest of its tenant.
 */

/** The family that counts a caller's refused requests (KERNEL_RATE_FAMILIES gives its limit). */
export { REFUSED_RATE_FAMILY };

/**
 * Last before the route's work: counts the request in its tenant's family (the caller's own tenant,
 * also when it acts in a granted one); 429 when the tenant is over its limit, else the family's
 * `X-RateLimit-*` headers for the answer.
 */
export const tenantRateLimit = (limiter: RouteRateLimiter): KernelMiddleware => ({
  name: 'conductorTenantRateLimit',
  before: async ({ context }) => {
    const state = stateOf(context);
    if (!state.principal) return;
    const family = routeOf(state).spec.rateFamily ?? 'default';
    state.admitted = true;
    state.responseHeaders = await limiter(state.principal.tenantId, family);
  },
});

/** A refusal of the caller's request before it was counted: a 4xx other than the limit's own 429. */
const isRefusal = (error: unknown): error is AppError =>
  error instanceof AppError && error.statusCode >= 400 && error.statusCode < 500 && error.statusCode !== 429;

/**
 * Counts a refused request against its caller (tenant and subject) in the `refused` family, and
 * answers 429 instead of the refusal once the caller is over that budget. The count is awaited: a
 * frozen Lambda would not finish it later.
 */
export const refusalBudget = ({
  limiter,
  logger,
}: {
  limiter: RouteRateLimiter;
  logger: Logger;
}): KernelMiddleware => ({
  name: 'conductorRefusalBudget',
  onError: async (request) => {
    const state = request.context.conductor;
    if (!state?.principal || state.admitted || !isRefusal(request.error)) return;
    try {
      await limiter(state.principal.tenantId, REFUSED_RATE_FAMILY, state.principal.subject);
    } catch (error) {
      if (error instanceof AppError && error.statusCode === 429) request.error = error;
      else logger.warn('refused request not counted', { error: String(error) });
    }
  },
});
