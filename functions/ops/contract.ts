import * as z from 'zod';
import { pageSchemaOf, type RouteSpec } from '#shared/http/http.js';

/**
 * The ops pillar's contract: dead letters of every queue of the catalog, for platform operators
 * (org-admin). Not tenant-scoped: see functions/ops/README.md.
 */

const queueIdSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,79}$/, 'a queue id of the catalog, e.g. rewards')
  .meta({ description: 'A queue of the catalog (its manifest id), e.g. `rewards`.' });
const messageIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,100}$/, 'an SQS message id: 1 to 100 of A-Z a-z 0-9 -')
  .meta({ description: 'The SQS message id, as the listing gives it.' });

export const queueParamsSchema = z.strictObject({ queueId: queueIdSchema });
export const messageParamsSchema = z.strictObject({ queueId: queueIdSchema, messageId: messageIdSchema });

export const DEFAULT_PEEK_LIMIT = 10;
export const MAX_PEEK_LIMIT = 50;

export const peekQuerySchema = z.strictObject({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_PEEK_LIMIT)
    .default(DEFAULT_PEEK_LIMIT)
    .meta({ description: `Messages to read (1 to ${MAX_PEEK_LIMIT}).` }),
});

export const discardQuerySchema = z.strictObject({
  reason: z
    .string()
    .min(1)
    .max(500)
    .optional()
    .meta({ description: 'Why the message is discarded: kept in the audit record.' }),
});

export const DEFAULT_DISCARD_PAGE = 25;
export const MAX_DISCARD_PAGE = 100;

/** A page of audit records: the cursor convention of every list route (`nextCursor` of the previous page). */
export const discardPageQuerySchema = z.strictObject({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_DISCARD_PAGE)
    .default(DEFAULT_DISCARD_PAGE)
    .meta({ description: `Records per page (1 to ${MAX_DISCARD_PAGE}).` }),
  cursor: z.string().max(2048).optional().meta({ description: 'The `nextCursor` of the previous page.' }),
});

const depthSchema = z.object({ visible: z.number(), inFlight: z.number(), delayed: z.number() });

const redriveTaskSchema = z
  .object({
    status: z
      .string()
      .meta({ description: 'SQS message move task status: RUNNING, COMPLETED, CANCELLED, FAILED…' }),
    moved: z.number(),
    toMove: z.number().optional(),
    startedAt: z.string().optional(),
    failureReason: z.string().optional(),
  })
  .meta({ id: 'RedriveTask' });

export const deadLetterQueueSchema = z
  .object({
    queueId: z.string(),
    maxReceiveCount: z.number(),
    depth: depthSchema,
    lastRedrive: redriveTaskSchema.optional(),
  })
  .meta({ id: 'DeadLetterQueue' });

export const deadLetterSchema = z
  .object({
    messageId: z.string(),
    tenant: z.string().optional().meta({
      description: 'The tenant the message names (its body’s tenantId), when it names one.',
    }),
    receiveCount: z.number().meta({ description: 'SQS’s ApproximateReceiveCount before this read.' }),
    sentAt: z.string(),
    firstReceivedAt: z.string().optional(),
    deadLetteredFrom: z.string().optional().meta({ description: 'The source queue ARN, when SQS gives it.' }),
    bodyBytes: z.number(),
    preview: z.string().meta({ description: 'The first 200 characters of the body.' }),
    truncated: z.boolean(),
    lastError: z.string().optional(),
  })
  .meta({ id: 'DeadLetter' });

/** What a discard answers: its audit record's id and the essentials. */
const discardSchema = z.object({
  discardId: z.string(),
  queueId: z.string(),
  messageId: z.string(),
  discardedBy: z.string().meta({ description: 'The JWT subject of the operator.' }),
  discardedAt: z.string(),
  bodySha256: z.string(),
});

