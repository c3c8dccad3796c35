import { describe, expect, it } from 'vitest';
import { type AppError, UnprocessableError, UpstreamError } from '#shared/errors.js';
import {
  EgressRefusedError,
  type OutboundRequest,
  type OutboundResponse,
} from '#shared/outbound/outbound.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { GuardedExpertCaller, reportedCostOf } from '../../src/adapters/expert-http.js';
import { DEFAULT_POLICY } from '../../src/domain/budgets.js';
import { type Job, JobClaimedError, JobIntake, type JobMessage, JobWorker } from '../../src/domain/jobs.js';
import {
  type ExpertCaller,
  type ExpertCallResult,
  ExpertUnavailableError,
  type TargetResolver,
} from '../../src/domain/targets.js';
import { inMemoryBudgets, RecordingJobQueue } from '../support/fakes.js';

/** An expert caller that answers from a script and remembers what it was asked. */
class ScriptedExperts implements ExpertCaller {
  readonly calls: { endpoint: string; payload: unknown; jobId: string }[] = [];
  constructor(private readonly answer: (endpoint: string) => ExpertCallResult | Error) {}
  async call(request: { endpoint: string; payload: unknown; jobId: string; traceId: string }) {
    await Promise.resolve();
    this.calls.push({ endpoint: request.endpoint, payload: request.payload, jobId: request.jobId });
    const answer = this.answer(request.endpoint);
    if (answer instanceof Error) throw answer;
    return answer;
  }
}

const EXPERTS: Record<string, { endpoint: string; cost: number }> = {
  exp_cheap: { endpoint: 'https://cheap.example.com/run', cost: 0.01 },
  exp_pricey: { endpoint: 'https://pricey.example.com/run', cost: 0.5 },
};

/** The router, as far as the scheduler sees it: experts of acme, and a route that takes the first candidate. */
const resolver: TargetResolver = async (target, { taskId, preferCheaper }) => {
  await Promise.resolve();
  const pick =
    'expertId' in target ? target.expertId : (preferCheaper ? ['exp_cheap'] : target.route.candidates)[0];
  const expert = EXPERTS[pick ?? ''];
  if (!expert) throw new UnprocessableError(`No expert ${pick} in this tenant.`, 'unknown_expert');
  return {
    expertId: pick ?? '',
    endpoint: expert.endpoint,
    costPerCallUsd: expert.cost,
    ...('route' in target ? { taskId, decisionId: `dec_${taskId}` } : {}),
  };
};

const ok = (extra: Partial<ExpertCallResult> = {}): ExpertCallResult => ({
  outcome: 'ok',
  httpStatus: 200,
  latencyMs: 42,
  attempts: 1,
  result: { summary: 'done' },
  called: true,
  ...extra,
});

const scheduler = (experts: ExpertCaller) => {
  const clock = new ManualClock('2026-04-16T00:00:00.000Z');
  const b = inMemoryBudgets(clock);
  const jobs = new InMemoryTenantRecords<Job>('JOB');
  const queue = new RecordingJobQueue();
  const intake = new JobIntake({ jobs, queue, budgets: b.budgets, clock, ids: new SequentialIds() });
  const worker = new JobWorker({ jobs, clock, budgets: b.budgets, events: b.events, experts });
  return { ...b, jobs, queue, intake, worker, clock };
};

