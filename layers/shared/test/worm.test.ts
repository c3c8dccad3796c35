import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  GetObjectLegalHoldCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CallMeter, setAmbientCallMeter } from '#shared/adapters/call-meter.js';
import { S3WormStore } from '#shared/adapters/s3-worm-store.js';
import { InvalidWormKeyError, sha256Base64, WormViolationError } from '#shared/ports/worm.js';
import { FileWormStore } from '../../../infra/local/worm-store.js';

const BUCKET = 'conductor-evidence';
const KEY = 'decisions/2026/03/01/0b7c7f9e-5d0e-4d4b-9a53-2f3f1c1f0a11.jsonl';
const BODY = '{"decisionId":"dec_1","allow":true}\n';

const s3Error = (name: string, status: number): S3ServiceException =>
  new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });

describe('S3WormStore', () => {
  const client = new S3Client({ region: 'us-east-1' });
  const s3 = mockClient(client);
  const now = new Date('2026-03-01T12:00:00.000Z');
  const store = new S3WormStore(client, BUCKET, () => now);

  afterEach(() => s3.reset());

  it('creates an object only if the key is free, with a SHA-256 checksum and the content type', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});

    // Act
    const outcome = await store.putOnce(KEY, BODY, 'application/x-ndjson');

    // Assess
    expect(outcome).toBe('created');
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: BUCKET,
      Key: KEY,
      Body: BODY,
      ContentType: 'application/x-ndjson',
      IfNoneMatch: '*',
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: sha256Base64(BODY),
    });
    expect(s3).not.toHaveReceivedCommand(HeadObjectCommand);
  });

  it('answers exists when S3 says 412 PreconditionFailed and the stored object has the same checksum', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    s3.on(HeadObjectCommand).resolves({ ChecksumSHA256: sha256Base64(BODY) });

    // Act
    const outcome = await store.putOnce(KEY, BODY);

    // Assess
    expect(outcome).toBe('exists');
    expect(s3).toHaveReceivedCommandWith(HeadObjectCommand, {
      Bucket: BUCKET,
      Key: KEY,
      ChecksumMode: 'ENABLED',
    });
  });

  it('refuses with WormViolationError when the taken key holds different content', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    s3.on(HeadObjectCommand).resolves({ ChecksumSHA256: sha256Base64('something else') });

    // Act
    const outcome = store.putOnce(KEY, BODY);

    // Assess
    await expect(outcome).rejects.toBeInstanceOf(WormViolationError);
  });

  it('compares by reading the object when S3 keeps no SHA-256 checksum for it', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
    s3.on(HeadObjectCommand).resolves({});
    s3.on(GetObjectCommand).resolves({
      Body: { transformToString: async () => BODY },
    } as unknown as GetObjectCommandOutput);

    // Act
    const outcome = await store.putOnce(KEY, BODY);

    // Assess
    expect(outcome).toBe('exists');
    expect(s3).toHaveReceivedCommandWith(GetObjectCommand, { Bucket: BUCKET, Key: KEY });
  });

  it('passes any other failure on (the caller retries): nothing is reported as stored', async () => {
    // Prepare
    s3.on(PutObjectCommand).rejects(s3Error('AccessDenied', 403));

    // Act
    const outcome = store.putOnce(KEY, BODY);

    // Assess
    await expect(outcome).rejects.toMatchObject({ name: 'AccessDenied' });
    expect(s3).not.toHaveReceivedCommand(HeadObjectCommand);
  });

  it('reads an object, and undefined for a missing key', async () => {
    // Prepare
    s3.on(GetObjectCommand, { Key: KEY }).resolves({
      Body: { transformToString: async () => BODY },
    } as unknown as GetObjectCommandOutput);
    s3.on(GetObjectCommand, { Key: 'decisions/missing.jsonl' }).rejects(s3Error('NoSuchKey', 404));

    // Act
    const found = await store.get(KEY);
    const missing = await store.get('decisions/missing.jsonl');

    // Assess
    expect(found).toBe(BODY);
    expect(missing).toBeUndefined();
  });

  it('refuses to delete before the retain-until date or under legal hold, and deletes the version after', async () => {
    // Prepare
    s3.on(HeadObjectCommand, { Key: 'retained' }).resolves({
      VersionId: 'v1',
      ObjectLockRetainUntilDate: new Date('2027-04-01T00:00:00.000Z'),
    });
    s3.on(HeadObjectCommand, { Key: 'held' }).resolves({ VersionId: 'v2', ObjectLockLegalHoldStatus: 'ON' });
    s3.on(HeadObjectCommand, { Key: 'expired' }).resolves({
      VersionId: 'v3',
      ObjectLockRetainUntilDate: new Date('2026-02-28T00:00:00.000Z'),
    });
    s3.on(DeleteObjectCommand).resolves({});

    // Act + Assess
    await expect(store.delete('retained')).rejects.toBeInstanceOf(WormViolationError);
    await expect(store.delete('held')).rejects.toBeInstanceOf(WormViolationError);
    expect(s3).not.toHaveReceivedCommand(DeleteObjectCommand);
    await store.delete('expired');
    expect(s3).toHaveReceivedCommandTimes(DeleteObjectCommand, 1);
    expect(s3).toHaveReceivedCommandWith(DeleteObjectCommand, {
      Bucket: BUCKET,
      Key: 'expired',
      VersionId: 'v3',
    });
  });

  it('puts and reads legal holds with PutObjectLegalHold and GetObjectLegalHold', async () => {
    // Prepare
    s3.on(PutObjectLegalHoldCommand).resolves({});
    s3.on(GetObjectLegalHoldCommand).resolves({ LegalHold: { Status: 'ON' } });
    const store = new S3WormStore(client, BUCKET);

    // Act
    await store.setLegalHold(KEY, true);
    const held = await store.legalHoldOf(KEY);

    // Assess
    expect(s3).toHaveReceivedCommandWith(PutObjectLegalHoldCommand, {
      Bucket: BUCKET,
      Key: KEY,
      LegalHold: { Status: 'ON' },
    });
    expect(held).toBe(true);
    s3.on(GetObjectLegalHoldCommand).rejects(s3Error('NoSuchObjectLockConfiguration', 404));
    expect(await store.legalHoldOf(KEY)).toBe(false);
  });

  it('lists a page of keys under a prefix with ListObjectsV2, its last key the cursor of the next', async () => {
    // Prepare
    s3.on(ListObjectsV2Command, { StartAfter: undefined }).resolves({
      Contents: [{ Key: 'decisions/2026/03/01/a.jsonl' }, { Key: 'decisions/2026/03/01/b.jsonl' }],
      IsTruncated: true,
    });
    s3.on(ListObjectsV2Command, { StartAfter: 'decisions/2026/03/01/b.jsonl' }).resolves({
      Contents: [{ Key: 'decisions/2026/03/01/c.jsonl' }],
      IsTruncated: false,
    });

    // Act
    const first = await store.list('decisions/2026/03/01/', { limit: 2 });
    const second = await store.list('decisions/2026/03/01/', { limit: 2, startAfter: first.next });

    // Assess
    expect(first).toEqual({
      keys: ['decisions/2026/03/01/a.jsonl', 'decisions/2026/03/01/b.jsonl'],
      next: 'decisions/2026/03/01/b.jsonl',
    });
    expect(second).toEqual({ keys: ['decisions/2026/03/01/c.jsonl'] });
    expect(s3).toHaveReceivedNthCommandWith(ListObjectsV2Command, 1, {
      Bucket: BUCKET,
      Prefix: 'decisions/2026/03/01/',
      MaxKeys: 2,
    });
    expect(s3).toHaveReceivedNthCommandWith(ListObjectsV2Command, 2, {
      Bucket: BUCKET,
      Prefix: 'decisions/2026/03/01/',
      MaxKeys: 2,
      StartAfter: 'decisions/2026/03/01/b.jsonl',
    });
  });

  it('lists 1000 keys a page unless told fewer, and an empty prefix for none', async () => {
    // Prepare
    s3.on(ListObjectsV2Command).resolves({});

    // Act
    const page = await store.list('decisions/2026/03/02/');

    // Assess
    expect(page).toEqual({ keys: [] });
    expect(s3).toHaveReceivedCommandWith(ListObjectsV2Command, { MaxKeys: 1000 });
  });

  it('refuses a prefix outside the key grammar and a page size outside 1-1000, before calling S3', async () => {
    for (const prefix of ['../', '/decisions', 'a//', '.hidden/']) {
      await expect(store.list(prefix)).rejects.toBeInstanceOf(InvalidWormKeyError);
    }
    for (const limit of [0, 1001, 1.5]) {
      await expect(store.list('decisions/', { limit })).rejects.toBeInstanceOf(RangeError);
    }
    expect(s3).not.toHaveReceivedCommand(ListObjectsV2Command);
  });

  it('refuses keys that are not safe as both S3 keys and file paths, before calling S3', async () => {
    for (const key of ['../escape', '/absolute', 'a//b', '.hidden/x', 'a/./b', 'sp ace', '']) {
      await expect(store.putOnce(key, BODY)).rejects.toBeInstanceOf(InvalidWormKeyError);
    }
    expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
  });
});

