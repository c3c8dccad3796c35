import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertCatalog, type PillarManifest } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { type Synthesized, synthPillars } from './synth.js';

/** A pillar with one function and one schedule (no routes), as compliance's control tests will be. */
const sweeper: PillarManifest = {
  name: 'sweeper',
  description: 'A scheduled function, for this test',
  functions: [{ name: 'sweeper', description: 'Sweeps', entry: 'functions/meta/src/handler.ts' }],
  schedules: [
    {
      id: 'nightly-sweep',
      expression: 'cron(0 3 * * ? *)',
      function: 'sweeper',
      description: 'the nightly sweep',
    },
  ],
};

describe('the catalog’s own schedules', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthPillars(PILLARS);
  });
  afterAll(() => synth?.dispose());

  it('runs the runbook signing key’s age check daily', () => {
    synth.flatApiTemplate.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 day)',
      State: 'ENABLED',
    });
  });
});

describe('a schedule of a manifest', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthPillars([...PILLARS, sweeper]);
  });
  afterAll(() => synth?.dispose());

  it('becomes an EventBridge rule with its expression that invokes its function, with retries', () => {
    // Prepare
    // The sweeper's rule, in the sweeper's nested stack (the catalog has schedules of its own; a
    // workflow's status changes have a rule too, with an event pattern).
    const rules = synth.pillarTemplate('sweeper').findResources('AWS::Events::Rule', {
      Properties: { ScheduleExpression: 'cron(0 3 * * ? *)' },
    });
    const fn = synth.api.functions.sweeper;
    if (!fn) throw new Error('no sweeper function');
    const aliasId = synth.logicalIdOf(fn.alias.node.defaultChild as never);

    // Assess
    expect(Object.values(rules)).toHaveLength(1);
    const rule = Object.values(rules)[0] as { Properties: Record<string, unknown> };
    expect(rule.Properties.ScheduleExpression).toBe('cron(0 3 * * ? *)');
    expect(rule.Properties.State).toBe('ENABLED');
    expect(rule.Properties.Targets).toEqual([
      expect.objectContaining({
        // Its live alias, never $LATEST.
        Arn: { Ref: aliasId },
        RetryPolicy: { MaximumRetryAttempts: 2 },
      }),
    ]);
  });

  it('lets EventBridge, and only it, invoke the function', () => {
    const fn = synth.api.functions.sweeper;
    if (!fn) throw new Error('no sweeper function');
    const permissions = Object.values(
      synth.pillarTemplate('sweeper').findResources('AWS::Lambda::Permission', {
        Properties: { FunctionName: { Ref: synth.logicalIdOf(fn.alias.node.defaultChild as never) } },
      }),
    ) as { Properties: Record<string, unknown> }[];
    expect(
      permissions.map((permission) => [permission.Properties.Action, permission.Properties.Principal]),
    ).toEqual([['lambda:InvokeFunction', 'events.amazonaws.com']]);
  });
});

describe('the catalog check of schedules', () => {
  it('refuses a schedule that invokes a function of another pillar', () => {
    const stray: PillarManifest = {
      ...sweeper,
      schedules: [{ id: 'stray', expression: 'rate(5 minutes)', function: 'router', description: 'x' }],
    };
    expect(() => assertCatalog([...PILLARS, stray])).toThrow(
      "Schedule 'stray' of pillar 'sweeper' invokes 'router', which is not one of its functions",
    );
  });

  it('refuses two schedules with one id', () => {
    const twice: PillarManifest = {
      ...sweeper,
      schedules: [...(sweeper.schedules ?? []), ...(sweeper.schedules ?? [])],
    };
    expect(() => assertCatalog([...PILLARS, twice])).toThrow("Schedule 'nightly-sweep' is declared twice");
  });
});
