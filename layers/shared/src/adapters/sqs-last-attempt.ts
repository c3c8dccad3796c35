import type { MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import type { DeadLetterQueueRef } from '../pillar.js';
import type { ClientOptions } from './clients.js';
import type { LastAttemptDeadLetters } from './sqs-batch.js';

/** Why the consumer's last delivery of the message failed: the error's name and message, bounded. */
export const LAST_ERROR_ATTRIBUTE = 'conductor-last-error';
/** The message's id on its own queue (the DLQ gives it a new one). */
export const SOURCE_MESSAGE_ID_ATTRIBUTE = 'conductor-source-message-id';
/** How many times its queue had delivered it (`ApproximateReceiveCount` of the last delivery). */
export const RECEIVE_COUNT_ATTRIBUTE = 'conductor-receive-count';
/** The attributes the consumer adds when it dead-letters a message; a redrive removes them. */
export const DEAD_LETTER_ATTRIBUTES: readonly string[] = [
  LAST_ERROR_ATTRIBUTE,
  SOURCE_MESSAGE_ID_ATTRIBUTE,
  RECEIVE_COUNT_ATTRIBUTE,
];
/** At most this many characters of the last error are kept (an operator's clue, not a log). */
export const LAST_ERROR_MAX_CHARS = 512;
/** SQS's limit of message attributes per message. */
const MAX_MESSAGE_ATTRIBUTES = 10;
/** A body this short is not looked for in the error text (it would match ordinary words). */
const MIN_ECHOED_BODY_CHARS = 8;
/** Issues of a validation error named in the last error, at most. */
const MAX_ISSUES = 5;
/** Characters SQS refuses in an attribute value (as in a body): replaced, so the send cannot fail on them. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what we look for.
const INVALID_CHARS = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
/**
 * Quoted text in an error message: parsers quote the input they choke on (JSON.parse's
 * `Unexpected token 'o', "not json" is…`, zod's `Unrecognized key: "x"`). Single quotes count only
 * around one word, so an apostrophe (`doesn't`) does not start a quote.
 */
const QUOTED = /"[^"]*"|'[^'\s]*'/g;

const truncate = (text: string, max: number): string => {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
};

/** `name: message`, or a validation error's first issues as `path: message`. */
const describe = (error: unknown): string => {
  if (!(error instanceof Error)) return `${typeof error}: ${String(error)}`;
  const issues = (error as { issues?: unknown }).issues;
  if (Array.isArray(issues) && issues.length > 0) {
    const named = issues.slice(0, MAX_ISSUES).map((issue: { path?: unknown; message?: unknown }) => {
      const path = Array.isArray(issue.path) && issue.path.length > 0 ? issue.path.join('.') : '(body)';
      return `${path}: ${String(issue.message)}`;
    });
    const more = issues.length > MAX_ISSUES ? `; and ${issues.length - MAX_ISSUES} more` : '';
    return `${error.name}: ${named.join('; ')}${more}`;
  }
  return `${error.name}: ${error.message}`;
};

/**
 * The text of `conductor-last-error` for `error`, which failed a message with `body`: the error's name
 * and message (a validation error's first issues), with no content of the body: quoted text is
 * replaced by `"…"` (where parsers echo their input) and so is the body itself if the message
 * repeats it; whitespace runs become one space, and the whole is at most LAST_ERROR_MAX_CHARS.
 */
export const lastErrorText = (error: unknown, body: string): string => {
  let text = describe(error).slice(0, 8 * LAST_ERROR_MAX_CHARS);
  if (body.length >= MIN_ECHOED_BODY_CHARS) text = text.replaceAll(body, '"…"');
  text = text
    .replace(QUOTED, (quoted) => `${quoted.charAt(0)}…${quoted.charAt(0)}`)
    .replace(INVALID_CHARS, '?')
    .replace(/\s+/g, ' ')
    .trim();
  return truncate(text === '' ? 'Error' : text, LAST_ERROR_MAX_CHARS);
};

/** The record's own message attributes, as SendMessage takes them, without earlier dead-letter ones. */
const carriedAttributes = (record: SQSRecord): Record<string, MessageAttributeValue> => {
  const carried: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(record.messageAttributes ?? {})) {
    if (DEAD_LETTER_ATTRIBUTES.includes(name)) continue;
    if (value.stringValue !== undefined) {
      carried[name] = { DataType: value.dataType, StringValue: value.stringValue };
    } else if (value.binaryValue !== undefined) {
      carried[name] = { DataType: value.dataType, BinaryValue: Buffer.from(value.binaryValue, 'base64') };
    }
  }
  return carried;
};

const refSchema = z.object({
  queueUrl: z.url(),
  queueArn: z.string().startsWith('arn:'),
  dlqUrl: z.url(),
  dlqArn: z.string().startsWith('arn:'),
  maxReceiveCount: z.number().int().min(1),
});

