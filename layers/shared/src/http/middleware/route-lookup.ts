import { NotFoundError } from '../../errors.js';
import { routeKeyOf } from '../conventions.js';
import type { BoundRoute } from '../route-spec.js';
import { type KernelMiddleware, stateOf } from './request-state.js';

/** Finds the bound route of the event's route key (API Gateway matched it; a key this app lacks is a 404). */
export const routeLookup = (routes: readonly BoundRoute[]): KernelMiddleware => {
  const byKey = new Map(routes.map((route) => [routeKeyOf(route.spec), route]));
  return {
    name: 'conductorRouteLookup',
    before: ({ event, context }) => {
      const route = byKey.get(event.routeKey);
      if (!route) throw new NotFoundError('No such route.', 'route_not_found');
      stateOf(context).route = route;
    },
  };
};
