import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import type { Expert } from '../../src/domain/experts.js';
import {
  DEFAULT_ROLLBACK_RULE,
  DEFAULT_ROUTER_CONFIG,
  ROUTER_STRATEGIES,
  type RouterConfigInput,
  type StrategyParameters,
} from '../../src/domain/router-config.js';
import { expertRecord, inMemoryRouting } from '../support/routing-fakes.js';

const EXPERTS = ['exp_a', 'exp_b', 'exp_c'];
const expertsOf = async () => {
  const experts = new InMemoryTenantRecords<Expert>('EXPERT');
  for (const id of EXPERTS) await experts.create(expertRecord('acme', id));
  return experts;
};

const parameters = fc.record<StrategyParameters>({
  strategy: fc.constantFrom(...ROUTER_STRATEGIES),
  alpha: fc.double({ min: 0, max: 3, noNaN: true }),
  posteriorScale: fc.double({ min: 0.01, max: 3, noNaN: true }),
  epsilon: fc.double({ min: 0, max: 1, noNaN: true }),
  likelihood: fc.constantFrom('bernoulli', 'gaussian'),
});

const withExperiment = (
  baseline: StrategyParameters,
  experiment: RouterConfigInput['experiment'],
): RouterConfigInput => ({ ...DEFAULT_ROUTER_CONFIG, ...baseline, experiment });

const experiment = (candidate: StrategyParameters, mode: 'shadow' | 'canary', percent: number) => ({
  name: 'exp',
  candidate,
  mode,
  percent,
  stickyBy: 'user' as const,
  rollback: DEFAULT_ROLLBACK_RULE,
  ramp: { auto: false, soakMinutes: 30 },
});

