import { ConflictError } from '#shared/errors.js';
import { canonicalJson } from '#shared/ports/canonical-json.js';
import type { TenantRecord, TenantRecords } from '#shared/ports/records.js';
import type { SubjectHasher } from '#shared/ports/subject-hash.js';
import type { Clock } from '#shared/ports/system.js';
import type { WormStore } from '#shared/ports/worm.js';
import {
  againstHead,
  appendEntry,
  BrokenTrailError,
  type ChainVerification,
  headOf,
  MAX_TRAIL_ENTRIES,
  type TrailEntry,
  type TrailHead,
  trailEntryOf,
  verifyChain,
} from './trail.js';

/**
 * The stored trail of each execution: hot entries in the pillar's table (one record per entry, so a
 * create-on-absence claims each seq) and, for each, a locked copy in the WORM evidence store that
 * nobody can edit or delete. The hot copy serves the timeline; the WORM copy is what proves it.
 */
export const TRAIL_ENTITY = 'TRAIL';
export const TRAIL_CONTENT_TYPE = 'application/json';

export interface TrailRecord extends TenantRecord, TrailEntry {}

/** Appends that lose the race for a seq this many times give up (409 `trail_contended`). */
const APPEND_ATTEMPTS = 5;
/**
 * Entries read a call: one strongly consistent Query on the execution's ids, billed by the size of
 * what it returns (a few read units for a whole trail), where reading a window of ids by key
 * (BatchGetItem) was billed a unit per id asked, found or not.
 */
const READ_PAGE = 100;
/** WORM reads in flight while comparing a trail with its mirror. */
const MIRROR_READS_IN_FLIGHT = 8;

const padded = (seq: number): string => String(seq).padStart(6, '0');

/** `<executionId>#<seq, 6 digits>`: an execution's entries, in seq order. */
export const trailRecordId = (executionId: string, seq: number): string => `${executionId}#${padded(seq)}`;

/** `runbooks/<tenantId>/<executionId>/<seq, 6 digits>.json` in the WORM evidence store. */
export const trailMirrorKey = (tenantId: string, executionId: string, seq: number): string =>
  `runbooks/${tenantId}/${executionId}/${padded(seq)}.json`;

export interface TrailLogDeps {
  readonly records: TenantRecords<TrailRecord>;
  readonly worm: Pick<WormStore, 'putOnce' | 'get'>;
  readonly clock: Clock;
  /**
   * The keyed hash the trail names people by: the entries are mirrored to WORM evidence, which no
   * erasure can reach, so an entry's `actor` and `detail.confirmedBy` are the person's keyed hash
   * (the execution record, which an erasure can redact, keeps the names).
   */
  readonly hasher: SubjectHasher;
}

/** The event with the people it names as their keyed hash (`actor`, `detail.confirmedBy`). */
const pseudonymizedEvent = async (
  event: TrailEventInput,
  hasher: SubjectHasher,
): Promise<TrailEventInput> => {
  const confirmedBy = event.detail.confirmedBy;
  return {
    kind: event.kind,
    ...(event.actor === undefined ? {} : { actor: await hasher.hash(event.actor) }),
    detail:
      typeof confirmedBy === 'string'
        ? { ...event.detail, confirmedBy: await hasher.hash(confirmedBy) }
        : event.detail,
  };
};

/** What happened, as the workflow reports it; the log adds the execution, time, position and hashes. */
export interface TrailEventInput {
  readonly kind: TrailEntry['kind'];
  readonly actor?: string | undefined;
  readonly detail: Readonly<Record<string, unknown>>;
}

export interface AppendedEntry {
  readonly entry: TrailEntry;
  /** The trail's new head, for the execution record's `trailHead`. */
  readonly head: TrailHead;
  /** True when the event was the trail's last entry already (a retried append): nothing was added. */
  readonly replayed: boolean;
}

export type TrailCheck =
  | ChainVerification
  | {
      readonly ok: false;
      readonly at: number;
      /** The entry has no WORM copy (its append stopped before it, and was never retried). */
      readonly reason: 'mirror_missing';
    }
  | {
      readonly ok: false;
      readonly at: number;
      /** The hot entry differs from its locked WORM copy: it was changed after it was written. */
      readonly reason: 'mirror_mismatch';
    };

const isRetryOf = (entry: TrailEntry, event: TrailEventInput): boolean =>
  entry.kind === event.kind &&
  entry.actor === event.actor &&
  canonicalJson(entry.detail) === canonicalJson(event.detail);

export class TrailLog {
  constructor(private readonly deps: TrailLogDeps) {}

