import * as z from 'zod';
import type { WormStore } from '#shared/worm.js';

/**
 * The decision-log archive (M4): every decision the kernel's enforcer hands off (one queue message
 * per decision: its record, or two for a cross-tenant attempt) becomes one JSON Lines object in the
 * WORM store, under a key derived from the message alone. A redelivered message therefore lands on
 * the same key with the same content, which the store answers `exists`: archiving is idempotent,
 * and nothing is ever overwritten.
 */
export const ARCHIVE_PREFIX = 'decisions';
export const ARCHIVE_CONTENT_TYPE = 'application/x-ndjson';

/** A message of the decision-archive queue. */
export interface ArchiveMessage {
  readonly messageId: string;
  readonly body: string;
}

export interface ArchivedMessage {
  readonly key: string;
  /** `exists`: an earlier delivery of the same message archived it already. */
  readonly outcome: 'created' | 'exists';
  readonly decisions: number;
}

/** A message that is not a non-empty JSON array of decision records: it is kept for the DLQ, never dropped. */
export class MalformedArchiveMessageError extends Error {
  override readonly name = 'MalformedArchiveMessageError';
}

/** The fields the archive relies on; every other field of a record is kept as it came. */
const archivedRecordSchema = z.looseObject({
  decisionId: z.string().min(1),
  tenantId: z.string().min(1),
  at: z.iso.datetime({ offset: true }),
});
const archiveMessageSchema = z.array(archivedRecordSchema).min(1);

const MESSAGE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** `decisions/<yyyy>/<mm>/<dd>/<messageId>.jsonl`, dated (UTC) by the first record's `at`. */
export const archiveKey = (messageId: string, firstAt: string): string => {
  if (!MESSAGE_ID.test(messageId))
    throw new MalformedArchiveMessageError(`unusable message id '${messageId}'`);
  const day = new Date(firstAt).toISOString().slice(0, 10);
  return `${ARCHIVE_PREFIX}/${day.replaceAll('-', '/')}/${messageId}.jsonl`;
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
  // The records as sent, not as parsed: the archive keeps exactly what the enforcer logged.
  return parsed as Record<string, unknown>[];
};

export class DecisionArchiver {
  constructor(private readonly store: Pick<WormStore, 'putOnce'>) {}

  async archive(message: ArchiveMessage): Promise<ArchivedMessage> {
    const records = parseArchiveMessage(message.body);
    const key = archiveKey(message.messageId, String(records[0]?.at));
    const outcome = await this.store.putOnce(key, toJsonLines(records), ARCHIVE_CONTENT_TYPE);
    return { key, outcome, decisions: records.length };
  }
}
