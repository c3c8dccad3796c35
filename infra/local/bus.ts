/**
 * A local stand-in for one EventBridge event bus and for EventBridge scheduled rules, in-process.
 *
 * `putEvents` validates entries as PutEvents does and answers with the same result shape; every
 * accepted event is matched against the rules' event patterns (./event-pattern.ts) and delivered
 * asynchronously to each matching target with retries; an event still failing after the retries
 * goes to the rule's dead-letter callback. Schedules take EventBridge's `rate(...)` and `cron(...)`
 * expressions (./schedules.ts) and deliver events shaped like EventBridge's `Scheduled Event`.
 *
 * Deliberate differences from AWS: retries happen within milliseconds (EventBridge backs off for
 * up to 24 hours); an entry without `EventBusName` goes to this bus (on AWS it goes to the
 * account's default bus).
 */
import { randomUUID } from 'node:crypto';
import type { EventBridgeEvent, ScheduledEvent } from 'aws-lambda';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './account.js';
import { type EventPattern, matchesEventPattern, validateEventPattern } from './event-pattern.js';
import { EventBridgeError } from './eventbridge-error.js';
import { nextFireTime, parseScheduleExpression, type ScheduleExpression } from './schedules.js';

const MAX_REQUEST_BYTES = 256 * 1024;
const MAX_ENTRIES = 10;
/** Node timers overflow above 2^31-1 ms (about 24.8 days); longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const RULE_NAME = /^[.\-_A-Za-z0-9]{1,64}$/;

export interface PutEventsRequestEntry {
  Source: string;
  DetailType: string;
  /** A JSON object, as a string. */
  Detail: string;
  /** This bus's name or ARN; absent means this bus. */
  EventBusName?: string;
  Time?: Date;
  Resources?: string[];
}

export interface PutEventsResultEntry {
  EventId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

export interface PutEventsResult {
  FailedEntryCount: number;
  Entries: PutEventsResultEntry[];
}

export type BusEvent = EventBridgeEvent<string, unknown>;

export interface RuleOptions {
  name: string;
  /** An EventBridge event pattern, as an object or JSON text. */
  eventPattern: EventPattern | string;
  target: (event: BusEvent) => Promise<void>;
  /** Retries after the first failed attempt (0–185), default 3. */
  retryAttempts?: number;
  /** Receives an event that still failed after the retries, with the last error. */
  deadLetter?: (event: BusEvent, error: unknown) => void | Promise<void>;
}

export interface ScheduleOptions {
  name: string;
  expression: ScheduleExpression | string;
  target: (event: ScheduledEvent) => Promise<void>;
  retryAttempts?: number;
  deadLetter?: (event: ScheduledEvent, error: unknown) => void | Promise<void>;
}

/** Time and timers, injectable so tests can move time by hand. */
export interface BusTimers {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: BusTimers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface LocalEventBusOptions {
  /** Default `default`. */
  name?: string;
  region?: string;
  accountId?: string;
  timers?: BusTimers;
  /** Wait before retry number `attempt` (1-based); default 50 ms doubling, at most 1 s. */
  retryDelayMs?: (attempt: number) => number;
  /** Events kept for `history()`, default 200. */
  historyLimit?: number;
  /** Failed deliveries of rules without a dead-letter callback; default logs to stderr. */
  onUndeliverable?: (ruleName: string, event: BusEvent, error: unknown) => void;
}

export interface BusHistoryEntry {
  event: BusEvent;
  /** Rules (or the schedule) the event was delivered to. */
  matchedRules: string[];
}

interface Rule {
  name: string;
  pattern: EventPattern;
  target: (event: BusEvent) => Promise<void>;
  retryAttempts: number;
  deadLetter: ((event: BusEvent, error: unknown) => void | Promise<void>) | undefined;
}

interface Schedule {
  name: string;
  expression: string;
  target: (event: ScheduledEvent) => Promise<void>;
  retryAttempts: number;
  deadLetter: ((event: ScheduledEvent, error: unknown) => void | Promise<void>) | undefined;
  ruleArn: string;
  timer: unknown;
  nextAt: number | undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** EventBridge writes event times to the second: `2026-01-01T02:00:00Z`. */
const eventTime = (ms: number): string =>
  new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

const entrySize = (entry: PutEventsRequestEntry): number => {
  let size = entry.Time ? 14 : 0;
  size += Buffer.byteLength(String(entry.Source ?? ''));
  size += Buffer.byteLength(String(entry.DetailType ?? ''));
  size += Buffer.byteLength(String(entry.Detail ?? ''));
  for (const resource of entry.Resources ?? []) size += Buffer.byteLength(String(resource));
  return size;
};

const checkRetryAttempts = (value: number | undefined): number => {
  const retries = value ?? 3;
  if (!Number.isInteger(retries) || retries < 0 || retries > 185) {
    throw new EventBridgeError('ValidationException', 'retryAttempts must be an integer between 0 and 185.');
  }
  return retries;
};

export class LocalEventBus {
  readonly name: string;
  readonly arn: string;
  readonly region: string;
  readonly accountId: string;

