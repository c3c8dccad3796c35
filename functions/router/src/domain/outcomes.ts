import { ConflictError, NotFoundError } from '#shared/errors.js';
import type { TenantRecord } from '#shared/ports/records.js';
import type { Clock } from '#shared/ports/system.js';
import type { CanaryWatch, WatchAction } from './canary-watch.js';
import type { CreateOnlyRepository } from './reward-learning.js';
import type { DecisionRepository, ExperimentArm } from './routing.js';

/** How the call the client made to the chosen expert went. */
export const OUTCOME_STATUSES = ['ok', 'error', 'timeout'] as const;
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];

export interface OutcomeInput {
  readonly taskId: string;
  readonly status: OutcomeStatus;
  readonly latencyMs: number;
}

/** The outcome of a routed task (id = taskId), joined to its decision and arm; the first report wins. */
export interface OutcomeRecord extends TenantRecord {
  readonly taskId: string;
  readonly decisionId: string;
  readonly expertId: string;
  readonly status: OutcomeStatus;
  readonly latencyMs: number;
  readonly experiment?: string;
  readonly arm?: ExperimentArm;
  readonly traceId: string;
}

export interface OutcomeAnswer
  extends Pick<
    OutcomeRecord,
    'taskId' | 'decisionId' | 'expertId' | 'status' | 'latencyMs' | 'experiment' | 'arm'
  > {
  /** True when this task's outcome had been reported before: the first report stands, counted once. */
  readonly duplicate: boolean;
  /** What the canary watch did after this outcome (absent outside a canary). */
  readonly canary?: WatchAction['kind'];
}

export class UnknownTaskError extends NotFoundError {
  constructor(taskId: string) {
    super(
      `No route decision for task ${taskId} in this tenant (never routed, another tenant's, or older than 30 days).`,
      'unknown_task',
    );
  }
}

export interface OutcomeServiceDeps {
  readonly decisions: Pick<DecisionRepository, 'get'>;
  readonly outcomes: CreateOnlyRepository<OutcomeRecord>;
  readonly watch: CanaryWatch;
  readonly clock: Clock;
}

/** POST router/outcome: record the outcome once, joined to the decision and its arm; feed the canary watch. */
export class OutcomeService {
  constructor(private readonly deps: OutcomeServiceDeps) {}

  async report(tenantId: string, input: OutcomeInput, traceId: string): Promise<OutcomeAnswer> {
    const decision = await this.deps.decisions.get(tenantId, input.taskId);
    if (!decision) throw new UnknownTaskError(input.taskId);
    const canary = decision.experiment?.mode === 'canary' ? decision.experiment : undefined;
    const now = this.deps.clock.now().toISOString();
    const record: OutcomeRecord = {
      tenantId,
      id: input.taskId,
      version: 1,
      createdAt: now,
      updatedAt: now,
      taskId: input.taskId,
      decisionId: decision.decisionId,
      expertId: decision.expertId,
      status: input.status,
      latencyMs: input.latencyMs,
      ...(canary?.arm ? { experiment: canary.name, arm: canary.arm } : {}),
      traceId,
    };
    try {
      await this.deps.outcomes.create(record);
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const first = await this.deps.outcomes.get(tenantId, input.taskId);
      if (!first) throw error;
      return { ...answerOf(first), duplicate: true };
    }
    if (!canary?.arm) return { ...answerOf(record), duplicate: false };
    const action = await this.deps.watch.record(
      tenantId,
      canary.name,
      canary.arm,
      { error: input.status !== 'ok', latencyMs: input.latencyMs },
      traceId,
    );
    return { ...answerOf(record), duplicate: false, canary: action.kind };
  }
}

const answerOf = (record: OutcomeRecord): Omit<OutcomeAnswer, 'duplicate'> => ({
  taskId: record.taskId,
  decisionId: record.decisionId,
  expertId: record.expertId,
  status: record.status,
  latencyMs: record.latencyMs,
  ...(record.experiment ? { experiment: record.experiment } : {}),
  ...(record.arm ? { arm: record.arm } : {}),
});
