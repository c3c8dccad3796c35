import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { MissingTenantError, partitionKey } from '../adapters/tenant-store.js';
import { GRANT_ENTITY, type Grant, grantIsLive } from '../ports/grants.js';
import { type Principal, TENANT_ID_PATTERN } from '../ports/identity.js';
import type { DecisionLog, DecisionRecord, GrantLookup } from '../ports/policy.js';
import { DECISION_GROUP_MAX, packDecisions } from './decision-groups.js';

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
 * The hot decision log: the records of a call (one decision's, or a whole `decideMany` batch's) as
 * one item per tenant log they go to (`packDecisions`: a group of up to DECISION_GROUP_MAX records,
 * the fields they share stored once), in BatchWriteItem requests of up to 25 items, the chunks sent
 * concurrently, unprocessed items retried with backoff. Resolves only once every item is written;
 * throws otherwise (the enforcer then answers 503). Plain puts: a group's key is its first record's
 * (`<at>#<decisionId>` in its tenant's partition), unique, and a retried call writes the same item
 * again; a record given twice in one call is kept once.
 */
export class DynamoDecisionLog implements DecisionLog {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
    private readonly backoffMs = (attempt: number) => 20 * 2 ** attempt,
  ) {}

  async record(records: readonly DecisionRecord[]): Promise<void> {
    const byPartition = new Map<string, Map<string, DecisionRecord>>();
    for (const record of records) {
      const pk = partitionKey(record.tenantId, DECISION_ENTITY);
      const partition = byPartition.get(pk) ?? new Map<string, DecisionRecord>();
      byPartition.set(pk, partition);
      if (!partition.has(record.decisionId)) partition.set(record.decisionId, record);
    }
    const all: Record<string, unknown>[] = [];
    for (const [pk, partition] of byPartition) {
      const kept = [...partition.values()];
      for (let start = 0; start < kept.length; start += DECISION_GROUP_MAX) {
        const group = kept.slice(start, start + DECISION_GROUP_MAX);
        const [first] = group;
        if (!first) continue;
        all.push({
          pk,
          sk: decisionSortKey(first),
          expiresAt: Math.floor(new Date(first.at).getTime() / 1000) + DECISION_TTL_SECONDS,
          ...packDecisions(group),
        });
      }
    }
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

/**
 * The live-grant index: pk `T#<target tenant>#GRANT_LIVE`, one item per approved grant, sk
 * `<requesterTenant>#<requesterSubject>#<grantId>`, with `grantId` and the grant's `expiresAt` (also
 * the TTL). The authorize pillar's grant store writes an item when a grant is approved and deletes
 * it when the grant is revoked; DynamoGrantLookup reads one subject's key range of it.
 */
export const LIVE_GRANT_ENTITY = 'GRANT_LIVE';

/**
 * `<requesterTenant>#<requesterSubject>#`: the key range of one subject's grants in a target. Tenant
 * ids hold no `#`, so tenants never share a range; a subject may hold `#` (`a` is a prefix of
 * `a#b`), so a range may also cover another subject of the same tenant, which the lookup's re-read
 * of the grant itself refuses.
 */
export const liveGrantKeyPrefix = (requesterTenant: string, requesterSubject: string): string => {
  if (!TENANT_ID_PATTERN.test(requesterTenant))
    throw new MissingTenantError(`invalid requester tenant id for ${LIVE_GRANT_ENTITY}`);
  return `${requesterTenant}#${requesterSubject}#`;
};

/** The sort key of a grant's live-grant index item. */
export const liveGrantSortKey = (grant: Pick<Grant, 'requesterTenant' | 'requesterSubject' | 'id'>): string =>
  `${liveGrantKeyPrefix(grant.requesterTenant, grant.requesterSubject)}${grant.id}`;

interface LiveGrantHint {
  readonly grantId: string;
  readonly expiresAt: number;
}

/**
 * Which target tenants a live grant opens to a principal, asked on every cross-tenant request. It
 * reads the principal's own key range of the target's live-grant index (only that subject's
 * approved grants, never the target's whole grant partition, whose size other tenants' requests
 * drive), then re-reads each unexpired candidate grant and checks it with `grantIsLive`. The index
 * is a hint, never the authority: an item left behind by a revoke whose index delete failed, or by
 * an approval that lost a race, names a grant that is no longer (or never was) approved, and opens
 * nothing. Both reads are strongly consistent, so an approval opens and a revoke closes at once.
 *
 * An approved grant without an index item (approved before the index existed, or by a version of
 * the authorize function that did not write it) is not honoured: access fails closed, and the
 * requester asks again. Such a grant ends within 24 h anyway (durationMinutes is at most 1440), and
 * a fallback to the partition read would bring back, for every cross-tenant request that has no
 * grant (the ones anyone can send), exactly the unbounded read this index replaces.
 */
export class DynamoGrantLookup implements GrantLookup {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
  ) {}

  async grantedTenants(principal: Principal, targetTenant: string, at: Date): Promise<string[]> {
    const hints = await this.#hints(principal, targetTenant, at);
    // The latest-ending first: where several hints exist, the one most likely still live.
    hints.sort((a, b) => b.expiresAt - a.expiresAt);
    for (const hint of hints) {
      const grant = await this.#grant(targetTenant, hint.grantId);
      if (grant && grantIsLive(grant, principal.subject, principal.tenantId, at)) return [targetTenant];
    }
    return [];
  }

  /** The principal's unexpired index items in the target (TTL deletes lag, and dynalite has none). */
  async #hints(principal: Principal, targetTenant: string, at: Date): Promise<LiveGrantHint[]> {
    const hints: LiveGrantHint[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          FilterExpression: 'expiresAt > :now',
          ExpressionAttributeValues: {
            ':pk': partitionKey(targetTenant, LIVE_GRANT_ENTITY),
            ':prefix': liveGrantKeyPrefix(principal.tenantId, principal.subject),
            ':now': Math.floor(at.getTime() / 1000),
          },
          ProjectionExpression: 'grantId, expiresAt',
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      hints.push(...((out.Items ?? []) as LiveGrantHint[]));
      start = out.LastEvaluatedKey;
    } while (start);
    return hints;
  }

  async #grant(targetTenant: string, grantId: string): Promise<Grant | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: partitionKey(targetTenant, GRANT_ENTITY), sk: grantId },
        ConsistentRead: true,
      }),
    );
    return out.Item as Grant | undefined;
  }
}
