import { headerValue } from '#shared/http/conventions.js';
import { bind, HttpReply, httpApp, type KernelDeps, kernelOptionsOf } from '#shared/http/http.js';
import type { Clock } from '#shared/ports/system.js';
import {
  createEdgeDocument,
  getEdgeConflict,
  getEdgeDocument,
  getEdgeNode,
  heartbeatEdgeNode,
  listEdgeConflicts,
  listEdgeDocuments,
  listEdgeDocumentTypes,
  listEdgeNodes,
  MAX_OP_BASE64,
  NODE_TOKEN_HEADER,
  pushEdgeOperations,
  putEdgeDocumentType,
  registerEdgeNode,
  resolveEdgeConflict,
  revokeEdgeNode,
  syncEdgeNode,
} from '../contract.js';
import {
  assertPushSize,
  type ConflictRecord,
  type DocumentRecord,
  type DocumentTypeRecord,
  type EdgeStores,
  type EdgeSync,
  type NodeRecord,
  nodeStatusOf,
} from './domain/sync.js';

export interface EdgeAppDeps extends KernelDeps {
  readonly sync: EdgeSync;
  readonly stores: Pick<EdgeStores, 'nodes' | 'types' | 'documents' | 'conflicts'>;
  readonly clock: Clock;
}

const nodeView = (node: NodeRecord, now: Date) => ({
  nodeId: node.id,
  status: nodeStatusOf(node, now),
  meta: { ...node.meta },
  registeredAt: node.createdAt,
  registeredBy: node.registeredBy,
  ...(node.lastSeenAt === undefined ? {} : { lastSeenAt: node.lastSeenAt }),
  ...(node.revokedAt === undefined ? {} : { revokedAt: node.revokedAt, revokedBy: node.revokedBy }),
  ...(node.revokeReason === undefined ? {} : { revokeReason: node.revokeReason }),
});

const typeView = (record: DocumentTypeRecord) => ({
  type: record.id,
  fields: { ...record.rules.fields },
  defaultRule: record.rules.defaultRule,
  version: record.version,
  updatedAt: record.updatedAt,
  updatedBy: record.updatedBy,
});

const documentView = (record: DocumentRecord) => ({
  documentId: record.id,
  type: record.type,
  createdAt: record.createdAt,
  createdBy: record.createdBy,
  snapshotSeq: record.snapshotSeq,
  compactedThrough: record.compactedThrough,
});

const conflictView = (record: ConflictRecord) => ({
  conflictId: record.id,
  documentId: record.documentId,
  field: record.field,
  rule: record.rule,
  status: record.status,
  current: record.current,
  incoming: record.incoming,
  nodeId: record.nodeId,
  seq: record.seq,
  detectedAt: record.createdAt,
  ...(record.autoResolution === undefined ? {} : { autoResolution: record.autoResolution }),
  ...(record.resolvedBy === undefined
    ? {}
    : { resolvedBy: record.resolvedBy, resolvedAt: record.resolvedAt, resolvedValue: record.resolvedValue }),
  ...(record.resolutionNote === undefined ? {} : { resolutionNote: record.resolutionNote }),
});

/** Pages of a list with a filter applied to what is read: at most this many reads per request. */
const FILTER_PAGES = 10;

