import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PILLARS } from '../../functions/catalog.js';
import { type RunningConductor, startConductor } from '../../infra/local/runtime.js';
import { tickerInvocations, tickerPillar } from './fixtures/ticker.js';

/**
 * A manifest's schedule on the embedded runtime: the local bus holds the same expression as the
 * EventBridge rule the CDK app creates, and firing it invokes the pillar's handler with a Scheduled
 * Event, as EventBridge would. Nothing but the manifest names the new pillar.
 */
describe('the schedules of the manifests on the embedded runtime', () => {
  let conductor: RunningConductor;
  beforeAll(async () => {
    conductor = await startConductor({ memory: true, port: 0, pillars: [...PILLARS, tickerPillar] });
  });
  afterAll(() => conductor?.stop());

  it('are armed on the local bus with their expression', () => {
    // The catalog's own (the compliance sweep, the runbook signing key's daily age check) and the test pillar's.
    expect(Object.keys(conductor.bus.nextFireTimes()).sort()).toEqual([
      'conductor-compliance-sweep',
      'conductor-runbook-key-age',
      'conductor-tick',
    ]);
    expect(conductor.bus.nextFireTimes()['conductor-tick']).toBeInstanceOf(Date);
    expect(conductor.bus.nextFireTimes()['conductor-runbook-key-age']).toBeInstanceOf(Date);
  });

  it("invoke the pillar's function with a Scheduled Event when they fire", async () => {
    // Act
    await conductor.bus.trigger('conductor-tick');

    // Assess
    expect(tickerInvocations).toHaveLength(1);
    expect(tickerInvocations[0]).toMatchObject({
      functionName: 'conductor-ticker',
      event: { source: 'aws.events', 'detail-type': 'Scheduled Event' },
    });
    expect(tickerInvocations[0]?.event.resources[0]).toMatch(/:rule\/conductor-tick$/);
  });
});
