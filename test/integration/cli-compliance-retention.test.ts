import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import {
  GetBucketLifecycleConfigurationCommand,
  GetObjectLegalHoldCommand,
  GetObjectRetentionCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../cli/command.js';
import {
  dryRunRulesOfConfiguration,
  nowOf,
  readLocalStore,
} from '../../cli/commands/compliance-retention.js';
import { runCli } from '../../cli/run.js';
import { FileWormStore } from '../../infra/local/worm-store.js';
import type { CliRun } from './cli-harness.js';

/**
 * `conductor compliance retention`, the dry-run of the retention policy: objects written into a data
 * folder by the embedded runtime's own stores (evidence: the WORM store with its 396-day retention;
 * artifacts: no retention), then the command run as a user runs it, 91 days and 14 months later.
 * Then the AWS path, with S3 and DynamoDB mocked.
 */
const BIN = fileURLToPath(new URL('../../bin/conductor.mjs', import.meta.url));
const DAY_MS = 86_400_000;
const BIG = 'x'.repeat(200 * 1024); // above S3's 128 KB minimum transition size
const SMALL = '{"small":true}';

let work: string;
let dataDir: string;
/** When the objects were written (their files' modification time, give or take the test's run). */
let writtenAt: Date;
let listingBefore: string[];

/** `bin/conductor.mjs` as a child process from `work`, the way a user's shell runs it. */
const conductor = (args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> =>
  new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: work, env: { ...process.env, NODE_NO_WARNINGS: '1', ...env } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end('');
  });

// biome-ignore lint/suspicious/noExplicitAny: test output is inspected field by field
const jsonOf = (run: CliRun): any => {
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout);
};

/** Every file and folder under `dir`, with its modification time: what a dry run must leave alone. */
const listing = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => `${name} ${statSync(join(dir, name)).mtimeMs}`)
    .sort();

