import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { decodeCursor, encodeCursor } from '#shared/adapters/cursor.js';
import { partitionKey, TenantRecordStore } from '#shared/adapters/tenant-store.js';
import type { Page } from '#shared/ports/records.js';
import { DISCARD_ENTITY, type DiscardLog, type DiscardRecord } from '../domain/dead-letters.js';

const recordOf = (item: Record<string, unknown>): DiscardRecord => {
  const { pk: _pk, sk: _sk, entity: _entity, ...record } = item;
  return record as unknown as DiscardRecord;
};

/**
 * The discard audit records in the ops table: written by the kernel's TenantRecordStore (pk
 * `T#<operator's tenant>#DLQ_DISCARD`, sk the discard id, a conditional create), read newest first by
 * a query on that one partition with `ScanIndexForward: false` (discard ids begin with their time).
 * Cursors are the kernel's: bound to the partition, so none points into another tenant's records.
 */
export class DynamoDiscardLog implements DiscardLog {
  readonly #records: TenantRecordStore<DiscardRecord>;

  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
  ) {
    this.#records = new TenantRecordStore<DiscardRecord>(doc, tableName, DISCARD_ENTITY);
  }

  create(record: DiscardRecord): Promise<void> {
    return this.#records.create(record);
  }

  async newestFirst(
    tenantId: string,
    options: { readonly limit: number; readonly cursor?: string | undefined },
  ): Promise<Page<DiscardRecord>> {
    const pk = partitionKey(tenantId, DISCARD_ENTITY);
    const start = options.cursor ? decodeCursor(options.cursor, pk) : undefined;
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ScanIndexForward: false,
        Limit: options.limit,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    const items = (out.Items ?? []).map(recordOf);
    const last = out.LastEvaluatedKey;
    return last ? { items, nextCursor: encodeCursor({ pk: last.pk, sk: last.sk }) } : { items };
  }
}
