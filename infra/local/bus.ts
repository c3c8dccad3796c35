/**
 * A local stand-in for one EventBridge event bus and for EventBridge scheduled rules, in-process.
 *
 * `putEvents` validates entries as PutEvents does and answers with the same result shape; every
 * accepted event is matched against the rules' event patterns (the EventBridge pattern language,
 * less `cidr`) and delivered asynchronously to each matching target with retries; an event still
 * failing after the retries goes to the rule's dead-letter callback. Schedules take the same
 * `rate(...)` and 6-field `cron(...)` expressions as EventBridge (UTC) and deliver events shaped
 * like EventBridge's `Scheduled Event`.
 *
 * Deliberate differences from AWS: retries happen within milliseconds (EventBridge backs off for
 * up to 24 hours); an entry without `EventBusName` goes to this bus (on AWS it goes to the
 * account's default bus); `rate(...)` schedules are aligned to the Unix epoch (so `rate(1 day)`
 * fires at 00:00 UTC and a restart does not shift the phase) where EventBridge counts from the
 * rule's creation.
 */
import { randomUUID } from 'node:crypto';
import type { EventBridgeEvent, ScheduledEvent } from 'aws-lambda';

const LOCAL_ACCOUNT_ID = '000000000000';
const LOCAL_REGION = 'us-east-1';
const MAX_REQUEST_BYTES = 256 * 1024;
const MAX_ENTRIES = 10;
/** Node timers overflow above 2^31-1 ms (about 24.8 days); longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const RULE_NAME = /^[.\-_A-Za-z0-9]{1,64}$/;

/** An error named like the EventBridge API error it stands for (`err.name === err.code`). */
export class EventBridgeError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = code;
    this.code = code;
  }
}

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
export type EventPattern = Record<string, unknown>;

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