  readonly #timers: BusTimers;
  readonly #retryDelayMs: (attempt: number) => number;
  readonly #historyLimit: number;
  readonly #onUndeliverable: (ruleName: string, event: BusEvent, error: unknown) => void;
  readonly #rules = new Map<string, Rule>();
  readonly #schedules = new Map<string, Schedule>();
  readonly #pending = new Set<Promise<void>>();
  #history: BusHistoryEntry[] = [];
  #running = false;

  constructor(options: LocalEventBusOptions = {}) {
    this.name = options.name ?? 'default';
    this.region = options.region ?? LOCAL_REGION;
    this.accountId = options.accountId ?? LOCAL_ACCOUNT_ID;
    this.arn = `arn:aws:events:${this.region}:${this.accountId}:event-bus/${this.name}`;
    this.#timers = options.timers ?? systemTimers;
    this.#retryDelayMs = options.retryDelayMs ?? ((attempt) => Math.min(1000, 50 * 2 ** (attempt - 1)));
    this.#historyLimit = options.historyLimit ?? 200;
    this.#onUndeliverable =
      options.onUndeliverable ??
      ((rule, event, error) =>
        console.error(
          `[bus ${this.name}] rule ${rule} dropped event ${event.id} (${event['detail-type']}):`,
          error instanceof Error ? error.message : error,
        ));
  }

  /**
   * PutEvents. Invalid entries fail one by one (`InvalidArgument`, `MalformedDetail`, ...); more
   * than 10 entries, or more than 256 KB in total, throw a `ValidationException` as the API does.
   */
  putEvents(entries: readonly PutEventsRequestEntry[]): PutEventsResult {
    if (!Array.isArray(entries) || entries.length === 0) {
      throw new EventBridgeError(
        'ValidationException',
        'Entries must have length greater than or equal to 1.',
      );
    }
    if (entries.length > MAX_ENTRIES) {
      throw new EventBridgeError(
        'ValidationException',
        `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to ${MAX_ENTRIES}`,
      );
    }
    const total = entries.reduce((sum, entry) => sum + entrySize(entry), 0);
    if (total > MAX_REQUEST_BYTES) {
      throw new EventBridgeError(
        'ValidationException',
        'Total size of the entries in the request is over the limit.',
      );
    }
    const result: PutEventsResult = { FailedEntryCount: 0, Entries: [] };
    for (const entry of entries) {
      const outcome = this.#accept(entry);
      if ('ErrorCode' in outcome) result.FailedEntryCount += 1;
      result.Entries.push(outcome);
    }
    return result;
  }

  addRule(options: RuleOptions): void {
    if (!RULE_NAME.test(options.name)) {
      throw new EventBridgeError('ValidationException', `Rule name "${options.name}" is not valid.`);
    }
    if (this.#rules.has(options.name) || this.#schedules.has(options.name)) {
      throw new EventBridgeError('ResourceAlreadyExistsException', `Rule ${options.name} already exists.`);
    }
    let pattern: unknown = options.eventPattern;
    if (typeof pattern === 'string') {
      try {
        pattern = JSON.parse(pattern);
      } catch {
        throw new EventBridgeError(
          'InvalidEventPatternException',
          'Event pattern is not valid. Reason: not JSON.',
        );
      }
    }
    validateEventPattern(pattern);
    this.#rules.set(options.name, {
      name: options.name,
      pattern,
      target: options.target,
      retryAttempts: checkRetryAttempts(options.retryAttempts),
      deadLetter: options.deadLetter,
    });
  }

