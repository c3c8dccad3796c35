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
