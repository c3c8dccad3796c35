import { AppError, ConflictError, ForbiddenError, NotFoundError } from '#shared/errors.js';
import { canonicalJson, sha256Hex } from '#shared/ports/canonical-json.js';
import { type EventPublisher, eventOf } from '#shared/ports/events.js';
import type { TenantRecord, TenantRecords } from '#shared/ports/records.js';
import type { Clock, IdGenerator } from '#shared/ports/system.js';
import { approvalRequested, runbookExecuted } from '../../events.js';
import {
  type ApprovalFlowInput,
  type ApprovalRequestPayload,
  FLOW_ERRORS,
  type FlowOutcome,
  type ExecutionStatus as FlowStatus,
  flowOutcome,
  type JsonValue,
  type RunStepsPayload,
  type TaskCallbacks,
  TaskTokenNotFoundError,
} from '../workflow/flow-contract.js';
import { type RunbookRegistry, runbookOf } from './registry.js';
import { type Runbook, type RunbookStep, validateParams } from './runbook.js';
import { outputDigest, resolveStep, StepFailedError, type StepOutput, type StepRunners } from './steps.js';
import type { TrailHead } from './trail.js';
import type { TrailCheck, TrailEventInput, TrailLog } from './trail-log.js';

/**
 * Runbook executions: execute (the stored version verified again, the parameters checked, the
 * approval flow started), the approval stages (each a task token the flow waits on; decisions
 * checked by the policy engine, bound to the digest of the runbook and the parameters, M distinct
 * approvers, never the requester), the steps (run once every stage approved, each recorded with
 * the digest of its output), and the end of the flow (status, `runbook_executed`). Every event is
 * an entry of the execution's hash-chained trail, and the record keeps the trail's head.
 */

export type ExecutionState =
  | 'awaiting_approval'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'rejected'
  | 'timed_out';
export type StageState = 'pending' | 'waiting' | 'approved' | 'rejected' | 'timed_out';
export type StepState = 'pending' | 'running' | 'awaiting_confirmation' | 'succeeded' | 'failed';

const FINAL: ReadonlySet<ExecutionState> = new Set(['succeeded', 'failed', 'rejected', 'timed_out']);

export interface StageDecision {
  readonly actor: string;
  readonly decision: 'approve' | 'reject';
  readonly digest: string;
  readonly at: string;
  readonly comment?: string;
}

export interface StageRecord {
  readonly name: string;
  readonly roles: readonly string[];
  readonly minApprovers: number;
  readonly timeoutSeconds: number;
  readonly status: StageState;
  readonly requestedAt?: string;
  readonly expiresAt?: string;
  /** The task token the flow waits on for this stage (never shown). */
  readonly taskToken?: string;
  /** When the flow was told the stage's outcome (SendTaskSuccess / SendTaskFailure). */
  readonly settledAt?: string;
  readonly decisions: readonly StageDecision[];
}

export interface StepRecord {
  readonly id: string;
  readonly name: string;
  readonly type: RunbookStep['type'];
  readonly privileged: boolean;
  readonly status: StepState;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly outputDigest?: string;
  readonly error?: string;
  readonly confirmedBy?: string;
}

export interface ExecutionRecord extends TenantRecord {
  readonly runbookId: string;
  readonly runbookVersion: number;
  /** The runbook's digest (what its signature covers). */
  readonly runbookDigest: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly paramsDigest: string;
  /** SHA-256 of the canonical `{ runbookDigest, params }`: every approval names it. */
  readonly bindingDigest: string;
  readonly requestedBy: string;
  readonly status: ExecutionState;
  readonly stages: readonly StageRecord[];
  readonly steps: readonly StepRecord[];
  readonly requestedAt: string;
  readonly finishedAt?: string;
  readonly durationMs?: number;
  readonly failure?: string;
  readonly flowExecutionArn?: string;
  readonly trailHead?: TrailHead;
  readonly idempotencyKey?: string;
  /** SHA-256 of the request as sent (runbookId, version as given, params): what a key is matched on. */
  readonly requestDigest?: string;
  /** When "Run the steps" claimed the steps (at most once). */
  readonly stepsClaimedAt?: string;
}

/** Starts an execution of the approval flow (Step Functions StartExecution; locally the interpreter). */
export interface ApprovalFlowStarter {
  start(input: ApprovalFlowInput, name: string): Promise<{ readonly executionArn: string }>;
}

/** One resource-level policy question (`runbooks:approvals:decide`): the kernel's decideMany. */
export type ApprovalPolicy = (resource: {
  readonly tenantId: string;
  readonly kind: 'approval-requests';
  readonly id: string;
  readonly approverRoles: readonly string[];
  readonly requestedBy: string;
}) => Promise<{
  readonly allow: boolean;
  readonly reasons: readonly string[];
  readonly obligations: readonly string[];
}>;

export interface ExecutionsDeps {
  readonly executions: TenantRecords<ExecutionRecord>;
  readonly registry: Pick<RunbookRegistry, 'latest' | 'version' | 'verifyStored'>;
  readonly trail: Pick<TrailLog, 'append' | 'verifyExecution' | 'entries'>;
  readonly events: EventPublisher;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly flow?: ApprovalFlowStarter;
  readonly callbacks?: TaskCallbacks;
  readonly runners?: StepRunners;
  /** Waits (wait steps, manual step polling); a test gives one that moves its clock. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** How often a manual step looks for its confirmation. @default 2000 */
  readonly confirmPollMs?: number;
  /** A step without its own timeoutSeconds gets this. @default 60000 */
  readonly defaultStepTimeoutMs?: number;
  /** Told of every execution that ended failed (its steps or the flow failed: the metric its alarm watches). */
  readonly onEnded?: (tenantId: string, outcome: FlowOutcome) => void;
  readonly onPublishError?: (error: unknown, type: string) => void;
}

