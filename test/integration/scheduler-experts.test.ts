import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectUniformError, type Harness, startHarness } from './harness.js';

/**
 * Jobs that call experts, over HTTP on the embedded runtime: a local fake expert (so the runtime
 * runs with --allow-private-endpoints, as `npm start` can), registered through the experts API; jobs
 * target it directly or through a routing request; the worker calls it through the guarded client.
 */
let h: Harness;
let expertServer: Server;
let base: string;
const received: { path: string; headers: IncomingHttpHeaders; body: unknown }[] = [];
let flakyCalls = 0;

const QUEUES = ['high', 'jobs', 'low'].map((name) => `conductor-scheduler-${name}`);
const drainJobs = async () => {
  for (const queue of QUEUES) await h.conductor.mappings.get(queue)?.drain();
};
const enqueue = (body: unknown, token = h.tokens.acmeOperator) =>
  h.call('POST', '/scheduler/enqueue', { token, body });
const job = async (jobId: string) =>
  (await h.call('GET', `/scheduler/jobs/${jobId}`, { token: h.tokens.acmeViewer })).json;
const register = async (
  token: string | undefined,
  name: string,
  path: string,
  cost: number,
): Promise<string> => {
  const reply = await h.call('POST', '/experts', {
    token,
    body: { name, type: 'model', costPerCallUsd: cost, endpoint: `${base}${path}` },
  });
  expect(reply.status, reply.text).toBe(201);
  return reply.json.id;
};

let cheap: string;
let pricey: string;
let flaky: string;
let failing: string;
let globexExpert: string;

