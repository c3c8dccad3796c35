/**
 * The embedded runtime's stand-in for S3 Object Lock (STACK.md: s3rver ignores Object Lock): a
 * filesystem WORM store behind the kernel's `WormStore` port. Objects are files under the root
 * (`<root>/<key>`), never changed once written:
 * - a write goes to a staging file created exclusively (`wx`), is fsynced and made read-only
 *   (0444), and is then hard-linked to its key; `link` fails when the key is taken, so an object
 *   appears complete or not at all (a crash leaves at most a stray staging file) and is never replaced;
 * - a second write of identical content is `exists` (retries are idempotent); different content is
 *   a `WormViolationError`;
 * - delete is refused with `WormViolationError` until `retentionDays` after the object was written
 *   (like COMPLIANCE-mode retention, counted from the file's modification time).
 *
 * - a legal hold (`setLegalHold`) is a marker file under `.holds/`: a held object is never deleted,
 *   whatever its age, until the hold is released.
 *
 * Deliberate differences from S3: no versions, and the content type is not kept.
 * File modes do not stop a process running as root; the refusals of this class do.
 */
import { randomUUID } from 'node:crypto';
import { type Dirent, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { chmod, link, mkdir, open, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { recordCall } from '#shared/adapters/call-meter.js';
import {
  assertWormKey,
  assertWormPrefix,
  type LegalHolds,
  type WormKeyPage,
  type WormListing,
  type WormStore,
  WormViolationError,
  wormListLimit,
} from '#shared/ports/worm.js';

/** About 13 months, the evidence bucket's default Object Lock retention (THIRTEEN_MONTHS in CDK). */
export const DEFAULT_RETENTION_DAYS = 396;
const DAY_MS = 24 * 60 * 60 * 1000;
const STAGING = '.staging';
const HOLDS = '.holds';
const STALE_STAGING_MS = 60 * 60 * 1000;

export interface FileWormStoreOptions {
  /** Days during which an object cannot be deleted (default 396). */
  readonly retentionDays?: number;
  /** Milliseconds since the epoch; default `Date.now`. */
  readonly clock?: () => number;
}

const errorCode = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code;

export class FileWormStore implements WormStore, WormListing, LegalHolds {
  readonly root: string;
  readonly retentionDays: number;
  readonly #clock: () => number;
  readonly #staging: string;

  constructor(root: string, options: FileWormStoreOptions = {}) {
    const retentionDays = options.retentionDays ?? DEFAULT_RETENTION_DAYS;
    if (!(retentionDays >= 0)) throw new RangeError(`retentionDays must be 0 or more, got ${retentionDays}`);
    this.root = resolve(root);
    this.retentionDays = retentionDays;
    this.#clock = options.clock ?? Date.now;
    this.#staging = join(this.root, STAGING);
    mkdirSync(this.#staging, { recursive: true });
    // Staging files of writes a crash interrupted were never linked, so never objects. Only old ones
    // go: another store on the same root may be writing right now.
    for (const name of readdirSync(this.#staging)) {
      const staged = join(this.#staging, name);
      const modified = statSync(staged, { throwIfNoEntry: false })?.mtimeMs;
      if (modified !== undefined && this.#clock() - modified > STALE_STAGING_MS)
        rmSync(staged, { force: true });
    }
  }

  async putOnce(key: string, body: string, _contentType?: string): Promise<'created' | 'exists'> {
    // Call accounting: what S3WormStore sends for this (PutObject with If-None-Match; a HeadObject
    // more when the object exists).
    recordCall('s3', 'PutObject', { requests: 1 });
    const path = this.#pathOf(key);
    const content = Buffer.from(body, 'utf8');
    const staged = join(this.#staging, `${randomUUID()}.tmp`);
    const handle = await open(staged, 'wx', 0o444);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      // The umask may have taken read bits away: set the mode exactly.
      await chmod(staged, 0o444);
      await mkdir(dirname(path), { recursive: true });
      try {
        await link(staged, path);
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') throw error;
        recordCall('s3', 'HeadObject', { requests: 1 });
        const existing = await readFile(path);
        if (!existing.equals(content)) {
          throw new WormViolationError(
            `${key} already holds different content; WORM objects are never replaced`,
          );
        }
        return 'exists';
      }
      await syncDirectory(dirname(path));
      return 'created';
    } finally {
      await rm(staged, { force: true });
    }
  }

  async get(key: string): Promise<string | undefined> {
    recordCall('s3', 'GetObject', { requests: 1 });
    try {
      return await readFile(this.#pathOf(key), 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.#pathOf(key);
    // As S3WormStore: one HeadObject reads the object's retention and legal hold, then DeleteObject.
    recordCall('s3', 'HeadObject', { requests: 1 });
    let writtenAt: number;
    try {
      writtenAt = (await stat(path)).mtimeMs;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return;
      throw error;
    }
    if (await this.#held(key)) throw new WormViolationError(`${key} is under legal hold`);
    const retainUntil = writtenAt + this.retentionDays * DAY_MS;
    if (this.#clock() < retainUntil) {
      throw new WormViolationError(`${key} is retained until ${new Date(retainUntil).toISOString()}`);
    }
    recordCall('s3', 'DeleteObject', { requests: 1 });
    await unlink(path);
  }

  async setLegalHold(key: string, on: boolean): Promise<void> {
    recordCall('s3', 'PutObjectLegalHold', { requests: 1 });
    const path = this.#pathOf(key);
    if (!(await stat(path).catch(() => undefined)))
      throw new WormViolationError(`${key} does not exist: nothing to hold`);
    const marker = join(this.root, HOLDS, ...key.split('/'));
    if (on) {
      await mkdir(dirname(marker), { recursive: true });
      await writeFile(marker, '');
    } else {
      await rm(marker, { force: true });
    }
  }

  async legalHoldOf(key: string): Promise<boolean> {
    recordCall('s3', 'GetObjectLegalHold', { requests: 1 });
    return this.#held(key);
  }

  async #held(key: string): Promise<boolean> {
    return (await stat(join(this.root, HOLDS, ...key.split('/'))).catch(() => undefined)) !== undefined;
  }

  /** The keys stored under `prefix` (a folder of keys, e.g. `decisions/2026`), sorted. Local only. */
  async keys(prefix = ''): Promise<string[]> {
    const start = prefix === '' ? this.root : this.#pathOf(prefix.replace(/\/+$/, ''));
    const found: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return;
        throw error;
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (path === this.#staging || path === join(this.root, HOLDS)) continue;
        if (entry.isDirectory()) await walk(path);
        else if (entry.isFile()) found.push(relative(this.root, path).split(sep).join('/'));
      }
    };
    await walk(start);
    return found.sort();
  }

  /**
   * A page of the keys starting with `prefix`, as S3WormStore.list pages them: the folder the
   * prefix ends in is walked, then filtered (a prefix need not end at a `/`).
   */
  async list(
    prefix: string,
    options: { readonly startAfter?: string | undefined; readonly limit?: number | undefined } = {},
  ): Promise<WormKeyPage> {
    assertWormPrefix(prefix);
    const limit = wormListLimit(options.limit);
    recordCall('s3', 'ListObjectsV2', { requests: 1 });
    const { startAfter } = options;
    const folder = prefix.slice(0, Math.max(0, prefix.lastIndexOf('/')));
    const after = (await this.keys(folder)).filter(
      (key) => key.startsWith(prefix) && (startAfter === undefined || key > startAfter),
    );
    const keys = after.slice(0, limit);
    const last = keys.at(-1);
    return after.length > limit && last !== undefined ? { keys, next: last } : { keys };
  }

  /** Where `key` lives: always inside the root (the key grammar rules out `..` and absolute paths). */
  #pathOf(key: string): string {
    assertWormKey(key);
    return join(this.root, ...key.split('/'));
  }
}

/** Makes a new directory entry durable; a no-op where directories cannot be opened (Windows). */
const syncDirectory = async (dir: string): Promise<void> => {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    if (!['EISDIR', 'EPERM', 'EINVAL', 'EACCES'].includes(errorCode(error) ?? '')) throw error;
  } finally {
    await handle?.close();
  }
};
