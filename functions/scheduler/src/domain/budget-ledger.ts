import { createHash } from 'node:crypto';
import { UnprocessableError } from '#shared/errors.js';
import type { TenantRecord } from '#shared/ports/records.js';
import type { Clock } from '#shared/ports/system.js';

/**
 * The spend ledger of one tenant's budget window (M3, "spend without overshoot"): one small item
 * per (tenant, window instance), changed only by single-item atomic additions (DynamoDB `ADD` in an
 * `UpdateItem`; no transactions, which the design contract keeps out). Nothing is read and written
 * back, so concurrent writers never race and never retry: the table applies additions one after
 * another, each under its condition.
 *
 * - **reserve** (a job is admitted): `reserved` and `used` (= committed + reserved) grow by the
 *   job's expected cost, under the condition `used <= ceiling − estimate`, a constant the caller
 *   computes (DynamoDB has no arithmetic in conditions, hence the one `used` attribute). Concurrent
 *   admissions cannot pass the ceiling together: each is checked against the sum the others left.
 * - **commit** (the job finished): its estimate leaves `reserved`, its actual cost joins
 *   `committed`, `used` moves by the difference. Exactly once per job: the addition also sets the
 *   operation's mark (`commitMark(job id)`) in the item's `ops` map, under the condition that it is not
 *   there yet, so a redelivery that finds it changes nothing.
 * - **release** (an admitted job will not be written: its reservation is undone by the one call
 *   that made it): its estimate leaves `reserved` and `used`.
 *
 * A marker is needed only while another delivery of the same job could still commit: the worker
 * holds a claim on the job from before its commit until the job is completed (see `JobWorker`), and
 * tells the ledger to `forget` the marker once the job is completed; the next addition this process
 * makes to the item removes it. So the item holds the markers of the jobs being committed right now
 * (and of a process that stopped before its next addition), not the window's history: it stays
 * about 300 bytes to a few KB, one write unit or a few.
 *
 * An admission is not marked: a job's admission is decided once, by the call that writes the job
 * (a replay of its idempotency key is answered from the job, before any admission). A process that
 * dies between its reservation and the job's write leaves the reservation behind, which only makes
 * the window stricter (conservative), until the window ends.
 *
 * What "never past the cap" means when costs are estimates: at every admission, committed +
 * reserved stays within the ceiling (at most the cap); a job that costs more than its estimate adds
 * its overrun at commit. So committed spend stays within cap + the overruns of the jobs that were in
 * flight together when the cap was reached: with one such job (the requirement's reading), cap +
 * its estimation error. The property tests check that bound under any interleaving, with duplicates.
 */

/**
 * A job's commit mark in the ledger item: `c` + 66 bits of SHA-256 of the job id (12 characters,
 * not the 40 of the id: the item holds one per commit in flight, and every write of it is billed by
 * its size). Two jobs in flight with the same mark would need 2^33 of them at once.
 */
export const commitMark = (jobId: string): string =>
  `c${createHash('sha256').update(jobId).digest('base64url').slice(0, 11)}`;

/** The markers forgotten in one addition at most (an update expression has a size limit). */
export const FORGET_PER_WRITE = 50;

/**
 * How long an admission decides its ceiling on the ledger as this process last saw it (the item
 * any of its writes or reads returned) instead of reading it again: the condition of the write
 * enforces the cap whatever the state read; only a priority's share once breached can be this late.
 */
export const LEDGER_STATE_TTL_MS = 1000;

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

export interface LedgerRecord extends TenantRecord {
  /** The window instance (id = windowId, e.g. `monthly:2026-03`). */
  readonly windowId: string;
  /** The limit and grace of the latest admission (the tenant's budget then). */
  readonly limit: number;
  readonly grace: number;
  /** Actual cost of the jobs that finished. */
  readonly committed: number;
  /** Expected cost of the admitted jobs that have not finished. */
  readonly reserved: number;
  /** committed + reserved, kept by the same additions: what an admission's condition compares. */
  readonly used: number;
  /** Marks of the commits in flight (commitMark(job id) → epoch seconds), see the module's comment. */
  readonly ops: Readonly<Record<string, number>>;
  /** Carried over from the previous window when this one's ledger was created (absent: 0). */
  readonly carryIn?: number;
  /** Markers already announced in this window (alert thresholds, the breach): each is announced once. */
  readonly alerted?: readonly string[];
}

/** One atomic change of a ledger item. */
export interface LedgerAddition {
  /** Added to `reserved` (negative: taken off). */
  readonly reserved: number;
  /** Added to `committed`; `used` moves by reserved + committed. */
  readonly committed: number;
  /** Set in `ops`, and the addition is refused as a duplicate if it is there already. */
  readonly op?: string;
  /** Applied only while `used` is at most this (absent: always). */
  readonly maxUsedBefore?: number;
  /** Recorded on the item (the tenant's current limit). */
  readonly limit?: { readonly limit: number; readonly grace: number };
  /** Markers removed from `ops` by the same write (commits whose jobs are completed). */
  readonly forget?: readonly string[];
}

