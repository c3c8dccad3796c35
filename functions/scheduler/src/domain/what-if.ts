import { UnprocessableError } from '#shared/errors.js';
import type { TenantRecord, TenantRecords } from '#shared/ports/records.js';
import type { Clock } from '#shared/ports/system.js';
import type { JobPriority } from '../../events.js';
import { BudgetLedger, type LedgerStore } from './budget-ledger.js';
import { type Budget, type BudgetInput, Budgets, isBreached } from './budgets.js';
import type { Job } from './jobs.js';

/**
 * What-if (M3): a demand trace replayed against a budget policy, in memory, on the same admission
 * code as the API (`Budgets`, `BudgetLedger`): what would have been admitted, demoted, delayed and
 * refused, and what it would have spent. Nothing is read from or written to the tenant's ledgers.
 */

/** One job of a demand trace. */
export interface DemandItem {
  /** When it is enqueued. */
  readonly at: string;
  readonly priority: JobPriority;
  readonly estimatedCostUsd: number;
  /** What it really costs (absent: its estimate). */
  readonly actualCostUsd?: number | undefined;
  /** How long after its admission it finishes (absent: at once). */
  readonly durationSeconds?: number | undefined;
}

/** The most jobs a what-if replays (a month at 1 job every 5 minutes is 8,640). */
export const MAX_WHAT_IF_JOBS = 10_000;
/** How often a throttled job of a retrying client comes back, at most (each after its Retry-After). */
export const MAX_RETRIES = 100;
/** Retries in all, at most, so one what-if stays a bounded amount of work (then refused jobs stay throttled). */
export const MAX_TOTAL_RETRIES = 50_000;

export interface WhatIfRequest {
  readonly budget: BudgetInput;
  readonly trace: readonly DemandItem[];
  /** A throttled client retries after Retry-After (up to MAX_RETRIES times): its job is delayed, not refused. */
  readonly retryThrottled: boolean;
}

export interface WindowReport {
  readonly windowId: string;
  readonly admitted: number;
  readonly refused: number;
  readonly spentUsd: number;
  /** When the budget became breached in this window (the first admission or completion that found it so). */
  readonly breachedAt?: string;
}

export interface WhatIfReport {
  readonly jobs: number;
  readonly admitted: number;
  /** Admitted at a lower priority than asked (a breached `downgrade` budget). */
  readonly demoted: number;
  /** Admitted after at least one 429 (a retrying client). */
  readonly delayed: number;
  readonly meanDelaySeconds: number;
  /** Refused for good: 429 and no retry (or retries used up). */
  readonly throttled: number;
  readonly spentUsd: number;
  readonly byPriority: Readonly<
    Record<JobPriority, { admitted: number; throttled: number; delayed: number }>
  >;
  readonly windows: readonly WindowReport[];
}

/** A clock the simulation sets. */
class SimulatedClock implements Clock {
  #ms = 0;
  now(): Date {
    return new Date(this.#ms);
  }
  set(ms: number): void {
    this.#ms = ms;
  }
}

type Step =
  | { readonly kind: 'arrive'; readonly at: number; readonly index: number; readonly attempt: number }
  | {
      readonly kind: 'finish';
      readonly at: number;
      readonly index: number;
      readonly windowIds: readonly string[];
    };

/** A binary min-heap of steps by time (then arrival order), so 10,000 jobs with retries stay O(n log n). */
class StepQueue {
  readonly #heap: { step: Step; seq: number }[] = [];
  #seq = 0;
  get size(): number {
    return this.#heap.length;
  }
  push(step: Step): void {
    const heap = this.#heap;
    heap.push({ step, seq: this.#seq++ });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) break;
      [heap[i], heap[parent]] = [heap[parent] as (typeof heap)[number], heap[i] as (typeof heap)[number]];
      i = parent;
    }
  }
  pop(): Step | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined) return undefined;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && this.#less(left, smallest)) smallest = left;
        if (right < heap.length && this.#less(right, smallest)) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [
          heap[smallest] as (typeof heap)[number],
          heap[i] as (typeof heap)[number],
        ];
        i = smallest;
      }
    }
    return top.step;
  }
  #less(a: number, b: number): boolean {
    const x = this.#heap[a];
    const y = this.#heap[b];
    if (!x || !y) return false;
    // Completions before arrivals at the same instant: spend known at that time counts.
    const rank = (step: Step) => (step.kind === 'finish' ? 0 : 1);
    return x.step.at !== y.step.at
      ? x.step.at < y.step.at
      : rank(x.step) !== rank(y.step)
        ? rank(x.step) < rank(y.step)
        : x.seq < y.seq;
  }
}

const SIMULATED_TENANT = 'what-if';

export interface WhatIfDeps {
  /** An empty in-memory record store (one per simulation): the simulation's own budgets and ledgers. */
  readonly memoryStore: <T extends TenantRecord>(entity: string) => TenantRecords<T>;
  /** An empty in-memory ledger store (one per simulation). */
  readonly ledgerStore: () => LedgerStore;
}

export class WhatIf {
  constructor(private readonly deps: WhatIfDeps) {}

