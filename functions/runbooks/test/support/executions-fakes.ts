import { InMemoryTenantRecords } from '#shared/adapters/memory-records.js';
import { EventTypes, RecordingPublisher } from '#shared/ports/events.js';
import { SequentialIds } from '#shared/ports/system.js';
import { InMemoryWormStore, testSubjectHasher } from '#shared/testing/fakes.js';
import { RUNBOOK_EVENTS } from '../../events.js';
import {
  type ApprovalFlowStarter,
  type ApprovalPolicy,
  type ExecutionRecord,
  Executions,
  requestIdOf,
} from '../../src/domain/executions.js';
import type { StepContext, StepOutput, StepRunner, StepRunners } from '../../src/domain/steps.js';
import { TRAIL_ENTITY, TrailLog, type TrailRecord } from '../../src/domain/trail-log.js';
import {
  type ApprovalFlowInput,
  type ApprovalRequestPayload,
  type RunStepsPayload,
  type SendTaskFailureInput,
  type SendTaskSuccessInput,
  type TaskCallbacks,
  TaskTokenNotFoundError,
} from '../../src/workflow/flow-contract.js';
import { inMemoryRegistry } from './fakes.js';

type Json = Record<string, unknown>;

/** The approval flow's StartExecution: records every start; `failing` makes the next starts reject. */
export class FakeApprovalFlow implements ApprovalFlowStarter {
  readonly starts: { input: ApprovalFlowInput; name: string }[] = [];
  failing: Error | undefined;

  async start(input: ApprovalFlowInput, name: string): Promise<{ readonly executionArn: string }> {
    await Promise.resolve();
    if (this.failing) throw this.failing;
    this.starts.push({ input: structuredClone(input), name });
    return { executionArn: `arn:aws:states:us-east-1:123456789012:execution:runbook-approval:${name}` };
  }
}

/**
 * SendTaskSuccess / SendTaskFailure as a list of settled tokens. A token in `gone` is one the flow no
 * longer holds (TaskTokenNotFoundError); `failNext` makes the next call reject with that error.
 */
export class FakeTaskCallbacks implements TaskCallbacks {
  readonly succeeded: SendTaskSuccessInput[] = [];
  readonly failed: SendTaskFailureInput[] = [];
  readonly gone = new Set<string>();
  failNext: Error | undefined;

  async sendTaskSuccess(input: SendTaskSuccessInput): Promise<void> {
    await this.#check(input.taskToken);
    this.succeeded.push(input);
  }

  async sendTaskFailure(input: SendTaskFailureInput): Promise<void> {
    await this.#check(input.taskToken);
    this.failed.push(input);
  }

  async #check(taskToken: string): Promise<void> {
    await Promise.resolve();
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure) throw failure;
    if (this.gone.has(taskToken)) throw new TaskTokenNotFoundError(`task token ${taskToken} is not held`);
  }
}

/**
 * A runner of one step type: records what it received (and the step's id in `order`, shared by the
 * runners of one harness) and answers with `answer`, which may throw.
 */
export class RecordingRunner implements StepRunner {
  readonly calls: { step: Json; context: StepContext }[] = [];
  answer: (step: Json) => StepOutput | Promise<StepOutput> = () => undefined;

  constructor(private readonly order: string[] = []) {}

  async run(step: never, context: StepContext): Promise<StepOutput> {
    await Promise.resolve();
    const received = structuredClone(step as Json);
    this.calls.push({ step: received, context });
    this.order.push(String(received.id));
    return this.answer(received);
  }
}

/** One recording runner per step type; `order` lists the step ids every runner ran, in order. */
export const recordingRunners = () => {
  const order: string[] = [];
  return {
    order,
    http: new RecordingRunner(order),
    lambda: new RecordingRunner(order),
    'aws-api': new RecordingRunner(order),
    notify: new RecordingRunner(order),
  };
};

export type RecordingRunners = ReturnType<typeof recordingRunners>;

/**
 * The policy engine's answer for `actor` (`runbooks:approvals:decide`), as the kernel's rules give it:
 * the requester is refused (`requester-cannot-approve`), someone without a role of the stage is
 * refused with `obligations`, anyone else allowed. The questions asked are kept in `asked`.
 */
export const approverPolicy = (
  actor: string,
  roles: readonly string[],
  options: { obligations?: readonly string[] } = {},
) => {
  const asked: Parameters<ApprovalPolicy>[0][] = [];
  const policy: ApprovalPolicy = async (resource) => {
    await Promise.resolve();
    asked.push(resource);
    if (resource.requestedBy === actor)
      return { allow: false, reasons: ['requester-cannot-approve'], obligations: [] };
    if (!resource.approverRoles.some((role) => roles.includes(role)))
      return { allow: false, reasons: ['not-an-approver'], obligations: options.obligations ?? [] };
    return { allow: true, reasons: [], obligations: [] };
  };
  return Object.assign(policy, { asked });
};

