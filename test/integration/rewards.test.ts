import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDocumentClient } from '#shared/adapters/dynamodb-client.js';
import { APPLIED_WINDOW } from '../../functions/router/src/domain/reward-learning.js';
import { createModelExpert, expectUniformError, type Harness, startHarness } from './harness.js';

let h: Harness;
const ids = { a: '', b: '', globex: '' };
const tokens: Record<string, string> & { acmeAdmin: string; acmeOperator: string; globexAdmin: string } = {
  acmeAdmin: '',
  acmeOperator: '',
  globexAdmin: '',
};

const createExpert = (token: string, name: string): Promise<string> => createModelExpert(h, token, name);

const drainRewards = async (): Promise<void> => {
  const mapping = h.conductor.mappings.get('conductor-rewards');
  if (!mapping) throw new Error('no event source mapping for the rewards queue');
  await mapping.drain();
};

const route = (token: string, taskId: string, candidates: string[], context: object = { language: 'ts' }) =>
  h.call('POST', '/router/route', { token, body: { taskId, context, candidates } });

const reward = (token: string, body: object) => h.call('POST', '/router/reward', { token, body });

const rationaleOf = async (token: string, rationaleId: string) => {
  const reply = await h.call('GET', `/router/rationale/${rationaleId}`, { token });
  expect(reply.status, reply.text).toBe(200);
  return reply.json;
};

/** The router table, read directly: for items no API exposes (rejections, markers, model state). */
const routerItem = async (pk: string, sk: string) => {
  const doc = makeDocumentClient({
    region: process.env.AWS_REGION ?? 'us-east-1',
    endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
  });
  const out = await doc.send(
    new GetCommand({ TableName: process.env.ROUTER_TABLE_NAME, Key: { pk, sk }, ConsistentRead: true }),
  );
  return out.Item;
};

/**
 * The router's model cache bound in this file (ROUTER_MODEL_CACHE_MS; 5 s by default): a decision
 * decides on a model state at most this old, so a learnt reward shows within drain + this.
 */
const MODEL_CACHE_MS = 200;
/** The product's freshness bound: a reward changes the next decisions within 60 s. */
const FRESHNESS_BOUND_MS = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  h = await startHarness({ functionEnv: { ROUTER_MODEL_CACHE_MS: String(MODEL_CACHE_MS) } });
  tokens.acmeAdmin = h.tokens.acmeAdmin ?? '';
  tokens.acmeOperator = h.tokens.acmeOperator ?? '';
  tokens.globexAdmin = h.tokens.globexAdmin ?? '';
  for (const tenant of ['hooli', 'initech', 'umbrella']) {
    tokens[`${tenant}Admin`] = await h.conductor.issuer.mint({
      subject: `${tenant}-admin`,
      tenant,
      roles: ['tenant-admin'],
      amr: ['pwd', 'mfa'],
    });
    tokens[`${tenant}Operator`] = await h.conductor.issuer.mint({
      subject: `${tenant}-operator`,
      tenant,
      roles: ['operator'],
    });
  }
  ids.a = await createExpert(tokens.acmeAdmin, 'acme-a');
  ids.b = await createExpert(tokens.acmeAdmin, 'acme-b');
  ids.globex = await createExpert(tokens.globexAdmin, 'globex-a');
});
afterAll(async () => {
  await h.conductor.stop();
});

describe('which function consumes the rewards queue', () => {
  it('is not the router: a queue batch wired to it by mistake fails loudly instead of being answered with a 404', async () => {
    // The handlers as the runtime loaded them (the runtime set their environment before importing).
    const router = await import('../../functions/router/src/handler.js');
    const sqsEvent = {
      Records: [
        {
          messageId: 'm-1',
          receiptHandle: 'r-1',
          body: '{}',
          attributes: { ApproximateReceiveCount: '1' },
          messageAttributes: {},
          md5OfBody: '',
          eventSource: 'aws:sqs',
          eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:conductor-rewards',
          awsRegion: 'us-east-1',
        },
      ],
    };
    await expect(router.handler(sqsEvent as never, {} as never)).rejects.toThrow(/consumes no queue/);
  });
});

