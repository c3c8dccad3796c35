import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import {
  type LedgerAddition,
  LedgerContentionError,
  type LedgerRecord,
  type LedgerStore,
  type LedgerWrite,
} from '../domain/budget-ledger.js';

const ENTITY = 'BUDGET_LEDGER';

const errorName = (error: unknown): string => (error instanceof Error ? error.name : '');
const isConditionFailure = (error: unknown): boolean =>
  errorName(error) === 'ConditionalCheckFailedException';
/** What DynamoDB answers when one item (one partition) takes more writes a second than it can. */
const THROTTLED = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);

/**
 * The budget ledgers in the scheduler table (pk `T#<tenant>#BUDGET_LEDGER`, sk the window id), each
 * change one `UpdateItem`: `ADD` of the amounts under a condition expression, `ReturnValues:
 * ALL_NEW`. A condition that fails is told apart by one consistent read (duplicate, refused,
 * absent): refusals are the throttled path, not the hot one. Throttling by DynamoDB surfaces as LedgerContentionError (the API answers 503 with
 * Retry-After), after the SDK's own retries.
 */
export class DynamoLedgerStore implements LedgerStore {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
    /** Seconds after the last change when DynamoDB TTL may expire the item. */
    private readonly ttlSeconds: number,
  ) {}

  #key(tenantId: string, windowId: string) {
    return { pk: partitionKey(tenantId, ENTITY), sk: windowId };
  }

  #expiresAt(at: string): number {
    return Math.floor(new Date(at).getTime() / 1000) + this.ttlSeconds;
  }

  /** Runs one call, throttling translated (see the class's comment). */
  async #throttled<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (THROTTLED.has(errorName(error))) {
        throw new LedgerContentionError(`DynamoDB throttled a budget ledger write: ${errorName(error)}`);
      }
      throw error;
    }
  }

  async get(tenantId: string, windowId: string): Promise<LedgerRecord | undefined> {
    const out = await this.#throttled(() =>
      this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: this.#key(tenantId, windowId),
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item ? recordOf(out.Item) : undefined;
  }

  async open(record: LedgerRecord): Promise<void> {
    try {
      await this.#throttled(() =>
        this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: this.#item(record),
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async add(tenantId: string, windowId: string, addition: LedgerAddition, at: string): Promise<LedgerWrite> {
    const names: Record<string, string> = {
      '#reserved': 'reserved',
      '#committed': 'committed',
      '#used': 'used',
      '#version': 'version',
      '#updatedAt': 'updatedAt',
      '#expiresAt': 'expiresAt',
    };
    const values: Record<string, unknown> = {
      ':reserved': addition.reserved,
      ':committed': addition.committed,
      ':used': addition.reserved + addition.committed,
      ':one': 1,
      ':at': at,
      ':expiresAt': this.#expiresAt(at),
    };
    const set = ['#updatedAt = :at', '#expiresAt = :expiresAt'];
    const conditions = ['attribute_exists(pk)'];
    const remove: string[] = [];
    if (addition.limit) {
      names['#limit'] = 'limit';
      names['#grace'] = 'grace';
      values[':limit'] = addition.limit.limit;
      values[':grace'] = addition.limit.grace;
      set.push('#limit = :limit', '#grace = :grace');
    }
    if (addition.op !== undefined || (addition.forget?.length ?? 0) > 0) names['#ops'] = 'ops';
    if (addition.op !== undefined) {
      names['#op'] = addition.op;
      values[':marked'] = Math.floor(Date.parse(at) / 1000);
      set.push('#ops.#op = :marked');
      conditions.push('attribute_not_exists(#ops.#op)');
    }
    (addition.forget ?? []).forEach((marker, index) => {
      names[`#f${index}`] = marker;
      remove.push(`#ops.#f${index}`);
    });
    if (addition.maxUsedBefore !== undefined) {
      values[':max'] = addition.maxUsedBefore;
      conditions.push('#used <= :max');
    }
    const expression = [
      `SET ${set.join(', ')}`,
      'ADD #reserved :reserved, #committed :committed, #used :used, #version :one',
      ...(remove.length > 0 ? [`REMOVE ${remove.join(', ')}`] : []),
    ].join(' ');
    try {
      const out = await this.#throttled(() =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: this.#key(tenantId, windowId),
            UpdateExpression: expression,
            ConditionExpression: conditions.join(' AND '),
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      return { outcome: 'applied', ledger: recordOf(out.Attributes ?? {}) };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const current = await this.get(tenantId, windowId);
    if (!current) return { outcome: 'absent' };
    if (addition.op !== undefined && addition.op in current.ops)
      return { outcome: 'duplicate', ledger: current };
    if (addition.maxUsedBefore !== undefined && !(current.used <= addition.maxUsedBefore)) {
      return { outcome: 'refused', ledger: current };
    }
    // Neither condition fails on the item as it stands: the addition lost to a change that undid it
    // (a commit that freed room). The condition is decided again.
    return this.add(tenantId, windowId, addition, at);
  }

  async mark(tenantId: string, windowId: string, markers: readonly string[], at: string): Promise<string[]> {
    const unique = [...new Set(markers)];
    if (unique.length === 0) return [];
    try {
      const out = await this.#throttled(() =>
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: this.#key(tenantId, windowId),
            UpdateExpression: 'ADD #alerted :markers, #version :one SET #updatedAt = :at',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeNames: {
              '#alerted': 'alerted',
              '#version': 'version',
              '#updatedAt': 'updatedAt',
            },
            ExpressionAttributeValues: { ':markers': new Set(unique), ':one': 1, ':at': at },
            // The set as it was: what this call added is what it did not hold (racing callers split them).
            ReturnValues: 'UPDATED_OLD',
          }),
        ),
      );
      const before = stringsOf(out.Attributes?.alerted);
      return unique.filter((marker) => !before.includes(marker));
    } catch (error) {
      // A window with no ledger yet has spent nothing: nothing to announce.
      if (isConditionFailure(error)) return [];
      throw error;
    }
  }

  #item(record: LedgerRecord): Record<string, unknown> {
    const { alerted, ...rest } = record;
    return {
      ...rest,
      ...this.#key(record.tenantId, record.windowId),
      entity: ENTITY,
      expiresAt: this.#expiresAt(record.updatedAt),
      ...(alerted && alerted.length > 0 ? { alerted: new Set(alerted) } : {}),
    };
  }
}

const stringsOf = (value: unknown): string[] =>
  value instanceof Set || Array.isArray(value) ? [...(value as Iterable<unknown>)].map(String) : [];

const recordOf = (item: Record<string, unknown>): LedgerRecord => {
  const { pk: _pk, sk: _sk, entity: _entity, expiresAt: _expiresAt, alerted, ops, ...rest } = item;
  const markers = stringsOf(alerted);
  return {
    ...(rest as unknown as LedgerRecord),
    ops:
      ops !== null && typeof ops === 'object' && !Array.isArray(ops) ? (ops as Record<string, number>) : {},
    ...(markers.length > 0 ? { alerted: markers } : {}),
  };
};
