import { ConflictError, UnprocessableError } from '#shared/errors.js';
import type { TenantRecord } from '#shared/ports/records.js';
import type { Clock } from '#shared/ports/system.js';

/**
 * The spend ledger of one tenant's budget window (M3, "spend without overshoot"): one item per
 * (tenant, window instance), changed only by version-conditional single-item writes (DynamoDB has
 * no arithmetic in conditions, and the design contract keeps transactions out): read, compute,
 * write if the version is still the one read, else read again.
 *
 * - **reserve** (a job is admitted): the job's expected cost is added to `reserved` only if
 *   `committed + reserved + estimate <= limit × (1 + grace)`; otherwise the admission is refused
 *   and nothing changes. Concurrent admissions cannot pass the cap together: each write is checked
 *   against the state it read, and a write that lost the race re-reads the state the winner wrote.
 * - **commit** (the job finished): its estimate leaves `reserved`, its actual cost joins `committed`.
 * - **release** (the job will not run: failed for good, cancelled): its estimate leaves `reserved`.
 *
 * Each operation is idempotent per job: its id (`r:`, `c:`, `x:` + job id) is written into the same
 * item as the change, in a bounded list of the latest OPS_WINDOW operations, so a redelivery that
 * finds its id there changes nothing. A job's commit or release must be retried within OPS_WINDOW
 * operations of the window's ledger, as a queue redelivery is (seconds); the caller marks the job
 * done once the ledger write returned, and never asks twice after that.
 *
 * What "never past the cap" means when costs are estimates: at every admission, committed +
 * reserved stays within the cap; a job that costs more than its estimate adds its overrun at commit.
 * So committed spend stays within cap + the overruns of the jobs that were in flight together when
 * the cap was reached: with one such job (the requirement's reading), cap + its estimation error.
 * The property test checks that bound under any interleaving, with duplicates.
 */

/** The newest ledger operations kept in the item, for idempotency (about 40 bytes each). */
export const OPS_WINDOW = 256;

/** Conditional-write attempts before an operation gives up (a hot ledger under a burst of admissions). */
export const LEDGER_ATTEMPTS = 50;
/** The first pause after a lost race, in ms, doubled each time up to LEDGER_MAX_BACKOFF_MS (full jitter). */
export const LEDGER_BACKOFF_MS = 2;
export const LEDGER_MAX_BACKOFF_MS = 100;

export interface BudgetLimit {
  /** The window's limit, in USD. */
  readonly limit: number;
  /** The share above the limit a window may spend before it refuses (0.1 = 10 %). */
  readonly grace: number;
  /**
   * Unused budget carried over from the previous window, in USD: added to the cap. Fixed when the
   * window's ledger is created (a function is asked only then); the stored value stays after that.
   */
  readonly carryIn?: number | (() => Promise<number>);
}

export interface LedgerRecord extends TenantRecord, BudgetLimit {
  /** The window instance (id = windowId, e.g. `monthly:2026-03`). */
  readonly windowId: string;
  /** Actual cost of the jobs that finished. */
  readonly committed: number;
  /** Expected cost of the admitted jobs that have not finished. */
  readonly reserved: number;
  /** The latest operation ids (`r:`/`c:`/`x:` + job id), oldest first, at most OPS_WINDOW. */
  readonly ops: readonly string[];
  /** Carried over from the previous window when this one's ledger was created (absent: 0). */
  readonly carryIn?: number;
  /** Markers already announced in this window (alert thresholds, the breach): each is announced once. */
  readonly alerted?: readonly string[];
}

/** Port: the ledger items (TenantRecordStore: create if absent, replace if the version is unchanged). */
export interface LedgerRepository {
  get(tenantId: string, id: string): Promise<LedgerRecord | undefined>;
  create(record: LedgerRecord): Promise<void>;
  replace(record: LedgerRecord, expectedVersion: number): Promise<void>;
}

export type Admission =
  | { readonly admitted: true; readonly ledger: LedgerRecord }
  | {
      readonly admitted: false;
      /** `over_budget`: past the cap; `held_back`: under the cap, past the ceiling the caller set. */
      readonly reason: 'over_budget' | 'held_back';
      readonly ledger: LedgerRecord;
    };