/** A discard's whole audit record, as the listing shows it (a preview of the body, never all of it). */
const discardRecordSchema = discardSchema
  .extend({
    reason: z.string().optional(),
    traceId: z.string().meta({ description: 'The trace of the discard request.' }),
    messageTenant: z.string().optional().meta({
      description: 'The tenant the message named (its body’s tenantId), when it named one.',
    }),
    bodyBytes: z.number(),
    preview: z.string().meta({ description: 'The first 200 characters of the body.' }),
    receiveCount: z.number(),
    sentAt: z.string(),
    lastError: z.string().optional().meta({ description: 'Why its consumer last failed it, when it said.' }),
  })
  .meta({ id: 'DeadLetterDiscardRecord' });

export const listDeadLetterQueues = {
  operationId: 'listDeadLetterQueues',
  method: 'GET',
  path: '/ops/dead-letters',
  summary: 'Every queue of the catalog with the depth of its dead-letter queue and its latest redrive',
  tag: 'ops',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'ops:dead-letters:list',
  success: {
    status: 200,
    description: 'The queues, in catalog order.',
    schema: z.object({ items: z.array(deadLetterQueueSchema) }),
  },
  errors: [],
} as const satisfies RouteSpec;

export const listDeadLetters = {
  operationId: 'listDeadLetters',
  method: 'GET',
  path: '/ops/dead-letters/{queueId}/messages',
  summary:
    'Read (and release at once) up to `limit` messages of a dead-letter queue: a preview, never the whole body',
  tag: 'ops',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'ops:dead-letters:list',
  params: queueParamsSchema,
  query: peekQuerySchema,
  success: {
    status: 200,
    description: 'The messages read; each read counts as one receive.',
    schema: z.object({ queueId: z.string(), items: z.array(deadLetterSchema) }),
  },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const redriveDeadLetters = {
  operationId: 'redriveDeadLetters',
  method: 'POST',
  path: '/ops/dead-letters/{queueId}/redrive',
  summary: 'Move every message of a dead-letter queue back to its queue (SQS’s own redrive)',
  tag: 'ops',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'ops:dead-letters:redrive',
  params: queueParamsSchema,
  success: {
    status: 202,
    description: 'The redrive started; its state as SQS reports it right after (locally it has finished).',
    schema: z.object({ queueId: z.string(), redrive: redriveTaskSchema.optional() }),
  },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const redriveDeadLetter = {
  operationId: 'redriveDeadLetter',
  method: 'POST',
  path: '/ops/dead-letters/{queueId}/messages/{messageId}/redrive',
  summary: 'Send one dead letter back to its queue, then delete it from the dead-letter queue',
  tag: 'ops',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'ops:dead-letters:redrive',
  params: messageParamsSchema,
  success: {
    status: 200,
    description: 'The message as it was redriven (its queue gives it a new message id).',
    schema: z.object({ queueId: z.string(), redriven: deadLetterSchema }),
  },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const discardDeadLetter = {
  operationId: 'discardDeadLetter',
  method: 'DELETE',
  path: '/ops/dead-letters/{queueId}/messages/{messageId}',
  summary: 'Delete one dead letter for good, after writing its audit record (who, when, why, body hash)',
  tag: 'ops',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'ops:dead-letters:discard',
  params: messageParamsSchema,
  query: discardQuerySchema,
  success: {
    status: 200,
    description: 'The audit record of the discard.',
    schema: discardSchema.meta({ id: 'DeadLetterDiscard' }),
  },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const listDeadLetterDiscards = {
  operationId: 'listDeadLetterDiscards',
  method: 'GET',
  path: '/ops/dead-letters/discards',
  summary:
    'The audit records of discarded dead letters, newest first: which message of which queue, who, when and why',
  tag: 'ops',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'ops:dead-letters:list',
  query: discardPageQuerySchema,
  success: {
    status: 200,
    description:
      'A page of the audit records written in the acting tenant (where its operators’ discards are recorded).',
    schema: pageSchemaOf(discardRecordSchema, 'DeadLetterDiscardPage'),
  },
  errors: [400],
} as const satisfies RouteSpec;

export const opsRoutes = [
  listDeadLetterQueues,
  listDeadLetters,
  redriveDeadLetters,
  redriveDeadLetter,
  discardDeadLetter,
  listDeadLetterDiscards,
] as const;
