import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { decodeCursor, encodeCursor } from '#shared/adapters/cursor.js';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import { ValidationError } from '#shared/errors.js';
import { unpackDecisions } from '#shared/policy/decision-groups.js';
import { DECISION_ENTITY } from '#shared/policy/dynamo-policy-store.js';
import type { DecisionRecord } from '#shared/ports/policy.js';
import type { Page } from '#shared/ports/records.js';
import type { DecisionListOptions, DecisionLogReader } from '../domain/decisions.js';

/** A page is filled with up to this many queries; after that it is returned short, with a cursor. */
const MAX_QUERIES_PER_PAGE = 10;

/** A position in the log: the group item's sort key and how many of its records come before it. */
interface Position {
  readonly sk: string;
  readonly skip: number;
}

/** Cursors are `{pk, sk: "<group sk>@<records of it already passed>"}` (sort keys hold no `@`). */
const positionOf = (cursor: string, pk: string): Position => {
  const { sk } = decodeCursor(cursor, pk);
  const at = sk.lastIndexOf('@');
  const skip = Number(sk.slice(at + 1));
  if (at <= 0 || !Number.isInteger(skip) || skip < 0) {
    throw new ValidationError(
      'Invalid cursor.',
      [{ path: 'query.cursor', message: 'invalid cursor' }],
      'invalid_cursor',
    );
  }
  return { sk: sk.slice(0, at), skip };
};

/** Newest first within a group too, as the log lists (sort key order: time, then decision id). */
const newestFirst = (records: DecisionRecord[]): DecisionRecord[] =>
  records.sort((a, b) => {
    const left = `${a.at}#${a.decisionId}`;
    const right = `${b.at}#${b.decisionId}`;
    return left < right ? 1 : left > right ? -1 : 0;
  });

/**
 * Reads the decision log the kernel's DynamoDecisionLog writes: pk `T#<tenant>#DECISION`, one item
 * per group of records (`unpackDecisions`), sk `<ISO time>#<decisionId>` of its first record, so a
 * query on the partition with `ScanIndexForward: false` is the tenant's decisions newest first, and
 * nothing else. Filters apply to the records, after a group is expanded.
 */
export class DynamoDecisionLogReader implements DecisionLogReader {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
  ) {}

  /** Up to `limit` group items from `from` (included) on, newest first. */
  #query(pk: string, limit: number, from: string | undefined, start: Record<string, unknown> | undefined) {
    return this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: from === undefined ? 'pk = :pk' : 'pk = :pk AND sk <= :from',
        ExpressionAttributeValues: { ':pk': pk, ...(from === undefined ? {} : { ':from': from }) },
        ScanIndexForward: false,
        Limit: limit,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
  }

  async list(tenantId: string, options: DecisionListOptions): Promise<Page<DecisionRecord>> {
    const pk = partitionKey(tenantId, DECISION_ENTITY);
    const from = options.cursor ? positionOf(options.cursor, pk) : undefined;
    const matches = (record: DecisionRecord): boolean =>
      (options.decision === undefined || record.allow === (options.decision === 'allow')) &&
      (options.action === undefined || record.input.action === options.action);

    const items: DecisionRecord[] = [];
    let start: Record<string, unknown> | undefined;
    for (let query = 0; query < MAX_QUERIES_PER_PAGE; query += 1) {
      // Every group holds at least one record: as many groups as records still wanted.
      const out = await this.#query(pk, options.limit - items.length, from?.sk, start);
      for (const item of out.Items ?? []) {
        const sk = String(item.sk);
        const records = newestFirst(unpackDecisions(item));
        let passed = from && sk === from.sk ? from.skip : 0;
        while (passed < records.length) {
          const record = records[passed] as DecisionRecord;
          passed += 1;
          if (!matches(record)) continue;
          items.push(record);
          if (items.length >= options.limit) {
            return { items, nextCursor: encodeCursor({ pk, sk: `${sk}@${passed}` }) };
          }
        }
      }
      start = out.LastEvaluatedKey;
      if (!start) return { items };
    }
    // The page is short (few matches in many records): continue after the last group read.
    return { items, nextCursor: encodeCursor({ pk, sk: `${String(start?.sk)}@${Number.MAX_SAFE_INTEGER}` }) };
  }

  async recent(tenantId: string, count: number): Promise<DecisionRecord[]> {
    const pk = partitionKey(tenantId, DECISION_ENTITY);
    const records: DecisionRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.#query(pk, count - records.length, undefined, start);
      for (const item of out.Items ?? []) records.push(...newestFirst(unpackDecisions(item)));
      start = out.LastEvaluatedKey;
    } while (start && records.length < count);
    return records.slice(0, count);
  }
}
