import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import type {
  AckRecord,
  ConflictRecord,
  DocumentRecord,
  DocumentTypeRecord,
  EdgeStores,
  LogEntry,
  NodeRecord,
} from './domain/sync.js';

/**
 * The edge table's record stores, one entity each. Everything is kept: the log shrinks by
 * compaction (entries every node has and a snapshot holds), conflicts are the audit of merges.
 */
export const edgeStores = (doc: Pick<DynamoDBDocumentClient, 'send'>, table: string): EdgeStores => ({
  nodes: new TenantRecordStore<NodeRecord>(doc, table, 'EDGE_NODE', undefined, { resourceName: 'node' }),
  types: new TenantRecordStore<DocumentTypeRecord>(doc, table, 'EDGE_TYPE', undefined, {
    resourceName: 'document type',
  }),
  documents: new TenantRecordStore<DocumentRecord>(doc, table, 'EDGE_DOC', undefined, {
    resourceName: 'document',
  }),
  log: new TenantRecordStore<LogEntry>(doc, table, 'EDGE_LOG', undefined, { resourceName: 'log entry' }),
  acks: new TenantRecordStore<AckRecord>(doc, table, 'EDGE_ACK', undefined, {
    resourceName: 'acknowledgement',
  }),
  conflicts: new TenantRecordStore<ConflictRecord>(doc, table, 'EDGE_CONFLICT', undefined, {
    resourceName: 'conflict',
  }),
});
