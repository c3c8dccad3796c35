import { type Dirent, existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client, LifecycleRule as S3LifecycleRule } from '@aws-sdk/client-s3';
import { TABLE_KEY } from '#shared/pillar.js';
import {
  expiredRecords,
  type LifecycleRule,
  type RuleOutcome,
  retentionDryRun,
  type StoredObject,
} from '../../functions/compliance/src/domain/retention.js';
import { DEFAULT_RETENTION_DAYS } from '../../infra/local/worm-store.js';
import {
  ARTIFACTS_LIFECYCLE_RULES,
  evidenceLifecycleRules,
  type LifecycleRuleSpec,
  S3_MINIMUM_TRANSITION_BYTES,
} from '../../infra/retention-policy.js';
import { type Command, type Invocation, UsageError } from '../command.js';
import { listOption, stringOption } from '../input.js';
import { table } from '../output.js';

/**
 * `conductor compliance retention`: the dry-run of the retention policy. Per lifecycle rule of each
 * bucket, what would transition now and to which storage class, what would be deleted, and what a
 * legal hold or an Object Lock retention keeps; per table, how many records DynamoDB's TTL would
 * delete. It only reads: locally the embedded runtime's data folder (the rules of
 * infra/retention-policy.ts, which CDK deploys), on AWS the named buckets (their own lifecycle
 * configuration) and tables, with your credentials.
 */

/** Where `npm start` keeps its data (infra/local/main.ts `--data-dir`), relative to where it runs. */
const DEFAULT_DATA_DIR = '.conductor';
/** The runtime's folders for the evidence (WORM) and artifacts stand-ins (infra/local/runtime.ts). */
const LOCAL_STORES = [
  {
    bucket: 'evidence',
    folder: 'worm',
    rules: evidenceLifecycleRules(DEFAULT_RETENTION_DAYS),
    retentionDays: DEFAULT_RETENTION_DAYS,
  },
  { bucket: 'artifacts', folder: 'artifacts', rules: ARTIFACTS_LIFECYCLE_RULES, retentionDays: 0 },
] as const;
/** FileWormStore's own folders under its root: staged writes and legal-hold markers, not objects. */
const STAGING = '.staging';
const HOLDS = '.holds';
const DAY_MS = 86_400_000;
const LOCAL_TABLES_NOTE =
  'tables: not read locally (the runtime’s DynamoDB stand-in keeps its database locked while npm start runs, and has no TTL); on AWS, give --table <name>';

export interface BucketDryRun {
  /** `evidence` or `artifacts` locally; the bucket's name on AWS. */
  readonly bucket: string;
  /** The folder read, or `s3://<bucket>`. */
  readonly location: string;
  readonly objects: number;
  readonly rules: readonly RuleOutcome[];
  /** What the dry-run could not evaluate (a disabled rule, a tag filter, a date). */
  readonly notes: readonly string[];
}

export interface TableDryRun {
  readonly table: string;
  readonly records: number;
  /** Records whose `expiresAt` has passed: DynamoDB's TTL deletes them (within days of it). */
  readonly expired: number;
}

export interface RetentionReport {
  readonly dryRun: true;
  readonly now: string;
  readonly source: 'local' | 'aws';
  readonly dataDir?: string;
  readonly buckets: readonly BucketDryRun[];
  /** Null where tables were not read (locally). */
  readonly tables: readonly TableDryRun[] | null;
  readonly notes: readonly string[];
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/** `--now`: an ISO date (`2027-03-01`) or date-time (`2027-03-01T12:00:00Z`); default the clock. */
export const nowOf = (text: string | undefined, clock: () => number = Date.now): Date => {
  if (text === undefined) return new Date(clock());
  const at = Date.parse(text);
  const [year, month, day] = text.slice(0, 10).split('-').map(Number);
  // Date.parse rolls 2027-02-31 over to March: a day the month does not have is refused.
  const realDay =
    new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 1)).getUTCDate() === day && (month ?? 0) <= 12;
  if (!ISO_DATE.test(text) || Number.isNaN(at) || !realDay)
    throw new UsageError(`--now must be an ISO date or date-time (e.g. 2027-03-01T00:00:00Z), got '${text}'`);
  return new Date(at);
};

