import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GenerateMacCommand, type KMSClient } from '@aws-sdk/client-kms';
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import { ConflictError } from '#shared/errors.js';
import type { PersonalRecords, StoredItem, SubjectHasher } from '../domain/dsr.js';

/** Items read per Query page. */
const PAGE = 500;

const conditionFailed = (error: unknown): boolean =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error && error.name === 'ConditionalCheckFailedException');

/** The write only happens if the item is as it was read: same version, or (without one) still there. */
const unchanged = (item: StoredItem) =>
  typeof item.version === 'number'
    ? {
        ConditionExpression: 'attribute_exists(pk) AND version = :version',
        ExpressionAttributeValues: { ':version': item.version },
      }
    : { ConditionExpression: 'attribute_exists(pk)' };

/**
 * The pillars' tables for a data subject request: one tenant's partition of one entity at a time
 * (Query, never Scan), and conditional deletes and rewrites. `tables` maps the catalog's table ids
 * to the deployment's table names.
 */
export class DynamoPersonalRecords implements PersonalRecords {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tables: Readonly<Record<string, string>>,
  ) {}

  #name(table: string): string {
    const name = this.tables[table];
    if (name === undefined) throw new Error(`table '${table}' is not given to this function`);
    return name;
  }

  async page(table: string, tenantId: string, entity: string, cursor?: string) {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.#name(table),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': partitionKey(tenantId, entity) },
        Limit: PAGE,
        ConsistentRead: true,
        ...(cursor === undefined ? {} : { ExclusiveStartKey: JSON.parse(cursor) as Record<string, unknown> }),
      }),
    );
    return {
      items: (out.Items ?? []) as StoredItem[],
      ...(out.LastEvaluatedKey ? { cursor: JSON.stringify(out.LastEvaluatedKey) } : {}),
    };
  }

  async delete(table: string, item: StoredItem): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.#name(table),
          Key: { pk: item.pk, sk: item.sk },
          ...unchanged(item),
        }),
      );
    } catch (error) {
      if (conditionFailed(error)) throw changedMeanwhile(table, item);
      throw error;
    }
  }

  async replace(table: string, before: StoredItem, after: StoredItem): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({ TableName: this.#name(table), Item: after, ...unchanged(before) }),
      );
    } catch (error) {
      if (conditionFailed(error)) throw changedMeanwhile(table, before);
      throw error;
    }
  }
}

const changedMeanwhile = (table: string, item: StoredItem) =>
  new ConflictError(
    `A record of ${table} (${item.sk}) changed while the request ran; run the request again (what it already erased stays erased).`,
    'changed_meanwhile',
  );

/**
 * The subject's keyed hash on AWS: KMS GenerateMac (HMAC_SHA_256) with the deployment's DSR key,
 * which never leaves KMS, so nobody holding the log can test a guess without the key's permission.
 */
export class KmsSubjectHasher implements SubjectHasher {
  constructor(
    private readonly kms: Pick<KMSClient, 'send'>,
    private readonly keyId: string,
  ) {}

  async hash(subject: string): Promise<string> {
    const out = await this.kms.send(
      new GenerateMacCommand({
        KeyId: this.keyId,
        MacAlgorithm: 'HMAC_SHA_256',
        Message: new TextEncoder().encode(subject),
      }),
    );
    if (!out.Mac) throw new Error('KMS GenerateMac returned no MAC');
    return `hmac-sha256:${Buffer.from(out.Mac).toString('hex')}`;
  }
}

/**
 * The embedded runtime's stand-in (KMS has no emulator): HMAC-SHA-256 with a 32-byte key created
 * once in a file of the local data directory (mode 0600) and read from it afterwards.
 */
export class LocalSubjectHasher implements SubjectHasher {
  readonly #key: Buffer;

  constructor(keyFile: string) {
    if (!existsSync(keyFile)) {
      mkdirSync(dirname(keyFile), { recursive: true });
      try {
        writeFileSync(keyFile, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
      } catch (error) {
        // Another process created it first: use theirs.
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    this.#key = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64');
    if (this.#key.length < 32) throw new Error(`${keyFile}: not a 32-byte key`);
  }

  async hash(subject: string): Promise<string> {
    return `hmac-sha256:${createHmac('sha256', this.#key).update(subject, 'utf8').digest('hex')}`;
  }
}
