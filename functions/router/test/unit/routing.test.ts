import { describe, expect, it } from 'vitest';
import type { ConductorEvent, EventPublisher } from '#shared/ports/events.js';
import { ManualClock } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { refusal } from '#shared/testing/refusal.js';
import {
  createContextEncoder,
  createLinUcb,
  sparseFromJson,
  toStoredModelState,
} from '../../src/domain/bandits/index.js';
import type { Expert } from '../../src/domain/experts.js';
import {
  CONFIG_CACHE_MS,
  DEFAULT_POSTERIOR_SCALE,
  DEFAULT_ROUTER_CONFIG,
  ROUTER_CONFIG_ID,
  strategyConfigOf,
} from '../../src/domain/router-config.js';
import { EXPLANATION_DIGITS, modelKeyOf, rationaleIdOf, storableNumbers } from '../../src/domain/routing.js';
import { expertRecord, inMemoryRouting } from '../support/routing-fakes.js';

const NOW = '2026-01-01T00:00:00.000Z';

const expert = expertRecord;

const setup = async (options: Parameters<typeof inMemoryRouting>[1] = {}) => {
  const experts = new InMemoryTenantRecords<Expert>('EXPERT');
  await experts.create(expert('acme', 'exp_a'));
  await experts.create(expert('acme', 'exp_b'));
  await experts.create(expert('acme', 'exp_off', false));
  await experts.create(expert('globex', 'exp_g'));
  return { experts, ...inMemoryRouting(experts, options) };
};

const request = {
  taskId: 'task-1',
  context: { language: 'ts', tokens: 1200, urgent: true, tags: ['graph', 'ops'] },
  candidates: ['exp_a', 'exp_b'],
};

const caught = refusal;

