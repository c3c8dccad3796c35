import * as z from 'zod';
import { compareHlc } from './hlc.js';

/**
 * Field values and the rules that merge concurrent writes of one field (a key of a document's
 * `fields` map). Pure: the server's conflict detection, the edge client and the tests share it.
 */

/**
 * How concurrent writes of a field are settled:
 * - `lww`: the write with the later hybrid logical clock stamp wins (declare it only where losing
 *   the other write is safe: a status, a note);
 * - `counter`: both writers' increments are kept (the current value plus the other side's deltas);
 * - `union`: the two lists' union (tags, parts used: OR-Set of JSON values);
 * - `max` / `min`: the larger / smaller number (a high-water mark, a lowest reading);
 * - `manual`: nobody can decide for the business: the conflict goes to the conflict center, and a
 *   person picks or writes the value.
 */
export const FIELD_RULES = ['lww', 'counter', 'union', 'max', 'min', 'manual'] as const;
export type FieldRule = (typeof FIELD_RULES)[number];

/**
 * What a field holds: the value and who wrote it when. `t` is the writer's HLC stamp, `n` the node
 * (or `conductor`, or `person:<subject>` for a resolution), `d` the increment a counter write
 * made over the value it read, `r` the conflict a server write settles.
 */
export const fieldValueSchema = z.object({
  v: z.unknown(),
  t: z.string(),
  n: z.string(),
  d: z.number().optional(),
  r: z.string().optional(),
});
export type FieldValue = z.infer<typeof fieldValueSchema>;

/** A stored value as a FieldValue: a value written without the envelope gets no stamp (sorts first). */
export const asFieldValue = (stored: unknown): FieldValue => {
  const parsed = fieldValueSchema.safeParse(stored);
  return parsed.success ? parsed.data : { v: stored, t: '', n: 'unknown' };
};

/** A write of a field, with the deltas its side made since the two sides parted (counters). */
export interface ConflictSide {
  readonly value: FieldValue;
  /** Sum of `d` over this side's writes the other side has not seen; undefined if one had none. */
  readonly deltaSinceFork: number | undefined;
}

export type Resolution =
  | { readonly kind: 'auto'; readonly value: FieldValue; readonly how: string }
  | { readonly kind: 'manual' };

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const laterOf = (a: FieldValue, b: FieldValue): FieldValue => (compareHlc(a.t, b.t) >= 0 ? a : b);
const stampOf = (a: FieldValue, b: FieldValue): string => laterOf(a, b).t;

/**
 * The value a rule gives two concurrent writes: `current` (what the server held) and `incoming`
 * (what arrived without having seen it). Two equal values settle themselves under every rule.
 * `by` names the writer of a value the rule computes (the server).
 */
export const resolveConflict = (
  rule: FieldRule,
  current: ConflictSide,
  incoming: ConflictSide,
  conflictId: string,
  by = 'conductor',
): Resolution => {
  const a = current.value;
  const b = incoming.value;
  if (sameJson(a.v, b.v)) return { kind: 'auto', value: laterOf(a, b), how: 'identical values' };
  switch (rule) {
    case 'manual':
      return { kind: 'manual' };
    case 'lww': {
      const winner = laterOf(a, b);
      return { kind: 'auto', value: winner, how: `later HLC stamp (${winner.n})` };
    }
    case 'counter': {
      if (typeof a.v !== 'number' || incoming.deltaSinceFork === undefined) {
        const winner = laterOf(a, b);
        return { kind: 'auto', value: winner, how: 'not a counter write: later HLC stamp' };
      }
      const v = a.v + incoming.deltaSinceFork;
      return {
        kind: 'auto',
        value: { v, t: stampOf(a, b), n: by, d: incoming.deltaSinceFork, r: conflictId },
        how: `counter: ${a.v} + ${incoming.deltaSinceFork}`,
      };
    }
    case 'union': {
      const list = (x: unknown): unknown[] => (Array.isArray(x) ? x : x === undefined ? [] : [x]);
      const seen = new Set<string>();
      const v = [...list(a.v), ...list(b.v)].filter((item) => {
        const key = JSON.stringify(item);
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
      return { kind: 'auto', value: { v, t: stampOf(a, b), n: by, r: conflictId }, how: 'union' };
    }
    case 'max':
    case 'min': {
      if (typeof a.v !== 'number' || typeof b.v !== 'number') {
        return { kind: 'auto', value: laterOf(a, b), how: `${rule} of non-numbers: later HLC stamp` };
      }
      const keepA = rule === 'max' ? a.v >= b.v : a.v <= b.v;
      return { kind: 'auto', value: keepA ? a : b, how: rule };
    }
  }
};

/** A document type: the rule of each field, and the rule of the fields it does not name. */
export const documentTypeRulesSchema = z.strictObject({
  fields: z
    .record(z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, '1 to 128 of A-Z a-z 0-9 _ . -'), z.enum(FIELD_RULES))
    .refine((fields) => Object.keys(fields).length <= 200, 'at most 200 fields')
    .meta({ description: 'Rule per field path (a key of the `fields` map; nested maps: `parent.key`).' }),
  defaultRule: z.enum(FIELD_RULES).default('manual').meta({
    description: 'The rule of a field the type does not name: `manual` unless said otherwise.',
  }),
});
export type DocumentTypeRules = z.infer<typeof documentTypeRulesSchema>;

export const ruleOf = (rules: DocumentTypeRules, field: string): FieldRule =>
  rules.fields[field] ?? rules.defaultRule;
