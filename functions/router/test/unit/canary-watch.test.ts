import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '#shared/ports/system.js';
import {
  type ArmCounts,
  CANARY_WATCH_SUBJECT,
  EMPTY_COUNTS,
  minuteOf,
  nextCanaryStep,
  rollbackVerdict,
  windowMinutes,
} from '../../src/domain/canary-watch.js';
import {
  DEFAULT_ROLLBACK_RULE,
  DEFAULT_ROUTER_CONFIG,
  type RouterConfigInput,
} from '../../src/domain/router-config.js';
import { inMemoryRouting } from '../support/routing-fakes.js';

const counts = (outcomes: number, errors: number): ArmCounts => ({
  ...EMPTY_COUNTS,
  outcomes,
  errors,
  latencyMsSum: outcomes * 100,
});
const rule = DEFAULT_ROLLBACK_RULE;

describe('the rollback rule', () => {
  it('rolls back when the candidate fails above its threshold while the baseline stays under its ceiling', () => {
    // Act
    const verdict = rollbackVerdict({ baseline: counts(500, 2), candidate: counts(40, 4) }, rule);

    // Assess
    expect(verdict).toMatchObject({
      rollback: true,
      candidateErrorRate: 0.1,
      baselineErrorRate: 0.004,
      candidateOutcomes: 40,
    });
    expect(verdict.reason).toContain('10.0 %');
  });

  it('holds back without enough candidate outcomes, within the threshold, or when the baseline fails too', () => {
    // Act
    const few = rollbackVerdict({ baseline: counts(500, 0), candidate: counts(19, 19) }, rule);
    const within = rollbackVerdict({ baseline: counts(500, 0), candidate: counts(100, 5) }, rule);
    const outage = rollbackVerdict({ baseline: counts(500, 5), candidate: counts(100, 50) }, rule);

    // Assess
    expect(few.rollback).toBe(false);
    expect(few.reason).toContain('20 needed');
    expect(within.rollback).toBe(false);
    expect(outage.rollback).toBe(false);
    expect(outage.reason).toContain('not the candidate');
  });

  it('is exactly: enough outcomes, candidate rate above the threshold, baseline rate below its ceiling', () => {
    fc.assert(
      fc.property(
        fc.nat(200),
        fc.nat(200),
        fc.nat(200),
        fc.nat(200),
        (bOutcomes, bErrorsRaw, cOutcomes, cErrorsRaw) => {
          const bErrors = Math.min(bErrorsRaw, bOutcomes);
          const cErrors = Math.min(cErrorsRaw, cOutcomes);
          const verdict = rollbackVerdict(
            { baseline: counts(bOutcomes, bErrors), candidate: counts(cOutcomes, cErrors) },
            rule,
          );
          const bRate = bOutcomes === 0 ? 0 : bErrors / bOutcomes;
          const cRate = cOutcomes === 0 ? 0 : cErrors / cOutcomes;
          expect(verdict.rollback).toBe(
            cOutcomes >= rule.minOutcomes && cRate > rule.errorRate && bRate < rule.baselineErrorRate,
          );
        },
      ),
    );
  });

  it('counts a window of whole minutes: the one it starts in to the current one', () => {
    // Act
    const at = new Date('2026-01-01T00:10:30.000Z');
    const window = windowMinutes(at, 300);

    // Assess
    expect(window.to).toBe(minuteOf(at));
    expect(window.to - window.from).toBe(5);
    expect(nextCanaryStep(0)).toBe(5);
    expect(nextCanaryStep(5)).toBe(25);
    expect(nextCanaryStep(10)).toBe(25);
    expect(nextCanaryStep(25)).toBe(100);
    expect(nextCanaryStep(100)).toBeUndefined();
  });
});

/** A static baseline with a greedy candidate in canary at `percent` (rule: 3 outcomes). */
const canary = (
  percent: number,
  extra: Partial<NonNullable<RouterConfigInput['experiment']>> = {},
): RouterConfigInput => ({
  ...DEFAULT_ROUTER_CONFIG,
  strategy: 'static',
  experiment: {
    name: 'exp',
    candidate: { strategy: 'greedy', alpha: 0.5, epsilon: 0.1, likelihood: 'bernoulli' },
    mode: 'canary',
    percent,
    stickyBy: 'user',
    rollback: { ...rule, minOutcomes: 3 },
    ramp: { auto: false, soakMinutes: 10 },
    ...extra,
  },
});

