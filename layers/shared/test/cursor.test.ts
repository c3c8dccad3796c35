import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '#shared/adapters/cursor.js';
import { ValidationError } from '#shared/errors.js';

const PK = 'T#acme#EXPERT';
const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The error decodeCursor throws, or undefined when it accepts the cursor. */
const refusalOf = (cursor: string, pk = PK): ValidationError | undefined => {
  try {
    decodeCursor(cursor, pk);
    return undefined;
  } catch (error) {
    return error as ValidationError;
  }
};

describe('page cursors', () => {
  it('reads back the key it encoded, for the partition it came from', () => {
    fc.assert(
      fc.property(fc.string(), (sk) => {
        // Act
        const key = decodeCursor(encodeCursor({ pk: PK, sk }), PK);

        // Assess
        expect(key).toEqual({ pk: PK, sk });
      }),
    );
  });

  it('reads a DynamoDB key whatever the order of its attributes', () => {
    // Act
    const key = decodeCursor(encodeCursor({ sk: 'exp_2', pk: PK }), PK);

    // Assess
    expect(key).toEqual({ pk: PK, sk: 'exp_2' });
  });

  it.each([
    ['not base64url at all', 'not-a-cursor!'],
    ['base64url of text that is not JSON', Buffer.from('{"pk":').toString('base64url')],
    ['JSON null', encode(null)],
    ['a JSON string', encode('exp_1')],
    ['a JSON number', encode(7)],
    ['a JSON array of two items', encode([PK, 'exp_1'])],
    ['a key without a sort key', encode({ pk: PK })],
    ['a key with a non-string sort key', encode({ pk: PK, sk: 7 })],
    ['a key with an extra attribute', encode({ pk: PK, sk: 'exp_1', entity: 'EXPERT' })],
    ['a key of another tenant', encode({ pk: 'T#globex#EXPERT', sk: 'exp_1' })],
    ['a key of another entity of the same tenant', encode({ pk: 'T#acme#GRANT', sk: 'grt_1' })],
  ])('refuses %s as a 400 invalid_cursor on query.cursor', (_, cursor) => {
    // Act
    const refusal = refusalOf(cursor);

    // Assess
    expect(refusal).toBeInstanceOf(ValidationError);
    expect(refusal).toMatchObject({
      statusCode: 400,
      code: 'invalid_cursor',
      details: { issues: [{ path: 'query.cursor', message: 'invalid cursor' }] },
    });
  });

  it('refuses a cursor issued for one partition when it is used on any other', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (issuedFor, usedOn, sk) => {
        fc.pre(issuedFor !== usedOn);

        // Act
        const refusal = refusalOf(encodeCursor({ pk: issuedFor, sk }), usedOn);

        // Assess
        expect(refusal?.code).toBe('invalid_cursor');
      }),
    );
  });
});