/** The edge-sync HTTP app: its routes bound to the domain on the kernel's middy stack. */
export const makeEdgeApp = (deps: EdgeAppDeps) =>
  httpApp({
    ...kernelOptionsOf(deps),
    routes: [
      bind(registerEdgeNode, async ({ tenantId, body, principal }) => {
        const { node, token } = await deps.sync.registerNode(
          tenantId,
          body.nodeId,
          body.meta,
          principal.subject,
        );
        return new HttpReply(201, { ...nodeView(node, deps.clock.now()), token });
      }),
      bind(listEdgeNodes, async ({ tenantId, query }) => {
        const page = await deps.stores.nodes.list(tenantId, query);
        const now = deps.clock.now();
        return { items: page.items.map((node) => nodeView(node, now)), ...next(page.nextCursor) };
      }),
      bind(getEdgeNode, async ({ tenantId, params }) =>
        nodeView(await deps.sync.getNode(tenantId, params.nodeId), deps.clock.now()),
      ),
      bind(heartbeatEdgeNode, async ({ tenantId, params, event }) => {
        const node = await deps.sync.authenticateNode(
          tenantId,
          params.nodeId,
          headerValue(event, NODE_TOKEN_HEADER),
        );
        return nodeView(node, deps.clock.now());
      }),
      bind(revokeEdgeNode, async ({ tenantId, params, body, principal }) =>
        nodeView(
          await deps.sync.revokeNode(tenantId, params.nodeId, principal.subject, body.reason),
          deps.clock.now(),
        ),
      ),
      bind(putEdgeDocumentType, async ({ tenantId, params, body, principal }) =>
        typeView(await deps.sync.putType(tenantId, params.type, body, principal.subject)),
      ),
      bind(listEdgeDocumentTypes, async ({ tenantId, query }) => {
        const page = await deps.stores.types.list(tenantId, query);
        return { items: page.items.map(typeView), ...next(page.nextCursor) };
      }),
      bind(createEdgeDocument, async ({ tenantId, body, principal }) => {
        const record = await deps.sync.createDocument(
          tenantId,
          body.documentId,
          body.type,
          principal.subject,
        );
        return new HttpReply(201, documentView(record));
      }),
      bind(listEdgeDocuments, async ({ tenantId, query }) => {
        const page = await deps.stores.documents.list(tenantId, query);
        return { items: page.items.map(documentView), ...next(page.nextCursor) };
      }),
      bind(getEdgeDocument, async ({ tenantId, params }) => {
        const { record, head, fields, stateVector } = await deps.sync.readDocument(
          tenantId,
          params.documentId,
        );
        return { ...documentView(record), head, fields, stateVector };
      }),
      bind(pushEdgeOperations, async ({ tenantId, body, event, traceId }) => {
        assertPushSize(body.ops, MAX_OP_BASE64);
        const node = await deps.sync.authenticateNode(
          tenantId,
          body.nodeId,
          headerValue(event, NODE_TOKEN_HEADER),
        );
        return deps.sync.push(tenantId, node, body.ops, traceId);
      }),
      bind(syncEdgeNode, async ({ tenantId, body, event }) => {
        const node = await deps.sync.authenticateNode(
          tenantId,
          body.nodeId,
          headerValue(event, NODE_TOKEN_HEADER),
        );
        return deps.sync.pull(tenantId, node, body);
      }),
      bind(listEdgeConflicts, async ({ tenantId, query }) => {
        const items: ReturnType<typeof conflictView>[] = [];
        let cursor = query.cursor;
        for (let pages = 0; pages < FILTER_PAGES && items.length < query.limit; pages += 1) {
          const page = await deps.stores.conflicts.list(tenantId, {
            limit: query.limit - items.length,
            cursor,
          });
          items.push(
            ...page.items
              .filter((c) => query.status === undefined || c.status === query.status)
              .filter((c) => query.documentId === undefined || c.documentId === query.documentId)
              .map(conflictView),
          );
          cursor = page.nextCursor;
          if (cursor === undefined) break;
        }
        return { items, ...next(cursor) };
      }),
      bind(getEdgeConflict, async ({ tenantId, params }) =>
        conflictView(await deps.sync.getConflict(tenantId, params.conflictId)),
      ),
      bind(resolveEdgeConflict, async ({ tenantId, params, body, principal }) =>
        conflictView(await deps.sync.resolveConflict(tenantId, params.conflictId, body, principal.subject)),
      ),
    ],
  });

const next = (cursor: string | undefined) => (cursor === undefined ? {} : { nextCursor: cursor });
