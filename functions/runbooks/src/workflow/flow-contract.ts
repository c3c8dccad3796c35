/**
 * What the approval flow and its callers agree on: state names, error names, the execution input,
 * the payloads its two Lambdas receive, and the task-token port. No dependencies: a Lambda may
 * import this module (never approval-flow.ts, which pulls aws-cdk-lib).
 */

export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/** An Amazon States Language definition, as CDK renders it (JSONPath query language). */
export interface AslDefinition {
  readonly StartAt: string;
  readonly States: {
    readonly [name: string]: { readonly Type: string; readonly [field: string]: JsonValue };
  };
  readonly TimeoutSeconds?: number;
  readonly Comment?: string;
}

/** State names, as the Step Functions console shows them; the local interpreter overrides tasks by them. */
export const FLOW_STATES = {
  approvalStages: 'Collect approvals',
  waitForApproval: 'Wait for approval',
  runSteps: 'Run the steps',
  succeeded: 'Runbook done',
  rejected: 'Approval rejected',
  timedOut: 'Approval timed out',
  stepsFailed: 'Steps failed',
} as const;

/** The error a failed execution ends with, one per outcome (DescribeExecution `error`). */
export const FLOW_ERRORS = {
  /** What the domain passes to SendTaskFailure when an approver rejects; the flow fails with it too. */
  rejected: 'ApprovalRejected',
  timedOut: 'ApprovalTimedOut',
  stepsFailed: 'StepsFailed',
} as const;

/** One approval stage. The flow reads only `timeoutSeconds`; every other field reaches the approval-request Lambda as is. */
export interface ApprovalStageInput {
  readonly name: string;
  /** A positive integer: how long the stage waits for its decision before the execution fails. */
  readonly timeoutSeconds: number;
  readonly [detail: string]: JsonValue;
}

/** The execution input. Extra fields pass through to the run-steps Lambda. */
export interface ApprovalFlowInput {
  readonly executionId: string;
  readonly runbookId: string;
  /** The digest of the runbook and its parameters: every approval is bound to it. */
  readonly digest: string;
  /** In order; one iteration of the Map state each. An empty list runs the steps with no approval. */
  readonly stages: readonly ApprovalStageInput[];
  readonly [detail: string]: JsonValue;
}

/** What the approval-request Lambda receives: it records `taskToken` for the stage and publishes `approval_requested`. */
export interface ApprovalRequestPayload {
  readonly taskToken: string;
  readonly executionId: string;
  readonly runbookId: string;
  readonly digest: string;
  readonly stageIndex: number;
  readonly stage: ApprovalStageInput;
}

/** What the run-steps Lambda receives: the execution input plus each stage's SendTaskSuccess output, in stage order. */
export type RunStepsPayload = ApprovalFlowInput & { readonly approvals: readonly JsonValue[] };

/** SendTaskSuccess's input: `output` is a JSON text, as in the Step Functions API. */
export interface SendTaskSuccessInput {
  readonly taskToken: string;
  readonly output: string;
}

/** SendTaskFailure's input; a rejection sends `error: FLOW_ERRORS.rejected`. */
export interface SendTaskFailureInput {
  readonly taskToken: string;
  readonly error?: string;
  readonly cause?: string;
}

/**
 * How the domain settles a stage once M distinct approvers approved (success) or one rejected
 * (failure). Step Functions' SendTaskSuccess/SendTaskFailure on AWS; the local token registry on the
 * embedded runtime.
 */
export interface TaskCallbacks {
  sendTaskSuccess(input: SendTaskSuccessInput): Promise<void>;
  sendTaskFailure(input: SendTaskFailureInput): Promise<void>;
}

/** The token is unknown, already settled, or its execution ended (SFN's TaskDoesNotExist / TaskTimedOut / InvalidToken). */
export class TaskTokenNotFoundError extends Error {
  override readonly name = 'TaskTokenNotFoundError';
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** The outcome a runbook execution reports on the bus (`runbook_executed.status`), from DescribeExecution's status and error. */
export type FlowOutcome = 'started' | 'succeeded' | 'failed' | 'rejected' | 'timed_out';

export const flowOutcome = (status: ExecutionStatus, error?: string): FlowOutcome => {
  if (status === 'RUNNING') return 'started';
  if (status === 'SUCCEEDED') return 'succeeded';
  if (status === 'TIMED_OUT' || error === FLOW_ERRORS.timedOut) return 'timed_out';
  if (error === FLOW_ERRORS.rejected) return 'rejected';
  return 'failed';
};