describe('FileWormStore', () => {
  const roots: string[] = [];
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'worm-test-'));
    roots.push(root);
  });
  afterAll(() => {
    for (const dir of roots) rmSync(dir, { recursive: true, force: true });
  });
  const fileOf = (key: string): string => join(root, ...key.split('/'));

  it('creates an object as a read-only file under its key', async () => {
    // Prepare
    const store = new FileWormStore(root);

    // Act
    const outcome = await store.putOnce(KEY, BODY);

    // Assess
    expect(outcome).toBe('created');
    expect(await store.get(KEY)).toBe(BODY);
    expect(statSync(fileOf(KEY)).mode & 0o777).toBe(0o444);
    expect(await store.keys()).toEqual([KEY]);
    expect(readdirSync(join(root, '.staging'))).toEqual([]);
  });

  it('answers exists for identical content and refuses different content, keeping the original', async () => {
    // Prepare
    const store = new FileWormStore(root);
    await store.putOnce(KEY, BODY);

    // Act
    const again = await store.putOnce(KEY, BODY);
    const different = store.putOnce(KEY, BODY.replace('true', 'false'));

    // Assess
    expect(again).toBe('exists');
    await expect(different).rejects.toBeInstanceOf(WormViolationError);
    expect(await store.get(KEY)).toBe(BODY);
  });

  it('creates exactly one object when the same write races itself', async () => {
    // Prepare
    const store = new FileWormStore(root);

    // Act
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => store.putOnce(KEY, BODY)));

    // Assess
    expect(outcomes.filter((o) => o === 'created')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'exists')).toHaveLength(7);
    expect(await store.get(KEY)).toBe(BODY);
  });

  it('refuses to delete before the retention period ends, and deletes after it', async () => {
    // Prepare
    let now = Date.now();
    const store = new FileWormStore(root, { retentionDays: 396, clock: () => now });
    await store.putOnce(KEY, BODY);

    // Act + Assess
    await expect(store.delete(KEY)).rejects.toBeInstanceOf(WormViolationError);
    now += 395 * 24 * 3600 * 1000;
    await expect(store.delete(KEY)).rejects.toBeInstanceOf(WormViolationError);
    expect(await store.get(KEY)).toBe(BODY);
    now += 2 * 24 * 3600 * 1000;
    await store.delete(KEY);
    expect(await store.get(KEY)).toBeUndefined();
    await expect(store.delete(KEY)).resolves.toBeUndefined();
  });

  it('never deletes an object under legal hold, even past its retention, until the hold is released', async () => {
    // Prepare
    let now = Date.now();
    const store = new FileWormStore(root, { retentionDays: 1, clock: () => now });
    await store.putOnce(KEY, BODY);
    await store.setLegalHold(KEY, true);
    now += 10 * 24 * 3600 * 1000;

    // Act + Assess
    await expect(store.delete(KEY)).rejects.toThrow(/legal hold/);
    expect(await store.legalHoldOf(KEY)).toBe(true);
    expect(await store.keys()).toEqual([KEY]);
    await store.setLegalHold(KEY, false);
    await store.delete(KEY);
    expect(await store.get(KEY)).toBeUndefined();
    await expect(store.setLegalHold('missing/key.json', true)).rejects.toBeInstanceOf(WormViolationError);
  });

  it('meters a delete as S3WormStore makes it: one HeadObject, then DeleteObject only when it deletes', async () => {
    // Prepare
    let now = Date.now();
    const store = new FileWormStore(root, { retentionDays: 1, clock: () => now });
    await store.putOnce(KEY, BODY);
    const callsOf = async (work: () => Promise<unknown>) => {
      const meter = new CallMeter();
      setAmbientCallMeter(meter);
      try {
        await work().catch(() => undefined);
      } finally {
        setAmbientCallMeter(undefined);
      }
      return meter.lines().map((line) => `${line.service}.${line.operation}:${line.calls}`);
    };

    // Act
    const refused = await callsOf(() => store.delete(KEY));
    now += 2 * 24 * 3600 * 1000;
    const deleted = await callsOf(() => store.delete(KEY));
    const missing = await callsOf(() => store.delete(KEY));

    // Assess
    expect(refused).toEqual(['s3.HeadObject:1']);
    expect(deleted).toEqual(['s3.DeleteObject:1', 's3.HeadObject:1']);
    expect(missing).toEqual(['s3.HeadObject:1']);
  });

  it('keeps the default retention of the evidence bucket (396 days)', () => {
    expect(new FileWormStore(root).retentionDays).toBe(396);
  });

  it('keeps what another store on the same folder wrote, with the same refusals', async () => {
    // Prepare
    await new FileWormStore(root).putOnce(KEY, BODY);
    const other = new FileWormStore(root);

    // Act + Assess
    expect(await other.putOnce(KEY, BODY)).toBe('exists');
    await expect(other.putOnce(KEY, 'tampered\n')).rejects.toBeInstanceOf(WormViolationError);
    await expect(other.delete(KEY)).rejects.toBeInstanceOf(WormViolationError);
  });

  it('refuses keys that would leave its folder or touch its staging area', async () => {
    const store = new FileWormStore(root);
    for (const key of ['../escape', '/etc/passwd', 'a/../../b', '.staging/x', 'a\\b']) {
      await expect(store.putOnce(key, BODY)).rejects.toBeInstanceOf(InvalidWormKeyError);
    }
    expect(await store.keys()).toEqual([]);
  });

  it('lists the keys starting with a prefix, in order, a page at a time, as S3 does', async () => {
    // Prepare
    const store = new FileWormStore(root);
    const keys = [
      'decisions/2026/03/01/20260301T235959000Z-b.jsonl',
      'decisions/2026/03/01/20260301T120000000Z-a.jsonl',
      'decisions/2026/03/01/20260301T120500000Z-c.jsonl',
      'decisions/2026/03/02/20260302T000000000Z-d.jsonl',
      'runbooks/acme/x/000000.json',
    ];
    for (const key of keys) await store.putOnce(key, BODY);
    await store.setLegalHold(keys[0] as string, true);

    // Act
    const first = await store.list('decisions/2026/03/01/', { limit: 2 });
    const second = await store.list('decisions/2026/03/01/', { limit: 2, startAfter: first.next });
    const partial = await store.list('decisions/2026/03/01/20260301T12');
    const missing = await store.list('decisions/2027/');

    // Assess
    expect(first).toEqual({
      keys: [
        'decisions/2026/03/01/20260301T120000000Z-a.jsonl',
        'decisions/2026/03/01/20260301T120500000Z-c.jsonl',
      ],
      next: 'decisions/2026/03/01/20260301T120500000Z-c.jsonl',
    });
    expect(second).toEqual({ keys: ['decisions/2026/03/01/20260301T235959000Z-b.jsonl'] });
    expect(partial.keys).toEqual(first.keys);
    expect(missing).toEqual({ keys: [] });
    expect((await store.list('')).keys).toEqual([...keys].sort());
  });

  it('never counts a stray staging file (a write a crash interrupted) as an object', async () => {
    // Prepare
    const store = new FileWormStore(root);
    writeFileSync(join(root, '.staging', 'interrupted.tmp'), 'half a recor');

    // Act
    const keys = await store.keys();
    const listed = await store.list('');

    // Assess
    expect(keys).toEqual([]);
    expect(listed).toEqual({ keys: [] });
    expect(await store.putOnce(KEY, BODY)).toBe('created');
  });
});