export type ScheduleExpression = `rate(${string})` | `cron(${string})`;

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

  removeRule(name: string): boolean {
    return this.#rules.delete(name);
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

  removeSchedule(name: string): boolean {
    const schedule = this.#schedules.get(name);
    if (!schedule) return false;
    this.#disarm(schedule);
    return this.#schedules.delete(name);
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

// ---------------------------------------------------------------------------------------------
// Event patterns
// ---------------------------------------------------------------------------------------------

const CONDITIONS = new Set([
  'prefix',
  'suffix',
  'anything-but',
  'exists',
  'numeric',
  'equals-ignore-case',
  'wildcard',
]);
const NUMERIC_OPERATORS = new Set(['=', '<', '<=', '>', '>=']);

const patternError = (reason: string): EventBridgeError =>
  new EventBridgeError('InvalidEventPatternException', `Event pattern is not valid. Reason: ${reason}`);

const isIgnoreCase = (value: unknown): value is { 'equals-ignore-case': string } =>
  isObject(value) && Object.keys(value).length === 1 && typeof value['equals-ignore-case'] === 'string';

const validateNumeric = (path: string, operand: unknown): void => {
  if (!Array.isArray(operand) || (operand.length !== 2 && operand.length !== 4)) {
    throw patternError(`${path}: numeric takes one or two operator/value pairs.`);
  }
  for (let i = 0; i < operand.length; i += 2) {
    const op = operand[i];
    const value = operand[i + 1];
    if (typeof op !== 'string' || !NUMERIC_OPERATORS.has(op))
      throw patternError(`${path}: unknown operator ${op}.`);
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw patternError(`${path}: ${op} needs a number.`);
  }
  if (operand.length === 4) {
    const [low, lowValue, high, highValue] = operand as [string, number, string, number];
    if (!(low === '>' || low === '>=') || !(high === '<' || high === '<=') || lowValue >= highValue) {
      throw patternError(
        `${path}: a numeric range is a lower bound (> or >=) then a greater upper bound (< or <=).`,
      );
    }
  }
};

const validateAnythingBut = (path: string, operand: unknown): void => {
  const scalar = (value: unknown): boolean => typeof value === 'string' || typeof value === 'number';
  if (scalar(operand)) return;
  if (Array.isArray(operand)) {
    if (operand.length === 0 || !operand.every(scalar))
      throw patternError(`${path}: anything-but takes strings or numbers.`);
    return;
  }
  if (isObject(operand) && Object.keys(operand).length === 1) {
    const [key, value] = Object.entries(operand)[0] as [string, unknown];
    if ((key === 'prefix' || key === 'suffix' || key === 'wildcard') && typeof value === 'string') return;
    if (
      key === 'equals-ignore-case' &&
      (typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string')))
    ) {
      return;
    }
  }
  throw patternError(
    `${path}: anything-but takes a value, a list, or one of prefix, suffix, equals-ignore-case, wildcard.`,
  );
};

const validateCondition = (path: string, condition: unknown): void => {
  if (condition === null || ['string', 'number', 'boolean'].includes(typeof condition)) return;
  if (!isObject(condition))
    throw patternError(`${path}: a match is a value or an object such as {"prefix": "..."}.`);
  const keys = Object.keys(condition);
  const key = keys[0];
  if (keys.length !== 1 || key === undefined)
    throw patternError(`${path}: a match object has exactly one key.`);
  const operand = condition[key];
  if (key === 'cidr') throw patternError(`${path}: cidr matching is not supported by the local bus.`);
  if (!CONDITIONS.has(key)) throw patternError(`${path}: unknown match "${key}".`);
  switch (key) {
    case 'exists':
      if (typeof operand !== 'boolean') throw patternError(`${path}: exists takes true or false.`);
      return;
    case 'prefix':
    case 'suffix':
      if (typeof operand !== 'string' && !isIgnoreCase(operand)) {
        throw patternError(`${path}: ${key} takes a string or {"equals-ignore-case": "..."}.`);
      }
      return;
    case 'equals-ignore-case':
    case 'wildcard':
      if (typeof operand !== 'string') throw patternError(`${path}: ${key} takes a string.`);
      return;
    case 'numeric':
      validateNumeric(path, operand);
      return;
    case 'anything-but':
      validateAnythingBut(path, operand);
      return;
  }
};

const validateObject = (path: string, pattern: unknown): void => {
  if (!isObject(pattern)) throw patternError(`${path || 'the pattern'} must be a JSON object.`);
  if (Object.keys(pattern).length === 0) throw patternError(`${path || 'the pattern'} is empty.`);
  for (const [key, value] of Object.entries(pattern)) {
    const at = path ? `${path}.${key}` : key;
    if (key === '$or') {
      if (!Array.isArray(value) || value.length < 2) throw patternError(`${at} takes at least two patterns.`);
      value.forEach((alternative, i) => {
        validateObject(`${at}[${i}]`, alternative);
      });
    } else if (Array.isArray(value)) {
      if (value.length === 0) throw patternError(`${at}: empty arrays are not allowed.`);
      value.forEach((condition, i) => {
        validateCondition(`${at}[${i}]`, condition);
      });
    } else if (isObject(value)) {
      validateObject(at, value);
    } else {
      throw patternError(`${at}: match values must be in an array, e.g. ["${String(value)}"].`);
    }
  }
};

/** Throws an `InvalidEventPatternException` unless `pattern` is a valid event pattern (of the supported subset). */
export function validateEventPattern(pattern: unknown): asserts pattern is EventPattern {
  validateObject('', pattern);
}

const wildcardRegex = (glob: string): RegExp =>
  new RegExp(
    `^${glob
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );

const stringMatch = (kind: string, operand: unknown, value: unknown): boolean => {
  if (typeof value !== 'string') return false;
  switch (kind) {
    case 'prefix':
      return isIgnoreCase(operand)
        ? value.toLowerCase().startsWith(operand['equals-ignore-case'].toLowerCase())
        : value.startsWith(operand as string);
    case 'suffix':
      return isIgnoreCase(operand)
        ? value.toLowerCase().endsWith(operand['equals-ignore-case'].toLowerCase())
        : value.endsWith(operand as string);
    case 'equals-ignore-case':
      return Array.isArray(operand)
        ? operand.some((o) => String(o).toLowerCase() === value.toLowerCase())
        : String(operand).toLowerCase() === value.toLowerCase();
    case 'wildcard':
      return wildcardRegex(operand as string).test(value);
    default:
      return false;
  }
};

const numericMatch = (operand: unknown[], value: unknown): boolean => {
  if (typeof value !== 'number') return false;
  for (let i = 0; i < operand.length; i += 2) {
    const bound = operand[i + 1] as number;
    const ok =
      operand[i] === '='
        ? value === bound
        : operand[i] === '<'
          ? value < bound
          : operand[i] === '<='
            ? value <= bound
            : operand[i] === '>'
              ? value > bound
              : value >= bound;
    if (!ok) return false;
  }
  return true;
};

const anythingButMatch = (operand: unknown, value: unknown): boolean => {
  if (Array.isArray(operand)) return !operand.includes(value);
  if (isObject(operand)) {
    const [kind, inner] = Object.entries(operand)[0] as [string, unknown];
    return typeof value === 'string' && !stringMatch(kind, inner, value);
  }
  return value !== operand;
};

const conditionMatch = (condition: unknown, values: unknown[], field: unknown): boolean => {
  if (!isObject(condition)) return values.some((value) => value === condition);
  const [kind, operand] = Object.entries(condition)[0] as [string, unknown];
  switch (kind) {
    case 'exists': {
      // Only leaves exist for EventBridge: an object or an empty list does not.
      const exists = values.length > 0 && !isObject(field);
      return operand === true ? exists : !exists;
    }
    case 'numeric':
      return values.some((value) => numericMatch(operand as unknown[], value));
    case 'anything-but':
      return values.some((value) => anythingButMatch(operand, value));
    default:
      return values.some((value) => stringMatch(kind, operand, value));
  }
};

const matchObject = (pattern: EventPattern, value: unknown): boolean => {
  for (const [key, sub] of Object.entries(pattern)) {
    if (key === '$or') {
      if (!(sub as EventPattern[]).some((alternative) => matchObject(alternative, value))) return false;
      continue;
    }
    const field = isObject(value) ? value[key] : undefined;
    if (Array.isArray(sub)) {
      const values = field === undefined ? [] : Array.isArray(field) ? field : [field];
      if (!sub.some((condition) => conditionMatch(condition, values, field))) return false;
    } else if (Array.isArray(field)) {
      // A list of objects matches when one of its elements does.
      if (!field.some((element) => matchObject(sub as EventPattern, element))) return false;
    } else if (!matchObject(sub as EventPattern, field)) {
      return false;
    }
  }
  return true;
};

/** Whether `event` matches a (validated) EventBridge event pattern. */
export const matchesEventPattern = (pattern: EventPattern, event: unknown): boolean =>
  matchObject(pattern, event);

// ---------------------------------------------------------------------------------------------
// Schedule expressions
// ---------------------------------------------------------------------------------------------

interface DayOfMonthSpec {
  days: ReadonlySet<number>;
  last: boolean;
  lastWeekday: boolean;
  nearestWeekday: number | undefined;
}

interface DayOfWeekSpec {
  /** 1 = Sunday ... 7 = Saturday, as in AWS cron. */
  days: ReadonlySet<number>;
  /** `5L`: the last Thursday of the month. */
  lastOf: number | undefined;
  /** `6#3`: the third Friday of the month. */
  nth: { day: number; n: number } | undefined;
}

export type ParsedSchedule =
  | { kind: 'rate'; periodMs: number }
  | {
      kind: 'cron';
      minutes: number[];
      hours: number[];
      months: number[];
      years: number[];
      dayOfMonth: DayOfMonthSpec | undefined;
      dayOfWeek: DayOfWeekSpec | undefined;
    };

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const RATE_UNITS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

const scheduleError = (expression: string, reason: string): EventBridgeError =>
  new EventBridgeError(
    'ValidationException',
    `Parameter ScheduleExpression is not valid: ${expression} (${reason}).`,
  );

const parseRate = (expression: string, body: string): ParsedSchedule => {
  const match = /^(\d+) (minute|minutes|hour|hours|day|days)$/.exec(body.trim());
  if (!match) throw scheduleError(expression, 'expected rate(value unit), unit minute(s), hour(s) or day(s)');
  const value = Number(match[1]);
  const unit = match[2] ?? '';
  if (!Number.isSafeInteger(value) || value < 1)
    throw scheduleError(expression, 'the value must be a positive integer');
  const plural = unit.endsWith('s');
  if (value === 1 && plural)
    throw scheduleError(expression, `a value of 1 takes the singular "${unit.slice(0, -1)}"`);
  if (value > 1 && !plural) throw scheduleError(expression, `a value above 1 takes the plural "${unit}s"`);
  return { kind: 'rate', periodMs: value * (RATE_UNITS[unit.replace(/s$/, '')] ?? 0) };
};

interface FieldRange {
  label: string;
  min: number;
  max: number;
  names?: readonly string[];
  /** The number the first name stands for. */
  nameBase?: number;
}

const FIELDS = {
  minutes: { label: 'minutes', min: 0, max: 59 },
  hours: { label: 'hours', min: 0, max: 23 },
  dayOfMonth: { label: 'day-of-month', min: 1, max: 31 },
  month: { label: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 },
  dayOfWeek: { label: 'day-of-week', min: 1, max: 7, names: WEEKDAYS, nameBase: 1 },
  year: { label: 'year', min: 1970, max: 2199 },
} satisfies Record<string, FieldRange>;

const parseValue = (expression: string, field: FieldRange, text: string): number => {
  let value: number;
  if (/^\d+$/.test(text)) value = Number(text);
  else {
    const index = field.names?.indexOf(text.toUpperCase()) ?? -1;
    if (index < 0) throw scheduleError(expression, `"${text}" is not a valid ${field.label}`);
    value = index + (field.nameBase ?? 0);
  }
  if (value < field.min || value > field.max) {
    throw scheduleError(expression, `${field.label} ${text} is outside ${field.min}-${field.max}`);
  }
  return value;
};

/** `*`, `n`, `a-b` (wrapping when a > b), `a,b`, with an optional `/step` after `*`, `n` or `a-b`. */
const parseList = (expression: string, field: FieldRange, text: string): number[] => {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const [range = '', stepText, extra] = part.split('/');
    if (range === '' || extra !== undefined)
      throw scheduleError(expression, `"${part}" is not a valid ${field.label}`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1) {
        throw scheduleError(expression, `"${stepText}" is not a valid step in ${field.label}`);
      }
      step = Number(stepText);
    }
    let start: number;
    let end: number;
    if (range === '*') {
      start = field.min;
      end = field.max;
    } else if (range.includes('-')) {
      const [from = '', to = '', more] = range.split('-');
      if (more !== undefined) throw scheduleError(expression, `"${range}" is not a valid range`);
      start = parseValue(expression, field, from);
      end = parseValue(expression, field, to);
    } else {
      start = parseValue(expression, field, range);
      end = stepText === undefined ? start : field.max;
    }
    const span = start <= end ? end - start + 1 : field.max - start + 1 + (end - field.min + 1);
    for (let i = 0; i < span; i += step) {
      const value = start + i;
      values.add(value > field.max ? value - (field.max - field.min + 1) : value);
    }
  }
  return [...values].sort((a, b) => a - b);
};

const parseDayOfMonth = (expression: string, text: string): DayOfMonthSpec | undefined => {
  if (text === '?') return undefined;
  const spec: DayOfMonthSpec = {
    days: new Set(),
    last: false,
    lastWeekday: false,
    nearestWeekday: undefined,
  };
  if (text === 'L') return { ...spec, last: true };
  if (text === 'LW') return { ...spec, lastWeekday: true };
  const nearest = /^(\d+)W$/.exec(text);
  if (nearest)
    return { ...spec, nearestWeekday: parseValue(expression, FIELDS.dayOfMonth, nearest[1] ?? '') };
  return { ...spec, days: new Set(parseList(expression, FIELDS.dayOfMonth, text)) };
};

const parseDayOfWeek = (expression: string, text: string): DayOfWeekSpec | undefined => {
  if (text === '?') return undefined;
  const spec: DayOfWeekSpec = { days: new Set(), lastOf: undefined, nth: undefined };
  if (text === 'L') return { ...spec, days: new Set([7]) };
  const last = /^([A-Za-z]{3}|\d)L$/.exec(text);
  if (last) return { ...spec, lastOf: parseValue(expression, FIELDS.dayOfWeek, last[1] ?? '') };
  const nth = /^([A-Za-z]{3}|\d)#(\d)$/.exec(text);
  if (nth) {
    const n = Number(nth[2]);
    if (n < 1 || n > 5) throw scheduleError(expression, `#${n}: a month has at most 5 of each weekday`);
    return { ...spec, nth: { day: parseValue(expression, FIELDS.dayOfWeek, nth[1] ?? ''), n } };
  }
  return { ...spec, days: new Set(parseList(expression, FIELDS.dayOfWeek, text)) };
};

const parseCron = (expression: string, body: string): ParsedSchedule => {
  const fields = body.trim().split(/\s+/);
  if (fields.length !== 6) {
    throw scheduleError(expression, 'cron takes 6 fields: minutes hours day-of-month month day-of-week year');
  }
  const [minutes = '', hours = '', dayOfMonth = '', month = '', dayOfWeek = '', year = ''] = fields;
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    throw scheduleError(expression, 'exactly one of day-of-month and day-of-week must be "?"');
  }
  return {
    kind: 'cron',
    minutes: parseList(expression, FIELDS.minutes, minutes),
    hours: parseList(expression, FIELDS.hours, hours),
    months: parseList(expression, FIELDS.month, month),
    years: parseList(expression, FIELDS.year, year),
    dayOfMonth: parseDayOfMonth(expression, dayOfMonth),
    dayOfWeek: parseDayOfWeek(expression, dayOfWeek),
  };
};