export type LedgerWrite =
  | { readonly outcome: 'applied' | 'duplicate' | 'refused'; readonly ledger: LedgerRecord }
  | { readonly outcome: 'absent' };

/** Port: the ledger items (the DynamoDB adapter, or memory for simulations and tests). */
export interface LedgerStore {
  /** The item as it stands (strongly consistent). */
  get(tenantId: string, windowId: string): Promise<LedgerRecord | undefined>;
  /** Creates the window's item unless it exists (then changes nothing). */
  open(record: LedgerRecord): Promise<void>;
  /**
   * Applies the addition atomically if its conditions hold: `applied` with the item after it;
   * else the item as it stands, `duplicate` (its op is there) or `refused` (`used` too high);
   * `absent` if there is no item.
   */
  add(tenantId: string, windowId: string, addition: LedgerAddition, at: string): Promise<LedgerWrite>;
  /** Records markers as announced; answers the ones this call added (atomic: racing callers split them). */
  mark(tenantId: string, windowId: string, markers: readonly string[], at: string): Promise<string[]>;
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
 * The ceiling of one admission in place of the cap, decided on the ledger as read just before the
 * write (with the tenant's current limit): lower for a priority's share once the budget is
 * breached, unbounded for a budget that only alerts. A refusal under the cap is `held_back`, past
 * it `over_budget`. The condition of the write uses the value, so a ceiling read a moment stale can
 * only be a priority's share of a moment ago: the cap itself never moves within a window.
 */
export type Ceiling = (current: LedgerRecord) => number;

const isCost = (value: number): boolean => Number.isFinite(value) && value >= 0;

const carryOf = async (carryIn: number | (() => Promise<number>)): Promise<number> => {
  const value = typeof carryIn === 'function' ? await carryIn() : carryIn;
  return isCost(value) ? value : 0;
};

/**
 * The table refused a write to a ledger item for now (DynamoDB throttling: more writes a second to
 * one item than a partition takes). Nothing was changed; the client retries.
 */
export class LedgerContentionError extends Error {
  override readonly name = 'LedgerContentionError';
}

/** A window's ledger before its first write. */
export const emptyLedger = (
  tenantId: string,
  windowId: string,
  limit: Pick<BudgetLimit, 'limit' | 'grace'>,
  at: string,
  carryIn = 0,
): LedgerRecord => ({
  tenantId,
  id: windowId,
  version: 1,
  createdAt: at,
  updatedAt: at,
  windowId,
  limit: limit.limit,
  grace: limit.grace,
  committed: 0,
  reserved: 0,
  used: 0,
  ops: {},
  ...(carryIn > 0 ? { carryIn } : {}),
});

export class BudgetLedger {
  /** Markers of completed jobs this process will remove with its next addition to their item. */
  readonly #forget = new Map<string, Set<string>>();
  /** The item as this process's last write or read returned it, and when (see LEDGER_STATE_TTL_MS). */
  readonly #seen = new Map<string, { readonly ledger: LedgerRecord; readonly at: number }>();

  constructor(
    private readonly deps: {
      readonly store: LedgerStore;
      readonly clock: Clock;
    },
  ) {}

  /**
   * Admits a job if its estimate fits under the window's cap (the limit given is the tenant's
   * current one: a changed limit applies from the next admission on) and under the ceiling.
   * Called once per job: see the module's comment.
   */
  async reserve(
    tenantId: string,
    windowId: string,
    limit: BudgetLimit,
    estimate: number,
    ceiling?: Ceiling,
  ): Promise<Admission> {
    if (!isCost(estimate))
      throw new UnprocessableError(`estimate must be a finite cost >= 0, got ${estimate}`);
    if (!isCost(limit.limit) || !isCost(limit.grace)) {
      throw new UnprocessableError('limit and grace must be finite and >= 0');
    }
    const stored = this.#recent(tenantId, windowId) ?? (await this.#opened(tenantId, windowId, limit));
    const current = { ...stored, limit: limit.limit, grace: limit.grace };
    const cap = capOf(current);
    const bound = ceiling === undefined ? cap : ceiling(current);
    const refusal = (ledger: LedgerRecord): Admission => ({
      admitted: false,
      reason:
        ledger.used + estimate > capOf({ limit: limit.limit, grace: limit.grace, carryIn: ledger.carryIn })
          ? 'over_budget'
          : 'held_back',
      ledger,
    });
    if (estimate > bound) return refusal(current);
    const write = await this.#add(tenantId, windowId, limit, {
      reserved: estimate,
      committed: 0,
      ...(Number.isFinite(bound) ? { maxUsedBefore: bound - estimate } : {}),
      limit: { limit: limit.limit, grace: limit.grace },
    });
    return write.outcome === 'applied' ? { admitted: true, ledger: write.ledger } : refusal(write.ledger);
  }

