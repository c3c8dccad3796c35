import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelExpert, expectUniformError, type Harness, startHarness } from './harness.js';

/**
 * The router's hardening over real HTTP: poison reward values refused at the door, rejected rewards
 * listed per tenant, a feature spec that keeps routing after a reward, and concurrent PUTs without
 * If-Match (last writer wins).
 */
let h: Harness;
const tokens = { acmeAdmin: '', acmeOperator: '', globexAdmin: '', initechAdmin: '', initechOperator: '' };

const createExpert = (token: string, name: string): Promise<string> => createModelExpert(h, token, name);

const rewardsQueue = () => {
  const queue = h.conductor.queues.get('conductor-rewards');
  if (!queue) throw new Error('no rewards queue');
  return queue;
};

const drainRewards = async (): Promise<void> => {
  const mapping = h.conductor.mappings.get('conductor-rewards');
  if (!mapping) throw new Error('no event source mapping for the rewards queue');
  await mapping.drain();
};

const reward = (token: string, body: object) => h.call('POST', '/router/reward', { token, body });

const rejected = async (token: string, query = '') => {
  const reply = await h.call('GET', `/router/rewards/rejected${query}`, { token });
  expect(reply.status, reply.text).toBe(200);
  return reply.json as { items: { taskId: string; reason: string }[]; nextCursor?: string };
};

beforeAll(async () => {
  h = await startHarness();
  tokens.acmeAdmin = h.tokens.acmeAdmin ?? '';
  tokens.acmeOperator = h.tokens.acmeOperator ?? '';
  tokens.globexAdmin = h.tokens.globexAdmin ?? '';
  tokens.initechAdmin = await h.conductor.issuer.mint({
    subject: 'initech-admin',
    tenant: 'initech',
    roles: ['tenant-admin'],
    amr: ['pwd', 'mfa'],
  });
  tokens.initechOperator = await h.conductor.issuer.mint({
    subject: 'initech-operator',
    tenant: 'initech',
    roles: ['operator'],
  });
});
afterAll(async () => {
  await h.conductor.stop();
});

describe('POST router/reward with a value the pipeline cannot take', () => {
  it('answers 400 on the value field for 1e16, 2^53 and 1e-200, and queues nothing', async () => {
    // Prepare
    let queued = 0;
    const stop = rewardsQueue().onAvailable(() => {
      queued += 1;
    });
    const bodies = [
      '{"taskId":"poison-1","signal":"cost","value":1e16}',
      '{"taskId":"poison-2","signal":"latency_ms","value":9007199254740992}',
      '{"taskId":"poison-3","signal":"success_at_k","value":1e-200}',
    ];

    // Act
    const replies = await Promise.all(
      bodies.map((rawBody) =>
        h.call('POST', '/router/reward', {
          token: tokens.acmeOperator,
          rawBody,
          headers: { 'content-type': 'application/json' },
        }),
      ),
    );
    stop();
    await drainRewards();

    // Assess
    for (const reply of replies) {
      expectUniformError(reply, 400, 'validation_failed');
      expect(reply.json.details.issues[0].path).toMatch(/value/);
    }
    expect(queued).toBe(0);
    const listed = (await rejected(tokens.acmeAdmin, '?limit=100')).items.map((item) => item.taskId);
    expect(listed.filter((taskId) => taskId.startsWith('poison-'))).toEqual([]);
  });

  it('answers 400 past a signal’s documented range, and 202 at its bound', async () => {
    expectUniformError(
      await reward(tokens.acmeOperator, { taskId: 'range-1', signal: 'success_at_k', value: 1.5 }),
      400,
      'validation_failed',
    );
    expectUniformError(
      await reward(tokens.acmeOperator, { taskId: 'range-2', signal: 'human_thumbs', value: -2 }),
      400,
      'validation_failed',
    );
    const atBound = await reward(tokens.acmeOperator, {
      taskId: 'range-3',
      signal: 'latency_ms',
      value: 86_400_000,
    });
    expect(atBound.status, atBound.text).toBe(202);
  });
});

describe('GET router/rewards/rejected', () => {
  it('lists the tenant’s rewards for tasks never routed, with their reason, and no other tenant’s', async () => {
    // Prepare
    for (const taskId of ['lost-1', 'lost-2', 'lost-3'])
      expect((await reward(tokens.acmeOperator, { taskId, signal: 'success_at_k', value: 1 })).status).toBe(
        202,
      );
    expect(
      (await reward(tokens.globexAdmin, { taskId: 'globex-lost', signal: 'success_at_k', value: 1 })).status,
    ).toBe(202);
    await drainRewards();

    // Act
    const first = await rejected(tokens.acmeAdmin, '?limit=2');
    const rest = await rejected(
      tokens.acmeAdmin,
      `?limit=100&cursor=${encodeURIComponent(first.nextCursor ?? '')}`,
    );
    const globex = await rejected(tokens.globexAdmin, '?limit=100');

    // Assess
    const acme = [...first.items, ...rest.items];
    expect(first.items).toHaveLength(2);
    expect(acme.filter((item) => item.taskId.startsWith('lost-'))).toEqual(
      ['lost-1', 'lost-2', 'lost-3'].map((taskId) =>
        expect.objectContaining({ taskId, signal: 'success_at_k', value: 1, reason: 'unknown_task' }),
      ),
    );
    expect(acme.map((item) => item.taskId)).not.toContain('globex-lost');
    expect(globex.items.map((item) => item.taskId)).toEqual(['globex-lost']);
  });

  it('is for admins: an operator gets 403, and a bad cursor 400', async () => {
    expectUniformError(await h.call('GET', '/router/rewards/rejected', { token: tokens.acmeOperator }), 403);
    expectUniformError(
      await h.call('GET', '/router/rewards/rejected?cursor=not-a-cursor', { token: tokens.acmeAdmin }),
      400,
    );
  });
});

