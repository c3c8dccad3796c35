import * as z from 'zod';
import { pageQuerySchema, pageSchemaOf, type RouteSpec } from '#shared/http/http.js';
import { documentTypeRulesSchema, FIELD_RULES } from './src/domain/rules.js';

/**
 * The edge-sync pillar's contract (M6): nodes and their credentials, document types and documents,
 * push and pull of Yjs updates, the conflict center. Pure data and schemas: the CDK app, the
 * embedded runtime and the OpenAPI document read it, the handler binds it, the edge client and
 * other pillars may import it.
 */

import { MAX_OPS_PER_PUSH, MAX_PUSH_BODY_BYTES, NODE_TOKEN_HEADER } from './wire.js';

export { MAX_OP_BASE64, MAX_OPS_PER_PUSH, MAX_PUSH_BODY_BYTES, NODE_TOKEN_HEADER } from './wire.js';

const idSchema = (what: string) =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, `not a ${what} (1 to 128 of A-Z a-z 0-9 . _ -)`);
const nodeIdSchema = idSchema('node id');
const documentIdSchema = idSchema('document id');
const typeIdSchema = idSchema('document type');
const conflictIdSchema = z.string().regex(/^cf_[0-9a-f]{24}$/, 'not a conflict id (cf_ and 24 hex digits)');
const base64Schema = z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/, 'base64 (standard alphabet)');

const nodeStatusSchema = z.enum(['online', 'stale', 'revoked']).meta({
  description:
    '`online`: seen (pushed, pulled or beat) in the last 5 minutes; `stale`: not; `revoked`: cut off.',
});

export const edgeNodeSchema = z
  .object({
    nodeId: z.string(),
    status: nodeStatusSchema,
    meta: z.record(z.string(), z.string()),
    registeredAt: z.string(),
    registeredBy: z.string(),
    lastSeenAt: z.string().optional(),
    revokedAt: z.string().optional(),
    revokedBy: z.string().optional(),
    revokeReason: z.string().optional(),
  })
  .meta({ id: 'EdgeNode' });

export const registerEdgeNode = {
  operationId: 'registerEdgeNode',
  rateFamily: 'edge.nodes',
  method: 'POST',
  path: '/edge/nodes',
  summary: 'Register an edge node of the caller’s tenant; answers its credential, shown this once',
  tag: 'edge',
  auth: 'jwt',
  minRole: 'admin',
  action: 'edge:nodes:register',
  body: z
    .strictObject({
      nodeId: nodeIdSchema,
      meta: z
        .record(z.string().max(64), z.string().max(256))
        .refine((meta) => Object.keys(meta).length <= 20, 'at most 20 entries')
        .default({})
        .meta({ description: 'What the node is (site, device, owner): shown in listings.' }),
    })
    .meta({ id: 'RegisterEdgeNodeRequest' }),
  exampleBody: { nodeId: 'truck-17', meta: { site: 'depot-north', owner: 'field-ops' } },
  maxBodyBytes: 16 * 1024,
  success: {
    status: 201,
    description: `The node and its credential: send it as \`${NODE_TOKEN_HEADER}\` with every push and pull.`,
    schema: edgeNodeSchema.extend({ token: z.string() }).meta({ id: 'RegisteredEdgeNode' }),
  },
  errors: [400, 409, 413, 415],
} as const satisfies RouteSpec;

export const listEdgeNodes = {
  operationId: 'listEdgeNodes',
  rateFamily: 'edge.read',
  method: 'GET',
  path: '/edge/nodes',
  summary: 'The tenant’s edge nodes with their status (online, stale, revoked)',
  tag: 'edge',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'edge:nodes:list',
  query: pageQuerySchema,
  success: {
    status: 200,
    description: 'A page of nodes, by id.',
    schema: pageSchemaOf(edgeNodeSchema, 'EdgeNodePage'),
  },
  errors: [400],
} as const satisfies RouteSpec;

const nodeParams = z.strictObject({ nodeId: nodeIdSchema });