/** A rule of the policy as the dry-run takes it, with S3's default minimum transition size. */
export const dryRunRuleOf = (rule: LifecycleRuleSpec): LifecycleRule => ({
  id: rule.id,
  ...(rule.prefix === undefined ? {} : { prefix: rule.prefix }),
  transitions: rule.transitions ?? [],
  ...(rule.expirationDays === undefined ? {} : { expirationDays: rule.expirationDays }),
  minimumTransitionBytes: S3_MINIMUM_TRANSITION_BYTES,
});

/**
 * The rules of a bucket's lifecycle configuration (GetBucketLifecycleConfiguration) the dry-run can
 * evaluate, and a note for each part it cannot: disabled rules, tag or size filters, dates.
 */
export const dryRunRulesOfConfiguration = (
  rules: readonly S3LifecycleRule[],
  transitionDefaultMinimumObjectSize?: string,
): { readonly rules: LifecycleRule[]; readonly notes: string[] } => {
  const notes: string[] = [];
  const minimum =
    transitionDefaultMinimumObjectSize === 'varies_by_storage_class'
      ? undefined
      : S3_MINIMUM_TRANSITION_BYTES;
  if (minimum === undefined)
    notes.push(
      'the bucket transitions objects under 128 KB to some storage classes (varies_by_storage_class): sizes are not taken into account',
    );
  const evaluated: LifecycleRule[] = [];
  for (const [index, rule] of rules.entries()) {
    const id = rule.ID ?? `rule ${index + 1}`;
    if (rule.Status !== 'Enabled') {
      notes.push(`${id}: disabled, not evaluated`);
      continue;
    }
    const filter = rule.Filter;
    if (
      filter?.Tag !== undefined ||
      (filter?.And?.Tags?.length ?? 0) > 0 ||
      filter?.ObjectSizeGreaterThan !== undefined ||
      filter?.ObjectSizeLessThan !== undefined ||
      filter?.And?.ObjectSizeGreaterThan !== undefined ||
      filter?.And?.ObjectSizeLessThan !== undefined
    ) {
      notes.push(`${id}: filters on tags or object size, not evaluated`);
      continue;
    }
    const prefix = filter?.Prefix ?? filter?.And?.Prefix ?? rule.Prefix;
    const transitions = (rule.Transitions ?? []).flatMap((transition) => {
      if (transition.Days === undefined || transition.StorageClass === undefined) {
        notes.push(`${id}: a transition on a date (not by age), not evaluated`);
        return [];
      }
      return [{ days: transition.Days, storageClass: transition.StorageClass }];
    });
    if (rule.Expiration?.Date !== undefined) notes.push(`${id}: an expiration on a date, not evaluated`);
    evaluated.push({
      id,
      ...(prefix ? { prefix } : {}),
      transitions,
      ...(rule.Expiration?.Days === undefined ? {} : { expirationDays: rule.Expiration.Days }),
      ...(minimum === undefined ? {} : { minimumTransitionBytes: minimum }),
    });
  }
  return { rules: evaluated, notes };
};

const errorCode = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code;

/**
 * The objects of a FileWormStore root (infra/local/worm-store.ts), read without touching it: each
 * file is an object (`<root>/<key>`), written at its modification time, held when `.holds/<key>`
 * exists, retained `retentionDays` after it was written.
 */
export const readLocalStore = (root: string, retentionDays: number): StoredObject[] => {
  const objects: StoredObject[] = [];
  const walk = (dir: string, prefix: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return;
      throw error;
    }
    for (const entry of entries) {
      if (prefix === '' && (entry.name === STAGING || entry.name === HOLDS)) continue;
      const path = join(dir, entry.name);
      const key = `${prefix}${entry.name}`;
      if (entry.isDirectory()) walk(path, `${key}/`);
      else if (entry.isFile()) {
        const stats = statSync(path);
        objects.push({
          key,
          writtenAt: new Date(stats.mtimeMs).toISOString(),
          size: stats.size,
          ...(existsSync(join(root, HOLDS, ...key.split('/'))) ? { legalHold: true } : {}),
          ...(retentionDays > 0
            ? { retainUntil: new Date(stats.mtimeMs + retentionDays * DAY_MS).toISOString() }
            : {}),
        });
      }
    }
  };
  walk(root, '');
  return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
};

