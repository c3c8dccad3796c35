import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import type { Expert } from '../../src/domain/experts.js';
import {
  ExpertFailedError,
  fallbackTaskId,
  INVOKE_DEADLINE_MS,
  type InvokeCall,
  InvokeService,
} from '../../src/domain/invoke.js';
import { RewardIntake } from '../../src/domain/reward-intake.js';
import { expertRecord, inMemoryRouting } from '../support/routing-fakes.js';

const EXPERTS = ['exp_a', 'exp_b', 'exp_c'] as const;
const endpointOf = (id: string) => `https://${id}.example.com/v1`;

const setup = async (costs: Record<string, number> = {}) => {
  const experts = new InMemoryTenantRecords<Expert>('EXPERT');
  for (const id of EXPERTS)
    await experts.create({ ...expertRecord('acme', id), costPerCallUsd: costs[id] ?? 0.01 });
  const routing = inMemoryRouting(experts);
  const service = (now?: () => number) =>
    new InvokeService({
      route: (request) => routing.routing.route('acme', request, 'trace-1'),
      experts,
      invoker: routing.appDeps.invoke.invoker,
      recordOutcome: (input) => routing.outcomes.report('acme', input, 'trace-1'),
      recordRewards: (inputs) => routing.rewards.acceptMany('acme', inputs, 'trace-1'),
      ...(now ? { now } : {}),
    });
  return { ...routing, service };
};

const request = (taskId: string, overrides: object = {}) => ({
  taskId,
  context: { language: 'ts' },
  candidates: [...EXPERTS],
  input: { question: 'why?' },
  timeoutMs: 8000,
  maxFallbacks: 1,
  ...overrides,
});

const failures: readonly [string, InvokeCall, string][] = [
  [
    'hangs',
    { kind: 'unavailable', code: 'upstream_timeout', message: 'timed out', latencyMs: 8000 },
    'timeout',
  ],
  [
    'answers 503',
    { kind: 'unavailable', code: 'upstream_status', status: 503, message: '503', latencyMs: 4 },
    'error',
  ],
  [
    'answers garbage',
    { kind: 'unusable', code: 'upstream_invalid_json', message: 'bad JSON', latencyMs: 3 },
    'error',
  ],
  [
    'sits on a private address',
    { kind: 'refused', code: 'endpoint_private_address', message: 'private' },
    'error',
  ],
];

