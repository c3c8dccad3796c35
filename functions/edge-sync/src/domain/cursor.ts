import { ValidationError } from '#shared/errors.js';

/**
 * A sync cursor: where a node is in one document's op log. Opaque to clients (base64url of
 * `<documentId>:<sequence>`); the document it names must be the one asked for, so a cursor kept
 * for one document can never read another's log.
 */
export const encodeSyncCursor = (documentId: string, seq: number): string =>
  Buffer.from(`${documentId}:${seq}`, 'utf8').toString('base64url');

export const decodeSyncCursor = (cursor: string, documentId: string): number => {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const at = text.lastIndexOf(':');
  const seq = Number(text.slice(at + 1));
  if (at < 1 || !/^\d{1,12}$/.test(text.slice(at + 1)) || !Number.isSafeInteger(seq)) {
    throw new ValidationError(
      'Invalid cursor.',
      [{ path: 'body.cursor', message: 'not a sync cursor' }],
      'invalid_cursor',
    );
  }
  if (text.slice(0, at) !== documentId) {
    throw new ValidationError(
      `The cursor belongs to another document than ${documentId}.`,
      [{ path: 'body.cursor', message: 'a cursor of another document' }],
      'cursor_mismatch',
    );
  }
  return seq;
};
