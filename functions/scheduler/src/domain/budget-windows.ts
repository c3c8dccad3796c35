/**
 * Budget windows of the scheduler: `daily`, `weekly` (ISO weeks, Monday first) and `monthly`, aligned to the
 * calendar of the tenant's IANA time zone. Pure code: the zone rules come from the runtime's ICU data through
 * `Intl.DateTimeFormat`, no time library.
 *
 * The rule for every boundary: a local date D starts at the first instant whose local date in the zone is D or
 * later. On most days that is local midnight. Where the clocks skip midnight (a DST change at 00:00, as in
 * America/Havana, America/Santiago, Asia/Beirut, or America/Sao_Paulo until 2019), the day starts at the first
 * instant that exists, e.g. 01:00 local; where midnight happens twice (Havana's change back from 01:00 to 00:00),
 * the day starts at the first one. A local date the zone skipped altogether (Pacific/Apia, 2011-12-30) has an
 * empty window, which `windowOf` never returns: the day before ends where the day after starts.
 *
 * Ids name the local period with zero-padded fields, so within a zone and window kind they sort as the windows
 * follow each other: `daily:2026-03-29`, `weekly:2026-W10` (the ISO week-year and week), `monthly:2026-03`. That
 * holds for four-digit years: instants whose local year is outside 1000..9999 are rejected.
 */

export const BUDGET_WINDOWS = ['daily', 'weekly', 'monthly'] as const;
export type BudgetWindow = (typeof BUDGET_WINDOWS)[number];

/** One window instance: [start, end) as UTC instants, and the local period it covers as a stable id. */
export interface WindowInstance {
  readonly window: BudgetWindow;
  readonly timeZone: string;
  readonly id: string;
  readonly start: Date;
  readonly end: Date;
}

const MINUTE_MS = 60 * 1000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** Offsets since 1970 stay within -12:00..+14:00; the search for a boundary looks this far either side. */
const SEARCH_MS = 16 * HOUR_MS;
const MIN_YEAR = 1000;
const MAX_YEAR = 9999;

interface LocalDateTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

/** One formatter per zone (creating one is costly); only zones the runtime accepted get here. */
const formatters = new Map<string, Intl.DateTimeFormat>();

