import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { RESERVED_RECORD_KEYS, recordKey } from '../src/record-keys.js';

describe('client-named record keys', () => {
  const metadata = z.record(recordKey(64), z.string());

  it('refuses every own property name of Object.prototype (__proto__ is refused for every body by the JSON middleware)', () => {
    for (const key of Object.getOwnPropertyNames(Object.prototype).filter((k) => k !== '__proto__')) {
      expect(metadata.safeParse(JSON.parse(`{"${key}":"x"}`)).success, key).toBe(false);
    }
    expect(RESERVED_RECORD_KEYS.has('__proto__')).toBe(true);
  });

  it('accepts ordinary keys, including ones that merely contain a reserved name', () => {
    expect(metadata.parse({ classification: 'restricted', my_constructor: 'x', Constructor: 'y' })).toEqual({
      classification: 'restricted',
      my_constructor: 'x',
      Constructor: 'y',
    });
  });
});
