import * as z from 'zod';
import { canonicalJson, sha256Hex } from '#shared/ports/canonical-json.js';
import { tenantIdSchema } from '#shared/ports/identity.js';
import { formatPath, nonJson } from '#shared/ports/json-document.js';

/**
 * The execution trail as a hash chain: every event of a runbook execution is one entry, and each
 * entry carries the hash of the one before it, so an edited, removed, inserted or moved entry breaks
 * the chain where it happened. Pure: the stored trail (TrailLog) and the trail file build on it.
 */

export const TRAIL_KINDS = [
  'requested',
  'verified',
  'verification_failed',
  'approval_requested',
  'approved',
  'rejected',
  'step_started',
  'step_finished',
  'step_failed',
  'succeeded',
  'failed',
  'timed_out',
] as const;
export type TrailKind = (typeof TRAIL_KINDS)[number];

/** The `prevHash` of the genesis entry (seq 0): nothing comes before it. */
export const GENESIS_HASH = '0'.repeat(64);

/** Record ids and WORM keys pad the seq to 6 digits, so an execution stops here rather than mis-sort. */
export const MAX_TRAIL_ENTRIES = 1_000_000;

/** A detail nested deeper than this is refused: it is an event's facts, not a document. */
const MAX_DETAIL_DEPTH = 16;

/**
 * An execution id as the trail keys it: one WORM key segment (see `WORM_KEY`) without `#` (the record
 * id's separator), 1-128 characters.
 */
export const TRAIL_EXECUTION_ID = /^[A-Za-z0-9_=-][A-Za-z0-9._=-]{0,127}$/;

export interface TrailEntry {
  readonly executionId: string;
  readonly tenantId: string;
  /** 0-based position in the execution's trail. */
  readonly seq: number;
  /** ISO 8601 instant of the event. */
  readonly at: string;
  readonly kind: TrailKind;
  /** Who caused the event (an approver, the requester); absent for the engine's own events. */
  readonly actor?: string;
  /** The event's facts: `{ stage }`, `{ stepId, outputDigest }`… JSON only. */
  readonly detail: Readonly<Record<string, unknown>>;
  /** `hash` of the previous entry; `GENESIS_HASH` for seq 0. */
  readonly prevHash: string;
  /** SHA-256 (hex) of the canonical JSON (RFC 8785) of the entry without `hash`. */
  readonly hash: string;
}

/** What a caller says happened; the chain adds the position and the hashes. */
export type TrailEvent = Omit<TrailEntry, 'seq' | 'prevHash' | 'hash'>;

