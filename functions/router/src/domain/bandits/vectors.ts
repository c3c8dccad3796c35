import * as z from 'zod';
import { IncompatibleModelStateError } from './errors.js';

/** The largest feature dimension a tenant may configure (LinUCB keeps d × d matrices per expert). */
export const MAX_DIMENSION = 1024;

/**
 * A feature vector with few non-zeros (a hashed context has a handful): `indices` strictly
 * ascending, each in [0, dimension), `values` the matching entries (no explicit zeros).
 */
export interface SparseVector {
  readonly dimension: number;
  readonly indices: Int32Array;
  readonly values: Float64Array;
}

/** What strategies accept: a dense vector (length = dimension) or a sparse one. */
export type FeatureVector = Float64Array | SparseVector;

export const isDense = (x: FeatureVector): x is Float64Array => x instanceof Float64Array;

export const dimensionOf = (x: FeatureVector): number => (isDense(x) ? x.length : x.dimension);

export const toDense = (x: FeatureVector): Float64Array => {
  if (isDense(x)) return x;
  const dense = new Float64Array(x.dimension);
  for (let k = 0; k < x.indices.length; k += 1) dense[x.indices[k] as number] = x.values[k] as number;
  return dense;
};

export const toSparse = (x: FeatureVector): SparseVector => {
  if (!isDense(x)) return x;
  let count = 0;
  for (let i = 0; i < x.length; i += 1) if (x[i] !== 0) count += 1;
  const indices = new Int32Array(count);
  const values = new Float64Array(count);
  let k = 0;
  for (let i = 0; i < x.length; i += 1) {
    const value = x[i] as number;
    if (value === 0) continue;
    indices[k] = i;
    values[k] = value;
    k += 1;
  }
  return { dimension: x.length, indices, values };
};

/** x · w, for a weight vector of the same dimension. */
export const dot = (x: FeatureVector, w: ArrayLike<number>): number => {
  let sum = 0;
  if (isDense(x)) {
    for (let i = 0; i < x.length; i += 1) sum += (x[i] as number) * (w[i] as number);
  } else {
    for (let k = 0; k < x.indices.length; k += 1)
      sum += (x.values[k] as number) * (w[x.indices[k] as number] as number);
  }
  return sum;
};

/** Calls `visit(index, value)` for each non-zero entry, in ascending index order. */
export const forEachNonZero = (x: FeatureVector, visit: (index: number, value: number) => void): void => {
  if (isDense(x)) {
    for (let i = 0; i < x.length; i += 1) {
      const value = x[i] as number;
      if (value !== 0) visit(i, value);
    }
  } else {
    for (let k = 0; k < x.indices.length; k += 1) visit(x.indices[k] as number, x.values[k] as number);
  }
};

export const assertDimension = (x: FeatureVector, expected: number): void => {
  const actual = dimensionOf(x);
  if (actual !== expected)
    throw new IncompatibleModelStateError(
      `The feature vector has dimension ${actual}; the model state was built for ${expected}.`,
    );
};

/** The JSON form of a sparse vector, as a decision record keeps the features it must learn from later. */
export interface SparseVectorJson {
  readonly dimension: number;
  readonly indices: readonly number[];
  readonly values: readonly number[];
}

export const sparseVectorJsonSchema = z
  .object({
    dimension: z.int().min(1).max(MAX_DIMENSION),
    indices: z.array(z.int().min(0)),
    values: z.array(z.number().refine(Number.isFinite, 'must be finite')),
  })
  .refine((v) => v.indices.length === v.values.length, 'indices and values differ in length')
  .refine(
    (v) =>
      v.indices.every((index, k) => index < v.dimension && (k === 0 || index > (v.indices[k - 1] ?? -1))),
    'indices must be strictly ascending and below dimension',
  );

export const sparseToJson = (x: FeatureVector): SparseVectorJson => {
  const sparse = toSparse(x);
  return {
    dimension: sparse.dimension,
    indices: Array.from(sparse.indices),
    values: Array.from(sparse.values),
  };
};

export const sparseFromJson = (json: unknown): SparseVector => {
  const parsed = sparseVectorJsonSchema.parse(json);
  return {
    dimension: parsed.dimension,
    indices: Int32Array.from(parsed.indices),
    values: Float64Array.from(parsed.values),
  };
};