const localReport = (invocation: Invocation, now: Date): RetentionReport => {
  const dataDir = resolve(
    invocation.context.io.cwd,
    stringOption(invocation, 'data-dir') ?? DEFAULT_DATA_DIR,
  );
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory())
    throw new UsageError(
      `no data folder at ${dataDir}: run 'npm start' there first (it keeps its data in ${DEFAULT_DATA_DIR}), give --data-dir, or --bucket for AWS`,
    );
  const buckets = LOCAL_STORES.map((store): BucketDryRun => {
    const location = join(dataDir, store.folder);
    const objects = readLocalStore(location, store.retentionDays);
    return {
      bucket: store.bucket,
      location,
      objects: objects.length,
      rules: retentionDryRun(store.rules.map(dryRunRuleOf), objects, now),
      notes: existsSync(location) ? [] : ['no such folder: nothing written there yet'],
    };
  });
  return {
    dryRun: true,
    now: now.toISOString(),
    source: 'local',
    dataDir,
    buckets,
    tables: null,
    notes: [LOCAL_TABLES_NOTE],
  };
};

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const nameOf = (error: unknown): string | undefined =>
  (error as { name?: unknown }).name as string | undefined;

/** What the rules would expire, of these objects: the only ones whose holds matter. */
const expiringKeys = (rules: readonly LifecycleRule[], objects: readonly StoredObject[], now: Date) =>
  new Set(
    objects
      .filter((object) =>
        rules.some(
          (rule) =>
            rule.expirationDays !== undefined &&
            (rule.prefix === undefined || object.key.startsWith(rule.prefix)) &&
            now.getTime() - Date.parse(object.writtenAt) >= rule.expirationDays * DAY_MS,
        ),
      )
      .map((object) => object.key),
  );

const awsBucket = async (s3: S3Client, bucket: string, now: Date): Promise<BucketDryRun> => {
  const {
    GetBucketLifecycleConfigurationCommand,
    GetObjectLegalHoldCommand,
    GetObjectRetentionCommand,
    paginateListObjectsV2,
  } = await import('@aws-sdk/client-s3');
  const failed = (what: string, error: unknown) =>
    new Error(`s3://${bucket}: ${what}: ${nameOf(error) ?? 'Error'}: ${messageOf(error)}`);
  let configured: { rules: LifecycleRule[]; notes: string[] };
  try {
    const configuration = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
    configured = dryRunRulesOfConfiguration(
      configuration.Rules ?? [],
      configuration.TransitionDefaultMinimumObjectSize,
    );
  } catch (error) {
    if (nameOf(error) !== 'NoSuchLifecycleConfiguration')
      throw failed('GetBucketLifecycleConfiguration', error);
    configured = { rules: [], notes: ['no lifecycle configuration: nothing transitions or expires'] };
  }
  const objects: StoredObject[] = [];
  try {
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket })) {
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined || item.LastModified === undefined) continue;
        objects.push({
          key: item.Key,
          writtenAt: item.LastModified.toISOString(),
          ...(item.Size === undefined ? {} : { size: item.Size }),
        });
      }
    }
  } catch (error) {
    throw failed('ListObjectsV2', error);
  }
  // Holds only matter to what would expire: ask about those objects alone.
  const expiring = expiringKeys(configured.rules, objects, now);
  let objectLock = true;
  /** The answer of a lock question; none for an object never held or retained, or no Object Lock. */
  const ask = async <T>(what: string, question: () => Promise<T>): Promise<T | undefined> => {
    if (!objectLock) return undefined;
    try {
      return await question();
    } catch (error) {
      if (nameOf(error) === 'NoSuchObjectLockConfiguration') return undefined;
      // A bucket without Object Lock: nothing in it can be held.
      if (nameOf(error) === 'InvalidRequest' && /object lock/i.test(messageOf(error))) {
        objectLock = false;
        return undefined;
      }
      throw failed(what, error);
    }
  };
  const withHolds: StoredObject[] = [];
  for (const object of objects) {
    if (!expiring.has(object.key)) {
      withHolds.push(object);
      continue;
    }
    const hold = await ask(`GetObjectLegalHold ${object.key}`, () =>
      s3.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: object.key })),
    );
    const retention = await ask(`GetObjectRetention ${object.key}`, () =>
      s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: object.key })),
    );
    const retainUntil = retention?.Retention?.RetainUntilDate?.toISOString();
    withHolds.push({
      ...object,
      ...(hold?.LegalHold?.Status === 'ON' ? { legalHold: true } : {}),
      ...(retainUntil === undefined ? {} : { retainUntil }),
    });
  }
  return {
    bucket,
    location: `s3://${bucket}`,
    objects: objects.length,
    rules: retentionDryRun(configured.rules, withHolds, now),
    notes: [
      ...configured.notes,
      ...(objectLock ? [] : ['Object Lock is not enabled on the bucket: nothing is held']),
    ],
  };
};

