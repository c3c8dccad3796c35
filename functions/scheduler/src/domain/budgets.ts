import { UnprocessableError } from '#shared/errors.js';
import { type EventPublisher, eventOf } from '#shared/ports/events.js';
import type { TenantRecord, TenantRecords } from '#shared/ports/records.js';
import type { Clock } from '#shared/ports/system.js';
import { type BudgetAction, budgetBreach, type JobPriority } from '../../events.js';
import { type BudgetLedger, type Ceiling, capOf, type LedgerRecord } from './budget-ledger.js';
import { type BudgetWindow, elapsedFraction, type WindowInstance, windowOf } from './budget-windows.js';

/**
 * Budgets of the scheduler (M3): a tenant's spending limit per calendar window, what happens when
 * it is breached, and the admission of each job against it. The spend itself is kept by the
 * ledger (`budget-ledger.ts`); this module decides the ceilings, the projection, the state and the
 * announcements (`budget_breach`).
 */

export const ENFORCEMENT_MODES = ['soft', 'throttle', 'downgrade'] as const;
export type EnforcementMode = (typeof ENFORCEMENT_MODES)[number];

/** What a breached budget's state is called, per mode; `ok` and `warning` before a breach. */
export const BUDGET_STATES = ['ok', 'warning', 'over-budget', 'budget-throttled', 'degraded'] as const;
export type BudgetState = (typeof BUDGET_STATES)[number];

const BREACHED_STATE: Record<EnforcementMode, BudgetState> = {
  soft: 'over-budget',
  throttle: 'budget-throttled',
  downgrade: 'degraded',
};
const BREACH_ACTION: Record<EnforcementMode, BudgetAction> = {
  soft: 'alert',
  throttle: 'throttle',
  downgrade: 'downgrade',
};

export interface BudgetPolicy {
  /** Spend allowed above the limit, in percent of it: the cap is limit × (1 + grace/100). */
  readonly gracePercent: number;
  /** Unused budget of the previous window carried into the next, at most this percent of the limit (0: none). */
  readonly carryOverCapPercent: number;
  /** How far the projection may pass the cap (percent of the limit) before the budget counts as breached. */
  readonly burstPercent: number;
  readonly mode: EnforcementMode;
  /** Percentages of the limit whose crossing by the projected spend is announced (once per window). */
  readonly alertThresholds: readonly number[];
  /**
   * Once breached (mode `throttle`): a job of each priority is admitted only while the spend,
   * its estimate included, stays under this percent of the cap. The requirements' "priority
   * multipliers", read as per-class ceilings: important work keeps the whole cap, cheap work waits.
   */
  readonly priorityCeilingsPercent: Readonly<Record<JobPriority, number>>;
}

export const DEFAULT_POLICY: BudgetPolicy = {
  gracePercent: 0,
  carryOverCapPercent: 0,
  burstPercent: 0,
  mode: 'throttle',
  alertThresholds: [50, 80, 100],
  priorityCeilingsPercent: { high: 100, normal: 90, low: 0 },
};

/** A tenant's budget for one window kind, in the scheduler table at pk `T#<tenant>#BUDGET`, sk the window kind. */
export interface Budget extends TenantRecord {
  readonly window: BudgetWindow;
  readonly limitUsd: number;
  /** The IANA time zone the windows are calendar-aligned in. */
  readonly timeZone: string;
  readonly policy: BudgetPolicy;
  /** The budget applies from the window containing this instant on (absent: at once). */
  readonly effectiveFrom?: string;
  readonly changedBy: string;
}

export interface BudgetInput {
  readonly window: BudgetWindow;
  readonly limit: number;
  readonly timeZone: string;
  readonly effectiveFrom?: string | undefined;
  readonly policy: BudgetPolicy;
}

/** The linear projection never divides by less than this share of the window (see `projectedSpend`). */
export const MIN_ELAPSED_FRACTION = 0.1;

/**
 * The projected spend at the window's end: the finished spend extrapolated at its mean rate so far
 * (committed / elapsed share of the window), plus what the admitted, unfinished jobs are expected to
 * cost. The elapsed share counts as at least a tenth of the window, so a first hour's spend is not
 * multiplied by the whole window (a month's first hour would otherwise count 720 times).
 */
export const projectedSpend = (ledger: Pick<LedgerRecord, 'committed' | 'reserved'>, elapsed: number) =>
  ledger.committed / Math.max(elapsed, MIN_ELAPSED_FRACTION) + ledger.reserved;

