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
 * - `counter`: both writers' increments are kept (a PN-counter: each node's increments and decrements
 *   so far, merged by taking each node's larger count);
 * - `union`: the two lists' union (tags, parts used: OR-Set of JSON values);
 * - `max` / `min`: the larger / smaller number (a high-water mark, a lowest reading);
 * - `manual`: nobody can decide for the business: the conflict goes to the conflict center, and a
 *   person picks or writes the value.
 */
export const FIELD_RULES = ['lww', 'counter', 'union', 'max', 'min', 'manual'] as const;
export type FieldRule = (typeof FIELD_RULES)[number];

/**
 * What a field holds: the value and who wrote it when. `t` is the writer's HLC stamp, `n` the node
 * (or `conductor`, or `person:<subject>` for a resolution), `r` the conflict a server write
 * settles. A counter write also carries every node's increments (`c`) and decrements (`m`) so far;
 * its value is their difference.
 */
const countsSchema = z.record(z.string(), z.number().nonnegative());
export const fieldValueSchema = z.object({
  v: z.unknown(),
  t: z.string(),
  n: z.string(),
  c: countsSchema.optional(),
  m: countsSchema.optional(),
  r: z.string().optional(),
});
export type FieldValue = z.infer<typeof fieldValueSchema>;

/** A stored value as a FieldValue: a value written without the envelope gets no stamp (sorts first). */
export const asFieldValue = (stored: unknown): FieldValue => {
  const parsed = fieldValueSchema.safeParse(stored);
  return parsed.success ? parsed.data : { v: stored, t: '', n: 'unknown' };
};

type Counts = Readonly<Record<string, number>>;
const sum = (counts: Counts | undefined): number =>
  Object.values(counts ?? {}).reduce((total, n) => total + n, 0);
/** Each node's larger count: a node's own counts only grow, so the larger one has seen more. */
const maxOf = (a: Counts | undefined, b: Counts | undefined): Record<string, number> => {
  const merged: Record<string, number> = { ...a };
  for (const [node, n] of Object.entries(b ?? {})) merged[node] = Math.max(merged[node] ?? 0, n);
  return merged;
};

/**
 * A counter write after `current`: `by` added by `node` to its own count (the edge client's
 * `increment`). A value written without counts (a plain number) becomes the base count `_base`.
 */
export const incrementOf = (
  current: FieldValue | undefined,
  node: string,
  by: number,
  t: string,
): FieldValue => {
  const c: Record<string, number> = { ...current?.c };
  const m: Record<string, number> = { ...current?.m };
  if (current !== undefined && current.c === undefined && typeof current.v === 'number') {
    if (current.v >= 0) c._base = current.v;
    else m._base = -current.v;
  }
  if (by >= 0) c[node] = (c[node] ?? 0) + by;
  else m[node] = (m[node] ?? 0) - by;
  return { v: sum(c) - sum(m), t, n: node, c, ...(Object.keys(m).length > 0 ? { m } : {}) };
};

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
  a: FieldValue,
  b: FieldValue,
  conflictId: string,
  by = 'conductor',
): Resolution => {
  if (sameJson(a.v, b.v)) return { kind: 'auto', value: laterOf(a, b), how: 'identical values' };
  switch (rule) {
    case 'manual':
      return { kind: 'manual' };
    case 'lww': {
      const winner = laterOf(a, b);
      return { kind: 'auto', value: winner, how: `later HLC stamp (${winner.n})` };
    }
    case 'counter': {
      if (a.c === undefined || b.c === undefined) {
        const winner = laterOf(a, b);
        return { kind: 'auto', value: winner, how: 'not a counter write: later HLC stamp' };
      }
      const c = maxOf(a.c, b.c);
      const m = maxOf(a.m, b.m);
      const v = sum(c) - sum(m);
      return {
        kind: 'auto',
        value: { v, t: stampOf(a, b), n: by, c, ...(Object.keys(m).length > 0 ? { m } : {}), r: conflictId },
        how: `counter: every node's increments kept (${v})`,
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
