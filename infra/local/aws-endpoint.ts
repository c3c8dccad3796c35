import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LocalEventBus } from './bus.js';
import { EventBridgeError } from './eventbridge-error.js';
import { MessageMoveTasks } from './message-moves.js';
import { type LocalQueue, md5OfMessageAttributes, QueueError } from './queue.js';

/**
 * A loopback endpoint that speaks the AWS JSON protocols of the two local stand-ins, so handlers
 * use the real SDK clients (`EventBridgeClient`, `SQSClient`) with only an endpoint override:
 * - EventBridge (JSON 1.1, `X-Amz-Target: AWSEvents.PutEvents`) -> LocalEventBus.putEvents
 * - SQS (JSON 1.0, `X-Amz-Target: AmazonSQS.*`): SendMessage, SendMessageBatch, GetQueueUrl,
 *   GetQueueAttributes, ReceiveMessage, DeleteMessage, ChangeMessageVisibility -> LocalQueue (the
 *   event source mappings receive in-process; the SDK receives to inspect a DLQ), and the DLQ redrive
 *   API: StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask (./message-moves.ts).
 * No signature is checked: the endpoint listens on 127.0.0.1 only.
 */
export interface AwsEndpointOptions {
  readonly bus: LocalEventBus;
  readonly queues: ReadonlyMap<string, LocalQueue>;
}

export interface RunningAwsEndpoint {
  readonly url: string;
  /** The endpoint's HTTP server (the in-process transport serves its request listener). */
  readonly server: Server;
  queueUrl(name: string): string;
  close(): Promise<void>;
}

class ProtocolError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const readJson = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new ProtocolError('SerializationException', 'Request body is not a JSON object.');
};

type StringAttributes = Record<string, { DataType?: string; StringValue?: string }> | undefined;

const stringAttributes = (raw: StringAttributes): Record<string, string> | undefined => {
  if (!raw) return undefined;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value?.StringValue === undefined) {
      throw new ProtocolError(
        'InvalidParameterValue',
        `Message attribute ${name}: only String and Number values are supported locally.`,
      );
    }
    out[name] = value.StringValue;
  }
  return out;
};

const namesOf = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((name): name is string => typeof name === 'string') : [];

const receiptHandleOf = (body: Record<string, unknown>): string => {
  if (typeof body.ReceiptHandle !== 'string' || body.ReceiptHandle === '') {
    throw new ProtocolError('MissingParameter', 'The request must contain the parameter ReceiptHandle.');
  }
  return body.ReceiptHandle;
};