/** The last entry of a trail: what the execution record keeps (`trailHead`) to pin the trail's end. */
export interface TrailHead {
  readonly seq: number;
  readonly hash: string;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** How deep a value nests (a scalar is 0); for values `nonJson` accepted, so never past its limit. */
const depthOf = (value: unknown): number =>
  typeof value === 'object' && value !== null
    ? 1 + Object.values(value).reduce<number>((deepest, item) => Math.max(deepest, depthOf(item)), 0)
    : 0;

/** JSON that storage gives back unchanged, nested shallowly enough for DynamoDB (32 levels an item). */
const detailSchema = z.record(z.string(), z.unknown()).superRefine((detail, ctx) => {
  const found = nonJson(detail);
  if (found) ctx.addIssue({ code: 'custom', path: [...found.path], message: found.message });
  else if (depthOf(detail) > MAX_DETAIL_DEPTH) {
    ctx.addIssue({ code: 'custom', message: `nested deeper than ${MAX_DETAIL_DEPTH} levels` });
  }
});

/** A trail entry as stored or exported; an unknown field is refused (it would be content no hash covers). */
export const trailEntrySchema = z.strictObject({
  executionId: z.string().regex(TRAIL_EXECUTION_ID, {
    error: 'must be 1-128 letters, digits, ".", "_", "=" or "-", not starting with "."',
  }),
  tenantId: tenantIdSchema,
  seq: z
    .int()
    .min(0)
    .max(MAX_TRAIL_ENTRIES - 1),
  at: z.iso.datetime({ offset: true }),
  kind: z.enum(TRAIL_KINDS),
  actor: z.string().min(1).max(256).optional(),
  detail: detailSchema,
  prevHash: z.string().regex(HEX_SHA256, { error: 'must be 64 lower-case hex digits' }),
  hash: z.string().regex(HEX_SHA256, { error: 'must be 64 lower-case hex digits' }),
});
const unhashedEntrySchema = trailEntrySchema.omit({ hash: true });

/** The fields of an entry and nothing else (a stored record also has its id, version and dates). */
export const trailEntryOf = (value: TrailEntry): TrailEntry => ({
  executionId: value.executionId,
  tenantId: value.tenantId,
  seq: value.seq,
  at: value.at,
  kind: value.kind,
  ...(value.actor === undefined ? {} : { actor: value.actor }),
  detail: value.detail,
  prevHash: value.prevHash,
  hash: value.hash,
});

/** The hash an entry should carry: over its fields (other than `hash`), whatever else it holds. */
export const entryHash = (entry: Omit<TrailEntry, 'hash'>): string => {
  const { hash: _hash, ...content } = trailEntryOf({ ...entry, hash: '' });
  return sha256Hex(canonicalJson(content));
};

export const headOf = (entry: TrailEntry): TrailHead => ({ seq: entry.seq, hash: entry.hash });

/** What `verifyChain` should check against a known head (the execution record's `trailHead`). */
export const againstHead = (head: TrailHead): { length: number; lastHash: string } => ({
  length: head.seq + 1,
  lastHash: head.hash,
});

/** An entry that would extend a trail whose last entry does not match its own hash. */
export class BrokenTrailError extends Error {
  override readonly name = 'BrokenTrailError';
}

/**
 * The entry that follows `previous` (or the genesis entry): the next seq, `previous.hash` as its
 * `prevHash`, its own hash. `detail` is validated as JSON and stored in canonical form (an undefined
 * member is left out), so the entry hashes the same after any storage round trip.
 * Throws TypeError on an event that is not a valid entry (a programming error), BrokenTrailError when
 * `previous` does not match its hash.
 */
export const appendEntry = (previous: TrailEntry | undefined, next: TrailEvent): TrailEntry => {
  if (previous) {
    if (entryHash(previous) !== previous.hash) {
      throw new BrokenTrailError(
        `entry ${previous.seq} of execution ${previous.executionId} does not match its hash`,
      );
    }
    if (previous.executionId !== next.executionId || previous.tenantId !== next.tenantId) {
      throw new TypeError(
        `an event of execution ${next.executionId} cannot follow an entry of execution ${previous.executionId}`,
      );
    }
  }
  const seq = previous ? previous.seq + 1 : 0;
  const unhashed = {
    executionId: next.executionId,
    tenantId: next.tenantId,
    seq,
    at: next.at,
    kind: next.kind,
    ...(next.actor === undefined ? {} : { actor: next.actor }),
    detail: next.detail,
    prevHash: previous?.hash ?? GENESIS_HASH,
  };
  const checked = unhashedEntrySchema.safeParse(unhashed);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const where = issue?.path.length ? `${formatPath(issue.path)}: ` : '';
    throw new TypeError(`not a valid trail entry (seq ${seq}): ${where}${issue?.message ?? 'invalid'}`);
  }
  const entry = { ...unhashed, detail: JSON.parse(canonicalJson(next.detail)) as Record<string, unknown> };
  return { ...entry, hash: entryHash(entry) };
};

export type ChainFailureReason =
  /** The entry's content does not match its `hash`: it was edited. */
  | 'hash_mismatch'
  /** The entry's `prevHash` is not the hash of the entry before it (or of genesis, for seq 0). */
  | 'broken_link'
  /** Entries are missing before this one. */
  | 'sequence_gap'
  /** This entry is out of place: an earlier one comes after it, or it repeats a seq. */
  | 'reordered'
  /** Entries are missing at the end (from here on), against the known head. */
  | 'truncated'
  /** Entries go on past the known head (from here on): a forged extension, or a head never recorded. */
  | 'beyond_head'
  /** The entry belongs to another execution (or tenant). */
  | 'wrong_execution'
  /** The trail should start at genesis and its first entry is not seq 0. */
  | 'not_genesis';