describe('RoutingService.route', () => {
  it('decides with the default strategy (LinUCB), records the decision and answers its ids', async () => {
    // Prepare
    const { routing, decisions } = await setup();

    // Act
    const answer = await routing.route('acme', request, 'trace-1');

    // Assess
    expect(answer).toMatchObject({ strategy: 'linucb', rationaleId: rationaleIdOf('task-1') });
    expect(['exp_a', 'exp_b']).toContain(answer.expertId);
    expect(answer.confidence).toBeGreaterThanOrEqual(0);
    expect(answer.confidence).toBeLessThanOrEqual(1);
    const stored = await decisions.get('acme', 'task-1');
    expect(stored).toMatchObject({
      tenantId: 'acme',
      taskId: 'task-1',
      decisionId: answer.decisionId,
      expertId: answer.expertId,
      strategy: 'linucb',
      modelKey: 'ridge:d32',
      modelVersion: 0,
      configVersion: 0,
      seed: 42,
      traceId: 'trace-1',
      createdAt: NOW,
    });
    const features = sparseFromJson(stored?.features);
    expect(features.dimension).toBe(DEFAULT_ROUTER_CONFIG.dimension);
    expect(features.indices[0]).toBe(0); // the intercept
  });

  it('answers a retried task with the same decision, whatever the retry carries, and records it once', async () => {
    // Prepare
    const { routing, decisions, events } = await setup({
      seed: (() => {
        let n = 0;
        return () => {
          n += 1;
          return n;
        };
      })(),
    });
    const first = await routing.route('acme', request, 'trace-1');

    // Act
    const again = await routing.route('acme', request, 'trace-2');
    const changed = await routing.route('acme', { ...request, candidates: ['exp_b'] }, 'trace-3');

    // Assess
    expect(again).toEqual(first);
    expect(changed).toEqual(first);
    expect(decisions.all()).toHaveLength(1);
    expect(events.published).toHaveLength(1);
  });

  it('answers the winner’s decision when a concurrent retry writes first', async () => {
    // Prepare
    const { routing } = await setup();

    // Act
    const [one, two] = await Promise.all([
      routing.route('acme', request, 'trace-1'),
      routing.route('acme', request, 'trace-2'),
    ]);

    // Assess
    expect(two).toEqual(one);
  });

  it('serves the default expert with propensity 1 when the tenant’s kill-switch is on', async () => {
    // Prepare
    const { routing, routerConfig, decisions } = await setup();
    await routerConfig.update('acme', {
      ...DEFAULT_ROUTER_CONFIG,
      defaultExpertId: 'exp_b',
      killSwitch: true,
    });

    // Act
    const answer = await routing.route('acme', request, 'trace-1');

    // Assess
    expect(answer).toMatchObject({ expertId: 'exp_b', strategy: 'kill_switch' });
    const stored = await decisions.get('acme', 'task-1');
    expect(stored).toMatchObject({ propensity: 1, configVersion: 1 });
    expect(stored?.modelKey).toBeUndefined();
    expect(stored?.rationale).toMatchObject({ killSwitch: true, exploration: false });
  });

  it('serves the first eligible candidate under the global kill-switch when no default is set', async () => {
    // Prepare
    const { routing } = await setup({ globalKillSwitch: true });

    // Act
    const answer = await routing.route(
      'acme',
      { ...request, candidates: ['exp_off', 'exp_b', 'exp_a'] },
      't',
    );

    // Assess
    expect(answer).toMatchObject({ expertId: 'exp_b', strategy: 'kill_switch' });
  });

  it('removes unknown, disabled and other tenants’ candidates, and says why in the rationale', async () => {
    // Prepare
    const { routing } = await setup();

    // Act
    const answer = await routing.route(
      'acme',
      { ...request, candidates: ['exp_missing', 'exp_off', 'exp_a', 'exp_g', 'exp_a'] },
      'trace-1',
    );
    const rationale = await routing.rationale('acme', answer.rationaleId);

    // Assess
    expect(answer.expertId).toBe('exp_a');
    expect(rationale.candidates.map((c) => c.expertId)).toEqual(['exp_a']);
    expect(rationale.removed).toEqual([
      { expertId: 'exp_missing', reason: 'unknown' },
      { expertId: 'exp_off', reason: 'disabled' },
      { expertId: 'exp_g', reason: 'unknown' },
    ]);
  });

  it('refuses with 422 no_candidates when no candidate is left, and records nothing', async () => {
    // Prepare
    const { routing, decisions, events } = await setup();

    // Act
    const error = await caught(routing.route('acme', { ...request, candidates: ['exp_off', 'exp_g'] }, 't'));

    // Assess
    expect(error.statusCode).toBe(422);
    expect(error.code).toBe('no_candidates');
    expect(error.details).toEqual({
      removed: [
        { expertId: 'exp_off', reason: 'disabled' },
        { expertId: 'exp_g', reason: 'unknown' },
      ],
    });
    expect(decisions.all()).toEqual([]);
    expect(events.published).toEqual([]);
  });

  it('refuses a non-finite context number with 400 invalid_context', async () => {
    // Prepare
    const { routing } = await setup();

    // Act
    const error = await caught(routing.route('acme', { ...request, context: { size: Number.NaN } }, 't'));

    // Assess
    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('invalid_context');
  });

  it('decides on the stored model state and records its version', async () => {
    // Prepare: a LinUCB state that has learnt exp_b is good and exp_a is bad for this context.
    const { routing, models } = await setup();
    const linucb = createLinUcb({ dimension: 32, alpha: 0.5 });
    const x = createContextEncoder({ dimension: 32 }).encode(request.context);
    let state = linucb.initialState();
    for (let i = 0; i < 20; i += 1) {
      state = linucb.update(state, 'exp_b', x, 1);
      state = linucb.update(state, 'exp_a', x, 0);
    }
    await models.create({
      tenantId: 'acme',
      id: modelKeyOf({ strategy: 'linucb' }, 32),
      version: 1,
      createdAt: NOW,
      updatedAt: NOW,
      state: toStoredModelState(state),
    });

    // Act
    const answer = await routing.route('acme', request, 'trace-1');
    const rationale = await routing.rationale('acme', answer.rationaleId);

    // Assess
    expect(answer.expertId).toBe('exp_b');
    expect(answer.confidence).toBeGreaterThan(0.9);
    expect(rationale.modelVersion).toBe(40);
    expect(rationale.exploration).toBe(false);
    const [best] = rationale.candidates.filter((c) => c.expertId === 'exp_b');
    expect(best?.estimate).toBeGreaterThan(0.5);
    expect(best?.bonus).toBeGreaterThan(0);
  });

  it('emits route_decision after the write, and a publish failure does not fail the route', async () => {
    // Prepare
    const failures: unknown[] = [];
    const failing: EventPublisher = {
      publish: async (_events: readonly ConductorEvent[]) => {
        throw new Error('bus down');
      },
    };
    const { routing, decisions } = await setup({ events: failing, onPublishError: (e) => failures.push(e) });

    // Act
    const answer = await routing.route('acme', request, 'trace-1');

    // Assess
    expect(answer.decisionId).toBeTruthy();
    expect(await decisions.get('acme', 'task-1')).toBeDefined();
    expect(failures).toHaveLength(1);
  });

  it('publishes a route_decision event carrying the decision', async () => {
    // Prepare
    const { routing, events } = await setup();

    // Act
    const answer = await routing.route('acme', request, 'trace-1');

    // Assess
    expect(events.published).toEqual([
      {
        type: 'route_decision',
        detail: expect.objectContaining({
          tenantId: 'acme',
          traceId: 'trace-1',
          taskId: 'task-1',
          decisionId: answer.decisionId,
          expertId: answer.expertId,
          strategy: 'linucb',
        }),
      },
    ]);
  });

  it('follows the configured strategy (Thompson)', async () => {
    // Prepare
    const { routing, routerConfig } = await setup();
    await routerConfig.update('acme', { ...DEFAULT_ROUTER_CONFIG, strategy: 'thompson' });

    // Act
    const answer = await routing.route('acme', request, 'trace-1');
    const rationale = await routing.rationale('acme', answer.rationaleId);

    // Assess
    expect(answer.strategy).toBe('thompson');
    expect(rationale.candidates.every((c) => typeof c.sampled === 'number')).toBe(true);
    expect(rationale.propensity).toBeGreaterThan(0);
  });
});