/** `<executionId>.<stage index>`: one approval request per stage of an execution. */
export const requestIdOf = (executionId: string, stageIndex: number): string =>
  `${executionId}.${stageIndex}`;

const REQUEST_ID = /^(rbx_[A-Za-z0-9-]{1,64})\.(\d{1,2})$/;

export const bindingDigestOf = (runbookDigest: string, params: Readonly<Record<string, unknown>>): string =>
  sha256Hex(canonicalJson({ runbookDigest, params }));

/** Why an execution whose flow never started failed; a retry with its idempotencyKey starts it. */
const FLOW_NOT_STARTED = 'the approval flow could not be started';

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Executions {
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: ExecutionsDeps) {
    this.#sleep = deps.sleep ?? delay;
  }

  // --- Execute --------------------------------------------------------------------------------

  /**
   * POST runbooks/execute: the stored version verified again (a mismatch quarantines it and is a
   * 422), the parameters checked and completed, the record and its first trail entries written,
   * then the flow started. The same `idempotencyKey` from the same requester answers the same
   * execution (`created: false`) or 409 when the request differs.
   */
  async execute(
    tenantId: string,
    body: {
      readonly runbookId: string;
      readonly version?: number | undefined;
      readonly params?: unknown;
      readonly idempotencyKey?: string | undefined;
    },
    actor: string,
    traceId: string,
  ): Promise<{ execution: ExecutionRecord; created: boolean }> {
    // A key names the request as sent (runbook, version as given, params as given): looked up
    // before "the latest version" is resolved, so a retry finds its execution even after a newer
    // version was published.
    const requestDigest = sha256Hex(
      canonicalJson({ runbookId: body.runbookId, version: body.version ?? null, params: body.params ?? {} }),
    );
    const id = body.idempotencyKey
      ? `rbx_${sha256Hex(canonicalJson({ tenantId, actor, key: body.idempotencyKey })).slice(0, 32)}`
      : this.deps.ids.next('rbx');
    const earlier = body.idempotencyKey ? await this.deps.executions.get(tenantId, id) : undefined;
    if (earlier?.requestDigest === requestDigest) return this.#again(earlier, traceId);
    const stored =
      body.version === undefined
        ? await this.deps.registry.latest(tenantId, body.runbookId)
        : await this.deps.registry.version(tenantId, body.runbookId, body.version);
    if (stored.status === 'revoked') {
      throw new ConflictError(
        `Runbook ${stored.runbookId} version ${stored.runbookVersion} was revoked by ${stored.revokedBy ?? 'an administrator'}${stored.revokeReason ? ` (${stored.revokeReason})` : ''}: it never runs. Execute another version.`,
        'runbook_revoked',
      );
    }
    const verified = await this.deps.registry.verifyStored(tenantId, stored, traceId);
    if (!verified.ok) {
      throw new AppError(
        422,
        'runbook_signature_invalid',
        `Runbook ${stored.runbookId} version ${stored.runbookVersion} does not match its signature (${verified.reason}): it is quarantined and will not run. Publish a correctly signed version.`,
        { details: { reason: verified.reason } },
      );
    }
    const runbook = verified.runbook;
    const params = validateParams(runbook, body.params);
    // The digest the signature covers (verifyStored checked the document against it).
    const runbookDigest = stored.signature.digest;
    const bindingDigest = bindingDigestOf(runbookDigest, params);
    // Sent otherwise but the same once defaults are filled in (and the same version): the same request.
    if (earlier) return this.#again(this.#sameBinding(earlier, bindingDigest), traceId);
    const now = this.deps.clock.now().toISOString();
    const record: ExecutionRecord = {
      tenantId,
      id,
      version: 1,
      createdAt: now,
      updatedAt: now,
      runbookId: runbook.id,
      runbookVersion: runbook.version,
      runbookDigest,
      params,
      paramsDigest: sha256Hex(canonicalJson(params)),
      bindingDigest,
      requestDigest,
      requestedBy: actor,
      status: runbook.approvals.length > 0 ? 'awaiting_approval' : 'running',
      stages: runbook.approvals.map((stage) => ({
        name: stage.name,
        roles: [...stage.roles],
        minApprovers: stage.minApprovers,
        timeoutSeconds: stage.timeoutSeconds,
        status: 'pending',
        decisions: [],
      })),
      steps: runbook.steps.map((step) => ({
        id: step.id,
        name: step.name,
        type: step.type,
        privileged: step.privileged,
        status: 'pending',
      })),
      requestedAt: now,
      ...(body.idempotencyKey ? { idempotencyKey: body.idempotencyKey } : {}),
    };
    try {
      await this.deps.executions.create(record);
    } catch (error) {
      if (!(error instanceof ConflictError) || !body.idempotencyKey) throw error;
      const earlier = await this.deps.executions.get(tenantId, id);
      if (!earlier) throw error;
      return this.#again(this.#sameBinding(earlier, bindingDigest), traceId);
    }
    let current = await this.#append(record, {
      kind: 'requested',
      actor,
      detail: {
        runbookId: runbook.id,
        version: runbook.version,
        runbookDigest,
        paramsDigest: record.paramsDigest,
        bindingDigest,
      },
    });
    current = await this.#append(current, {
      kind: 'verified',
      detail: {
        digest: stored.signature.digest,
        keyId: stored.signature.keyId,
        keyVersion: stored.signature.keyVersion,
        algorithm: stored.signature.algorithm,
      },
    });
    current = await this.#startFlow(current, runbook, traceId);
    return { execution: current, created: true };
  }

  #sameBinding(earlier: ExecutionRecord, bindingDigest: string): ExecutionRecord {
    if (earlier.bindingDigest !== bindingDigest) {
      throw new ConflictError(
        `idempotencyKey ${earlier.idempotencyKey} was used for another request (execution ${earlier.id}); use a new key.`,
        'idempotency_key_reused',
      );
    }
    return earlier;
  }

  /** A keyed request seen before: its execution, started again if its flow never started. */
  async #again(
    earlier: ExecutionRecord,
    traceId: string,
  ): Promise<{ execution: ExecutionRecord; created: boolean }> {
    if (earlier.failure !== FLOW_NOT_STARTED || earlier.flowExecutionArn)
      return { execution: earlier, created: false };
    const stored = await this.deps.registry.version(
      earlier.tenantId,
      earlier.runbookId,
      earlier.runbookVersion,
    );
    const reset = await this.#update(
      earlier,
      ({ failure: _f, finishedAt: _e, durationMs: _d, ...current }) => ({
        ...current,
        status: current.stages.length > 0 ? 'awaiting_approval' : 'running',
      }),
    );
    return { execution: await this.#startFlow(reset, runbookOf(stored), traceId), created: false };
  }

  async #startFlow(record: ExecutionRecord, runbook: Runbook, traceId: string): Promise<ExecutionRecord> {
    const flow = this.deps.flow;
    if (!flow) throw new Error('no approval flow is wired to start executions');
    const input: ApprovalFlowInput = {
      executionId: record.id,
      runbookId: record.runbookId,
      digest: record.bindingDigest,
      tenantId: record.tenantId,
      traceId,
      stages: record.stages.map((stage) => ({
        name: stage.name,
        timeoutSeconds: stage.timeoutSeconds,
        tenantId: record.tenantId,
        traceId,
      })),
    };
    let executionArn: string;
    try {
      ({ executionArn } = await flow.start(input, record.id));
    } catch (error) {
      // Nothing was asked of anyone and nothing ran: failed, with no end entry or event, so that
      // the same idempotencyKey can start it later.
      await this.#update(record, (current) => ({
        ...current,
        status: 'failed',
        failure: FLOW_NOT_STARTED,
        finishedAt: this.#now(),
      }));
      throw new AppError(
        503,
        'flow_unavailable',
        `Runbook ${runbook.id}: the approval flow could not be started; nothing ran. Try again.`,
        { cause: error, headers: { 'Retry-After': '5' } },
      );
    }
    return this.#update(record, (current) => ({ ...current, flowExecutionArn: executionArn }));
  }

  // --- Approval stages ------------------------------------------------------------------------

  /**
   * The flow reached a stage ("Wait for approval"): the stage's task token recorded, the stage
   * waiting, `approval_requested` published. A retried task brings a new token: the latest wins.
   */
  async stageReached(payload: ApprovalRequestPayload): Promise<void> {
    const tenantId = String(payload.stage.tenantId ?? '');
    const traceId = String(payload.stage.traceId ?? payload.executionId);
    const record = await this.#load(tenantId, payload.executionId);
    const stage = record.stages[payload.stageIndex];
    if (!stage || stage.name !== payload.stage.name)
      throw new Error(
        `execution ${record.id} has no stage ${payload.stageIndex} named ${payload.stage.name}`,
      );
    if (record.status !== 'awaiting_approval')
      throw new Error(`execution ${record.id} is ${record.status}: no approval can be requested`);
    if (stage.status === 'approved' || stage.status === 'rejected') {
      // The flow retried the task after the stage was decided: the new token gets the decision.
      const retried = await this.#update(record, (current) => ({
        ...current,
        stages: current.stages.map((s, i) =>
          i === payload.stageIndex ? { ...s, taskToken: payload.taskToken } : s,
        ),
      }));
      await this.#settle(retried, payload.stageIndex, stage.status, traceId);
      return;
    }
    const now = this.deps.clock.now();
    const expiresAt = new Date(now.getTime() + stage.timeoutSeconds * 1000).toISOString();
    const first = stage.status === 'pending';
    let updated = await this.#update(record, (current) => ({
      ...current,
      stages: current.stages.map((s, i) =>
        i === payload.stageIndex
          ? {
              ...s,
              status: 'waiting',
              taskToken: payload.taskToken,
              requestedAt: s.requestedAt ?? now.toISOString(),
              expiresAt: s.expiresAt ?? expiresAt,
            }
          : s,
      ),
    }));
    const waiting = updated.stages[payload.stageIndex] as StageRecord;
    if (first) {
      updated = await this.#append(updated, {
        kind: 'approval_requested',
        detail: {
          stage: stage.name,
          stageIndex: payload.stageIndex,
          roles: [...stage.roles],
          minApprovers: stage.minApprovers,
          expiresAt: waiting.expiresAt,
          digest: record.bindingDigest,
        },
      });
      await this.#publishRequested(updated, payload.stageIndex, traceId, false);
    }
  }

  /**
   * POST approvals/requests: the request of the stage the execution waits on, and its approvers
   * told again (`approval_requested` with `reminder`). 404 for an unknown execution or stage, 409
   * when that stage is not the one waiting (decided, not reached, or the execution ended).
   */
  async openRequest(
    tenantId: string,
    body: { readonly executionId: string; readonly stage: string },
    traceId: string,
  ): Promise<ApprovalRequestView> {
    const record = await this.#load(tenantId, body.executionId);
    const index = record.stages.findIndex((stage) => stage.name === body.stage);
    if (index < 0) {
      throw new NotFoundError(
        `Execution ${record.id} has no approval stage ${body.stage} (stages: ${record.stages.map((s) => s.name).join(', ') || 'none'}).`,
        'stage_not_found',
      );
    }
    this.#assertOpen(record, index);
    await this.#publishRequested(record, index, traceId, true);
    return requestView(record, index);
  }

  /** GET approvals/requests/{requestId}. */
  async request(tenantId: string, requestId: string): Promise<ApprovalRequestView> {
    const { record, index } = await this.#requestOf(tenantId, requestId);
    return requestView(record, index);
  }

  /**
   * POST approvals/requests/{requestId}/decision. In order: the stage must be the one waiting; the
   * digest the approver reviewed must be the execution's (a changed runbook or parameter is another
   * digest); the policy engine must allow (`runbooks:approvals:decide`: a role of the stage, never
   * the requester); one decision per person. A rejection fails the stage at once; the M-th distinct
   * approval passes it. Then the flow is told (SendTaskSuccess / SendTaskFailure).
   */
  async decide(
    tenantId: string,
    requestId: string,
    body: {
      readonly decision: 'approve' | 'reject';
      readonly digest: string;
      readonly comment?: string | undefined;
    },
    actor: string,
    policy: ApprovalPolicy,
    traceId: string,
  ): Promise<ApprovalRequestView> {
    for (let attempt = 1; ; attempt += 1) {
      const { record, index } = await this.#requestOf(tenantId, requestId);
      const stage = record.stages[index] as StageRecord;
      const earlier = stage.decisions.find((d) => d.actor === actor);
      if (FINAL.has(record.status)) {
        throw new ConflictError(`Execution ${record.id} has ended (${record.status}).`, 'execution_finished');
      }
      if (stage.status === 'timed_out') {
        throw new ConflictError(
          `Stage ${stage.name} of execution ${record.id} is no longer waiting: it timed out.`,
          'request_expired',
        );
      }
      if (
        earlier &&
        earlier.decision === body.decision &&
        earlier.digest === body.digest &&
        (stage.status === 'approved' || stage.status === 'rejected')
      ) {
        // A retried decision that decided the stage: tell the flow again if it was not told.
        const settled = stage.settledAt ? record : await this.#settle(record, index, stage.status, traceId);
        return requestView(settled, index);
      }
      this.#assertOpen(record, index);
      if (stage.status !== 'waiting') {
        throw new ConflictError(
          `Stage ${stage.name} of execution ${record.id} is not waiting for decisions yet; try again in a moment.`,
          'request_not_open',
        );
      }
      if (body.digest !== record.bindingDigest) {
        throw new ConflictError(
          `This decision names digest ${body.digest}, but execution ${record.id} is bound to ${record.bindingDigest} (its runbook and parameters): review the execution as it is and decide again.`,
          'approval_digest_mismatch',
        );
      }
      const answer = await policy({
        tenantId,
        kind: 'approval-requests',
        id: requestId,
        approverRoles: stage.roles,
        requestedBy: record.requestedBy,
      });
      if (!answer.allow) {
        if (answer.reasons.includes('requester-cannot-approve')) {
          throw new ForbiddenError(
            `You requested execution ${record.id}: someone else must decide its approval stages.`,
            [],
            'self_approval',
          );
        }
        throw new ForbiddenError(
          `Stage ${stage.name} is decided by people with one of the roles ${stage.roles.join(', ')}${answer.obligations.includes('step_up') ? ', stepped up' : ''}.`,
          answer.obligations,
          'not_an_approver',
        );
      }
      if (earlier) {
        if (earlier.decision === body.decision) return requestView(record, index);
        throw new ConflictError(
          `You already decided stage ${stage.name} (${earlier.decision}); a decision is not changed.`,
          'already_decided',
        );
      }
      const at = this.deps.clock.now().toISOString();
      const decision: StageDecision = {
        actor,
        decision: body.decision,
        digest: body.digest,
        at,
        ...(body.comment ? { comment: body.comment } : {}),
      };
      const decisions = [...stage.decisions, decision];
      const approvers = decisions.filter((d) => d.decision === 'approve').length;
      const status: StageState =
        body.decision === 'reject' ? 'rejected' : approvers >= stage.minApprovers ? 'approved' : 'waiting';
      const next: ExecutionRecord = {
        ...record,
        version: record.version + 1,
        updatedAt: at,
        stages: record.stages.map((s, i) => (i === index ? { ...s, status, decisions } : s)),
      };
      try {
        await this.deps.executions.replace(next, record.version);
      } catch (error) {
        if (error instanceof ConflictError && attempt < 5) continue;
        throw error;
      }
      let current = await this.#append(next, {
        kind: body.decision === 'approve' ? 'approved' : 'rejected',
        actor,
        detail: {
          stage: stage.name,
          stageIndex: index,
          digest: body.digest,
          approvals: approvers,
          minApprovers: stage.minApprovers,
          ...(body.comment ? { comment: body.comment } : {}),
        },
      });
      if (status !== 'waiting') current = await this.#settle(current, index, status, traceId);
      return requestView(current, index);
    }
  }

  /**
   * Tells the flow a stage's outcome, then records that it was told (`settledAt`). A token the flow
   * no longer holds means the stage timed out (or the execution ended): the stage is recorded
   * `timed_out` and the decision answered 409 `request_expired`.
   */
  async #settle(
    record: ExecutionRecord,
    index: number,
    status: StageState,
    _traceId: string,
  ): Promise<ExecutionRecord> {
    const stage = record.stages[index] as StageRecord;
    const callbacks = this.deps.callbacks;
    if (!callbacks) throw new Error('no task callbacks are wired to settle approval stages');
    if (!stage.taskToken) throw new Error(`stage ${stage.name} has no task token`);
    try {
      await this.#tell(callbacks, record, stage, status);
    } catch (error) {
      if (error instanceof TaskTokenNotFoundError) {
        await this.#update(record, (current) => ({
          ...current,
          stages: current.stages.map((s, i) => (i === index ? { ...s, status: 'timed_out' } : s)),
        }));
        throw new ConflictError(
          `Stage ${stage.name} of execution ${record.id} is no longer waiting (it timed out or the execution ended).`,
          'request_expired',
        );
      }
      throw error;
    }
    return this.#update(record, (current) => ({
      ...current,
      stages: current.stages.map((s, i) => (i === index ? { ...s, settledAt: this.#now() } : s)),
    }));
  }

  async #tell(callbacks: TaskCallbacks, record: ExecutionRecord, stage: StageRecord, status: StageState) {
    const taskToken = stage.taskToken as string;
    if (status === 'approved') {
      const approvals = stage.decisions.filter((d) => d.decision === 'approve');
      await callbacks.sendTaskSuccess({
        taskToken,
        output: JSON.stringify({
          stage: stage.name,
          digest: record.bindingDigest,
          approvers: approvals.map((d) => d.actor),
        }),
      });
    } else {
      const by = stage.decisions.find((d) => d.decision === 'reject')?.actor ?? 'an approver';
      await callbacks.sendTaskFailure({
        taskToken,
        error: FLOW_ERRORS.rejected,
        cause: `Stage ${stage.name} was rejected by ${by}`,
      });
    }
  }

  #assertOpen(record: ExecutionRecord, index: number): void {
    if (FINAL.has(record.status)) {
      throw new ConflictError(`Execution ${record.id} has ended (${record.status}).`, 'execution_finished');
    }
    const current = record.stages.findIndex((stage) => stage.status !== 'approved');
    const stage = record.stages[index] as StageRecord;
    if (index < current || stage.status === 'approved' || stage.status === 'rejected') {
      throw new ConflictError(`Stage ${stage.name} of execution ${record.id} is decided.`, 'stage_decided');
    }
    if (index > current) {
      throw new ConflictError(
        `Stage ${stage.name} of execution ${record.id} comes after stage ${record.stages[current]?.name}, which is not approved yet.`,
        'stage_not_reached',
      );
    }
  }

  async #requestOf(tenantId: string, requestId: string) {
    const match = REQUEST_ID.exec(requestId);
    const record = match ? await this.deps.executions.get(tenantId, match[1] as string) : undefined;
    const index = Number(match?.[2]);
    if (!record?.stages[index])
      throw new NotFoundError(
        `No approval request ${requestId} in this tenant.`,
        'approval_request_not_found',
      );
    return { record, index };
  }

  async #publishRequested(record: ExecutionRecord, index: number, traceId: string, reminder: boolean) {
    const stage = record.stages[index] as StageRecord;
    await this.#publish(
      eventOf(approvalRequested, {
        tenantId: record.tenantId,
        traceId,
        occurredAt: this.deps.clock.now().toISOString(),
        runbookId: record.runbookId,
        executionId: record.id,
        requestId: requestIdOf(record.id, index),
        stage: stage.name,
        roles: [...stage.roles],
        minApprovers: stage.minApprovers,
        expiresAt: stage.expiresAt ?? '',
        requestedBy: record.requestedBy,
        ...(reminder ? { reminder: true } : {}),
      }),
    );
  }

  // --- Steps ----------------------------------------------------------------------------------

  /**
   * "Run the steps" (every stage approved): the stored version verified once more, the approvals
   * checked against the execution's digest, then each step once, in order. At most once: a second
   * invocation for the same execution runs nothing. Throws when a step fails (the flow ends in
   * `Steps failed`).
   */
  async runSteps(payload: RunStepsPayload): Promise<JsonValue> {
    const tenantId = String(payload.tenantId ?? '');
    const traceId = String(payload.traceId ?? payload.executionId);
    let record = await this.#load(tenantId, payload.executionId);
    const once = () =>
      new StepFailedError(
        '-',
        `the steps of execution ${record.id} were started before: they run at most once`,
      );
    if (record.stepsClaimedAt || FINAL.has(record.status)) throw once();
    const checked = await this.#covered(record, payload, traceId);
    if (!checked.ok) {
      record = await this.#append(record, {
        kind: 'verification_failed',
        detail: { reason: checked.problem },
      });
      record = await this.#update(record, (current) => ({ ...current, failure: checked.problem }));
      throw new StepFailedError('-', checked.problem);
    }
    // The runbook verifyStored returned is the one that runs (never a later read of the record).
    const runbook = checked.runbook;
    // Claimed by a conditional write: of two overlapping invocations, one runs the steps.
    record = await this.#update(record, (current) => {
      if (current.stepsClaimedAt) throw once();
      return { ...current, status: 'running', stepsClaimedAt: this.#now() };
    });
    const outputs = new Map<string, StepOutput>();
    for (const [index, step] of runbook.steps.entries()) {
      record = await this.#stepUpdate(record, index, { status: 'running', startedAt: this.#now() });
      record = await this.#append(record, {
        kind: 'step_started',
        detail: { stepId: step.id, type: step.type, privileged: step.privileged },
      });
      const started = this.deps.clock.now().getTime();
      try {
        const output = await this.#runStep(record, step, outputs);
        outputs.set(step.id, output);
        const digest = outputDigest(output);
        record = await this.#load(tenantId, record.id);
        record = await this.#stepUpdate(record, index, {
          status: 'succeeded',
          finishedAt: this.#now(),
          outputDigest: digest,
        });
        record = await this.#append(record, {
          kind: 'step_finished',
          detail: {
            stepId: step.id,
            outputDigest: digest,
            durationMs: this.deps.clock.now().getTime() - started,
            ...(record.steps[index]?.confirmedBy ? { confirmedBy: record.steps[index]?.confirmedBy } : {}),
          },
        });
      } catch (error) {
        const reason = error instanceof StepFailedError ? error.reason : 'the step failed unexpectedly';
        record = await this.#load(tenantId, record.id);
        record = await this.#stepUpdate(record, index, {
          status: 'failed',
          finishedAt: this.#now(),
          error: reason,
        });
        record = await this.#append(record, { kind: 'step_failed', detail: { stepId: step.id, reason } });
        throw error instanceof StepFailedError ? error : new StepFailedError(step.id, reason);
      }
    }
    return {
      executionId: record.id,
      steps: record.steps.map((step) => ({
        id: step.id,
        status: step.status,
        outputDigest: step.outputDigest ?? null,
      })),
    };
  }

  /** Why the approvals do not cover this execution, or undefined when they do (signature included). */
  async #covered(
    record: ExecutionRecord,
    payload: RunStepsPayload,
    traceId: string,
  ): Promise<{ ok: true; runbook: Runbook } | { ok: false; problem: string }> {
    const refuse = (problem: string) => ({ ok: false as const, problem });
    if (payload.digest !== record.bindingDigest)
      return refuse('the flow carries another digest than the execution');
    const stored = await this.deps.registry.version(record.tenantId, record.runbookId, record.runbookVersion);
    const verified = await this.deps.registry.verifyStored(record.tenantId, stored, traceId);
    if (!verified.ok) return refuse(`the runbook no longer matches its signature (${verified.reason})`);
    if (bindingDigestOf(stored.signature.digest, record.params) !== record.bindingDigest)
      return refuse('the runbook or the parameters changed since the approvals');
    for (const stage of record.stages) {
      const approvers = new Set(
        stage.decisions
          .filter(
            (d) =>
              d.decision === 'approve' && d.digest === record.bindingDigest && d.actor !== record.requestedBy,
          )
          .map((d) => d.actor),
      );
      if (stage.status !== 'approved' || approvers.size < stage.minApprovers)
        return refuse(`stage ${stage.name} is not approved by ${stage.minApprovers} people for this digest`);
    }
    return { ok: true, runbook: verified.runbook };
  }

  async #runStep(
    record: ExecutionRecord,
    step: RunbookStep,
    outputs: Map<string, StepOutput>,
  ): Promise<StepOutput> {
    const resolved = resolveStep(step, record.params, outputs);
    const timeoutMs =
      step.timeoutSeconds !== undefined
        ? step.timeoutSeconds * 1000
        : (this.deps.defaultStepTimeoutMs ?? 60_000);
    const context = {
      tenantId: record.tenantId,
      executionId: record.id,
      runbookId: record.runbookId,
      timeoutMs,
    };
    const runners = this.deps.runners;
    switch (resolved.type) {
      case 'wait':
        await this.#sleep(resolved.seconds * 1000);
        return undefined;
      case 'manual':
        return this.#awaitConfirmation(record, step.id, timeoutMs);
      default: {
        if (!runners) throw new StepFailedError(step.id, 'no step runners are wired here');
        const runner = runners[resolved.type] as {
          run(s: typeof resolved, c: typeof context): Promise<StepOutput>;
        };
        return runner.run(resolved, context);
      }
    }
  }

  /** A manual step: waiting until someone confirms it (POST .../steps/{stepId}/confirm) or its timeout. */
  async #awaitConfirmation(record: ExecutionRecord, stepId: string, timeoutMs: number): Promise<StepOutput> {
    const index = record.steps.findIndex((step) => step.id === stepId);
    await this.#stepUpdate(await this.#load(record.tenantId, record.id), index, {
      status: 'awaiting_confirmation',
    });
    const deadline = this.deps.clock.now().getTime() + timeoutMs;
    const poll = this.deps.confirmPollMs ?? 2000;
    for (;;) {
      const current = await this.#load(record.tenantId, record.id);
      const step = current.steps[index] as StepRecord;
      if (step.confirmedBy) return undefined;
      if (this.deps.clock.now().getTime() >= deadline)
        throw new StepFailedError(stepId, `nobody confirmed it within ${Math.round(timeoutMs / 1000)} s`);
      await this.#sleep(poll);
    }
  }

  /** POST runbooks/executions/{id}/steps/{stepId}/confirm: a person confirms a manual step. */
  async confirmStep(
    tenantId: string,
    executionId: string,
    stepId: string,
    actor: string,
  ): Promise<ExecutionRecord> {
    for (let attempt = 1; ; attempt += 1) {
      const record = await this.#load(tenantId, executionId);
      const index = record.steps.findIndex((step) => step.id === stepId);
      const step = record.steps[index];
      if (!step) throw new NotFoundError(`Execution ${executionId} has no step ${stepId}.`, 'step_not_found');
      if (step.type !== 'manual')
        throw new ConflictError(
          `Step ${stepId} is a ${step.type} step: only manual steps are confirmed.`,
          'not_a_manual_step',
        );
      if (step.confirmedBy) return record;
      if (step.status !== 'awaiting_confirmation') {
        throw new ConflictError(
          `Step ${stepId} is ${step.status}, not awaiting confirmation.`,
          'step_not_awaiting_confirmation',
        );
      }
      const next: ExecutionRecord = {
        ...record,
        version: record.version + 1,
        updatedAt: this.#now(),
        steps: record.steps.map((s, i) => (i === index ? { ...s, confirmedBy: actor } : s)),
      };
      try {
        await this.deps.executions.replace(next, record.version);
        return next;
      } catch (error) {
        if (error instanceof ConflictError && attempt < 5) continue;
        throw error;
      }
    }
  }

  // --- The end --------------------------------------------------------------------------------

  /**
   * The flow stopped (its status change): the execution's final status, the stage that timed out,
   * the last trail entry, `runbook_executed` with the duration. A second report changes nothing.
   */
  async flowEnded(
    tenantId: string,
    executionId: string,
    status: FlowStatus,
    error: string | undefined,
    traceId: string,
    /** When the flow stopped (the status change's time): duplicates of one report agree on it. */
    stoppedAt?: Date,
  ): Promise<ExecutionRecord> {
    const record = await this.#load(tenantId, executionId);
    if (FINAL.has(record.status) || status === 'RUNNING') return record;
    const outcome = flowOutcome(status, error);
    const state: ExecutionState =
      outcome === 'succeeded'
        ? 'succeeded'
        : outcome === 'rejected'
          ? 'rejected'
          : outcome === 'timed_out'
            ? 'timed_out'
            : 'failed';
    const reason =
      state === 'timed_out'
        ? `stage ${record.stages.find((s) => s.status !== 'approved')?.name ?? '?'} got no decision in time`
        : state === 'rejected'
          ? `stage ${record.stages.find((s) => s.status === 'rejected')?.name ?? '?'} was rejected`
          : state === 'failed'
            ? (record.steps.find((s) => s.status === 'failed')?.error ??
              record.failure ??
              error ??
              'the flow failed')
            : undefined;
    return this.#finish(record, state, reason, traceId, stoppedAt);
  }

  async #finish(
    record: ExecutionRecord,
    state: ExecutionState,
    reason: string | undefined,
    traceId: string,
    stoppedAt?: Date,
  ) {
    const finishedAt = stoppedAt ?? this.deps.clock.now();
    const durationMs = Math.max(0, finishedAt.getTime() - new Date(record.requestedAt).getTime());
    // The trail entry first, then the status with the new head in one write: a reader never sees
    // the end without its entry. Two reports of one end make the same entry: the second append is
    // a replay, and only the first publishes.
    const { head, replayed } = await this.deps.trail.append(record.tenantId, record.id, {
      kind: state === 'succeeded' ? 'succeeded' : state === 'timed_out' ? 'timed_out' : 'failed',
      detail: { status: state, durationMs, ...(reason ? { reason } : {}) },
    });
    const current = await this.#update(record, (r) => ({
      ...r,
      status: state,
      finishedAt: finishedAt.toISOString(),
      durationMs,
      ...(reason ? { failure: reason } : {}),
      // The stage that got no decision in time: the first one not approved.
      stages: r.stages.map((s, i) =>
        state === 'timed_out' && i === r.stages.findIndex((x) => x.status !== 'approved')
          ? { ...s, status: 'timed_out' }
          : s,
      ),
      ...(r.trailHead && r.trailHead.seq >= head.seq ? {} : { trailHead: head }),
    }));
    const outcome: FlowOutcome = state === 'awaiting_approval' || state === 'running' ? 'started' : state;
    if (replayed) return current;
    // Rejections and approval timeouts are outcomes of the process; a failure is something broken.
    if (outcome === 'failed') this.deps.onEnded?.(current.tenantId, outcome);
    await this.#publish(
      eventOf(runbookExecuted, {
        tenantId: current.tenantId,
        traceId,
        occurredAt: finishedAt.toISOString(),
        runbookId: current.runbookId,
        executionId: current.id,
        status: outcome,
        version: current.runbookVersion,
        durationMs,
      }),
    );
    return current;
  }

  // --- Reads ----------------------------------------------------------------------------------

  async get(tenantId: string, executionId: string): Promise<ExecutionRecord> {
    return this.#load(tenantId, executionId);
  }

  async list(tenantId: string, page: { limit: number; cursor?: string | undefined }) {
    return this.deps.executions.list(tenantId, page);
  }

  /** GET runbooks/executions/{id}: the record, every trail entry, and whether the trail verifies against its head. */
  async timeline(tenantId: string, executionId: string) {
    const record = await this.#load(tenantId, executionId);
    let current = record;
    let check: TrailCheck | undefined;
    // An append in progress has written its entry but not yet moved the record's head: read the
    // record again (a few times) before calling entries past the head a broken trail.
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      check = current.trailHead
        ? await this.deps.trail.verifyExecution(tenantId, executionId, current.trailHead)
        : undefined;
      if (!check || check.ok || (check.reason !== 'beyond_head' && check.reason !== 'truncated')) break;
      await this.#sleep(50);
      current = await this.#load(tenantId, executionId);
    }
    const entries = await this.deps.trail.entries(tenantId, executionId);
    return { record: current, entries: entries.slice(0, (current.trailHead?.seq ?? -1) + 1), check };
  }

  // --- Plumbing -------------------------------------------------------------------------------

  #now(): string {
    return this.deps.clock.now().toISOString();
  }

  async #load(tenantId: string, executionId: string): Promise<ExecutionRecord> {
    const record = await this.deps.executions.get(tenantId, executionId);
    if (!record)
      throw new NotFoundError(`No execution ${executionId} in this tenant.`, 'execution_not_found');
    return record;
  }

  /** Applies `change` to the latest record (re-read on a concurrent write), returns what was stored. */
  async #update(record: ExecutionRecord, change: (current: ExecutionRecord) => ExecutionRecord) {
    let current = record;
    for (let attempt = 1; ; attempt += 1) {
      const next = { ...change(current), version: current.version + 1, updatedAt: this.#now() };
      try {
        await this.deps.executions.replace(next, current.version);
        return next;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= 5) throw error;
        current = await this.#load(record.tenantId, record.id);
      }
    }
  }

  #stepUpdate(record: ExecutionRecord, index: number, change: Partial<StepRecord>) {
    return this.#update(record, (current) => ({
      ...current,
      steps: current.steps.map((s, i) => (i === index ? { ...s, ...change } : s)),
    }));
  }

  /** Appends to the trail, then moves the record's head to the new entry. */
  async #append(record: ExecutionRecord, event: TrailEventInput): Promise<ExecutionRecord> {
    const { head } = await this.deps.trail.append(record.tenantId, record.id, event);
    return this.#update(record, (current) =>
      current.trailHead && current.trailHead.seq >= head.seq ? current : { ...current, trailHead: head },
    );
  }

  async #publish(event: Parameters<EventPublisher['publish']>[0][number]): Promise<void> {
    await this.deps.events
      .publish([event])
      .catch((error: unknown) => this.deps.onPublishError?.(error, event.type));
  }
}

