import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelExpert, expectUniformError, type Harness, startHarness } from './harness.js';

/**
 * Router part 2 over HTTP on the embedded runtime: experiments as data (shadow and canary), the
 * shadow's logged decisions and events, sticky canary serving, outcomes and automatic rollback.
 */
let h: Harness;
let admin: string;
let operator: string;
let viewer: string;
const experts: string[] = [];

const createExpert = (token: string, name: string): Promise<string> => createModelExpert(h, token, name);

const putConfig = (body: unknown, token = admin) => h.call('PUT', '/router/config', { token, body });
const route = (body: Record<string, unknown>, token = operator) =>
  h.call('POST', '/router/route', { token, body: { context: { lang: 'ts' }, candidates: experts, ...body } });

const routeDecisionEvents = (taskId: string) =>
  h.conductor.bus
    .history(500)
    .map((entry) => entry.event)
    .filter(
      (event) =>
        event['detail-type'] === 'route_decision' && (event.detail as { taskId?: string }).taskId === taskId,
    )
    .map(
      (event) => event.detail as { expertId: string; strategy: string; shadow: boolean; propensity: number },
    );

beforeAll(async () => {
  h = await startHarness();
  admin = h.tokens.acmeAdmin ?? '';
  operator = h.tokens.acmeOperator ?? '';
  viewer = h.tokens.acmeViewer ?? '';
  for (const name of ['exp-a', 'exp-b', 'exp-c', 'exp-d']) experts.push(await createExpert(admin, name));
});
afterAll(async () => {
  await h.conductor.stop();
});

describe('experiments as data', () => {
  it('stores an experiment in the router configuration, audited in its history', async () => {
    // Act
    const put = await putConfig({
      strategy: 'static',
      defaultExpertId: experts[0],
      experiment: {
        name: 'greedy-try',
        candidate: { strategy: 'epsilon-greedy', epsilon: 0.5 },
        mode: 'shadow',
        percent: 40,
      },
    });
    const history = await h.call('GET', '/router/config/history', { token: admin });

    // Assess
    expect(put.status, put.text).toBe(200);
    expect(put.json.experiment).toMatchObject({
      name: 'greedy-try',
      candidate: { strategy: 'epsilon-greedy', epsilon: 0.5, alpha: 0.5, likelihood: 'bernoulli' },
      mode: 'shadow',
      percent: 40,
      stickyBy: 'user',
      rollback: { errorRate: 0.05, baselineErrorRate: 0.01, windowSeconds: 300, minOutcomes: 20 },
      ramp: { auto: false },
      stepStartedAt: expect.any(String),
    });
    expect(history.json.items[0].config.experiment.name).toBe('greedy-try');
    expect(history.json.items[0].changedBy).toMatch(/^test-acme/);
  });

  it('refuses a bad experiment with a 4xx in the uniform shape and changes nothing', async () => {
    // Prepare
    const before = await h.call('GET', '/router/config', { token: admin });
    const experiment = { name: 'bad', candidate: { strategy: 'thompson' }, mode: 'canary', percent: 5 };

    // Act
    const replies = {
      unknownStrategy: await putConfig({
        strategy: 'static',
        experiment: { ...experiment, candidate: { strategy: 'oracle' } },
      }),
      alphaOutOfRange: await putConfig({
        strategy: 'static',
        experiment: { ...experiment, candidate: { strategy: 'linucb', alpha: 1000 } },
      }),
      percentAbove: await putConfig({ strategy: 'static', experiment: { ...experiment, percent: 101 } }),
      percentBelow: await putConfig({ strategy: 'static', experiment: { ...experiment, percent: -1 } }),
      unknownMode: await putConfig({ strategy: 'static', experiment: { ...experiment, mode: 'blue-green' } }),
      badName: await putConfig({ strategy: 'static', experiment: { ...experiment, name: 'Has Spaces' } }),
      linucbTooWide: await putConfig({
        strategy: 'static',
        dimension: 128,
        experiment: { ...experiment, candidate: { strategy: 'linucb' } },
      }),
      gateWithoutJob: await putConfig({ strategy: 'static', requireReplayGate: true, experiment }),
    };
    const after = await h.call('GET', '/router/config', { token: admin });

    // Assess
    for (const key of [
      'unknownStrategy',
      'alphaOutOfRange',
      'percentAbove',
      'percentBelow',
      'unknownMode',
      'badName',
    ] as const) {
      expectUniformError(replies[key], 400, 'validation_failed');
    }
    expectUniformError(replies.linucbTooWide, 422, 'dimension_too_large');
    expectUniformError(replies.gateWithoutJob, 422, 'replay_gate');
    expect(after.json).toEqual(before.json);
  });

  it('needs the same step-up as any configuration change', async () => {
    // Prepare
    const withoutMfa = await h.conductor.issuer.mint({
      subject: 'admin-no-mfa',
      tenant: 'acme',
      roles: ['tenant-admin'],
    });

    // Act
    const reply = await putConfig(
      {
        strategy: 'static',
        experiment: { name: 'x', candidate: { strategy: 'greedy' }, mode: 'canary', percent: 5 },
      },
      withoutMfa,
    );

    // Assess
    expectUniformError(reply, 403);
    expect(reply.text).toContain('step_up');
  });
});