export const startAwsEndpoint = async (options: AwsEndpointOptions): Promise<RunningAwsEndpoint> => {
  let base = '';
  const moves = new MessageMoveTasks(options.queues);
  const queueUrl = (name: string) => `${base}/000000000000/${name}`;
  const queueFrom = (body: Record<string, unknown>): LocalQueue => {
    const url = typeof body.QueueUrl === 'string' ? body.QueueUrl : '';
    const name = url.split('/').pop() ?? '';
    const queue = options.queues.get(name);
    if (!queue)
      throw new ProtocolError(
        'com.amazonaws.sqs#QueueDoesNotExist',
        `The specified queue does not exist: ${name}`,
      );
    return queue;
  };

  const sqs = (action: string, body: Record<string, unknown>): unknown => {
    switch (action) {
      case 'GetQueueUrl': {
        const name = String(body.QueueName ?? '');
        if (!options.queues.has(name)) {
          throw new ProtocolError(
            'com.amazonaws.sqs#QueueDoesNotExist',
            `The specified queue does not exist: ${name}`,
          );
        }
        return { QueueUrl: queueUrl(name) };
      }
      case 'SendMessage': {
        const queue = queueFrom(body);
        const attributes = stringAttributes(body.MessageAttributes as StringAttributes);
        const sent = queue.send(String(body.MessageBody ?? ''), {
          ...(typeof body.DelaySeconds === 'number' ? { delaySeconds: body.DelaySeconds } : {}),
          ...(typeof body.MessageGroupId === 'string' ? { messageGroupId: body.MessageGroupId } : {}),
          ...(attributes ? { messageAttributes: attributes } : {}),
        });
        return {
          MessageId: sent.messageId,
          MD5OfMessageBody: sent.md5OfBody,
          ...(sent.md5OfMessageAttributes ? { MD5OfMessageAttributes: sent.md5OfMessageAttributes } : {}),
        };
      }
      case 'SendMessageBatch': {
        const queue = queueFrom(body);
        const entries = Array.isArray(body.Entries) ? (body.Entries as Record<string, unknown>[]) : [];
        const result = queue.sendBatch(
          entries.map((entry) => {
            const attributes = stringAttributes(entry.MessageAttributes as StringAttributes);
            return {
              id: String(entry.Id ?? ''),
              body: String(entry.MessageBody ?? ''),
              ...(typeof entry.DelaySeconds === 'number' ? { delaySeconds: entry.DelaySeconds } : {}),
              ...(attributes ? { messageAttributes: attributes } : {}),
            };
          }),
        );
        return {
          Successful: result.successful.map((s) => ({
            Id: s.id,
            MessageId: s.messageId,
            MD5OfMessageBody: s.md5OfBody,
          })),
          Failed: result.failed.map((f) => ({
            Id: f.id,
            Code: f.code,
            Message: f.message,
            SenderFault: f.senderFault,
          })),
        };
      }
      case 'GetQueueAttributes': {
        const queue = queueFrom(body);
        const depth = queue.depth();
        return {
          Attributes: {
            QueueArn: queue.arn,
            VisibilityTimeout: String(queue.visibilityTimeoutSeconds),
            ApproximateNumberOfMessages: String(depth.visible),
            ApproximateNumberOfMessagesNotVisible: String(depth.inFlight),
            ApproximateNumberOfMessagesDelayed: String(depth.delayed),
            ...(queue.deadLetterQueue
              ? {
                  RedrivePolicy: JSON.stringify({
                    deadLetterTargetArn: queue.deadLetterQueue.arn,
                    maxReceiveCount: queue.maxReceiveCount,
                  }),
                }
              : {}),
          },
        };
      }
      case 'ReceiveMessage': {
        const queue = queueFrom(body);
        const max = body.MaxNumberOfMessages === undefined ? 1 : Number(body.MaxNumberOfMessages);
        const visibility = body.VisibilityTimeout;
        if (visibility !== undefined && typeof visibility !== 'number') {
          throw new ProtocolError('InvalidParameterValue', 'VisibilityTimeout must be a number.');
        }
        const records = queue.receive(max, {
          ...(visibility !== undefined ? { visibilityTimeoutSeconds: visibility } : {}),
        });
        const wanted = new Set([
          ...namesOf(body.AttributeNames),
          ...namesOf(body.MessageSystemAttributeNames),
        ]);
        const wantedMessageAttributes = new Set(namesOf(body.MessageAttributeNames));
        return {
          Messages: records.map((record) => {
            const attributes = Object.fromEntries(
              Object.entries(record.attributes).filter(
                ([name, value]) => value !== undefined && (wanted.has('All') || wanted.has(name)),
              ),
            );
            const messageAttributes = Object.fromEntries(
              Object.entries(record.messageAttributes)
                .filter(
                  ([name]) =>
                    wantedMessageAttributes.has('All') ||
                    wantedMessageAttributes.has('.*') ||
                    wantedMessageAttributes.has(name),
                )
                .map(([name, value]) => [name, { DataType: 'String', StringValue: value.stringValue }]),
            );
            const withAttributes = Object.keys(messageAttributes).length > 0;
            return {
              MessageId: record.messageId,
              ReceiptHandle: record.receiptHandle,
              MD5OfBody: record.md5OfBody,
              Body: record.body,
              ...(Object.keys(attributes).length > 0 ? { Attributes: attributes } : {}),
              ...(withAttributes
                ? {
                    MessageAttributes: messageAttributes,
                    MD5OfMessageAttributes: md5OfMessageAttributes(
                      Object.fromEntries(
                        Object.entries(messageAttributes).map(([name, value]) => [
                          name,
                          value.StringValue ?? '',
                        ]),
                      ),
                    ),
                  }
                : {}),
            };
          }),
        };
      }
      case 'DeleteMessage': {
        const queue = queueFrom(body);
        queue.delete(receiptHandleOf(body));
        return {};
      }
      case 'ChangeMessageVisibility': {
        const queue = queueFrom(body);
        if (typeof body.VisibilityTimeout !== 'number') {
          throw new ProtocolError(
            'MissingParameter',
            'The request must contain the parameter VisibilityTimeout.',
          );
        }
        queue.changeVisibility(receiptHandleOf(body), body.VisibilityTimeout);
        return {};
      }
      case 'StartMessageMoveTask':
        return moves.start(body);
      case 'ListMessageMoveTasks':
        return moves.list(body);
      case 'CancelMessageMoveTask':
        return moves.cancel(body);
      default:
        throw new ProtocolError(
          'UnsupportedOperation',
          `SQS ${action} is not supported by the local endpoint.`,
        );
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const [service, action = ''] = target.split('.');
    let status = 200;
    let payload: unknown;
    try {
      const body = await readJson(req);
      if (service === 'AWSEvents' && action === 'PutEvents') {
        const entries = Array.isArray(body.Entries) ? body.Entries : [];
        payload = options.bus.putEvents(entries as Parameters<LocalEventBus['putEvents']>[0]);
      } else if (service === 'AmazonSQS') {
        payload = sqs(action, body);
      } else {
        throw new ProtocolError('UnknownOperationException', `Unknown operation ${target || '(none)'}.`);
      }
    } catch (error) {
      if (error instanceof ProtocolError) {
        status = error.status;
        payload = { __type: error.type, message: error.message };
      } else if (error instanceof QueueError || error instanceof EventBridgeError) {
        status = 400;
        payload = { __type: error.code, message: error.message };
      } else {
        status = 500;
        payload = { __type: 'InternalFailure', message: 'Internal failure of the local endpoint.' };
      }
    }
    const text = JSON.stringify(payload);
    res.writeHead(status, {
      'content-type': service === 'AmazonSQS' ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': crypto.randomUUID(),
    });
    res.end(text);
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    server,
    queueUrl,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