export const getEdgeNode = {
  operationId: 'getEdgeNode',
  rateFamily: 'edge.read',
  method: 'GET',
  path: '/edge/nodes/{nodeId}',
  summary: 'One edge node and its status',
  tag: 'edge',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'edge:nodes:read',
  params: nodeParams,
  success: { status: 200, description: 'The node.', schema: edgeNodeSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const heartbeatEdgeNode = {
  operationId: 'heartbeatEdgeNode',
  rateFamily: 'edge.sync',
  method: 'POST',
  path: '/edge/nodes/{nodeId}/heartbeat',
  summary: `A node says it is alive (with its credential in \`${NODE_TOKEN_HEADER}\`); pushes and pulls count too`,
  tag: 'edge',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'edge:nodes:heartbeat',
  params: nodeParams,
  success: { status: 200, description: 'The node as now seen.', schema: edgeNodeSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const revokeEdgeNode = {
  operationId: 'revokeEdgeNode',
  rateFamily: 'edge.admin',
  method: 'POST',
  path: '/edge/nodes/{nodeId}/revoke',
  summary:
    'Cut a node off (a lost or stolen device): its credential stops working at once; nobody else is touched',
  tag: 'edge',
  auth: 'jwt',
  minRole: 'admin',
  action: 'edge:nodes:revoke',
  params: nodeParams,
  body: z
    .strictObject({ reason: z.string().min(1).max(500).optional() })
    .meta({ id: 'RevokeEdgeNodeRequest' }),
  exampleBody: { reason: 'laptop reported stolen' },
  maxBodyBytes: 4 * 1024,
  success: { status: 200, description: 'The node, revoked (again: no change).', schema: edgeNodeSchema },
  errors: [400, 404, 413, 415],
} as const satisfies RouteSpec;

export const edgeDocumentTypeSchema = z
  .object({
    type: z.string(),
    fields: z.record(z.string(), z.enum(FIELD_RULES)),
    defaultRule: z.enum(FIELD_RULES),
    version: z.number().int(),
    updatedAt: z.string(),
    updatedBy: z.string(),
  })
  .meta({ id: 'EdgeDocumentType' });

export const putEdgeDocumentType = {
  operationId: 'putEdgeDocumentType',
  rateFamily: 'edge.admin',
  method: 'PUT',
  path: '/edge/document-types/{type}',
  summary:
    'Declare (or change) a document type: the rule that settles concurrent writes of each field (lww, counter, union, max, min, manual)',
  tag: 'edge',
  auth: 'jwt',
  minRole: 'admin',
  action: 'edge:types:put',
  params: z.strictObject({ type: typeIdSchema }),
  body: documentTypeRulesSchema.meta({ id: 'EdgeDocumentTypeRules' }),
  exampleBody: {
    fields: { status: 'lww', hoursLogged: 'counter', partsUsed: 'union', signOff: 'manual' },
    defaultRule: 'lww',
  },
  maxBodyBytes: 32 * 1024,
  success: { status: 200, description: 'The type as stored.', schema: edgeDocumentTypeSchema },
  errors: [400, 413, 415],
} as const satisfies RouteSpec;

export const listEdgeDocumentTypes = {
  operationId: 'listEdgeDocumentTypes',
  rateFamily: 'edge.read',
  method: 'GET',
  path: '/edge/document-types',
  summary: 'The tenant’s document types and their field rules',
  tag: 'edge',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'edge:types:list',
  query: pageQuerySchema,
  success: {
    status: 200,
    description: 'A page of types, by name.',
    schema: pageSchemaOf(edgeDocumentTypeSchema, 'EdgeDocumentTypePage'),
  },
  errors: [400],
} as const satisfies RouteSpec;

export const edgeDocumentSchema = z
  .object({
    documentId: z.string(),
    type: z.string(),
    createdAt: z.string(),
    createdBy: z.string(),
    snapshotSeq: z
      .number()
      .int()
      .meta({ description: 'The log sequence the latest snapshot holds (0: none yet).' }),
    compactedThrough: z
      .number()
      .int()
      .meta({ description: 'Log entries up to here are only in the snapshot.' }),
  })
  .meta({ id: 'EdgeDocument' });

export const createEdgeDocument = {
  operationId: 'createEdgeDocument',
  rateFamily: 'edge.admin',
  method: 'POST',
  path: '/edge/documents',
  summary: 'Create a document (a workspace nodes share) of a declared type',
  tag: 'edge',
  auth: 'jwt',
  minRole: 'operator',
  action: 'edge:documents:create',
  body: z
    .strictObject({ documentId: documentIdSchema, type: typeIdSchema })
    .meta({ id: 'CreateEdgeDocumentRequest' }),
  exampleBody: { documentId: 'wo-1042', type: 'work-order' },
  maxBodyBytes: 4 * 1024,
  success: { status: 201, description: 'The document.', schema: edgeDocumentSchema },
  errors: [400, 404, 409, 413, 415],
} as const satisfies RouteSpec;

export const listEdgeDocuments = {
  operationId: 'listEdgeDocuments',
  rateFamily: 'edge.read',
  method: 'GET',
  path: '/edge/documents',
  summary: 'The tenant’s documents',
  tag: 'edge',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'edge:documents:list',
  query: pageQuerySchema,
  success: {
    status: 200,
    description: 'A page of documents, by id.',
    schema: pageSchemaOf(edgeDocumentSchema, 'EdgeDocumentPage'),
  },
  errors: [400],
} as const satisfies RouteSpec;

export const getEdgeDocument = {
  operationId: 'getEdgeDocument',
  rateFamily: 'edge.read',
  method: 'GET',
  path: '/edge/documents/{documentId}',
  summary: 'A document as the server holds it now: its fields, log head and state vector',
  tag: 'edge',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'edge:documents:read',
  params: z.strictObject({ documentId: documentIdSchema }),
  success: {
    status: 200,
    description: 'The document.',
    schema: edgeDocumentSchema
      .extend({
        head: z.number().int().meta({ description: 'The log’s last sequence.' }),
        fields: z
          .record(z.string(), z.unknown())
          .meta({ description: 'The `fields` map, values without their envelope.' }),
        stateVector: z.string().meta({ description: 'The server’s Yjs state vector (base64).' }),
      })
      .meta({ id: 'EdgeDocumentState' }),
  },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const pushEdgeOperations = {
  operationId: 'pushEdgeOperations',
  rateFamily: 'edge.operations',
  method: 'POST',
  path: '/edge/operations',
  summary: `Push a node’s ops (Yjs updates) with its credential in \`${NODE_TOKEN_HEADER}\`: each document’s new ops are one log entry; a re-sent op is accepted once`,
  tag: 'edge',
  auth: 'jwt',
  minRole: 'operator',
  action: 'edge:operations:push',
  body: z
    .strictObject({
      nodeId: nodeIdSchema,
      ops: z
        .array(
          z.strictObject({
            documentId: documentIdSchema,
            opId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, '1 to 128 of A-Z a-z 0-9 . _ : -'),
            update: base64Schema.meta({ description: 'A Yjs update (v1 encoding), base64.' }),
            stateVector: base64Schema.optional().meta({
              description:
                'The node’s Yjs state vector before the op (base64): the conflict center shows it as the writer’s vector clock.',
            }),
          }),
        )
        .min(1)
        .max(MAX_OPS_PER_PUSH),
    })
    .meta({ id: 'PushEdgeOperationsRequest' }),
  exampleBody: {
    nodeId: 'truck-17',
    ops: [
      {
        documentId: 'wo-1042',
        opId: 'truck-17:1',
        update:
          'AQHY378BACgBBmZpZWxkcwZzdGF0dXMBdgMBdncHb24tc2l0ZQF0dx0xNzY1MTAwMDAwMDAwLjAwMDAwMC50cnVjay0xNwFudwh0cnVjay0xNwA=',
      },
    ],
  },
  maxBodyBytes: MAX_PUSH_BODY_BYTES,
  success: {
    status: 200,
    description:
      'What was accepted (logged) and what was already known (duplicate), and the conflicts found.',
    schema: z
      .object({
        accepted: z.number().int(),
        duplicates: z.number().int(),
        results: z.array(
          z.object({
            documentId: z.string(),
            opId: z.string(),
            status: z.enum(['accepted', 'duplicate']),
            seq: z.number().int().optional(),
          }),
        ),
        conflicts: z.array(
          z.object({
            conflictId: z.string(),
            field: z.string(),
            status: z.enum(['auto-resolved', 'open', 'resolved']),
          }),
        ),
      })
      .meta({ id: 'PushEdgeOperationsResult' }),
  },
  errors: [400, 404, 413, 415],
} as const satisfies RouteSpec;

export const syncEdgeNode = {
  operationId: 'syncEdgeNode',
  rateFamily: 'edge.sync',
  method: 'POST',
  path: '/edge/sync',
  summary: `Pull what a node lacks of a document (its credential in \`${NODE_TOKEN_HEADER}\`): the log after its cursor, a page at a time, or the minimal delta for a state vector`,
  tag: 'edge',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'edge:sync',
  body: z
    .strictObject({
      nodeId: nodeIdSchema,
      documentId: documentIdSchema,
      cursor: z.string().max(512).optional().meta({
        description:
          'The `nextCursor` of the previous pull (absent: from the start). Acknowledges everything before it.',
      }),
      stateVector: base64Schema
        .max(64 * 1024)
        .optional()
        .meta({
          description:
            'The node’s Yjs state vector (base64): answered with the minimal delta, whatever the cursor.',
        }),
      limit: z
        .number()
        .int()
        .min(1)
        .max(500)
        .default(100)
        .meta({ description: 'Log entries at most (1 MB of updates at most).' }),
    })
    .meta({ id: 'SyncEdgeNodeRequest' }),
  exampleBody: { nodeId: 'truck-17', documentId: 'wo-1042' },
  maxBodyBytes: 80 * 1024,
  success: {
    status: 200,
    description: 'The ops, in log order; pull again from `nextCursor` while `hasMore`.',
    schema: z
      .object({
        documentId: z.string(),
        ops: z.array(
          z.object({
            seq: z.number().int(),
            nodeId: z.string(),
            opId: z.string(),
            update: z.string(),
            kind: z.enum(['op', 'derived', 'snapshot', 'delta']).meta({
              description:
                '`op`: a node’s; `derived`: the server’s (a rule’s value, a resolution); `snapshot`/`delta`: a whole state.',
            }),
          }),
        ),
        nextCursor: z.string(),
        hasMore: z.boolean(),
      })
      .meta({ id: 'SyncEdgeNodeResult' }),
  },
  errors: [400, 404, 413, 415],
} as const satisfies RouteSpec;

const conflictWriteSchema = z
  .object({
    value: z.unknown(),
    writer: z.string().meta({ description: 'The node the value names as its writer.' }),
    hlc: z.string().meta({ description: 'Its hybrid logical clock stamp.' }),
    item: z
      .object({ client: z.number().int(), clock: z.number().int() })
      .meta({ description: 'The Yjs item.' }),
    vectorClock: z.record(z.string(), z.number().int()).optional().meta({
      description:
        'The writer’s vector clock (Yjs state vector: client id -> next clock) when it wrote, when known.',
    }),
    viaNode: z.string().optional().meta({ description: 'The node whose push carried it.' }),
    history: z
      .array(z.object({ value: z.unknown(), writer: z.string(), hlc: z.string() }))
      .meta({ description: 'The values the field held before on this side, newest first (at most 10).' }),
  })
  .meta({ id: 'EdgeConflictWrite' });

export const edgeConflictSchema = z
  .object({
    conflictId: z.string(),
    documentId: z.string(),
    field: z.string(),
    rule: z.enum(FIELD_RULES),
    status: z.enum(['auto-resolved', 'open', 'resolved']),
    current: conflictWriteSchema.meta({ description: 'What the server held.' }),
    incoming: conflictWriteSchema.meta({ description: 'What arrived without having seen it.' }),
    nodeId: z.string(),
    seq: z.number().int(),
    detectedAt: z.string(),
    autoResolution: z.object({ how: z.string(), value: z.unknown() }).optional(),
    resolvedBy: z.string().optional(),
    resolvedAt: z.string().optional(),
    resolvedValue: z.unknown().optional(),
    resolutionNote: z.string().optional(),
  })
  .meta({ id: 'EdgeConflict' });

export const listEdgeConflicts = {
  operationId: 'listEdgeConflicts',
  rateFamily: 'edge.read',
  method: 'GET',
  path: '/edge/conflicts',
  summary:
    'The conflict center: concurrent writes found, with both values, writers, vector clocks and history',
  tag: 'edge',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'edge:conflicts:list',
  query: pageQuerySchema.extend({
    status: z
      .enum(['auto-resolved', 'open', 'resolved'])
      .optional()
      .meta({ description: 'Only conflicts in this state.' }),
    documentId: documentIdSchema.optional().meta({ description: 'Only this document’s.' }),
  }),
  success: {
    status: 200,
    description: 'A page of conflicts.',
    schema: pageSchemaOf(edgeConflictSchema, 'EdgeConflictPage'),
  },
  errors: [400],
} as const satisfies RouteSpec;

const conflictParams = z.strictObject({ conflictId: conflictIdSchema });

export const getEdgeConflict = {
  operationId: 'getEdgeConflict',
  rateFamily: 'edge.read',
  method: 'GET',
  path: '/edge/conflicts/{conflictId}',
  summary: 'One conflict',
  tag: 'edge',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'edge:conflicts:read',
  params: conflictParams,
  success: { status: 200, description: 'The conflict.', schema: edgeConflictSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const resolveEdgeConflict = {
  operationId: 'resolveEdgeConflict',
  rateFamily: 'edge.admin',
  method: 'POST',
  path: '/edge/conflicts/{conflictId}/resolve',
  summary:
    'Settle an open conflict: one side’s value or a new one is written to the field and reaches every node',
  tag: 'edge',
  auth: 'jwt',
  minRole: 'operator',
  action: 'edge:conflicts:resolve',
  params: conflictParams,
  body: z
    .strictObject({
      choose: z.enum(['current', 'incoming']).optional().meta({ description: 'Keep one side’s value.' }),
      value: z.unknown().optional().meta({ description: 'Or write this value (JSON).' }),
      note: z.string().min(1).max(1000).optional(),
    })
    .refine((body) => (body.choose === undefined) !== (body.value === undefined), {
      message: 'give exactly one of choose and value',
    })
    .meta({ id: 'ResolveEdgeConflictRequest' }),
  exampleBody: { choose: 'incoming', note: 'the site lead signed off on the second reading' },
  maxBodyBytes: 64 * 1024,
  success: { status: 200, description: 'The conflict, resolved.', schema: edgeConflictSchema },
  errors: [400, 404, 409, 413, 415],
} as const satisfies RouteSpec;

export const edgeRoutes = [
  registerEdgeNode,
  listEdgeNodes,
  getEdgeNode,
  heartbeatEdgeNode,
  revokeEdgeNode,
  putEdgeDocumentType,
  listEdgeDocumentTypes,
  createEdgeDocument,
  listEdgeDocuments,
  getEdgeDocument,
  pushEdgeOperations,
  syncEdgeNode,
  listEdgeConflicts,
  getEdgeConflict,
  resolveEdgeConflict,
] as const;

export { EDGE_EVENTS, edgeConflict } from './events.js';
export { FIELD_RULES, type FieldRule, type FieldValue } from './src/domain/rules.js';