describe('shadow', () => {
  it('at 100 %: every answer is the baseline’s, the candidate’s pick is logged and published as a shadow route_decision within 500 ms', async () => {
    // Prepare: a static baseline (always experts[0]) and a candidate that explores half the time.
    const put = await putConfig({
      strategy: 'static',
      defaultExpertId: experts[0],
      experiment: {
        name: 'shadow-all',
        candidate: { strategy: 'epsilon-greedy', epsilon: 0.9 },
        mode: 'shadow',
        percent: 100,
      },
    });
    expect(put.status, put.text).toBe(200);

    for (let i = 0; i < 20; i += 1) {
      // Act
      const taskId = `shadow-${i}`;
      const reply = await route({ taskId });
      const answeredAt = Date.now();
      let events = routeDecisionEvents(taskId);
      while (events.length < 2 && Date.now() - answeredAt < 500) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        events = routeDecisionEvents(taskId);
      }

      // Assess
      expect(reply.status, reply.text).toBe(200);
      expect(reply.json.expertId).toBe(experts[0]);
      expect(reply.json.strategy).toBe('static');
      const served = events.find((event) => !event.shadow);
      const shadow = events.find((event) => event.shadow);
      expect(served?.expertId).toBe(experts[0]);
      expect(shadow, `no shadow route_decision for ${taskId} within 500 ms`).toBeDefined();
      expect(shadow?.strategy).toBe('epsilon-greedy');
      expect(shadow?.propensity).toBeGreaterThan(0);
      const rationale = await h.call('GET', `/router/rationale/${reply.json.rationaleId}`, { token: viewer });
      expect(rationale.json.experiment).toMatchObject({
        name: 'shadow-all',
        mode: 'shadow',
        shadow: { expertId: shadow?.expertId, strategy: 'epsilon-greedy', modelKey: 'running-means' },
      });
      expect(rationale.json.experiment.shadow.servedProbability).toBeGreaterThan(0);
    }
  });

  it('at 0 %: no route is evaluated by the candidate', async () => {
    // Prepare
    await putConfig({
      strategy: 'static',
      defaultExpertId: experts[0],
      experiment: { name: 'shadow-none', candidate: { strategy: 'greedy' }, mode: 'shadow', percent: 0 },
    });

    // Act
    const reply = await route({ taskId: 'shadow-none-1' });

    // Assess
    expect(reply.json.expertId).toBe(experts[0]);
    expect(routeDecisionEvents('shadow-none-1').filter((event) => event.shadow)).toHaveLength(0);
    const rationale = await h.call('GET', `/router/rationale/${reply.json.rationaleId}`, { token: viewer });
    expect(rationale.json.experiment).toEqual({ name: 'shadow-none', mode: 'shadow' });
  });
});

const outcome = (body: Record<string, unknown>, token = operator) =>
  h.call('POST', '/router/outcome', { token, body: { status: 'ok', latencyMs: 120, ...body } });

/** A canary of `percent` % of users, candidate greedy (answers `strategy: 'greedy'`), baseline static. */
const startCanary = async (name: string, percent: number, extra: Record<string, unknown> = {}) => {
  const put = await putConfig({
    strategy: 'static',
    defaultExpertId: experts[0],
    experiment: {
      name,
      candidate: { strategy: 'greedy' },
      mode: 'canary',
      percent,
      stickyBy: 'user',
      rollback: { minOutcomes: 20 },
      ...extra,
    },
  });
  expect(put.status, put.text).toBe(200);
};