describe('the canary watch', () => {
  it('forgets errors older than the window: they cannot roll back a canary that is healthy now', async () => {
    // Prepare
    const clock = new ManualClock('2026-01-01T00:00:00.000Z');
    const { routerConfig, canaryWatch } = inMemoryRouting(undefined, { clock });
    await routerConfig.update('acme', canary(10), undefined, 'admin');
    await canaryWatch.record('acme', 'exp', 'candidate', { error: true, latencyMs: 1 }, 't');
    await canaryWatch.record('acme', 'exp', 'candidate', { error: true, latencyMs: 1 }, 't');

    // Act: seven minutes later, one more error: 1 of 1 in the window, below minOutcomes (3).
    clock.advance(7 * 60_000);
    const action = await canaryWatch.record('acme', 'exp', 'candidate', { error: true, latencyMs: 1 }, 't');

    // Assess
    expect(action.kind).toBe('none');
    expect((await routerConfig.get('acme')).experiment?.percent).toBe(10);
  });

  it('rolls back once however many outcomes find the rule holding at once, and records who and why', async () => {
    // Prepare
    const { routerConfig, canaryWatch, events } = inMemoryRouting();
    await routerConfig.update('acme', canary(25), undefined, 'admin');
    for (let i = 0; i < 3; i += 1)
      await canaryWatch.record('acme', 'exp', 'baseline', { error: false, latencyMs: 1 }, 't');

    // Act: outcomes arrive concurrently after the rule already holds.
    const actions = await Promise.all(
      Array.from({ length: 6 }, () =>
        canaryWatch.record('acme', 'exp', 'candidate', { error: true, latencyMs: 1 }, 't'),
      ),
    );

    // Assess
    expect(actions.filter((a) => a.kind === 'rolled_back')).toHaveLength(1);
    const config = await routerConfig.get('acme');
    expect(config.experiment?.percent).toBe(0);
    expect(config.updatedBy).toBe(CANARY_WATCH_SUBJECT);
    const history = await routerConfig.history('acme');
    expect(history.items[0]?.reason).toMatch(/^canary rollback: candidate error rate 100.0 %/);
    expect(events.published.filter((e) => e.type === 'router_canary_rollback')).toHaveLength(1);
  });

  it('keeps the rollback record while the share stays at 0, and clears it when an admin raises the share', async () => {
    // Prepare
    const { routerConfig, canaryWatch } = inMemoryRouting();
    await routerConfig.update('acme', canary(5), undefined, 'admin');
    for (let i = 0; i < 3; i += 1)
      await canaryWatch.record('acme', 'exp', 'candidate', { error: true, latencyMs: 1 }, 't');
    const rolledBack = await routerConfig.get('acme');

    // Act
    const stillZero = await routerConfig.update(
      'acme',
      { ...canary(0), killSwitch: true },
      undefined,
      'admin',
    );
    const restarted = await routerConfig.update('acme', canary(5), undefined, 'admin');

    // Assess
    expect(rolledBack.experiment?.rolledBack?.candidateOutcomes).toBe(3);
    expect(stillZero.experiment?.rolledBack).toEqual(rolledBack.experiment?.rolledBack);
    expect(restarted.experiment?.rolledBack).toBeUndefined();
    expect(restarted.experiment?.percent).toBe(5);
  });

  it('does not ramp before the soak, nor without enough outcomes, nor when the ramp is manual', async () => {
    // Prepare
    const clock = new ManualClock('2026-01-01T00:00:00.000Z');
    const manual = inMemoryRouting(undefined, { clock });
    const auto = inMemoryRouting(undefined, { clock });
    await manual.routerConfig.update('acme', canary(5), undefined, 'admin');
    await auto.routerConfig.update(
      'acme',
      canary(5, { ramp: { auto: true, soakMinutes: 10 } }),
      undefined,
      'admin',
    );

    // Act
    const early = [];
    for (let i = 0; i < 3; i += 1)
      early.push(
        (await auto.canaryWatch.record('acme', 'exp', 'candidate', { error: false, latencyMs: 1 }, 't')).kind,
      );
    clock.advance(10 * 60_000);
    const late = async (watch: typeof auto) => {
      const actions = [];
      for (let i = 0; i < 3; i += 1)
        actions.push(
          await watch.canaryWatch.record('acme', 'exp', 'candidate', { error: false, latencyMs: 1 }, 't'),
        );
      return actions;
    };
    const manualLate = await late(manual);
    const autoLate = await late(auto);

    // Assess: soaked, the third healthy outcome in the window (minOutcomes) steps 5 -> 25 %.
    expect(early).toEqual(['none', 'none', 'none']);
    expect(manualLate.map((a) => a.kind)).toEqual(['none', 'none', 'none']);
    expect(autoLate).toEqual([{ kind: 'none' }, { kind: 'none' }, { kind: 'ramped', percent: 25 }]);
    expect((await auto.routerConfig.get('acme')).experiment?.stepStartedAt).toBe(clock.now().toISOString());
  });
});