export type ChainVerification =
  | {
      readonly ok: true;
      /** The trail's length up to the last entry (its seq + 1); 0 for no entries. */
      readonly length: number;
      /** The last entry's hash; `GENESIS_HASH` for no entries. */
      readonly lastHash: string;
    }
  | { readonly ok: false; readonly at: number; readonly reason: ChainFailureReason };

export interface ChainExpectation {
  /** @default the first entry's */
  readonly executionId?: string;
  /** @default the first entry's */
  readonly tenantId?: string;
  /**
   * Whether the entries must start at seq 0; false checks a window of a trail (its first link
   * unchecked).
   * @default true
   */
  readonly fromGenesis?: boolean;
  /** The trail's known length (head seq + 1): entries missing at the end, or past it, are detected. */
  readonly length?: number;
  /** The known head's hash: a trail that ends elsewhere, or was rewritten whole, is detected. */
  readonly lastHash?: string;
}

/**
 * Checks that `entries` are one execution's trail in order: each matches its hash, follows the
 * previous seq, and links to the previous hash. The first failure is reported with its index in
 * `entries` (`entries.length` for what is missing at the end) and the most specific reason: an
 * edited entry is `hash_mismatch` before anything about its place.
 *
 * A chain cannot tell that it ends early: the last entries of a trail can be dropped and the rest
 * still links. Truncation at the end is detected only against a known `length` or head hash (pin
 * them from the execution record's `trailHead`, see `againstHead`). Without a length, a head hash
 * the entries never reach reads as `truncated`; one they pass reads as `beyond_head`.
 */
export const verifyChain = (
  entries: readonly TrailEntry[],
  expect: ChainExpectation = {},
): ChainVerification => {
  const fromGenesis = expect.fromGenesis ?? true;
  const executionId = expect.executionId ?? entries[0]?.executionId;
  const tenantId = expect.tenantId ?? entries[0]?.tenantId;
  const fail = (at: number, reason: ChainFailureReason): ChainVerification => ({ ok: false, at, reason });

  for (const [index, entry] of entries.entries()) {
    if (entryHash(entry) !== entry.hash) return fail(index, 'hash_mismatch');
    if (entry.executionId !== executionId || entry.tenantId !== tenantId) {
      return fail(index, 'wrong_execution');
    }
    const previous = entries[index - 1];
    const expected = previous ? previous.seq + 1 : fromGenesis ? 0 : entry.seq;
    if (entry.seq !== expected) {
      // A seq skipped here that shows up later means the entries were moved, not lost.
      const skippedComesLater = entries
        .slice(index + 1)
        .some((later) => later.seq >= expected && later.seq < entry.seq);
      if (entry.seq < expected || skippedComesLater) return fail(index, 'reordered');
      return fail(index, previous ? 'sequence_gap' : 'not_genesis');
    }
    const link = previous ? previous.hash : entry.seq === 0 ? GENESIS_HASH : entry.prevHash;
    if (entry.prevHash !== link) return fail(index, 'broken_link');
  }

  const last = entries.at(-1);
  const length = last ? last.seq + 1 : 0;
  const lastHash = last?.hash ?? GENESIS_HASH;
  if (expect.length !== undefined) {
    if (length < expect.length) return fail(entries.length, 'truncated');
    if (length > expect.length) {
      return fail(Math.max(0, entries.length - (length - expect.length)), 'beyond_head');
    }
  }
  if (expect.lastHash !== undefined && expect.lastHash !== lastHash) {
    // The right length and another last hash: the trail was rewritten and re-hashed throughout.
    if (expect.length !== undefined) return fail(Math.max(0, entries.length - 1), 'hash_mismatch');
    const head = entries.findIndex((entry) => entry.hash === expect.lastHash);
    return head >= 0 ? fail(head + 1, 'beyond_head') : fail(entries.length, 'truncated');
  }
  return { ok: true, length, lastHash };
};
