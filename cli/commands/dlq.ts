import { setTimeout as sleep } from 'node:timers/promises';
import { type Schemas, unwrap } from '../../clients/typescript/index.js';
import type { Command, Invocation } from '../command.js';
import { booleanOption, integerOption, positional, requiredString, stringOption } from '../input.js';
import { fields, table } from '../output.js';

type Queue = Schemas['DeadLetterQueue'];
type DeadLetter = Schemas['DeadLetter'];
type DiscardRecord = Schemas['DeadLetterDiscardRecord'];
/** How often `redrive --wait` asks SQS how far its move task got. */
const REDRIVE_POLL_MS = 2_000;

const redriveText = (task: Queue['lastRedrive']) =>
  task ? `${task.status} (${task.moved}${task.toMove !== undefined ? ` of ${task.toMove}` : ''} moved)` : '-';

const queues = async (invocation: Invocation): Promise<Queue[]> =>
  (await unwrap(invocation.context.client().GET('/api/conductor/v1/ops/dead-letters'))).items;

const list: Command = {
  name: 'list',
  summary: 'every queue with the depth of its dead-letter queue and its latest redrive',
  examples: ['conductor dlq list --as org-admin'],
  run: async (invocation) => {
    const items = await queues(invocation);
    invocation.context.print({ items }, () =>
      table(
        ['queue', 'dead letters', 'in flight', 'max receives', 'last redrive'],
        items.map((queue) => [
          queue.queueId,
          String(queue.depth.visible),
          String(queue.depth.inFlight),
          String(queue.maxReceiveCount),
          redriveText(queue.lastRedrive),
        ]),
      ),
    );
  },
};

const deadLetterRows = (items: readonly DeadLetter[]) =>
  table(
    ['message', 'tenant', 'receives', 'sent', 'last error', 'preview'],
    items.map((item) => [
      item.messageId,
      item.tenant ?? '-',
      String(item.receiveCount),
      item.sentAt,
      item.lastError ?? '-',
      `${item.preview.slice(0, 60)}${item.truncated || item.preview.length > 60 ? '…' : ''}`,
    ]),
  );

const messages: Command = {
  name: 'messages',
  summary: `read a queue's dead letters (a preview each; every read counts as a receive)`,
  arguments: '<queueId>',
  options: {
    limit: { type: 'string', placeholder: '<n>', description: 'how many to read (1 to 50, default 10)' },
  },
  examples: ['conductor dlq messages rewards --as org-admin'],
  run: async (invocation) => {
    const queueId = positional(invocation, 0, '<queueId>');
    const limit = integerOption(invocation, 'limit');
    const page = await unwrap(
      invocation.context.client().GET('/api/conductor/v1/ops/dead-letters/{queueId}/messages', {
        params: { path: { queueId }, query: { ...(limit !== undefined ? { limit } : {}) } },
      }),
    );
    invocation.context.print(page, () => deadLetterRows(page.items));
  },
};