describe('canary', () => {
  it('serves the candidate to its share of users, the same arm for the same user every time', async () => {
    // Prepare
    await startCanary('sticky-10', 10);
    const users = Array.from({ length: 300 }, (_, i) => `user-${i}`);

    // Act: two tasks per user.
    const arms = new Map<string, string[]>();
    for (const [round, user] of [
      ...users.map((u) => [0, u] as const),
      ...users.map((u) => [1, u] as const),
    ]) {
      const reply = await route({ taskId: `sticky-${round}-${user}`, userId: user });
      expect(reply.status, reply.text).toBe(200);
      arms.set(user, [...(arms.get(user) ?? []), reply.json.strategy]);
    }

    // Assess: sticky, and the candidate's share of users within 4 standard deviations of 10 %.
    for (const [user, seen] of arms) expect(new Set(seen).size, user).toBe(1);
    const candidates = [...arms.values()].filter((seen) => seen[0] === 'greedy').length;
    const sd = Math.sqrt(users.length * 0.1 * 0.9);
    expect(Math.abs(candidates - users.length * 0.1)).toBeLessThanOrEqual(4 * sd);
    expect(candidates).toBeGreaterThan(0);
  });

  it('rolls the candidate back to 0 % when its error rate passes 5 % over the window while the baseline stays under 1 %, and publishes router_canary_rollback', async () => {
    // Prepare
    await startCanary('rollback-10', 10);
    const served: { taskId: string; arm: string }[] = [];
    for (let i = 0; i < 400; i += 1) {
      const reply = await route({ taskId: `rb-${i}`, userId: `rb-user-${i}` });
      served.push({ taskId: `rb-${i}`, arm: reply.json.strategy === 'greedy' ? 'candidate' : 'baseline' });
    }
    const candidateTasks = served.filter((s) => s.arm === 'candidate');
    expect(candidateTasks.length).toBeGreaterThanOrEqual(20);

    // Act: the baseline's calls all succeed; the candidate's fail.
    for (const s of served.filter((s) => s.arm === 'baseline')) {
      const reply = await outcome({ taskId: s.taskId });
      expect(reply.status, reply.text).toBe(200);
      expect(reply.json.arm).toBe('baseline');
    }
    const actions: string[] = [];
    for (const s of candidateTasks) {
      const reply = await outcome({ taskId: s.taskId, status: 'error' });
      expect(reply.json.arm).toBe('candidate');
      actions.push(reply.json.canary);
    }

    // Assess: rolled back at the 20th candidate outcome (the window's minimum), exactly once.
    expect(actions.indexOf('rolled_back')).toBe(19);
    expect(actions.filter((a) => a === 'rolled_back')).toHaveLength(1);
    const config = await h.call('GET', '/router/config', { token: admin });
    expect(config.json.experiment.percent).toBe(0);
    expect(config.json.experiment.rolledBack).toMatchObject({
      candidateErrorRate: 1,
      baselineErrorRate: 0,
      candidateOutcomes: 20,
    });
    const history = await h.call('GET', '/router/config/history', { token: admin });
    expect(history.json.items[0]).toMatchObject({
      changedBy: 'conductor:canary-watch',
      reason: expect.stringContaining('canary rollback: candidate error rate 100.0 %'),
    });
    const rollbacks = h.conductor.bus
      .history(500)
      .map((entry) => entry.event)
      .filter((event) => event['detail-type'] === 'router_canary_rollback');
    expect(rollbacks).toHaveLength(1);
    expect(rollbacks[0]?.detail).toMatchObject({ tenantId: 'acme', canaryId: 'rollback-10', errorRate: 1 });
    // Candidate traffic is at 0 %: every user, even those the candidate served, gets the baseline.
    for (const s of candidateTasks.slice(0, 10)) {
      const reply = await route({ taskId: `${s.taskId}-after`, userId: `rb-user-${s.taskId.slice(3)}` });
      expect(reply.json.strategy).toBe('static');
    }
    const status = await h.call('GET', '/router/experiment', { token: viewer });
    expect(status.status, status.text).toBe(200);
    expect(status.json.window.candidate).toMatchObject({ outcomes: candidateTasks.length, errorRate: 1 });
  });

  it('does not blame the candidate when the baseline fails as much (every expert down)', async () => {
    // Prepare
    await startCanary('outage-10', 10);
    const served: { taskId: string; candidate: boolean }[] = [];
    for (let i = 0; i < 300; i += 1) {
      const reply = await route({ taskId: `out-${i}`, userId: `out-user-${i}` });
      served.push({ taskId: `out-${i}`, candidate: reply.json.strategy === 'greedy' });
    }

    // Act: every call fails, on both arms.
    const actions = [];
    for (const s of served)
      actions.push((await outcome({ taskId: s.taskId, status: 'timeout' })).json.canary);

    // Assess
    expect(actions).not.toContain('rolled_back');
    const status = await h.call('GET', '/router/experiment', { token: viewer });
    expect(status.json.experiment.percent).toBe(10);
    expect(status.json.verdict).toMatchObject({
      rollback: false,
      reason: expect.stringContaining('not the candidate'),
    });
  });

  it('ramps 5 -> 25 % by itself once the step soaked with enough healthy outcomes (controllable clock)', async () => {
    // Prepare
    await startCanary('ramp-auto', 5, {
      stickyBy: 'session',
      ramp: { auto: true, soakMinutes: 10 },
      rollback: { minOutcomes: 5 },
    });
    const candidateTasks: string[] = [];
    for (let i = 0; candidateTasks.length < 6 && i < 2_000; i += 1) {
      const reply = await route({ taskId: `ramp-${i}`, sessionId: `ramp-session-${i}` });
      if (reply.json.strategy === 'greedy') candidateTasks.push(`ramp-${i}`);
    }
    const early = await outcome({ taskId: candidateTasks[0] });

    // Act: 10 minutes later (the clock moved, nobody waited), healthy outcomes keep coming.
    h.conductor.advanceClock(10 * 60_000 + 1_000);
    const late = [];
    for (const taskId of candidateTasks.slice(1)) late.push((await outcome({ taskId })).json.canary);

    // Assess
    expect(early.json.canary).toBe('none');
    expect(late).toContain('ramped');
    const config = await h.call('GET', '/router/config', { token: admin });
    expect(config.json.experiment.percent).toBe(25);
    const history = await h.call('GET', '/router/config/history', { token: admin });
    expect(history.json.items[0].reason).toMatch(/^automatic ramp 5 % -> 25 %/);
  });
});

