import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nextFireTime } from '../schedules.js';

describe('nextFireTime', () => {
  it.each([
    ['rate(5 minutes)', '2026-01-01T10:02:30Z', '2026-01-01T10:05:00.000Z'],
    ['rate(5 minutes)', '2026-01-01T10:05:00Z', '2026-01-01T10:10:00.000Z'],
    ['rate(1 minute)', '2026-01-01T10:02:00Z', '2026-01-01T10:03:00.000Z'],
    ['rate(1 hour)', '2026-01-01T10:00:00Z', '2026-01-01T11:00:00.000Z'],
    ['rate(2 hours)', '2026-01-01T01:30:00Z', '2026-01-01T02:00:00.000Z'],
    ['rate(1 day)', '2026-01-01T13:00:00Z', '2026-01-02T00:00:00.000Z'],
    // Periods count from the Unix epoch: 2026-01-01 is day 20454, a multiple of 3.
    ['rate(3 days)', '2026-01-01T00:00:00Z', '2026-01-04T00:00:00.000Z'],
    ['rate(3 days)', '2026-01-02T00:00:00Z', '2026-01-04T00:00:00.000Z'],
  ])('fires %s after %s at %s', (expression, after, expected) => {
    // Act
    const next = nextFireTime(expression, new Date(after));

    // Assess
    expect(next.toISOString()).toBe(expected);
  });

  // 2026-01-01 is a Thursday.
  it.each([
    ['every day at 02:00', 'cron(0 2 * * ? *)', '2026-01-01T03:00:00Z', '2026-01-02T02:00:00.000Z'],
    [
      'strictly after an exact fire time',
      'cron(0 8 1,15 * ? *)',
      '2026-01-01T08:00:00Z',
      '2026-01-15T08:00:00.000Z',
    ],
    ['every 10 minutes', 'cron(*/10 * * * ? *)', '2026-01-01T10:05:00Z', '2026-01-01T10:10:00.000Z'],
    [
      'office hours on weekdays, from Friday evening',
      'cron(0/15 9-17 ? * MON-FRI *)',
      '2026-01-02T17:50:00Z',
      '2026-01-05T09:00:00.000Z',
    ],
    [
      'weekday numbers (1 is Sunday)',
      'cron(0 9 ? * 2,4,6 *)',
      '2026-01-01T10:00:00Z',
      '2026-01-02T09:00:00.000Z',
    ],
    ['month names', 'cron(0 0 1 MAR,SEP ? *)', '2026-04-01T00:00:00Z', '2026-09-01T00:00:00.000Z'],
    [
      'the last day of a leap February',
      'cron(0 12 L * ? *)',
      '2028-02-10T00:00:00Z',
      '2028-02-29T12:00:00.000Z',
    ],
    [
      'the last weekday of the month',
      'cron(0 18 LW * ? *)',
      '2026-01-01T00:00:00Z',
      '2026-01-30T18:00:00.000Z',
    ],
    [
      'the weekday nearest the 1st (a Sunday)',
      'cron(0 0 1W * ? *)',
      '2026-01-15T00:00:00Z',
      '2026-02-02T00:00:00.000Z',
    ],
    ['the third Friday', 'cron(0 10 ? * 6#3 *)', '2026-01-01T00:00:00Z', '2026-01-16T10:00:00.000Z'],
    ['the last Monday', 'cron(30 8 ? * 2L *)', '2026-01-01T00:00:00Z', '2026-01-26T08:30:00.000Z'],
    ['one year only', 'cron(0 0 1 JAN ? 2027)', '2026-06-01T00:00:00Z', '2027-01-01T00:00:00.000Z'],
    ['the 29th of February', 'cron(0 0 29 2 ? *)', '2026-03-01T00:00:00Z', '2028-02-29T00:00:00.000Z'],
    [
      'L alone as day-of-week (Saturday)',
      'cron(0 0 ? * L *)',
      '2026-01-01T00:00:00Z',
      '2026-01-03T00:00:00.000Z',
    ],
    ['every other year', 'cron(0 0 1 JAN ? 2027/2)', '2027-06-01T00:00:00Z', '2029-01-01T00:00:00.000Z'],
  ])('fires %s (%s after %s) at %s', (_label, expression, after, expected) => {
    // Act
    const next = nextFireTime(expression, new Date(after));

    // Assess
    expect(next.toISOString()).toBe(expected);
  });

  it.each([
    ['rate(1 minutes)', /singular/],
    ['rate(5 minute)', /plural/],
    ['rate(0 minutes)', /positive/],
    ['rate(5 weeks)', /unit/],
    ['cron(0 2 * * * *)', /exactly one/],
    ['cron(0 2 ? * ? *)', /exactly one/],
    ['cron(0 2 * * ?)', /6 fields/],
    ['cron(60 2 * * ? *)', /minutes/],
    ['cron(0 24 * * ? *)', /hours/],
    ['cron(0 2 * 13 ? *)', /month/],
    ['cron(0 2 ? * 8 *)', /day-of-week/],
    ['cron(0 2 ? * FUNDAY *)', /day-of-week/],
    ['cron(*/0 * * * ? *)', /step/],
    ['cron(0 0 1 JAN ? 2020)', /never fires/],
    ['cron(? 2 * * ? *)', /minutes/],
    ['cron(0 2 ? * 0 *)', /day-of-week/],
    ['cron(0 2 ? * 3#1,6#3 *)', /stand alone/],
    ['cron(0 0 1 1 ? 2200)', /year/],
    ['cron(0 0 31-1 * ? *)', /day-of-month/],
    ['every 5 minutes', /rate\(\.\.\.\) or cron/],
  ])('refuses %s', (expression, reason) => {
    // Act
    const next = () => nextFireTime(expression, new Date('2026-01-01T00:00:00Z'));

    // Assess
    expect(next).toThrow(
      expect.objectContaining({ name: 'ValidationException', message: expect.stringMatching(reason) }),
    );
  });

  it('fires a rate schedule on the next multiple of its period, within one period', () => {
    const units = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120 }),
        fc.constantFrom<keyof typeof units>('minute', 'hour', 'day'),
        fc.date({
          min: new Date('2000-01-01T00:00:00Z'),
          max: new Date('2150-01-01T00:00:00Z'),
          noInvalidDate: true,
        }),
        (value, unit, after) => {
          // Prepare
          const expression = `rate(${value} ${unit}${value === 1 ? '' : 's'})`;
          const period = value * units[unit];

          // Act
          const next = nextFireTime(expression, after).getTime();

          // Assess
          expect(next).toBeGreaterThan(after.getTime());
          expect(next - after.getTime()).toBeLessThanOrEqual(period);
          expect(next % period).toBe(0);
        },
      ),
    );
  });

  /**
   * A cron field as text, with the set of values it stands for (the oracle never parses the text).
   * Explicit values come from min..max; `*` and steps cover the whole field, min..fieldMax.
   */
  const cronField = (min: number, max: number, names?: readonly string[], fieldMax = max) => {
    const value = fc.integer({ min, max });
    const label = (v: number, useName: boolean) =>
      useName && names ? (names[v - min] ?? String(v)) : String(v);
    const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
    return fc.oneof(
      fc.constant({ text: '*', values: range(min, fieldMax) }),
      fc.tuple(value, fc.boolean()).map(([v, n]) => ({ text: label(v, n), values: [v] })),
      fc.tuple(value, value, fc.boolean()).map(([a, b, n]) => ({
        text: `${label(Math.min(a, b), n)}-${label(Math.max(a, b), n)}`,
        values: range(Math.min(a, b), Math.max(a, b)),
      })),
      fc.tuple(value, fc.integer({ min: 1, max: max - min + 1 })).map(([a, step]) => ({
        text: `${a}/${step}`,
        values: range(a, fieldMax).filter((v) => (v - a) % step === 0),
      })),
      fc.integer({ min: 1, max: max - min + 1 }).map((step) => ({
        text: `*/${step}`,
        values: range(min, fieldMax).filter((v) => (v - min) % step === 0),
      })),
      fc.uniqueArray(value, { minLength: 1, maxLength: 4 }).map((vs) => ({ text: vs.join(','), values: vs })),
    );
  };
  const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
  const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

  it('fires a cron schedule at the first minute after the given time that matches every field', () => {
    const cron = fc.record({
      minutes: cronField(0, 59),
      hours: cronField(0, 23),
      // Explicit days 1-28 exist in every month, so every generated expression fires within a year.
      days: fc.oneof(
        cronField(1, 28, undefined, 31).map((dom) => ({ kind: 'dom' as const, field: dom })),
        cronField(1, 7, DAY_NAMES).map((dow) => ({ kind: 'dow' as const, field: dow })),
      ),
      months: cronField(1, 12, MONTH_NAMES),
    });
    fc.assert(
      fc.property(
        cron,
        fc.date({
          min: new Date('2000-01-01T00:00:00Z'),
          max: new Date('2150-01-01T00:00:00Z'),
          noInvalidDate: true,
        }),
        ({ minutes, hours, days, months }, after) => {
          // Prepare
          const dom = days.kind === 'dom' ? days.field.text : '?';
          const dow = days.kind === 'dow' ? days.field.text : '?';
          const expression = `cron(${minutes.text} ${hours.text} ${dom} ${months.text} ${dow} *)`;
          const dayMatches = (d: Date) =>
            months.values.includes(d.getUTCMonth() + 1) &&
            (days.kind === 'dom'
              ? days.field.values.includes(d.getUTCDate())
              : days.field.values.includes(d.getUTCDay() + 1));
          const matches = (d: Date) =>
            dayMatches(d) &&
            hours.values.includes(d.getUTCHours()) &&
            minutes.values.includes(d.getUTCMinutes());

          // Act
          const next = nextFireTime(expression, after);

          // Assess
          expect(next.getTime()).toBeGreaterThan(after.getTime());
          expect(next.getUTCSeconds()).toBe(0);
          expect(matches(next)).toBe(true);
          // No earlier matching minute in between: check every matching day from `after` to `next`.
          for (
            let day = Math.floor(after.getTime() / 86_400_000);
            day * 86_400_000 <= next.getTime();
            day++
          ) {
            if (!dayMatches(new Date(day * 86_400_000))) continue;
            for (const h of hours.values) {
              for (const m of minutes.values) {
                const t = day * 86_400_000 + h * 3_600_000 + m * 60_000;
                expect(
                  t > after.getTime() && t < next.getTime(),
                  `${expression} also fires at ${new Date(t).toISOString()}`,
                ).toBe(false);
              }
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
