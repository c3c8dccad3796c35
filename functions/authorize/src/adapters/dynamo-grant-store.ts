import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { decodeCursor, encodeCursor } from '#shared/adapters/cursor.js';
import { partitionKey, TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { GRANT_ENTITY, type Grant } from '#shared/ports/grants.js';
import type { Page } from '#shared/ports/records.js';
import type { GrantRepository } from '../domain/grants.js';

const grantOf = (item: Record<string, unknown> | undefined): Grant | undefined => {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, entity: _entity, ...grant } = item;
  return grant as unknown as Grant;
};

/**
 * Grants in the policy table (pk `T#<target tenant>#GRANT`, sk the grant id), where the kernel's
 * DynamoGrantLookup finds them for every enforcement point.
 *
 * Writes go through the kernel's TenantRecordStore (tenant check, create on absence, replace on
 * version). Reads do not: TenantRecordStore strips `expiresAt` from what it reads back, taking it
 * for its own TTL attribute, while for a grant `expiresAt` is part of the record (when the request
 * lapses or the grant ends; also the TTL). Once the kernel store keeps `expiresAt` for entities that
 * own it, this class reduces to `new TenantRecordStore<Grant>(doc, table, GRANT_ENTITY)`.
 */
export class DynamoGrantStore implements GrantRepository {
  readonly #writes: TenantRecordStore<Grant>;

  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
  ) {
    this.#writes = new TenantRecordStore<Grant>(doc, tableName, GRANT_ENTITY);
  }

  create(grant: Grant): Promise<void> {
    return this.#writes.create(grant);
  }

  replace(grant: Grant, expectedVersion: number): Promise<void> {
    return this.#writes.replace(grant, expectedVersion);
  }

  async get(tenantId: string, id: string): Promise<Grant | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: partitionKey(tenantId, GRANT_ENTITY), sk: id },
        ConsistentRead: true,
      }),
    );
    return grantOf(out.Item);
  }

  async list(
    tenantId: string,
    options: { limit: number; cursor?: string | undefined },
  ): Promise<Page<Grant>> {
    const pk = partitionKey(tenantId, GRANT_ENTITY);
    const start = options.cursor ? decodeCursor(options.cursor, pk) : undefined;
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        Limit: options.limit,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    const items = (out.Items ?? []).map((item) => grantOf(item) as Grant);
    const last = out.LastEvaluatedKey;
    return last ? { items, nextCursor: encodeCursor({ pk: last.pk, sk: last.sk }) } : { items };
  }
}