describe('outcomes', () => {
  it('refuses bad input with a 4xx and changes nothing: unknown task 404, bad status or latency 400', async () => {
    // Act
    const unknown = await outcome({ taskId: 'never-routed' });
    const badStatus = await outcome({ taskId: 'shadow-1', status: 'maybe' });
    const badLatency = await outcome({ taskId: 'shadow-1', latencyMs: -5 });
    const otherTenant = await outcome({ taskId: 'shadow-1' }, h.tokens.globexAdmin);
    const viewerCall = await outcome({ taskId: 'shadow-1' }, viewer);
    const first = await outcome({ taskId: 'shadow-1', status: 'error', latencyMs: 50 });

    // Assess
    expectUniformError(unknown, 404, 'unknown_task');
    expectUniformError(badStatus, 400, 'validation_failed');
    expectUniformError(badLatency, 400, 'validation_failed');
    expectUniformError(otherTenant, 404, 'unknown_task');
    expectUniformError(viewerCall, 403);
    expect(first.status, first.text).toBe(200);
    expect(first.json).toMatchObject({
      taskId: 'shadow-1',
      status: 'error',
      latencyMs: 50,
      duplicate: false,
    });
  });

  it('keeps the first report of a task: a second one is answered with it and counted once', async () => {
    // Act
    const first = await outcome({ taskId: 'shadow-2', status: 'ok', latencyMs: 10 });
    const second = await outcome({ taskId: 'shadow-2', status: 'error', latencyMs: 99 });

    // Assess
    expect(first.json.duplicate).toBe(false);
    expect(second.status).toBe(200);
    expect(second.json).toMatchObject({ status: 'ok', latencyMs: 10, duplicate: true });
  });
});

