import { describe, expect, it } from 'vitest';
import {
  type ConductorEvent,
  EVENT_TYPES,
  type EventType,
  parseEvent,
  RecordingPublisher,
} from '#shared/ports/events.js';
import { sampleDetails } from './event-samples.js';

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
] as const;

const without = (detail: object, key: string): Record<string, unknown> => {
  const copy: Record<string, unknown> = { ...detail };
  delete copy[key];
  return copy;
};

describe('event types', () => {
  it.each(DESIGN_EVENT_TYPES)('defines the %s detail type of DESIGN §7', (type) => {
    // Act / Assess
    expect(EVENT_TYPES).toContain(type);
  });

  it.each(EVENT_TYPES)('accepts a complete %s detail', (type) => {
    // Act
    const parsed = parseEvent(type, sampleDetails[type]);

    // Assess
    expect(parsed).toMatchObject({ tenantId: 'acme', traceId: 'trace-0001' });
  });

  it.each(EVENT_TYPES.flatMap((type) => ['tenantId', 'traceId'].map((key) => [type, key] as const)))(
    'refuses a %s detail without %s',
    (type, key) => {
      // Act
      const attempt = () => parseEvent(type, without(sampleDetails[type], key));

      // Assess
      expect(attempt).toThrow(key);
    },
  );

  it.each(EVENT_TYPES.flatMap((type) => ['tenantId', 'traceId'].map((key) => [type, key] as const)))(
    'refuses a %s detail whose %s is empty',
    (type, key) => {
      // Act
      const attempt = () => parseEvent(type, { ...sampleDetails[type], [key]: '' });

      // Assess
      expect(attempt).toThrow(key);
    },
  );

  it('refuses an occurredAt that is not an ISO date-time', () => {
    // Act
    const attempt = () =>
      parseEvent('budget_breach', { ...sampleDetails.budget_breach, occurredAt: 'yesterday' });

    // Assess
    expect(attempt).toThrow('occurredAt');
  });

  it('fills defaults, so a route decision is not a shadow decision unless it says so', () => {
    // Act
    const parsed = parseEvent('route_decision', sampleDetails.route_decision);

    // Assess
    expect(parsed.shadow).toBe(false);
  });

  it('refuses a route decision whose propensity is not a probability', () => {
    // Act
    const attempt = () => parseEvent('route_decision', { ...sampleDetails.route_decision, propensity: 1.5 });

    // Assess
    expect(attempt).toThrow('propensity');
  });
});

describe('RecordingPublisher', () => {
  it('records valid events in the order they were published', async () => {
    // Prepare
    const publisher = new RecordingPublisher();
    const events: ConductorEvent[] = [
      { type: 'budget_breach', detail: sampleDetails.budget_breach },
      { type: 'policy_denied', detail: sampleDetails.policy_denied },
    ];

    // Act
    await publisher.publish(events);

    // Assess
    expect(publisher.published.map((event) => event.type)).toEqual<EventType[]>([
      'budget_breach',
      'policy_denied',
    ]);
  });

  it('refuses an event whose detail does not match its type, as the real publisher would', async () => {
    // Prepare
    const publisher = new RecordingPublisher();
    const mismatched = {
      type: 'budget_breach',
      detail: sampleDetails.policy_denied,
    } as unknown as ConductorEvent;

    // Act
    const attempt = publisher.publish([mismatched]);

    // Assess
    await expect(attempt).rejects.toThrow();
    expect(publisher.published).toEqual([]);
  });
});