describe('invoke mode', () => {
  it('calls the chosen expert with the input, answers with its output, and records ok, incident_free 1, latency and cost', async () => {
    // Prepare
    const { service, invokeCalls, queued, outcomeRecords } = await setup({
      exp_a: 0.02,
      exp_b: 0.02,
      exp_c: 0.02,
    });

    // Act
    const answer = await service().invoke('acme', request('t-ok'), 'trace-1');

    // Assess
    expect(invokeCalls).toEqual([
      { endpoint: endpointOf(answer.expertId), input: { question: 'why?' }, taskId: 't-ok', timeoutMs: 8000 },
    ]);
    expect(answer).toMatchObject({
      taskId: 't-ok',
      answeredTaskId: 't-ok',
      fallbackUsed: false,
      output: { echo: { question: 'why?' } },
      httpStatus: 200,
      latencyMs: 12,
      costUsd: 0.02,
      signalsRecorded: true,
    });
    expect(answer.attempts).toEqual([
      {
        taskId: 't-ok',
        expertId: answer.expertId,
        decisionId: answer.decisionId,
        outcome: 'ok',
        httpStatus: 200,
        latencyMs: 12,
      },
    ]);
    expect(
      queued
        .map(({ taskId, signal, value }) => ({ taskId, signal, value }))
        .sort((p, q) => p.signal.localeCompare(q.signal)),
    ).toEqual([
      { taskId: 't-ok', signal: 'cost', value: 0.02 },
      { taskId: 't-ok', signal: 'incident_free', value: 1 },
      { taskId: 't-ok', signal: 'latency_ms', value: 12 },
    ]);
    expect(await outcomeRecords.get('acme', 't-ok')).toMatchObject({
      status: 'ok',
      latencyMs: 12,
      expertId: answer.expertId,
    });
  });

  it('prefers the cost the expert reported to its declared cost', async () => {
    const { service, invokeScript, queued } = await setup();
    for (const id of EXPERTS)
      invokeScript.set(endpointOf(id), {
        kind: 'answer',
        status: 200,
        body: 'fine',
        latencyMs: 5,
        reportedCostUsd: 0.25,
      });

    const answer = await service().invoke('acme', request('t-reported'), 'trace-1');

    expect(answer.costUsd).toBe(0.25);
    expect(answer.output).toBe('fine');
    expect(queued.find((m) => m.signal === 'cost')?.value).toBe(0.25);
  });

  for (const [name, call, status] of failures) {
    it(`an expert that ${name} is recorded as ${status} with incident_free 0, and the runner-up answers as its own task`, async () => {
      // Prepare: whichever expert is picked first fails this way; the others answer.
      const { service, invokeScript, invokeCalls, queued, outcomeRecords, decisions } = await setup();
      const probe = await setup();
      const chosen = (await probe.routing.route('acme', request('t-fail'), 'trace-1')).expertId;
      invokeScript.set(endpointOf(chosen), call);

      // Act
      const answer = await service().invoke('acme', request('t-fail'), 'trace-1');

      // Assess
      expect(answer.fallbackUsed).toBe(true);
      expect(answer.answeredTaskId).toBe(fallbackTaskId('t-fail', 1));
      expect(answer.expertId).not.toBe(chosen);
      expect(answer.attempts.map((a) => [a.expertId, a.outcome])).toEqual([
        [
          chosen,
          {
            timeout: 'timeout',
            error:
              call.kind === 'refused' ? 'refused' : call.kind === 'unusable' ? 'unusable' : 'unavailable',
          }[status],
        ],
        [answer.expertId, 'ok'],
      ]);
      // The refused endpoint was never called; a failing one was, once.
      expect(invokeCalls.map((c) => c.endpoint)).toEqual([endpointOf(chosen), endpointOf(answer.expertId)]);
      expect(await outcomeRecords.get('acme', 't-fail')).toMatchObject({ status, expertId: chosen });
      expect(queued.filter((m) => m.taskId === 't-fail').map((m) => [m.signal, m.value])).toEqual([
        ['incident_free', 0],
      ]);
      expect(
        queued
          .filter((m) => m.taskId === answer.answeredTaskId)
          .map((m) => m.signal)
          .sort(),
      ).toEqual(['cost', 'incident_free', 'latency_ms']);
      // The fallback is a decision of its own, among the candidates not tried.
      const fallback = await decisions.get('acme', answer.answeredTaskId);
      expect(fallback?.expertId).toBe(answer.expertId);
      expect(fallback?.rationale.candidates.map((c) => c.expertId)).not.toContain(chosen);
    });
  }

  it('with no fallback allowed, a failure is a 502 naming the attempt, and nothing else is called', async () => {
    const { service, invokeScript, invokeCalls } = await setup();
    for (const id of EXPERTS)
      invokeScript.set(endpointOf(id), {
        kind: 'unavailable',
        code: 'upstream_timeout',
        message: 'slow',
        latencyMs: 100,
      });

    const failure = await service()
      .invoke('acme', request('t-nofb', { maxFallbacks: 0, timeoutMs: 100 }), 'trace-1')
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ExpertFailedError);
    expect((failure as ExpertFailedError).statusCode).toBe(502);
    expect((failure as ExpertFailedError).message).toMatch(/did not answer within 100 ms/);
    expect((failure as ExpertFailedError).details?.attempts).toHaveLength(1);
    expect(invokeCalls).toHaveLength(1);
  });

  it('a 4xx answer is the expert’s verdict: no fallback, 502 with its status, outcome error', async () => {
    const { service, invokeScript, invokeCalls, outcomeRecords } = await setup();
    for (const id of EXPERTS)
      invokeScript.set(endpointOf(id), { kind: 'answer', status: 400, body: { error: 'no' }, latencyMs: 2 });

    const failure = (await service()
      .invoke('acme', request('t-400', { maxFallbacks: 2 }), 'trace-1')
      .catch((error: unknown) => error)) as ExpertFailedError;

    expect(failure).toBeInstanceOf(ExpertFailedError);
    expect(failure.message).toMatch(/answered 400/);
    expect(invokeCalls).toHaveLength(1);
    expect((await outcomeRecords.get('acme', 't-400'))?.status).toBe('error');
  });

  it('stops falling back when every candidate failed, with every attempt in the error', async () => {
    const { service, invokeScript, invokeCalls } = await setup();
    for (const id of EXPERTS)
      invokeScript.set(endpointOf(id), {
        kind: 'unavailable',
        code: 'upstream_unreachable',
        message: 'down',
        latencyMs: 1,
      });

    const failure = (await service()
      .invoke('acme', request('t-down', { maxFallbacks: 2, candidates: ['exp_a', 'exp_b'] }), 'trace-1')
      .catch((error: unknown) => error)) as ExpertFailedError;

    expect(failure).toBeInstanceOf(ExpertFailedError);
    expect(invokeCalls.map((c) => c.endpoint).sort()).toEqual([endpointOf('exp_a'), endpointOf('exp_b')]);
    expect(failure.details?.attempts).toHaveLength(2);
  });

  it('never calls past the deadline: a fallback gets only the time left, and none starts without it', async () => {
    const { service, invokeScript, invokeCalls } = await setup();
    let clock = 0;
    for (const id of EXPERTS)
      invokeScript.set(endpointOf(id), {
        kind: 'unavailable',
        code: 'upstream_timeout',
        message: 'slow',
        latencyMs: 1,
      });
    const timed = service(() => clock);
    const original = invokeScript.get.bind(invokeScript);
    invokeScript.get = (endpoint: string) => {
      clock += INVOKE_DEADLINE_MS - 5_000; // each call eats most of the budget
      return original(endpoint);
    };

    await timed
      .invoke('acme', request('t-deadline', { maxFallbacks: 2, timeoutMs: 12_000 }), 'trace-1')
      .catch(() => undefined);

    expect(invokeCalls.map((c) => c.timeoutMs)).toEqual([12_000, 5_000]);
  });

  it('the answer stands when a signal cannot be recorded (signalsRecorded false)', async () => {
    const routing = await setup();
    const errors: unknown[] = [];
    const service = new InvokeService({
      route: (r) => routing.routing.route('acme', r, 'trace-1'),
      experts: {
        getMany: async (tenantId, ids) => new Map(ids.map((id) => [id, { ...expertRecord(tenantId, id) }])),
      },
      invoker: routing.appDeps.invoke.invoker,
      recordOutcome: async () => undefined,
      recordRewards: async () => {
        throw new Error('queue down');
      },
      onSignalError: (error) => errors.push(error),
    });

    const answer = await service.invoke('acme', request('t-signals'), 'trace-1');

    expect(answer.output).toEqual({ echo: { question: 'why?' } });
    expect(answer.signalsRecorded).toBe(false);
    expect(errors.length).toBeGreaterThan(0);
  });

  it('property: whatever each expert does, at most 1 + maxFallbacks experts are called, each once, and the answer is the first ok', async () => {
    const behaviour = fc.constantFrom<InvokeCall>(
      { kind: 'answer', status: 200, body: 'ok', latencyMs: 1 },
      { kind: 'answer', status: 404, body: 'no', latencyMs: 1 },
      { kind: 'unavailable', code: 'upstream_timeout', message: 't', latencyMs: 1 },
      { kind: 'unusable', code: 'upstream_invalid_json', message: 'j', latencyMs: 1 },
      { kind: 'refused', code: 'endpoint_metadata_address', message: 'm' },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(behaviour, behaviour, behaviour),
        fc.integer({ min: 0, max: 2 }),
        async (calls, maxFallbacks) => {
          const { service, invokeScript, invokeCalls } = await setup();
          for (const [i, id] of EXPERTS.entries()) invokeScript.set(endpointOf(id), calls[i] as InvokeCall);
          const result = await service()
            .invoke('acme', request('t-prop', { maxFallbacks }), 'trace-1')
            .catch((error: unknown) => error);
          const endpoints = invokeCalls.map((c) => c.endpoint);
          expect(new Set(endpoints).size).toBe(endpoints.length);
          expect(endpoints.length).toBeLessThanOrEqual(1 + maxFallbacks);
          if (result instanceof ExpertFailedError) {
            const attempts = result.details?.attempts as { outcome: string }[];
            expect(attempts.every((a) => a.outcome !== 'ok')).toBe(true);
          } else {
            const answer = result as Awaited<ReturnType<InvokeService['invoke']>>;
            expect(answer.attempts.at(-1)?.outcome).toBe('ok');
            expect(
              answer.attempts
                .slice(0, -1)
                .every((a) => a.outcome !== 'ok' && a.outcome !== 'refused_by_expert'),
            ).toBe(true);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('hands the signals to the queue in one batch when it can, all validated before any is sent', async () => {
    const batches: number[] = [];
    const intake = new RewardIntake({
      queue: {
        send: async () => {
          throw new Error('one at a time is not expected here');
        },
        sendMany: async (messages) => {
          batches.push(messages.length);
        },
      },
      clock: new ManualClock('2026-01-01T00:00:00.000Z'),
    });
    await intake.acceptMany(
      'acme',
      [
        { taskId: 't', signal: 'incident_free', value: 1 },
        { taskId: 't', signal: 'latency_ms', value: 12 },
      ],
      'trace',
    );
    const bad = intake.acceptMany(
      'acme',
      [
        { taskId: 't2', signal: 'incident_free', value: 1 },
        { taskId: 't2', signal: 'latency_ms', value: -5 },
      ],
      'trace',
    );
    await expect(bad).rejects.toThrow(/latency_ms/);
    expect(batches).toEqual([2]);
  });
});
