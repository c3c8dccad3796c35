import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas';
import type { ScheduledEvent } from 'aws-lambda';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type BusEvent,
  type BusTimers,
  EventBridgeError,
  type EventPattern,
  LocalEventBus,
  type LocalEventBusOptions,
  matchesEventPattern,
  nextFireTime,
  type PutEventsRequestEntry,
  validateEventPattern,
} from '../bus.js';

/** Timers the test moves by hand: `advance` fires due timers in order, each at its own due time. */
class FakeTimers implements BusTimers {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();

  constructor(start: string) {
    this.#now = Date.parse(start);
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    this.#seq += 1;
    this.#timers.set(this.#seq, { at: this.#now + ms, callback });
    return this.#seq;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  get pending(): number {
    return this.#timers.size;
  }

  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].callback();
    }
    this.#now = end;
  }
}

const buses: LocalEventBus[] = [];
const newBus = (options: LocalEventBusOptions = {}): LocalEventBus => {
  const bus = new LocalEventBus({ retryDelayMs: () => 0, onUndeliverable: () => undefined, ...options });
  buses.push(bus);
  return bus;
};

afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.stop()));
});

const entry = (overrides: Partial<PutEventsRequestEntry> = {}): PutEventsRequestEntry => ({
  Source: 'conductor.scheduler',
  DetailType: 'budget_breach',
  Detail: JSON.stringify({ tenantId: 't-1', traceId: 'trace-1', amount: 120 }),
  ...overrides,
});

describe('LocalEventBus.putEvents', () => {
  it('accepts a valid entry and delivers an event shaped like EventBridge events', async () => {
    // Prepare
    const timers = new FakeTimers('2026-03-04T05:06:07.890Z');
    const bus = newBus({ name: 'conductor', timers });
    const received: BusEvent[] = [];
    bus.addRule({
      name: 'all-budget',
      eventPattern: { source: ['conductor.scheduler'] },
      target: async (event) => void received.push(event),
    });

    // Act
    const result = bus.putEvents([entry({ EventBusName: 'conductor', Resources: ['arn:aws:sqs:x'] })]);
    await bus.drain();

    // Assess
    expect(result).toEqual({ FailedEntryCount: 0, Entries: [{ EventId: expect.any(String) }] });
    expect(received).toEqual([
      {
        version: '0',
        id: result.Entries[0]?.EventId,
        'detail-type': 'budget_breach',
        source: 'conductor.scheduler',
        account: '000000000000',
        time: '2026-03-04T05:06:07Z',
        region: 'us-east-1',
        resources: ['arn:aws:sqs:x'],
        detail: { tenantId: 't-1', traceId: 'trace-1', amount: 120 },
      },
    ]);
    expect(EventBridgeSchema.safeParse(received[0]).success).toBe(true);
  });

  it.each([
    ['a missing Source', entry({ Source: '' }), 'InvalidArgument'],
    ['a missing DetailType', entry({ DetailType: '' }), 'InvalidArgument'],
    ['a missing Detail', entry({ Detail: '' }), 'InvalidArgument'],
    ['a DetailType over 128 characters', entry({ DetailType: 'x'.repeat(129) }), 'InvalidArgument'],
    ['a Detail that is not JSON', entry({ Detail: '{tenantId:' }), 'MalformedDetail'],
    ['a Detail that is a JSON array', entry({ Detail: '[1,2]' }), 'MalformedDetail'],
    ['a Detail that is a JSON string', entry({ Detail: '"text"' }), 'MalformedDetail'],
    ['a Detail that is null', entry({ Detail: 'null' }), 'MalformedDetail'],
    ['a reserved aws. source', entry({ Source: 'aws.events' }), 'NotAuthorizedForSourceException'],
    ['another event bus', entry({ EventBusName: 'elsewhere' }), 'ResourceNotFoundException'],
  ])('fails an entry with %s', async (_label, bad, code) => {
    // Prepare
    const bus = newBus();
    const delivered: BusEvent[] = [];
    bus.addRule({
      name: 'any',
      eventPattern: { account: ['000000000000'] },
      target: async (e) => void delivered.push(e),
    });

    // Act
    const result = bus.putEvents([bad]);
    await bus.drain();

    // Assess
    expect(result).toEqual({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: code, ErrorMessage: expect.any(String) }],
    });
    expect(delivered).toEqual([]);
  });

  it('fails invalid entries alone and keeps the order of the answers', () => {
    // Prepare
    const bus = newBus();

    // Act
    const result = bus.putEvents([entry(), entry({ Detail: 'nope' }), entry()]);

    // Assess
    expect(result.FailedEntryCount).toBe(1);
    expect(result.Entries.map((e) => e.EventId !== undefined)).toEqual([true, false, true]);
    expect(result.Entries[1]).toEqual({ ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' });
  });

  it.each([
    ['more than 10 entries', Array.from({ length: 11 }, () => entry())],
    ['no entries', []],
    ['a Detail larger than 256 KB', [entry({ Detail: JSON.stringify({ blob: 'x'.repeat(256 * 1024) }) })]],
    [
      'entries larger than 256 KB together',
      [
        entry({ Detail: JSON.stringify({ blob: 'x'.repeat(140_000) }) }),
        entry({ Detail: JSON.stringify({ blob: 'y'.repeat(140_000) }) }),
      ],
    ],
  ])('refuses a request with %s with a ValidationException', (_label, entries) => {
    // Prepare
    const bus = newBus();

    // Act
    const put = () => bus.putEvents(entries);

    // Assess
    expect(put).toThrow(EventBridgeError);
    expect(put).toThrow(expect.objectContaining({ name: 'ValidationException' }));
    expect(bus.history()).toEqual([]);
  });

  it('calls targets only after putEvents has returned', async () => {
    // Prepare
    const bus = newBus();
    const order: string[] = [];
    bus.addRule({
      name: 'r',
      eventPattern: { source: ['conductor.scheduler'] },
      target: async () => void order.push('target'),
    });

    // Act
    bus.putEvents([entry()]);
    order.push('returned');
    await bus.drain();

    // Assess
    expect(order).toEqual(['returned', 'target']);
  });

  it('keeps a history of recent events, newest first, with the rules they matched', () => {
    // Prepare
    const bus = newBus({ historyLimit: 2 });
    bus.addRule({
      name: 'breaches',
      eventPattern: { 'detail-type': ['budget_breach'] },
      target: async () => undefined,
    });

    // Act
    bus.putEvents([entry({ DetailType: 'route_decision' })]);
    bus.putEvents([entry({ DetailType: 'budget_breach' })]);
    bus.putEvents([entry({ DetailType: 'policy_denied' })]);

    // Assess
    expect(bus.history(10).map((h) => [h.event['detail-type'], h.matchedRules])).toEqual([
      ['policy_denied', []],
      ['budget_breach', ['breaches']],
    ]);
  });
});