describe('off-policy replay', () => {
  // The rewards, then the replay jobs (the decision archive's batching window is not waited for).
  const drain = async () => {
    for (const queue of ['conductor-rewards', 'conductor-replay'])
      await h.conductor.mappings.get(queue)?.drain();
  };
  let from = '';
  let to = '';
  const good = () => experts[1] as string;

  it('estimates a candidate on the logged decisions of a range, asynchronously, with IPS, SNIPS, DR and the verdict', async () => {
    // Prepare: an exploring baseline logs decisions; the second expert is always right, the others never.
    // The range is wide: an earlier test moved the runtime's clock forward. Only these decisions get rewards.
    from = new Date(Date.now() - 3_600_000).toISOString();
    const put = await putConfig({ strategy: 'epsilon-greedy', epsilon: 0.5 });
    expect(put.status, put.text).toBe(200);
    for (let i = 0; i < 120; i += 1) {
      const taskId = `replay-${i}`;
      const reply = await route({ taskId, context: { lang: i % 2 === 0 ? 'ts' : 'go' } });
      expect(reply.status, reply.text).toBe(200);
      const reward = await h.call('POST', '/router/reward', {
        token: operator,
        body: { taskId, signal: 'success_at_k', value: reply.json.expertId === good() ? 1 : 0 },
      });
      expect(reward.status, reward.text).toBe(202);
    }
    await drain();
    to = new Date(Date.now() + 3_600_000).toISOString();

    // Act
    const started = await h.call('POST', '/router/replay', {
      token: admin,
      body: { from, to, candidate: { strategy: 'greedy' } },
    });
    await drain();
    const job = await h.call('GET', `/router/replay/${started.json.jobId}`, { token: viewer });

    // Assess
    expect(started.status, started.text).toBe(202);
    expect(started.headers.get('location')).toMatch(/\/router\/replay\/rpl_/);
    expect(started.json.status).toBe('queued');
    expect(job.status, job.text).toBe(200);
    expect(job.json.status, JSON.stringify(job.json.error)).toBe('succeeded');
    const result = job.json.result;
    expect(result.rewarded).toBe(120);
    expect(result.candidate.n).toBe(120);
    // Greedy on the learnt means picks the right expert: worth ~1, the ε = 0.5 baseline much less.
    expect(result.candidate.snips.value).toBeGreaterThan(0.9);
    expect(result.baseline.snips.value).toBeLessThan(0.9);
    expect(result.candidate.doublyRobust.low).toBeLessThanOrEqual(result.candidate.doublyRobust.value);
    expect(result.candidate.effectiveSampleSize).toBeGreaterThan(0);
    expect(result.passed).toBe(true);
    expect(result.evaluatedPerSecond).toBeGreaterThan(0);
  });

  it('gates a canary on a replay that found the candidate not worse, when the tenant requires it', async () => {
    // Prepare: one replay of a good candidate, one of a bad one (always the first expert, never right).
    const replayOf = async (candidate: Record<string, unknown>) => {
      const started = await h.call('POST', '/router/replay', { token: admin, body: { from, to, candidate } });
      expect(started.status, started.text).toBe(202);
      await drain();
      return started.json.jobId as string;
    };
    const goodJob = await replayOf({ strategy: 'greedy' });
    const badJob = await replayOf({ strategy: 'static' });
    const config = (candidate: Record<string, unknown>, replayJobId: string) => ({
      strategy: 'epsilon-greedy',
      epsilon: 0.5,
      defaultExpertId: experts[0],
      requireReplayGate: true,
      experiment: { name: 'gated', candidate, mode: 'canary', percent: 5, replayJobId },
    });

    // Act
    const refused = await putConfig(config({ strategy: 'static' }, badJob));
    const mismatched = await putConfig(config({ strategy: 'thompson' }, goodJob));
    const accepted = await putConfig(config({ strategy: 'greedy' }, goodJob));

    // Assess
    expectUniformError(refused, 422, 'replay_gate');
    expect(refused.json.message).toContain('worse than the baseline');
    expectUniformError(mismatched, 422, 'replay_gate');
    expect(accepted.status, accepted.text).toBe(200);
    expect(accepted.json.experiment).toMatchObject({ name: 'gated', percent: 5, replayJobId: goodJob });
  });

  it('refuses bad input with a 4xx and queues nothing', async () => {
    // Act
    const empty = await h.call('POST', '/router/replay', { token: admin, body: { from: to, to: from } });
    const nothingLogged = await h.call('POST', '/router/replay', {
      token: admin,
      body: { from: '2020-01-01T00:00:00Z', to: '2020-01-02T00:00:00Z', candidate: { strategy: 'greedy' } },
    });
    const badStrategy = await h.call('POST', '/router/replay', {
      token: admin,
      body: { from, to, candidate: { strategy: 'oracle' } },
    });
    const byOperator = await h.call('POST', '/router/replay', { token: operator, body: { from, to } });
    const unknown = await h.call('GET', '/router/replay/rpl_00000000-0000-0000-0000-000000000000', {
      token: viewer,
    });
    const otherTenant = await h.call('POST', '/router/replay', {
      token: h.tokens.globexAdmin,
      body: { from, to, candidate: { strategy: 'greedy' } },
    });

    // Assess
    expectUniformError(empty, 422, 'empty_range');
    expectUniformError(nothingLogged, 422, 'no_logged_decisions');
    expectUniformError(badStrategy, 400, 'validation_failed');
    expectUniformError(byOperator, 403);
    expectUniformError(unknown, 404, 'replay_job_not_found');
    // globex has no decisions in acme's range: its replay sees none of acme's.
    expectUniformError(otherTenant, 422, 'no_logged_decisions');
  });
});

