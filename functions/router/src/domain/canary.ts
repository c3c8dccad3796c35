import { fmix32, fnv1a32 } from './bandits/hash.js';

/**
 * Sticky canary assignment (M1 part 2): which arm, baseline or candidate, serves a request. Derived,
 * never stored: a bucket in [0, ASSIGNMENT_BUCKETS) from the tenant, the experiment and the caller's
 * sticky key, by a platform-independent hash, so the same key lands in the same arm across
 * restarts, function instances and processes. A canary at p % serves the candidate to the buckets
 * below p % of the range, so raising p (5 -> 25 -> 100) only ever moves keys from the baseline to
 * the candidate, never back.
 */
export const ASSIGNMENT_BUCKETS = 10_000;

/** What a tenant makes its canary sticky by: the caller's session, its user, or the whole tenant. */
export const STICKY_KEY_KINDS = ['session', 'user', 'tenant'] as const;
export type StickyKeyKind = (typeof STICKY_KEY_KINDS)[number];

/** The bucket of a sticky key in one tenant's experiment. */
export const assignmentBucket = (tenantId: string, experimentId: string, key: string): number =>
  fmix32(fnv1a32(`${tenantId}\u0000${experimentId}\u0000${key}`)) % ASSIGNMENT_BUCKETS;

/** Whether a bucket is served by the candidate at a canary share of `percent` (0-100, hundredths count). */
export const servedByCandidate = (bucket: number, percent: number): boolean => {
  if (!(percent >= 0 && percent <= 100)) throw new RangeError(`canary percent must be 0-100, got ${percent}`);
  return bucket < Math.round(percent * (ASSIGNMENT_BUCKETS / 100));
};
