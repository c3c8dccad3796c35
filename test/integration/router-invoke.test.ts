import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectUniformError, type Harness, startHarness } from './harness.js';

/**
 * Invoke mode over HTTP on the embedded runtime: the router picks an expert, calls it through the
 * guarded outbound client (local fake experts, so the runtime allows private endpoints as
 * `npm start -- --allow-private-endpoints` does), falls back on infrastructure errors, and records
 * the outcome and the automatic reward signals.
 */
let h: Harness;
let server: Server;
let base: string;
const received: { path: string; headers: IncomingHttpHeaders; body: unknown }[] = [];

const admin = () => h.tokens.acmeAdmin ?? '';
const operator = () => h.tokens.acmeOperator ?? '';

const register = async (token: string, name: string, path: string, cost = 0.01): Promise<string> => {
  const reply = await h.call('POST', '/experts', {
    token,
    body: { name, type: 'model', costPerCallUsd: cost, endpoint: `${base}${path}` },
  });
  expect(reply.status, reply.text).toBe(201);
  return reply.json.id as string;
};

const invoke = (body: object, token = operator()) => h.call('POST', '/router/invoke', { token, body });
const hitsOf = (path: string) => received.filter((r) => r.path === path).length;
const drainRewards = async () => {
  await h.conductor.mappings.get('conductor-rewards')?.drain();
};
/** The outcome the invoke recorded for a task: a later report is a duplicate that returns the first. */
const recordedOutcome = async (taskId: string) =>
  (
    await h.call('POST', '/router/outcome', {
      token: operator(),
      body: { taskId, status: 'ok', latencyMs: 1 },
    })
  ).json;

