import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import { unpackDecisions } from '#shared/policy/decision-groups.js';
import { DECISION_ENTITY } from '#shared/policy/dynamo-policy-store.js';
import type { DecisionRecord } from '#shared/ports/policy.js';
import type { LoggedDecisions } from '../domain/decision-checks.js';

/**
 * How far a group item's key may be from the `at` of a record it holds: a group is one commit's
 * records (one request's decisions, and the deferred ones of the same request), keyed by its first
 * record; a request lasts seconds (API Gateway gives up after 30 s).
 */
export const GROUP_SPAN_MS = 5 * 60_000;

/**
 * The hot decision log as the kernel's DynamoDecisionLog writes it, read by time: pk
 * `T#<tenant>#DECISION`, one item per group of records (`unpackDecisions`), sk `<at>#<decisionId>`
 * of its first record. A Query on the key range of the window widened by GROUP_SPAN_MS each side
 * finds every group that may hold a record of it; the records outside are dropped. Eventually
 * consistent reads: the records compared are minutes old.
 */
export class DynamoLoggedDecisions implements LoggedDecisions {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
    /** Items per Query; default: DynamoDB's 1 MB pages. */
    private readonly pageSize?: number,
  ) {}

  async *inWindow(tenantId: string, from: string, to: string): AsyncGenerator<DecisionRecord> {
    const fromMs = Date.parse(from);
    const toMs = Date.parse(to);
    if (!(fromMs <= toMs)) throw new RangeError(`'${from}' to '${to}' is not a window`);
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
          ExpressionAttributeValues: {
            ':pk': partitionKey(tenantId, DECISION_ENTITY),
            ':lo': new Date(fromMs - GROUP_SPAN_MS).toISOString(),
            ':hi': new Date(toMs + GROUP_SPAN_MS).toISOString(),
          },
          ...(this.pageSize === undefined ? {} : { Limit: this.pageSize }),
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of out.Items ?? []) {
        for (const record of unpackDecisions(item)) {
          const at = Date.parse(record.at);
          if (at >= fromMs && at < toMs) yield record;
        }
      }
      start = out.LastEvaluatedKey;
    } while (start);
  }
}
