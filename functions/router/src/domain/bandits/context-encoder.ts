import * as z from 'zod';
import { InvalidContextError, InvalidRouterConfigError } from './errors.js';
import { fmix32, fnv1a32 } from './hash.js';
import { MAX_DIMENSION, type SparseVector, toSparse } from './vectors.js';

/**
 * The context encoder: turns a task's context into a fixed-size feature vector of dimension d (per
 * tenant) that the linear strategies learn on.
 *
 * Layout of x ∈ ℝᵈ:
 * - x₀ = 1, the intercept (an expert's context-free baseline).
 * - x₁ … xₘ: the m numeric features the tenant declares, in declared order, each in its own slot:
 *   v ↦ clip((t(v) − mean) / std, ±clip), with t the identity or signed log1p
 *   (sign(v)·ln(1 + |v|), for heavy-tailed values such as sizes or token counts). A declared key that
 *   is absent encodes as 0, i.e. "average". A boolean in a declared slot counts as 0/1.
 * - x_{m+1} … x_{d−1}: H = d − 1 − m hashed buckets for everything else (the hashing trick with sign
 *   hashing, Weinberger et al. 2009). Each key contributes a token and a value:
 *     string s          token "key=s",       value 1
 *     string[] members  token "key=member",  value 1 each (duplicates count once)
 *     boolean           token "key",          value 1 when true (false adds nothing)
 *     undeclared number token "key",          value signed log1p(v)
 *   h = FNV-1a 32-bit of the token's UTF-8 bytes; bucket m + 1 + (h mod H); sign +1 or −1 from the
 *   lowest bit of the Murmur3 finaliser of h, so colliding tokens cancel in expectation instead of
 *   piling up. Colliding values add. When H = 0, undeclared keys are ignored.
 *
 * Keys are visited in sorted order, so the vector does not depend on the order of the context's
 * keys. Non-finite numbers, and text or lists in a declared numeric slot, are refused
 * (InvalidContextError). A context has few non-zeros (1 + m + its hashed tokens): `encode` returns the
 * sparse form the strategies are fastest on, `encodeDense` the dense one.
 */
export type ContextValue = string | number | boolean | readonly string[];
export type Context = Readonly<Record<string, ContextValue>>;

export const NUMERIC_TRANSFORMS = ['identity', 'signed-log1p'] as const;
export type NumericTransform = (typeof NUMERIC_TRANSFORMS)[number];

export interface NumericFeature {
  readonly key: string;
  /** @default 'identity' */
  readonly transform?: NumericTransform;
  /** Subtracted after the transform. @default 0 */
  readonly mean?: number;
  /** Divides after subtracting the mean. @default 1 */
  readonly std?: number;
}

export interface FeatureSpec {
  /** d, including the intercept. */
  readonly dimension: number;
  /** Numeric features with a slot of their own. @default [] */
  readonly numeric?: readonly NumericFeature[];
  /** Bound on |scaled value| of a declared numeric feature. @default 5 */
  readonly clip?: number;
}

export const featureSpecSchema = z
  .object({
    dimension: z.int().min(2).max(MAX_DIMENSION),
    numeric: z
      .array(
        z.strictObject({
          key: z.string().min(1).max(128),
          transform: z.enum(NUMERIC_TRANSFORMS).optional(),
          mean: z.number().refine(Number.isFinite, 'must be finite').optional(),
          std: z
            .number()
            .refine((v) => Number.isFinite(v) && v > 0, 'must be > 0')
            .optional(),
        }),
      )
      .max(MAX_DIMENSION - 1)
      .optional(),
    clip: z
      .number()
      .refine((v) => Number.isFinite(v) && v > 0, 'must be > 0')
      .optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const keys = (spec.numeric ?? []).map((f) => f.key);
    if (new Set(keys).size !== keys.length)
      ctx.addIssue({ code: 'custom', path: ['numeric'], message: 'numeric keys must be unique' });
    if (keys.length + 1 > spec.dimension)
      ctx.addIssue({
        code: 'custom',
        path: ['dimension'],
        message: `dimension must leave room for the intercept and ${keys.length} numeric slots`,
      });
  });

export const signedLog1p = (v: number): number => Math.sign(v) * Math.log1p(Math.abs(v));

