import type { RouteAuthorizer, RouteSpec } from '../route-spec.js';
import { type KernelMiddleware, routeOf, stateOf } from './request-state.js';

/**
 * Routes whose allow record may wait (see RouteSpec.deferDecisionLog): those that ask for it, and
 * every GET, whose record is then written while the handler reads (`decisionRecord`).
 */
const defers = (spec: RouteSpec): boolean => spec.deferDecisionLog === true || spec.method === 'GET';

/**
 * The policy enforcement point of every jwt route: may this principal perform the route's action on
 * the tenant it acts in? The authorizer refuses by throwing (403); an allow brings the fields to mask
 * and, on deferring routes, the allow's record still to write.
 */
export const routePolicy = (authorize: RouteAuthorizer): KernelMiddleware => ({
  name: 'conductorRoutePolicy',
  before: async ({ context }) => {
    const state = stateOf(context);
    const { principal, tenantId, traceId } = state;
    if (!principal) return;
    const { spec } = routeOf(state);
    const authorization = await authorize({
      principal,
      spec,
      tenantId,
      traceId,
      ...(defers(spec) ? { defer: true } : {}),
    });
    state.masks = authorization.masks;
    if (authorization.deferred) state.deferred = authorization.deferred;
  },
});
