import * as z from 'zod';

/**
 * Names an object key must never take when a client names it (metadata maps and the like): every
 * own property of `Object.prototype` (`constructor`, `toString`, `hasOwnProperty`, ...) and
 * `__proto__`. A map keyed by them confuses code that reads `map[key]` or `key in map` (a
 * `constructor` key answered 500 before this rule). A zod record drops a `__proto__` key before its
 * key schema sees it, so the JSON body middleware refuses that one for every route (400).
 */
export const RESERVED_RECORD_KEYS: ReadonlySet<string> = new Set([
  ...Object.getOwnPropertyNames(Object.prototype),
  '__proto__',
]);

/** A client-named key of a map: 1-`maxLength` characters, not a reserved name. */
export const recordKey = (maxLength: number) =>
  z
    .string()
    .min(1)
    .max(maxLength)
    .refine((key) => !RESERVED_RECORD_KEYS.has(key), {
      message: `must not be one of ${[...RESERVED_RECORD_KEYS].sort().join(', ')}`,
    });