const redrive: Command = {
  name: 'redrive',
  summary: 'move dead letters back to their queue: all of them, or one with --message',
  arguments: '<queueId>',
  details: `A whole-queue redrive is SQS's own message move task, which runs on after the call returns:
--wait follows it until it is no longer RUNNING. Redriving needs an org-admin who signed in with MFA.`,
  options: {
    message: { type: 'string', placeholder: '<messageId>', description: 'redrive only this message' },
    wait: { type: 'boolean', description: 'follow a whole-queue redrive until it ends, with progress' },
  },
  examples: [
    'conductor dlq redrive rewards --as org-admin --wait',
    'conductor dlq redrive rewards --message 4f1c…',
  ],
  run: async (invocation) => {
    const { context } = invocation;
    const queueId = positional(invocation, 0, '<queueId>');
    const messageId = stringOption(invocation, 'message');
    if (messageId) {
      const result = await unwrap(
        context.client().POST('/api/conductor/v1/ops/dead-letters/{queueId}/messages/{messageId}/redrive', {
          params: { path: { queueId, messageId } },
        }),
      );
      context.print(result, () => `redriven ${result.redriven.messageId} to ${result.queueId}`);
      return;
    }
    const started = await unwrap(
      context
        .client()
        .POST('/api/conductor/v1/ops/dead-letters/{queueId}/redrive', { params: { path: { queueId } } }),
    );
    let task = started.redrive;
    while (booleanOption(invocation, 'wait') && task?.status === 'RUNNING') {
      context.progress(`redrive of ${queueId}: ${redriveText(task)}`);
      await sleep(REDRIVE_POLL_MS);
      task = (await queues(invocation)).find((queue) => queue.queueId === queueId)?.lastRedrive;
    }
    const result = { queueId, ...(task ? { redrive: task } : {}) };
    context.print(result, () => `redrive of ${queueId}: ${redriveText(task)}`);
  },
};

const discard: Command = {
  name: 'discard',
  summary: 'delete one dead letter for good, after its audit record is written',
  arguments: '<queueId> <messageId>',
  options: {
    reason: { type: 'string', placeholder: '<text>', description: 'why: kept in the audit record' },
  },
  examples: [`conductor dlq discard rewards 4f1c… --reason 'poison message, ticket 42' --as org-admin`],
  run: async (invocation) => {
    const queueId = positional(invocation, 0, '<queueId>');
    const messageId = positional(invocation, 1, '<messageId>');
    const reason = requiredString(invocation, 'reason');
    const record = await unwrap(
      invocation.context
        .client()
        .DELETE('/api/conductor/v1/ops/dead-letters/{queueId}/messages/{messageId}', {
          params: { path: { queueId, messageId }, query: { reason } },
        }),
    );
    invocation.context.print(record, () =>
      fields([
        ['discarded', `${record.messageId} of ${record.queueId}`],
        ['by', record.discardedBy],
        ['at', record.discardedAt],
        ['body sha256', record.bodySha256],
        ['audit id', record.discardId],
      ]),
    );
  },
};

const discardRows = (items: readonly DiscardRecord[]) =>
  table(
    ['discarded', 'queue', 'message', 'by', 'reason', 'last error'],
    items.map((item) => [
      item.discardedAt,
      item.queueId,
      item.messageId,
      item.discardedBy,
      item.reason ?? '-',
      item.lastError ?? '-',
    ]),
  );

const discards: Command = {
  name: 'discards',
  summary: 'the audit records of discarded dead letters, newest first (the discards made in your tenant)',
  details: `Each record says which message of which queue was discarded, by whom, when and why, with the
hash, size and a preview of its body and the error that killed it (--json shows them all).`,
  options: {
    limit: { type: 'string', placeholder: '<n>', description: 'records per page (1 to 100, default 25)' },
    cursor: { type: 'string', placeholder: '<cursor>', description: 'the nextCursor of a previous page' },
  },
  examples: ['conductor dlq discards --as org-admin', 'conductor dlq discards --limit 100 --json'],
  run: async (invocation) => {
    const limit = integerOption(invocation, 'limit');
    const cursor = stringOption(invocation, 'cursor');
    const page = await unwrap(
      invocation.context.client().GET('/api/conductor/v1/ops/dead-letters/discards', {
        params: { query: { ...(limit !== undefined ? { limit } : {}), ...(cursor ? { cursor } : {}) } },
      }),
    );
    invocation.context.print(page, () =>
      page.nextCursor
        ? `${discardRows(page.items)}\n\nmore: --cursor ${page.nextCursor}`
        : discardRows(page.items),
    );
  },
};

export const dlqCommand: Command = {
  name: 'dlq',
  summary: 'dead letters of every queue (org-admin): list, messages, redrive, discard, discards',
  subcommands: [list, messages, redrive, discard, discards],
};