describe('the rollback rule on rewards', () => {
  const withRewards = (rewards: readonly number[]): ArmCounts => ({
    ...EMPTY_COUNTS,
    rewards: rewards.length,
    rewardSum: rewards.reduce((sum, r) => sum + r, 0),
    rewardSumSquares: rewards.reduce((sum, r) => sum + r * r, 0),
  });
  const bernoulli = (n: number, p: number) =>
    Array.from({ length: n }, (_, i) => (i < Math.round(n * p) ? 1 : 0));

  it('rolls back when the candidate earns less than the baseline by more than the tolerance, with confidence', () => {
    // Act
    const verdict = rollbackVerdict(
      { baseline: withRewards(bernoulli(100, 0.8)), candidate: withRewards(bernoulli(100, 0.4)) },
      rule,
    );

    // Assess
    expect(verdict.rollback).toBe(true);
    expect(verdict.reason).toMatch(
      /candidate mean reward 0.400 over 100, baseline 0.800 over 100: below the baseline/,
    );
  });

  it('holds when the gap is within the tolerance, not significant, or the arms have too few rewards', () => {
    // Act
    const within = rollbackVerdict(
      { baseline: withRewards(bernoulli(400, 0.8)), candidate: withRewards(bernoulli(400, 0.77)) },
      rule,
    );
    const noisy = rollbackVerdict(
      { baseline: withRewards(bernoulli(20, 0.7)), candidate: withRewards(bernoulli(20, 0.5)) },
      rule,
    );
    const few = rollbackVerdict(
      { baseline: withRewards(bernoulli(19, 1)), candidate: withRewards(bernoulli(19, 0)) },
      rule,
    );

    // Assess
    expect(within.rollback).toBe(false);
    expect(within.reason).toContain('not shown worse');
    expect(noisy.rollback).toBe(false);
    expect(few.rollback).toBe(false);
    expect(few.reason).not.toContain('mean reward');
  });

  it('counts the rewards of canary decisions per arm and rolls back from the reward side', async () => {
    // Prepare
    const { routerConfig, canaryWatch, events } = inMemoryRouting();
    await routerConfig.update(
      'acme',
      canary(10, { rollback: { ...rule, minOutcomes: 30 } }),
      undefined,
      'admin',
    );
    const decisionOf = (arm: 'baseline' | 'candidate') =>
      ({ experiment: { name: 'exp', mode: 'canary', arm } }) as never;
    const applied = (arm: 'baseline' | 'candidate', rewards: readonly number[]) =>
      rewards.map((reward) => ({ tenantId: 'acme', decision: decisionOf(arm), reward, traceId: 't' }));

    // Act
    const first = await canaryWatch.recordApplied([
      ...applied('baseline', bernoulli(30, 0.9)),
      ...applied('candidate', bernoulli(29, 0.1)),
    ]);
    const second = await canaryWatch.recordApplied(applied('candidate', [0]));

    // Assess
    expect(first.map((a) => a.kind)).toEqual(['none', 'none']);
    expect(second).toEqual([{ kind: 'rolled_back', verdict: expect.objectContaining({ rollback: true }) }]);
    expect((await routerConfig.get('acme')).experiment?.percent).toBe(0);
    expect(events.published.filter((e) => e.type === 'router_canary_rollback')).toHaveLength(1);
  });
});