describe('jobs with a target', () => {
  it('resolve their expert at admission, reserve its declared cost, call it with the payload and commit the cost it reports', async () => {
    // Prepare
    const experts = new ScriptedExperts(() => ok({ reportedCostUsd: 0.07 }));
    const s = scheduler(experts);
    await s.budgets.put(
      'acme',
      { window: 'monthly', limit: 10, timeZone: 'UTC', policy: DEFAULT_POLICY },
      'admin',
    );

    // Act
    const { jobId } = await s.intake.enqueue(
      'acme',
      { payload: { q: 1 }, target: { expertId: 'exp_cheap' } },
      't',
      resolver,
    );
    const reserved = await s.ledger.get('acme', 'monthly:2026-04');
    await s.worker.complete(s.queue.sent[0] as JobMessage);

    // Assess
    expect(reserved).toMatchObject({ reserved: 0.01 });
    expect(experts.calls).toEqual([{ endpoint: EXPERTS.exp_cheap?.endpoint, payload: { q: 1 }, jobId }]);
    expect(await s.jobs.get('acme', jobId)).toMatchObject({
      status: 'completed',
      expertId: 'exp_cheap',
      estimatedCostUsd: 0.01,
      costUsd: 0.07,
      outcome: 'ok',
      httpStatus: 200,
      latencyMs: 42,
      resultJson: '{"summary":"done"}',
    });
    expect(await s.ledger.get('acme', 'monthly:2026-04')).toMatchObject({ committed: 0.07, reserved: 0 });
    expect(s.events.published.find((event) => event.type === 'job_completed')?.detail).toMatchObject({
      jobId,
      expertId: 'exp_cheap',
      outcome: 'ok',
      latencyMs: 42,
      costUsd: 0.07,
    });
  });

  it('a routed job carries the route decision (taskId = job id) and reports it with its outcome', async () => {
    const s = scheduler(new ScriptedExperts(() => ok()));

    const { jobId } = await s.intake.enqueue(
      'acme',
      {
        payload: {},
        target: { route: { context: { lang: 'en' }, candidates: ['exp_pricey', 'exp_cheap'] } },
      },
      't',
      resolver,
    );
    await s.worker.complete(s.queue.sent[0] as JobMessage);

    expect(await s.jobs.get('acme', jobId)).toMatchObject({
      expertId: 'exp_pricey',
      taskId: jobId,
      decisionId: `dec_${jobId}`,
      costUsd: 0.5,
    });
    expect(s.events.published.find((event) => event.type === 'job_completed')?.detail).toMatchObject({
      taskId: jobId,
      outcome: 'ok',
    });
  });

  it('a breached downgrade budget routes among the cheaper candidates', async () => {
    const s = scheduler(new ScriptedExperts(() => ok()));
    await s.budgets.put(
      'acme',
      { window: 'monthly', limit: 10, timeZone: 'UTC', policy: { ...DEFAULT_POLICY, mode: 'downgrade' } },
      'admin',
    );
    await s.intake.enqueue('acme', { payload: {}, estimatedCostUsd: 9 }, 't');
    await s.worker.complete(s.queue.sent[0] as JobMessage);

    const answer = await s.intake.enqueue(
      'acme',
      {
        queue: 'interactive',
        payload: {},
        target: { route: { context: {}, candidates: ['exp_pricey', 'exp_cheap'] } },
      },
      't',
      resolver,
    );

    expect(await s.jobs.get('acme', answer.jobId)).toMatchObject({
      expertId: 'exp_cheap',
      priority: 'normal',
    });
  });

  it('an expert the caller cannot see, or no resolver, is a 422 and nothing is stored or reserved', async () => {
    const s = scheduler(new ScriptedExperts(() => ok()));
    await s.budgets.put(
      'acme',
      { window: 'monthly', limit: 10, timeZone: 'UTC', policy: DEFAULT_POLICY },
      'admin',
    );

    const unknown = await s.intake
      .enqueue('acme', { payload: {}, target: { expertId: 'exp_globex' } }, 't', resolver)
      .catch((error: AppError) => error);
    const unresolved = await s.intake
      .enqueue('acme', { payload: {}, target: { expertId: 'exp_cheap' } }, 't')
      .catch((error: AppError) => error);

    expect(unknown).toMatchObject({ statusCode: 422, code: 'unknown_expert' });
    expect(unresolved).toMatchObject({ statusCode: 422, code: 'targets_unavailable' });
    expect(s.jobs.all()).toEqual([]);
    expect(await s.ledger.get('acme', 'monthly:2026-04')).toBeUndefined();
  });

  it('an unreachable expert leaves the job queued with nothing committed, so the queue brings it back; a refused endpoint completes it with an error at no cost', async () => {
    let down = true;
    const experts = new ScriptedExperts((endpoint) => {
      if (endpoint.includes('pricey')) {
        return {
          outcome: 'error',
          latencyMs: 0,
          attempts: 1,
          result: { code: 'endpoint_private_address' },
          called: false,
        };
      }
      return down ? new ExpertUnavailableError('Expert call failed 3 times: the expert answered 503') : ok();
    });
    const s = scheduler(experts);
    const first = await s.intake.enqueue(
      'acme',
      { payload: {}, target: { expertId: 'exp_cheap' } },
      't',
      resolver,
    );
    const refused = await s.intake.enqueue(
      'acme',
      { payload: {}, target: { expertId: 'exp_pricey' } },
      't',
      resolver,
    );

    await expect(s.worker.complete(s.queue.sent[0] as JobMessage)).rejects.toBeInstanceOf(
      ExpertUnavailableError,
    );
    const waiting = await s.jobs.get('acme', first.jobId);
    down = false;
    await s.worker.complete(s.queue.sent[0] as JobMessage);
    await s.worker.complete(s.queue.sent[1] as JobMessage);

    expect(waiting?.status).toBe('queued');
    expect(await s.jobs.get('acme', first.jobId)).toMatchObject({
      status: 'completed',
      outcome: 'ok',
      costUsd: 0.01,
    });
    expect(await s.jobs.get('acme', refused.jobId)).toMatchObject({
      status: 'completed',
      outcome: 'error',
      costUsd: 0,
    });
  });

  it('keeps at most 32 KB of an answer, cut and marked', async () => {
    const s = scheduler(new ScriptedExperts(() => ok({ result: { text: 'x'.repeat(40_000) } })));
    const { jobId } = await s.intake.enqueue(
      'acme',
      { payload: {}, target: { expertId: 'exp_cheap' } },
      't',
      resolver,
    );

    await s.worker.complete(s.queue.sent[0] as JobMessage);

    const job = await s.jobs.get('acme', jobId);
    expect(job?.resultTruncated).toBe(true);
    expect(Buffer.byteLength(job?.resultText ?? '')).toBeLessThanOrEqual(32 * 1024);
    expect(job?.resultJson).toBeUndefined();
  });
});