describe('a LinUCB route with a feature spec, after a reward', () => {
  it('answers 200 and decides on the model the reward was learnt into', async () => {
    // Prepare
    const a = await createExpert(tokens.initechAdmin, 'initech-a');
    const b = await createExpert(tokens.initechAdmin, 'initech-b');
    const config = await h.call('PUT', '/router/config', {
      token: tokens.initechAdmin,
      body: { strategy: 'linucb', dimension: 8, numericFeatures: [{ key: 'x' }] },
    });
    expect(config.status, config.text).toBe(200);
    const first = await h.call('POST', '/router/route', {
      token: tokens.initechOperator,
      body: { taskId: 'spec-1', context: { x: 0.5 }, candidates: [a, b] },
    });
    expect(first.status, first.text).toBe(200);
    expect(
      (await reward(tokens.initechOperator, { taskId: 'spec-1', signal: 'success_at_k', value: 1 })).status,
    ).toBe(202);
    await drainRewards();

    // Act
    const second = await h.call('POST', '/router/route', {
      token: tokens.initechOperator,
      body: { taskId: 'spec-2', context: { x: 0.5 }, candidates: [a, b] },
    });

    // Assess
    expect(second.status, second.text).toBe(200);
    expect([a, b]).toContain(second.json.expertId);
    expect((await rejected(tokens.initechAdmin)).items).toEqual([]);
  });
});

describe('concurrent PUTs without If-Match', () => {
  const WRITERS = 6;

  it('PUT experts/{id}: every one answers 200 and the versions count every write (last writer wins)', async () => {
    // Prepare
    const id = await createExpert(tokens.acmeAdmin, 'contended');

    // Act
    const replies = await Promise.all(
      Array.from({ length: WRITERS }, (_, i) =>
        h.call('PUT', `/experts/${id}`, {
          token: tokens.acmeAdmin,
          body: {
            name: `writer-${i}`,
            type: 'model',
            costPerCallUsd: 0,
            endpoint: 'https://w.example.com/v1',
          },
        }),
      ),
    );

    // Assess
    expect(replies.map((reply) => reply.status)).toEqual(replies.map(() => 200));
    expect(replies.map((reply) => reply.json.version).sort((x, y) => x - y)).toEqual(
      Array.from({ length: WRITERS }, (_, i) => i + 2),
    );
    const stored = await h.call('GET', `/experts/${id}`, { token: tokens.acmeAdmin });
    expect(stored.json.version).toBe(WRITERS + 1);
  });

  it('PUT router/config: every one answers 200 and each change is in the history once', async () => {
    // Prepare
    const before = await h.call('GET', '/router/config', { token: tokens.globexAdmin });

    // Act
    const replies = await Promise.all(
      Array.from({ length: WRITERS }, (_, i) =>
        h.call('PUT', '/router/config', {
          token: tokens.globexAdmin,
          body: { strategy: 'epsilon-greedy', epsilon: (i + 1) / 10 },
        }),
      ),
    );

    // Assess
    expect(replies.map((reply) => reply.status)).toEqual(replies.map(() => 200));
    const history = await h.call('GET', '/router/config/history', { token: tokens.globexAdmin });
    const versions = history.json.items.map((item: { version: number }) => item.version);
    expect(versions.slice(0, WRITERS).sort((x: number, y: number) => x - y)).toEqual(
      Array.from({ length: WRITERS }, (_, i) => before.json.version + i + 1),
    );
  });

  it('with a stale If-Match still answers 409 version_conflict', async () => {
    const id = await createExpert(tokens.acmeAdmin, 'guarded');
    const body = {
      name: 'guarded-2',
      type: 'model',
      costPerCallUsd: 0,
      endpoint: 'https://g.example.com/v1',
    };
    expect((await h.call('PUT', `/experts/${id}`, { token: tokens.acmeAdmin, body })).status).toBe(200);
    expectUniformError(
      await h.call('PUT', `/experts/${id}`, {
        token: tokens.acmeAdmin,
        body,
        headers: { 'if-match': '"1"' },
      }),
      409,
      'version_conflict',
    );
  });
});

describe('GET router/rationale with an id that names no task', () => {
  it.each([
    ['rat_0', 404, 'rationale_not_found'],
    ['rat_AA', 404, 'rationale_not_found'],
    ['rat_', 400, 'validation_failed'],
    ['rat_@@', 400, 'validation_failed'],
  ] as const)('answers %s with %i %s, not 500', async (rationaleId, status, code) => {
    // Act
    const reply = await h.call('GET', `/router/rationale/${rationaleId}`, { token: tokens.acmeOperator });

    // Assess
    expectUniformError(reply, status, code);
  });
});