/**
 * An Executions service on real in-memory parts: the registry (trusting the test key) with the
 * given runbooks published, execution and trail records, a TrailLog mirrored to an in-memory WORM
 * store, a manual clock, sequential ids, a validating event recorder, a fake flow, task callbacks and
 * step runners. `sleep` moves the clock, records how long, then runs `onSleep` (a test's hook).
 */
export const executionsHarness = async (options: { runbooks?: readonly Json[] } = {}) => {
  const r = inMemoryRegistry();
  for (const json of options.runbooks ?? []) await r.publishSigned(json, 'publisher');
  const clock = r.clock;
  const records = new InMemoryTenantRecords<ExecutionRecord>('RUNBOOK_EXECUTION');
  const trailRecords = new InMemoryTenantRecords<TrailRecord>(TRAIL_ENTITY);
  const worm = new InMemoryWormStore();
  const trail = new TrailLog({ records: trailRecords, worm, clock, hasher: testSubjectHasher });
  const events = new RecordingPublisher(new EventTypes(RUNBOOK_EVENTS));
  const flow = new FakeApprovalFlow();
  const callbacks = new FakeTaskCallbacks();
  const runners = recordingRunners();
  const sleeps: number[] = [];
  const hooks: { onSleep?: ((ms: number) => Promise<void>) | undefined } = {};
  const ended: { tenantId: string; outcome: string }[] = [];
  const sleep = async (ms: number) => {
    sleeps.push(ms);
    clock.advance(ms);
    await hooks.onSleep?.(ms);
  };
  const service = new Executions({
    executions: records,
    registry: r.registry,
    trail,
    events,
    clock,
    ids: new SequentialIds(),
    flow,
    callbacks,
    runners: runners as unknown as StepRunners,
    sleep,
    onEnded: (tenantId, outcome) => ended.push({ tenantId, outcome }),
  });

  /** Executes `runbookId` in `acme` as `requester` (trace `trace-1`). */
  const execute = (
    runbookId: string,
    params: unknown,
    extra: { version?: number; idempotencyKey?: string; actor?: string } = {},
  ) =>
    service.execute(
      'acme',
      {
        runbookId,
        params,
        ...(extra.version === undefined ? {} : { version: extra.version }),
        ...(extra.idempotencyKey === undefined ? {} : { idempotencyKey: extra.idempotencyKey }),
      },
      extra.actor ?? 'requester',
      'trace-1',
    );

  /** The flow reaching stage `stageIndex` of the execution it started (its "Wait for approval" task). */
  const reachStage = async (executionId: string, stageIndex: number, taskToken = `token-${stageIndex}`) => {
    const start = flow.starts.find((s) => s.name === executionId);
    if (!start) throw new Error(`the flow was not started for ${executionId}`);
    const stage = start.input.stages[stageIndex];
    if (!stage) throw new Error(`execution ${executionId} has no stage ${stageIndex}`);
    const payload: ApprovalRequestPayload = {
      taskToken,
      executionId,
      runbookId: start.input.runbookId,
      digest: start.input.digest,
      stageIndex,
      stage,
    };
    await service.stageReached(payload);
    return payload;
  };

  /** `actor` (with `roles`) decides stage `stageIndex`, naming the execution's digest unless told. */
  const decide = async (
    executionId: string,
    stageIndex: number,
    actor: string,
    decision: 'approve' | 'reject' = 'approve',
    extra: { digest?: string; roles?: readonly string[]; comment?: string } = {},
  ) => {
    const record = await get(executionId);
    return service.decide(
      'acme',
      requestIdOf(executionId, stageIndex),
      {
        decision,
        digest: extra.digest ?? record.bindingDigest,
        ...(extra.comment ? { comment: extra.comment } : {}),
      },
      actor,
      approverPolicy(actor, extra.roles ?? ['operator', 'admin']),
      'trace-decide',
    );
  };

  /** What the flow hands "Run the steps": its input plus each stage's approval output. */
  const runStepsPayload = (executionId: string): RunStepsPayload => {
    const start = flow.starts.find((s) => s.name === executionId);
    if (!start) throw new Error(`the flow was not started for ${executionId}`);
    return {
      ...start.input,
      approvals: callbacks.succeeded.map((s) => JSON.parse(s.output) as Json) as RunStepsPayload['approvals'],
    };
  };

  const get = async (executionId: string): Promise<ExecutionRecord> => {
    const record = await records.get('acme', executionId);
    if (!record) throw new Error(`no execution ${executionId}`);
    return record;
  };

  const trailOf = (executionId: string) => trail.entries('acme', executionId);

  const eventsOf = (type: string) =>
    events.published.filter((event) => event.type === type).map((event) => event.detail);

  return {
    ...r,
    registryEvents: r.events,
    records,
    trailRecords,
    worm,
    trail,
    events,
    flow,
    callbacks,
    runners,
    sleeps,
    hooks,
    ended,
    service,
    execute,
    reachStage,
    decide,
    runStepsPayload,
    get,
    trailOf,
    eventsOf,
  };
};

export type ExecutionsHarness = Awaited<ReturnType<typeof executionsHarness>>;
