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

/** SHA-256 of the UTF-8 bytes, base64: the form of S3's `ChecksumSHA256`. */
export const sha256Base64 = (body: string | Uint8Array): string =>
  createHash('sha256').update(body).digest('base64');
