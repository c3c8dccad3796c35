import { createHash } from 'node:crypto';

/**
 * Port: write-once, read-many storage (the decision-log archive now, compliance evidence later).
 * An object is written once and never changed; it cannot be deleted before its retention ends.
 * On AWS this is S3 Object Lock (COMPLIANCE mode, the bucket's default retention); the embedded
 * runtime uses a filesystem stand-in with the same refusals (`infra/local/worm-store.ts`).
 */
export interface WormStore {
  /**
   * Writes `body` under `key` unless something is there already. Idempotent: `exists` when the
   * stored content is identical (a retried write); rejects with `WormViolationError` when it differs.
   */
  putOnce(key: string, body: string, contentType?: string): Promise<'created' | 'exists'>;
  /** The stored content, or undefined when nothing is stored under `key`. */
  get(key: string): Promise<string | undefined>;
  /**
   * Removes an object whose retention has ended; rejects with `WormViolationError` before that (or
   * while a legal hold is on). Nothing stored under `key` is not an error.
   */
  delete(key: string): Promise<void>;
}

/** One page of `WormListing.list`: keys in ascending order; `next`, when set, is `startAfter` for the next page. */
export interface WormKeyPage {
  readonly keys: readonly string[];
  readonly next?: string;
}

/** Keys a page of `WormListing.list` holds at most (S3 ListObjectsV2's MaxKeys ceiling). */
export const WORM_LIST_LIMIT = 1000;

/**
 * Port: the keys of a WORM store under a prefix, for readers that find objects by their key layout
 * (the decision archive's day folders). Keys come in ascending order (S3's UTF-8 byte order; keys
 * are ASCII, so plain string order), those after `startAfter` only, at most `limit` a page
 * (1-WORM_LIST_LIMIT, default WORM_LIST_LIMIT). `prefix` is a plain string prefix, as S3's: `''`,
 * a folder (`decisions/2026/03/01/`) or the start of a key (`decisions/2026/03/01/20260301T12`).
 */
export interface WormListing {
  list(
    prefix: string,
    options?: { readonly startAfter?: string | undefined; readonly limit?: number | undefined },
  ): Promise<WormKeyPage>;
}

/** A store that also lists (the S3 and file stores do): how a composition root finds out. */
export const isWormListing = <T extends object>(store: T): store is T & WormListing =>
  typeof (store as Partial<WormListing>).list === 'function';

/**
 * Port: legal holds on a WORM store's objects (S3 Object Lock legal hold; locally a marker the file
 * store honours). An object under hold cannot be deleted, whatever its retention; releasing the hold
 * leaves its retention as it was. Setting a hold on a missing object is a WormViolationError.
 */
export interface LegalHolds {
  setLegalHold(key: string, on: boolean): Promise<void>;
  legalHoldOf(key: string): Promise<boolean>;
}

/** An attempt to change or remove what a WORM store keeps: overwrite with other content, early delete. */
export class WormViolationError extends Error {
  override readonly name = 'WormViolationError';
}

/** A key a WORM store does not accept (see `WORM_KEY`). */
export class InvalidWormKeyError extends RangeError {
  override readonly name = 'InvalidWormKeyError';
}

/**
 * Keys are `/`-separated segments of letters, digits, `.`, `_`, `=` and `-`, none starting with a dot
 * (so no `..`, no hidden files), at most 1024 characters: the same key works as an S3 key and as a
 * relative file path.
 */
export const WORM_KEY = /^[A-Za-z0-9_=-][A-Za-z0-9._=-]*(\/[A-Za-z0-9_=-][A-Za-z0-9._=-]*)*$/;

export const assertWormKey = (key: string): void => {
  if (key.length > 1024 || !WORM_KEY.test(key)) {
    throw new InvalidWormKeyError(`'${key}' is not a valid WORM key (see WORM_KEY)`);
  }
};

/** A listing prefix: empty, or a key's start (a trailing `/` allowed) that the key grammar accepts. */
export const assertWormPrefix = (prefix: string): void => {
  const body = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (prefix !== '' && (body.length > 1024 || !WORM_KEY.test(body))) {
    throw new InvalidWormKeyError(`'${prefix}' is not a valid WORM key prefix (see WORM_KEY)`);
  }
};

/** The page size `WormListing.list` uses: `limit`, checked, or WORM_LIST_LIMIT. */
export const wormListLimit = (limit: number | undefined): number => {
  if (limit === undefined) return WORM_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > WORM_LIST_LIMIT) {
    throw new RangeError(`a listing page holds 1-${WORM_LIST_LIMIT} keys, got ${limit}`);
  }
  return limit;
};

/** SHA-256 of the UTF-8 bytes, base64: the form of S3's `ChecksumSHA256`. */
export const sha256Base64 = (body: string | Uint8Array): string =>
  createHash('sha256').update(body).digest('base64');
