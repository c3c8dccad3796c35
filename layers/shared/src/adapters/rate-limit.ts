import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TooManyRequestsError } from '../errors.js';
import { KERNEL_RATE_FAMILIES } from '../pillar.js';
import { partitionKey } from './tenant-store.js';

/**
 * Per-tenant rate limits (DESIGN §5, PRD §6.2). API Gateway HTTP APIs have no per-tenant throttling
 * (only a stage/route throttle shared by everyone), so the kernel counts requests per tenant and
 * endpoint family in DynamoDB: the same code and the same table API locally (dynalite) and on AWS.
 */

/** The kernel's families (`default`, `refused`: see `KERNEL_RATE_FAMILIES`), before a pillar's. */
export const DEFAULT_RATE_FAMILIES: Readonly<Record<string, number>> = KERNEL_RATE_FAMILIES;

export type RateFamily = string;

/** Length of one counting window: limits are per minute, counted in fixed, aligned minutes. */
export const RATE_WINDOW_SECONDS = 60;
/** How long after its window ends a counter item may be expired by DynamoDB TTL (`expiresAt`). */
export const RATE_COUNTER_TTL_SECONDS = 5 * 60;
/** The entity segment of the counters' partition key: `T#<tenant>#RATE`. */
export const RATE_ENTITY = 'RATE';

export type RateVerdict =
  | {
      readonly ok: true;
      /** Requests this tenant may still make in this family before the window ends. */
      readonly remaining: number;
      readonly limit: number;
      /** Seconds until the current window ends and the count starts again (at least 1). */
      readonly resetSeconds: number;
    }
  | {
      readonly ok: false;
      /** Seconds until the current window ends (at least 1): the `Retry-After` value. */
      readonly retryAfterSeconds: number;
      readonly limit: number;
    };

/**
 * Port: counts one request of a tenant in a family and says whether it is admitted. With `caller`
 * (a subject of the tenant), the count is that caller's own, within the tenant's counters.
 */
export interface RateLimiter {
  consume(tenantId: string, family: RateFamily, caller?: string): Promise<RateVerdict>;
}

export interface RateLimiterOptions {
  /** Current time in epoch milliseconds; `Date.now` by default. Injected so tests control windows. */
  readonly now?: () => number;
  /** The families this limiter counts and their limits (a pillar's `rateFamilies`); `default` is always there. */
  readonly families?: Readonly<Record<RateFamily, number>>;
  /**
   * Overrides of the families' limits, e.g. a stricter limit for a test or a deployment. Families this
   * limiter does not count are ignored: one override list (CONDUCTOR_RATE_LIMITS) serves every function.
   */
  readonly limits?: Partial<Record<RateFamily, number>>;
}

export interface DynamoRateLimiterOptions extends RateLimiterOptions {
  /**
   * Called with any DynamoDB error other than a condition failure, before the request is admitted
   * anyway (fail open, see DynamoRateLimiter). Pass the function's logger/metrics here: without it
   * a failing counter table disables the per-tenant limits silently. Errors it throws are ignored.
   */
  readonly onError?: (error: unknown) => void;
}

/** The fixed window containing `nowMs`, and the whole seconds left in it (at least 1). */
interface Window {
  readonly startSeconds: number;
  readonly endSeconds: number;
  readonly secondsLeft: number;
}

const windowAt = (nowMs: number): Window => {
  const startSeconds = Math.floor(nowMs / 1000 / RATE_WINDOW_SECONDS) * RATE_WINDOW_SECONDS;
  const endSeconds = startSeconds + RATE_WINDOW_SECONDS;
  const secondsLeft = Math.max(1, Math.ceil((endSeconds * 1000 - nowMs) / 1000));
  return { startSeconds, endSeconds, secondsLeft };
};

const resolveLimits = (options: RateLimiterOptions): Readonly<Record<RateFamily, number>> => {
  const limits: Record<RateFamily, number> = { ...DEFAULT_RATE_FAMILIES, ...options.families };
  for (const [family, limit] of Object.entries(options.families ?? {})) {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(`Rate limit for '${family}' must be a positive integer, got ${limit}.`);
    }
  }
  for (const [family, limit] of Object.entries(options.limits ?? {})) {
    if (limit === undefined) continue;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(`Rate limit for '${family}' must be a positive integer, got ${limit}.`);
    }
    if (Object.hasOwn(limits, family)) limits[family] = limit;
  }
  return limits;
};

const limitOf = (limits: Readonly<Record<RateFamily, number>>, family: RateFamily): number => {
  const limit = Object.hasOwn(limits, family) ? limits[family] : undefined;
  // A family this limiter was not given is a programming error (a route naming an undeclared family).
  if (limit === undefined) throw new RangeError(`Unknown rate family '${String(family)}'.`);
  return limit;
};

/**
 * How many requests an instance counts at once (a lease): 1 below 200 a minute, so small limits are
 * counted request by request; then one per hundred of the limit, at most 20 (600/min: 6, 1,200:
 * 12). A lease saves a table write per request it covers; its unused requests die with the window,
 * so with N busy instances a tenant at its limit may be refused up to N x (lease - 1) requests early
 * (never admitted more than the limit).
 */