export interface ApprovalRequestView {
  readonly requestId: string;
  readonly executionId: string;
  readonly runbookId: string;
  readonly stage: string;
  readonly stageIndex: number;
  readonly status: StageState;
  readonly roles: readonly string[];
  readonly minApprovers: number;
  readonly approvals: number;
  readonly digest: string;
  readonly requestedBy: string;
  readonly requestedAt?: string;
  readonly expiresAt?: string;
  readonly decisions: readonly StageDecision[];
}

export const requestView = (record: ExecutionRecord, index: number): ApprovalRequestView => {
  const stage = record.stages[index] as StageRecord;
  return {
    requestId: requestIdOf(record.id, index),
    executionId: record.id,
    runbookId: record.runbookId,
    stage: stage.name,
    stageIndex: index,
    status: stage.status,
    roles: stage.roles,
    minApprovers: stage.minApprovers,
    approvals: stage.decisions.filter((d) => d.decision === 'approve').length,
    digest: record.bindingDigest,
    requestedBy: record.requestedBy,
    ...(stage.requestedAt ? { requestedAt: stage.requestedAt } : {}),
    ...(stage.expiresAt ? { expiresAt: stage.expiresAt } : {}),
    decisions: stage.decisions,
  };
};

/** An execution as the API shows it (task tokens left out). */
export const executionView = (record: ExecutionRecord) => ({
  executionId: record.id,
  runbookId: record.runbookId,
  version: record.runbookVersion,
  status: record.status,
  runbookDigest: record.runbookDigest,
  paramsDigest: record.paramsDigest,
  digest: record.bindingDigest,
  params: record.params,
  requestedBy: record.requestedBy,
  requestedAt: record.requestedAt,
  ...(record.finishedAt ? { finishedAt: record.finishedAt } : {}),
  ...(record.durationMs !== undefined ? { durationMs: record.durationMs } : {}),
  ...(record.failure ? { failure: record.failure } : {}),
  stages: record.stages.map(({ taskToken: _token, ...stage }, index) => ({
    ...stage,
    requestId: requestIdOf(record.id, index),
  })),
  steps: record.steps,
  ...(record.trailHead ? { trailHead: record.trailHead } : {}),
});