describe('RoutingService.rationale', () => {
  it('explains the decision: per-candidate estimates, bonus, named top features, removed candidates', async () => {
    // Prepare
    const { routing } = await setup();
    const answer = await routing.route('acme', { ...request, candidates: ['exp_a', 'exp_b', 'nope'] }, 't');

    // Act
    const rationale = await routing.rationale('acme', answer.rationaleId);

    // Assess
    expect(rationale).toMatchObject({
      rationaleId: answer.rationaleId,
      decisionId: answer.decisionId,
      taskId: 'task-1',
      tenantId: 'acme',
      expertId: answer.expertId,
      strategy: 'linucb',
      killSwitch: false,
      confidence: answer.confidence,
      removed: [{ expertId: 'nope', reason: 'unknown' }],
      configVersion: 0,
      decidedAt: NOW,
    });
    expect(rationale.candidates.map((c) => c.expertId)).toEqual(['exp_a', 'exp_b']);
    for (const candidate of rationale.candidates) {
      expect(candidate).toEqual(
        expect.objectContaining({ estimate: 0, probability: expect.any(Number), bonus: expect.any(Number) }),
      );
    }
    // An untrained model gives every feature weight 0: nothing contributes yet.
    expect(rationale.topFeatures).toEqual([]);
  });

  it('names the top features of a trained model with the encoder’s labels', async () => {
    // Prepare
    const { routing, models } = await setup();
    const linucb = createLinUcb({ dimension: 32, alpha: 0.5 });
    const x = createContextEncoder({ dimension: 32 }).encode(request.context);
    const state = linucb.update(linucb.initialState(), 'exp_a', x, 1);
    await models.create({
      tenantId: 'acme',
      id: 'ridge:d32',
      version: 1,
      createdAt: NOW,
      updatedAt: NOW,
      state: toStoredModelState(state),
    });

    // Act
    const answer = await routing.route('acme', { ...request, candidates: ['exp_a'] }, 't');
    const rationale = await routing.rationale('acme', answer.rationaleId);

    // Assess
    expect(rationale.topFeatures.length).toBeGreaterThan(0);
    const names = rationale.topFeatures.flatMap((f) => f.names.map((n) => n.replace(/^-/, '')));
    expect(names).toEqual(expect.arrayContaining(['(intercept)']));
    expect(names.some((n) => n.startsWith('language=') || n.startsWith('tags=') || n === 'tokens')).toBe(
      true,
    );
    // Explanatory figures to EXPLANATION_DIGITS significant digits; the propensity exact.
    const fourDigits = (v: number) => Number(v.toPrecision(EXPLANATION_DIGITS)) === v;
    const figures = [
      ...rationale.topFeatures.flatMap((f) => [f.value, f.weight, f.contribution]),
      ...rationale.candidates.flatMap((c) => [c.estimate, c.uncertainty, c.bonus ?? 0]),
    ];
    expect(figures.some((v) => v !== 0 && !Number.isInteger(v))).toBe(true);
    expect(figures.every(fourDigits)).toBe(true);
    expect(rationale.candidates.map((c) => c.probability)).toEqual([rationale.propensity]);
  });

  it('treats another tenant’s rationale like a missing one', async () => {
    // Prepare
    const { routing } = await setup();
    const answer = await routing.route('acme', request, 't');

    // Act
    const foreign = await caught(routing.rationale('globex', answer.rationaleId));
    const missing = await caught(routing.rationale('acme', rationaleIdOf('never-routed')));
    const garbage = await caught(routing.rationale('acme', 'rat_!!'));

    // Assess
    for (const error of [foreign, missing, garbage]) {
      expect(error.statusCode).toBe(404);
      expect(error.code).toBe('rationale_not_found');
      expect(error.message).toBe(foreign.message);
    }
  });
});