const parsedCache = new Map<string, ParsedSchedule>();

/** Parses `rate(...)` or `cron(...)`; throws a `ValidationException` naming the problem. */
export const parseScheduleExpression = (expression: string): ParsedSchedule => {
  const cached = parsedCache.get(expression);
  if (cached) return cached;
  const match = /^(rate|cron)\((.*)\)$/.exec(expression.trim());
  if (!match) throw scheduleError(expression, 'expected rate(...) or cron(...)');
  const parsed =
    match[1] === 'rate' ? parseRate(expression, match[2] ?? '') : parseCron(expression, match[2] ?? '');
  if (parsedCache.size > 1000) parsedCache.clear();
  parsedCache.set(expression, parsed);
  return parsed;
};

const weekday = (year: number, month: number, day: number): number =>
  new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1;

/** The days of `month` (1-12) of `year` a cron expression fires on, ascending. */
const cronDays = (cron: Extract<ParsedSchedule, { kind: 'cron' }>, year: number, month: number): number[] => {
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const dom = cron.dayOfMonth;
  if (dom) {
    if (dom.last) return [daysInMonth];
    if (dom.lastWeekday) {
      const w = weekday(year, month, daysInMonth);
      return [w === 7 ? daysInMonth - 1 : w === 1 ? daysInMonth - 2 : daysInMonth];
    }
    if (dom.nearestWeekday !== undefined) {
      const day = dom.nearestWeekday;
      if (day > daysInMonth) return [];
      const w = weekday(year, month, day);
      // The nearest weekday, never leaving the month (Quartz rules, which AWS follows).
      if (w === 7) return [day === 1 ? 3 : day - 1];
      if (w === 1) return [day === daysInMonth ? day - 2 : day + 1];
      return [day];
    }
    return [...dom.days].filter((day) => day <= daysInMonth).sort((a, b) => a - b);
  }
  const dow = cron.dayOfWeek;
  const days: number[] = [];
  if (!dow) return days;
  for (let day = 1; day <= daysInMonth; day++) {
    const w = weekday(year, month, day);
    const hit =
      dow.lastOf !== undefined
        ? w === dow.lastOf && day + 7 > daysInMonth
        : dow.nth !== undefined
          ? w === dow.nth.day && Math.ceil(day / 7) === dow.nth.n
          : dow.days.has(w);
    if (hit) days.push(day);
  }
  return days;
};