describe('POST router/reward over HTTP', () => {
  it('route -> reward -> after the drain the model state reflects it', async () => {
    const routed = await route(tokens.acmeOperator, 'rw-1', [ids.a, ids.b]);
    expect(routed.status, routed.text).toBe(200);
    const before = await rationaleOf(tokens.acmeOperator, routed.json.rationaleId);

    const accepted = await reward(tokens.acmeOperator, { taskId: 'rw-1', signal: 'success_at_k', value: 1 });
    expect(accepted.status, accepted.text).toBe(202);
    expect(accepted.json).toEqual({ accepted: true, taskId: 'rw-1' });
    await drainRewards();

    const model = await routerItem('T#acme#MODEL', 'ridge:d32');
    expect(model?.version).toBe(before.modelVersion + 1);
    expect(model?.appliedRewardIds).toContain('rw-1#success_at_k');
    expect(model?.state.arms[routed.json.expertId].n).toBe(1);
    const marker = await routerItem('T#acme#REWARD', 'rw-1#success_at_k');
    expect(marker).toMatchObject({ outcome: 'applied', reward: 1, expertId: routed.json.expertId });
    // Within the freshness bound, decisions decide on the new state (once the cached one expires).
    const deadline = Date.now() + FRESHNESS_BOUND_MS;
    let seen = before.modelVersion;
    for (let i = 2; seen !== before.modelVersion + 1 && Date.now() < deadline; i += 1) {
      const next = await route(tokens.acmeOperator, `rw-${i}`, [ids.a, ids.b]);
      expect(next.status, next.text).toBe(200);
      seen = (await rationaleOf(tokens.acmeOperator, next.json.rationaleId)).modelVersion;
      if (seen !== before.modelVersion + 1) await sleep(MODEL_CACHE_MS / 4);
    }
    expect(seen).toBe(before.modelVersion + 1);
    const ingested = h.conductor.bus
      .history(100)
      .map((entry) => entry.event)
      .find(
        (event) =>
          event['detail-type'] === 'reward_ingested' &&
          (event.detail as { taskId?: string }).taskId === 'rw-1',
      );
    const detail = ingested?.detail as { ingestionLatencyMs?: number } | undefined;
    expect(detail?.ingestionLatencyMs).toBeGreaterThanOrEqual(0);
  });

  it('a duplicated reward changes nothing', async () => {
    await route(tokens.acmeOperator, 'rw-dup', [ids.a, ids.b]);
    await reward(tokens.acmeOperator, { taskId: 'rw-dup', signal: 'human_thumbs', value: 1 });
    await drainRewards();
    const once = await routerItem('T#acme#MODEL', 'ridge:d32');

    const again = await reward(tokens.acmeOperator, { taskId: 'rw-dup', signal: 'human_thumbs', value: -1 });
    expect(again.status).toBe(202);
    await drainRewards();

    expect(await routerItem('T#acme#MODEL', 'ridge:d32')).toEqual(once);
  });

  it('records an unknown task as rejected', async () => {
    const reply = await reward(tokens.acmeOperator, {
      taskId: 'never-routed',
      signal: 'success_at_k',
      value: 1,
    });
    expect(reply.status).toBe(202);
    await drainRewards();
    expect(await routerItem('T#acme#REWARD_REJECTED', 'never-routed#success_at_k')).toMatchObject({
      reason: 'unknown_task',
    });
  });

  it('a reward for another tenant’s task changes nothing there (it is unknown in the caller’s tenant)', async () => {
    const routed = await route(tokens.globexAdmin, 'globex-rw', [ids.globex]);
    expect(routed.status, routed.text).toBe(200);
    const before = await routerItem('T#globex#MODEL', 'ridge:d32');

    const reply = await reward(tokens.acmeOperator, {
      taskId: 'globex-rw',
      signal: 'success_at_k',
      value: 1,
    });
    expect(reply.status).toBe(202);
    await drainRewards();

    expect(await routerItem('T#globex#MODEL', 'ridge:d32')).toEqual(before);
    expect(await routerItem('T#globex#REWARD', 'globex-rw#success_at_k')).toBeUndefined();
    expect(await routerItem('T#acme#REWARD_REJECTED', 'globex-rw#success_at_k')).toMatchObject({
      reason: 'unknown_task',
    });
  });

  it('refuses bad input', async () => {
    const bad = [
      { taskId: 'rw-1', signal: 'success_at_k', value: null },
      { taskId: 'rw-1', signal: 'success_at_k', value: '1' },
      { taskId: 'rw-1', signal: 'vibes', value: 1 },
      { taskId: 'rw-1', signal: 'success_at_k' },
      { taskId: 'rw-1', signal: 'success_at_k', value: 1, ts: 'yesterday' },
      { taskId: 'rw-1', signal: 'success_at_k', value: 1, extra: true },
      { taskId: '', signal: 'success_at_k', value: 1 },
    ];
    for (const body of bad) expectUniformError(await reward(tokens.acmeOperator, body), 400);
    // 1e999 parses to Infinity: the schema refuses a non-finite value.
    expectUniformError(
      await h.call('POST', '/router/reward', {
        token: tokens.acmeOperator,
        rawBody: '{"taskId":"rw-1","signal":"cost","value":1e999}',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'validation_failed',
    );
    expectUniformError(
      await h.call('POST', '/router/reward', {
        token: tokens.acmeOperator,
        rawBody: '{"taskId":"rw-1","signal":"cost","value":NaN}',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'malformed_json',
    );
    expectUniformError(
      await reward(tokens.acmeOperator, { taskId: 'rw-1', signal: 'cost', value: 1, tenantId: 'globex' }),
      403,
      'tenant_mismatch',
    );
    expectUniformError(
      await reward(h.tokens.acmeViewer ?? '', { taskId: 'rw-1', signal: 'cost', value: 1 }),
      403,
    );
  });
});

describe('learning from rewards: a clearly better expert wins', () => {
  const scenario = async (tenant: string, strategy: 'linucb' | 'thompson') => {
    const admin = tokens[`${tenant}Admin`] ?? '';
    const operator = tokens[`${tenant}Operator`] ?? '';
    const good = await createExpert(admin, `${tenant}-good`);
    const bad = await createExpert(admin, `${tenant}-bad`);
    const config = await h.call('PUT', '/router/config', { token: admin, body: { strategy } });
    expect(config.status, config.text).toBe(200);
    const languages = ['ts', 'py', 'go', 'rust'];
    for (let i = 0; i < 40; i += 1) {
      const context = { language: languages[i % languages.length] as string, tokens: 100 + i };
      const routed = await route(operator, `${tenant}-learn-${i}`, [good, bad], context);
      expect(routed.status, routed.text).toBe(200);
      const value = routed.json.expertId === good ? 1 : 0;
      const accepted = await reward(operator, {
        taskId: `${tenant}-learn-${i}`,
        signal: 'success_at_k',
        value,
      });
      expect(accepted.status).toBe(202);
      await drainRewards();
    }
    // Past the model cache bound every decision decides on the state that learnt all 40 rewards.
    await sleep(MODEL_CACHE_MS + 50);
    let wins = 0;
    for (let i = 0; i < 20; i += 1) {
      const context = { language: languages[i % languages.length] as string, tokens: 200 + i };
      const routed = await route(operator, `${tenant}-after-${i}`, [bad, good], context);
      if (routed.json.expertId === good) wins += 1;
    }
    return wins;
  };

  it('LinUCB', async () => {
    expect(await scenario('hooli', 'linucb')).toBeGreaterThan(10);
  });

  it('Thompson sampling', async () => {
    expect(await scenario('initech', 'thompson')).toBeGreaterThan(10);
  });
});

describe('a model state larger than one DynamoDB item', () => {
  it('is kept as one item per expert, and the consumer and the router go on with it', async () => {
    const admin = tokens.umbrellaAdmin ?? '';
    const operator = tokens.umbrellaOperator ?? '';
    const config = await h.call('PUT', '/router/config', {
      token: admin,
      body: { strategy: 'linucb', dimension: 64 },
    });
    expect(config.status, config.text).toBe(200);
    const experts: string[] = [];
    for (let i = 0; i < 48; i += 1) experts.push(await createExpert(admin, `umbrella-${i}`));
    // One reward per expert, each from a context of 60 features: 48 arms of A (64 x 64) and b are
    // well over DynamoDB's 400 KB for one item (which dynalite enforces too). Routed first, then
    // rewarded, so that no route reads the state while it grows.
    const contextOf = (i: number) =>
      Object.fromEntries(Array.from({ length: 60 }, (_, j) => [`f${(i * 7 + j * 3) % 97}`, 1 + j / 7]));
    for (const [i, expertId] of experts.entries()) {
      const routed = await route(operator, `big-${i}`, [expertId], contextOf(i));
      expect(routed.status, routed.text).toBe(200);
    }
    for (const i of experts.keys()) {
      const accepted = await reward(operator, { taskId: `big-${i}`, signal: 'success_at_k', value: i % 2 });
      expect(accepted.status, accepted.text).toBe(202);
    }
    await drainRewards();
    expect(h.conductor.queues.get('conductor-rewards-dlq')?.depth()).toEqual({
      visible: 0,
      inFlight: 0,
      delayed: 0,
    });

    const head = await routerItem('T#umbrella#MODEL', 'ridge:d64');
    expect(Object.keys(head?.armRefs ?? {})).toHaveLength(48);
    // The window keeps the last APPLIED_WINDOW ids; every id that left it has its marker.
    expect(head?.appliedRewardIds).toHaveLength(Math.min(48, APPLIED_WINDOW));
    expect(await routerItem('T#umbrella#REWARD', 'big-0#success_at_k')).toBeDefined();
    expect(head?.state.arms).toEqual({});
    // The router decides on the split state once its cached read has expired: all 48 rewards learnt.
    await sleep(MODEL_CACHE_MS + 50);
    const probe = await route(operator, 'big-probe', experts.slice(0, 8), contextOf(3));
    expect(probe.status, probe.text).toBe(200);
    expect((await rationaleOf(operator, probe.json.rationaleId)).modelVersion).toBe(48);
  });
});
