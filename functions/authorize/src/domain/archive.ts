import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { SubjectHasher } from '#shared/ports/subject-hash.js';
import type { WormStore } from '#shared/ports/worm.js';

/**
 * The decision-log archive (M4): every decision the kernel's enforcer hands off is one queue
 * message (its record, or two for a cross-tenant attempt; a `decideMany` batch is one message with
 * the records of all its decisions); each SQS batch of such messages becomes
 * ONE JSON Lines object in the WORM store, holding the records of all its well-formed messages.
 *
 * The key and the content are derived from the batch alone (its messages, sorted by message id), so
 * a redelivered identical batch lands on the same key with the same bytes, which the store answers
 * `exists`: nothing is ever overwritten, and a retry after a lost answer succeeds.
 *
 * Delivery into the archive is AT LEAST ONCE: SQS may redeliver a message in a different batch (a
 * partial failure, a visibility timeout that expired during a slow write, a rare duplicate
 * delivery), and that batch is another object, so a decision can appear in more than one object.
 * Every record carries its `decisionId`: readers dedupe on it.
 */
export const ARCHIVE_PREFIX = 'decisions';
export const ARCHIVE_CONTENT_TYPE = 'application/x-ndjson';

/** A message of the decision-archive queue. */
export interface ArchiveMessage {
  readonly messageId: string;
  readonly body: string;
}

/** A message that is not a non-empty JSON array of decision records: it is kept for the DLQ, never dropped. */
export class MalformedArchiveMessageError extends Error {
  override readonly name = 'MalformedArchiveMessageError';
}

export interface MalformedMessage {
  readonly messageId: string;
  readonly error: MalformedArchiveMessageError;
}

/** What became of the well-formed messages of a batch: one write, shared by all of them. */
export type ArchiveWrite =
  /** The batch had no well-formed message: nothing was written. */
  | { readonly status: 'none' }
  | {
      /** `exists`: an earlier delivery of the same batch archived it already (identical content). */
      readonly status: 'created' | 'exists';
      readonly key: string;
      readonly messageIds: readonly string[];
      readonly decisions: number;
    }
  | {
      /** The write failed (store unavailable, or other content under the key): all of them are retried. */
      readonly status: 'failed';
      readonly key: string;
      readonly messageIds: readonly string[];
      readonly decisions: number;
      readonly error: unknown;
    };

export interface ArchivedBatch {
  /** Each fails on its own (a batch item failure, so the DLQ after `maxReceiveCount` receives). */
  readonly malformed: readonly MalformedMessage[];
  readonly write: ArchiveWrite;
}

/** The fields the archive relies on; every other field of a record is kept as it came. */
const archivedRecordSchema = z.looseObject({
  decisionId: z.string().min(1),
  tenantId: z.string().min(1),
  at: z.iso.datetime({ offset: true }),
});
const archiveMessageSchema = z.array(archivedRecordSchema).min(1);

/** Hex digits of SHA-256 kept in a key: 128 bits, ample against collisions between batches. */
const BATCH_HASH_HEX = 32;

/** `at` as a UTC instant (ms), or undefined when it is not a date of years 0000-9999 in UTC. */
const instantOf = (at: string): number | undefined => {
  const ms = Date.parse(at);
  if (!Number.isFinite(ms)) return undefined;
  return /^\d{4}-/.test(new Date(ms).toISOString()) ? ms : undefined;
};

/**
 * `decisions/<yyyy>/<mm>/<dd>/<yyyymmddThhmmssmmmZ>-<hash>.jsonl`: dated (UTC, to the millisecond) by
 * the earliest record of the batch, named after the SHA-256 of the batch's sorted, distinct message
 * ids (first 32 hex digits). The same messages always give the same key, whatever their order.
 * The other records of the object are dated at or after its name: seconds later normally, days when
 * a message redelivered late (a DLQ redrive) shares a batch with fresh ones.
 */
export const archiveKey = (messageIds: readonly string[], earliestAt: string): string => {
  const ids = [...new Set(messageIds)].sort();
  if (ids.length === 0 || ids.some((id) => id === '' || id.includes('\n'))) {
    throw new RangeError('an archive key needs one or more non-empty message ids');
  }
  const ms = instantOf(earliestAt);
  if (ms === undefined) throw new RangeError(`'${earliestAt}' is not a usable archive time`);
  const iso = new Date(ms).toISOString(); // 2026-03-01T23:59:59.999Z
  const day = iso.slice(0, 10).replaceAll('-', '/');
  const compact = iso.replaceAll(/[-:.]/g, '');
  const hash = createHash('sha256').update(ids.join('\n')).digest('hex').slice(0, BATCH_HASH_HEX);
  return `${ARCHIVE_PREFIX}/${day}/${compact}-${hash}.jsonl`;
};

/** One JSON document per line, newline-terminated: the same records always give the same bytes. */
export const toJsonLines = (records: readonly unknown[]): string =>
  records.map((record) => `${JSON.stringify(record)}\n`).join('');

