import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BUDGET_WINDOWS,
  type BudgetWindow,
  elapsedFraction,
  isTimeZone,
  nextWindow,
  type WindowInstance,
  windowOf,
} from '../../src/domain/budget-windows.js';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

const at = (iso: string): Date => new Date(iso);
const hoursOf = (w: WindowInstance): number => (w.end.getTime() - w.start.getTime()) / HOUR_MS;
const span = (w: WindowInstance) => ({ id: w.id, start: w.start.toISOString(), end: w.end.toISOString() });

describe('isTimeZone', () => {
  it('knows UTC and IANA zones, and refuses unknown zones, the empty string and padded names', () => {
    // Act / Assess
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('Asia/Kolkata')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
    expect(isTimeZone('')).toBe(false);
    expect(isTimeZone('Europe/Berlin ')).toBe(false);
    expect(isTimeZone(' UTC')).toBe(false);
  });

  it('makes windowOf throw a RangeError for an unknown zone', () => {
    // Act / Assess
    expect(() => windowOf(at('2026-03-01T00:00:00Z'), 'daily', 'Mars/Olympus')).toThrow(RangeError);
    expect(() => windowOf(at('2026-03-01T00:00:00Z'), 'daily', '')).toThrow(RangeError);
  });

  it('makes windowOf throw a RangeError for an invalid date or window kind', () => {
    // Act / Assess
    expect(() => windowOf(new Date(Number.NaN), 'daily', 'UTC')).toThrow(RangeError);
    expect(() => windowOf(at('2026-03-01T00:00:00Z'), 'yearly' as BudgetWindow, 'UTC')).toThrow(RangeError);
  });
});

describe('windowOf at the exact boundaries', () => {
  /** Known windows: local midnight in each zone, as UTC. */
  const known: readonly [string, BudgetWindow, string, { id: string; start: string; end: string }][] = [
    [
      'UTC',
      'monthly',
      '2026-03-15T12:00:00Z',
      { id: 'monthly:2026-03', start: '2026-03-01T00:00:00.000Z', end: '2026-04-01T00:00:00.000Z' },
    ],
    [
      'UTC',
      'weekly',
      '2026-03-04T00:00:00Z',
      { id: 'weekly:2026-W10', start: '2026-03-02T00:00:00.000Z', end: '2026-03-09T00:00:00.000Z' },
    ],
    [
      'UTC',
      'daily',
      '2026-03-29T23:59:59.999Z',
      { id: 'daily:2026-03-29', start: '2026-03-29T00:00:00.000Z', end: '2026-03-30T00:00:00.000Z' },
    ],
    [
      'Europe/Berlin',
      'daily',
      '2026-01-10T23:00:00Z',
      { id: 'daily:2026-01-11', start: '2026-01-10T23:00:00.000Z', end: '2026-01-11T23:00:00.000Z' },
    ],
    [
      'Europe/Berlin',
      'weekly',
      '2026-07-05T21:59:59.999Z',
      { id: 'weekly:2026-W27', start: '2026-06-28T22:00:00.000Z', end: '2026-07-05T22:00:00.000Z' },
    ],
    [
      'America/New_York',
      'monthly',
      '2026-07-01T03:59:59.999Z',
      { id: 'monthly:2026-06', start: '2026-06-01T04:00:00.000Z', end: '2026-07-01T04:00:00.000Z' },
    ],
    [
      'America/New_York',
      'daily',
      '2026-01-01T05:00:00Z',
      { id: 'daily:2026-01-01', start: '2026-01-01T05:00:00.000Z', end: '2026-01-02T05:00:00.000Z' },
    ],
    [
      'Asia/Kolkata',
      'daily',
      '2026-03-28T18:30:00Z',
      { id: 'daily:2026-03-29', start: '2026-03-28T18:30:00.000Z', end: '2026-03-29T18:30:00.000Z' },
    ],
    [
      'Asia/Kolkata',
      'monthly',
      '2026-03-31T18:29:59.999Z',
      { id: 'monthly:2026-03', start: '2026-02-28T18:30:00.000Z', end: '2026-03-31T18:30:00.000Z' },
    ],
    [
      'Pacific/Chatham',
      'daily',
      '2026-01-15T12:00:00Z',
      { id: 'daily:2026-01-16', start: '2026-01-15T10:15:00.000Z', end: '2026-01-16T10:15:00.000Z' },
    ],
    [
      'Pacific/Chatham',
      'daily',
      '2026-07-15T11:15:00Z',
      { id: 'daily:2026-07-16', start: '2026-07-15T11:15:00.000Z', end: '2026-07-16T11:15:00.000Z' },
    ],
    [
      'Pacific/Chatham',
      'weekly',
      '2026-07-12T11:14:59.999Z',
      { id: 'weekly:2026-W28', start: '2026-07-05T11:15:00.000Z', end: '2026-07-12T11:15:00.000Z' },
    ],
  ];

  it.each(known)(
    '%s, %s, at %s: the window of local midnight to local midnight',
    (zone, kind, instant, expected) => {
      // Act
      const w = windowOf(at(instant), kind, zone);

      // Assess
      expect(span(w)).toEqual(expected);
      expect(w).toMatchObject({ window: kind, timeZone: zone });
    },
  );

  const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham'];
  const instants = [
    '2026-01-01T00:00:00Z',
    '2026-03-29T01:30:00Z',
    '2026-04-05T14:45:00Z',
    '2026-10-25T00:30:00Z',
  ];

  for (const zone of zones) {
    for (const kind of BUDGET_WINDOWS) {
      it(`${zone}, ${kind}: start and end - 1 ms are in the window, end is in the next one`, () => {
        for (const instant of instants) {
          // Prepare
          const w = windowOf(at(instant), kind, zone);

          // Act
          const atStart = windowOf(w.start, kind, zone);
          const beforeEnd = windowOf(new Date(w.end.getTime() - 1), kind, zone);
          const atEnd = windowOf(w.end, kind, zone);
          const beforeStart = windowOf(new Date(w.start.getTime() - 1), kind, zone);

          // Assess
          expect(span(atStart)).toEqual(span(w));
          expect(span(beforeEnd)).toEqual(span(w));
          expect(span(atEnd)).toEqual(span(nextWindow(w)));
          expect(atEnd.start).toEqual(w.end);
          expect(atEnd.id > w.id).toBe(true);
          expect(beforeStart.end).toEqual(w.start);
          expect(beforeStart.id < w.id).toBe(true);
        }
      });
    }
  }
});