export interface BudgetStatus {
  readonly window: BudgetWindow;
  readonly windowId: string;
  readonly start: string;
  readonly end: string;
  readonly timeZone: string;
  readonly mode: EnforcementMode;
  readonly limitUsd: number;
  readonly carryInUsd: number;
  /** limit × (1 + grace) + carry-over: admissions never take committed + reserved past it (but in `soft` mode). */
  readonly capUsd: number;
  /** The projection at which the budget counts as breached: the cap plus the burst allowance. */
  readonly breachAtUsd: number;
  readonly spentUsd: number;
  readonly reservedUsd: number;
  readonly projectedUsd: number;
  readonly remainingUsd: number;
  readonly state: BudgetState;
  /** The alert thresholds (percent of the limit) the projection has reached in this window. */
  readonly thresholdsReached: readonly number[];
}

const round = (usd: number): number => Math.round(usd * 1e6) / 1e6;

export const statusOf = (budget: Budget, ledger: LedgerRecord | undefined, at: Date): BudgetStatus => {
  const instance = windowOf(at, budget.window, budget.timeZone);
  const current = ledger ?? { committed: 0, reserved: 0, carryIn: 0 };
  const limits = {
    limit: budget.limitUsd,
    grace: budget.policy.gracePercent / 100,
    carryIn: current.carryIn,
  };
  const cap = capOf(limits);
  const breachAt = cap + (budget.limitUsd * budget.policy.burstPercent) / 100;
  const projected = projectedSpend(current, elapsedFraction(at, instance));
  const used = current.committed + current.reserved;
  const reached = budget.policy.alertThresholds.filter(
    (threshold) => projected >= (budget.limitUsd * threshold) / 100,
  );
  const breached = projected >= breachAt || used >= cap;
  return {
    window: budget.window,
    windowId: instance.id,
    start: instance.start.toISOString(),
    end: instance.end.toISOString(),
    timeZone: budget.timeZone,
    mode: budget.policy.mode,
    limitUsd: budget.limitUsd,
    carryInUsd: round(current.carryIn ?? 0),
    capUsd: round(cap),
    breachAtUsd: round(breachAt),
    spentUsd: round(current.committed),
    reservedUsd: round(current.reserved),
    projectedUsd: round(projected),
    remainingUsd: round(Math.max(0, cap - used)),
    state: breached ? BREACHED_STATE[budget.policy.mode] : reached.length > 0 ? 'warning' : 'ok',
    thresholdsReached: reached,
  };
};

/** The markers announced once per window: `t<percent>` per alert threshold, `breach` for the breach. */
const markersOf = (status: BudgetStatus): string[] => [
  ...status.thresholdsReached.map((threshold) => `t${threshold}`),
  ...(isBreached(status) ? ['breach'] : []),
];

export const isBreached = (status: Pick<BudgetStatus, 'state'>): boolean =>
  status.state !== 'ok' && status.state !== 'warning';

const DEMOTED: Record<JobPriority, JobPriority> = { high: 'normal', normal: 'low', low: 'low' };

export type BudgetAdmission =
  | {
      readonly admitted: true;
      /** The priority the job runs at: demoted one class when a `downgrade` budget is breached. */
      readonly priority: JobPriority;
      /** The window instances whose ledgers hold the job's reservation (its commit goes there). */
      readonly windowIds: readonly string[];
      readonly statuses: readonly BudgetStatus[];
    }
  | {
      readonly admitted: false;
      readonly reason: 'over_budget' | 'held_back';
      /** Seconds before trying again makes sense (see `retryAfterSeconds`). */
      readonly retryAfterSeconds: number;
      readonly status: BudgetStatus;
      readonly statuses: readonly BudgetStatus[];
    };

/** A throttled client is told to come back in 5 minutes, or at the window's end if that is sooner. */
export const RETRY_AFTER_SECONDS = 300;

export interface BudgetsDeps {
  /** The tenant's budgets (a short-lived cache in front of the table is fine: a change applies within its TTL). */
  readonly budgets: Pick<TenantRecords<Budget>, 'get' | 'getMany' | 'create' | 'replace'>;
  readonly ledger: BudgetLedger;
  readonly clock: Clock;
  /** Where budget_breach goes (absent: not published). */
  readonly events?: EventPublisher | undefined;
  /** Told when budget_breach could not be published; the spend stands. */
  readonly onPublishError?: (error: unknown, windowId: string) => void;
  /** Told once per window when a budget becomes breached (its metric, its alarm). */
  readonly onBreach?: (tenantId: string, status: BudgetStatus) => void;
}

export const BUDGET_WINDOW_KINDS: readonly BudgetWindow[] = ['daily', 'weekly', 'monthly'];

export class Budgets {
  constructor(private readonly deps: BudgetsDeps) {}

