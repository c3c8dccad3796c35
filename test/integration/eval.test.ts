import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { baselineSchema, runResultSchema, suiteSummarySchema } from '../../functions/eval/contract.js';
import { expectUniformError, type Harness, type Reply, startHarness } from './harness.js';

/**
 * The eval API over real HTTP on the embedded runtime. A local fake calculator (so the runtime runs
 * with --allow-private-endpoints, as `npm start` can) answers `{ answer: a + b }` for a task's input
 * `{ a, b }`, right or wrong or not at all depending on the path; its experts are registered through
 * the experts API, so a run resolves them as the router shows them to the caller. Runs go through
 * the eval queue: each test drains it before reading the result.
 */
let h: Harness;
let expertServer: Server;
let base: string;
/** A port nothing listens on: a connection there is refused. */
let closedPort: number;
/** Every call the fake experts received: its URL and the task and trial the eval worker named. */
const calls: { url: string; task: string; trial: string }[] = [];
/** Answers of the hanging expert, kept open until the end. */
const hanging: ServerResponse[] = [];

const EVAL_QUEUE = 'conductor-eval-runs';
const drainRuns = () => h.conductor.mappings.get(EVAL_QUEUE)?.drain();

/** Sums of two integers: task `sum-<i>` sends `{ a: i, b: i + 1 }` and expects `answer` to be 2i + 1. */
const sumsSuite = (id: string, tasks: number, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'conductor.suite/v1',
  id,
  version: '1',
  description: 'Sums of two integers',
  expertType: 'calculator',
  defaults: { scorer: { type: 'exact' }, outputPath: 'answer' },
  tasks: Array.from({ length: tasks }, (_, i) => ({
    id: `sum-${i}`,
    input: { a: i, b: i + 1 },
    expected: 2 * i + 1,
  })),
  ...extra,
});

/** The tasks the regressed calculator gets wrong: every eighth. */
const regressedOn = (a: number) => a % 8 === 0;

const registerSuite = async (document: { id: string }, token = h.tokens.acmeOperator) => {
  const reply = await h.call('PUT', `/eval/suites/${document.id}`, { token, body: document });
  expect(reply.status, reply.text).toBe(200);
  return reply;
};

const registerExpert = async (name: string, endpoint: string, token = h.tokens.acmeAdmin) => {
  const reply = await h.call('POST', '/experts', {
    token,
    body: { name, type: 'model', costPerCallUsd: 0, endpoint },
  });
  expect(reply.status, reply.text).toBe(201);
  return reply.json.id as string;
};

/** Points an expert at another path of the fake calculator (a new version of the expert). */
const moveExpert = async (expertId: string, path: string) => {
  const current = await h.call('GET', `/experts/${expertId}`, { token: h.tokens.acmeAdmin });
  expect(current.status, current.text).toBe(200);
  const { name, type, costPerCallUsd, metadata, enabled } = current.json;
  const reply = await h.call('PUT', `/experts/${expertId}`, {
    token: h.tokens.acmeAdmin,
    headers: { 'if-match': `"${current.json.version}"` },
    body: { name, type, costPerCallUsd, metadata, enabled, endpoint: `${base}${path}` },
  });
  expect(reply.status, reply.text).toBe(200);
};

const submit = (body: Record<string, unknown>, token = h.tokens.acmeOperator) =>
  h.call('POST', '/eval/run', { token, body });

const results = (runId: string, token = h.tokens.acmeViewer) =>
  h.call('GET', `/eval/results/${runId}`, { token });

/** Submits a run, drains the eval queue and answers the run as GET eval/results shows it. */
const runToEnd = async (body: Record<string, unknown>): Promise<{ accepted: Reply; done: Reply }> => {
  const accepted = await submit(body);
  expect(accepted.status, accepted.text).toBe(202);
  await drainRuns();
  const done = await results(accepted.json.runId);
  expect(done.status, done.text).toBe(200);
  expect(done.json.status).toBe('completed');
  return { accepted, done };
};

/** The message POST eval/run handed to the eval queue, as the worker reads it. */
const messageOf = (accepted: Reply) =>
  JSON.stringify({
    tenantId: 'acme',
    runId: accepted.json.runId,
    traceId: accepted.headers.get('x-conductor-trace-id'),
  });

const evalQueue = () => {
  const queue = h.conductor.queues.get(EVAL_QUEUE);
  if (!queue) throw new Error('no eval queue');
  return queue;
};
const evalMapping = () => {
  const mapping = h.conductor.mappings.get(EVAL_QUEUE);
  if (!mapping) throw new Error('no event source mapping on the eval queue');
  return mapping;
};