let good: string;
let slow: string;
let broken: string;
let garbage: string;
let picky: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => {
      text += chunk;
    });
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: text ? JSON.parse(text) : undefined });
      const send = (status: number, body: string, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(body);
      };
      if (req.url === '/good') return send(200, JSON.stringify({ answer: 'blue', costUsd: 0.004 }));
      if (req.url === '/slow') return; // hangs
      if (req.url === '/broken') return send(503, '{"error":"down"}');
      if (req.url === '/garbage') return send(200, '{"answer": "bl');
      if (req.url === '/picky') return send(400, '{"error":"bad question"}');
      send(404, '{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  h = await startHarness({ allowPrivateEndpoints: true });
  good = await register(admin(), 'good', '/good', 0.01);
  slow = await register(admin(), 'slow', '/slow', 0.001);
  broken = await register(admin(), 'broken', '/broken', 0.001);
  garbage = await register(admin(), 'garbage', '/garbage', 0.001);
  picky = await register(admin(), 'picky', '/picky', 0.001);
  // The default expert of a static strategy: the tests choose who is picked first.
  await h.call('PUT', '/router/config', {
    token: admin(),
    body: { strategy: 'static', defaultExpertId: good },
  });
});
afterAll(async () => {
  await h?.conductor.stop();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const useDefault = async (expertId: string) => {
  const reply = await h.call('PUT', '/router/config', {
    token: admin(),
    body: { strategy: 'static', defaultExpertId: expertId },
  });
  expect(reply.status, reply.text).toBe(200);
};

describe('POST /router/invoke', () => {
  it('routes, calls the chosen expert with the input, returns its answer, and learns the automatic signals', async () => {
    // Prepare
    await useDefault(good);

    // Act
    const reply = await invoke({
      taskId: 'inv-ok',
      context: { language: 'ts' },
      candidates: [good, slow],
      input: { question: 'sky colour?' },
    });
    await drainRewards();
    const outcome = await recordedOutcome('inv-ok');
    const rejected = await h.call('GET', '/router/rewards/rejected', { token: admin() });

    // Assess
    expect(reply.status, reply.text).toBe(200);
    expect(reply.json).toMatchObject({
      taskId: 'inv-ok',
      answeredTaskId: 'inv-ok',
      expertId: good,
      fallbackUsed: false,
      output: { answer: 'blue', costUsd: 0.004 },
      httpStatus: 200,
      costUsd: 0.004,
      signalsRecorded: true,
      attempts: [{ taskId: 'inv-ok', expertId: good, outcome: 'ok', httpStatus: 200 }],
    });
    const call = received.find((r) => r.path === '/good');
    expect(call?.body).toEqual({ question: 'sky colour?' });
    expect(call?.headers['x-conductor-task-id']).toBe('inv-ok');
    expect(call?.headers['idempotency-key']).toBe('inv-ok');
    expect(outcome).toMatchObject({ duplicate: true, status: 'ok', expertId: good });
    expect(rejected.json.items.filter((r: { taskId: string }) => r.taskId === 'inv-ok')).toEqual([]);
  });

  for (const [name, path, status, attemptOutcome] of [
    ['hangs', '/slow', 'timeout', 'timeout'],
    ['answers 503', '/broken', 'error', 'unavailable'],
    ['answers garbage', '/garbage', 'error', 'unusable'],
  ] as const) {
    it(`an expert that ${name} is recorded as ${status} and the runner-up answers as its own task`, async () => {
      // Prepare: the failing expert is picked first.
      const failing = { '/slow': slow, '/broken': broken, '/garbage': garbage }[path];
      await useDefault(failing);
      const taskId = `inv-${path.slice(1)}`;

      // Act
      const reply = await invoke({
        taskId,
        context: {},
        candidates: [failing, good],
        input: { question: 'again?' },
        timeoutMs: 300,
      });

      // Assess
      expect(reply.status, reply.text).toBe(200);
      expect(reply.json).toMatchObject({
        expertId: good,
        answeredTaskId: `${taskId}:fallback-1`,
        fallbackUsed: true,
        output: { answer: 'blue' },
      });
      expect(
        reply.json.attempts.map((a: { expertId: string; outcome: string }) => [a.expertId, a.outcome]),
      ).toEqual([
        [failing, attemptOutcome],
        [good, 'ok'],
      ]);
      expect(await recordedOutcome(taskId)).toMatchObject({ duplicate: true, status, expertId: failing });
      expect(await recordedOutcome(`${taskId}:fallback-1`)).toMatchObject({
        duplicate: true,
        status: 'ok',
        expertId: good,
      });
    });
  }

  it('without a fallback, a failure is a 502 in the uniform shape naming the attempt, and nothing else is called', async () => {
    // Prepare
    await useDefault(broken);
    const goodCalls = hitsOf('/good');

    // Act
    const reply = await invoke({
      taskId: 'inv-nofallback',
      context: {},
      candidates: [broken, good],
      input: 1,
      maxFallbacks: 0,
    });

    // Assess
    expectUniformError(reply, 502, 'expert_failed');
    expect(reply.json.message).toContain(`${broken} answered 503`);
    expect(reply.json.details.attempts).toMatchObject([
      { expertId: broken, outcome: 'unavailable', httpStatus: 503 },
    ]);
    expect(hitsOf('/good')).toBe(goodCalls);
  });

  it('a 4xx answer is the expert’s verdict: 502 with its status, no fallback', async () => {
    await useDefault(picky);
    const goodCalls = hitsOf('/good');

    const reply = await invoke({ taskId: 'inv-picky', context: {}, candidates: [picky, good], input: 'x' });

    expectUniformError(reply, 502, 'expert_failed');
    expect(reply.json.message).toContain('answered 400');
    expect(hitsOf('/good')).toBe(goodCalls);
    expect(await recordedOutcome('inv-picky')).toMatchObject({ duplicate: true, status: 'error' });
  });

  it('a shadow candidate never calls an expert: only the served pick is called', async () => {
    // Prepare: the baseline serves `good`; a shadow candidate that would pick anything.
    const put = await h.call('PUT', '/router/config', {
      token: admin(),
      body: {
        strategy: 'static',
        defaultExpertId: good,
        experiment: {
          name: 'inv-shadow',
          candidate: { strategy: 'epsilon-greedy', epsilon: 1 },
          mode: 'shadow',
          percent: 100,
        },
      },
    });
    expect(put.status, put.text).toBe(200);
    const before = received.length;

    // Act
    for (let i = 0; i < 5; i += 1)
      expect(
        (await invoke({ taskId: `inv-shadow-${i}`, context: {}, candidates: [good, slow, picky], input: i }))
          .status,
      ).toBe(200);

    // Assess
    expect(received.slice(before).map((r) => r.path)).toEqual(Array(5).fill('/good'));
    await useDefault(good);
  });

  it('another tenant’s experts cannot be invoked: they are unknown there, and never called', async () => {
    const before = received.length;

    const reply = await invoke(
      { taskId: 'inv-foreign', context: {}, candidates: [good], input: 'x' },
      h.tokens.globexAdmin,
    );

    expectUniformError(reply, 422, 'no_candidates');
    expect(received.length).toBe(before);
  });

  it('refuses bad input with a 4xx in the uniform shape and calls nothing', async () => {
    const before = received.length;
    const base = { taskId: 'inv-bad', context: {}, candidates: [good], input: 'x' };
    for (const body of [
      { ...base, input: undefined },
      { ...base, timeoutMs: 5 },
      { ...base, timeoutMs: 60_000 },
      { ...base, maxFallbacks: 3 },
      { ...base, taskId: 'x'.repeat(117) },
      { ...base, extra: true },
    ]) {
      const reply = await invoke(body);
      expectUniformError(reply, 400);
    }
    expect((await invoke(base, h.tokens.acmeViewer)).status).toBe(403);
    expect(received.length).toBe(before);
  });
});