describe('RoutingService: what a route decides with, and how stale it may be', () => {
  /** A LinUCB state that learnt `good` is right for the request's context and `bad` is not. */
  const trained = (good: string, bad: string, version: number) => {
    const linucb = createLinUcb({ dimension: 32, alpha: 0.5 });
    const x = createContextEncoder({ dimension: 32 }).encode(request.context);
    let state = linucb.initialState();
    for (let i = 0; i < 20; i += 1) {
      state = linucb.update(state, good, x, 1);
      state = linucb.update(state, bad, x, 0);
    }
    return {
      tenantId: 'acme',
      id: modelKeyOf({ strategy: 'linucb' }, 32),
      version,
      createdAt: NOW,
      updatedAt: NOW,
      state: toStoredModelState(state),
    };
  };

  it('decides on the model state it read for modelCacheMs, then reads the one written meanwhile', async () => {
    // Prepare: exp_a is learnt to be best; the router reads that state once.
    const clock = new ManualClock(NOW);
    const { routing, models } = await setup({ modelCacheMs: 5_000, clock });
    await models.create(trained('exp_a', 'exp_b', 1));
    const before = await routing.route('acme', { ...request, taskId: 't-0' }, 'trace');

    // Act: the reward consumer (elsewhere) writes a state that learnt the opposite.
    await models.replace(trained('exp_b', 'exp_a', 2), 1);
    clock.advance(4_999);
    const cached = await routing.route('acme', { ...request, taskId: 't-1' }, 'trace');
    clock.advance(1);
    const fresh = await routing.route('acme', { ...request, taskId: 't-2' }, 'trace');

    // Assess
    expect(before.expertId).toBe('exp_a');
    expect(cached.expertId).toBe('exp_a');
    expect(fresh.expertId).toBe('exp_b');
    expect((await routing.rationale('acme', fresh.rationaleId)).modelVersion).toBe(40);
  });

  it('reads the model state on every route with modelCacheMs 0', async () => {
    // Prepare
    const { routing, models } = await setup({ modelCacheMs: 0 });
    await models.create(trained('exp_a', 'exp_b', 1));
    await routing.route('acme', { ...request, taskId: 't-0' }, 'trace');

    // Act
    await models.replace(trained('exp_b', 'exp_a', 2), 1);
    const next = await routing.route('acme', { ...request, taskId: 't-1' }, 'trace');

    // Assess
    expect(next.expertId).toBe('exp_b');
  });

  it('applies a configuration changed through this instance to the very next route (kill-switch)', async () => {
    // Prepare: the configuration is read (and cached) by a first route.
    const { routing, routerConfig } = await setup();
    await routing.route('acme', { ...request, taskId: 't-0' }, 'trace');

    // Act
    await routerConfig.update('acme', {
      ...DEFAULT_ROUTER_CONFIG,
      killSwitch: true,
      defaultExpertId: 'exp_b',
    });
    const next = await routing.route('acme', { ...request, taskId: 't-1' }, 'trace');

    // Assess
    expect(next).toMatchObject({ strategy: 'kill_switch', expertId: 'exp_b' });
  });

  it('applies a configuration changed through another instance within CONFIG_CACHE_MS', async () => {
    // Prepare
    const clock = new ManualClock(NOW);
    const { routing, configs } = await setup({ clock });
    await routing.route('acme', { ...request, taskId: 't-0' }, 'trace');

    // Act: another instance stores a kill-switch behind this one's cache.
    await configs.create({
      ...DEFAULT_ROUTER_CONFIG,
      killSwitch: true,
      defaultExpertId: 'exp_b',
      tenantId: 'acme',
      id: ROUTER_CONFIG_ID,
      version: 1,
      createdAt: NOW,
      updatedAt: NOW,
    });
    const within = await routing.route('acme', { ...request, taskId: 't-1' }, 'trace');
    clock.advance(CONFIG_CACHE_MS);
    const after = await routing.route('acme', { ...request, taskId: 't-2' }, 'trace');

    // Assess
    expect(within.strategy).toBe('linucb');
    expect(after).toMatchObject({ strategy: 'kill_switch', expertId: 'exp_b' });
  });

  it('removes an expert marked unhealthy, says so in the rationale, and routes to it again once the mark lapses', async () => {
    // Prepare
    const clock = new ManualClock(NOW);
    const { routing, experts } = await setup({ clock, modelCacheMs: 0 });
    const b = await experts.get('acme', 'exp_b');
    if (!b) throw new Error('seed missing');
    await experts.replace(
      {
        ...b,
        version: 2,
        health: { status: 'unhealthy', setAt: NOW, setBy: 'ops', until: '2026-01-01T00:01:00.000Z' },
      },
      1,
    );

    // Act
    const during = await routing.route('acme', { ...request, taskId: 'during' }, 'trace');
    clock.advance(60_000);
    const after = await routing.route(
      'acme',
      { ...request, taskId: 'after', candidates: ['exp_b'] },
      'trace',
    );

    // Assess
    const rationale = await routing.rationale('acme', during.rationaleId);
    expect(during.expertId).toBe('exp_a');
    expect(rationale.removed).toEqual([{ expertId: 'exp_b', reason: 'unhealthy' }]);
    expect(after.expertId).toBe('exp_b');
  });

  it('removes the candidates the policy does not allow, asking it only about the eligible ones', async () => {
    // Prepare
    const { routing, decisions } = await setup();
    const asked: string[][] = [];
    const policy = async (experts: readonly { id: string }[]) => {
      asked.push(experts.map((e) => e.id));
      return { allowed: new Set(['exp_b']), policyVersion: 'cedar-test-1' };
    };

    // Act
    const answer = await routing.route(
      'acme',
      { ...request, candidates: ['exp_a', 'exp_b', 'exp_off', 'exp_g'] },
      'trace',
      policy,
    );

    // Assess
    const rationale = await routing.rationale('acme', answer.rationaleId);
    expect(asked).toEqual([['exp_a', 'exp_b']]);
    expect(answer.expertId).toBe('exp_b');
    expect(rationale.policyVersion).toBe('cedar-test-1');
    expect((await decisions.get('acme', request.taskId))?.policyVersion).toBe('cedar-test-1');
    expect(rationale.removed).toEqual([
      { expertId: 'exp_off', reason: 'disabled' },
      { expertId: 'exp_g', reason: 'unknown' },
      { expertId: 'exp_a', reason: 'policy' },
    ]);
  });

  it('refuses with 422 no_candidates when the policy allows none of them', async () => {
    // Prepare
    const { routing, decisions } = await setup();

    // Act
    const error = await caught(
      routing.route('acme', request, 'trace', async () => ({ allowed: new Set(), policyVersion: 'v' })),
    );

    // Assess
    expect([error.statusCode, error.code]).toEqual([422, 'no_candidates']);
    expect(error.details).toEqual({
      removed: [
        { expertId: 'exp_a', reason: 'policy' },
        { expertId: 'exp_b', reason: 'policy' },
      ],
    });
    expect(decisions.all()).toEqual([]);
  });

  it("asks the retrying caller's policy about the stored expert: a lesser role reusing a taskId gets 403, not the expert", async () => {
    // Prepare: an admin (every expert allowed) routes task-1 to exp_a alone
    const { routing, decisions } = await setup();
    const admin = async () => ({ allowed: new Set(['exp_a', 'exp_b']), policyVersion: 'v' });
    const operator = async (asked: readonly { id: string }[]) => ({
      allowed: new Set(asked.map((e) => e.id).filter((id) => id !== 'exp_a')),
      policyVersion: 'v',
    });
    const first = await routing.route('acme', { ...request, candidates: ['exp_a'] }, 'trace-1', admin);

    // Act: the operator, whom the policy refuses exp_a, retries the task (with and without other candidates)
    const withOthers = await caught(routing.route('acme', request, 'trace-2', operator));
    const alone = await caught(
      routing.route('acme', { ...request, candidates: ['exp_a'] }, 'trace-3', operator),
    );
    const again = await routing.route('acme', request, 'trace-4', admin);

    // Assess
    expect(first.expertId).toBe('exp_a');
    expect([withOthers.statusCode, withOthers.code]).toEqual([403, 'task_replay_forbidden']);
    expect([alone.statusCode, alone.code]).toEqual([403, 'task_replay_forbidden']);
    expect(again).toEqual(first);
    expect(decisions.all()).toHaveLength(1);
  });

  it('answers a retry from its record even when none of its candidates is eligible any more', async () => {
    // Prepare
    const { routing, experts, decisions } = await setup();
    const first = await routing.route('acme', request, 'trace-1');
    for (const id of ['exp_a', 'exp_b']) {
      const current = await experts.get('acme', id);
      if (current)
        await experts.replace({ ...current, enabled: false, version: current.version + 1 }, current.version);
    }

    // Act
    const retried = await routing.route('acme', request, 'trace-2');

    // Assess
    expect(retried).toEqual(first);
    expect(decisions.all()).toHaveLength(1);
  });
});