  /** A scheduled rule. It fires only while the bus is started; `trigger(name)` fires it at once. */
  addSchedule(options: ScheduleOptions): void {
    if (!RULE_NAME.test(options.name)) {
      throw new EventBridgeError('ValidationException', `Rule name "${options.name}" is not valid.`);
    }
    if (this.#rules.has(options.name) || this.#schedules.has(options.name)) {
      throw new EventBridgeError('ResourceAlreadyExistsException', `Rule ${options.name} already exists.`);
    }
    parseScheduleExpression(options.expression);
    const schedule: Schedule = {
      name: options.name,
      expression: options.expression,
      target: options.target,
      retryAttempts: checkRetryAttempts(options.retryAttempts),
      deadLetter: options.deadLetter,
      // Scheduled rules live on the account's default bus.
      ruleArn: `arn:aws:events:${this.region}:${this.accountId}:rule/${options.name}`,
      timer: undefined,
      nextAt: undefined,
    };
    this.#schedules.set(options.name, schedule);
    if (this.#running) this.#arm(schedule);
  }

  /** When each schedule fires next (only while started). */
  nextFireTimes(): Record<string, Date | undefined> {
    const out: Record<string, Date | undefined> = {};
    for (const schedule of this.#schedules.values()) {
      out[schedule.name] = schedule.nextAt === undefined ? undefined : new Date(schedule.nextAt);
    }
    return out;
  }

  /** Fires a schedule now (a manual run); resolves when its delivery, retries included, is over. */
  async trigger(name: string): Promise<ScheduledEvent> {
    const schedule = this.#schedules.get(name);
    if (!schedule)
      throw new EventBridgeError('ResourceNotFoundException', `Schedule ${name} does not exist.`);
    const event = this.#scheduledEvent(schedule, this.#timers.now());
    await this.#fireSchedule(schedule, event);
    return event;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const schedule of this.#schedules.values()) this.#arm(schedule);
  }

  /** Stops the schedules and waits for pending deliveries. */
  async stop(): Promise<void> {
    this.#running = false;
    for (const schedule of this.#schedules.values()) this.#disarm(schedule);
    await this.drain();
  }

  /** Resolves when no delivery is pending (including deliveries started by targets meanwhile). */
  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** The most recent events, newest first. */
  history(limit = 50): BusHistoryEntry[] {
    return limit > 0 ? this.#history.slice(-limit).reverse() : [];
  }

  #accept(entry: PutEventsRequestEntry): PutEventsResultEntry {
    const invalid = (field: string, reason: string): PutEventsResultEntry => ({
      ErrorCode: 'InvalidArgument',
      ErrorMessage: `Parameter ${field} is not valid. Reason: ${reason}`,
    });
    if (typeof entry.Source !== 'string' || entry.Source === '') {
      return invalid('Source', 'Source is a required argument.');
    }
    if (typeof entry.DetailType !== 'string' || entry.DetailType === '') {
      return invalid('DetailType', 'DetailType is a required argument.');
    }
    if (typeof entry.Detail !== 'string' || entry.Detail === '') {
      return invalid('Detail', 'Detail is a required argument.');
    }
    if (entry.DetailType.length > 128) return invalid('DetailType', 'DetailType is at most 128 characters.');
    if (entry.Source.length > 256) return invalid('Source', 'Source is at most 256 characters.');
    if (entry.Source.startsWith('aws.')) {
      return { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' };
    }
    if (
      entry.EventBusName !== undefined &&
      entry.EventBusName !== this.name &&
      entry.EventBusName !== this.arn
    ) {
      return {
        ErrorCode: 'ResourceNotFoundException',
        ErrorMessage: `Event bus ${entry.EventBusName} does not exist.`,
      };
    }
    let detail: unknown;
    try {
      detail = JSON.parse(entry.Detail);
    } catch {
      detail = undefined;
    }
    if (!isObject(detail)) return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    if (entry.Time !== undefined && Number.isNaN(entry.Time.getTime())) {
      return invalid('Time', 'Time is not a valid date.');
    }

    const event: BusEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': entry.DetailType,
      source: entry.Source,
      account: this.accountId,
      time: eventTime(entry.Time ? entry.Time.getTime() : this.#timers.now()),
      region: this.region,
      resources: [...(entry.Resources ?? [])],
      detail,
    };
    const matched = [...this.#rules.values()].filter((rule) => matchesEventPattern(rule.pattern, event));
    this.#record(
      event,
      matched.map((rule) => rule.name),
    );
    for (const rule of matched) {
      // Each target gets its own copy: one target mutating the event cannot affect another.
      this.#track(
        this.#deliver(rule.name, structuredClone(event), rule.target, rule.retryAttempts, rule.deadLetter),
      );
    }
    return { EventId: event.id };
  }

  #record(event: BusEvent, matchedRules: string[]): void {
    this.#history.push({ event: structuredClone(event), matchedRules });
    if (this.#history.length > this.#historyLimit) this.#history.shift();
  }

  #track(delivery: Promise<void>): Promise<void> {
    const tracked = delivery.finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
    return tracked;
  }

