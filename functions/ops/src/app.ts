import { bind, HttpReply, httpApp, type KernelDeps, kernelOptionsOf } from '#shared/http/http.js';
import {
  discardDeadLetter,
  listDeadLetterDiscards,
  listDeadLetterQueues,
  listDeadLetters,
  redriveDeadLetter,
  redriveDeadLetters,
} from '../contract.js';
import type { DeadLetterOffice } from './domain/dead-letters.js';

export interface OpsAppDeps extends KernelDeps {
  readonly office: Pick<
    DeadLetterOffice,
    'queues' | 'messages' | 'redriveAll' | 'redriveOne' | 'discard' | 'discards'
  >;
}

/** The ops pillar's HTTP app: the dead-letter routes bound to the domain on the kernel's middy stack. */
export const makeOpsApp = (deps: OpsAppDeps) =>
  httpApp({
    ...kernelOptionsOf(deps),
    routes: [
      bind(listDeadLetterQueues, async () => ({ items: await deps.office.queues() })),
      bind(listDeadLetters, async ({ params, query }) => ({
        queueId: params.queueId,
        items: await deps.office.messages(params.queueId, query.limit),
      })),
      bind(redriveDeadLetters, async ({ params }) => {
        const redrive = await deps.office.redriveAll(params.queueId);
        return new HttpReply(202, { queueId: params.queueId, ...(redrive ? { redrive } : {}) });
      }),
      bind(redriveDeadLetter, async ({ params }) => ({
        queueId: params.queueId,
        redriven: await deps.office.redriveOne(params.queueId, params.messageId),
      })),
      bind(discardDeadLetter, async ({ params, query, principal, tenantId, traceId }) => {
        const record = await deps.office.discard(params.queueId, params.messageId, {
          tenantId,
          subject: principal.subject,
          traceId,
          ...(query.reason !== undefined ? { reason: query.reason } : {}),
        });
        return {
          discardId: record.id,
          queueId: record.queueId,
          messageId: record.messageId,
          discardedBy: record.discardedBy,
          discardedAt: record.createdAt,
          bodySha256: record.bodySha256,
        };
      }),
      bind(listDeadLetterDiscards, async ({ query, tenantId }) => {
        const page = await deps.office.discards(tenantId, query);
        return {
          items: page.items.map((record) => ({
            discardId: record.id,
            queueId: record.queueId,
            messageId: record.messageId,
            discardedBy: record.discardedBy,
            discardedAt: record.createdAt,
            bodySha256: record.bodySha256,
            ...(record.reason !== undefined ? { reason: record.reason } : {}),
            traceId: record.traceId,
            ...(record.messageTenant !== undefined ? { messageTenant: record.messageTenant } : {}),
            bodyBytes: record.bodyBytes,
            preview: record.preview,
            receiveCount: record.receiveCount,
            sentAt: record.sentAt,
            ...(record.lastError !== undefined ? { lastError: record.lastError } : {}),
          })),
          ...(page.nextCursor !== undefined ? { nextCursor: page.nextCursor } : {}),
        };
      }),
    ],
  });
