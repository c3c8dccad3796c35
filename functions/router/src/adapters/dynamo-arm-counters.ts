import { BatchGetCommand, type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import {
  type ArmCounterRepository,
  type ArmCounts,
  addCounts,
  COUNT_FIELDS,
  EMPTY_COUNTS,
  type WindowCounts,
} from '../domain/canary-watch.js';
import type { ExperimentArm } from '../domain/routing.js';

/** Counter items outlive any window (24 h at most) by a day, then DynamoDB TTL removes them. */
const COUNTER_TTL_SECONDS = 2 * 24 * 60 * 60;

/** Attribute prefixes per arm: `bo`, `be`, `bl` (baseline outcomes, errors, latency sum), `co`... */
const PREFIX: Record<ExperimentArm, string> = { baseline: 'b', candidate: 'c' };

/** The attribute suffix of each count (`brn`: the baseline's rewards, `crs`: the candidate's reward sum). */
const SUFFIX: Record<(typeof COUNT_FIELDS)[number], string> = {
  outcomes: 'o',
  errors: 'e',
  latencyMsSum: 'l',
  rewards: 'rn',
  rewardSum: 'rs',
  rewardSumSquares: 'rq',
};

/** The most minutes one BatchGetItem reads (its limit is 100 keys). */
const KEYS_PER_BATCH = 100;

/**
 * Per-minute outcome counters of a tenant's canary in the router table: one item per (experiment,
 * minute), pk `T#<tenant>#CANARY_COUNTS`, sk `<experiment>#<minute>`, added to with UpdateItem ADD
 * (no read, no version: concurrent outcomes never conflict). A window of 300 s reads 6 items.
 */
export class DynamoArmCounters implements ArmCounterRepository {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
  ) {}

  async add(
    tenantId: string,
    experiment: string,
    minute: number,
    arm: ExperimentArm,
    counts: ArmCounts,
  ): Promise<void> {
    const p = PREFIX[arm];
    // Only the non-zero counts are added: an outcome adds 3 attributes, a batch of rewards 3 others.
    const fields = COUNT_FIELDS.filter((field) => counts[field] !== 0);
    const names = Object.fromEntries(fields.map((field, i) => [`#a${i}`, `${p}${SUFFIX[field]}`]));
    const values = Object.fromEntries(
      fields.map((field, i) => [
        `:a${i}`,
        field === 'latencyMsSum' ? Math.round(counts[field]) : counts[field],
      ]),
    );
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: partitionKey(tenantId, 'CANARY_COUNTS'), sk: `${experiment}#${minute}` },
        UpdateExpression: `${fields.length > 0 ? `ADD ${fields.map((_, i) => `#a${i} :a${i}`).join(', ')} ` : ''}SET entity = :entity, expiresAt = :ttl`,
        ...(fields.length > 0 ? { ExpressionAttributeNames: names } : {}),
        ExpressionAttributeValues: {
          ...values,
          ':entity': 'CANARY_COUNTS',
          ':ttl': minute * 60 + COUNTER_TTL_SECONDS,
        },
      }),
    );
  }

  async sum(tenantId: string, experiment: string, from: number, to: number): Promise<WindowCounts> {
    const pk = partitionKey(tenantId, 'CANARY_COUNTS');
    const keys = [];
    for (let minute = from; minute <= to; minute += 1) keys.push({ pk, sk: `${experiment}#${minute}` });
    const items: Record<string, unknown>[] = [];
    for (let i = 0; i < keys.length; i += KEYS_PER_BATCH) {
      let pending: Record<string, unknown>[] | undefined = keys.slice(i, i + KEYS_PER_BATCH);
      for (let attempt = 0; pending && pending.length > 0 && attempt < 5; attempt += 1) {
        const reply = await this.doc.send(
          new BatchGetCommand({
            RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } },
          }),
        );
        items.push(...(reply.Responses?.[this.tableName] ?? []));
        pending = reply.UnprocessedKeys?.[this.tableName]?.Keys as Record<string, unknown>[] | undefined;
      }
      if (pending && pending.length > 0)
        throw new Error('canary counters: keys left unprocessed after 5 reads');
    }
    const total = (arm: ExperimentArm): ArmCounts =>
      items.reduce<ArmCounts>((sum, item) => {
        const minute = Object.fromEntries(
          COUNT_FIELDS.map((field) => [field, Number(item[`${PREFIX[arm]}${SUFFIX[field]}`] ?? 0)]),
        ) as unknown as ArmCounts;
        return addCounts(sum, minute);
      }, EMPTY_COUNTS);
    return { baseline: total('baseline'), candidate: total('candidate') };
  }
}