  /**
   * Appends an event after the trail's current last entry and mirrors it to the WORM store.
   *
   * - Concurrent appends: the record create claims the seq; the loser re-reads and tries the next one.
   * - People: the event's actor (and a step's `confirmedBy`) are stored as their keyed hash.
   * - Retries: an event equal (kind, actor, detail) to the last entry is that entry, answered
   *   `replayed` (its mirror completed if an earlier attempt stopped before it), never a second entry.
   *   Events that truly repeat say what sets them apart in `detail` (an attempt number).
   * - Integrity: it never extends a trail that does not verify, or whose last entry differs from its
   *   WORM copy (BrokenTrailError).
   */
  async append(tenantId: string, executionId: string, input: TrailEventInput): Promise<AppendedEntry> {
    const event = await pseudonymizedEvent(input, this.deps.hasher);
    for (let attempt = 1; ; attempt += 1) {
      const trail = await this.#read(tenantId, executionId);
      const chain = verifyChain(trail, { executionId, tenantId });
      if (!chain.ok) {
        throw new BrokenTrailError(
          `the trail of execution ${executionId} does not verify (${chain.reason} at entry ${chain.at}); nothing appended`,
        );
      }
      const previous = trail.at(-1);
      if (previous) {
        await this.#ensureMirrored(previous);
        if (isRetryOf(previous, event)) return { entry: previous, head: headOf(previous), replayed: true };
      }
      const entry = appendEntry(previous, {
        executionId,
        tenantId,
        at: this.deps.clock.now().toISOString(),
        kind: event.kind,
        ...(event.actor === undefined ? {} : { actor: event.actor }),
        detail: event.detail,
      });
      try {
        await this.deps.records.create({
          ...entry,
          id: trailRecordId(executionId, entry.seq),
          version: 1,
          createdAt: entry.at,
          updatedAt: entry.at,
        });
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        if (attempt < APPEND_ATTEMPTS) continue;
        throw new ConflictError(
          `The trail of execution ${executionId} is being appended to concurrently; retry.`,
          'trail_contended',
        );
      }
      await this.deps.worm.putOnce(
        trailMirrorKey(tenantId, executionId, entry.seq),
        canonicalJson(entry),
        TRAIL_CONTENT_TYPE,
      );
      return { entry, head: headOf(entry), replayed: false };
    }
  }

  /** The execution's entries in seq order (empty for an execution with no trail). */
  timeline(tenantId: string, executionId: string): Promise<TrailEntry[]> {
    return this.#read(tenantId, executionId);
  }

  /** Every stored entry of an execution's trail, in order (a removed entry leaves a gap verification reports). */
  entries(tenantId: string, executionId: string): Promise<TrailEntry[]> {
    return this.#read(tenantId, executionId);
  }

  /**
   * Verifies the stored trail against the execution's known head (its record's `trailHead`): the hot
   * entries as a chain from genesis to that head, then each against its WORM copy, then that no WORM
   * copy exists past the end (entries removed from the table with the head moved back).
   */
  async verifyExecution(tenantId: string, executionId: string, head: TrailHead): Promise<TrailCheck> {
    const entries = await this.#read(tenantId, executionId);
    const chain = verifyChain(entries, { executionId, tenantId, fromGenesis: true, ...againstHead(head) });
    if (!chain.ok) return chain;
    for (let start = 0; start < entries.length; start += MIRROR_READS_IN_FLIGHT) {
      const batch = entries.slice(start, start + MIRROR_READS_IN_FLIGHT);
      const mirrors = await Promise.all(
        batch.map((entry) => this.deps.worm.get(trailMirrorKey(tenantId, executionId, entry.seq))),
      );
      for (const [offset, mirror] of mirrors.entries()) {
        if (mirror === undefined) return { ok: false, at: start + offset, reason: 'mirror_missing' };
        if (mirror !== canonicalJson(batch[offset])) {
          return { ok: false, at: start + offset, reason: 'mirror_mismatch' };
        }
      }
    }
    const pastEnd = await this.deps.worm.get(trailMirrorKey(tenantId, executionId, entries.length));
    if (pastEnd !== undefined) return { ok: false, at: entries.length, reason: 'truncated' };
    return chain;
  }

  /**
   * Every stored entry of the execution, in seq order (its ids sort so), a page at a time: a removed
   * entry leaves a gap the chain reports, not the end of the trail.
   */
  async #read(tenantId: string, executionId: string): Promise<TrailEntry[]> {
    const entries: TrailEntry[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.deps.records.list(tenantId, {
        prefix: `${executionId}#`,
        limit: READ_PAGE,
        cursor,
        consistent: true,
      });
      entries.push(...page.items.map(trailEntryOf));
      cursor = page.nextCursor;
    } while (cursor !== undefined && entries.length < MAX_TRAIL_ENTRIES);
    return entries;
  }

  /** Writes the WORM copy an earlier append did not get to; refuses an entry that differs from its copy. */
  async #ensureMirrored(entry: TrailEntry): Promise<void> {
    const key = trailMirrorKey(entry.tenantId, entry.executionId, entry.seq);
    const body = canonicalJson(entry);
    const mirror = await this.deps.worm.get(key);
    if (mirror === undefined) await this.deps.worm.putOnce(key, body, TRAIL_CONTENT_TYPE);
    else if (mirror !== body) {
      throw new BrokenTrailError(
        `entry ${entry.seq} of execution ${entry.executionId} differs from its WORM copy; nothing appended`,
      );
    }
  }
}