  async run(request: WhatIfRequest): Promise<WhatIfReport> {
    if (request.trace.length > MAX_WHAT_IF_JOBS) {
      throw new UnprocessableError(
        `A what-if replays at most ${MAX_WHAT_IF_JOBS} jobs; this trace has ${request.trace.length}.`,
        'trace_too_large',
      );
    }
    const clock = new SimulatedClock();
    const ledger = new BudgetLedger({ store: this.deps.ledgerStore(), clock });
    const budgets = new Budgets({ budgets: this.deps.memoryStore<Budget>('BUDGET'), ledger, clock });
    const times = request.trace.map((item) => Date.parse(item.at));
    const start = Math.min(...times);
    clock.set(Number.isFinite(start) ? start : 0);
    await budgets.put(SIMULATED_TENANT, { ...request.budget, effectiveFrom: undefined }, 'what-if');

    const steps = new StepQueue();
    times.forEach((at, index) => {
      steps.push({ kind: 'arrive', at, index, attempt: 0 });
    });
    const byPriority: Record<JobPriority, { admitted: number; throttled: number; delayed: number }> = {
      high: { admitted: 0, throttled: 0, delayed: 0 },
      normal: { admitted: 0, throttled: 0, delayed: 0 },
      low: { admitted: 0, throttled: 0, delayed: 0 },
    };
    const windows = new Map<string, { admitted: number; refused: number; breachedAt?: string }>();
    const windowOf = (windowId: string) => {
      let entry = windows.get(windowId);
      if (!entry) {
        entry = { admitted: 0, refused: 0 };
        windows.set(windowId, entry);
      }
      return entry;
    };
    let admitted = 0;
    let demoted = 0;
    let delayed = 0;
    let delaySeconds = 0;
    let throttled = 0;
    let retries = 0;

    for (let step = steps.pop(); step !== undefined; step = steps.pop()) {
      clock.set(step.at);
      const item = request.trace[step.index] as DemandItem;
      const jobId = `job_${step.index}`;
      if (step.kind === 'finish') {
        const actual = item.actualCostUsd ?? item.estimatedCostUsd;
        await budgets.settle(
          SIMULATED_TENANT,
          jobId,
          step.windowIds,
          item.estimatedCostUsd,
          actual,
          'what-if',
        );
        budgets.forget(SIMULATED_TENANT, jobId, step.windowIds);
        await this.#noteBreaches(budgets, windowOf, clock);
        continue;
      }
      const admission = await budgets.admit(
        SIMULATED_TENANT,
        item.priority,
        item.estimatedCostUsd,
        'what-if',
      );
      if (admission.admitted) {
        admitted += 1;
        byPriority[item.priority].admitted += 1;
        if (admission.priority !== item.priority) demoted += 1;
        if (step.attempt > 0) {
          delayed += 1;
          byPriority[item.priority].delayed += 1;
          delaySeconds += (step.at - (times[step.index] ?? step.at)) / 1000;
        }
        for (const windowId of admission.windowIds) windowOf(windowId).admitted += 1;
        steps.push({
          kind: 'finish',
          at: step.at + Math.max(0, item.durationSeconds ?? 0) * 1000,
          index: step.index,
          windowIds: admission.windowIds,
        });
      } else if (request.retryThrottled && step.attempt < MAX_RETRIES && retries < MAX_TOTAL_RETRIES) {
        retries += 1;
        steps.push({
          kind: 'arrive',
          at: step.at + admission.retryAfterSeconds * 1000,
          index: step.index,
          attempt: step.attempt + 1,
        });
      } else {
        throttled += 1;
        byPriority[item.priority].throttled += 1;
        windowOf(admission.status.windowId).refused += 1;
      }
      await this.#noteBreaches(budgets, windowOf, clock);
    }

    const reports: WindowReport[] = [];
    let spent = 0;
    for (const [windowId, counts] of [...windows].sort(([a], [b]) => a.localeCompare(b))) {
      const record = await ledger.get(SIMULATED_TENANT, windowId);
      spent += record?.committed ?? 0;
      reports.push({
        windowId,
        admitted: counts.admitted,
        refused: counts.refused,
        spentUsd: round(record?.committed ?? 0),
        ...(counts.breachedAt === undefined ? {} : { breachedAt: counts.breachedAt }),
      });
    }
    return {
      jobs: request.trace.length,
      admitted,
      demoted,
      delayed,
      meanDelaySeconds: delayed === 0 ? 0 : round(delaySeconds / delayed),
      throttled,
      spentUsd: round(spent),
      byPriority,
      windows: reports,
    };
  }

  /** The first instant each window was found breached. */
  async #noteBreaches(
    budgets: Budgets,
    windowOf: (windowId: string) => { breachedAt?: string },
    clock: SimulatedClock,
  ): Promise<void> {
    for (const status of await budgets.status(SIMULATED_TENANT)) {
      const entry = windowOf(status.windowId);
      if (entry.breachedAt === undefined && isBreached(status)) entry.breachedAt = clock.now().toISOString();
    }
  }
}

const round = (usd: number): number => Math.round(usd * 1e6) / 1e6;

/** A tenant's recorded jobs as a demand trace (created in [from, to), oldest first). */
export const traceOfJobs = (jobs: readonly Job[], from: Date, to: Date): DemandItem[] =>
  jobs
    .filter((job) => {
      const created = Date.parse(job.createdAt);
      return created >= from.getTime() && created < to.getTime();
    })
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
    .map((job) => ({
      at: job.createdAt,
      priority: job.requestedPriority ?? job.priority,
      estimatedCostUsd: job.estimatedCostUsd ?? 0,
      ...(job.costUsd === undefined ? {} : { actualCostUsd: job.costUsd }),
      ...(job.completedAt === undefined
        ? {}
        : { durationSeconds: Math.max(0, (Date.parse(job.completedAt) - Date.parse(job.createdAt)) / 1000) }),
    }));