describe('a shadow period yields a number', () => {
  it('estimates the shadow candidate from its own logged probabilities, shown on GET /router/experiment', async () => {
    // Prepare: a static baseline on the wrong expert, a greedy shadow that learns the right one.
    const put = await putConfig({
      strategy: 'static',
      defaultExpertId: experts[0],
      experiment: {
        name: 'shadow-value',
        candidate: { strategy: 'epsilon-greedy', epsilon: 0.2 },
        mode: 'shadow',
        percent: 100,
      },
    });
    expect(put.status, put.text).toBe(200);
    const from = new Date(Date.now() - 3_600_000).toISOString();
    for (let i = 0; i < 60; i += 1) {
      const taskId = `shadow-value-${i}`;
      const reply = await route({ taskId });
      await h.call('POST', '/router/reward', {
        token: operator,
        body: { taskId, signal: 'success_at_k', value: reply.json.expertId === experts[0] ? 0.2 : 1 },
      });
    }
    await h.conductor.mappings.get('conductor-rewards')?.drain();

    // Act
    const started = await h.call('POST', '/router/replay', {
      token: admin,
      body: { from, to: new Date(Date.now() + 3_600_000).toISOString(), source: 'shadow' },
    });
    await h.conductor.mappings.get('conductor-replay')?.drain();
    const status = await h.call('GET', '/router/experiment', { token: viewer });

    // Assess: every served decision was the baseline's (reward 0.2), and the shadow's value is estimated.
    expect(started.status, started.text).toBe(202);
    expect(status.status, status.text).toBe(200);
    expect(status.json.experiment.name).toBe('shadow-value');
    expect(status.json.replay).toMatchObject({
      jobId: started.json.jobId,
      status: 'succeeded',
      request: { source: 'shadow' },
    });
    const result = status.json.replay.result;
    expect(result.rewarded).toBe(60);
    expect(result.baseline.snips.value).toBeCloseTo(0.2, 6);
    expect(result.candidate.n).toBe(60);
    expect(Number.isFinite(result.candidate.snips.value)).toBe(true);
  });
});

// Last: its rewards would enter the wide replay ranges above.
describe('canary judged on rewards', () => {
  it('rolls the candidate back when its learnt rewards fall below the baseline’s with confidence (the reward function watches)', async () => {
    // Prepare
    await startCanary('reward-10', 10);
    const served: { taskId: string; candidate: boolean }[] = [];
    for (let i = 0; i < 400; i += 1) {
      const reply = await route({ taskId: `rw10-${i}`, userId: `rw10-user-${i}` });
      served.push({ taskId: `rw10-${i}`, candidate: reply.json.strategy === 'greedy' });
    }
    expect(served.filter((s) => s.candidate).length).toBeGreaterThanOrEqual(20);

    // Act: the baseline's calls succeed (reward 1), the candidate's do not (0); no outcome is reported.
    for (const s of served) {
      const reward = await h.call('POST', '/router/reward', {
        token: operator,
        body: { taskId: s.taskId, signal: 'success_at_k', value: s.candidate ? 0 : 1 },
      });
      expect(reward.status, reward.text).toBe(202);
    }
    await h.conductor.mappings.get('conductor-rewards')?.drain();

    // Assess
    const config = await h.call('GET', '/router/config', { token: admin });
    expect(config.json.experiment.percent).toBe(0);
    expect(config.json.experiment.rolledBack.reason).toMatch(
      /candidate mean reward 0.000 over \d+, baseline 1.000/,
    );
    const rollbacks = h.conductor.bus
      .history(500)
      .map((entry) => entry.event)
      .filter(
        (event) =>
          event['detail-type'] === 'router_canary_rollback' &&
          (event.detail as { canaryId?: string }).canaryId === 'reward-10',
      );
    expect(rollbacks).toHaveLength(1);
  });
});