const awsTable = async (dynamo: DynamoDBClient, name: string, now: Date): Promise<TableDryRun> => {
  const { paginateScan } = await import('@aws-sdk/client-dynamodb');
  const records: { expiresAt?: number }[] = [];
  try {
    for await (const page of paginateScan(
      { client: dynamo },
      {
        TableName: name,
        ProjectionExpression: '#ttl',
        ExpressionAttributeNames: { '#ttl': TABLE_KEY.ttlAttribute },
      },
    )) {
      for (const item of page.Items ?? []) {
        const ttl = Number(item[TABLE_KEY.ttlAttribute]?.N);
        records.push(Number.isFinite(ttl) ? { expiresAt: ttl } : {});
      }
    }
  } catch (error) {
    throw new Error(`table ${name}: Scan: ${nameOf(error) ?? 'Error'}: ${messageOf(error)}`);
  }
  return { table: name, records: records.length, expired: expiredRecords(records, now).length };
};

const awsReport = async (
  invocation: Invocation,
  now: Date,
  buckets: readonly string[],
  tables: readonly string[],
): Promise<RetentionReport> => {
  const { env } = invocation.context.io;
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region)
    throw new UsageError('--bucket and --table need AWS_REGION (and AWS credentials) in the environment');
  const results: BucketDryRun[] = [];
  if (buckets.length > 0) {
    const { makeS3Client } = await import('#shared/adapters/s3-client.js');
    const s3 = await makeS3Client({ region });
    try {
      for (const bucket of buckets) {
        invocation.context.progress(`reading s3://${bucket}`);
        results.push(await awsBucket(s3, bucket, now));
      }
    } finally {
      s3.destroy();
    }
  }
  const counted: TableDryRun[] = [];
  if (tables.length > 0) {
    const { makeDynamoDbClient } = await import('#shared/adapters/dynamodb-client.js');
    const dynamo = makeDynamoDbClient({ region });
    try {
      for (const name of tables) {
        invocation.context.progress(`scanning table ${name}`);
        counted.push(await awsTable(dynamo, name, now));
      }
    } finally {
      dynamo.destroy();
    }
  }
  return {
    dryRun: true,
    now: now.toISOString(),
    source: 'aws',
    buckets: results,
    tables: tables.length > 0 ? counted : null,
    notes: tables.length > 0 ? [] : ['tables: none named (--table <name>)'],
  };
};

/** One row per key and what would happen to it; `nothing` for a rule with nothing to do. */
const rowsOf = (outcome: RuleOutcome): string[][] => {
  const rows = [
    ...Object.entries(outcome.transitions).flatMap(([storageClass, keys]) =>
      keys.map((key) => [outcome.ruleId, `→ ${storageClass}`, key]),
    ),
    ...outcome.deletions.map((key) => [outcome.ruleId, 'delete', key]),
    ...outcome.held.map(({ key, reason }) => [
      outcome.ruleId,
      reason === 'legal_hold' ? 'held: legal hold' : 'held: retention',
      key,
    ]),
  ];
  return rows.length > 0 ? rows : [[outcome.ruleId, 'nothing', '-']];
};