describe('daylight-saving changes', () => {
  it('makes Berlin days of 2026-03-29 and 2026-10-25 last 23 h and 25 h', () => {
    // Act
    const spring = windowOf(at('2026-03-29T12:00:00Z'), 'daily', 'Europe/Berlin');
    const autumn = windowOf(at('2026-10-25T12:00:00Z'), 'daily', 'Europe/Berlin');

    // Assess
    expect(span(spring)).toEqual({
      id: 'daily:2026-03-29',
      start: '2026-03-28T23:00:00.000Z',
      end: '2026-03-29T22:00:00.000Z',
    });
    expect(hoursOf(spring)).toBe(23);
    expect(span(autumn)).toEqual({
      id: 'daily:2026-10-25',
      start: '2026-10-24T22:00:00.000Z',
      end: '2026-10-25T23:00:00.000Z',
    });
    expect(hoursOf(autumn)).toBe(25);
  });

  it('makes Berlin March 2026 last 31 days minus one hour, and its week 13 one hour short', () => {
    // Act
    const march = windowOf(at('2026-03-15T12:00:00Z'), 'monthly', 'Europe/Berlin');
    const week = windowOf(at('2026-03-29T12:00:00Z'), 'weekly', 'Europe/Berlin');

    // Assess
    expect(span(march)).toEqual({
      id: 'monthly:2026-03',
      start: '2026-02-28T23:00:00.000Z',
      end: '2026-03-31T22:00:00.000Z',
    });
    expect(march.end.getTime() - march.start.getTime()).toBe(31 * DAY_MS - HOUR_MS);
    expect(week.id).toBe('weekly:2026-W13');
    expect(hoursOf(week)).toBe(7 * 24 - 1);
  });

  it('makes New York days of 2026-03-08 and 2026-11-01 last 23 h and 25 h', () => {
    // Act
    const spring = windowOf(at('2026-03-08T12:00:00Z'), 'daily', 'America/New_York');
    const autumn = windowOf(at('2026-11-01T12:00:00Z'), 'daily', 'America/New_York');

    // Assess
    expect(span(spring)).toEqual({
      id: 'daily:2026-03-08',
      start: '2026-03-08T05:00:00.000Z',
      end: '2026-03-09T04:00:00.000Z',
    });
    expect(span(autumn)).toEqual({
      id: 'daily:2026-11-01',
      start: '2026-11-01T04:00:00.000Z',
      end: '2026-11-02T05:00:00.000Z',
    });
  });

  it('starts a day whose midnight the clocks skip at the first instant that exists (01:00 local)', () => {
    // Act: Havana goes from 00:00 CST to 01:00 CDT on 2026-03-08, Santiago from 00:00 -04 to 01:00 -03 on
    // 2026-09-06, São Paulo from 00:00 -03 to 01:00 -02 on 2018-11-04.
    const havana = windowOf(at('2026-03-08T12:00:00Z'), 'daily', 'America/Havana');
    const santiago = windowOf(at('2026-09-06T12:00:00Z'), 'daily', 'America/Santiago');
    const saoPaulo = windowOf(at('2018-11-04T12:00:00Z'), 'daily', 'America/Sao_Paulo');
    const dayBefore = windowOf(at('2026-03-08T04:59:59.999Z'), 'daily', 'America/Havana');

    // Assess
    expect(span(havana)).toEqual({
      id: 'daily:2026-03-08',
      start: '2026-03-08T05:00:00.000Z',
      end: '2026-03-09T04:00:00.000Z',
    });
    expect(span(santiago)).toEqual({
      id: 'daily:2026-09-06',
      start: '2026-09-06T04:00:00.000Z',
      end: '2026-09-07T03:00:00.000Z',
    });
    expect(span(saoPaulo)).toEqual({
      id: 'daily:2018-11-04',
      start: '2018-11-04T03:00:00.000Z',
      end: '2018-11-05T02:00:00.000Z',
    });
    expect(dayBefore).toMatchObject({ id: 'daily:2026-03-07', end: havana.start });
    expect(hoursOf(dayBefore)).toBe(24);
  });

  it('starts a month whose first midnight the clocks skip at 01:00 local (Asunción, October 2023)', () => {
    // Act
    const october = windowOf(at('2023-10-15T12:00:00Z'), 'monthly', 'America/Asuncion');

    // Assess
    expect(span(october)).toEqual({
      id: 'monthly:2023-10',
      start: '2023-10-01T04:00:00.000Z',
      end: '2023-11-01T03:00:00.000Z',
    });
  });

  it('starts a day whose midnight happens twice at the first one (Havana, 2026-11-01: 01:00 CDT back to 00:00 CST)', () => {
    // Act
    const day = windowOf(at('2026-11-01T04:30:00Z'), 'daily', 'America/Havana');

    // Assess
    expect(span(day)).toEqual({
      id: 'daily:2026-11-01',
      start: '2026-11-01T04:00:00.000Z',
      end: '2026-11-02T05:00:00.000Z',
    });
  });

  it('skips a local date the zone skipped (Apia, 2011-12-30): the day before ends where the day after starts', () => {
    // Prepare
    const before = windowOf(at('2011-12-29T12:00:00Z'), 'daily', 'Pacific/Apia');

    // Act
    const after = nextWindow(before);

    // Assess
    expect(span(before)).toEqual({
      id: 'daily:2011-12-29',
      start: '2011-12-29T10:00:00.000Z',
      end: '2011-12-30T10:00:00.000Z',
    });
    expect(span(after)).toEqual({
      id: 'daily:2011-12-31',
      start: '2011-12-30T10:00:00.000Z',
      end: '2011-12-31T10:00:00.000Z',
    });
  });
});

