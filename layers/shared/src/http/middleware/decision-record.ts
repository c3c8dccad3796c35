import { type KernelMiddleware, type RequestState, routeOf, stateOf } from './request-state.js';

/** Writes the deferred route-level record once per request, however many paths ask for it. */
const record = (state: RequestState): Promise<void> | undefined => {
  if (!state.deferred) return undefined;
  state.recorded ??= state.deferred.flush();
  return state.recorded;
};

/**
 * Holds every answer, error answers included, until the route-level allow deferred by `routePolicy`
 * is on record: a GET's record is written while it reads; another route's goes with its first batch
 * of decisions (the route's `decideMany`) or after it. A failed write replaces the answer (503).
 */
export const decisionRecord = (): KernelMiddleware => ({
  name: 'conductorDecisionRecord',
  before: ({ context }) => {
    const state = stateOf(context);
    if (!state.deferred) return;
    if (routeOf(state).spec.method !== 'GET') {
      state.decideMany = state.deferred.decideMany;
      return;
    }
    // A read has no side effect to wait for. Awaited when answering; caught here only so that it is
    // not reported as unhandled meanwhile.
    record(state)?.catch(() => undefined);
  },
  after: async ({ context }) => {
    await record(stateOf(context));
  },
  onError: async (request) => {
    const state = request.context.conductor;
    if (!state) return;
    try {
      await record(state);
    } catch (error) {
      request.error = error as Error;
    }
  },
});