  /** Sets (creates or replaces) the tenant's budget for one window kind. */
  async put(tenantId: string, input: BudgetInput, changedBy: string): Promise<Budget> {
    const now = this.deps.clock.now();
    if (input.effectiveFrom !== undefined) {
      const current = windowOf(now, input.window, input.timeZone);
      if (new Date(input.effectiveFrom) < current.start) {
        throw new UnprocessableError(
          `effectiveFrom ${input.effectiveFrom} is in a past window (the current ${input.window} window started at ${current.start.toISOString()})`,
          'window_in_past',
        );
      }
    }
    const existing = await this.deps.budgets.get(tenantId, input.window);
    const stamp = now.toISOString();
    const budget: Budget = {
      tenantId,
      id: input.window,
      version: (existing?.version ?? 0) + 1,
      createdAt: existing?.createdAt ?? stamp,
      updatedAt: stamp,
      window: input.window,
      limitUsd: input.limit,
      timeZone: input.timeZone,
      policy: input.policy,
      ...(input.effectiveFrom === undefined ? {} : { effectiveFrom: input.effectiveFrom }),
      changedBy,
    };
    if (existing) await this.deps.budgets.replace(budget, existing.version);
    else await this.deps.budgets.create(budget);
    return budget;
  }

  /** The state of the tenant's budgets now (all window kinds, or one). */
  async status(tenantId: string, only?: BudgetWindow): Promise<BudgetStatus[]> {
    const now = this.deps.clock.now();
    const budgets = await this.#activeBudgets(tenantId, now, true);
    return Promise.all(
      budgets
        .filter((budget) => only === undefined || budget.window === only)
        .map(async (budget) => {
          const instance = windowOf(now, budget.window, budget.timeZone);
          return statusOf(budget, await this.deps.ledger.get(tenantId, instance.id), now);
        }),
    );
  }

  /** Whether a `downgrade` budget of the tenant is breached now (its routed jobs prefer cheaper experts). */
  async degraded(tenantId: string): Promise<boolean> {
    const statuses = await this.status(tenantId);
    return statuses.some((status) => status.mode === 'downgrade' && isBreached(status));
  }

  /**
   * Admits a job against every budget of its tenant: reserves its estimate in each window's ledger,
   * under the ceiling its priority has there. If one budget refuses, the reservations made in the
   * others are released and the job is not admitted. Called once per job, by the call that writes
   * it (a replay of its idempotency key is answered from the job).
   */
  async admit(
    tenantId: string,
    priority: JobPriority,
    estimate: number,
    traceId: string,
  ): Promise<BudgetAdmission> {
    const now = this.deps.clock.now();
    const budgets = await this.#activeBudgets(tenantId, now, false);
    const reserved: string[] = [];
    const statuses: BudgetStatus[] = [];
    let effective = priority;
    const undo = () =>
      Promise.all(reserved.map((windowId) => this.deps.ledger.release(tenantId, windowId, estimate)));
    for (const budget of budgets) {
      const instance = windowOf(now, budget.window, budget.timeZone);
      const admission = await this.deps.ledger
        .reserve(
          tenantId,
          instance.id,
          this.#limitOf(budget, instance),
          estimate,
          this.#ceiling(budget, priority, now),
        )
        .catch(async (error: unknown) => {
          // Not admitted (the table throttled this window's ledger): the others' reservations are undone.
          await undo().catch(() => undefined);
          throw error;
        });
      const status = statusOf(budget, admission.ledger, now);
      statuses.push(status);
      if (!admission.admitted) {
        await undo();
        await this.#announce(tenantId, budget, status, admission.ledger, traceId);
        const untilEnd = Math.ceil((instance.end.getTime() - now.getTime()) / 1000);
        return {
          admitted: false,
          reason: admission.reason,
          retryAfterSeconds: Math.max(1, Math.min(RETRY_AFTER_SECONDS, untilEnd)),
          status,
          statuses,
        };
      }
      reserved.push(instance.id);
      if (budget.policy.mode === 'downgrade' && isBreached(status)) effective = DEMOTED[priority];
      await this.#announce(tenantId, budget, status, admission.ledger, traceId);
    }
    return { admitted: true, priority: effective, windowIds: reserved, statuses };
  }

