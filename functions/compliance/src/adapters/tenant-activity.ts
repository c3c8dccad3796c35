import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import type { BudgetReader, EvalRunReader } from '../domain/activity-checks.js';

/** The scheduler's budgets entity (functions/scheduler/README.md: `T#<tenant>#BUDGET` / window kind). */
export const BUDGET_ENTITY = 'BUDGET';
/** The eval pillar's runs entity (functions/eval/src/wiring.ts: `T#<tenant>#EVAL_RUN` / run id, 30-day TTL). */
export const EVAL_RUN_ENTITY = 'EVAL_RUN';
/** Query pages of a tenant's runs read at most before the answer is "undetermined". */
export const MAX_EVAL_RUN_PAGES = 10;

/**
 * The scheduler's budgets, read as the manifest's record read allows (Query on `T#*#BUDGET`): one
 * item of the tenant's partition is enough, its key only.
 */
export class DynamoBudgetReader implements BudgetReader {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
  ) {}

  async hasBudget(tenantId: string): Promise<boolean> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': partitionKey(tenantId, BUDGET_ENTITY) },
        ProjectionExpression: 'pk',
        Limit: 1,
      }),
    );
    return (out.Items ?? []).length > 0;
  }
}

/**
 * The eval pillar's runs, read as the manifest's record read allows (Query on `T#*#EVAL_RUN`): the
 * tenant's partition, filtered on `phase = completed` and `finishedAt >= since`, keys only, until one
 * matches. A filter is applied after a page is read, so pages are followed, MAX_EVAL_RUN_PAGES at
 * most (DynamoDB's 1 MB pages, or `pageSize` items): past it, the answer is undefined.
 */
export class DynamoEvalRunReader implements EvalRunReader {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
    /** Items per Query; default: DynamoDB's 1 MB pages. */
    private readonly pageSize?: number,
  ) {}

  async completedRunSince(tenantId: string, since: string): Promise<boolean | undefined> {
    if (!Number.isFinite(Date.parse(since))) throw new RangeError(`'${since}' is not an instant`);
    let start: Record<string, unknown> | undefined;
    for (let page = 0; page < MAX_EVAL_RUN_PAGES; page += 1) {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          FilterExpression: '#phase = :completed AND #finishedAt >= :since',
          ExpressionAttributeNames: { '#phase': 'phase', '#finishedAt': 'finishedAt' },
          ExpressionAttributeValues: {
            ':pk': partitionKey(tenantId, EVAL_RUN_ENTITY),
            ':completed': 'completed',
            ':since': new Date(since).toISOString(),
          },
          ProjectionExpression: 'pk, sk',
          ...(this.pageSize === undefined ? {} : { Limit: this.pageSize }),
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      if ((out.Items ?? []).length > 0) return true;
      start = out.LastEvaluatedKey;
      if (!start) return false;
    }
    return undefined;
  }
}