/**
 * The first time strictly after `after` at which `expression` fires (UTC, minute granularity).
 * `rate(N unit)` fires at the multiples of its period since the Unix epoch. Pure: used both by the
 * local scheduler and by anything that needs to show or test when a schedule runs.
 */
export const nextFireTime = (expression: string, after: Date): Date => {
  const afterMs = after.getTime();
  if (Number.isNaN(afterMs)) throw new TypeError('after must be a valid Date.');
  const parsed = parseScheduleExpression(expression);
  if (parsed.kind === 'rate') return new Date((Math.floor(afterMs / parsed.periodMs) + 1) * parsed.periodMs);
  const start = (Math.floor(afterMs / 60_000) + 1) * 60_000;
  const startYear = new Date(start).getUTCFullYear();
  for (const year of parsed.years) {
    if (year < startYear) continue;
    for (const month of parsed.months) {
      if (Date.UTC(year, month, 1) <= start) continue; // the month is over
      for (const day of cronDays(parsed, year, month)) {
        if (Date.UTC(year, month - 1, day + 1) <= start) continue;
        for (const hour of parsed.hours) {
          if (Date.UTC(year, month - 1, day, hour + 1) <= start) continue;
          for (const minute of parsed.minutes) {
            const at = Date.UTC(year, month - 1, day, hour, minute);
            if (at >= start) return new Date(at);
          }
        }
      }
    }
  }
  throw scheduleError(expression, `it never fires after ${after.toISOString()}`);
};