describe('event patterns', () => {
  const event: BusEvent = {
    version: '0',
    id: 'e-1',
    'detail-type': 'budget_breach',
    source: 'conductor.scheduler',
    account: '000000000000',
    time: '2026-01-01T00:00:00Z',
    region: 'us-east-1',
    resources: ['arn:aws:sqs:us-east-1:000000000000:jobs'],
    detail: {
      tenantId: 't-1',
      amount: 120,
      severity: 'HIGH',
      tags: ['gold', 'eu'],
      note: null,
      budget: { kind: 'cost', level: 3 },
      items: [{ sku: 'a' }, { sku: 'b' }],
    },
  };

  it.each<[string, EventPattern, boolean]>([
    ['an exact source', { source: ['conductor.scheduler'] }, true],
    ['a source among several', { source: ['conductor.router', 'conductor.scheduler'] }, true],
    ['another source', { source: ['conductor.router'] }, false],
    [
      'all fields at once (AND)',
      { source: ['conductor.scheduler'], 'detail-type': ['route_decision'] },
      false,
    ],
    ['a prefix', { source: [{ prefix: 'conductor.' }] }, true],
    ['another prefix', { source: [{ prefix: 'aws.' }] }, false],
    ['a prefix ignoring case', { source: [{ prefix: { 'equals-ignore-case': 'CONDUCTOR.' } }] }, true],
    ['a suffix', { 'detail-type': [{ suffix: '_breach' }] }, true],
    ['anything but another value', { 'detail-type': [{ 'anything-but': 'route_decision' }] }, true],
    [
      'anything but a list holding the value',
      { 'detail-type': [{ 'anything-but': ['budget_breach', 'x'] }] },
      false,
    ],
    ['anything but a matching prefix', { 'detail-type': [{ 'anything-but': { prefix: 'budget' } }] }, false],
    ['anything but, on a missing field', { detail: { missing: [{ 'anything-but': 'x' }] } }, false],
    ['a present field that must exist', { detail: { tenantId: [{ exists: true }] } }, true],
    ['a missing field that must not exist', { detail: { missing: [{ exists: false }] } }, true],
    ['a present field that must not exist', { detail: { tenantId: [{ exists: false }] } }, false],
    ['an object that must exist (only leaves exist)', { detail: { budget: [{ exists: true }] } }, false],
    ['a number above a bound', { detail: { amount: [{ numeric: ['>', 100] }] } }, true],
    ['a number outside a range', { detail: { amount: [{ numeric: ['>=', 0, '<', 100] }] } }, false],
    ['a number equal to a value', { detail: { amount: [{ numeric: ['=', 120] }] } }, true],
    ['a numeric match on a string', { detail: { tenantId: [{ numeric: ['>', 0] }] } }, false],
    ['an exact number', { detail: { amount: [120] } }, true],
    ['a number written as a string', { detail: { amount: ['120'] } }, false],
    ['a nested field', { detail: { budget: { kind: ['cost'] } } }, true],
    ['a nested numeric field', { detail: { budget: { level: [{ numeric: ['>', 5] }] } } }, false],
    ['one value of an array field', { detail: { tags: ['eu'] } }, true],
    ['no value of an array field', { detail: { tags: ['us'] } }, false],
    ['a field inside an array of objects', { detail: { items: { sku: ['b'] } } }, true],
    ['a null value', { detail: { note: [null] } }, true],
    ['a value ignoring case', { detail: { severity: [{ 'equals-ignore-case': 'high' }] } }, true],
    ['a wildcard', { resources: [{ wildcard: 'arn:aws:sqs:*:jobs' }] }, true],
    [
      'one branch of an $or',
      { detail: { $or: [{ amount: [{ numeric: ['>', 1000] }] }, { severity: ['HIGH'] }] } },
      true,
    ],
    ['no branch of an $or', { detail: { $or: [{ amount: [1] }, { severity: ['LOW'] }] } }, false],
  ])('matches %s: %j → %s', (_label, pattern, expected) => {
    // Prepare
    validateEventPattern(pattern);

    // Act
    const matched = matchesEventPattern(pattern, event);

    // Assess
    expect(matched).toBe(expected);
  });

  it.each<[string, unknown]>([
    ['an empty pattern', {}],
    ['a bare value instead of an array', { source: 'conductor.scheduler' }],
    ['an empty array', { source: [] }],
    ['a prefix that is not a string', { source: [{ prefix: 1 }] }],
    ['a numeric with a non-number', { detail: { amount: [{ numeric: ['>', 'a'] }] } }],
    ['a numeric range upside down', { detail: { amount: [{ numeric: ['<', 5, '>', 1] }] } }],
    ['an unknown operator', { source: [{ resembles: 'x' }] }],
    ['a cidr match (not supported locally)', { detail: { ip: [{ cidr: '10.0.0.0/24' }] } }],
    ['an $or with one branch', { $or: [{ source: ['x'] }] }],
  ])('refuses %s when a rule is added', (_label, pattern) => {
    // Prepare
    const bus = newBus();

    // Act
    const add = () =>
      bus.addRule({ name: 'bad', eventPattern: pattern as EventPattern, target: async () => undefined });

    // Assess
    expect(add).toThrow(expect.objectContaining({ name: 'InvalidEventPatternException' }));
  });

  it('takes a pattern as JSON text too', async () => {
    // Prepare
    const bus = newBus();
    const seen: string[] = [];
    bus.addRule({
      name: 'text',
      eventPattern: '{"detail":{"tenantId":["t-1"]}}',
      target: async (e) => void seen.push(e.id),
    });

    // Act
    const { Entries } = bus.putEvents([entry()]);
    await bus.drain();

    // Assess
    expect(seen).toEqual([Entries[0]?.EventId]);
  });
});