/**
 * An environment variable holding queues with their DLQs as JSON (queue id -> `DeadLetterQueueRef`):
 * DEAD_LETTER_QUEUES_ENV and CONSUMED_QUEUES_ENV (`#shared/pillar.js`).
 */
export const deadLetterQueueRefsSchema = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not JSON' });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.string(), refSchema));

/**
 * `LastAttemptDeadLetters` on SQS, for the queues a consumer consumes (CONSUMED_QUEUES_ENV): a record
 * is on its last delivery when its `ApproximateReceiveCount` has reached the `maxReceiveCount` of the
 * queue its `eventSourceARN` names (a record of a queue it was not given is never dead-lettered here:
 * SQS's redrive policy does it). `send` puts the record's body on that queue's DLQ with its own
 * message attributes plus `conductor-last-error` (`lastErrorText`: never the body),
 * `conductor-source-message-id` and `conductor-receive-count`. If the DLQ does not take it (SQS
 * unavailable, no right to send, more than 10 attributes, a body at the size limit), `send` rejects:
 * the record stays a batch item failure and SQS's redrive policy moves it to the DLQ without the error.
 *
 * The SQS client is created on first use: most invocations dead-letter nothing, and the consumers'
 * cold start does not pay for the SQS SDK.
 */
export class SqsLastAttemptDeadLetters implements LastAttemptDeadLetters {
  readonly #byArn: ReadonlyMap<string, DeadLetterQueueRef>;
  #sqs: Promise<Pick<SQSClient, 'send'>> | undefined;

  constructor(
    refs: Readonly<Record<string, DeadLetterQueueRef>>,
    private readonly client: () => Promise<Pick<SQSClient, 'send'>>,
  ) {
    this.#byArn = new Map(Object.values(refs).map((ref) => [ref.queueArn, ref]));
  }

  /** On AWS and locally alike: the SQS client of `options` (`makeSqsClient`), loaded on first use. */
  static of(
    refs: Readonly<Record<string, DeadLetterQueueRef>>,
    options: ClientOptions,
  ): SqsLastAttemptDeadLetters {
    return new SqsLastAttemptDeadLetters(refs, async () =>
      (await import('./sqs-client.js')).makeSqsClient(options),
    );
  }

  /** The client, created once; a failed creation is not kept (the next send tries again). */
  #client(): Promise<Pick<SQSClient, 'send'>> {
    if (!this.#sqs) {
      const loading = this.client();
      this.#sqs = loading;
      loading.catch(() => {
        if (this.#sqs === loading) this.#sqs = undefined;
      });
    }
    return this.#sqs;
  }

  isLastAttempt(record: SQSRecord): boolean {
    const ref = this.#byArn.get(record.eventSourceARN);
    const count = Number(record.attributes?.ApproximateReceiveCount);
    return ref !== undefined && Number.isInteger(count) && count >= ref.maxReceiveCount;
  }

  async send(record: SQSRecord, error: unknown): Promise<void> {
    const ref = this.#byArn.get(record.eventSourceARN);
    if (!ref) throw new Error(`No dead-letter queue is known for ${record.eventSourceARN}.`);
    const attributes: Record<string, MessageAttributeValue> = {
      ...carriedAttributes(record),
      [LAST_ERROR_ATTRIBUTE]: { DataType: 'String', StringValue: lastErrorText(error, record.body) },
      [SOURCE_MESSAGE_ID_ATTRIBUTE]: { DataType: 'String', StringValue: record.messageId },
      // A String, not a Number: the value is SQS's own text, and the local stand-in keeps Strings only.
      [RECEIVE_COUNT_ATTRIBUTE]: {
        DataType: 'String',
        StringValue: String(Number(record.attributes?.ApproximateReceiveCount)),
      },
    };
    if (Object.keys(attributes).length > MAX_MESSAGE_ATTRIBUTES) {
      throw new Error(
        `The message has too many attributes to add the dead-letter ones (SQS allows ${MAX_MESSAGE_ATTRIBUTES}).`,
      );
    }
    const [sqs, { SendMessageCommand }] = await Promise.all([this.#client(), import('@aws-sdk/client-sqs')]);
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: ref.dlqUrl,
        MessageBody: record.body,
        MessageAttributes: attributes,
      }),
    );
  }

  async redeliverAfter(record: SQSRecord, seconds: number): Promise<void> {
    const ref = this.#byArn.get(record.eventSourceARN);
    if (!ref) throw new Error(`No queue is known for ${record.eventSourceARN}.`);
    const [sqs, { ChangeMessageVisibilityCommand }] = await Promise.all([
      this.#client(),
      import('@aws-sdk/client-sqs'),
    ]);
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: ref.queueUrl,
        ReceiptHandle: record.receiptHandle,
        VisibilityTimeout: Math.max(0, Math.min(43_200, Math.round(seconds))),
      }),
    );
  }
}
