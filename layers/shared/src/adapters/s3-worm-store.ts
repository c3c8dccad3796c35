import type { S3Client } from '@aws-sdk/client-s3';
import {
  assertWormKey,
  assertWormPrefix,
  type LegalHolds,
  sha256Base64,
  type WormKeyPage,
  type WormListing,
  type WormStore,
  WormViolationError,
  wormListLimit,
} from '../ports/worm.js';

/**
 * The S3 SDK, loaded on first use: in a function bundle a dynamic import of it stays lazy, while a
 * static one is hoisted to the bundle's top and paid at every cold start (the S3 client is a fifth of
 * the authorize function's import time, and only its archive path needs it).
 */
const s3Sdk = () => import('@aws-sdk/client-s3');

const statusOf = (error: unknown): number | undefined =>
  (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
const nameOf = (error: unknown): string | undefined => (error as { name?: string } | undefined)?.name;

const isPreconditionFailed = (error: unknown): boolean =>
  nameOf(error) === 'PreconditionFailed' || statusOf(error) === 412;
const isNotFound = (error: unknown): boolean =>
  nameOf(error) === 'NoSuchKey' || nameOf(error) === 'NotFound' || statusOf(error) === 404;

/**
 * The WORM store on S3: a bucket with Object Lock, whose default retention (COMPLIANCE mode in production stages, GOVERNANCE elsewhere) applies
 * to every object written here. `PutObject` with `If-None-Match: *` creates an object only when the
 * key is free (S3 answers 412 otherwise), so a write never replaces a version; the SHA-256 checksum
 * is sent (Object Lock requires an integrity checksum on writes) and compared when the key is taken.
 */
export class S3WormStore implements WormStore, WormListing, LegalHolds {
  constructor(
    private readonly s3: Pick<S3Client, 'send'>,
    private readonly bucketName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async putOnce(
    key: string,
    body: string,
    contentType = 'application/octet-stream',
  ): Promise<'created' | 'exists'> {
    assertWormKey(key);
    const checksum = sha256Base64(body);
    const { PutObjectCommand } = await s3Sdk();
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucketName,
          Key: key,
          Body: body,
          ContentType: contentType,
          IfNoneMatch: '*',
          ChecksumAlgorithm: 'SHA256',
          ChecksumSHA256: checksum,
        }),
      );
      return 'created';
    } catch (error) {
      if (!isPreconditionFailed(error)) throw error;
    }
    if ((await this.#checksumOf(key)) !== checksum) {
      throw new WormViolationError(`${key} already holds different content; WORM objects are never replaced`);
    }
    return 'exists';
  }

  async get(key: string): Promise<string | undefined> {
    assertWormKey(key);
    const { GetObjectCommand } = await s3Sdk();
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucketName, Key: key }));
      return (await out.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    assertWormKey(key);
    const { DeleteObjectCommand, HeadObjectCommand } = await s3Sdk();
    let head: { VersionId?: string; ObjectLockRetainUntilDate?: Date; ObjectLockLegalHoldStatus?: string };
    try {
      head = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucketName, Key: key }));
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    if (head.ObjectLockLegalHoldStatus === 'ON') {
      throw new WormViolationError(`${key} is under legal hold`);
    }
    const until = head.ObjectLockRetainUntilDate;
    if (until && until.getTime() > this.now().getTime()) {
      throw new WormViolationError(`${key} is retained until ${until.toISOString()}`);
    }
    // Deleting the version itself: a plain DeleteObject would only hide it behind a delete marker.
    await this.s3.send(
      new DeleteObjectCommand({
        Bucket: this.bucketName,
        Key: key,
        ...(head.VersionId ? { VersionId: head.VersionId } : {}),
      }),
    );
  }

  /**
   * One ListObjectsV2 page (current versions only). `next` is the page's last key, given to the next
   * call as `StartAfter`: the same cursor as the file store's, and no continuation token to keep.
   */
  async list(
    prefix: string,
    options: { readonly startAfter?: string | undefined; readonly limit?: number | undefined } = {},
  ): Promise<WormKeyPage> {
    assertWormPrefix(prefix);
    const limit = wormListLimit(options.limit);
    const { ListObjectsV2Command } = await s3Sdk();
    const out = await this.s3.send(
      new ListObjectsV2Command({
        Bucket: this.bucketName,
        Prefix: prefix,
        MaxKeys: limit,
        ...(options.startAfter === undefined ? {} : { StartAfter: options.startAfter }),
      }),
    );
    const keys = (out.Contents ?? []).flatMap((object) => (object.Key === undefined ? [] : [object.Key]));
    const last = keys.at(-1);
    return out.IsTruncated && last !== undefined ? { keys, next: last } : { keys };
  }

  /** Puts or releases the object's legal hold (PutObjectLegalHold): a held object is never deleted. */
  async setLegalHold(key: string, on: boolean): Promise<void> {
    assertWormKey(key);
    const { PutObjectLegalHoldCommand } = await s3Sdk();
    try {
      await this.s3.send(
        new PutObjectLegalHoldCommand({
          Bucket: this.bucketName,
          Key: key,
          LegalHold: { Status: on ? 'ON' : 'OFF' },
        }),
      );
    } catch (error) {
      if (isNotFound(error)) throw new WormViolationError(`${key} does not exist: nothing to hold`);
      throw error;
    }
  }

  async legalHoldOf(key: string): Promise<boolean> {
    assertWormKey(key);
    const { GetObjectLegalHoldCommand } = await s3Sdk();
    try {
      const out = await this.s3.send(new GetObjectLegalHoldCommand({ Bucket: this.bucketName, Key: key }));
      return out.LegalHold?.Status === 'ON';
    } catch (error) {
      // S3 answers NoSuchObjectLockConfiguration for an object that never had a hold.
      if (isNotFound(error) || (error as { name?: string }).name === 'NoSuchObjectLockConfiguration')
        return false;
      throw error;
    }
  }

  /** The stored object's SHA-256: from its checksum when S3 has one, else by reading it. */
  async #checksumOf(key: string): Promise<string | undefined> {
    const { HeadObjectCommand } = await s3Sdk();
    const head = await this.s3.send(
      new HeadObjectCommand({ Bucket: this.bucketName, Key: key, ChecksumMode: 'ENABLED' }),
    );
    if (head.ChecksumSHA256 && !head.ChecksumSHA256.includes('-')) return head.ChecksumSHA256;
    const stored = await this.get(key);
    return stored === undefined ? undefined : sha256Base64(stored);
  }
}
