import { UnprocessableError } from '#shared/errors.js';
import { type ConductorEvent, type EventPublisher, EventTypes } from '#shared/ports/events.js';
import type { ExpertAttempt } from '#shared/ports/expert-call.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryTenantRecords, InMemoryWormStore } from '#shared/testing/fakes.js';
import { EVAL_EVENTS } from '../../events.js';
import { judgeThrough } from '../../src/domain/judge.js';
import type { QuarantineChange } from '../../src/domain/quarantine.js';
import type { ExpertPort } from '../../src/domain/runner.js';
import {
  type BaselineRecord,
  type EvalRunMessage,
  EvalService,
  type ExecuteDeps,
  type QuarantineRecord,
  type ResolvedExpert,
  type RunRecord,
  type SubmitDeps,
  type SuiteRecord,
  type SuiteVersionRecord,
} from '../../src/domain/runs.js';

/** The eval queue as a list of accepted messages; `failing` makes every send reject. */
export class RecordingRunQueue {
  readonly sent: EvalRunMessage[] = [];
  failing = false;

  async send(message: EvalRunMessage): Promise<void> {
    await Promise.resolve();
    if (this.failing) throw new Error('SQS unavailable');
    this.sent.push(structuredClone(message));
  }
}

/**
 * The bus as a list of published events, each checked against the pillar's event definitions as the
 * real publisher does; `failing` makes every publish reject.
 */
export class RecordingEvents implements EventPublisher {
  readonly published: ConductorEvent[] = [];
  failing = false;
  readonly #types = new EventTypes(EVAL_EVENTS);

