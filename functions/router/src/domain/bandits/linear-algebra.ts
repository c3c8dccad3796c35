import { type FeatureVector, forEachNonZero, isDense } from './vectors.js';

/**
 * Small dense linear algebra for the ridge models behind LinUCB. Matrices are plain `number[]` in
 * row-major order (d × d) so a model state stays JSON; every function returns new arrays and never
 * mutates its inputs.
 */

/** λ·I. */
export const scaledIdentity = (dimension: number, lambda: number): number[] => {
  const m = new Array<number>(dimension * dimension).fill(0);
  for (let i = 0; i < dimension; i += 1) m[i * dimension + i] = lambda;
  return m;
};

/** M·v for a d × d matrix. */
export const matVec = (m: readonly number[], v: ArrayLike<number>, dimension: number): number[] => {
  const out = new Array<number>(dimension);
  for (let i = 0; i < dimension; i += 1) {
    let sum = 0;
    const row = i * dimension;
    for (let j = 0; j < dimension; j += 1) sum += (m[row + j] as number) * (v[j] as number);
    out[i] = sum;
  }
  return out;
};

/** M·x for a symmetric M, touching only the columns where x is non-zero. */
export const symMatFeatureVec = (m: readonly number[], x: FeatureVector, dimension: number): number[] => {
  const out = new Array<number>(dimension).fill(0);
  forEachNonZero(x, (j, xj) => {
    // M is symmetric: column j is row j, which is contiguous in memory.
    const row = j * dimension;
    for (let i = 0; i < dimension; i += 1) out[i] = (out[i] as number) + (m[row + i] as number) * xj;
  });
  return out;
};

/** xᵀ·M·x for a symmetric M (O(nnz²) for a sparse x, O(d²/2) for a dense one). */
export const quadraticForm = (m: readonly number[], x: FeatureVector, dimension: number): number => {
  let sum = 0;
  if (isDense(x)) {
    for (let i = 0; i < dimension; i += 1) {
      const xi = x[i] as number;
      if (xi === 0) continue;
      const row = i * dimension;
      let inner = 0;
      for (let j = i + 1; j < dimension; j += 1) inner += (m[row + j] as number) * (x[j] as number);
      sum += xi * ((m[row + i] as number) * xi + 2 * inner);
    }
    return sum;
  }
  const { indices, values } = x;
  for (let a = 0; a < indices.length; a += 1) {
    const row = (indices[a] as number) * dimension;
    const xa = values[a] as number;
    let inner = 0;
    for (let b = a + 1; b < indices.length; b += 1)
      inner += (m[row + (indices[b] as number)] as number) * (values[b] as number);
    sum += xa * ((m[row + (indices[a] as number)] as number) * xa + 2 * inner);
  }
  return sum;
};

/** A + x·xᵀ (only the nnz² touched entries change). */
export const addOuterProduct = (a: readonly number[], x: FeatureVector, dimension: number): number[] => {
  const out = a.slice();
  const entries: [number, number][] = [];
  forEachNonZero(x, (i, v) => {
    entries.push([i, v]);
  });
  for (const [i, xi] of entries)
    for (const [j, xj] of entries) out[i * dimension + j] = (out[i * dimension + j] as number) + xi * xj;
  return out;
};

/** b + r·x. */
export const addScaled = (b: readonly number[], x: FeatureVector, r: number): number[] => {
  const out = b.slice();
  forEachNonZero(x, (i, v) => {
    out[i] = (out[i] as number) + r * v;
  });
  return out;
};

/**
 * Sherman–Morrison: given A⁻¹ (symmetric), returns (A + x·xᵀ)⁻¹ = A⁻¹ − (A⁻¹x)(A⁻¹x)ᵀ / (1 + xᵀA⁻¹x)
 * in O(d²). The result is written symmetrically (upper triangle mirrored) so rounding cannot make it
 * drift away from symmetry over many updates.
 */