describe('GuardedExpertCaller', () => {
  const response = (
    status: number,
    body: unknown = {},
    headers: Record<string, string> = {},
  ): OutboundResponse => ({
    status,
    headers,
    body,
    durationMs: 12.4,
    bytes: 10,
  });
  const clientOf = (answers: (OutboundResponse | Error)[]) => {
    const requests: OutboundRequest[] = [];
    return {
      requests,
      client: {
        request: async (req: OutboundRequest) => {
          await Promise.resolve();
          requests.push(req);
          const next = answers.shift();
          if (!next) throw new Error('no more answers');
          if (next instanceof Error) throw next;
          return next;
        },
      },
    };
  };
  const pauses: number[] = [];
  const caller = (client: { request: (req: OutboundRequest) => Promise<OutboundResponse> }) =>
    new GuardedExpertCaller(client, { pause: async (ms) => pauses.push(ms) });
  const request = {
    endpoint: 'https://expert.example.com/run',
    payload: { q: 1 },
    jobId: 'job_1',
    traceId: 't-1',
  };

  it('posts the payload with the job id as Idempotency-Key and reads the reported cost', async () => {
    const { client, requests } = clientOf([response(200, { answer: 42, costUsd: 0.03 })]);

    const result = await caller(client).call(request);

    expect(result).toEqual({
      outcome: 'ok',
      httpStatus: 200,
      latencyMs: 12,
      attempts: 1,
      result: { answer: 42, costUsd: 0.03 },
      reportedCostUsd: 0.03,
      called: true,
    });
    expect(requests[0]).toMatchObject({
      url: request.endpoint,
      method: 'POST',
      body: { q: 1 },
      headers: { 'idempotency-key': 'job_1', 'x-conductor-job-id': 'job_1', 'x-conductor-trace-id': 't-1' },
    });
  });

  it('retries infrastructure errors (no answer, 503, 429) with pauses, then takes the answer', async () => {
    pauses.length = 0;
    const { client, requests } = clientOf([
      new UpstreamError('Expert endpoint timed out', 'upstream_timeout'),
      response(503),
      response(200, 'plain text', { 'x-conductor-cost-usd': '0.2' }),
    ]);

    const result = await caller(client).call(request);

    expect(requests).toHaveLength(3);
    expect(pauses).toEqual([250, 1000]);
    expect(result).toMatchObject({ outcome: 'ok', attempts: 3, result: 'plain text', reportedCostUsd: 0.2 });
  });

  it('gives up after three infrastructure errors (the queue brings the job back)', async () => {
    const { client } = clientOf([response(503), response(429), response(502)]);

    await expect(caller(client).call(request)).rejects.toThrow(/failed 3 times: the expert answered 502/);
  });

  it('does not retry an answer that is the job’s result (4xx), nor a refused endpoint', async () => {
    const bad = clientOf([response(400, { error: 'no such model' })]);
    const refused = clientOf([
      new EgressRefusedError('refused: metadata address', 'endpoint_metadata_address'),
    ]);

    const badResult = await caller(bad.client).call(request);
    const refusedResult = await caller(refused.client).call(request);

    expect(bad.requests).toHaveLength(1);
    expect(badResult).toMatchObject({ outcome: 'error', httpStatus: 400, called: true });
    expect(refusedResult).toMatchObject({
      outcome: 'error',
      called: false,
      result: { code: 'endpoint_metadata_address' },
    });
  });

  it('reads a reported cost only when it is a finite, non-negative number within the estimate bound', () => {
    expect(reportedCostOf({ costUsd: 0.5 }, {})).toBe(0.5);
    expect(reportedCostOf({}, { 'x-conductor-cost-usd': '1.25' })).toBe(1.25);
    expect(reportedCostOf({ costUsd: -1 }, {})).toBeUndefined();
    expect(reportedCostOf({ costUsd: 'lots' }, {})).toBeUndefined();
    expect(reportedCostOf({ costUsd: 1e9 }, {})).toBeUndefined();
    expect(reportedCostOf(null, {})).toBeUndefined();
    expect(reportedCostOf({ costUsd: 5e-324 }, {})).toBe(0);
  });
});