const later = (days: number): string => new Date(writtenAt.getTime() + days * DAY_MS).toISOString();
const monthsLater = (months: number): string => {
  const at = new Date(writtenAt);
  at.setUTCMonth(at.getUTCMonth() + months);
  return at.toISOString();
};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'conductor-retention-'));
  dataDir = join(work, '.conductor');
  writtenAt = new Date();
  // As infra/local/runtime.ts lays them out: the evidence store in worm/, the artifacts store in artifacts/.
  const evidence = new FileWormStore(join(dataDir, 'worm'));
  await evidence.putOnce('decisions/2026/batch-1.jsonl', BIG);
  await evidence.putOnce('decisions/2026/batch-2.jsonl', SMALL);
  await evidence.putOnce('compliance/SOC2/held.json', BIG);
  await evidence.setLegalHold('compliance/SOC2/held.json', true);
  const artifacts = new FileWormStore(join(dataDir, 'artifacts'), { retentionDays: 0 });
  await artifacts.putOnce('eval/run-1/report.json', BIG);
  await artifacts.putOnce('eval/run-0/report.json', BIG);
  await artifacts.putOnce('edge/snapshots/held.json', BIG);
  await artifacts.putOnce('edge/snapshots/small.json', SMALL);
  await artifacts.setLegalHold('edge/snapshots/held.json', true);
  // Written 100 days before the rest: in the archive tier 91 days later.
  const earlier = (writtenAt.getTime() - 100 * DAY_MS) / 1000;
  utimesSync(join(dataDir, 'artifacts', 'eval', 'run-0', 'report.json'), earlier, earlier);
  listingBefore = listing(dataDir);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('conductor compliance retention (local data)', () => {
  it('91 days later: lists what moves to the cold tiers, and leaves objects under 128 KB where they are', async () => {
    // Act
    const report = jsonOf(await conductor(['compliance', 'retention', '--now', later(91), '--json']));

    // Assess
    expect(report).toEqual({
      dryRun: true,
      now: later(91),
      source: 'local',
      dataDir,
      buckets: [
        {
          bucket: 'evidence',
          location: join(dataDir, 'worm'),
          objects: 3,
          rules: [
            {
              ruleId: 'expire-after-retention',
              transitions: { GLACIER_IR: ['compliance/SOC2/held.json', 'decisions/2026/batch-1.jsonl'] },
              deletions: [],
              held: [],
            },
            { ruleId: 'remove-expired-delete-markers', transitions: {}, deletions: [], held: [] },
          ],
          notes: [],
        },
        {
          bucket: 'artifacts',
          location: join(dataDir, 'artifacts'),
          objects: 4,
          rules: [
            {
              ruleId: 'warm-cold-expire',
              transitions: {
                STANDARD_IA: ['edge/snapshots/held.json', 'eval/run-1/report.json'],
                GLACIER: ['eval/run-0/report.json'],
              },
              deletions: [],
              held: [],
            },
          ],
          notes: [],
        },
      ],
      tables: null,
      notes: [expect.stringContaining('tables: not read locally')],
    });
  });

  it('14 months later: lists what expires, and what legal holds keep', async () => {
    // Act
    const report = jsonOf(await conductor(['compliance', 'retention', '--now', monthsLater(14), '--json']));

    // Assess
    expect(report.buckets.map((bucket: { rules: unknown }) => bucket.rules)).toEqual([
      [
        {
          ruleId: 'expire-after-retention',
          transitions: {},
          deletions: ['decisions/2026/batch-1.jsonl', 'decisions/2026/batch-2.jsonl'],
          held: [{ key: 'compliance/SOC2/held.json', reason: 'legal_hold' }],
        },
        { ruleId: 'remove-expired-delete-markers', transitions: {}, deletions: [], held: [] },
      ],
      [
        {
          ruleId: 'warm-cold-expire',
          transitions: {},
          deletions: ['edge/snapshots/small.json', 'eval/run-0/report.json', 'eval/run-1/report.json'],
          held: [{ key: 'edge/snapshots/held.json', reason: 'legal_hold' }],
        },
      ],
    ]);
  });

  it('prints one line per rule, action and key for people, and says it changes nothing', async () => {
    // Act
    const run = await conductor(['compliance', 'retention', '--data-dir', dataDir, '--now', monthsLater(14)]);

    // Assess
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split('\n').map((line) => line.replace(/ +/g, ' '));
    expect(lines[0]).toBe(
      `Retention dry-run as of ${monthsLater(14)} (local data in ${dataDir}): nothing is transitioned or deleted.`,
    );
    expect(lines).toEqual(
      expect.arrayContaining([
        `evidence ${join(dataDir, 'worm')} (3 objects)`,
        'RULE ACTION KEY',
        'expire-after-retention delete decisions/2026/batch-1.jsonl',
        'expire-after-retention held: legal hold compliance/SOC2/held.json',
        'remove-expired-delete-markers nothing -',
        `artifacts ${join(dataDir, 'artifacts')} (4 objects)`,
        'warm-cold-expire delete eval/run-0/report.json',
        'warm-cold-expire held: legal hold edge/snapshots/held.json',
      ]),
    );
    expect(run.stdout).toContain('tables: not read locally');
  });

  it('changes nothing in the data folder', () => {
    // The runs above read it three times.
    expect(listing(dataDir)).toEqual(listingBefore);
  });

  it('says in its help that it is a dry run', async () => {
    const run = await conductor(['compliance', 'retention', '--help']);

    expect(run.code).toBe(0);
    expect(run.stdout).toContain('A dry run by construction');
    expect(run.stdout).toContain('--data-dir <dir>');
    expect(run.stdout).toContain('--now <iso>');
  });

  it.each([
    [
      ['--now', 'next tuesday'],
      "--now must be an ISO date or date-time (e.g. 2027-03-01T00:00:00Z), got 'next tuesday'",
    ],
    [['--now', '2027-02-31T00:00:00Z'], '--now must be an ISO date'],
    [['--data-dir', 'nowhere'], 'no data folder at'],
    [['--data-dir', '.conductor', '--bucket', 'b'], 'give one or the other'],
    [['--bucket', 'evidence-bucket'], '--bucket and --table need AWS_REGION'],
  ])('refuses %j with a usage error (exit 2)', async (args, message) => {
    const run = await conductor(['compliance', 'retention', ...args], {
      AWS_REGION: '',
      AWS_DEFAULT_REGION: '',
    });

    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

describe('conductor compliance retention --bucket --table (AWS, mocked)', () => {
  const s3 = mockClient(S3Client);
  const dynamo = mockClient(DynamoDBClient);
  afterEach(() => {
    s3.reset();
    dynamo.reset();
  });
  afterAll(() => {
    s3.restore();
    dynamo.restore();
  });

  const now = new Date('2027-12-01T00:00:00Z');
  const daysAgo = (days: number) => new Date(now.getTime() - days * DAY_MS);
  const noLock = () =>
    Object.assign(new Error('The specified object does not have a ObjectLock configuration'), {
      name: 'NoSuchObjectLockConfiguration',
    });

  const runAws = async (args: readonly string[]) => {
    let out = '';
    let err = '';
    const io: CliIo = {
      stdout: { write: (text: string) => (out += text) },
      stderr: { write: (text: string) => (err += text) },
      env: { AWS_REGION: 'eu-west-1' },
      cwd: tmpdir(),
      readStdin: async () => '',
    };
    const code = await runCli(['compliance', 'retention', ...args, '--now', now.toISOString(), '--json'], io);
    return { code, out, err };
  };

  it('reads each bucket’s lifecycle, its objects, and the holds of those that would expire, and counts expired records', async () => {
    // Prepare: the evidence bucket as CDK deploys it, in two pages of objects
    s3.on(GetBucketLifecycleConfigurationCommand, { Bucket: 'conductor-evidence' }).resolves({
      Rules: [
        {
          ID: 'expire-after-retention',
          Status: 'Enabled',
          Filter: { Prefix: '' },
          Expiration: { Days: 396 },
          Transitions: [{ Days: 90, StorageClass: 'GLACIER_IR' }],
          NoncurrentVersionExpiration: { NoncurrentDays: 30 },
        },
        {
          ID: 'remove-expired-delete-markers',
          Status: 'Enabled',
          Filter: { Prefix: '' },
          Expiration: { ExpiredObjectDeleteMarker: true },
        },
      ],
    });
    s3.on(ListObjectsV2Command, { Bucket: 'conductor-evidence' })
      .resolvesOnce({
        Contents: [
          { Key: 'decisions/new.jsonl', LastModified: daysAgo(10), Size: 300_000 },
          { Key: 'decisions/cold.jsonl', LastModified: daysAgo(100), Size: 300_000 },
          { Key: 'decisions/tiny.jsonl', LastModified: daysAgo(100), Size: 1_000 },
        ],
        IsTruncated: true,
        NextContinuationToken: 'page-2',
      })
      .resolvesOnce({
        Contents: [
          { Key: 'decisions/old.jsonl', LastModified: daysAgo(400), Size: 300_000 },
          { Key: 'decisions/held.jsonl', LastModified: daysAgo(400), Size: 300_000 },
          { Key: 'decisions/extended.jsonl', LastModified: daysAgo(400), Size: 300_000 },
        ],
        IsTruncated: false,
      });
    s3.on(GetObjectLegalHoldCommand).rejects(noLock());
    s3.on(GetObjectLegalHoldCommand, { Key: 'decisions/held.jsonl' }).resolves({
      LegalHold: { Status: 'ON' },
    });
    s3.on(GetObjectRetentionCommand).resolves({
      Retention: { Mode: 'COMPLIANCE', RetainUntilDate: daysAgo(4) },
    });
    s3.on(GetObjectRetentionCommand, { Key: 'decisions/extended.jsonl' }).resolves({
      Retention: { Mode: 'COMPLIANCE', RetainUntilDate: daysAgo(-30) },
    });
    dynamo
      .on(ScanCommand)
      .resolvesOnce({
        Items: [
          { expiresAt: { N: String(now.getTime() / 1000 - 60) } },
          { expiresAt: { N: String(now.getTime() / 1000 + 60) } },
        ],
        LastEvaluatedKey: { pk: { S: 'a' }, sk: { S: 'b' } },
      })
      .resolvesOnce({ Items: [{ expiresAt: { N: String(now.getTime() / 1000 - 1) } }, {}] });

    // Act
    const run = await runAws(['--bucket', 'conductor-evidence', '--table', 'conductor-prod-router']);

    // Assess
    expect(run.code, run.err).toBe(0);
    expect(JSON.parse(run.out)).toEqual({
      dryRun: true,
      now: now.toISOString(),
      source: 'aws',
      buckets: [
        {
          bucket: 'conductor-evidence',
          location: 's3://conductor-evidence',
          objects: 6,
          rules: [
            {
              ruleId: 'expire-after-retention',
              transitions: { GLACIER_IR: ['decisions/cold.jsonl'] },
              deletions: ['decisions/old.jsonl'],
              held: [
                { key: 'decisions/held.jsonl', reason: 'legal_hold' },
                { key: 'decisions/extended.jsonl', reason: 'retention' },
              ],
            },
            { ruleId: 'remove-expired-delete-markers', transitions: {}, deletions: [], held: [] },
          ],
          notes: [],
        },
      ],
      tables: [{ table: 'conductor-prod-router', records: 4, expired: 2 }],
      notes: [],
    });
    // Holds were asked of the three objects old enough to expire, nothing else; nothing was written.
    expect(s3.commandCalls(GetObjectLegalHoldCommand).map((call) => call.args[0].input.Key)).toEqual([
      'decisions/old.jsonl',
      'decisions/held.jsonl',
      'decisions/extended.jsonl',
    ]);
    expect(s3.commandCalls(ListObjectsV2Command)[1]?.args[0].input).toMatchObject({
      Bucket: 'conductor-evidence',
      ContinuationToken: 'page-2',
    });
    expect(new Set(s3.calls().map((call) => call.args[0].constructor.name))).toEqual(
      new Set([
        'GetBucketLifecycleConfigurationCommand',
        'ListObjectsV2Command',
        'GetObjectLegalHoldCommand',
        'GetObjectRetentionCommand',
      ]),
    );
    expect(dynamo.commandCalls(ScanCommand)[0]?.args[0].input).toMatchObject({
      TableName: 'conductor-prod-router',
      ProjectionExpression: '#ttl',
      ExpressionAttributeNames: { '#ttl': 'expiresAt' },
    });
    expect(dynamo.commandCalls(ScanCommand)[1]?.args[0].input.ExclusiveStartKey).toEqual({
      pk: { S: 'a' },
      sk: { S: 'b' },
    });
  });

  it('says when a bucket has no lifecycle configuration, or no Object Lock', async () => {
    // Prepare
    s3.on(GetBucketLifecycleConfigurationCommand, { Bucket: 'plain' }).rejects(
      Object.assign(new Error('The lifecycle configuration does not exist'), {
        name: 'NoSuchLifecycleConfiguration',
      }),
    );
    s3.on(ListObjectsV2Command, { Bucket: 'plain' }).resolves({
      Contents: [{ Key: 'a.txt', LastModified: daysAgo(1000), Size: 5 }],
    });
    s3.on(GetBucketLifecycleConfigurationCommand, { Bucket: 'unlocked' }).resolves({
      Rules: [{ ID: 'expire', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } }],
    });
    s3.on(ListObjectsV2Command, { Bucket: 'unlocked' }).resolves({
      Contents: [
        { Key: 'logs/1.log', LastModified: daysAgo(31), Size: 5 },
        { Key: 'logs/2.log', LastModified: daysAgo(32), Size: 5 },
        { Key: 'other/3.log', LastModified: daysAgo(300), Size: 5 },
      ],
    });
    s3.on(GetObjectLegalHoldCommand, { Bucket: 'unlocked' }).rejects(
      Object.assign(new Error('Bucket is missing Object Lock Configuration'), { name: 'InvalidRequest' }),
    );

    // Act
    const run = await runAws(['--bucket', 'plain', '--bucket', 'unlocked']);

    // Assess
    expect(run.code, run.err).toBe(0);
    const report = JSON.parse(run.out);
    expect(report.buckets).toEqual([
      {
        bucket: 'plain',
        location: 's3://plain',
        objects: 1,
        rules: [],
        notes: ['no lifecycle configuration: nothing transitions or expires'],
      },
      {
        bucket: 'unlocked',
        location: 's3://unlocked',
        objects: 3,
        rules: [{ ruleId: 'expire', transitions: {}, deletions: ['logs/1.log', 'logs/2.log'], held: [] }],
        notes: ['Object Lock is not enabled on the bucket: nothing is held'],
      },
    ]);
    expect(report.tables).toBeNull();
    // Asked once: a bucket without Object Lock holds nothing.
    expect(s3.commandCalls(GetObjectLegalHoldCommand)).toHaveLength(1);
    expect(s3.commandCalls(GetObjectRetentionCommand)).toHaveLength(0);
  });

  it('names the bucket and the call when S3 refuses (exit 1)', async () => {
    s3.on(GetBucketLifecycleConfigurationCommand).rejects(
      Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }),
    );

    const run = await runAws(['--bucket', 'secret']);

    expect(run.code).toBe(1);
    expect(run.err).toContain('s3://secret: GetBucketLifecycleConfiguration: AccessDenied: Access Denied');
  });
});

describe('the lifecycle configuration as the dry-run reads it', () => {
  it('keeps enabled rules by age, with S3’s 128 KB minimum, and notes what it cannot evaluate', () => {
    const { rules, notes } = dryRunRulesOfConfiguration([
      {
        ID: 'warm',
        Status: 'Enabled',
        Filter: { And: { Prefix: 'eval/' } },
        Transitions: [
          { Days: 90, StorageClass: 'STANDARD_IA' },
          { Date: new Date('2030-01-01T00:00:00Z'), StorageClass: 'GLACIER' },
        ],
        Expiration: { Days: 396 },
      },
      { ID: 'off', Status: 'Disabled', Expiration: { Days: 1 } },
      { ID: 'tagged', Status: 'Enabled', Filter: { Tag: { Key: 'k', Value: 'v' } }, Expiration: { Days: 1 } },
      { Status: 'Enabled', Prefix: 'legacy/', Expiration: { Date: new Date('2030-01-01T00:00:00Z') } },
    ]);

    expect(rules).toEqual([
      {
        id: 'warm',
        prefix: 'eval/',
        transitions: [{ days: 90, storageClass: 'STANDARD_IA' }],
        expirationDays: 396,
        minimumTransitionBytes: 131_072,
      },
      { id: 'rule 4', prefix: 'legacy/', transitions: [], minimumTransitionBytes: 131_072 },
    ]);
    expect(notes).toEqual([
      'warm: a transition on a date (not by age), not evaluated',
      'off: disabled, not evaluated',
      'tagged: filters on tags or object size, not evaluated',
      'rule 4: an expiration on a date, not evaluated',
    ]);
  });

  it('drops the size minimum when the bucket transitions small objects (varies_by_storage_class)', () => {
    const { rules, notes } = dryRunRulesOfConfiguration(
      [{ ID: 'r', Status: 'Enabled', Transitions: [{ Days: 1, StorageClass: 'GLACIER' }] }],
      'varies_by_storage_class',
    );

    expect(rules).toEqual([{ id: 'r', transitions: [{ days: 1, storageClass: 'GLACIER' }] }]);
    expect(notes[0]).toContain('varies_by_storage_class');
  });
});

describe('--now', () => {
  it('takes an ISO date or date-time, and the clock without one', () => {
    expect(nowOf('2027-03-01').toISOString()).toBe('2027-03-01T00:00:00.000Z');
    expect(nowOf('2027-03-01T12:30:00+02:00').toISOString()).toBe('2027-03-01T10:30:00.000Z');
    expect(nowOf(undefined, () => 0).toISOString()).toBe('1970-01-01T00:00:00.000Z');
    expect(() => nowOf('1 March 2027')).toThrow(/--now must be an ISO date/);
  });
});

describe('readLocalStore', () => {
  it('reads a WORM store’s objects with their write time, size, legal hold and retain-until, and not its own folders', async () => {
    const root = mkdtempSync(join(tmpdir(), 'conductor-worm-read-'));
    try {
      const store = new FileWormStore(root);
      await store.putOnce('a/b.json', '{}');
      await store.setLegalHold('a/b.json', true);
      mkdirSync(join(root, 'empty'));
      const written = statSync(join(root, 'a', 'b.json')).mtimeMs;

      expect(readLocalStore(root, 10)).toEqual([
        {
          key: 'a/b.json',
          writtenAt: new Date(written).toISOString(),
          size: 2,
          legalHold: true,
          retainUntil: new Date(written + 10 * DAY_MS).toISOString(),
        },
      ]);
      expect(readLocalStore(join(root, 'missing'), 10)).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