export const leaseSizeFor = (limit: number): number =>
  limit < 200 ? 1 : Math.min(MAX_LEASE, Math.floor(limit / 100));
export const MAX_LEASE = 20;

/**
 * The counter's name within the tenant: the family, or the family and a digest of the caller (a
 * subject may be any text; the digest keeps the key short and free of `#`).
 */
const counterName = (family: RateFamily, caller: string | undefined): string =>
  caller === undefined
    ? family
    : `${family}#${createHash('sha256').update(caller).digest('base64url').slice(0, 22)}`;

/** Sort key of one counter: one item per counter and window, so windows never need resetting. */
const counterKey = (name: string, window: Window): string => `${name}#${window.startSeconds}`;

const isConditionFailure = (error: unknown): boolean =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error && error.name === 'ConditionalCheckFailedException');

/**
 * Fixed one-minute windows counted in DynamoDB with conditional `UpdateCommand`s: `ADD hits :n` only
 * if `hits <= :limit - :n` (or the counter does not exist yet), where n is a lease (`leaseSizeFor`:
 * 1 below 200/min, so small limits are counted request by request) that this instance then spends
 * from memory until the window ends; when the counter has no room for a lease, one request is
 * counted. The condition and the increment are one atomic single-item write, so concurrent Lambdas
 * can never admit more than the limit, with no read-modify-write race, no transaction and no stream
 * (DESIGN §8). Counters live at
 * pk `T#<tenant>#RATE`, sk `<family>#<windowStartEpochSeconds>` and carry `expiresAt` so TTL removes
 * them a few minutes after their window.
 *
 * Deliberate choice — FAIL OPEN: when DynamoDB itself fails (throttling, timeout, network, missing
 * permission), the request is admitted and `onError` is told. The per-tenant quota protects
 * fairness between tenants; losing it for the duration of an outage is preferable to turning a
 * counter-table problem into a full API outage for every tenant. The API Gateway stage throttle
 * still caps total traffic meanwhile. Only a condition failure — the counter is full — refuses.
 * Programming errors (an invalid tenant id, an unknown family) are thrown, never swallowed.
 *
 * A fixed window admits up to twice the limit across a window boundary (end of one minute, start of
 * the next); that is the accepted price of a cheap counter.
 */
export class DynamoRateLimiter implements RateLimiter {
  readonly #now: () => number;
  readonly #limits: Readonly<Record<RateFamily, number>>;
  readonly #onError: (error: unknown) => void;
  /** Requests of a tenant and family already counted in the table, not yet used by this instance. */
  readonly #leases = new Map<string, { windowStart: number; tokens: number; counted: number }>();
  readonly #pending = new Map<string, Promise<void>>();

  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
    options: DynamoRateLimiterOptions = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#limits = resolveLimits(options);
    this.#onError = options.onError ?? (() => {});
  }

  async consume(tenantId: string, family: RateFamily, caller?: string): Promise<RateVerdict> {
    const limit = limitOf(this.#limits, family);
    // Programming errors (an invalid tenant id) throw here, before anything can fail open.
    const pk = partitionKey(tenantId, RATE_ENTITY);
    const window = windowAt(this.#now());
    const name = counterName(family, caller);
    const key = `${tenantId}\u0000${name}`;
    for (;;) {
      const lease = this.#leases.get(key);
      if (lease && lease.windowStart === window.startSeconds && lease.tokens > 0) {
        lease.tokens -= 1;
        return {
          ok: true,
          remaining: Math.max(0, limit - lease.counted + lease.tokens),
          limit,
          resetSeconds: window.secondsLeft,
        };
      }
      const pending = this.#pending.get(key);
      if (!pending) break;
      // Another request of this instance is taking a lease for the same counter: share it.
      await pending;
    }
    const taking = this.#take(pk, name, limit, window);
    const settled = taking.then(
      () => undefined,
      () => undefined,
    );
    this.#pending.set(key, settled);
    try {
      const taken = await taking;
      if (!taken.ok) return taken;
      if (taken.size > 1)
        this.#leases.set(key, {
          windowStart: window.startSeconds,
          tokens: taken.size - 1,
          counted: taken.counted,
        });
      else this.#leases.delete(key);
      return {
        ok: true,
        remaining: Math.max(0, limit - taken.counted + taken.size - 1),
        limit,
        resetSeconds: window.secondsLeft,
      };
    } finally {
      if (this.#pending.get(key) === settled) this.#pending.delete(key);
    }
  }

  /**
   * Counts a lease of `leaseSizeFor(limit)` requests at once if the counter has room for all of
   * them, else one request if it has room for one (the last requests of a window are counted one by
   * one, so the limit is reached exactly), else refuses.
   */
  async #take(
    pk: string,
    name: string,
    limit: number,
    window: Window,
  ): Promise<{ ok: true; size: number; counted: number } | (RateVerdict & { ok: false })> {
    const size = leaseSizeFor(limit);
    try {
      return { ok: true, size, counted: await this.#add(pk, name, window, size, limit) };
    } catch (error) {
      if (isConditionFailure(error) && size > 1) {
        try {
          return { ok: true, size: 1, counted: await this.#add(pk, name, window, 1, limit) };
        } catch (single) {
          return this.#refuseOrAdmit(single, window, limit);
        }
      }
      return this.#refuseOrAdmit(error, window, limit);
    }
  }

  /** ADD `amount` to the window's counter if it stays within `limit`; the new count. */
  async #add(pk: string, name: string, window: Window, amount: number, limit: number) {
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk, sk: counterKey(name, window) },
        UpdateExpression: 'ADD hits :amount SET expiresAt = :ttl',
        ConditionExpression: 'attribute_not_exists(hits) OR hits <= :room',
        ExpressionAttributeValues: {
          ':amount': amount,
          ':room': limit - amount,
          ':ttl': window.endSeconds + RATE_COUNTER_TTL_SECONDS,
        },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const hits = Number(out.Attributes?.hits);
    // UPDATED_NEW always returns `hits`; should it not, count this lease alone rather than fail.
    return Number.isFinite(hits) ? hits : amount;
  }

  /** A full counter refuses; any other failure admits (fail open, see the class comment). */
  #refuseOrAdmit(
    error: unknown,
    window: Window,
    limit: number,
  ): { ok: true; size: number; counted: number } | (RateVerdict & { ok: false }) {
    if (isConditionFailure(error)) return { ok: false, retryAfterSeconds: window.secondsLeft, limit };
    try {
      this.#onError(error);
    } catch {
      // A failing error hook must not turn fail-open into a 500.
    }
    return { ok: true, size: 1, counted: 1 };
  }
}

