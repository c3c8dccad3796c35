/**
 * Randomness for the strategies. Domain code never calls Math.random: every decision takes an
 * injected `Rng`, so a seeded generator replays it exactly (tests, benchmarks, audits), while the
 * handler injects a non-reproducible one.
 */

/** Uniform doubles in [0, 1). */
export type Rng = () => number;

/** mulberry32: a small, fast, seedable 32-bit generator (good enough for sampling, not for secrets). */
export const mulberry32 = (seed: number): Rng => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
};

/** A uniform index in [0, n). */
export const uniformIndex = (rng: Rng, n: number): number => Math.min(n - 1, Math.floor(rng() * n));

/**
 * Rejection loops (Marsaglia–Tsang accepts ~98 % of proposals for shape >= 1) are bounded: after this
 * many rejections in a row — probability below 1e-100 — the sampler returns the distribution's mean.
 */
const MAX_REJECTIONS = 64;

/**
 * Samplers that draw from one `Rng`. Box–Muller yields normals in pairs; the spare is kept in the
 * sampler, which lives for one decision, so a decision stays a pure function of the generator.
 */
export class Sampler {
  #spare = Number.NaN;

  constructor(readonly rng: Rng) {}

  /** A standard normal draw. */
  normal(): number {
    const spare = this.#spare;
    if (!Number.isNaN(spare)) {
      this.#spare = Number.NaN;
      return spare;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - this.rng()));
    const angle = 2 * Math.PI * this.rng();
    this.#spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /** A Gamma(shape, 1) draw (Marsaglia & Tsang 2000; shape < 1 via the u^(1/shape) boost). */
  gamma(shape: number): number {
    if (shape < 1) return this.gamma(shape + 1) * (1 - this.rng()) ** (1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (let attempt = 0; attempt < MAX_REJECTIONS; attempt += 1) {
      const x = this.normal();
      let v = 1 + c * x;
      if (v <= 0) continue;
      v = v * v * v;
      const u = 1 - this.rng();
      const x2 = x * x;
      if (u < 1 - 0.0331 * x2 * x2) return d * v;
      if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
    }
    return shape;
  }

  /** A Beta(a, b) draw, as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b). */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    const sum = x + y;
    return sum > 0 ? x / sum : a / (a + b);
  }
}