const formatterOf = (timeZone: string): Intl.DateTimeFormat => {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    // The Gregorian calendar and Latin digits whatever the default locale; h23 so that midnight is 0, not 24.
    formatter = new Intl.DateTimeFormat('en-US-u-ca-gregory-nu-latn', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
};

/** Whether a string is an IANA zone this runtime knows (e.g. 'Europe/Berlin', 'UTC'); 'Mars/Olympus' is not. */
export const isTimeZone = (zone: string): boolean => {
  if (typeof zone !== 'string' || zone.trim() !== zone || zone === '') return false;
  try {
    formatterOf(zone);
    return true;
  } catch {
    return false;
  }
};

const checkedFormatter = (timeZone: string): Intl.DateTimeFormat => {
  if (!isTimeZone(timeZone)) throw new RangeError(`Unknown time zone: ${JSON.stringify(timeZone)}`);
  return formatterOf(timeZone);
};

/** The wall-clock fields of an instant in a zone (to the second: ICU drops the milliseconds). */
const localOf = (ms: number, formatter: Intl.DateTimeFormat): LocalDateTime => {
  const fields: Record<string, number> = {};
  for (const part of formatter.formatToParts(ms)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  // Without an era field, ICU prints the year 0 as 1 and -1 as 2 (BC): the range check keeps those out.
  const local = {
    year: fields.year ?? Number.NaN,
    month: fields.month ?? Number.NaN,
    day: fields.day ?? Number.NaN,
    hour: fields.hour ?? Number.NaN,
    minute: fields.minute ?? Number.NaN,
    second: fields.second ?? Number.NaN,
  };
  if (!(local.year >= MIN_YEAR && local.year <= MAX_YEAR)) {
    throw new RangeError(
      `Budget windows cover local years ${MIN_YEAR}..${MAX_YEAR}: ${new Date(ms).toISOString()}`,
    );
  }
  return local;
};

/** The zone's offset at an instant, in ms (local wall clock minus UTC). */
const offsetAt = (ms: number, formatter: Intl.DateTimeFormat): number => {
  const l = localOf(ms, formatter);
  const wall = Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second);
  return wall - Math.floor(ms / 1000) * 1000;
};

const dateKey = (year: number, month: number, day: number): number => year * 10_000 + month * 100 + day;

/**
 * The first instant whose local date is the given one or later (month and day may overflow: day 32 of March
 * is April 1st). Usually local midnight, found from the offsets; else (a skipped or doubled midnight) by a
 * binary search over whole seconds, where every zone transition happens.
 */
const dayStart = (year: number, month: number, day: number, formatter: Intl.DateTimeFormat): number => {
  const wall = Date.UTC(year, month - 1, day);
  const date = new Date(wall);
  const target = dateKey(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate());
  const reached = (ms: number): boolean => {
    const l = localOf(ms, formatter);
    return dateKey(l.year, l.month, l.day) >= target;
  };

  const guess = wall - offsetAt(wall - offsetAt(wall, formatter), formatter);
  if (reached(guess) && !reached(guess - 1000)) return guess;

  // reached(low) is false and reached(high) true, as long as offsets stay within ±16 h.
  let low = wall - SEARCH_MS;
  let high = wall + SEARCH_MS;
  while (high - low > 1000) {
    const middle = low + Math.floor((high - low) / 2000) * 1000;
    if (reached(middle)) high = middle;
    else low = middle;
  }
  return high;
};

const pad = (value: number, width = 2): string => String(value).padStart(width, '0');

/** The ISO week of a (proleptic Gregorian) date: the week-year is the year of the week's Thursday. */
const isoWeekOf = (
  year: number,
  month: number,
  day: number,
): { weekYear: number; week: number; monday: number } => {
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay() || 7; // Monday 1 .. Sunday 7
  const thursday = new Date(Date.UTC(year, month - 1, day + 4 - weekday));
  const weekYear = thursday.getUTCFullYear();
  const dayOfYear = (thursday.getTime() - Date.UTC(weekYear, 0, 1)) / DAY_MS;
  return { weekYear, week: Math.floor(dayOfYear / 7) + 1, monday: day - (weekday - 1) };
};

/** The window instance containing `at` in `timeZone` (start inclusive, end exclusive). Throws a RangeError for an unknown zone. */
/**
 * The latest window instance found per (window kind, zone): windows are contiguous `[start, end)`
 * intervals, so an instant inside it has it as its window; a scheduler asks for the current window
 * of its tenants' budgets several times per job, and each fresh computation formats a dozen instants.
 */
const latest = new Map<string, WindowInstance>();

export const windowOf = (at: Date, window: BudgetWindow, timeZone: string): WindowInstance => {
  const ms = at.getTime();
  const known = latest.get(`${window}\n${timeZone}`);
  if (known && known.start.getTime() <= ms && ms < known.end.getTime()) return known;
  const found = computeWindowOf(at, window, timeZone);
  if (latest.size > 1000) latest.clear();
  latest.set(`${window}\n${timeZone}`, found);
  return found;
};

const computeWindowOf = (at: Date, window: BudgetWindow, timeZone: string): WindowInstance => {
  if (!BUDGET_WINDOWS.includes(window))
    throw new RangeError(`Unknown budget window: ${JSON.stringify(window)}`);
  const formatter = checkedFormatter(timeZone);
  const ms = at.getTime();
  if (Number.isNaN(ms)) throw new RangeError('Invalid date');
  const { year, month, day } = localOf(ms, formatter);

  const instance = (
    id: string,
    from: [number, number, number],
    to: [number, number, number],
  ): WindowInstance => ({
    window,
    timeZone,
    id: `${window}:${id}`,
    start: new Date(dayStart(...from, formatter)),
    end: new Date(dayStart(...to, formatter)),
  });
  switch (window) {
    case 'daily':
      return instance(
        `${pad(year, 4)}-${pad(month)}-${pad(day)}`,
        [year, month, day],
        [year, month, day + 1],
      );
    case 'weekly': {
      const { weekYear, week, monday } = isoWeekOf(year, month, day);
      return instance(`${pad(weekYear, 4)}-W${pad(week)}`, [year, month, monday], [year, month, monday + 7]);
    }
    case 'monthly':
      return instance(`${pad(year, 4)}-${pad(month)}`, [year, month, 1], [year, month + 1, 1]);
  }
};

/** The instance right after `instance` (its start = instance.end). */
export const nextWindow = (instance: WindowInstance): WindowInstance =>
  windowOf(instance.end, instance.window, instance.timeZone);

/**
 * Where `at` is in its window, 0 at start to 1 at end (for a linear spend projection), by elapsed real time:
 * a 23-hour day is half over after 11.5 hours. Instants before the window give 0, at or after its end 1.
 */
export const elapsedFraction = (at: Date, instance: WindowInstance): number => {
  const start = instance.start.getTime();
  const length = instance.end.getTime() - start;
  if (!(length > 0)) return 1;
  return Math.min(1, Math.max(0, (at.getTime() - start) / length));
};