describe('rule delivery', () => {
  it('retries a failing target, then hands the event and the last error to the dead letter', async () => {
    // Prepare
    const bus = newBus();
    let attempts = 0;
    const dead: Array<{ event: BusEvent; error: unknown }> = [];
    bus.addRule({
      name: 'flaky',
      eventPattern: { source: ['conductor.scheduler'] },
      retryAttempts: 2,
      target: async () => {
        attempts += 1;
        throw new Error(`attempt ${attempts} failed`);
      },
      deadLetter: (event, error) => void dead.push({ event, error }),
    });

    // Act
    const { Entries } = bus.putEvents([entry()]);
    await bus.drain();

    // Assess
    expect(attempts).toBe(3);
    expect(dead).toHaveLength(1);
    expect(dead[0]?.event.id).toBe(Entries[0]?.EventId);
    expect(dead[0]?.error).toEqual(new Error('attempt 3 failed'));
  });

  it('stops retrying once the target succeeds', async () => {
    // Prepare
    const bus = newBus();
    let attempts = 0;
    const dead: unknown[] = [];
    bus.addRule({
      name: 'recovers',
      eventPattern: { source: ['conductor.scheduler'] },
      target: async () => {
        attempts += 1;
        if (attempts < 2) throw new Error('transient');
      },
      deadLetter: (event) => void dead.push(event),
    });

    // Act
    bus.putEvents([entry()]);
    await bus.drain();

    // Assess
    expect(attempts).toBe(2);
    expect(dead).toEqual([]);
  });

  it('reports an undeliverable event of a rule without a dead letter', async () => {
    // Prepare
    const undeliverable: string[] = [];
    const bus = newBus({
      onUndeliverable: (rule, event) => void undeliverable.push(`${rule}:${event['detail-type']}`),
    });
    bus.addRule({
      name: 'broken',
      eventPattern: { source: ['conductor.scheduler'] },
      retryAttempts: 0,
      target: async () => {
        throw new Error('down');
      },
    });

    // Act
    bus.putEvents([entry()]);
    await bus.drain();

    // Assess
    expect(undeliverable).toEqual(['broken:budget_breach']);
  });

  it('gives each target its own copy of the event', async () => {
    // Prepare
    const bus = newBus();
    const seen: unknown[] = [];
    bus.addRule({
      name: 'mutates',
      eventPattern: { source: ['conductor.scheduler'] },
      target: async (event) => {
        (event.detail as Record<string, unknown>).tenantId = 'tampered';
      },
    });
    bus.addRule({
      name: 'reads',
      eventPattern: { source: ['conductor.scheduler'] },
      target: async (event) => {
        await Promise.resolve();
        seen.push((event.detail as Record<string, unknown>).tenantId);
      },
    });

    // Act
    bus.putEvents([entry()]);
    await bus.drain();

    // Assess
    expect(seen).toEqual(['t-1']);
  });

  it('waits in drain for events that targets publish in turn', async () => {
    // Prepare
    const bus = newBus();
    const finalSeen: string[] = [];
    bus.addRule({
      name: 'relay',
      eventPattern: { 'detail-type': ['route_decision'] },
      target: async () => void bus.putEvents([entry({ DetailType: 'reward_ingested' })]),
    });
    bus.addRule({
      name: 'final',
      eventPattern: { 'detail-type': ['reward_ingested'] },
      target: async (event) => void finalSeen.push(event['detail-type']),
    });

    // Act
    bus.putEvents([entry({ DetailType: 'route_decision' })]);
    await bus.drain();

    // Assess
    expect(finalSeen).toEqual(['reward_ingested']);
  });

  it('refuses a second rule with the same name', () => {
    // Prepare
    const bus = newBus();
    bus.addRule({ name: 'once', eventPattern: { source: ['a'] }, target: async () => undefined });

    // Act
    const again = () =>
      bus.addRule({ name: 'once', eventPattern: { source: ['b'] }, target: async () => undefined });

    // Assess
    expect(again).toThrow(expect.objectContaining({ name: 'ResourceAlreadyExistsException' }));
  });
});

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

