import {
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { ApprovalFlowStarter } from '../domain/executions.js';
import {
  type ApprovalFlowInput,
  type SendTaskFailureInput,
  type SendTaskSuccessInput,
  type TaskCallbacks,
  TaskTokenNotFoundError,
} from '../workflow/flow-contract.js';

/** Step Functions' answers for a token no task waits on any more (unknown, settled, timed out or ended). */
const GONE = new Set(['TaskDoesNotExist', 'TaskTimedOut', 'InvalidToken']);

const nameOf = (error: unknown): string =>
  error instanceof Error
    ? error.name
    : typeof error === 'object' && error !== null
      ? String((error as { name?: unknown }).name)
      : '';

/**
 * The approval flow on AWS: StartExecution on the state machine CDK deploys (the execution named
 * after the runbook execution, so a retried start is the same execution), and SendTaskSuccess /
 * SendTaskFailure for the stages' task tokens.
 */
export class SfnApprovalFlow implements ApprovalFlowStarter, TaskCallbacks {
  constructor(
    private readonly sfn: Pick<SFNClient, 'send'>,
    private readonly stateMachineArn: string,
  ) {}

  async start(input: ApprovalFlowInput, name: string): Promise<{ executionArn: string }> {
    try {
      const out = await this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name,
          input: JSON.stringify(input),
        }),
      );
      if (!out.executionArn) throw new Error('StartExecution answered no executionArn');
      return { executionArn: out.executionArn };
    } catch (error) {
      // Same name and same input within 90 days: Step Functions answers the running execution; a
      // different input under the name is ExecutionAlreadyExists, which a retry of ours never sends.
      if (nameOf(error) !== 'ExecutionAlreadyExists') throw error;
      return { executionArn: `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}` };
    }
  }

  async sendTaskSuccess({ taskToken, output }: SendTaskSuccessInput): Promise<void> {
    await this.#settle(() => this.sfn.send(new SendTaskSuccessCommand({ taskToken, output })));
  }

  async sendTaskFailure({ taskToken, error, cause }: SendTaskFailureInput): Promise<void> {
    await this.#settle(() =>
      this.sfn.send(
        new SendTaskFailureCommand({
          taskToken,
          ...(error === undefined ? {} : { error }),
          ...(cause === undefined ? {} : { cause }),
        }),
      ),
    );
  }

  async #settle(send: () => Promise<unknown>): Promise<void> {
    try {
      await send();
    } catch (error) {
      if (GONE.has(nameOf(error)))
        throw new TaskTokenNotFoundError(`the task no longer waits: ${nameOf(error)}`);
      throw error;
    }
  }
}
