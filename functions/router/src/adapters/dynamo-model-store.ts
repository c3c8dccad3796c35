import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { type ModelArmRecord, type ModelHeadRecord, SplitModelStore } from '../domain/model-store.js';

/**
 * The model states of the router table (`MODEL` heads, `MODEL_ARM` arm items once a state is split),
 * as the router reads them and the reward consumer writes them.
 */
export const dynamoModelStore = (doc: DynamoDBDocumentClient, tableName: string): SplitModelStore =>
  new SplitModelStore(
    new TenantRecordStore<ModelHeadRecord>(doc, tableName, 'MODEL'),
    new TenantRecordStore<ModelArmRecord>(doc, tableName, 'MODEL_ARM'),
  );
