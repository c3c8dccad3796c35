import {
  type JsonValue,
  type SendTaskFailureInput,
  type SendTaskSuccessInput,
  type TaskCallbacks,
  TaskTokenNotFoundError,
} from './flow-contract.js';

/** How a task settled by SendTaskFailure fails: `name` is the error a Catch matches, as on AWS. */
export class TaskFailedError extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}

interface ParkedTask {
  readonly owner: string;
  readonly resolve: (output: JsonValue) => void;
  readonly reject: (error: TaskFailedError) => void;
}

/**
 * The embedded runtime's task tokens: a waitForTaskToken task parks a promise under its token, and
 * SendTaskSuccess/SendTaskFailure settle it, with the Step Functions API's inputs and errors.
 */
export class LocalTaskTokens implements TaskCallbacks {
  readonly #parked = new Map<string, ParkedTask>();

  /** Parks the task of `owner` (an execution ARN) under `taskToken`; settles when a callback names it. */
  park(taskToken: string, owner: string): Promise<JsonValue> {
    if (this.#parked.has(taskToken)) throw new Error(`task token ${taskToken} is already parked`);
    return new Promise((resolve, reject) => {
      this.#parked.set(taskToken, { owner, resolve, reject });
    });
  }

  /** Forgets every token `owner` still holds (its execution ended): later callbacks on them fail. */
  release(owner: string): void {
    for (const [token, task] of this.#parked) if (task.owner === owner) this.#parked.delete(token);
  }

  /** The tokens waiting for a decision, oldest first. */
  pending(owner?: string): string[] {
    return [...this.#parked]
      .filter(([, task]) => owner === undefined || task.owner === owner)
      .map(([t]) => t);
  }

  async sendTaskSuccess({ taskToken, output }: SendTaskSuccessInput): Promise<void> {
    const result = JSON.parse(output) as JsonValue; // a SyntaxError leaves the task parked, as InvalidOutput does
    this.#take(taskToken).resolve(result);
  }

  async sendTaskFailure({ taskToken, error, cause }: SendTaskFailureInput): Promise<void> {
    this.#take(taskToken).reject(new TaskFailedError(error ?? 'States.TaskFailed', cause ?? ''));
  }

  #take(taskToken: string): ParkedTask {
    const task = this.#parked.get(taskToken);
    if (!task)
      throw new TaskTokenNotFoundError(`no task waits on token ${taskToken}: unknown, settled or ended`);
    this.#parked.delete(taskToken);
    return task;
  }
}