const regressionEvents = (runId: string) =>
  h.conductor.bus
    .history(500)
    .map((entry) => entry.event)
    .filter(
      (event) =>
        event['detail-type'] === 'eval_regression' && (event.detail as { runId: string }).runId === runId,
    );

let right: string;
let regressed: string;
let hangs: string;
let garbage: string;
let unavailable: string;
let refused: string;
let globexExpert: string;

beforeAll(async () => {
  expertServer = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => {
      text += chunk;
    });
    req.on('end', () => {
      const url = req.url ?? '';
      calls.push({
        url,
        task: String(req.headers['x-conductor-eval-task']),
        trial: String(req.headers['x-conductor-eval-trial']),
      });
      const { a, b } = JSON.parse(text || '{}') as { a: number; b: number };
      const answer = (value: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ answer: value }));
      };
      const path = url.split('?')[0];
      if (path === '/right') return answer(a + b);
      if (path === '/regressed') return answer(regressedOn(a) ? a + b + 1 : a + b);
      if (path === '/hang') return void hanging.push(res);
      if (path === '/garbage') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{"answer": 4');
      }
      if (path === '/unavailable') {
        res.writeHead(503, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: 'overloaded' }));
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'no such path' }));
    });
  });
  await new Promise<void>((resolve) => expertServer.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(expertServer.address() as AddressInfo).port}`;
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  closedPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));

  h = await startHarness({ allowPrivateEndpoints: true });
  right = await registerExpert('calculator', `${base}/right`);
  regressed = await registerExpert('calculator-regressed', `${base}/regressed`);
  hangs = await registerExpert('calculator-hangs', `${base}/hang`);
  garbage = await registerExpert('calculator-garbage', `${base}/garbage`);
  unavailable = await registerExpert('calculator-503', `${base}/unavailable`);
  refused = await registerExpert('calculator-gone', `http://127.0.0.1:${closedPort}/right`);
  globexExpert = await registerExpert('globex-calculator', `${base}/right`, h.tokens.globexAdmin);
});
afterAll(async () => {
  await h?.conductor.stop();
  for (const res of hanging) res.destroy();
  expertServer.closeAllConnections();
  await new Promise((resolve) => expertServer.close(resolve));
});

