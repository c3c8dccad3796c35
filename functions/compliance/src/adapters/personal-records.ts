import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import { ConflictError } from '#shared/errors.js';
import type { PersonalRecords, StoredItem } from '../domain/dsr.js';

/** Items read per Query page. */
const PAGE = 500;

const conditionFailed = (error: unknown): boolean =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error && error.name === 'ConditionalCheckFailedException');

/** The write only happens if the item is as it was read: same version, or (without one) still there. */
const unchanged = (item: StoredItem) =>
  typeof item.version === 'number'
    ? {
        ConditionExpression: 'attribute_exists(pk) AND version = :version',
        ExpressionAttributeValues: { ':version': item.version },
      }
    : { ConditionExpression: 'attribute_exists(pk)' };

/**
 * The pillars' tables for a data subject request: one tenant's partition of one entity at a time
 * (Query, never Scan), and conditional deletes and rewrites. `tables` maps the catalog's table ids
 * to the deployment's table names.
 */
export class DynamoPersonalRecords implements PersonalRecords {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tables: Readonly<Record<string, string>>,
  ) {}

  #name(table: string): string {
    const name = this.tables[table];
    if (name === undefined) throw new Error(`table '${table}' is not given to this function`);
    return name;
  }

  async page(table: string, tenantId: string, entity: string, cursor?: string) {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.#name(table),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': partitionKey(tenantId, entity) },
        Limit: PAGE,
        ConsistentRead: true,
        ...(cursor === undefined ? {} : { ExclusiveStartKey: JSON.parse(cursor) as Record<string, unknown> }),
      }),
    );
    return {
      items: (out.Items ?? []) as StoredItem[],
      ...(out.LastEvaluatedKey ? { cursor: JSON.stringify(out.LastEvaluatedKey) } : {}),
    };
  }

  async delete(table: string, item: StoredItem): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.#name(table),
          Key: { pk: item.pk, sk: item.sk },
          ...unchanged(item),
        }),
      );
    } catch (error) {
      if (conditionFailed(error)) throw changedMeanwhile(table, item);
      throw error;
    }
  }

  async replace(table: string, before: StoredItem, after: StoredItem): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({ TableName: this.#name(table), Item: after, ...unchanged(before) }),
      );
    } catch (error) {
      if (conditionFailed(error)) throw changedMeanwhile(table, before);
      throw error;
    }
  }
}

const changedMeanwhile = (table: string, item: StoredItem) =>
  new ConflictError(
    `A record of ${table} (${item.sk}) changed while the request ran; run the request again (what it already erased stays erased).`,
    'changed_meanwhile',
  );