/** Reads a queue message: the JSON array of records SqsDecisionArchive sent. */
export const parseArchiveMessage = (body: string): readonly Record<string, unknown>[] => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new MalformedArchiveMessageError('message body is not JSON');
  }
  const result = archiveMessageSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new MalformedArchiveMessageError(
      `message body is not a list of decision records (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'})`,
    );
  }
  const unusable = result.data.findIndex((record) => instantOf(record.at) === undefined);
  if (unusable >= 0) {
    throw new MalformedArchiveMessageError(
      `record ${unusable} has an 'at' outside the years 0000-9999 (UTC)`,
    );
  }
  // The records as sent, not as parsed: the archive keeps what the enforcer logged (people hashed).
  return parsed as Record<string, unknown>[];
};

/** The object a batch's well-formed messages become: key, the records it holds, and how many. */
export interface ArchiveObject {
  readonly key: string;
  /** The records as sent, in message-id order (the object holds them pseudonymized: `pseudonymized`). */
  readonly records: readonly Record<string, unknown>[];
  readonly messageIds: readonly string[];
  readonly decisions: number;
}

/**
 * The fields of a decision record that name a person (the caller, and the requester a resource
 * names): the archive is WORM evidence, which no erasure can reach, so they are stored only as the
 * person's keyed hash (HMAC with the deployment's DSR key). The hot decision log, which expires
 * after 30 days, keeps them as they are.
 */
export const PERSON_FIELDS = [
  ['input', 'principal', 'subject'],
  ['input', 'resource', 'requestedBy'],
] as const;

/**
 * A record with every PERSON_FIELDS value replaced by its keyed hash; everything else as sent.
 * Deterministic (the same person, the same hash), so a batch archived again gives the same bytes.
 */
export const pseudonymized = async (
  record: Readonly<Record<string, unknown>>,
  hasher: SubjectHasher,
): Promise<Record<string, unknown>> => {
  let copy: Record<string, unknown> = { ...record };
  for (const path of PERSON_FIELDS) {
    const [first, second, field] = path;
    const outer = copy[first];
    if (typeof outer !== 'object' || outer === null || Array.isArray(outer)) continue;
    const inner = (outer as Record<string, unknown>)[second];
    if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) continue;
    const value = (inner as Record<string, unknown>)[field];
    if (typeof value !== 'string') continue;
    copy = {
      ...copy,
      [first]: {
        ...(outer as Record<string, unknown>),
        [second]: { ...(inner as Record<string, unknown>), [field]: await hasher.hash(value) },
      },
    };
  }
  return copy;
};

export interface ArchivePlan {
  readonly malformed: readonly MalformedMessage[];
  /** Absent when no message of the batch is well-formed. */
  readonly object?: ArchiveObject;
}

/**
 * Splits a batch into its malformed messages and the one object of the others: messages in message-id
 * order (a message delivered twice in the batch counts once), each message's records in the order
 * sent. Pure: the same messages, in any order, give the same plan.
 */
export const planArchive = (messages: readonly ArchiveMessage[]): ArchivePlan => {
  const malformed: MalformedMessage[] = [];
  const wellFormed = new Map<string, readonly Record<string, unknown>[]>();
  for (const message of messages) {
    if (wellFormed.has(message.messageId)) continue;
    try {
      wellFormed.set(message.messageId, parseArchiveMessage(message.body));
    } catch (error) {
      if (!(error instanceof MalformedArchiveMessageError)) throw error;
      if (!malformed.some((m) => m.messageId === message.messageId)) {
        malformed.push({ messageId: message.messageId, error });
      }
    }
  }
  if (wellFormed.size === 0) return { malformed };
  const messageIds = [...wellFormed.keys()].sort();
  const records = messageIds.flatMap((id) => wellFormed.get(id) ?? []);
  // Every `at` was checked by parseArchiveMessage: a string with a usable instant.
  let earliest = { at: '', ms: Number.POSITIVE_INFINITY };
  for (const record of records) {
    const at = String(record.at);
    const ms = instantOf(at) ?? Number.POSITIVE_INFINITY;
    if (ms < earliest.ms) earliest = { at, ms };
  }
  return {
    malformed,
    object: {
      key: archiveKey(messageIds, earliest.at),
      records,
      messageIds,
      decisions: records.length,
    },
  };
};

export class DecisionArchiver {
  constructor(
    private readonly store: Pick<WormStore, 'putOnce'>,
    /** The keyed hash the people a record names are stored as. */
    private readonly hasher: SubjectHasher,
  ) {}

  /**
   * Archives a batch as one object. Never rejects for a message or a write: the result says which
   * messages failed (the malformed ones, and every other one if the write failed), so the consumer can report them.
   */
  async archive(messages: readonly ArchiveMessage[]): Promise<ArchivedBatch> {
    const { malformed, object } = planArchive(messages);
    if (!object) return { malformed, write: { status: 'none' } };
    const { key, messageIds, decisions } = object;
    try {
      const records = await Promise.all(object.records.map((record) => pseudonymized(record, this.hasher)));
      const status = await this.store.putOnce(key, toJsonLines(records), ARCHIVE_CONTENT_TYPE);
      return { malformed, write: { status, key, messageIds, decisions } };
    } catch (error) {
      return { malformed, write: { status: 'failed', key, messageIds, decisions, error } };
    }
  }
}
