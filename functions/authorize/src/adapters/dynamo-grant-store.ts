import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { decodeCursor, encodeCursor } from '#shared/adapters/cursor.js';
import { MissingTenantError, partitionKey, TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { LIVE_GRANT_ENTITY, liveGrantSortKey } from '#shared/policy/dynamo-policy-store.js';
import { GRANT_ENTITY, type Grant } from '#shared/ports/grants.js';
import { TENANT_ID_PATTERN } from '#shared/ports/identity.js';
import type { Page } from '#shared/ports/records.js';
import type { GrantRepository, PendingGrantSlots } from '../domain/grants.js';

const grantOf = (item: Record<string, unknown> | undefined): Grant | undefined => {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, entity: _entity, ...grant } = item;
  return grant as unknown as Grant;
};

/**
 * Grants in the policy table (pk `T#<target tenant>#GRANT`, sk the grant id), and the live-grant
 * index the kernel's DynamoGrantLookup finds them by on every cross-tenant request (pk
 * `T#<target tenant>#GRANT_LIVE`, sk `<requesterTenant>#<requesterSubject>#<grantId>`, with the
 * grant's `expiresAt` as TTL; see LIVE_GRANT_ENTITY).
 *
 * The grant and its index item are two writes: DynamoDB could make them one TransactWriteItems, but
 * dynalite, the local stand-in, has no transactions. So the index item is only ever a hint (the
 * lookup re-reads the grant and checks `grantIsLive`), and the order of the writes keeps that safe:
 * an approval writes the index item first, then the grant (a failed index write leaves the grant
 * pending, never approved without a way to find it; an approval that then loses its version race
 * leaves a hint to a grant that is not approved); a revoke writes the grant first, then deletes the
 * item (best effort: one left behind points at a revoked grant, and its TTL removes it).
 *
 * Writes of the grant go through the kernel's TenantRecordStore (tenant check, create on absence,
 * replace on version). Reads do not: TenantRecordStore strips `expiresAt` from what it reads back,
 * taking it for its own TTL attribute, while for a grant `expiresAt` is part of the record (when the
 * request lapses or the grant ends; also the TTL). Once the kernel store keeps `expiresAt` for
 * entities that own it, the grant itself can be `new TenantRecordStore<Grant>(doc, table, GRANT_ENTITY)`.
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

  async replace(grant: Grant, expectedVersion: number): Promise<void> {
    if (grant.status === 'approved') await this.#indexLive(grant);
    await this.#writes.replace(grant, expectedVersion);
    if (grant.status === 'revoked') await this.#unindexLive(grant);
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

  /**
   * Puts the approved grant's index item. Two approvers racing write the same key with end times a
   * moment apart; the later end is kept, so the item never lapses before the grant that won.
   */
  async #indexLive(grant: Grant): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: partitionKey(grant.tenantId, LIVE_GRANT_ENTITY),
            sk: liveGrantSortKey(grant),
            entity: LIVE_GRANT_ENTITY,
            grantId: grant.id,
            expiresAt: grant.expiresAt,
          },
          ConditionExpression: 'attribute_not_exists(sk) OR expiresAt < :expiresAt',
          ExpressionAttributeValues: { ':expiresAt': grant.expiresAt },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /**
   * Deletes a revoked grant's index item (none for a request revoked while pending). Best effort:
   * the revoke is stored already and closes access by itself, since the lookup re-reads the grant.
   */
  async #unindexLive(grant: Grant): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: partitionKey(grant.tenantId, LIVE_GRANT_ENTITY), sk: liveGrantSortKey(grant) },
        }),
      );
    } catch {
      // Left behind, the item names a revoked grant (opening nothing) until its TTL removes it.
    }
  }
}

/** The places of pending requests: their own partition per target tenant, beside its grants. */
export const PENDING_GRANT_SLOT_ENTITY = 'GRANT_PENDING';

/** sk `<requester tenant>#<place, 3 digits>`: one requester tenant's places are one key range. */
export const pendingSlotKey = (requesterTenant: string, place: number): string =>
  `${requesterPrefix(requesterTenant)}${String(place).padStart(3, '0')}`;

const requesterPrefix = (requesterTenant: string): string => {
  // Tenant ids hold no `#`, so one requester's prefix never covers another's places.
  if (!TENANT_ID_PATTERN.test(requesterTenant))
    throw new MissingTenantError(`invalid requester tenant id for ${PENDING_GRANT_SLOT_ENTITY}`);
  return `${requesterTenant}#`;
};

const isConditionFailure = (error: unknown): boolean =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error && error.name === 'ConditionalCheckFailedException');

interface SlotItem {
  readonly sk: string;
  readonly grantId: string;
  readonly expiresAt: number;
}

/**
 * The places of pending requests in the policy table: pk `T#<target tenant>#GRANT_PENDING`, sk
 * `<requester tenant>#<place>`, one item per held place naming its grant, with the grant's pending
 * `expiresAt` (also the TTL, so a lapsed request's place is free and later deleted). Counting a
 * requester tenant's pending requests reads its own key range (at most `limit` items), never the
 * target's grants; a place is taken by a conditional put (absent or lapsed), so two concurrent
 * requests cannot take the same one, and no transaction is needed (dynalite has none).
 *
 * Pending requests filed before these places existed hold none: they are not counted, and lapse
 * within a day of the change (PENDING_GRANT_LAPSE_SECONDS).
 */
export class DynamoPendingGrantSlots implements PendingGrantSlots {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
  ) {}

  async claim(grant: Grant, limit: number, now: Date): Promise<boolean> {
    const nowSeconds = Math.floor(now.getTime() / 1000);
    const held = new Set(
      (await this.#places(grant)).filter((slot) => slot.expiresAt > nowSeconds).map((slot) => slot.sk),
    );
    for (let place = 0; place < limit; place += 1) {
      const sk = pendingSlotKey(grant.requesterTenant, place);
      if (held.has(sk)) continue;
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              pk: this.#pk(grant),
              sk,
              entity: PENDING_GRANT_SLOT_ENTITY,
              grantId: grant.id,
              requesterTenant: grant.requesterTenant,
              expiresAt: grant.expiresAt,
            },
            ConditionExpression: 'attribute_not_exists(sk) OR expiresAt <= :now',
            ExpressionAttributeValues: { ':now': nowSeconds },
          }),
        );
        return true;
      } catch (error) {
        // Taken by a concurrent request since the read: try the next free place.
        if (!isConditionFailure(error)) throw error;
      }
    }
    return false;
  }

  async release(grant: Grant): Promise<void> {
    const mine = (await this.#places(grant)).filter((slot) => slot.grantId === grant.id);
    for (const slot of mine) {
      try {
        await this.doc.send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: { pk: this.#pk(grant), sk: slot.sk },
            // Only while it is still this grant's: a lapsed place may have been taken again.
            ConditionExpression: 'grantId = :grantId',
            ExpressionAttributeValues: { ':grantId': grant.id },
          }),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
  }

  /** The requester tenant's places in the grant's target tenant, lapsed ones included. */
  async #places(grant: Grant): Promise<SlotItem[]> {
    const places: SlotItem[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: {
            ':pk': this.#pk(grant),
            ':prefix': requesterPrefix(grant.requesterTenant),
          },
          ProjectionExpression: 'sk, grantId, expiresAt',
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      places.push(...((out.Items ?? []) as SlotItem[]));
      start = out.LastEvaluatedKey;
    } while (start);
    return places;
  }

  #pk(grant: Grant): string {
    return partitionKey(grant.tenantId, PENDING_GRANT_SLOT_ENTITY);
  }
}