describe('ISO weeks', () => {
  it('puts Thursday 2026-12-31 and Friday 2027-01-01 in 2026-W53, and starts 2027-W01 on Monday 2027-01-04', () => {
    // Act
    const thursday = windowOf(at('2026-12-31T12:00:00Z'), 'weekly', 'Europe/Berlin');
    const friday = windowOf(at('2027-01-01T12:00:00Z'), 'weekly', 'Europe/Berlin');
    const monday = windowOf(at('2027-01-03T23:00:00Z'), 'weekly', 'Europe/Berlin');

    // Assess
    expect(span(thursday)).toEqual({
      id: 'weekly:2026-W53',
      start: '2026-12-27T23:00:00.000Z',
      end: '2027-01-03T23:00:00.000Z',
    });
    expect(span(friday)).toEqual(span(thursday));
    expect(span(monday)).toEqual({
      id: 'weekly:2027-W01',
      start: '2027-01-03T23:00:00.000Z',
      end: '2027-01-10T23:00:00.000Z',
    });
    expect(span(nextWindow(thursday))).toEqual(span(monday));
  });

  it('puts Sunday 2021-01-03 in 2020-W53 and Monday 2024-12-30 in 2025-W01', () => {
    // Act / Assess
    expect(windowOf(at('2021-01-03T12:00:00Z'), 'weekly', 'UTC').id).toBe('weekly:2020-W53');
    expect(windowOf(at('2024-12-30T12:00:00Z'), 'weekly', 'UTC').id).toBe('weekly:2025-W01');
  });
});

