import { randomUUID } from 'node:crypto';
import { type LocalQueue, QueueError } from './queue.js';

/**
 * SQS's DLQ redrive API on the local queues: StartMessageMoveTask, ListMessageMoveTasks and
 * CancelMessageMoveTask, with AWS's request and answer shapes. As on AWS, the source must be the
 * dead-letter queue of some queue, and without a DestinationArn each message goes back to the queue
 * it was dead-lettered from. Unlike AWS, a task runs to completion inside StartMessageMoveTask (no
 * rate, no RUNNING state), so it is never cancellable; ListMessageMoveTasks then shows it COMPLETED
 * (or FAILED with its reason), newest first, the last 10 per source.
 */
export class MessageMoveTasks {
  readonly #tasks = new Map<string, MoveTask[]>();

  constructor(private readonly queues: ReadonlyMap<string, LocalQueue>) {}

  start(body: Record<string, unknown>): { TaskHandle: string } {
    const source = this.#byArn(requiredArn(body, 'SourceArn'));
    const isDeadLetterQueue = [...this.queues.values()].some((queue) => queue.deadLetterQueue === source);
    if (!isDeadLetterQueue) {
      throw new QueueError(
        'InvalidParameterValue',
        `Source queue ${source.arn} must be configured as a dead-letter queue of another queue.`,
      );
    }
    const destinationArn = typeof body.DestinationArn === 'string' ? body.DestinationArn : undefined;
    const destination = destinationArn === undefined ? undefined : this.#byArn(destinationArn);
    const startedAt = Date.now();
    const result = source.moveMessages(
      (sourceArn) => destination ?? (sourceArn === undefined ? undefined : this.#find(sourceArn)),
    );
    const taskHandle = Buffer.from(JSON.stringify({ taskId: randomUUID(), sourceArn: source.arn })).toString(
      'base64',
    );
    const task: MoveTask = {
      TaskHandle: taskHandle,
      Status: result.failureReason === undefined ? 'COMPLETED' : 'FAILED',
      SourceArn: source.arn,
      ...(destinationArn !== undefined ? { DestinationArn: destinationArn } : {}),
      ApproximateNumberOfMessagesMoved: result.moved,
      ApproximateNumberOfMessagesToMove: result.toMove,
      ...(result.failureReason !== undefined ? { FailureReason: result.failureReason } : {}),
      StartedTimestamp: startedAt,
    };
    this.#tasks.set(source.arn, [task, ...(this.#tasks.get(source.arn) ?? [])].slice(0, 10));
    return { TaskHandle: taskHandle };
  }

  list(body: Record<string, unknown>): { Results: Omit<MoveTask, 'TaskHandle'>[] } {
    const source = this.#byArn(requiredArn(body, 'SourceArn'));
    const max = body.MaxResults === undefined ? 1 : Number(body.MaxResults);
    if (!Number.isInteger(max) || max < 1 || max > 10) {
      throw new QueueError('InvalidParameterValue', 'MaxResults must be an integer between 1 and 10.');
    }
    // AWS gives the handle of a RUNNING task only; local tasks have all finished.
    const results = (this.#tasks.get(source.arn) ?? [])
      .slice(0, max)
      .map(({ TaskHandle: _handle, ...task }) => task);
    return { Results: results };
  }

  cancel(body: Record<string, unknown>): never {
    const handle = typeof body.TaskHandle === 'string' ? body.TaskHandle : '';
    throw new QueueError(
      'ResourceNotFoundException',
      `Task ${handle || '(none)'} is not running: local message move tasks finish when they start.`,
    );
  }

  #find(arn: string): LocalQueue | undefined {
    return [...this.queues.values()].find((queue) => queue.arn === arn);
  }

  #byArn(arn: string): LocalQueue {
    const queue = this.#find(arn);
    if (!queue) throw new QueueError('ResourceNotFoundException', `The resource ${arn} does not exist.`);
    return queue;
  }
}

interface MoveTask {
  TaskHandle: string;
  Status: 'COMPLETED' | 'FAILED';
  SourceArn: string;
  DestinationArn?: string;
  ApproximateNumberOfMessagesMoved: number;
  ApproximateNumberOfMessagesToMove: number;
  FailureReason?: string;
  StartedTimestamp: number;
}

const requiredArn = (body: Record<string, unknown>, name: string): string => {
  const value = body[name];
  if (typeof value !== 'string' || value === '') {
    throw new QueueError('MissingParameter', `The request must contain the parameter ${name}.`);
  }
  return value;
};
