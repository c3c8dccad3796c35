import { ValidationError } from '../errors.js';

/**
 * Opaque page cursors over one partition: the base64url of DynamoDB's `{ pk, sk }` key. A cursor is
 * valid only for the partition it came from, so no cursor can point into another tenant's data;
 * anything else (garbage, another partition, a key with other attributes) is a 400 invalid_cursor.
 * No AWS SDK here: the in-memory fakes page with the same cursors.
 */

export const encodeCursor = (key: Readonly<Record<string, unknown>>): string =>
  Buffer.from(JSON.stringify(key)).toString('base64url');

export const decodeCursor = (cursor: string, pk: string): { pk: string; sk: string } => {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const candidate = key as { pk?: unknown; sk?: unknown } | null | undefined;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    Object.keys(candidate).length !== 2 ||
    candidate.pk !== pk ||
    typeof candidate.sk !== 'string'
  ) {
    throw new ValidationError(
      'Invalid cursor.',
      [{ path: 'query.cursor', message: 'invalid cursor' }],
      'invalid_cursor',
    );
  }
  return { pk, sk: candidate.sk };
};
