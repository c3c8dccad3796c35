import { BatchWriteCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { partitionKey } from '../adapters/tenant-store.js';
import { GRANT_ENTITY, type Grant, grantIsLive } from '../ports/grants.js';
import type { Principal } from '../ports/identity.js';
import type { DecisionLog, DecisionRecord, GrantLookup } from '../ports/policy.js';

/** Decisions stay hot for 30 days (DynamoDB TTL), as the product's retention policy says. */
export const DECISION_TTL_SECONDS = 30 * 24 * 3600;
export const DECISION_ENTITY = 'DECISION';

/** pk `T#<tenant>#DECISION`, sk `<ISO time>#<decisionId>`: a tenant's decisions in time order. */
export const decisionSortKey = (record: Pick<DecisionRecord, 'at' | 'decisionId'>): string =>
  `${record.at}#${record.decisionId}`;

/** BatchWriteItem takes at most 25 requests. */
export const DECISION_WRITE_CHUNK = 25;
/** Sends of one chunk (the first and its retries of unprocessed items) before the write fails. */
export const DECISION_WRITE_ATTEMPTS = 5;

/**
 * The hot decision log: the records of a call (one decision's, or a whole `decideMany` batch's)
 * in BatchWriteItem requests of up to 25 items, the chunks sent concurrently, unprocessed items
 * retried with backoff. Resolves only once every item is written; throws otherwise (the enforcer
 * then answers 503). Plain puts, as the PutItem per record this replaced: every record is a new
 * item under a unique key (`<at>#<decisionId>` in its tenant's partition), so no condition is
 * needed; a key given twice in one call is written once (BatchWriteItem refuses duplicates).
 */
export class DynamoDecisionLog implements DecisionLog {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
    private readonly backoffMs = (attempt: number) => 20 * 2 ** attempt,
  ) {}

  async record(records: readonly DecisionRecord[]): Promise<void> {
    const items = new Map<string, Record<string, unknown>>();
    for (const record of records) {
      const pk = partitionKey(record.tenantId, DECISION_ENTITY);
      const sk = decisionSortKey(record);
      items.set(JSON.stringify([pk, sk]), {
        ...record,
        pk,
        sk,
        expiresAt: Math.floor(new Date(record.at).getTime() / 1000) + DECISION_TTL_SECONDS,
      });
    }
    const all = [...items.values()];
    const chunks: Record<string, unknown>[][] = [];
    for (let start = 0; start < all.length; start += DECISION_WRITE_CHUNK)
      chunks.push(all.slice(start, start + DECISION_WRITE_CHUNK));
    await Promise.all(chunks.map((chunk) => this.#write(chunk)));
  }

  async #write(chunk: readonly Record<string, unknown>[]): Promise<void> {
    let requests = chunk.map((item) => ({ PutRequest: { Item: item } }));
    for (let attempt = 0; requests.length > 0; attempt += 1) {
      if (attempt === DECISION_WRITE_ATTEMPTS)
        throw new Error(`decision log: BatchWriteItem left ${requests.length} item(s) unprocessed`);
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, this.backoffMs(attempt)));
      const out = await this.doc.send(
        new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }),
      );
      requests = (out.UnprocessedItems?.[this.tableName] ?? []).flatMap((request) =>
        request.PutRequest?.Item ? [{ PutRequest: { Item: request.PutRequest.Item } }] : [],
      );
    }
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