/** The most a window may spend: limit × (1 + grace), plus what was carried over into it. */
export const capOf = (ledger: Pick<LedgerRecord, 'limit' | 'grace' | 'carryIn'>): number =>
  ledger.limit * (1 + ledger.grace) + (ledger.carryIn ?? 0);

/**
 * The ceiling of one admission in place of the cap, decided on the ledger as it stands when the
 * write is made: lower for a priority's share once the budget is breached, unbounded for a budget
 * that only alerts. A refusal under the cap is `held_back`, past it `over_budget`.
 */
export type Ceiling = (current: LedgerRecord) => number;

const isCost = (value: number): boolean => Number.isFinite(value) && value >= 0;

const carryOf = async (carryIn: number | (() => Promise<number>)): Promise<number> => {
  const value = typeof carryIn === 'function' ? await carryIn() : carryIn;
  return isCost(value) ? value : 0;
};

export class LedgerContentionError extends Error {
  override readonly name = 'LedgerContentionError';
}

/** What an operation does to the ledger it read: the next one, or nothing (already done, refused). */
type Change = { readonly next: LedgerRecord } | { readonly keep: 'done' | 'refused' };

export class BudgetLedger {
  readonly #attempts: number;

  /** The changes of each ledger item made by this process, one after another (see #change). */
  readonly #queues = new Map<string, Promise<unknown>>();
  readonly #pause: (ms: number) => Promise<void>;
  readonly #random: () => number;

  constructor(
    private readonly deps: {
      readonly repository: LedgerRepository;
      readonly clock: Clock;
      readonly attempts?: number;
      /** Waits between attempts after a lost race (default: a timer; tests pass an instant one). */
      readonly pause?: (ms: number) => Promise<void>;
      /** [0, 1) for the jitter (default Math.random). */
      readonly random?: () => number;
    },
  ) {
    this.#attempts = deps.attempts ?? LEDGER_ATTEMPTS;
    this.#pause = deps.pause ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = deps.random ?? Math.random;
  }