  /** A job finished: its actual cost replaces its estimate in each ledger that holds it (idempotent). */
  async settle(
    tenantId: string,
    jobId: string,
    windowIds: readonly string[],
    estimate: number,
    actual: number,
    traceId: string,
  ): Promise<void> {
    await this.#settleEach(tenantId, windowIds, traceId, (windowId) =>
      this.deps.ledger.commit(tenantId, windowId, jobId, estimate, actual),
    );
  }

  /**
   * An admitted job that will not be written: the reservations its admission made are undone. Called
   * once, by the call that admitted it (see BudgetLedger.release).
   */
  async release(
    tenantId: string,
    windowIds: readonly string[],
    estimate: number,
    traceId: string,
  ): Promise<void> {
    await this.#settleEach(tenantId, windowIds, traceId, (windowId) =>
      this.deps.ledger.release(tenantId, windowId, estimate),
    );
  }

  /** The job is completed: no delivery commits it again (its ledger markers can go). */
  forget(tenantId: string, jobId: string, windowIds: readonly string[]): void {
    for (const windowId of windowIds) this.deps.ledger.forget(tenantId, windowId, jobId);
  }

  async #settleEach(
    tenantId: string,
    windowIds: readonly string[],
    traceId: string,
    change: (windowId: string) => Promise<LedgerRecord>,
  ): Promise<void> {
    if (windowIds.length === 0) return;
    const now = this.deps.clock.now();
    const budgets = await this.deps.budgets.getMany(tenantId, BUDGET_WINDOW_KINDS);
    for (const windowId of windowIds) {
      const ledger = await change(windowId);
      const budget = budgets.get(windowId.slice(0, windowId.indexOf(':')));
      // The job's window may be over (a job finishing after midnight): its ledger still takes the
      // cost; announcements are about the current window only.
      if (budget && windowOf(now, budget.window, budget.timeZone).id === windowId) {
        await this.#announce(tenantId, budget, statusOf(budget, ledger, now), ledger, traceId);
      }
    }
  }

  /**
   * Publishes budget_breach once per marker (alert threshold, breach) per window: a marker the
   * ledger shows announced costs no write; a new one is recorded first, atomically, and only the
   * call that recorded it announces it.
   */
  async #announce(
    tenantId: string,
    budget: Budget,
    status: BudgetStatus,
    ledger: Pick<LedgerRecord, 'alerted'>,
    traceId: string,
  ): Promise<void> {
    const known = new Set(ledger.alerted ?? []);
    const markers = markersOf(status).filter((marker) => !known.has(marker));
    if (markers.length === 0) return;
    const added = await this.deps.ledger.markAlerted(tenantId, status.windowId, markers);
    if (added.length === 0) return;
    if (added.includes('breach')) this.deps.onBreach?.(tenantId, status);
    const occurredAt = this.deps.clock.now().toISOString();
    try {
      await this.deps.events?.publish(
        added.map((marker) =>
          eventOf(budgetBreach, {
            tenantId,
            traceId,
            occurredAt,
            window: budget.window,
            windowId: status.windowId,
            threshold: marker === 'breach' ? 'breach' : `${marker.slice(1)}%`,
            limitUsd: status.limitUsd,
            projectedUsd: status.projectedUsd,
            spentUsd: status.spentUsd,
            mode: budget.policy.mode,
            action: marker === 'breach' ? BREACH_ACTION[budget.policy.mode] : 'alert',
          }),
        ),
      );
    } catch (error) {
      this.deps.onPublishError?.(error, status.windowId);
    }
  }

  #limitOf(budget: Budget, instance: WindowInstance) {
    return {
      limit: budget.limitUsd,
      grace: budget.policy.gracePercent / 100,
      carryIn: async () => this.#carryInto(budget, instance),
    };
  }

  /** What the previous window left unspent (committed and reserved both count as spent), capped. */
  async #carryInto(budget: Budget, instance: WindowInstance): Promise<number> {
    const capPercent = budget.policy.carryOverCapPercent;
    if (capPercent <= 0) return 0;
    const previous = windowOf(new Date(instance.start.getTime() - 1), budget.window, budget.timeZone);
    const ledger = await this.deps.ledger.get(budget.tenantId, previous.id);
    if (!ledger) return 0;
    const unused = ledger.limit - ledger.committed - ledger.reserved;
    return Math.max(0, Math.min(unused, (budget.limitUsd * capPercent) / 100));
  }

  /** The ceiling of one admission, decided on the ledger as read just before its write. */
  #ceiling(budget: Budget, priority: JobPriority, now: Date): Ceiling {
    if (budget.policy.mode === 'soft') return () => Number.POSITIVE_INFINITY;
    return (current) => {
      const cap = capOf(current);
      if (budget.policy.mode === 'downgrade') return cap;
      const breached = isBreached(statusOf(budget, current, now));
      return breached ? (cap * budget.policy.priorityCeilingsPercent[priority]) / 100 : cap;
    };
  }

  /** The budgets in force at `now` (a future effectiveFrom is not yet); `all` lists them anyway. */
  async #activeBudgets(tenantId: string, now: Date, all: boolean): Promise<Budget[]> {
    const found = await this.deps.budgets.getMany(tenantId, BUDGET_WINDOW_KINDS);
    return BUDGET_WINDOW_KINDS.flatMap((kind) => {
      const budget = found.get(kind);
      if (!budget) return [];
      if (all || budget.effectiveFrom === undefined) return [budget];
      const starts = windowOf(new Date(budget.effectiveFrom), budget.window, budget.timeZone).start;
      return starts <= now ? [budget] : [];
    });
  }
}