export interface ContextEncoder {
  readonly dimension: number;
  /** Index of the first hashed bucket (1 + the number of declared numeric features). */
  readonly firstHashedIndex: number;
  encode(context: Context): SparseVector;
  encodeDense(context: Context): Float64Array;
  /**
   * What each non-zero index of this context's vector came from ("(intercept)", a declared key, or
   * the signed tokens hashed there, e.g. "-tier=gold"), for naming the rationale's top features.
   */
  explain(context: Context): ReadonlyMap<number, readonly string[]>;
}

interface Slot {
  readonly index: number;
  readonly transform: NumericTransform;
  readonly mean: number;
  readonly std: number;
}

export const createContextEncoder = (spec: FeatureSpec): ContextEncoder => {
  const parsed = featureSpecSchema.safeParse(spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidRouterConfigError(
      `Invalid feature spec: ${issue?.message ?? 'invalid'}`,
      ['features', ...(issue?.path ?? [])].join('.'),
    );
  }
  const { dimension } = spec;
  const clip = spec.clip ?? 5;
  const declared = new Map<string, Slot>();
  (spec.numeric ?? []).forEach((feature, i) => {
    declared.set(feature.key, {
      index: i + 1,
      transform: feature.transform ?? 'identity',
      mean: feature.mean ?? 0,
      std: feature.std ?? 1,
    });
  });
  const firstHashedIndex = declared.size + 1;
  const buckets = dimension - firstHashedIndex;

  const numberOf = (key: string, value: number): number => {
    if (!Number.isFinite(value))
      throw new InvalidContextError(`Context value '${key}' is not a finite number.`, key);
    return value;
  };

  /** Visits (index, value, label) for every contribution of the context, keys in sorted order. */
  const walk = (context: Context, emit: (index: number, value: number, label: string) => void): void => {
    emit(0, 1, '(intercept)');
    const hashed = (token: string, value: number) => {
      if (buckets === 0 || value === 0) return;
      const h = fnv1a32(token);
      const sign = (fmix32(h) & 1) === 1 ? -1 : 1;
      emit(firstHashedIndex + (h % buckets), sign * value, sign < 0 ? `-${token}` : token);
    };
    for (const key of Object.keys(context).sort()) {
      const value: unknown = context[key];
      const slot = declared.get(key);
      if (slot !== undefined) {
        let raw: number;
        if (typeof value === 'number') raw = numberOf(key, value);
        else if (typeof value === 'boolean') raw = value ? 1 : 0;
        else throw new InvalidContextError(`Context value '${key}' is declared numeric.`, key);
        const transformed = slot.transform === 'signed-log1p' ? signedLog1p(raw) : raw;
        const scaled = (transformed - slot.mean) / slot.std;
        emit(slot.index, Math.max(-clip, Math.min(clip, scaled)), key);
      } else if (typeof value === 'string') {
        hashed(`${key}=${value}`, 1);
      } else if (typeof value === 'number') {
        hashed(key, signedLog1p(numberOf(key, value)));
      } else if (typeof value === 'boolean') {
        hashed(key, value ? 1 : 0);
      } else if (Array.isArray(value)) {
        const members = new Set<string>();
        for (const member of value) {
          if (typeof member !== 'string')
            throw new InvalidContextError(`Context list '${key}' may hold only strings.`, key);
          members.add(member);
        }
        for (const member of [...members].sort()) hashed(`${key}=${member}`, 1);
      } else {
        throw new InvalidContextError(
          `Context value '${key}' must be a string, a finite number, a boolean or a list of strings.`,
          key,
        );
      }
    }
  };

  const encodeDense = (context: Context): Float64Array => {
    const x = new Float64Array(dimension);
    walk(context, (index, value) => {
      x[index] = (x[index] as number) + value;
    });
    return x;
  };

  return {
    dimension,
    firstHashedIndex,
    encodeDense,
    encode: (context) => toSparse(encodeDense(context)),
    explain: (context) => {
      const x = encodeDense(context);
      const labels = new Map<number, string[]>();
      walk(context, (index, _value, label) => {
        if (x[index] === 0) return;
        const list = labels.get(index);
        if (list) list.push(label);
        else labels.set(index, [label]);
      });
      return labels;
    },
  };
};