  /**
   * Admits a job if its estimate fits under the window's cap (the limit given is the tenant's
   * current one: a changed limit applies from the next admission on). Idempotent per job.
   */
  async reserve(
    tenantId: string,
    windowId: string,
    limit: BudgetLimit,
    jobId: string,
    estimate: number,
    ceiling?: Ceiling,
  ): Promise<Admission> {
    if (!isCost(estimate))
      throw new UnprocessableError(`estimate must be a finite cost >= 0, got ${estimate}`);
    if (!isCost(limit.limit) || !isCost(limit.grace)) {
      throw new UnprocessableError('limit and grace must be finite and >= 0');
    }
    const op = `r:${jobId}`;
    let refused: 'over_budget' | 'held_back' | undefined;
    const ledger = await this.#change(tenantId, windowId, limit, (current) => {
      refused = undefined;
      if (current.ops.includes(op)) return { keep: 'done' };
      const withLimit = { ...current, limit: limit.limit, grace: limit.grace };
      const after = withLimit.committed + withLimit.reserved + estimate;
      const cap = capOf(withLimit);
      if (after > (ceiling === undefined ? cap : ceiling(withLimit))) {
        refused = after > cap ? 'over_budget' : 'held_back';
      }
      if (refused !== undefined) return { keep: 'refused' };
      return { next: this.#with(withLimit, op, { reserved: withLimit.reserved + estimate }) };
    });
    return refused === undefined ? { admitted: true, ledger } : { admitted: false, reason: refused, ledger };
  }

  /**
   * Records markers as announced, once per window: answers the ones this call added (the caller
   * announces those; a racing caller that lost gets only what it added itself).
   */
  async markAlerted(tenantId: string, windowId: string, markers: readonly string[]): Promise<string[]> {
    let added: string[] = [];
    await this.#change(tenantId, windowId, undefined, (current) => {
      const known = new Set(current.alerted ?? []);
      // A window with no ledger yet has spent nothing: nothing to announce.
      added = current.version === 0 ? [] : markers.filter((marker) => !known.has(marker));
      if (added.length === 0) return { keep: 'done' };
      return {
        next: {
          ...current,
          alerted: [...(current.alerted ?? []), ...added],
          version: current.version + 1,
          updatedAt: this.deps.clock.now().toISOString(),
        },
      };
    });
    return added;
  }

  /** A finished job: its estimate leaves `reserved`, its actual cost joins `committed`. Idempotent. */
  async commit(tenantId: string, windowId: string, jobId: string, estimate: number, actual: number) {
    if (!isCost(actual))
      throw new UnprocessableError(`actual cost must be a finite cost >= 0, got ${actual}`);
    return this.#settle(tenantId, windowId, `c:${jobId}`, estimate, actual);
  }

  /** A job that will not run: its estimate leaves `reserved`. Idempotent. */
  async release(tenantId: string, windowId: string, jobId: string, estimate: number) {
    return this.#settle(tenantId, windowId, `x:${jobId}`, estimate, 0);
  }

  async get(tenantId: string, windowId: string): Promise<LedgerRecord | undefined> {
    return this.deps.repository.get(tenantId, windowId);
  }

  async #settle(tenantId: string, windowId: string, op: string, estimate: number, actual: number) {
    const jobId = op.slice(2);
    return this.#change(tenantId, windowId, undefined, (current) => {
      if (current.ops.includes(op) || current.ops.includes(`${op.startsWith('c') ? 'x' : 'c'}:${jobId}`)) {
        // Done before, or settled the other way (a job is committed or released, once).
        return { keep: 'done' };
      }
      return {
        next: this.#with(current, op, {
          // Rounding never leaves a negative reservation behind.
          reserved: Math.max(0, current.reserved - estimate),
          committed: current.committed + actual,
        }),
      };
    });
  }

  #with(current: LedgerRecord, op: string, change: Partial<Pick<LedgerRecord, 'reserved' | 'committed'>>) {
    return {
      ...current,
      ...change,
      ops: [...current.ops, op].slice(-OPS_WINDOW),
      version: current.version + 1,
      updatedAt: this.deps.clock.now().toISOString(),
    };
  }

  /**
   * Changes of one ledger item from this process run one after another: racing them would only
   * make all but one lose and read again (a worker commits a batch's jobs at once). Races with other
   * processes stay, and are what the conditional write decides.
   */
  #change(
    tenantId: string,
    windowId: string,
    limit: BudgetLimit | undefined,
    change: (current: LedgerRecord) => Change,
  ): Promise<LedgerRecord> {
    const key = `${tenantId}\n${windowId}`;
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.#attempt(tenantId, windowId, limit, change));
    this.#queues.set(key, next);
    const forget = () => {
      if (this.#queues.get(key) === next) this.#queues.delete(key);
    };
    next.then(forget, forget);
    return next;
  }

  /**
   * Read, change, write if unchanged; on a lost race, again after a pause with full jitter,
   * growing from LEDGER_BACKOFF_MS to LEDGER_MAX_BACKOFF_MS (the ledger is created at first use).
   */
  async #attempt(
    tenantId: string,
    windowId: string,
    limit: BudgetLimit | undefined,
    change: (current: LedgerRecord) => Change,
  ): Promise<LedgerRecord> {
    for (let attempt = 1; attempt <= this.#attempts; attempt += 1) {
      if (attempt > 1) {
        const ceiling = Math.min(LEDGER_MAX_BACKOFF_MS, LEDGER_BACKOFF_MS * 2 ** (attempt - 2));
        await this.#pause(Math.floor(this.#random() * ceiling));
      }
      const stored = await this.deps.repository.get(tenantId, windowId);
      const now = this.deps.clock.now().toISOString();
      const carryIn = stored || limit?.carryIn === undefined ? 0 : await carryOf(limit.carryIn);
      const current: LedgerRecord = stored ?? {
        tenantId,
        id: windowId,
        version: 0,
        createdAt: now,
        updatedAt: now,
        windowId,
        limit: limit?.limit ?? 0,
        grace: limit?.grace ?? 0,
        committed: 0,
        reserved: 0,
        ops: [],
        ...(carryIn > 0 ? { carryIn } : {}),
      };
      const outcome = change(current);
      if ('keep' in outcome) return current;
      try {
        if (stored) await this.deps.repository.replace(outcome.next, stored.version);
        else await this.deps.repository.create({ ...outcome.next, version: 1 });
        return stored ? outcome.next : { ...outcome.next, version: 1 };
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    throw new LedgerContentionError(
      `The budget ledger ${windowId} of ${tenantId} kept changing; ${this.#attempts} attempts failed.`,
    );
  }
}