describe('a routed job’s outcome for the router', () => {
  const routed = { route: { context: { lang: 'en' }, candidates: ['exp_cheap'] } };
  const reporterOf = () => {
    const reports: unknown[] = [];
    let failures = 0;
    return {
      reports,
      failNext: (n: number) => {
        failures = n;
      },
      reporter: {
        report: async (outcome: unknown) => {
          await Promise.resolve();
          if (failures > 0) {
            failures -= 1;
            throw new Error('SQS unavailable');
          }
          reports.push(outcome);
        },
      },
    };
  };
  const schedulerWith = (reporter: { report: (outcome: never) => Promise<void> }) => {
    const s = scheduler(new ScriptedExperts(() => ok({ latencyMs: 77 })));
    const worker = new JobWorker({
      jobs: s.jobs,
      clock: s.clock,
      budgets: s.budgets,
      events: s.events,
      experts: new ScriptedExperts(() => ok({ latencyMs: 77 })),
      outcomes: reporter,
    });
    return { ...s, worker };
  };

  it('is handed to the router once the job is completed, with its decision’s taskId, status and latency', async () => {
    const r = reporterOf();
    const s = schedulerWith(r.reporter);
    const { jobId } = await s.intake.enqueue('acme', { payload: {}, target: routed }, 't-9', resolver);
    const direct = await s.intake.enqueue(
      'acme',
      { payload: {}, target: { expertId: 'exp_cheap' } },
      't',
      resolver,
    );

    await s.worker.complete(s.queue.sent[0] as JobMessage);
    await s.worker.complete(s.queue.sent[1] as JobMessage);
    await s.worker.complete(s.queue.sent[0] as JobMessage);

    expect(r.reports).toEqual([
      { tenantId: 'acme', taskId: jobId, status: 'ok', latencyMs: 77, traceId: 't-9' },
    ]);
    expect(await s.jobs.get('acme', jobId)).toMatchObject({ outcomeReportedAt: expect.any(String) });
    expect((await s.jobs.get('acme', direct.jobId))?.outcomeReportedAt).toBeUndefined();
  });

  it('when the router’s queue refuses, the job stays completed and the next delivery hands the outcome over, without calling the expert again', async () => {
    const r = reporterOf();
    const s = schedulerWith(r.reporter);
    const experts = new ScriptedExperts(() => ok({ latencyMs: 5 }));
    const worker = new JobWorker({
      jobs: s.jobs,
      clock: s.clock,
      budgets: s.budgets,
      events: s.events,
      experts,
      outcomes: r.reporter,
    });
    const { jobId } = await s.intake.enqueue('acme', { payload: {}, target: routed }, 't', resolver);
    r.failNext(1);

    await expect(worker.complete(s.queue.sent[0] as JobMessage)).rejects.toThrow('SQS unavailable');
    const completed = await s.jobs.get('acme', jobId);
    const again = await worker.complete(s.queue.sent[0] as JobMessage);

    expect(completed).toMatchObject({ status: 'completed' });
    expect(completed?.outcomeReportedAt).toBeUndefined();
    expect(again).toBe('already_completed');
    expect(r.reports).toEqual([expect.objectContaining({ taskId: jobId, status: 'ok', latencyMs: 5 })]);
    expect(experts.calls).toHaveLength(1);
    expect(s.events.published.filter((event) => event.type === 'job_completed')).toHaveLength(1);
  });
});