describe('elapsedFraction', () => {
  it('is 0 at the start, 1 at the end, and linear in real time on a 23-hour day', () => {
    // Prepare
    const day = windowOf(at('2026-03-29T12:00:00Z'), 'daily', 'Europe/Berlin');

    // Act / Assess
    expect(elapsedFraction(day.start, day)).toBe(0);
    expect(elapsedFraction(new Date(day.start.getTime() + 11.5 * HOUR_MS), day)).toBe(0.5);
    expect(elapsedFraction(day.end, day)).toBe(1);
    expect(elapsedFraction(new Date(day.start.getTime() - 1), day)).toBe(0);
    expect(elapsedFraction(new Date(day.end.getTime() + DAY_MS), day)).toBe(1);
  });
});

describe('budget windows (fast-check)', () => {
  const zones = [
    'UTC',
    'Europe/Berlin',
    'America/New_York',
    'Asia/Kolkata',
    'Pacific/Chatham',
    'America/Havana',
    'America/Santiago',
    'America/Sao_Paulo',
    'Australia/Lord_Howe',
    'Asia/Kathmandu',
    'Pacific/Apia',
    'Africa/Cairo',
  ];
  const instantArb = fc
    .integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2100, 11, 31, 23, 59, 59, 999) })
    .map((ms) => new Date(ms));

  it('whatever the instant, zone and kind: the window holds it, and its successors tile time in id order', () => {
    fc.assert(
      fc.property(
        instantArb,
        fc.constantFrom(...zones),
        fc.constantFrom(...BUDGET_WINDOWS),
        fc.integer({ min: 1, max: 3 }),
        (instant, zone, kind, steps) => {
          // Act
          const w = windowOf(instant, kind, zone);

          // Assess: the window holds the instant, and is the window of its own start and last ms.
          expect(w.start.getTime()).toBeLessThanOrEqual(instant.getTime());
          expect(instant.getTime()).toBeLessThan(w.end.getTime());
          expect(windowOf(w.start, kind, zone).id).toBe(w.id);
          expect(windowOf(new Date(w.end.getTime() - 1), kind, zone).id).toBe(w.id);
          const fraction = elapsedFraction(instant, w);
          expect(fraction >= 0 && fraction < 1).toBe(true);

          // Assess: successors start where the previous ends, are the windows of their starts, ids increase.
          let previous = w;
          for (let step = 0; step < steps; step += 1) {
            const next = nextWindow(previous);
            expect(next.start).toEqual(previous.end);
            expect(next.end.getTime()).toBeGreaterThan(next.start.getTime());
            expect(windowOf(previous.end, kind, zone).id).toBe(next.id);
            expect(next.id > previous.id).toBe(true);
            expect(next).toMatchObject({ window: kind, timeZone: zone });
            previous = next;
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('whatever two instants in a zone and kind: windows are equal or disjoint, in the order of their ids', () => {
    fc.assert(
      fc.property(
        instantArb,
        fc.integer({ min: -40 * DAY_MS, max: 40 * DAY_MS }),
        fc.constantFrom(...zones),
        fc.constantFrom(...BUDGET_WINDOWS),
        (instant, shift, zone, kind) => {
          // Act
          const a = windowOf(instant, kind, zone);
          const b = windowOf(new Date(instant.getTime() + shift), kind, zone);

          // Assess
          if (a.id === b.id) expect(span(b)).toEqual(span(a));
          else {
            const [first, second] = a.id < b.id ? [a, b] : [b, a];
            expect(first.end.getTime()).toBeLessThanOrEqual(second.start.getTime());
            expect(a.id < b.id).toBe(shift > 0);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
