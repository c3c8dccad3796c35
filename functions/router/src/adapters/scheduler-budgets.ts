import type { OwnApiCallOptions } from '#shared/http/own-api.js';
import {
  type BudgetSignal,
  CONSTRAINED_BUDGET_STATES,
  type ConstrainedBudgetState,
} from '../domain/routing.js';

/**
 * The tenant's budget state through the scheduler pillar's HTTP API (DESIGN §4: pillars reach each
 * other through their APIs), with the caller's own token: `GET budgets/state` (viewer). The worst
 * constrained state of the tenant's budgets (`budget-throttled` before `degraded`), or undefined when
 * none is constrained. A failed call (timeout, an error answer, a body it cannot read) is also
 * undefined: routing goes on without demotion rather than failing on the scheduler's account.
 */
/** `timeoutMs` defaults to 1000 here. */
export interface SchedulerBudgetsOptions extends OwnApiCallOptions {
  /** Told why the state could not be had. */
  readonly onError?: (error: unknown) => void;
}

const WORST_FIRST: readonly ConstrainedBudgetState[] = ['budget-throttled', 'degraded'];

export const schedulerBudgetSignal =
  (options: SchedulerBudgetsOptions): BudgetSignal =>
  async () => {
    try {
      const response = await (options.fetch ?? fetch)(`${options.apiUrl}/budgets/state`, {
        headers: {
          authorization: options.authorization,
          'x-conductor-trace-id': options.traceId,
          ...(options.tenantHeader === undefined ? {} : { 'x-conductor-tenant': options.tenantHeader }),
        },
        signal: AbortSignal.timeout(options.timeoutMs ?? 1000),
      });
      if (!response.ok) throw new Error(`GET budgets/state answered ${response.status}`);
      const body = (await response.json()) as { budgets?: readonly { state?: unknown }[] };
      const states = new Set((body.budgets ?? []).map((budget) => budget.state));
      return WORST_FIRST.find((state) => states.has(state) && CONSTRAINED_BUDGET_STATES.includes(state));
    } catch (error) {
      options.onError?.(error);
      return undefined;
    }
  };