  /** Records markers as announced, once per window: answers the ones this call added. */
  async markAlerted(tenantId: string, windowId: string, markers: readonly string[]): Promise<string[]> {
    if (markers.length === 0) return [];
    return this.deps.store.mark(tenantId, windowId, markers, this.deps.clock.now().toISOString());
  }

  /** A finished job: its estimate leaves `reserved`, its actual cost joins `committed`. Once per job. */
  async commit(
    tenantId: string,
    windowId: string,
    jobId: string,
    estimate: number,
    actual: number,
  ): Promise<LedgerRecord> {
    if (!isCost(actual))
      throw new UnprocessableError(`actual cost must be a finite cost >= 0, got ${actual}`);
    const write = await this.#add(tenantId, windowId, undefined, {
      reserved: -estimate,
      committed: actual,
      op: commitMark(jobId),
    });
    return write.ledger;
  }

  /** An admitted job that will not be written: the reservation this process made is undone. */
  async release(tenantId: string, windowId: string, estimate: number): Promise<LedgerRecord> {
    const write = await this.#add(tenantId, windowId, undefined, { reserved: -estimate, committed: 0 });
    return write.ledger;
  }

  /**
   * The job is completed: no delivery commits it again, so its marker can go (with this process's
   * next addition to the item; until then, and if the process stops first, it only takes room).
   */
  forget(tenantId: string, windowId: string, jobId: string): void {
    const key = `${tenantId}\n${windowId}`;
    const markers = this.#forget.get(key) ?? new Set<string>();
    markers.add(commitMark(jobId));
    this.#forget.set(key, markers);
  }

  async get(tenantId: string, windowId: string): Promise<LedgerRecord | undefined> {
    return this.#saw(await this.deps.store.get(tenantId, windowId));
  }

  #recent(tenantId: string, windowId: string): LedgerRecord | undefined {
    const seen = this.#seen.get(`${tenantId}\n${windowId}`);
    return seen && this.deps.clock.now().getTime() - seen.at < LEDGER_STATE_TTL_MS ? seen.ledger : undefined;
  }

  #saw(ledger: LedgerRecord | undefined): LedgerRecord | undefined {
    if (ledger) {
      const key = `${ledger.tenantId}\n${ledger.windowId}`;
      const previous = this.#seen.get(key);
      // Only forward: a read racing a write may answer the older item.
      if (!previous || previous.ledger.version <= ledger.version) {
        this.#seen.set(key, { ledger, at: this.deps.clock.now().getTime() });
      }
    }
    return ledger;
  }

  /** The window's item, created at first use (with what the previous window carries into it). */
  async #opened(tenantId: string, windowId: string, limit: BudgetLimit): Promise<LedgerRecord> {
    const stored = await this.get(tenantId, windowId);
    if (stored) return stored;
    const now = this.deps.clock.now().toISOString();
    const carryIn = limit.carryIn === undefined ? 0 : await carryOf(limit.carryIn);
    await this.deps.store.open(emptyLedger(tenantId, windowId, limit, now, carryIn));
    // Another process may have opened it first, with its own carry-in: the stored one holds.
    return (await this.get(tenantId, windowId)) ?? emptyLedger(tenantId, windowId, limit, now, carryIn);
  }

  /** One addition, with this process's markers to forget; an item missing (expired) is opened first. */
  async #add(
    tenantId: string,
    windowId: string,
    limit: BudgetLimit | undefined,
    addition: LedgerAddition,
  ): Promise<Extract<LedgerWrite, { ledger: LedgerRecord }>> {
    const key = `${tenantId}\n${windowId}`;
    const pending = [...(this.#forget.get(key) ?? [])]
      .filter((marker) => marker !== addition.op)
      .slice(0, FORGET_PER_WRITE);
    const change = pending.length > 0 ? { ...addition, forget: pending } : addition;
    const now = () => this.deps.clock.now().toISOString();
    let write = await this.deps.store.add(tenantId, windowId, change, now());
    if (write.outcome === 'absent') {
      await this.#opened(tenantId, windowId, limit ?? { limit: 0, grace: 0 });
      write = await this.deps.store.add(tenantId, windowId, change, now());
      if (write.outcome === 'absent')
        throw new Error(`the budget ledger ${windowId} of ${tenantId} vanished`);
    }
    this.#saw(write.ledger);
    if (write.outcome === 'applied' && pending.length > 0) {
      const markers = this.#forget.get(key);
      for (const marker of pending) markers?.delete(marker);
      if (markers?.size === 0) this.#forget.delete(key);
    }
    return write;
  }
}