describe('golden suites', () => {
  it('registers a suite version, answers the same document again unchanged, refuses other content under that version and takes a new one', async () => {
    // Prepare
    const v1 = sumsSuite('sums', 4);
    // The same suite: its keys in another order, its defaults spelled out.
    const { tasks, defaults, ...header } = v1;
    const reordered = {
      tasks: tasks.map(({ id, input, expected }) => ({ expected, input, id })),
      defaults: { trials: 1, weight: 1, tolerance: 0, ...defaults },
      gate: { confidence: 0.99, tolerance: 0.05 },
      timeoutMs: 10_000,
      ...header,
    };
    const changed = { ...v1, tasks: v1.tasks.slice(1) };
    const v2 = {
      ...v1,
      version: '2',
      tasks: [...v1.tasks, { id: 'sum-big', input: { a: 1e6, b: 1 }, expected: 1e6 + 1 }],
    };

    // Act
    const first = await h.call('PUT', '/eval/suites/sums', { token: h.tokens.acmeOperator, body: v1 });
    const again = await h.call('PUT', '/eval/suites/sums', { token: h.tokens.acmeOperator, body: reordered });
    const conflict = await h.call('PUT', '/eval/suites/sums', {
      token: h.tokens.acmeOperator,
      body: changed,
    });
    const second = await h.call('PUT', '/eval/suites/sums', { token: h.tokens.acmeOperator, body: v2 });
    const listed = await h.call('GET', '/eval/suites?limit=100', { token: h.tokens.acmeViewer });

    // Assess
    expect(first.status, first.text).toBe(200);
    expect(suiteSummarySchema.parse(first.json)).toMatchObject({
      suiteId: 'sums',
      version: '1',
      description: 'Sums of two integers',
      expertType: 'calculator',
      tasks: 4,
      tolerance: 0.05,
      confidence: 0.99,
      judges: [],
      registeredBy: 'test-acme-operator',
    });
    expect(first.json.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(again.status, again.text).toBe(200);
    expect(again.json).toEqual(first.json);
    expectUniformError(conflict, 409, 'suite_version_exists');
    expect(second.status, second.text).toBe(200);
    expect(second.json).toMatchObject({ suiteId: 'sums', version: '2', tasks: 5 });
    expect(second.json.digest).not.toBe(first.json.digest);
    expect(listed.status, listed.text).toBe(200);
    expect(listed.json.items.filter((s: { suiteId: string }) => s.suiteId === 'sums')).toEqual([second.json]);
  });

  it('answers an older version registered again as it was, and leaves the suite at its latest version', async () => {
    // Prepare
    const v1 = sumsSuite('versions', 2);
    const v2 = { ...v1, version: '2', tasks: v1.tasks.slice(0, 1) };
    const first = await registerSuite(v1);
    const latest = await registerSuite(v2);

    // Act
    const again = await h.call('PUT', '/eval/suites/versions', { token: h.tokens.acmeOperator, body: v1 });
    const listed = await h.call('GET', '/eval/suites?limit=100', { token: h.tokens.acmeViewer });

    // Assess
    expect(again.status, again.text).toBe(200);
    expect(again.json).toEqual(first.json);
    expect(listed.json.items.filter((s: { suiteId: string }) => s.suiteId === 'versions')).toEqual([
      latest.json,
    ]);
  });

  it('refuses an invalid suite with a 400 naming the path in the document and the reason, and stores nothing', async () => {
    // Prepare
    const invalid = {
      ...sumsSuite('broken', 2),
      tasks: [
        { id: 'sum-0', input: { a: 0, b: 1 }, expected: 1 },
        { id: 'sum-1', input: { a: 1, b: 2 }, expected: 'three', scorer: { type: 'numeric' } },
      ],
    };
    const custom = {
      ...sumsSuite('custom', 1),
      tasks: [{ id: 'sum-0', input: { a: 0, b: 1 }, scorer: { type: 'custom', module: './score.js' } }],
    };

    // Act
    const refused = await h.call('PUT', '/eval/suites/broken', {
      token: h.tokens.acmeOperator,
      body: invalid,
    });
    const mismatch = await h.call('PUT', '/eval/suites/elsewhere', {
      token: h.tokens.acmeOperator,
      body: sumsSuite('sums-elsewhere', 1),
    });
    const customRefused = await h.call('PUT', '/eval/suites/custom', {
      token: h.tokens.acmeOperator,
      body: custom,
    });
    const listed = await h.call('GET', '/eval/suites?limit=100', { token: h.tokens.acmeViewer });

    // Assess
    expectUniformError(refused, 400, 'invalid_suite');
    expect(refused.json.message).toContain(
      'tasks[1].expected: the numeric scorer needs a number, got "three"',
    );
    expect(refused.json.details.issues).toContainEqual({
      path: 'tasks[1].expected',
      message: 'the numeric scorer needs a number, got "three"',
    });
    expectUniformError(mismatch, 400, 'invalid_suite');
    expect(mismatch.json.message).toContain("'sums-elsewhere'");
    expect(mismatch.json.message).toContain("'elsewhere'");
    expectUniformError(customRefused, 400, 'invalid_suite');
    expect(customRefused.json.message).toContain('custom scorer');
    expect(customRefused.json.details.issues).toContainEqual({
      path: 'tasks[0].scorer',
      message: 'custom scorers run only in standalone mode',
    });
    const ids = listed.json.items.map((s: { suiteId: string }) => s.suiteId);
    expect(ids).not.toContain('broken');
    expect(ids).not.toContain('elsewhere');
    expect(ids).not.toContain('sums-elsewhere');
    expect(ids).not.toContain('custom');
  });
});

describe('run requests that cannot run', () => {
  let otherBaseline: string;

  beforeAll(async () => {
    await registerSuite(sumsSuite('requests', 2));
    await registerSuite(sumsSuite('requests-other', 2));
    const { done } = await runToEnd({ suiteId: 'requests-other', expertIds: [right] });
    const snapshot = await h.call('POST', '/eval/baselines', {
      token: h.tokens.acmeOperator,
      body: { runId: done.json.runId, baselineId: 'requests-other-main' },
    });
    expect(snapshot.status, snapshot.text).toBe(201);
    otherBaseline = snapshot.json.baselineId;
  });

  it('refuses each with its uniform 4xx and queues nothing: a retry of the same key with a good request is a new run', async () => {
    // Prepare: each refusal under its own idempotencyKey; a stored run would make the good retry a replay or a 409.
    const cases: [Record<string, unknown>, number, string][] = [
      [{ suiteId: 'requests', expertIds: [right], colour: 'red' }, 400, 'validation_failed'],
      [{ suiteId: 'no-such-suite', expertIds: [right] }, 404, 'suite_not_found'],
      [
        { suiteId: 'requests', expertIds: ['exp_00000000-0000-0000-0000-000000000000'] },
        422,
        'unknown_expert',
      ],
      [{ suiteId: 'requests', expertIds: [globexExpert] }, 422, 'unknown_expert'],
      [
        { suiteId: 'requests', expertIds: [right], baselineId: 'no-such-baseline' },
        404,
        'baseline_not_found',
      ],
      [
        { suiteId: 'requests', expertIds: [right], baselineId: otherBaseline },
        422,
        'baseline_suite_mismatch',
      ],
    ];

    // Act
    const refusals = [];
    for (const [index, [body]] of cases.entries())
      refusals.push(await submit({ ...body, idempotencyKey: `refused-${index}` }));
    const retries = [];
    for (const index of cases.keys())
      retries.push(
        await submit({ suiteId: 'requests', expertIds: [right], idempotencyKey: `refused-${index}` }),
      );
    await drainRuns();

    // Assess
    for (const [index, [, status, code]] of cases.entries())
      expectUniformError(refusals[index] as Reply, status, code);
    expect(refusals[0]?.json.message).toContain('body.colour: unknown field');
    expect(refusals[3]?.json.message).toContain(globexExpert);
    for (const retry of retries) {
      expect(retry.status, retry.text).toBe(202);
      expect(retry.headers.get('idempotent-replayed')).toBeNull();
    }
    expect(new Set(retries.map((retry) => retry.json.runId)).size).toBe(cases.length);
  });
});

describe('a run, end to end', () => {
  it('runs the suite against every expert through the queue and tells wrong answers from infrastructure errors', async () => {
    // Prepare: a small timeout and no retries, so the expert that never answers costs little.
    await registerSuite(sumsSuite('smoke', 16, { timeoutMs: 300 }));
    const expertIds = [right, regressed, hangs, garbage, unavailable, refused];

    // Act
    const accepted = await submit({ suiteId: 'smoke', expertIds, retries: 0, concurrency: 16 });
    const queued = await results(accepted.json.runId);
    await drainRuns();
    const done = await results(accepted.json.runId);
    const report = await h.call('GET', `/eval/results/${accepted.json.runId}/report`, {
      token: h.tokens.acmeViewer,
    });

    // Assess
    expect(accepted.status, accepted.text).toBe(202);
    expect(accepted.json).toEqual({ runId: expect.stringMatching(/^run_/), status: 'queued' });
    expect(queued.json).toMatchObject({ runId: accepted.json.runId, suiteId: 'smoke' });
    expect(runResultSchema.parse(done.json)).toMatchObject({
      runId: accepted.json.runId,
      suiteId: 'smoke',
      suiteVersion: '1',
      expertIds,
      status: 'completed',
      verdict: 'infrastructure_failure',
      verdicts: [],
      regressions: [],
      requestedBy: 'test-acme-operator',
    });
    const metric = (expertId: string) =>
      done.json.metrics.find((m: { expertId: string }) => m.expertId === expertId);
    expect(metric(right)).toMatchObject({ passRate: 1, tasks: 16, scoredTrials: 16, errorTrials: 0 });
    expect(metric(regressed)).toMatchObject({ passRate: 14 / 16, scoredTrials: 16, errorTrials: 0 });
    expect(metric(garbage)).toMatchObject({ passRate: 0, scoredTrials: 16, errorTrials: 0 });
    for (const broken of [hangs, unavailable, refused])
      expect(metric(broken)).toMatchObject({ tasks: 0, scoredTrials: 0, errorTrials: 16 });

    expect(report.status, report.text).toBe(200);
    expect(report.json).toMatchObject({
      apiVersion: 'conductor.eval-report/v1',
      runId: accepted.json.runId,
      suiteId: 'smoke',
      status: 'infrastructure_failure',
      metrics: done.json.metrics,
    });
    expect(report.json.results).toHaveLength(16 * expertIds.length);
    const trialsOf = (expertId: string) =>
      report.json.results
        .filter((r: { expertId: string }) => r.expertId === expertId)
        .flatMap((r: { trials: unknown[] }) => r.trials);
    expect(trialsOf(right)).toHaveLength(16);
    expect(trialsOf(right).every((t: { kind: string; pass: boolean }) => t.kind === 'scored' && t.pass)).toBe(
      true,
    );
    const wrong = report.json.results.find(
      (r: { expertId: string; taskId: string }) => r.expertId === regressed && r.taskId === 'sum-8',
    );
    expect(wrong.trials).toEqual([
      expect.objectContaining({ kind: 'scored', score: 0, pass: false, detail: 'expected 17, got 18' }),
    ]);
    for (const trial of trialsOf(garbage))
      expect(trial).toMatchObject({
        kind: 'scored',
        score: 0,
        pass: false,
        detail: expect.stringContaining('unusable'),
      });
    for (const trial of trialsOf(hangs))
      expect(trial).toMatchObject({ kind: 'error', error: 'timeout', attempts: 1 });
    for (const trial of trialsOf(unavailable))
      expect(trial).toMatchObject({ kind: 'error', error: 'unavailable', attempts: 1 });
    for (const trial of trialsOf(refused))
      expect(trial).toMatchObject({ kind: 'error', error: 'unavailable' });
    // No retries were asked for: one call per task, even of the expert answering 503.
    expect(calls.filter((call) => call.url === '/unavailable')).toHaveLength(16);
  });

  it('keeps a run queued until the worker takes it: its report and priors are 409 until then, an unknown run 404', async () => {
    // Prepare: the eval queue's consumer is stopped, so the run waits in the queue.
    await registerSuite(sumsSuite('pending', 1));
    await evalMapping().stop();
    const missing = 'run_00000000-0000-0000-0000-000000000000';

    // Act
    let accepted: Reply;
    let queued: Reply;
    let report: Reply;
    let priors: Reply;
    try {
      accepted = await submit({ suiteId: 'pending', expertIds: [right] });
      queued = await results(accepted.json.runId);
      report = await h.call('GET', `/eval/results/${accepted.json.runId}/report`, {
        token: h.tokens.acmeViewer,
      });
      priors = await h.call('GET', `/eval/results/${accepted.json.runId}/priors`, {
        token: h.tokens.acmeViewer,
      });
    } finally {
      evalMapping().start();
    }
    const missingResults = await results(missing);
    const missingReport = await h.call('GET', `/eval/results/${missing}/report`, {
      token: h.tokens.acmeViewer,
    });
    const missingPriors = await h.call('GET', `/eval/results/${missing}/priors`, {
      token: h.tokens.acmeViewer,
    });
    await drainRuns();
    const done = await results(accepted.json.runId);

    // Assess
    expect(accepted.status, accepted.text).toBe(202);
    expect(queued.json).toMatchObject({ status: 'queued', metrics: [], verdicts: [] });
    expect(queued.json.verdict).toBeUndefined();
    expectUniformError(report, 409, 'run_not_completed');
    expectUniformError(priors, 409, 'run_not_completed');
    expectUniformError(missingResults, 404, 'run_not_found');
    expectUniformError(missingReport, 404, 'run_not_found');
    expectUniformError(missingPriors, 404, 'run_not_found');
    expect(done.json).toMatchObject({ status: 'completed', verdict: 'pass' });
  });

  it('answers 503 when the eval queue refuses the run, and a retry with the same idempotencyKey runs it once', async () => {
    // Prepare: the local SQS stand-in refuses every send to the eval queue (the SDK's retries included).
    await registerSuite(sumsSuite('hand-off', 2));
    const counted = await registerExpert('calculator-hand-off', `${base}/right?for=hand-off`);
    const body = { suiteId: 'hand-off', expertIds: [counted], idempotencyKey: 'hand-off-1' };
    const refuse = vi.spyOn(evalQueue(), 'send').mockImplementation(() => {
      throw new Error('injected: the queue is unavailable');
    });

    // Act
    let notQueued: Reply;
    try {
      notQueued = await submit(body);
    } finally {
      refuse.mockRestore();
    }
    const retried = await submit(body);
    await drainRuns();
    const done = await results(retried.json.runId);

    // Assess
    expectUniformError(notQueued, 503, 'run_not_queued');
    expect(retried.status, retried.text).toBe(202);
    expect(retried.headers.get('idempotent-replayed')).toBe('true');
    expect(done.json).toMatchObject({ status: 'completed', verdict: 'pass' });
    expect(calls.filter((call) => call.url === '/right?for=hand-off')).toHaveLength(2);
  });
});

describe('baselines and the gate', () => {
  /**
   * 80 tasks of weight 1: the gate (tolerance 0.05, confidence 0.99, see gate.ts) passes an expert
   * that fails none of them against a baseline that passed all (the interval's half-width is then
   * z·√(2 / (81·82)) ≈ 0.040 < 0.05; at 60 tasks it is 0.053, undecided), and finds the regressed
   * one, wrong on 10 of them (a drop of 0.125, at least ≈ 0.031 at 99 %), a regression.
   */
  const GATE_TASKS = 80;
  let calc: string;
  let goodRun: string;

  beforeAll(async () => {
    await registerSuite(sumsSuite('gate', GATE_TASKS));
    calc = await registerExpert('calculator-gated', `${base}/right`);
    const { done } = await runToEnd({ suiteId: 'gate', expertIds: [calc] });
    goodRun = done.json.runId;
    const snapshot = await h.call('POST', '/eval/baselines', {
      token: h.tokens.acmeOperator,
      body: { runId: goodRun, baselineId: 'gate-main' },
    });
    expect(snapshot.status, snapshot.text).toBe(201);
    const promoted = await h.call('POST', '/eval/baselines/gate-main/promote', { token: h.tokens.acmeAdmin });
    expect(promoted.status, promoted.text).toBe(200);
  });

  it('snapshots a completed run as a baseline that only an admin promotes, and a promoted baseline never changes', async () => {
    // Act
    const snapshot = await h.call('POST', '/eval/baselines', {
      token: h.tokens.acmeOperator,
      body: { runId: goodRun, baselineId: 'gate-candidate' },
    });
    const byOperator = await h.call('POST', '/eval/baselines/gate-candidate/promote', {
      token: h.tokens.acmeOperator,
    });
    const promoted = await h.call('POST', '/eval/baselines/gate-candidate/promote', {
      token: h.tokens.acmeAdmin,
    });
    const promotedAgain = await h.call('POST', '/eval/baselines/gate-candidate/promote', {
      token: h.tokens.acmeAdmin,
    });
    const overwrite = await h.call('POST', '/eval/baselines', {
      token: h.tokens.acmeOperator,
      body: { runId: goodRun, baselineId: 'gate-candidate' },
    });
    const listed = await h.call('GET', '/eval/baselines?suiteId=gate&limit=100', {
      token: h.tokens.acmeViewer,
    });

    // Assess
    expect(snapshot.status, snapshot.text).toBe(201);
    expect(baselineSchema.parse(snapshot.json)).toMatchObject({
      baselineId: 'gate-candidate',
      suiteId: 'gate',
      sourceRunId: goodRun,
      promoted: false,
      experts: [{ expertId: calc, passRate: 1, tasks: GATE_TASKS }],
      createdBy: 'test-acme-operator',
    });
    expectUniformError(byOperator, 403, 'policy_denied');
    expect(promoted.status, promoted.text).toBe(200);
    expect(promoted.json).toMatchObject({
      baselineId: 'gate-candidate',
      promoted: true,
      promotedBy: 'test-acme-tenant-admin',
      promotedAt: expect.any(String),
    });
    expect(promotedAgain.json).toEqual(promoted.json);
    expectUniformError(overwrite, 409, 'baseline_promoted');
    expect(listed.json.items.map((b: { baselineId: string }) => b.baselineId).sort()).toEqual([
      'gate-candidate',
      'gate-main',
    ]);
    expect(listed.json.items.find((b: { baselineId: string }) => b.baselineId === 'gate-candidate')).toEqual(
      promoted.json,
    );
  });

  it('finds the regressed expert against the promoted baseline, names the flipped tasks and publishes eval_regression', async () => {
    // Prepare: a new version of the expert, wrong on every eighth task.
    await moveExpert(calc, '/regressed');

    // Act
    const { done } = await runToEnd({ suiteId: 'gate', expertIds: [calc], baselineId: 'gate-main' });

    // Assess
    const wrongTasks = Array.from({ length: GATE_TASKS }, (_, a) => a).filter(regressedOn);
    expect(runResultSchema.parse(done.json)).toMatchObject({
      status: 'completed',
      verdict: 'regression',
      baselineId: 'gate-main',
      metrics: [expect.objectContaining({ expertId: calc, passRate: 1 - wrongTasks.length / GATE_TASKS })],
    });
    expect(done.json.regressions).toHaveLength(1);
    const [regression] = done.json.regressions;
    expect(regression).toMatchObject({
      expertId: calc,
      verdict: 'regression',
      baselineRate: 1,
      currentRate: 1 - wrongTasks.length / GATE_TASKS,
      delta: -wrongTasks.length / GATE_TASKS,
      tasksCompared: GATE_TASKS,
      severity: 'major',
    });
    expect(regression.flips.map((f: { taskId: string }) => f.taskId).sort()).toEqual(
      wrongTasks.map((a) => `sum-${a}`).sort(),
    );
    expect(regression.flips[0]).toMatchObject({ baseline: 1, current: 0 });
    expect(done.json.verdicts).toEqual(done.json.regressions);
    const events = regressionEvents(done.json.runId);
    expect(events).toHaveLength(1);
    expect(events[0]?.detail).toMatchObject({
      tenantId: 'acme',
      runId: done.json.runId,
      suiteId: 'gate',
      expertId: calc,
      baselineId: 'gate-main',
      metric: 'pass_rate',
      baseline: 1,
      observed: 1 - wrongTasks.length / GATE_TASKS,
      delta: -wrongTasks.length / GATE_TASKS,
      tolerance: 0.05,
      severity: 'major',
    });
  });

  it('passes the expert that answers every task right against the same baseline', async () => {
    // Prepare
    await moveExpert(calc, '/right');

    // Act
    const { done } = await runToEnd({ suiteId: 'gate', expertIds: [calc], baselineId: 'gate-main' });

    // Assess
    expect(done.json).toMatchObject({ status: 'completed', verdict: 'pass', regressions: [] });
    expect(done.json.verdicts).toEqual([
      expect.objectContaining({
        expertId: calc,
        verdict: 'pass',
        delta: 0,
        tasksCompared: GATE_TASKS,
        flips: [],
      }),
    ]);
    expect(regressionEvents(done.json.runId)).toEqual([]);
  });

  it('gives the router priors from a run whose gate passed, which PUT router/priors takes, and none from a regressed run', async () => {
    // Prepare
    await moveExpert(calc, '/right');
    const passed = await runToEnd({ suiteId: 'gate', expertIds: [calc], baselineId: 'gate-main' });
    await moveExpert(calc, '/regressed');
    const regressedRun = await runToEnd({ suiteId: 'gate', expertIds: [calc], baselineId: 'gate-main' });
    await moveExpert(calc, '/right');

    // Act
    const priors = await h.call('GET', `/eval/results/${passed.done.json.runId}/priors`, {
      token: h.tokens.acmeViewer,
    });
    const refused = await h.call('GET', `/eval/results/${regressedRun.done.json.runId}/priors`, {
      token: h.tokens.acmeViewer,
    });
    const applied = await h.call('PUT', '/router/priors', { token: h.tokens.acmeAdmin, body: priors.json });

    // Assess
    expect(passed.done.json.verdict).toBe('pass');
    expect(priors.status, priors.text).toBe(200);
    const [metric] = passed.done.json.metrics;
    expect(priors.json).toEqual({
      format: 'conductor.priors/v1',
      source: `eval:gate:${passed.done.json.runId}`,
      experts: [{ expertId: calc, meanReward: metric.passRate, weight: metric.scoredTrials }],
    });
    expect(regressedRun.done.json.verdict).toBe('regression');
    expectUniformError(refused, 409, 'gate_not_passed');
    expect(applied.status, applied.text).toBe(200);
    expect(applied.json.applied).toEqual([{ expertId: calc, meanReward: 1, weight: GATE_TASKS }]);
  });

  it('changes nothing when a completed run’s message is delivered again: no second run, no second event', async () => {
    // Prepare
    await moveExpert(calc, '/regressed');
    const { accepted, done } = await runToEnd({
      suiteId: 'gate',
      expertIds: [calc],
      baselineId: 'gate-main',
    });
    await moveExpert(calc, '/right');
    const report = await h.call('GET', `/eval/results/${done.json.runId}/report`, {
      token: h.tokens.acmeViewer,
    });
    const callsBefore = calls.length;

    // Act
    evalQueue().send(messageOf(accepted));
    await drainRuns();

    // Assess
    const after = await results(done.json.runId);
    const reportAfter = await h.call('GET', `/eval/results/${done.json.runId}/report`, {
      token: h.tokens.acmeViewer,
    });
    expect(done.json.verdict).toBe('regression');
    expect(after.json).toEqual(done.json);
    expect(reportAfter.json).toEqual(report.json);
    expect(calls.length).toBe(callsBefore);
    expect(regressionEvents(done.json.runId)).toHaveLength(1);
  });
});

describe('runs delivered more than once', () => {
  it('runs a run once when its message is delivered three times at once', async () => {
    // Prepare: the consumer is stopped while the message and two copies of it wait in the queue.
    await registerSuite(sumsSuite('redelivered', 4));
    const counted = await registerExpert('calculator-redelivered', `${base}/right?for=redelivered`);
    await evalMapping().stop();
    let accepted: Reply;
    try {
      accepted = await submit({ suiteId: 'redelivered', expertIds: [counted] });
      evalQueue().send(messageOf(accepted));
      evalQueue().send(messageOf(accepted));
    } finally {
      // Act
      evalMapping().start();
    }
    await drainRuns();

    // Assess
    const done = await results(accepted.json.runId);
    expect(done.json).toMatchObject({ status: 'completed', verdict: 'pass' });
    const received = calls.filter((call) => call.url === '/right?for=redelivered').map((call) => call.task);
    expect(received.sort()).toEqual(['sum-0', 'sum-1', 'sum-2', 'sum-3']);
  });
});

describe('idempotent run requests', () => {
  it('answers the same run for the same key and request, and 409 for the same key with another request', async () => {
    // Prepare
    await registerSuite(sumsSuite('idempotent', 2));
    const body = { suiteId: 'idempotent', expertIds: [right], idempotencyKey: 'nightly-2026-01-01' };

    // Act
    const first = await submit(body);
    const replay = await submit(body);
    const reused = await submit({ ...body, expertIds: [right, regressed] });
    await drainRuns();
    const afterRun = await submit(body);

    // Assess
    expect(first.status, first.text).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(replay.status, replay.text).toBe(202);
    expect(replay.json.runId).toBe(first.json.runId);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expectUniformError(reused, 409, 'idempotency_key_reused');
    expect(afterRun.json).toEqual({ runId: first.json.runId, status: 'completed' });
    expect(afterRun.headers.get('idempotent-replayed')).toBe('true');
  });

  it('keeps keys per tenant: globex’s use of acme’s key is a run of its own', async () => {
    // Prepare
    await registerSuite(sumsSuite('shared-key', 1));
    await registerSuite(sumsSuite('shared-key', 1), h.tokens.globexAdmin);

    // Act
    const acme = await submit({ suiteId: 'shared-key', expertIds: [right], idempotencyKey: 'shared' });
    const globex = await submit(
      { suiteId: 'shared-key', expertIds: [globexExpert], idempotencyKey: 'shared' },
      h.tokens.globexAdmin,
    );
    await drainRuns();

    // Assess
    expect(acme.status, acme.text).toBe(202);
    expect(globex.status, globex.text).toBe(202);
    expect(globex.headers.get('idempotent-replayed')).toBeNull();
    expect(globex.json.runId).not.toBe(acme.json.runId);
  });
});

describe('tenant isolation', () => {
  let acmeRun: string;

  beforeAll(async () => {
    await registerSuite(sumsSuite('tenancy', 2));
    const { done } = await runToEnd({ suiteId: 'tenancy', expertIds: [right] });
    acmeRun = done.json.runId;
    const snapshot = await h.call('POST', '/eval/baselines', {
      token: h.tokens.acmeOperator,
      body: { runId: acmeRun, baselineId: 'tenancy-main' },
    });
    expect(snapshot.status, snapshot.text).toBe(201);
  });

  it('shows globex none of acme’s runs, reports, priors, baselines or suites: they look missing', async () => {
    // Prepare
    const token = h.tokens.globexAdmin;
    const missing = 'run_00000000-0000-0000-0000-000000000000';

    // Act
    const run = await results(acmeRun, token);
    const report = await h.call('GET', `/eval/results/${acmeRun}/report`, { token });
    const priors = await h.call('GET', `/eval/results/${acmeRun}/priors`, { token });
    const missingRun = await results(missing, token);
    const baselines = await h.call('GET', '/eval/baselines?limit=100', { token });
    const suites = await h.call('GET', '/eval/suites?limit=100', { token });
    const promote = await h.call('POST', '/eval/baselines/tenancy-main/promote', { token });
    const snapshot = await h.call('POST', '/eval/baselines', {
      token,
      body: { runId: acmeRun, baselineId: 'stolen' },
    });

    // Assess
    expectUniformError(run, 404, 'run_not_found');
    expectUniformError(report, 404, 'run_not_found');
    expectUniformError(priors, 404, 'run_not_found');
    expect(run.json.message.replace(acmeRun, '<id>')).toBe(missingRun.json.message.replace(missing, '<id>'));
    expect(baselines.status, baselines.text).toBe(200);
    expect(baselines.json.items.map((b: { baselineId: string }) => b.baselineId)).not.toContain(
      'tenancy-main',
    );
    expect(suites.status, suites.text).toBe(200);
    expect(suites.json.items.map((s: { suiteId: string }) => s.suiteId)).not.toContain('tenancy');
    expectUniformError(promote, 404, 'baseline_not_found');
    expectUniformError(snapshot, 404, 'run_not_found');
    const acmeBaseline = await h.call('GET', '/eval/baselines?suiteId=tenancy', {
      token: h.tokens.acmeViewer,
    });
    expect(acmeBaseline.json.items).toEqual([
      expect.objectContaining({ baselineId: 'tenancy-main', promoted: false }),
    ]);
  });

  it('does not let globex run acme’s suite, nor acme’s experts in a suite of its own', async () => {
    // Prepare
    const token = h.tokens.globexAdmin;
    await registerSuite(sumsSuite('globex-own', 1), token);

    // Act
    const acmeSuite = await submit({ suiteId: 'tenancy', expertIds: [globexExpert] }, token);
    const acmeExpert = await submit({ suiteId: 'globex-own', expertIds: [right] }, token);
    const viaHeader = await h.call('POST', '/eval/run', {
      token,
      headers: { 'x-conductor-tenant': 'acme' },
      body: { suiteId: 'tenancy', expertIds: [right] },
    });

    // Assess
    expectUniformError(acmeSuite, 404, 'suite_not_found');
    expectUniformError(acmeExpert, 422, 'unknown_expert');
    expectUniformError(viaHeader, 403, 'policy_denied');
  });
});