export const shermanMorrison = (
  inverse: readonly number[],
  x: FeatureVector,
  dimension: number,
): number[] => {
  const u = symMatFeatureVec(inverse, x, dimension);
  let xu = 0;
  forEachNonZero(x, (i, v) => {
    xu += v * (u[i] as number);
  });
  const scale = 1 / (1 + xu);
  const out = new Array<number>(dimension * dimension);
  for (let i = 0; i < dimension; i += 1) {
    const ui = (u[i] as number) * scale;
    const row = i * dimension;
    for (let j = i; j < dimension; j += 1) {
      const value = (inverse[row + j] as number) - ui * (u[j] as number);
      out[row + j] = value;
      out[j * dimension + i] = value;
    }
  }
  return out;
};

/** Thrown when a matrix that must be symmetric positive definite is not (numerically). */
export class NotPositiveDefiniteError extends Error {
  constructor(pivot: number, value: number) {
    super(`Matrix is not positive definite (pivot ${pivot} is ${value}).`);
    this.name = 'NotPositiveDefiniteError';
  }
}

/** Lower-triangular L with A = L·Lᵀ (Cholesky–Banachiewicz), O(d³/3). */
export const cholesky = (a: readonly number[], dimension: number): Float64Array => {
  const l = new Float64Array(dimension * dimension);
  for (let i = 0; i < dimension; i += 1) {
    for (let j = 0; j <= i; j += 1) {
      let sum = a[i * dimension + j] as number;
      for (let k = 0; k < j; k += 1)
        sum -= (l[i * dimension + k] as number) * (l[j * dimension + k] as number);
      if (i === j) {
        if (!(sum > 0)) throw new NotPositiveDefiniteError(i, sum);
        l[i * dimension + i] = Math.sqrt(sum);
      } else {
        l[i * dimension + j] = sum / (l[j * dimension + j] as number);
      }
    }
  }
  return l;
};

/**
 * A⁻¹ of a symmetric positive definite A by a direct solve: Cholesky, then L⁻¹ by forward
 * substitution, then A⁻¹ = L⁻ᵀ·L⁻¹ — O(d³), the numerically clean reference the incremental
 * Sherman–Morrison inverse is checked and refreshed against.
 */
export const inverseSpd = (a: readonly number[], dimension: number): number[] => {
  const l = cholesky(a, dimension);
  const lInv = new Float64Array(dimension * dimension);
  for (let i = 0; i < dimension; i += 1) {
    lInv[i * dimension + i] = 1 / (l[i * dimension + i] as number);
    for (let j = 0; j < i; j += 1) {
      let sum = 0;
      for (let k = j; k < i; k += 1)
        sum += (l[i * dimension + k] as number) * (lInv[k * dimension + j] as number);
      lInv[i * dimension + j] = -sum / (l[i * dimension + i] as number);
    }
  }
  const out = new Array<number>(dimension * dimension);
  for (let i = 0; i < dimension; i += 1) {
    for (let j = i; j < dimension; j += 1) {
      // (L⁻ᵀL⁻¹)_ij = Σ_k L⁻¹_ki · L⁻¹_kj over k ≥ max(i, j) = j (L⁻¹ is lower triangular).
      let sum = 0;
      for (let k = j; k < dimension; k += 1)
        sum += (lInv[k * dimension + i] as number) * (lInv[k * dimension + j] as number);
      out[i * dimension + j] = sum;
      out[j * dimension + i] = sum;
    }
  }
  return out;
};

/** Packs the upper triangle (row by row, diagonal included) of a symmetric matrix: d(d+1)/2 numbers. */
export const packUpper = (m: readonly number[], dimension: number): number[] => {
  const out: number[] = [];
  for (let i = 0; i < dimension; i += 1)
    for (let j = i; j < dimension; j += 1) out.push(m[i * dimension + j] as number);
  return out;
};

export const unpackUpper = (packed: readonly number[], dimension: number): number[] => {
  const out = new Array<number>(dimension * dimension);
  let k = 0;
  for (let i = 0; i < dimension; i += 1)
    for (let j = i; j < dimension; j += 1) {
      const value = packed[k] as number;
      out[i * dimension + j] = value;
      out[j * dimension + i] = value;
      k += 1;
    }
  return out;
};
