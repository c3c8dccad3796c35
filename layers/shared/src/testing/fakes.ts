import { createHash } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';

export { InMemoryTenantRecords } from '../adapters/memory-records.js';

import {
  assertWormKey,
  assertWormPrefix,
  type LegalHolds,
  type WormKeyPage,
  type WormListing,
  type WormStore,
  WormViolationError,
  wormListLimit,
} from '../ports/worm.js';

/**
 * An in-memory stand-in for a WormStore, for domain tests: the same refusals (different content under
 * a taken key, any delete: its retention never ends), and `objects` to look at what was written.
 */
export class InMemoryWormStore implements WormStore, WormListing, LegalHolds {
  readonly objects = new Map<string, { readonly body: string; readonly contentType?: string | undefined }>();
  readonly holds = new Set<string>();

  async setLegalHold(key: string, on: boolean): Promise<void> {
    await settle();
    if (!this.objects.has(key)) throw new WormViolationError(`${key} does not exist: nothing to hold`);
    if (on) this.holds.add(key);
    else this.holds.delete(key);
  }

  async legalHoldOf(key: string): Promise<boolean> {
    await settle();
    return this.holds.has(key);
  }

  async putOnce(key: string, body: string, contentType?: string): Promise<'created' | 'exists'> {
    await settle();
    assertWormKey(key);
    const existing = this.objects.get(key);
    if (existing === undefined) {
      this.objects.set(key, { body, contentType });
      return 'created';
    }
    if (existing.body !== body) throw new WormViolationError(`${key} already holds different content`);
    return 'exists';
  }

  async get(key: string): Promise<string | undefined> {
    await settle();
    return this.objects.get(key)?.body;
  }

  async delete(key: string): Promise<void> {
    await settle();
    if (this.objects.has(key)) throw new WormViolationError(`${key} is retained`);
  }

  async list(
    prefix: string,
    options: { readonly startAfter?: string | undefined; readonly limit?: number | undefined } = {},
  ): Promise<WormKeyPage> {
    await settle();
    assertWormPrefix(prefix);
    const limit = wormListLimit(options.limit);
    const { startAfter } = options;
    const after = [...this.objects.keys()]
      .filter((key) => key.startsWith(prefix) && (startAfter === undefined || key > startAfter))
      .sort();
    const keys = after.slice(0, limit);
    const last = keys.at(-1);
    return after.length > limit && last !== undefined ? { keys, next: last } : { keys };
  }
}

/**
 * Lets other callers run first, as a network round trip would; check-and-write stays atomic after it.
 * A microtask, not a timer, so the fake keeps working under `vi.useFakeTimers()`.
 */
const settle = (): Promise<void> => Promise.resolve();

/** A Powertools Logger that writes nothing, so tests keep their output to assertions. */
export const silentLogger = (serviceName = 'test'): Logger => new Logger({ serviceName, logLevel: 'SILENT' });

/**
 * A deterministic stand-in for the deployment's subject hasher (HMAC with the DSR key): the
 * SHA-256 of the subject under a fixed test salt, in the same `hmac-sha256:<hex>` form.
 */
export const testSubjectHasher = {
  hash: async (subject: string): Promise<string> =>
    `hmac-sha256:${createHash('sha256').update(`test-salt:${subject}`).digest('hex')}`,
};
