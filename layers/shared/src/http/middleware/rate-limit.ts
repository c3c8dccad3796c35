import type { RouteRateLimiter } from '../route-spec.js';
import { type KernelMiddleware, routeOf, stateOf } from './request-state.js';

/*
 * Per-tenant rate limiting in two steps around `routePolicy`, so the tenant's counter and the
 * policy decision are one round trip's wait, not two: `rateCount` starts the count, `rateLimitVerdict`
 * refuses once the policy allowed (a request both limited and denied gets the policy's refusal).
 */

const settle = <T>(work: Promise<T>): Promise<PromiseSettledResult<T>> =>
  work.then(
    (value) => ({ status: 'fulfilled' as const, value }),
    (reason: unknown) => ({ status: 'rejected' as const, reason }),
  );

export const rateCount = (limiter: RouteRateLimiter): KernelMiddleware => ({
  name: 'conductorRateCount',
  before: ({ context }) => {
    const state = stateOf(context);
    if (!state.principal) return;
    const family = routeOf(state).spec.rateFamily ?? 'default';
    state.rateCount = settle(limiter(state.principal.tenantId, family));
  },
  // A refusal is not answered with the count still in flight (a frozen Lambda would finish it later).
  onError: async ({ context }) => {
    await context.conductor?.rateCount;
  },
});

export const rateLimitVerdict = (): KernelMiddleware => ({
  name: 'conductorRateLimitVerdict',
  before: async ({ context }) => {
    const state = stateOf(context);
    const counted = await state.rateCount;
    if (!counted) return;
    if (counted.status === 'rejected') throw counted.reason;
    state.responseHeaders = counted.value;
  },
});