export const renderReport = (report: RetentionReport): string => {
  const lines = [
    `Retention dry-run as of ${report.now}${report.dataDir ? ` (local data in ${report.dataDir})` : ''}: nothing is transitioned or deleted.`,
  ];
  for (const bucket of report.buckets) {
    lines.push(
      '',
      `${bucket.bucket}  ${bucket.location}  (${bucket.objects} object${bucket.objects === 1 ? '' : 's'})`,
      table(['rule', 'action', 'key'], bucket.rules.flatMap(rowsOf)),
      ...bucket.notes.map((note) => `note: ${note}`),
    );
  }
  if (report.tables !== null)
    lines.push(
      '',
      table(
        ['table', 'records', 'TTL would delete'],
        report.tables.map((t) => [t.table, String(t.records), String(t.expired)]),
      ),
    );
  if (report.notes.length > 0) lines.push('', ...report.notes.map((note) => `note: ${note}`));
  return lines.join('\n');
};

export const retentionCommand: Command = {
  name: 'retention',
  summary:
    'dry-run of the retention policy: what each lifecycle rule would transition or delete, what holds keep (changes nothing)',
  options: {
    'data-dir': {
      type: 'string',
      placeholder: '<dir>',
      description: `the embedded runtime's data folder (default ${DEFAULT_DATA_DIR}, as npm start)`,
    },
    bucket: {
      type: 'string',
      multiple: true,
      placeholder: '<name>',
      description: 'read this S3 bucket and its lifecycle configuration instead, with your AWS credentials',
    },
    table: {
      type: 'string',
      multiple: true,
      placeholder: '<name>',
      description: 'count the records of this DynamoDB table whose TTL (expiresAt) has passed (a full Scan)',
    },
    now: {
      type: 'string',
      placeholder: '<iso>',
      description: 'evaluate at this date instead of now, e.g. 2027-03-01 (default: now)',
    },
  },
  details: `A dry run by construction: it only reads, and never transitions, deletes or changes anything.
Per lifecycle rule of each bucket it lists the objects that would be in another storage class by
then (the coldest they qualify for), those that would be deleted, and those old enough to expire
but held by a legal hold or an Object Lock retention not yet over (S3 keeps those versions).
Objects under 128 KB never transition (S3 Lifecycle's default minimum), though they expire.
Locally (the default) it reads the evidence and artifacts stores of the embedded runtime's data
folder with the rules infra/retention-policy.ts defines and CDK deploys; DynamoDB tables are not
read locally. With --bucket it reads each bucket's own lifecycle configuration, its current
objects (ListObjectsV2), and the legal hold and retention of those that would expire
(GetObjectLegalHold, GetObjectRetention); with --table it counts the records DynamoDB's TTL would
delete (a Scan of expiresAt; TTL deletes within days of it). Noncurrent versions are not listed.`,
  examples: [
    'conductor compliance retention',
    'conductor compliance retention --now 2027-12-01 --json',
    'conductor compliance retention --bucket "$EVIDENCE_BUCKET" --bucket "$ARTIFACTS_BUCKET" --table "$ROUTER_TABLE"',
  ],
  run: async (invocation) => {
    const now = nowOf(stringOption(invocation, 'now'));
    const buckets = listOption(invocation, 'bucket');
    const tables = listOption(invocation, 'table');
    const aws = buckets.length > 0 || tables.length > 0;
    if (aws && stringOption(invocation, 'data-dir') !== undefined)
      throw new UsageError(
        '--data-dir reads the local runtime, --bucket and --table read AWS: give one or the other',
      );
    const report = aws ? await awsReport(invocation, now, buckets, tables) : localReport(invocation, now);
    invocation.context.print(report, () => renderReport(report));
  },
};
