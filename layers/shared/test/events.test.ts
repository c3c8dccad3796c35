import { describe, expect, it } from 'vitest';
import {
  type ConductorEvent,
  defineEvent,
  EventTypes,
  eventOf,
  RecordingPublisher,
  UnknownEventTypeError,
} from '#shared/ports/events.js';
import { EVENT_SAMPLES, sampleOf } from './event-samples.js';

/** The detail types DESIGN §7 names: the telemetry of the product requirements. */
const DESIGN_EVENT_TYPES = [
  'route_decision',
  'reward_ingested',
  'router_canary_rollback',
  'eval_regression',
  'budget_breach',
  'policy_denied',
  'runbook_executed',
  'unsigned_runbook',
  'edge_conflict',
  'control_failed',
  'evidence_stale',
  // Added by an issue since (DESIGN §7 lists the requirements' telemetry; issue 18 asks for this one).
  'router_drift',
  // Issue 20: approval requests are events, so a later notification service can deliver them.
  'approval_requested',
  // Issue 20: a runbook's notify step (a notification service delivers it).
  'runbook_notification',
] as const;

const ALL = new EventTypes(EVENT_SAMPLES.map((s) => s.definition));

const without = (detail: object, key: string): Record<string, unknown> => {
  const copy: Record<string, unknown> = { ...detail };
  delete copy[key];
  return copy;
};

const parse = (type: string, detail: Readonly<Record<string, unknown>>) => ALL.parse({ type, detail });

describe('event types', () => {
  it('are the detail types of DESIGN §7, each defined once, by the contract of its pillar (policy_denied by the kernel)', () => {
    // Act / Assess
    expect([...ALL.types].sort()).toEqual([...DESIGN_EVENT_TYPES].sort());
  });

  it.each(EVENT_SAMPLES.map((s) => s.definition.type))('accepts a complete %s detail', (type) => {
    // Act
    const parsed = parse(type, sampleOf(type).detail);

    // Assess
    expect(parsed).toMatchObject({ tenantId: 'acme', traceId: 'trace-0001' });
  });

  const envelopeCases = EVENT_SAMPLES.flatMap((s) =>
    ['tenantId', 'traceId'].map((key) => [s.definition.type, key] as const),
  );

  it.each(envelopeCases)('refuses a %s detail without %s', (type, key) => {
    // Act
    const attempt = () => parse(type, without(sampleOf(type).detail, key));

    // Assess
    expect(attempt).toThrow(key);
  });

  it.each(envelopeCases)('refuses a %s detail whose %s is empty', (type, key) => {
    // Act
    const attempt = () => parse(type, { ...sampleOf(type).detail, [key]: '' });

    // Assess
    expect(attempt).toThrow(key);
  });

  it('refuses an occurredAt that is not an ISO date-time', () => {
    // Act
    const attempt = () =>
      parse('budget_breach', { ...sampleOf('budget_breach').detail, occurredAt: 'yesterday' });

    // Assess
    expect(attempt).toThrow('occurredAt');
  });

  it('fills defaults, so a route decision is not a shadow decision unless it says so', () => {
    // Act
    const parsed = parse('route_decision', sampleOf('route_decision').detail);

    // Assess
    expect(parsed.shadow).toBe(false);
  });

  it('refuses a route decision whose propensity is not a probability', () => {
    // Act
    const attempt = () => parse('route_decision', { ...sampleOf('route_decision').detail, propensity: 1.5 });

    // Assess
    expect(attempt).toThrow('propensity');
  });

  it('refuses a type the function was not given, naming the ones it has', () => {
    // Prepare
    const types = new EventTypes([sampleOf('reward_ingested').definition]);

    // Act
    const attempt = () => types.parse({ type: 'route_decision', detail: sampleOf('route_decision').detail });

    // Assess
    expect(attempt).toThrow(UnknownEventTypeError);
    expect(attempt).toThrow('reward_ingested');
  });

  it('refuses two different definitions of one type', () => {
    // Prepare
    const twin = defineEvent('reward_ingested', {});

    // Act / Assess
    expect(() => new EventTypes([sampleOf('reward_ingested').definition, twin])).toThrow('defined twice');
  });
});

describe('RecordingPublisher', () => {
  it('records valid events in the order they were published', async () => {
    // Prepare
    const publisher = new RecordingPublisher(ALL);
    const events: ConductorEvent[] = [
      eventOf(sampleOf('budget_breach').definition, sampleOf('budget_breach').detail),
      eventOf(sampleOf('policy_denied').definition, sampleOf('policy_denied').detail),
    ];

    // Act
    await publisher.publish(events);

    // Assess
    expect(publisher.published.map((event) => event.type)).toEqual(['budget_breach', 'policy_denied']);
  });

  it('refuses an event whose detail does not match its type, as the real publisher would', async () => {
    // Prepare
    const publisher = new RecordingPublisher(ALL);
    const mismatched: ConductorEvent = { type: 'budget_breach', detail: sampleOf('policy_denied').detail };

    // Act
    const attempt = publisher.publish([mismatched]);

    // Assess
    await expect(attempt).rejects.toThrow();
    expect(publisher.published).toEqual([]);
  });
});