  async #deliver<E extends BusEvent>(
    ruleName: string,
    event: E,
    target: (event: E) => Promise<void>,
    retryAttempts: number,
    deadLetter: ((event: E, error: unknown) => void | Promise<void>) | undefined,
  ): Promise<void> {
    await Promise.resolve(); // always after the caller returns, as an asynchronous invocation is
    let lastError: unknown;
    for (let attempt = 0; attempt <= retryAttempts; attempt++) {
      if (attempt > 0) await this.#sleep(this.#retryDelayMs(attempt));
      try {
        await target(event);
        return;
      } catch (error) {
        lastError = error;
      }
    }
    try {
      if (deadLetter) await deadLetter(event, lastError);
      else this.#onUndeliverable(ruleName, event, lastError);
    } catch (error) {
      this.#onUndeliverable(ruleName, event, error);
    }
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#timers.setTimeout(resolve, ms);
    });
  }

  #scheduledEvent(schedule: Schedule, at: number): ScheduledEvent {
    return {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: this.accountId,
      time: eventTime(at),
      region: this.region,
      resources: [schedule.ruleArn],
      detail: {},
    };
  }

  #fireSchedule(schedule: Schedule, event: ScheduledEvent): Promise<void> {
    this.#record(event, [schedule.name]);
    return this.#track(
      this.#deliver(schedule.name, event, schedule.target, schedule.retryAttempts, schedule.deadLetter),
    );
  }

  #arm(schedule: Schedule): void {
    if (!this.#running || !this.#schedules.has(schedule.name)) return;
    const now = this.#timers.now();
    schedule.nextAt ??= nextFireTime(schedule.expression, new Date(now)).getTime();
    const due = schedule.nextAt;
    const wait = Math.max(0, due - now);
    schedule.timer =
      wait > MAX_TIMER_MS
        ? this.#timers.setTimeout(() => this.#arm(schedule), MAX_TIMER_MS)
        : this.#timers.setTimeout(() => this.#onTimer(schedule, due), wait);
  }

  #onTimer(schedule: Schedule, due: number): void {
    schedule.timer = undefined;
    if (!this.#running || !this.#schedules.has(schedule.name)) return;
    // After a stall (a suspended laptop) fire once, not once per missed period, as EventBridge does.
    schedule.nextAt = nextFireTime(
      schedule.expression,
      new Date(Math.max(due, this.#timers.now())),
    ).getTime();
    void this.#fireSchedule(schedule, this.#scheduledEvent(schedule, due));
    this.#arm(schedule);
  }

  #disarm(schedule: Schedule): void {
    if (schedule.timer !== undefined) this.#timers.clearTimeout(schedule.timer);
    schedule.timer = undefined;
    schedule.nextAt = undefined;
  }
}
