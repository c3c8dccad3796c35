import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas';
import type { ScheduledEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type BusEvent,
  type BusTimers,
  LocalEventBus,
  type LocalEventBusOptions,
  type PutEventsRequestEntry,
} from '../bus.js';
import type { EventPattern } from '../event-pattern.js';
import { EventBridgeError } from '../eventbridge-error.js';

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

describe('LocalEventBus.addRule', () => {
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