beforeAll(async () => {
  expertServer = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => {
      text += chunk;
    });
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: text ? JSON.parse(text) : undefined });
      const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      if (req.url === '/summarise') return reply(200, { summary: 'all quiet', costUsd: 0.004 });
      if (req.url === '/premium')
        return reply(200, { summary: 'all quiet, in depth' }, { 'x-conductor-cost-usd': '0.3' });
      if (req.url === '/flaky') {
        flakyCalls += 1;
        return flakyCalls <= 2
          ? reply(503, { error: 'warming up' })
          : reply(200, { summary: 'late but fine' });
      }
      return reply(400, { error: 'unknown task' });
    });
  });
  await new Promise<void>((resolve) => expertServer.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(expertServer.address() as AddressInfo).port}`;
  h = await startHarness({ allowPrivateEndpoints: true });
  cheap = await register(h.tokens.acmeAdmin, 'summariser', '/summarise', 0.01);
  pricey = await register(h.tokens.acmeAdmin, 'premium', '/premium', 0.5);
  flaky = await register(h.tokens.acmeAdmin, 'flaky', '/flaky', 0.02);
  failing = await register(h.tokens.acmeAdmin, 'failing', '/nothing-here', 0.05);
  globexExpert = await register(h.tokens.globexAdmin, 'globex-only', '/summarise', 0.01);
});
afterAll(async () => {
  await h.conductor.stop();
  await new Promise((resolve) => expertServer.close(resolve));
});

describe('jobs that call experts', () => {
  it('calls the target expert with the payload and records outcome, latency, answer and the cost it reported', async () => {
    // Act
    const accepted = await enqueue({ payload: { incident: 4711 }, target: { expertId: cheap } });
    await drainJobs();
    const done = await job(accepted.json.jobId);

    // Assess
    expect(accepted.status, accepted.text).toBe(202);
    expect(done).toMatchObject({
      status: 'completed',
      expertId: cheap,
      outcome: 'ok',
      httpStatus: 200,
      attempts: 1,
      estimatedCostUsd: 0.01,
      costUsd: 0.004,
      result: { summary: 'all quiet', costUsd: 0.004 },
      latencyMs: expect.any(Number),
    });
    const call = received.find((r) => r.headers['x-conductor-job-id'] === accepted.json.jobId);
    expect(call).toMatchObject({ path: '/summarise', body: { incident: 4711 } });
    expect(call?.headers['idempotency-key']).toBe(accepted.json.jobId);
    const completed = h.conductor.bus
      .history(500)
      .map((entry) => entry.event)
      .find(
        (event) =>
          event['detail-type'] === 'job_completed' &&
          (event.detail as { jobId: string }).jobId === accepted.json.jobId,
      );
    expect(completed?.detail).toMatchObject({ expertId: cheap, outcome: 'ok', costUsd: 0.004 });
  });

  it('asks the router for a routing request (its decision’s taskId is the job id), then calls the chosen expert', async () => {
    const accepted = await enqueue({
      payload: { incident: 4712 },
      target: { route: { context: { lang: 'en', tokens: 300 }, candidates: [cheap, pricey] } },
    });
    await drainJobs();
    const done = await job(accepted.json.jobId);

    expect(accepted.status, accepted.text).toBe(202);
    expect([cheap, pricey]).toContain(done.expertId);
    expect(done).toMatchObject({ taskId: accepted.json.jobId, outcome: 'ok' });
    expect(done.costUsd).toBe(done.expertId === cheap ? 0.004 : 0.3);
    // The worker handed the job's outcome to the router (its job-outcomes queue): a client's report
    // of the same task now is a duplicate, and the worker's stands.
    await h.conductor.mappings.get('conductor-job-outcomes')?.drain();
    const outcome = await h.call('POST', '/router/outcome', {
      token: h.tokens.acmeOperator,
      body: { taskId: accepted.json.jobId, status: 'error', latencyMs: 1 },
    });
    expect(outcome.status, outcome.text).toBe(200);
    expect(outcome.json).toMatchObject({
      taskId: accepted.json.jobId,
      expertId: done.expertId,
      status: 'ok',
      duplicate: true,
    });
    expect(outcome.json.latencyMs).toBe(done.latencyMs);
    // The router's decision is idempotent per taskId: routing the job id again answers the same expert.
    const again = await h.call('POST', '/router/route', {
      token: h.tokens.acmeOperator,
      body: {
        taskId: accepted.json.jobId,
        context: { lang: 'en', tokens: 300 },
        candidates: [cheap, pricey],
      },
    });
    expect(again.json.expertId).toBe(done.expertId);
  });

  it('retries an expert’s 503s within the delivery and takes its later answer', async () => {
    const accepted = await enqueue({ payload: {}, target: { expertId: flaky } });
    await drainJobs();

    expect(await job(accepted.json.jobId)).toMatchObject({ outcome: 'ok', attempts: 3, costUsd: 0.02 });
  });

  it('completes a job whose expert answers 400 with outcome error, at the expert’s declared cost', async () => {
    const accepted = await enqueue({ payload: {}, target: { expertId: failing } });
    await drainJobs();

    expect(await job(accepted.json.jobId)).toMatchObject({
      status: 'completed',
      outcome: 'error',
      httpStatus: 400,
      costUsd: 0.05,
      result: { error: 'unknown task' },
    });
  });

  it('refuses another tenant’s expert, an unknown one and a bad target with a clear 4xx, storing nothing', async () => {
    const before = (await h.call('GET', '/scheduler/jobs?limit=100', { token: h.tokens.acmeViewer })).json
      .items.length;

    const other = await enqueue({ payload: {}, target: { expertId: globexExpert } });
    const unknown = await enqueue({
      payload: {},
      target: { expertId: 'exp_00000000-0000-0000-0000-000000000000' },
    });
    const badTarget = await enqueue({ payload: {}, target: { expertId: cheap, route: {} } });
    const noCandidates = await enqueue({ payload: {}, target: { route: { context: {}, candidates: [] } } });

    expectUniformError(other, 422, 'unknown_expert');
    expectUniformError(unknown, 422, 'unknown_expert');
    expectUniformError(badTarget, 400, 'validation_failed');
    expectUniformError(noCandidates, 400, 'validation_failed');
    const after = (await h.call('GET', '/scheduler/jobs?limit=100', { token: h.tokens.acmeViewer })).json
      .items.length;
    expect(after).toBe(before);
  });
});
