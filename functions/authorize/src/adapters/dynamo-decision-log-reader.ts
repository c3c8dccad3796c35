import { type DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { decodeCursor, encodeCursor } from '#shared/adapters/cursor.js';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import { DECISION_ENTITY } from '#shared/policy/dynamo-policy-store.js';
import type { DecisionRecord } from '#shared/ports/policy.js';
import type { Page } from '#shared/ports/records.js';
import type { DecisionListOptions, DecisionLogReader } from '../domain/decisions.js';

/**
 * With a filter, DynamoDB applies `Limit` before the filter, so one query may return few matches.
 * A page is filled with up to this many queries; after that it is returned short, with a cursor.
 */
const MAX_QUERIES_PER_PAGE = 10;

const recordOf = (item: Record<string, unknown>): DecisionRecord => {
  const { pk: _pk, sk: _sk, expiresAt: _expiresAt, ...record } = item;
  return record as unknown as DecisionRecord;
};

/**
 * Reads the decision log the kernel's DynamoDecisionLog writes: pk `T#<tenant>#DECISION`, sk
 * `<ISO time>#<decisionId>`, so a query on the partition with `ScanIndexForward: false` is the
 * tenant's decisions newest first, and nothing else.
 */
export class DynamoDecisionLogReader implements DecisionLogReader {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
  ) {}

  #query(pk: string, extra: Partial<QueryCommandInput>) {
    return this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ScanIndexForward: false,
        ...extra,
        ExpressionAttributeValues: { ':pk': pk, ...extra.ExpressionAttributeValues },
      }),
    );
  }

  async list(tenantId: string, options: DecisionListOptions): Promise<Page<DecisionRecord>> {
    const pk = partitionKey(tenantId, DECISION_ENTITY);
    let start: Record<string, unknown> | undefined = options.cursor
      ? decodeCursor(options.cursor, pk)
      : undefined;
    const conditions: string[] = [];
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    if (options.decision) {
      conditions.push('#allow = :allow');
      names['#allow'] = 'allow';
      values[':allow'] = options.decision === 'allow';
    }
    if (options.action) {
      conditions.push('#input.#action = :action');
      names['#input'] = 'input';
      names['#action'] = 'action';
      values[':action'] = options.action;
    }
    const filter =
      conditions.length > 0
        ? {
            FilterExpression: conditions.join(' AND '),
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }
        : {};

    const items: DecisionRecord[] = [];
    for (let query = 0; query < MAX_QUERIES_PER_PAGE; query += 1) {
      const out = await this.#query(pk, {
        ...filter,
        Limit: options.limit - items.length,
        ...(start ? { ExclusiveStartKey: start } : {}),
      });
      items.push(...(out.Items ?? []).map(recordOf));
      start = out.LastEvaluatedKey;
      if (!start || items.length >= options.limit) break;
    }
    return start ? { items, nextCursor: encodeCursor({ pk: start.pk, sk: start.sk }) } : { items };
  }

  async recent(tenantId: string, count: number): Promise<DecisionRecord[]> {
    const pk = partitionKey(tenantId, DECISION_ENTITY);
    const records: DecisionRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.#query(pk, {
        Limit: count - records.length,
        ...(start ? { ExclusiveStartKey: start } : {}),
      });
      records.push(...(out.Items ?? []).map(recordOf));
      start = out.LastEvaluatedKey;
    } while (start && records.length < count);
    return records;
  }
}
