import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Principal } from '../identity.js';
import { partitionKey } from '../tenant-store.js';
import type { DecisionLog, DecisionRecord, GrantLookup } from './enforcer.js';
import { GRANT_ENTITY, type Grant, grantIsLive } from './grants.js';

/** Decisions stay hot for 30 days (DynamoDB TTL), as the product's retention policy says. */
export const DECISION_TTL_SECONDS = 30 * 24 * 3600;
export const DECISION_ENTITY = 'DECISION';

/** pk `T#<tenant>#DECISION`, sk `<ISO time>#<decisionId>`: a tenant's decisions in time order. */
export const decisionSortKey = (record: Pick<DecisionRecord, 'at' | 'decisionId'>): string =>
  `${record.at}#${record.decisionId}`;

export class DynamoDecisionLog implements DecisionLog {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
  ) {}

  async record(records: readonly DecisionRecord[]): Promise<void> {
    await Promise.all(
      records.map((record) =>
        this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              ...record,
              pk: partitionKey(record.tenantId, DECISION_ENTITY),
              sk: decisionSortKey(record),
              expiresAt: Math.floor(new Date(record.at).getTime() / 1000) + DECISION_TTL_SECONDS,
            },
          }),
        ),
      ),
    );
  }
}

/** Reads the target tenant's grants (few per tenant) and keeps the live ones for this subject. */
export class DynamoGrantLookup implements GrantLookup {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
  ) {}

  async grantedTenants(principal: Principal, targetTenant: string, at: Date): Promise<string[]> {
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          FilterExpression: 'requesterSubject = :subject AND #status = :approved',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':pk': partitionKey(targetTenant, GRANT_ENTITY),
            ':subject': principal.subject,
            ':approved': 'approved',
          },
          ExclusiveStartKey: start,
        }),
      );
      const live = (out.Items ?? []).some((item) =>
        grantIsLive(item as unknown as Grant, principal.subject, principal.tenantId, at),
      );
      if (live) return [targetTenant];
      start = out.LastEvaluatedKey;
    } while (start);
    return [];
  }
}