describe('shadow mode', () => {
  it('never changes the answer: with any candidate at 100 %, every route answers what it answers with no experiment', async () => {
    await fc.assert(
      fc.asyncProperty(
        parameters,
        parameters,
        fc.string({ minLength: 1, maxLength: 8 }),
        async (baseline, candidate, lang) => {
          // Prepare: two tenants' worth of identical routers, one with a shadow at 100 %.
          const experts = await expertsOf();
          const plain = inMemoryRouting(experts);
          const shadowed = inMemoryRouting(experts);
          await plain.routerConfig.update('acme', withExperiment(baseline, undefined), undefined, 'admin');
          await shadowed.routerConfig.update(
            'acme',
            withExperiment(baseline, experiment(candidate, 'shadow', 100)),
            undefined,
            'admin',
          );

          // Act
          const request = { taskId: 'task-1', context: { lang }, candidates: EXPERTS };
          const a = await plain.routing.route('acme', request, 'trace');
          const b = await shadowed.routing.route('acme', request, 'trace');

          // Assess
          expect(b).toEqual(a);
          const decision = await shadowed.decisions.get('acme', 'task-1');
          expect(decision?.experiment?.shadow?.strategy).toBe(candidate.strategy);
          expect(decision?.experiment?.shadow?.servedProbability).toBeGreaterThanOrEqual(0);
          expect(decision?.experiment?.shadow?.servedProbability).toBeLessThanOrEqual(1);
          const shadowEvents = shadowed.events.published.filter(
            (e) => e.type === 'route_decision' && (e.detail as { shadow?: boolean }).shadow === true,
          );
          expect(shadowEvents).toHaveLength(1);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('evaluates no route under the kill-switch: the candidate is switched off too', async () => {
    // Prepare
    const { routerConfig, routing, decisions } = inMemoryRouting(await expertsOf());
    await routerConfig.update(
      'acme',
      {
        ...withExperiment(
          DEFAULT_ROUTER_CONFIG,
          experiment({ ...DEFAULT_ROUTER_CONFIG, strategy: 'greedy' }, 'shadow', 100),
        ),
        killSwitch: true,
      },
      undefined,
      'admin',
    );

    // Act
    const answer = await routing.route('acme', { taskId: 't', context: {}, candidates: EXPERTS }, 'trace');

    // Assess
    expect(answer.strategy).toBe('kill_switch');
    expect((await decisions.get('acme', 't'))?.experiment).toBeUndefined();
  });
});

describe('canary serving', () => {
  it('serves the candidate to the same users at the same share, whatever else changes', async () => {
    // Prepare
    const { routerConfig, routing, decisions } = inMemoryRouting(await expertsOf());
    await routerConfig.update(
      'acme',
      withExperiment(
        { ...DEFAULT_ROUTER_CONFIG, strategy: 'static' },
        experiment({ ...DEFAULT_ROUTER_CONFIG, strategy: 'greedy' }, 'canary', 30),
      ),
      undefined,
      'admin',
    );

    // Act: three tasks per user, in different contexts.
    const arms = new Map<string, Set<string>>();
    for (let i = 0; i < 600; i += 1) {
      const userId = `user-${i % 200}`;
      await routing.route(
        'acme',
        { taskId: `t-${i}`, context: { n: i }, candidates: EXPERTS, userId },
        'trace',
      );
      const arm = (await decisions.get('acme', `t-${i}`))?.experiment?.arm as string;
      arms.set(userId, (arms.get(userId) ?? new Set()).add(arm));
    }

    // Assess
    for (const [user, seen] of arms) expect(seen.size, user).toBe(1);
    const candidates = [...arms.values()].filter((seen) => seen.has('candidate')).length;
    expect(Math.abs(candidates - 60)).toBeLessThanOrEqual(4 * Math.sqrt(200 * 0.3 * 0.7));
  });
});

describe('replay jobs', () => {
  /** Logs of an ε = 0.6 router; each decision draws from its own seed unless `seed` says otherwise. */
  const seedLogs = async (seed?: () => number) => {
    let n = 1;
    const routing = inMemoryRouting(await expertsOf(), {
      seed: seed ?? (() => (n = (Math.imul(n, 1_103_515_245) + 12_345) >>> 0)),
    });
    await routing.routerConfig.update(
      'acme',
      { ...DEFAULT_ROUTER_CONFIG, strategy: 'epsilon-greedy', epsilon: 0.6 },
      undefined,
      'admin',
    );
    for (let i = 0; i < 200; i += 1) {
      const answer = await routing.routing.route(
        'acme',
        { taskId: `t-${i}`, context: {}, candidates: EXPERTS },
        'trace',
      );
      routing.replayRewards.set(`t-${i}`, answer.expertId === 'exp_b' ? 1 : 0);
    }
    return routing;
  };
  const range = { from: '2025-12-31T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z' };
  /** A static candidate (always the first candidate, exp_a) against the ε = 0.6 baseline. */
  const staticCandidate = {
    ...range,
    source: 'strategies' as const,
    candidate: { ...DEFAULT_ROUTER_CONFIG, strategy: 'static' as const },
    margin: 0.01,
    confidence: 0.95,
  };

  it('queues a job, runs it once however often it is delivered, and keeps its result', async () => {
    // Prepare
    const { replayJobs, replayQueue } = await seedLogs();

    // Act
    const job = await replayJobs.start('acme', staticCandidate, 'admin');
    const first = await replayJobs.run('acme', job.jobId);
    const again = await replayJobs.run('acme', job.jobId);

    // Assess
    expect(replayQueue).toEqual([{ tenantId: 'acme', jobId: job.jobId }]);
    expect(first?.status, JSON.stringify(first?.error)).toBe('succeeded');
    expect(again).toEqual(first);
    expect(first?.result?.rewarded).toBe(200);
    // static serves exp_a (never right): not worse than an ε = 0.6 baseline is false.
    expect(first?.result?.candidate.snips.value).toBe(0);
    expect(first?.result?.passed).toBe(false);
  });

  it('refuses what it cannot replay before queueing anything', async () => {
    // Prepare
    const { replayJobs, replayQueue } = await seedLogs();
    const request = { ...range, source: 'strategies' as const, margin: 0.01, confidence: 0.95 };

    // Act + Assess
    await expect(
      replayJobs.start('acme', { ...request, from: range.to, to: range.from }, 'a'),
    ).rejects.toMatchObject({ code: 'empty_range' });
    await expect(
      replayJobs.start('acme', { ...request, to: '2026-03-01T00:00:00.000Z' }, 'a'),
    ).rejects.toMatchObject({ code: 'range_too_long' });
    await expect(replayJobs.start('acme', request, 'a')).rejects.toMatchObject({ code: 'no_candidate' });
    await expect(replayJobs.start('acme', { ...request, source: 'shadow' }, 'a')).rejects.toMatchObject({
      code: 'no_shadow_experiment',
    });
    await expect(
      replayJobs.start(
        'acme',
        {
          ...request,
          from: '2020-01-01T00:00:00Z',
          to: '2020-01-02T00:00:00Z',
          candidate: DEFAULT_ROUTER_CONFIG,
        },
        'a',
      ),
    ).rejects.toMatchObject({ code: 'no_logged_decisions', statusCode: 422 });
    await expect(
      replayJobs.start('globex', { ...request, candidate: DEFAULT_ROUTER_CONFIG }, 'a'),
    ).rejects.toMatchObject({ code: 'no_logged_decisions' });
    expect(replayQueue).toEqual([]);
  });

  it('ends failed as not estimable when the candidate never takes a logged action (no overlap)', async () => {
    // Prepare: one seed for every decision: the logger served the same expert each time, never exp_a.
    const { replayJobs, decisions } = await seedLogs(() => 42);
    const served = new Set<string>();
    for (let i = 0; i < 200; i += 1) served.add((await decisions.get('acme', `t-${i}`))?.expertId as string);
    expect(served.has('exp_a')).toBe(false);
    const job = await replayJobs.start('acme', staticCandidate, 'admin');

    // Act
    const ran = await replayJobs.run('acme', job.jobId);

    // Assess
    expect(ran?.status).toBe('failed');
    expect(ran?.error?.code).toBe('not_estimable');
    expect(ran?.error?.message).toContain('effective sample size 0');
  });

  it('ends failed, with its reason, when the range has decisions but no reward', async () => {
    // Prepare
    const { replayJobs, replayRewards } = await seedLogs();
    replayRewards.clear();
    const job = await replayJobs.start(
      'acme',
      { ...range, source: 'strategies', candidate: DEFAULT_ROUTER_CONFIG, margin: 0.01, confidence: 0.95 },
      'admin',
    );

    // Act
    const ran = await replayJobs.run('acme', job.jobId);

    // Assess
    expect(ran).toMatchObject({ status: 'failed', error: { code: 'no_logged_decisions' } });
  });
});
