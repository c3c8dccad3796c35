import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError } from '../errors.js';
import { TENANT_ID_PATTERN } from '../ports/identity.js';
import type { ListOptions, Page, TenantRecord, TenantRecords } from '../ports/records.js';
import { decodeCursor, encodeCursor } from './cursor.js';

/**
 * Tenant-first keys (DESIGN §6, §8): every partition key starts with `T#<tenant>#`, so IAM
 * `dynamodb:LeadingKeys` can fence a tenant-scoped role, and no query can span tenants.
 */
export const partitionKey = (tenantId: string, entity: string): string => {
  if (!TENANT_ID_PATTERN.test(tenantId)) throw new MissingTenantError(`invalid tenant id for ${entity}`);
  return `T#${tenantId}#${entity}`;
};

/** A write without a valid tenant is a programming error: refused before it reaches the table. */
export class MissingTenantError extends Error {}

const KEY_ATTRIBUTES = ['pk', 'sk', 'entity'] as const;

const isConditionFailure = (error: unknown): boolean =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error && error.name === 'ConditionalCheckFailedException');

export interface TenantRecordStoreOptions {
  /**
   * What the API calls one record, for the messages a client reads (a 409's `message`).
   * @default the entity in lower case with spaces (`ROUTER_CONFIG` → `router config`)
   */
  readonly resourceName?: string;
}

/** `ROUTER_CONFIG` → `router config`: the storage name of an entity, as a reader would say it. */
export const resourceNameOf = (entity: string): string => entity.toLowerCase().replaceAll('_', ' ');

/**
 * Versioned records of one entity type in a pillar's table. Creates are conditional on absence,
 * replaces and deletes on the expected version, so concurrent writers never lose an update: the
 * loser gets a ConflictError and can re-read.
 */
export class TenantRecordStore<T extends TenantRecord> implements TenantRecords<T> {
  /** The record's name in client-facing messages, capitalised to open a sentence. */
  readonly #subject: string;

  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
    private readonly entity: string,
    /** Seconds after `updatedAt` when DynamoDB TTL may expire the record; undefined keeps it. */
    private readonly ttlSeconds?: number,
    options: TenantRecordStoreOptions = {},
  ) {
    const name = options.resourceName ?? resourceNameOf(entity);
    this.#subject = name.charAt(0).toUpperCase() + name.slice(1);
  }

  #item(record: T): Record<string, unknown> {
    if (!record.tenantId) throw new MissingTenantError(`${this.entity} record without tenantId`);
    const item: Record<string, unknown> = {
      ...(record as unknown as Record<string, unknown>),
      pk: partitionKey(record.tenantId, this.entity),
      sk: record.id,
      entity: this.entity,
    };
    if (this.ttlSeconds !== undefined) {
      item.expiresAt = Math.floor(new Date(record.updatedAt).getTime() / 1000) + this.ttlSeconds;
    }
    return item;
  }

  #record(item: Record<string, unknown> | undefined): T | undefined {
    if (!item) return undefined;
    const copy: Record<string, unknown> = { ...item };
    for (const key of KEY_ATTRIBUTES) delete copy[key];
    // A store-managed TTL is storage detail; a record that owns `expiresAt` (e.g. a grant) keeps it.
    if (this.ttlSeconds !== undefined) delete copy.expiresAt;
    return copy as unknown as T;
  }

  async create(record: T): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.#item(record),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (isConditionFailure(error))
        throw new ConflictError(`${this.#subject} ${record.id} already exists.`, 'already_exists');
      throw error;
    }
  }

  async get(tenantId: string, id: string): Promise<T | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: partitionKey(tenantId, this.entity), sk: id },
        ConsistentRead: true,
      }),
    );
    return this.#record(out.Item);
  }

  /**
   * Reads several records of one tenant in one BatchGetItem (100 keys a call; unprocessed keys are
   * retried a few times). Missing ids are absent from the map. Reads are strongly consistent, like
   * `get`: the reward consumer decides "already applied" on them (a hot path that can live with
   * staleness caches in front instead, see cached-records.ts).
   */
  async getMany(tenantId: string, ids: readonly string[]): Promise<Map<string, T>> {
    const pk = partitionKey(tenantId, this.entity);
    const found = new Map<string, T>();
    const unique = [...new Set(ids)];
    for (let start = 0; start < unique.length; start += 100) {
      let keys: Record<string, unknown>[] = unique.slice(start, start + 100).map((id) => ({ pk, sk: id }));
      for (let attempt = 0; keys.length > 0; attempt += 1) {
        if (attempt === 5)
          throw new Error(`${this.entity}: BatchGetItem left ${keys.length} keys unprocessed`);
        const out = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
        );
        for (const item of out.Responses?.[this.tableName] ?? []) {
          const record = this.#record(item);
          if (record) found.set(record.id, record);
        }
        keys = (out.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
        if (keys.length > 0) await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt));
      }
    }
    return found;
  }

  async list(tenantId: string, options: ListOptions): Promise<Page<T>> {
    const pk = partitionKey(tenantId, this.entity);
    // A cursor is only valid for the partition it came from: never let it point at another tenant.
    const start = options.cursor
      ? decodeCursor(options.cursor, pk)
      : options.after !== undefined
        ? { pk, sk: options.after }
        : undefined;
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: options.prefix ? 'pk = :pk AND begins_with(sk, :prefix)' : 'pk = :pk',
        ExpressionAttributeValues: options.prefix ? { ':pk': pk, ':prefix': options.prefix } : { ':pk': pk },
        Limit: options.limit,
        ExclusiveStartKey: start,
        ...(options.consistent ? { ConsistentRead: true } : {}),
      }),
    );
    const items = (out.Items ?? []).map((item) => this.#record(item) as T);
    return out.LastEvaluatedKey ? { items, nextCursor: encodeCursor(out.LastEvaluatedKey) } : { items };
  }

  /** Replaces the record if its stored version is still `expectedVersion`. */
  async replace(record: T, expectedVersion: number): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.#item(record),
          ConditionExpression: 'attribute_exists(pk) AND version = :expected',
          ExpressionAttributeValues: { ':expected': expectedVersion },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ConflictError(
          `${this.#subject} ${record.id} was changed concurrently; re-read and retry.`,
          'version_conflict',
        );
      }
      throw error;
    }
  }

  /** Deletes the record; with `expectedVersion`, only if nobody changed it meanwhile. */
  async delete(tenantId: string, id: string, expectedVersion?: number): Promise<boolean> {
    try {
      const out = await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: partitionKey(tenantId, this.entity), sk: id },
          ...(expectedVersion === undefined
            ? { ConditionExpression: 'attribute_exists(pk)' }
            : {
                ConditionExpression: 'attribute_exists(pk) AND version = :expected',
                ExpressionAttributeValues: { ':expected': expectedVersion },
              }),
        }),
      );
      return out.$metadata.httpStatusCode === 200;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      if (expectedVersion === undefined) return false;
      const current = await this.get(tenantId, id);
      if (!current) return false;
      throw new ConflictError(
        `${this.#subject} ${id} was changed concurrently; re-read and retry.`,
        'version_conflict',
      );
    }
  }
}
