import './promise-with-resolvers.js';
import { randomUUID } from 'node:crypto';
import {
  ExecutionError,
  ExecutionTimeoutError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { recordCall } from '#shared/adapters/call-meter.js';
import {
  type ApprovalFlowInput,
  type ApprovalRequestPayload,
  type AslDefinition,
  type ExecutionStatus,
  FLOW_STATES,
  type JsonValue,
  type RunStepsPayload,
  type SendTaskFailureInput,
  type SendTaskSuccessInput,
  type TaskCallbacks,
} from './flow-contract.js';
import { LocalTaskTokens } from './task-tokens.js';

/**
 * The embedded runtime's Step Functions for the approval flow: aws-local-stepfunctions runs the ASL
 * CDK deploys (approvalFlowDefinition), with the two Lambda tasks overridden by state name. Each
 * entry into "Wait for approval" gets a fresh `$$.Task.Token`, as on AWS.
 *
 * Call accounting: records into the active call meters what the SFN client records on AWS
 * (`sfn.StartExecution`, `sfn.SendTaskSuccess`, `sfn.SendTaskFailure`, one request each), and what a
 * Standard workflow is billed for: one `sfn.StateTransition` per state entered (inside a Map's
 * iterations too) and per retry (https://aws.amazon.com/step-functions/pricing/: "a state
 * transition each time a step of your workflow is executed … including retries").
 */

export const LOCAL_APPROVAL_FLOW_ARN =
  'arn:aws:states:us-east-1:000000000000:stateMachine:runbooks-approval-flow';

export interface LocalApprovalFlowOptions {
  /** The ASL to run: `approvalFlowDefinition()`. */
  readonly definition: AslDefinition;
  /** Stands in for the approval-request Lambda: gets the payload it would get; the token is parked before the call. */
  readonly requestApproval: (request: ApprovalRequestPayload) => void | Promise<void>;
  /** Stands in for the run-steps Lambda; what it returns is the Lambda's response payload. */
  readonly runSteps: (payload: RunStepsPayload) => JsonValue | Promise<JsonValue>;
  /** @default a registry of its own */
  readonly tokens?: LocalTaskTokens;
  /** @default LOCAL_APPROVAL_FLOW_ARN */
  readonly stateMachineArn?: string;
}

/** DescribeExecution's answer, as far as the approval flow uses it. */
export interface ExecutionDescription {
  readonly executionArn: string;
  readonly status: ExecutionStatus;
  readonly input: ApprovalFlowInput;
  readonly output?: JsonValue;
  readonly error?: string;
  readonly cause?: string;
  readonly startDate: Date;
  readonly stopDate?: Date;
}

export interface StartedExecution {
  readonly executionArn: string;
  /** Settles when the execution stops, whatever its status (it never rejects). */
  readonly result: Promise<ExecutionDescription>;
}

export class ExecutionDoesNotExistError extends Error {
  override readonly name = 'ExecutionDoesNotExistError';
}

const VALIDATED = new WeakSet<AslDefinition>();

/** The interpreter's JSON: the same values as JsonValue, with mutable arrays and objects. */
type InterpreterJson = Parameters<StateMachine['run']>[0];
type TaskHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
const taskHandler = (handler: (parameters: unknown) => Promise<JsonValue>) =>
  handler as (parameters: InterpreterJson) => Promise<InterpreterJson>;

/** The Lambda invoke integration's response around a payload (what `$.Payload` selects). */
const invokeResponse = (payload: JsonValue): JsonValue => ({
  ExecutedVersion: '$LATEST',
  Payload: payload,
  StatusCode: 200,
});

export class LocalApprovalFlow implements TaskCallbacks {
  readonly tokens: LocalTaskTokens;
  readonly stateMachineArn: string;
  readonly #machine: StateMachine;
  readonly #options: LocalApprovalFlowOptions;
  readonly #executions = new Map<string, ExecutionDescription>();
  /** The stages of each running execution whose decision was an approval. */
  readonly #approvedStages = new Map<string, Set<number>>();

  constructor(options: LocalApprovalFlowOptions) {
    // Validates the definition now rather than at the first execution, once per definition (~150 ms);
    // the validator writes QueryLanguage into every state it checks, so it gets a copy.
    const noValidate = VALIDATED.has(options.definition);
    const copy = structuredClone(options.definition) as unknown as StateMachineDefinition;
    this.#machine = new StateMachine(copy, { validationOptions: { noValidate } });
    VALIDATED.add(options.definition);
    this.#options = options;
    this.tokens = options.tokens ?? new LocalTaskTokens();
    this.stateMachineArn = options.stateMachineArn ?? LOCAL_APPROVAL_FLOW_ARN;
  }

  startExecution(input: ApprovalFlowInput, options: { readonly name?: string } = {}): StartedExecution {
    const name = options.name ?? randomUUID();
    const executionArn = `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    if (this.#executions.has(executionArn)) throw new Error(`execution ${name} already exists`);
    const started: ExecutionDescription = { executionArn, status: 'RUNNING', input, startDate: new Date() };
    this.#executions.set(executionArn, started);
    this.#approvedStages.set(executionArn, new Set());
    recordCall('sfn', 'StartExecution', { requests: 1 });

    const execution = this.#machine.run(input as unknown as InterpreterJson, {
      overrides: { taskResourceLocalHandlers: this.#tasks(executionArn) },
      context: {
        Execution: { Id: executionArn, Name: name },
        StateMachine: { Id: this.stateMachineArn },
        // A getter: every read of $$.Task.Token (one per task entered) mints a new token, as AWS does.
        Task: {
          get Token() {
            return randomUUID();
          },
        },
      },
    });
    const transitions = meterTransitions(execution.eventLogs);
    const result = execution.result
      .then(
        (output) => ({ status: 'SUCCEEDED', output: output as JsonValue }) as const,
        (error: unknown) => stopped(error),
      )
      // Every transition is counted by the time the execution reads as stopped.
      .then(async (end) => {
        await transitions;
        return end;
      });
    return {
      executionArn,
      result: result.then((end) => {
        this.tokens.release(executionArn);
        this.#approvedStages.delete(executionArn);
        const description = { ...started, ...end, stopDate: new Date() };
        this.#executions.set(executionArn, description);
        return description;
      }),
    };
  }

  describeExecution(executionArn: string): ExecutionDescription {
    const description = this.#executions.get(executionArn);
    if (!description) throw new ExecutionDoesNotExistError(`no execution ${executionArn}`);
    return description;
  }

  sendTaskSuccess(input: SendTaskSuccessInput): Promise<void> {
    recordCall('sfn', 'SendTaskSuccess', { requests: 1 });
    return this.tokens.sendTaskSuccess(input);
  }

  sendTaskFailure(input: SendTaskFailureInput): Promise<void> {
    recordCall('sfn', 'SendTaskFailure', { requests: 1 });
    return this.tokens.sendTaskFailure(input);
  }

  #tasks(executionArn: string): TaskHandlers {
    const { requestApproval, runSteps } = this.#options;
    return {
      [FLOW_STATES.waitForApproval]: taskHandler(async (parameters) => {
        const request = (parameters as { Payload: ApprovalRequestPayload }).Payload;
        const approved = this.#approvedStages.get(executionArn) ?? new Set<number>();
        // The library's Map still starts the next queued iteration after one failed (AWS starts none):
        // a stage whose predecessor was not approved belongs to a stopped execution, and requests nothing.
        if (request.stageIndex > 0 && !approved.has(request.stageIndex - 1)) {
          throw new Error(`stage ${request.stageIndex} follows a stage that was not approved`);
        }
        const decision = this.tokens.park(request.taskToken, executionArn);
        decision.then(
          () => approved.add(request.stageIndex),
          () => undefined,
        );
        try {
          await requestApproval(request);
        } catch (error) {
          this.tokens.release(executionArn); // the request never went out: no decision can come
          throw error;
        }
        return decision;
      }),
      [FLOW_STATES.runSteps]: taskHandler(async (parameters) =>
        invokeResponse(await runSteps((parameters as { Payload: RunStepsPayload }).Payload)),
      ),
    };
  }
}

/**
 * Records a billed state transition per state entered and per retry, as the interpreter reports them
 * (its event log ends with the execution). One difference: after a stage was rejected, the library
 * still enters the next queued stage's task (which the override refuses), a transition AWS never makes.
 */
const meterTransitions = async (events: ReturnType<StateMachine['run']>['eventLogs']): Promise<void> => {
  for await (const event of events) {
    if (event.type === 'StateEntered' || event.type === 'StateRetried') recordCall('sfn', 'StateTransition');
  }
};

/** How a stopped execution reads: TIMED_OUT past the top-level TimeoutSeconds, else FAILED with the error and cause. */
const stopped = (error: unknown): Pick<ExecutionDescription, 'status' | 'error' | 'cause'> => {
  if (error instanceof ExecutionTimeoutError) {
    return {
      status: 'TIMED_OUT',
      error: 'States.Timeout',
      cause: 'The execution ran past its TimeoutSeconds',
    };
  }
  const failure = error instanceof ExecutionError && error.cause instanceof Error ? error.cause : error;
  if (failure instanceof Error) return { status: 'FAILED', error: failure.name, cause: failure.message };
  return { status: 'FAILED', error: 'States.Runtime', cause: String(failure) };
};