/**
 * The same fixed-window semantics in process memory, for domain and unit tests that need no table.
 * Not for production: each Lambda instance would count on its own.
 */
export class InMemoryRateLimiter implements RateLimiter {
  readonly #now: () => number;
  readonly #limits: Readonly<Record<RateFamily, number>>;
  /** `<pk>|<sk>` → hits and the epoch second after which the counter is dead (its TTL). */
  readonly #counters = new Map<string, { hits: number; expiresAt: number }>();

  constructor(options: RateLimiterOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#limits = resolveLimits(options);
  }

  async consume(tenantId: string, family: RateFamily, caller?: string): Promise<RateVerdict> {
    const limit = limitOf(this.#limits, family);
    const pk = partitionKey(tenantId, RATE_ENTITY);
    const nowMs = this.#now();
    const window = windowAt(nowMs);
    this.#sweep(nowMs / 1000);
    const key = `${pk}|${counterKey(counterName(family, caller), window)}`;
    const hits = this.#counters.get(key)?.hits ?? 0;
    if (hits >= limit) return { ok: false, retryAfterSeconds: window.secondsLeft, limit };
    this.#counters.set(key, { hits: hits + 1, expiresAt: window.endSeconds + RATE_COUNTER_TTL_SECONDS });
    return { ok: true, remaining: limit - (hits + 1), limit, resetSeconds: window.secondsLeft };
  }

  /** Drops expired counters, as TTL would; a counter expires only after its window has ended. */
  #sweep(nowSeconds: number): void {
    for (const [key, counter] of this.#counters) {
      if (counter.expiresAt < nowSeconds) this.#counters.delete(key);
    }
  }
}

/**
 * Counts the request and throws a 429 `TooManyRequestsError` when the tenant (or, with `caller`,
 * that caller) is over its limit for the family, with `Retry-After` and the same `X-RateLimit-*`
 * headers an admitted request gets (remaining 0, reset when the window ends); otherwise returns the
 * verdict, so the caller can answer them (see rateLimitHeaders).
 */
export const enforceRateLimit = async (
  limiter: RateLimiter,
  tenantId: string,
  family: RateFamily,
  caller?: string,
): Promise<Extract<RateVerdict, { ok: true }>> => {
  const verdict = await limiter.consume(tenantId, family, caller);
  if (!verdict.ok) {
    throw new TooManyRequestsError(
      verdict.retryAfterSeconds,
      caller === undefined
        ? `Rate limit of ${verdict.limit} requests per minute for ${family} exceeded for this tenant.`
        : `Rate limit of ${verdict.limit} ${family} requests per minute exceeded for this caller.`,
      rateLimitHeaders({
        ok: true,
        limit: verdict.limit,
        remaining: 0,
        resetSeconds: Math.max(1, Math.ceil(verdict.retryAfterSeconds)),
      }),
    );
  }
  return verdict;
};

/**
 * The `X-RateLimit-*` headers of a verdict: the family's limit per minute, the requests left in the
 * window, and the whole seconds until it ends. Sent on admitted requests and on the 429 alike.
 */
export const rateLimitHeaders = (verdict: Extract<RateVerdict, { ok: true }>): Record<string, string> => ({
  'X-RateLimit-Limit': String(verdict.limit),
  'X-RateLimit-Remaining': String(verdict.remaining),
  'X-RateLimit-Reset': String(verdict.resetSeconds),
});