describe('a worker that dies after its expert answered', () => {
  it('leaves the answer and its cost on the job (completing): the redelivery commits them without calling the expert again', async () => {
    // Prepare: the ledger refuses the first commit (the delivery dies there).
    let answers = 0;
    const experts = new ScriptedExperts(() => {
      answers += 1;
      return ok({ reportedCostUsd: answers === 1 ? 0.07 : 0.09, result: { n: answers } });
    });
    const s = scheduler(experts);
    await s.budgets.put(
      'acme',
      { window: 'monthly', limit: 10, timeZone: 'UTC', policy: DEFAULT_POLICY },
      'admin',
    );
    const { jobId } = await s.intake.enqueue(
      'acme',
      { payload: {}, target: { expertId: 'exp_cheap' } },
      't',
      resolver,
    );
    const commit = s.ledger.commit.bind(s.ledger);
    let failures = 1;
    s.ledger.commit = async (...args: Parameters<typeof commit>) => {
      if (failures-- > 0) throw new Error('DynamoDB unavailable');
      return commit(...args);
    };

    // Act
    await expect(s.worker.complete(s.queue.sent[0] as JobMessage)).rejects.toThrow('DynamoDB unavailable');
    const between = await s.jobs.get('acme', jobId);
    // At once, the delivery's claim holds the job; the queue redelivers after its visibility timeout (60 s).
    await expect(s.worker.complete(s.queue.sent[0] as JobMessage)).rejects.toThrow(JobClaimedError);
    s.clock.advance(60_000);
    const again = await s.worker.complete(s.queue.sent[0] as JobMessage);

    // Assess
    expect(between).toMatchObject({ status: 'completing', costUsd: 0.07, resultJson: '{"n":1}' });
    expect(again).toBe('completed');
    expect(experts.calls).toHaveLength(1);
    expect(await s.jobs.get('acme', jobId)).toMatchObject({
      status: 'completed',
      costUsd: 0.07,
      resultJson: '{"n":1}',
    });
    expect(await s.ledger.get('acme', 'monthly:2026-04')).toMatchObject({ committed: 0.07, reserved: 0 });
  });

  it('a second delivery that comes while the first holds its claim goes back to the queue: the cost is committed once', async () => {
    // Prepare: the first delivery stops inside its ledger commit, after its claim.
    const s = scheduler(new ScriptedExperts(() => ok({ result: {} })));
    await s.budgets.put(
      'acme',
      { window: 'monthly', limit: 10, timeZone: 'UTC', policy: DEFAULT_POLICY },
      'admin',
    );
    const { jobId } = await s.intake.enqueue('acme', { payload: {}, estimatedCostUsd: 1 }, 't');
    const message = s.queue.sent[0] as JobMessage;
    const commit = s.ledger.commit.bind(s.ledger);
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let calls = 0;
    s.ledger.commit = async (...args: Parameters<typeof commit>) => {
      calls += 1;
      if (calls === 1) await gate;
      return commit(...args);
    };
    const first = s.worker.complete(message);
    while ((await s.jobs.get('acme', jobId))?.claimedUntil === undefined)
      await new Promise((r) => setTimeout(r, 1));

    // Act
    const second = await s.worker.complete(message).catch((error: unknown) => error);
    open();
    const outcome = await first;

    // Assess
    expect(second).toBeInstanceOf(JobClaimedError);
    expect(outcome).toBe('completed');
    expect(calls).toBe(1);
    const job = await s.jobs.get('acme', jobId);
    expect(job).toMatchObject({ status: 'completed', costUsd: 1 });
    expect(job?.claimedUntil).toBeUndefined();
    expect(await s.ledger.get('acme', 'monthly:2026-04')).toMatchObject({
      committed: 1,
      reserved: 0,
      used: 1,
    });
  });
});