describe('schedules', () => {
  it('fires a rate schedule with EventBridge Scheduled Events as the fake clock moves', async () => {
    // Prepare
    const timers = new FakeTimers('2026-01-01T10:02:00.000Z');
    const bus = newBus({ timers });
    const events: ScheduledEvent[] = [];
    bus.addSchedule({
      name: 'control-tests',
      expression: 'rate(5 minutes)',
      target: async (e) => void events.push(e),
    });
    bus.start();

    // Act
    timers.advance(15 * 60_000);
    await bus.drain();

    // Assess
    expect(events.map((e) => e.time)).toEqual([
      '2026-01-01T10:05:00Z',
      '2026-01-01T10:10:00Z',
      '2026-01-01T10:15:00Z',
    ]);
    expect(events[0]).toEqual({
      version: '0',
      id: expect.any(String),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '000000000000',
      time: '2026-01-01T10:05:00Z',
      region: 'us-east-1',
      resources: ['arn:aws:events:us-east-1:000000000000:rule/control-tests'],
      detail: {},
    });
    expect(EventBridgeSchema.safeParse(events[0]).success).toBe(true);
    expect(bus.nextFireTimes()['control-tests']?.toISOString()).toBe('2026-01-01T10:20:00.000Z');
  });

  it('fires a cron schedule once a day at its hour', async () => {
    // Prepare
    const timers = new FakeTimers('2026-01-01T00:00:00.000Z');
    const bus = newBus({ timers });
    const times: string[] = [];
    bus.addSchedule({
      name: 'nightly',
      expression: 'cron(0 2 * * ? *)',
      target: async (e) => void times.push(e.time),
    });
    bus.start();

    // Act
    timers.advance(3 * 86_400_000);
    await bus.drain();

    // Assess
    expect(times).toEqual(['2026-01-01T02:00:00Z', '2026-01-02T02:00:00Z', '2026-01-03T02:00:00Z']);
  });

  it('does not fire before start or after stop', async () => {
    // Prepare
    const timers = new FakeTimers('2026-01-01T00:00:00.000Z');
    const bus = newBus({ timers });
    let fired = 0;
    bus.addSchedule({ name: 'minutely', expression: 'rate(1 minute)', target: async () => void fired++ });

    // Act
    timers.advance(5 * 60_000);
    const beforeStart = fired;
    bus.start();
    timers.advance(2 * 60_000);
    await bus.stop();
    timers.advance(5 * 60_000);

    // Assess
    expect(beforeStart).toBe(0);
    expect(fired).toBe(2);
    expect(timers.pending).toBe(0);
  });

  it('fires a schedule at once on trigger, for a manual run', async () => {
    // Prepare
    const timers = new FakeTimers('2026-01-01T09:30:15.000Z');
    const bus = newBus({ timers });
    const events: ScheduledEvent[] = [];
    bus.addSchedule({
      name: 'evidence',
      expression: 'cron(0 2 * * ? *)',
      target: async (e) => void events.push(e),
    });

    // Act
    const event = await bus.trigger('evidence');

    // Assess
    expect(events).toEqual([event]);
    expect(event).toMatchObject({
      time: '2026-01-01T09:30:15Z',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
    });
    expect(bus.history(1)[0]?.matchedRules).toEqual(['evidence']);
  });

  it('retries a failing scheduled target and then hands it to the dead letter', async () => {
    // Prepare
    const bus = newBus();
    let attempts = 0;
    const dead: ScheduledEvent[] = [];
    bus.addSchedule({
      name: 'fails',
      expression: 'rate(1 day)',
      retryAttempts: 1,
      target: async () => {
        attempts += 1;
        throw new Error('no');
      },
      deadLetter: (event) => void dead.push(event),
    });

    // Act
    await bus.trigger('fails');

    // Assess
    expect(attempts).toBe(2);
    expect(dead).toHaveLength(1);
  });

  it('refuses a schedule with an invalid expression', () => {
    // Prepare
    const bus = newBus();

    // Act
    const add = () =>
      bus.addSchedule({ name: 'bad', expression: 'cron(0 2 * * * *)', target: async () => undefined });

    // Assess
    expect(add).toThrow(expect.objectContaining({ name: 'ValidationException' }));
  });
});