  async publish(events: readonly ConductorEvent[]): Promise<void> {
    await Promise.resolve();
    if (this.failing) throw new Error('EventBridge unavailable');
    this.published.push(...events.map((event) => ({ type: event.type, detail: this.#types.parse(event) })));
  }
}

/** What an expert deployed at an endpoint does with one call: a function of the task's input. */
export type Behaviour = (input: unknown) => ExpertAttempt;

const answer = (body: unknown): ExpertAttempt => ({ kind: 'answer', status: 200, body, latencyMs: 5 });

/** The two operands of a `{ question: "a+b" }` input. */
const operandsOf = (input: unknown): [number, number] => {
  const question = (input as { question?: unknown } | null)?.question;
  const sum = typeof question === 'string' ? /^(\d+)\+(\d+)$/.exec(question) : null;
  if (!sum) throw new Error(`not a sum: ${JSON.stringify(input)}`);
  return [Number(sum[1]), Number(sum[2])];
};

/** A calculator: `{ answer: a+b }` for `{ question: "a+b" }`, one too many for the sums `wrongWhen` picks. */
export const calculator =
  (wrongWhen: (a: number, b: number) => boolean = () => false): Behaviour =>
  (input) => {
    const [a, b] = operandsOf(input);
    return answer({ answer: a + b + (wrongWhen(a, b) ? 1 : 0) });
  };

/** An expert that never answers: every call is an infrastructure error. */
export const unreachable: Behaviour = () => ({
  kind: 'unavailable',
  code: 'upstream_unreachable',
  message: 'connection refused',
  latencyMs: 1,
});

/** A judge of rubric tasks answering `{ score }`; a score that is not a number is no usable answer. */
export const judge =
  (score: unknown): Behaviour =>
  () =>
    answer({ score });

/** An expert whose port breaks its contract (throws): as a worker dying mid-run, the run stops there. */
export const crashing: Behaviour = () => {
  throw new Error('the worker died');
};

/**
 * The tenant's experts: each id resolved to the endpoint and fingerprint of its deployed version, each
 * endpoint answering as its behaviour says. Deploying a new version changes what later submissions
 * resolve; a run calls the endpoints it resolved when it was submitted.
 */
export class FakeExperts {
  readonly #directory = new Map<string, ResolvedExpert>();
  readonly #behaviours = new Map<string, Behaviour>();
  /** The ids of each `resolve` call, in order. */
  readonly resolutions: string[][] = [];
  /** Every call made to an endpoint (judges included). */
  readonly calls: { expertId: string; endpoint: string; taskId: string }[] = [];

  /** Deploys `version` of an expert (fingerprint `<id>@<version>`) and answers its resolution. */
  deploy(expertId: string, version: string, behaviour: Behaviour): ResolvedExpert {
    const expert = {
      endpoint: `https://experts.test/${expertId}/${version}`,
      fingerprint: `${expertId}@${version}`,
    };
    this.#directory.set(expertId, expert);
    this.#behaviours.set(expert.endpoint, behaviour);
    return expert;
  }

  /** Changes what an endpoint answers, its fingerprint unchanged ("nothing changed", yet it flips). */
  behave(endpoint: string, behaviour: Behaviour): void {
    this.#behaviours.set(endpoint, behaviour);
  }

  readonly resolve: SubmitDeps['resolve'] = async (expertIds) => {
    await Promise.resolve();
    this.resolutions.push([...expertIds]);
    const unknown = expertIds.filter((id) => !this.#directory.has(id));
    if (unknown.length > 0) {
      throw new UnprocessableError(`No expert ${unknown.join(', ')} in this tenant.`, 'unknown_expert');
    }
    return new Map(expertIds.map((id) => [id, this.#directory.get(id) as ResolvedExpert]));
  };

  readonly port: ExecuteDeps['port'] = (endpoints) => {
    const port: ExpertPort = {
      call: async (expertId, input, options) => {
        await Promise.resolve();
        const endpoint = endpoints.get(expertId);
        if (endpoint === undefined) throw new Error(`the run resolved no endpoint for ${expertId}`);
        this.calls.push({ expertId, endpoint, taskId: options.taskId });
        return (this.#behaviours.get(endpoint) ?? unreachable)(input);
      },
    };
    return { port, scorerDeps: { judge: judgeThrough(port, 1_000) } };
  };
}

/** What POST eval/run asks, concurrency and retries optional. */
export interface RunRequest {
  readonly suiteId: string;
  readonly expertIds: readonly string[];
  readonly baselineId?: string;
  readonly concurrency?: number;
  readonly retries?: number;
  readonly idempotencyKey?: string;
}

/**
 * An EvalService on in-memory records, artifacts, queue and bus, with a manual clock and sequential
 * ids; `submit` and `execute` are what the API and the worker hand it.
 */
export const inMemoryEval = () => {
  const records = {
    suites: new InMemoryTenantRecords<SuiteRecord>('EVAL_SUITE'),
    suiteVersions: new InMemoryTenantRecords<SuiteVersionRecord>('EVAL_SUITE_VERSION'),
    runs: new InMemoryTenantRecords<RunRecord>('EVAL_RUN'),
    baselines: new InMemoryTenantRecords<BaselineRecord>('EVAL_BASELINE'),
    quarantines: new InMemoryTenantRecords<QuarantineRecord>('EVAL_QUARANTINE'),
  };
  const artifacts = new InMemoryWormStore();
  const clock = new ManualClock('2026-03-01T09:00:00.000Z');
  const queue = new RecordingRunQueue();
  const events = new RecordingEvents();
  const experts = new FakeExperts();
  const queueErrors: string[] = [];
  const publishErrors: string[] = [];
  const quarantineChanges: { change: QuarantineChange; tenantId: string }[] = [];
  const service = new EvalService({
    ...records,
    artifacts,
    clock,
    ids: new SequentialIds(),
    onQueueError: (_error, runId) => queueErrors.push(runId),
  });
  const submit: SubmitDeps = { resolve: experts.resolve, queue };
  const execute: ExecuteDeps = {
    port: experts.port,
    events,
    onQuarantineChange: (change, tenantId) => quarantineChanges.push({ change, tenantId }),
    onPublishError: (_error, runId) => publishErrors.push(runId),
  };

  /** Submits a run as the API does, by `operator-1` on trace `trace-<tenant>` (8 in flight, no retries unless told). */
  const submitRun = (tenantId: string, request: RunRequest) =>
    service.submitRun(
      tenantId,
      { concurrency: 8, retries: 0, ...request },
      'operator-1',
      `trace-${tenantId}`,
      submit,
    );

  /** Submits a run and executes its queued message as the worker does. */
  const run = async (tenantId: string, request: RunRequest): Promise<RunRecord> => {
    const { run: submitted } = await submitRun(tenantId, request);
    const done = await service.execute(
      { tenantId, runId: submitted.id, traceId: submitted.traceId },
      execute,
    );
    if (done === undefined) throw new Error(`run ${submitted.id} was not executed`);
    return done;
  };

  return {
    ...records,
    artifacts,
    clock,
    queue,
    events,
    experts,
    service,
    submit,
    execute,
    submitRun,
    run,
    queueErrors,
    publishErrors,
    quarantineChanges,
  };
};

export type InMemoryEval = ReturnType<typeof inMemoryEval>;