describe('RouterConfigService', () => {
  it('answers the defaults at version 0 until a configuration is stored', async () => {
    // Prepare
    const { routerConfig } = await setup();

    // Act
    const config = await routerConfig.get('acme');

    // Assess
    expect(config).toEqual({ ...DEFAULT_ROUTER_CONFIG, tenantId: 'acme', version: 0 });
  });

  it('stores a configuration, counts versions up and refuses a stale If-Match with 409', async () => {
    // Prepare
    const { routerConfig } = await setup();

    // Act
    const first = await routerConfig.update('acme', { ...DEFAULT_ROUTER_CONFIG, strategy: 'greedy' }, 0);
    const second = await routerConfig.update('acme', { ...DEFAULT_ROUTER_CONFIG, strategy: 'static' }, 1);
    const stale = await caught(routerConfig.update('acme', DEFAULT_ROUTER_CONFIG, 1));

    // Assess
    expect(first).toMatchObject({ strategy: 'greedy', version: 1, createdAt: NOW, updatedAt: NOW });
    expect(second).toMatchObject({ strategy: 'static', version: 2 });
    expect(stale.statusCode).toBe(409);
    expect(stale.code).toBe('version_conflict');
    expect(await routerConfig.get('acme')).toMatchObject({ strategy: 'static', version: 2 });
  });

  it('refuses a LinUCB dimension whose model could not fit one item with 422, and allows it for other strategies', async () => {
    // Prepare
    const { routerConfig } = await setup();

    // Act
    const refused = await caught(routerConfig.update('acme', { ...DEFAULT_ROUTER_CONFIG, dimension: 65 }));
    const atLimit = await routerConfig.update('acme', { ...DEFAULT_ROUTER_CONFIG, dimension: 64 });
    const thompson = await routerConfig.update('acme', {
      ...DEFAULT_ROUTER_CONFIG,
      strategy: 'thompson',
      dimension: 256,
    });

    // Assess
    expect([refused.statusCode, refused.code]).toEqual([422, 'dimension_too_large']);
    expect(atLimit.dimension).toBe(64);
    expect(thompson.dimension).toBe(256);
  });

  it('keeps linear-thompson under the same dimension limit as LinUCB, and gives it its own posterior scale (default 0.1)', async () => {
    // Prepare
    const { routerConfig } = await setup();

    // Act
    const wide = await caught(
      routerConfig.update('acme', { ...DEFAULT_ROUTER_CONFIG, strategy: 'linear-thompson', dimension: 65 }),
    );
    const fine = await routerConfig.update('acme', {
      ...DEFAULT_ROUTER_CONFIG,
      strategy: 'linear-thompson',
      posteriorScale: 0.3,
    });

    // Assess
    expect([wide.statusCode, wide.code]).toEqual([422, 'dimension_too_large']);
    expect(fine).toMatchObject({ strategy: 'linear-thompson', posteriorScale: 0.3 });
    expect(DEFAULT_ROUTER_CONFIG.posteriorScale).toBe(DEFAULT_POSTERIOR_SCALE);
    expect(strategyConfigOf(fine, 'exp_x')).toEqual({ strategy: 'linear-thompson', noise: 0.3 });
    const { posteriorScale: _v, ...older } = fine;
    expect(strategyConfigOf(older, 'exp_x')).toEqual({
      strategy: 'linear-thompson',
      noise: DEFAULT_POSTERIOR_SCALE,
    });
  });

  it('refuses an invalid feature spec with 422 invalid_feature_spec and stores nothing', async () => {
    // Prepare
    const { routerConfig } = await setup();

    // Act
    const duplicate = await caught(
      routerConfig.update('acme', {
        ...DEFAULT_ROUTER_CONFIG,
        numericFeatures: [{ key: 'tokens' }, { key: 'tokens' }],
      }),
    );
    const tooMany = await caught(
      routerConfig.update('acme', {
        ...DEFAULT_ROUTER_CONFIG,
        dimension: 8,
        numericFeatures: Array.from({ length: 8 }, (_, i) => ({ key: `k${i}` })),
      }),
    );

    // Assess
    expect([duplicate.statusCode, duplicate.code]).toEqual([422, 'invalid_feature_spec']);
    expect(duplicate.message).toContain('numericFeatures');
    expect([tooMany.statusCode, tooMany.code]).toEqual([422, 'invalid_feature_spec']);
    expect((await routerConfig.get('acme')).version).toBe(0);
  });

  it('encodes declared numeric features in their own slots and learns them in a model of their own', async () => {
    // Prepare
    const { routing, routerConfig, decisions } = await setup();
    await routing.route('acme', { ...request, taskId: 'before' }, 't');
    await routerConfig.update('acme', {
      ...DEFAULT_ROUTER_CONFIG,
      numericFeatures: [{ key: 'tokens', transform: 'signed-log1p', mean: 5, std: 2 }],
    });

    // Act
    await routing.route('acme', { ...request, taskId: 'after' }, 't');

    // Assess
    const before = await decisions.get('acme', 'before');
    const after = await decisions.get('acme', 'after');
    expect(before?.modelKey).toBe('ridge:d32');
    expect(after?.modelKey).toMatch(/^ridge:d32:f[0-9a-f]{8}$/);
    const slot = after?.features.indices.indexOf(1) ?? -1;
    expect(after?.features.values[slot]).toBeCloseTo((Math.log1p(1200) - 5) / 2, 10);
  });

  it('records who changed what and when, in the same write, newest first, the last 50', async () => {
    // Prepare
    const clock = new ManualClock(NOW);
    const { routerConfig } = await setup({ clock });

    // Act
    await routerConfig.update('acme', { ...DEFAULT_ROUTER_CONFIG, strategy: 'greedy' }, 0, 'alice');
    clock.advance(1_000);
    const second = await routerConfig.update(
      'acme',
      { ...DEFAULT_ROUTER_CONFIG, killSwitch: true },
      1,
      'bob',
    );
    const history = await routerConfig.history('acme');
    for (let i = 0; i < 55; i += 1)
      await routerConfig.update('acme', DEFAULT_ROUTER_CONFIG, undefined, `u${i}`);
    const capped = await routerConfig.history('acme');

    // Assess
    expect(second).toMatchObject({ version: 2, updatedBy: 'bob' });
    expect(second).not.toHaveProperty('changes');
    expect(await routerConfig.get('acme')).not.toHaveProperty('changes');
    expect(history.items).toEqual([
      {
        version: 2,
        changedAt: '2026-01-01T00:00:01.000Z',
        changedBy: 'bob',
        config: { ...DEFAULT_ROUTER_CONFIG, killSwitch: true },
      },
      {
        version: 1,
        changedAt: NOW,
        changedBy: 'alice',
        config: { ...DEFAULT_ROUTER_CONFIG, strategy: 'greedy' },
      },
    ]);
    expect(capped.items).toHaveLength(50);
    expect(capped.items[0]).toMatchObject({ version: 57, changedBy: 'u54' });
    expect(capped.items.at(-1)).toMatchObject({ version: 8 });
  });

  it('has no history while the tenant runs on the defaults', async () => {
    const { routerConfig } = await setup();
    expect(await routerConfig.history('acme')).toEqual({ items: [] });
  });

  it('refuses a default expert the tenant does not have with 422 unknown_expert', async () => {
    // Prepare
    const { routerConfig } = await setup();

    // Act
    const error = await caught(
      routerConfig.update('acme', { ...DEFAULT_ROUTER_CONFIG, defaultExpertId: 'exp_g' }),
    );

    // Assess
    expect(error.statusCode).toBe(422);
    expect(error.code).toBe('unknown_expert');
  });
});

describe('storableNumbers', () => {
  it('turns magnitudes DynamoDB cannot hold into 0, everywhere in a record, and keeps the rest', () => {
    // Prepare
    const record = { confidence: 1e-140, nested: [{ p: -3e-200, q: 0.25 }], name: 'x', flag: true, n: 7 };

    // Act
    const stored = storableNumbers(record);

    // Assess
    expect(stored).toEqual({ confidence: 0, nested: [{ p: 0, q: 0.25 }], name: 'x', flag: true, n: 7 });
  });
});
