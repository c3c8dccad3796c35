/**
 * EventBridge schedule expressions, in UTC: `rate(N unit)` and the 6-field `cron(...)`.
 *
 * The calendar arithmetic of cron (`L`, `W`, `#`, leap years) is croner's; this module holds what
 * is EventBridge's own: the `rate(...)` grammar, the `cron(...)` wrapper and field count, the `?`
 * rule, 1 = Sunday, the 1970–2199 years, and the refusals croner is more lenient about. Why croner
 * and how it was checked against the hand-written parser it replaced: infra/local/README.md.
 */
import { Cron, type CronOptions } from 'croner';
import { EventBridgeError } from './eventbridge-error.js';

export type ScheduleExpression = `rate(${string})` | `cron(${string})`;

export type ParsedSchedule = { kind: 'rate'; periodMs: number } | { kind: 'cron'; cron: Cron };

const RATE_UNITS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const CRON_FIELDS = [
  { label: 'minutes', min: 0, max: 59 },
  { label: 'hours', min: 0, max: 23 },
  { label: 'day-of-month', min: 1, max: 31 },
  { label: 'month', min: 1, max: 12 },
  { label: 'day-of-week', min: 1, max: 7 },
  { label: 'year', min: 1970, max: 2199 },
] as const;
const DAY_OF_MONTH = 2;
const DAY_OF_WEEK = 4;
const LAST_YEAR = CRON_FIELDS[5].max;
/** Quartz day numbers (1 = Sunday) and `a/step` from any start, as EventBridge writes them. */
const CRONER_OPTIONS: CronOptions = {
  timezone: 'UTC',
  mode: '7-part',
  alternativeWeekdays: true,
  sloppyRanges: true,
};

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

/** Numbers that stand for values, not for a step (`/n`) or an occurrence (`#n`). */
const valuesIn = (field: string): number[] => [...field.matchAll(/(?<![#/\d])\d+/g)].map(Number);

/** A croner pattern: a zero seconds field, and AWS's `L` (Saturday) and `6L` (last Friday) spelt croner's way. */
const cronerPattern = (fields: readonly string[]): string =>
  [
    '0',
    ...fields.map((field, i) =>
      i !== DAY_OF_WEEK ? field : field === 'L' ? '7' : field.replace(/^(\w+)L$/, '$1#L'),
    ),
  ].join(' ');

/**
 * What EventBridge refuses and croner would take: `?` but in one day field, values out of range
 * (croner reads weekday 8 as Sunday, takes years to 9999), and `L`, `W` or `#` inside a list.
 */
const checkEventBridgeRules = (expression: string, fields: readonly string[]): void => {
  const dayOfMonth = fields[DAY_OF_MONTH] ?? '';
  const dayOfWeek = fields[DAY_OF_WEEK] ?? '';
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    throw scheduleError(expression, 'exactly one of day-of-month and day-of-week must be "?"');
  }
  CRON_FIELDS.forEach(({ label, min, max }, i) => {
    const field = fields[i] ?? '';
    if (field.includes('?') && (field !== '?' || (i !== DAY_OF_MONTH && i !== DAY_OF_WEEK))) {
      throw scheduleError(expression, `"${field}" is not a valid ${label}`);
    }
    for (const value of valuesIn(field)) {
      if (value < min || value > max)
        throw scheduleError(expression, `${label} ${value} is outside ${min}-${max}`);
    }
  });
  if (/[LW]/.test(dayOfMonth) && !/^(L|LW|\d+W)$/.test(dayOfMonth)) {
    throw scheduleError(expression, `day-of-month "${dayOfMonth}": L, LW and nW stand alone`);
  }
  if (/[L#]/.test(dayOfWeek) && !/^(L|\w+L|\w+#\d+)$/.test(dayOfWeek)) {
    throw scheduleError(expression, `day-of-week "${dayOfWeek}": L, nL and n#k stand alone`);
  }
};

const cronerAccepts = (fields: readonly string[]): boolean => {
  try {
    new Cron(cronerPattern(fields), CRONER_OPTIONS);
    return true;
  } catch {
    return false;
  }
};

const parseCron = (expression: string, body: string): ParsedSchedule => {
  const fields = body.trim().split(/\s+/);
  if (fields.length !== CRON_FIELDS.length) {
    throw scheduleError(expression, 'cron takes 6 fields: minutes hours day-of-month month day-of-week year');
  }
  checkEventBridgeRules(expression, fields);
  try {
    return { kind: 'cron', cron: new Cron(cronerPattern(fields), CRONER_OPTIONS) };
  } catch (error) {
    // Name the field croner refused: each is tried alone, the others left at `*`.
    const reason = String(error instanceof Error ? error.message : error)
      .replace(/^CronPattern: /, '')
      .replace(/\.$/, '');
    const bad = fields.findIndex((_, i) => !cronerAccepts(fields.map((field, j) => (j === i ? field : '*'))));
    throw scheduleError(
      expression,
      bad < 0 ? reason : `${CRON_FIELDS[bad]?.label} "${fields[bad]}": ${reason}`,
    );
  }
};

/** Parses `rate(...)` or `cron(...)`; throws a `ValidationException` naming the problem. */
export const parseScheduleExpression = (expression: string): ParsedSchedule => {
  const match = /^(rate|cron)\((.*)\)$/.exec(expression.trim());
  if (!match) throw scheduleError(expression, 'expected rate(...) or cron(...)');
  const body = match[2] ?? '';
  return match[1] === 'rate' ? parseRate(expression, body) : parseCron(expression, body);
};

/**
 * The first time strictly after `after` at which `expression` fires (UTC, minute granularity).
 * `rate(N unit)` fires at the multiples of its period since the Unix epoch (EventBridge counts from
 * the rule's creation), so a restart does not shift the phase.
 */
export const nextFireTime = (expression: string, after: Date): Date => {
  const afterMs = after.getTime();
  if (Number.isNaN(afterMs)) throw new TypeError('after must be a valid Date.');
  const parsed = parseScheduleExpression(expression);
  if (parsed.kind === 'rate') return new Date((Math.floor(afterMs / parsed.periodMs) + 1) * parsed.periodMs);
  const next = parsed.cron.nextRun(after);
  if (!next || next.getUTCFullYear() > LAST_YEAR)
    throw scheduleError(expression, `it never fires after ${after.toISOString()}`);
  return next;
};
