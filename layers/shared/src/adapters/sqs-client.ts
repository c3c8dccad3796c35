import { SQSClient } from '@aws-sdk/client-sqs';
import { chunksOf, meterClient, type UnitsOf } from './call-meter.js';
import { type ClientOptions, instrumented, sdkConfig } from './clients.js';

/** SQS bills each 64 KiB chunk of a request's payload as one request (a batch of small messages is one). */
const SQS_CHUNK = 64 * 1024;

interface Message {
  MessageBody?: string;
  Body?: string;
  MessageAttributes?: unknown;
}
const messageBytes = (message: Message): number =>
  Buffer.byteLength(message.MessageBody ?? message.Body ?? '') +
  (message.MessageAttributes ? Buffer.byteLength(JSON.stringify(message.MessageAttributes)) : 0);

export const sqsUnits: UnitsOf = (operation, input, output, failed) => {
  let bytes = 0;
  if (operation === 'SendMessage') bytes = messageBytes(input as Message);
  else if (operation === 'SendMessageBatch') {
    bytes = ((input.Entries ?? []) as Message[]).reduce((sum, entry) => sum + messageBytes(entry), 0);
  } else if (operation === 'ReceiveMessage' && !failed) {
    const messages = ((output as { Messages?: Message[] } | undefined)?.Messages ?? []) as Message[];
    bytes = messages.reduce((sum, message) => sum + messageBytes(message), 0);
  }
  return { requests: chunksOf(bytes, SQS_CHUNK) };
};

export const makeSqsClient = (options: ClientOptions): SQSClient =>
  instrumented(options, meterClient(new SQSClient(sdkConfig(options)), 'sqs', sqsUnits));
