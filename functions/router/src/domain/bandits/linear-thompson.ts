import { InvalidRouterConfigError } from './errors.js';
import { fnv1a32 } from './hash.js';
import { quadraticForm } from './linear-algebra.js';
import {
  armOf,
  attributionAgainst,
  contributions,
  emptyLinUcbState,
  type LinUcbOptions,
  type LinUcbState,
  resolveConfig,
  ridgeDecision,
  ridgeUpdate,
  squaredNorm,
} from './linucb.js';
import { mulberry32 } from './random.js';
import type { Selection, Strategy } from './strategy.js';
import {
  DEFAULT_PROPENSITY_DRAWS,
  type Posteriors,
  probabilityBestMonteCarlo,
  thompsonSelection,
} from './thompson.js';
import { dot, type FeatureVector, forEachNonZero } from './vectors.js';

/**
 * Contextual (linear) Thompson sampling, LinTS (Agrawal & Goyal 2013), on the model LinUCB learns:
 * one Bayesian linear regression per expert on the encoded context, with the Gaussian posterior
 *   θ ~ N(θ̂, v²·A⁻¹),  A = λI + Σ x·xᵀ,  θ̂ = A⁻¹b,
 * (the ridge solution is its mean; `noise` is v, the reward noise's standard deviation). A decision
 * draws each candidate's expected reward for this context from its posterior and picks the largest.
 *
 * For one context x the score xᵀθ of an expert is itself Gaussian, N(xᵀθ̂, v²·xᵀA⁻¹x), and the experts'
 * posteriors are independent, so drawing each candidate's score directly is the same as drawing θ
 * and taking xᵀθ — exactly, at O(d²) per candidate with the A⁻¹ the model keeps, instead of a
 * Cholesky factor of A⁻¹ (O(d³)) and a d-dimensional draw.
 *
 * Unlike the context-free Thompson strategies this one uses the context: the same expert can be the
 * pick for one task and not for another. It shares its state with LinUCB (`ridge`): a tenant can
 * switch between them and keep what was learnt.
 *
 * - propensity: P(best) of the chosen expert for this context, by Monte Carlo over `propensityDraws`
 *   joint draws from a generator seeded by the state version, the candidates and the context (so a
 *   replay gets the same figure), smoothed as the context-free Thompson's (none is 0, they sum to 1).
 *   It depends on the context, so it is computed per decision (k·D normal draws, D = 256 by default).
 * - per candidate: `estimate` xᵀθ̂, `uncertainty` v·√(xᵀA⁻¹x), `sampled` the draw.
 * - confidence: the chosen expert's P(best) (the propensity).
 * - exploration: the pick is not the argmax of xᵀθ̂.
 * - topFeatures: the largest |θ̂ᵢ·xᵢ| of the chosen expert.
 * - with a penalty: the pick is the largest draw − penalty, exploitation the largest xᵀθ̂ − penalty,
 *   P(best) counts the wins of draw − penalty on the same seeded draws (deterministic per state,
 *   candidates, context and penalties); the runner-up is the best other draw − penalty.
 */
export interface LinearThompsonOptions extends LinUcbOptions {
  /** Joint draws for the P(best) estimate, per decision. @default 256 */
  readonly propensityDraws?: number;
}

const MAX_DRAWS = 10_000;

/** A seed from the context's non-zero features (the same context hashes the same). */
const contextKey = (x: FeatureVector): string => {
  const parts: string[] = [];
  forEachNonZero(x, (index, value) => {
    parts.push(`${index}:${value}`);
  });
  return parts.join(',');
};

export const createLinearThompson = (options: LinearThompsonOptions): Strategy<LinUcbState> => {
  const config = resolveConfig(options);
  const draws = options.propensityDraws ?? DEFAULT_PROPENSITY_DRAWS;
  if (!(Number.isInteger(draws) && draws >= 1 && draws <= MAX_DRAWS))
    throw new InvalidRouterConfigError(
      `propensityDraws must be an integer in [1, ${MAX_DRAWS}].`,
      'propensityDraws',
    );
  return {
    name: 'linear-thompson',
    initialState: () => emptyLinUcbState(config.dimension, config.lambda),
    update: ridgeUpdate(config),
    select: (rawCandidates, x, state, rng, penalty): Selection => {
      const { candidates, penalties } = ridgeDecision(config, rawCandidates, x, state, penalty);
      const k = candidates.length;
      const d = state.dimension;
      const means = new Float64Array(k);
      const sds = new Float64Array(k);
      const thetas: (readonly number[] | undefined)[] = new Array(k);
      let priorWidth = -1;
      for (let a = 0; a < k; a += 1) {
        const arm = armOf(state, candidates[a] as string);
        if (arm === undefined) {
          if (priorWidth < 0) priorWidth = Math.sqrt(squaredNorm(x) / state.lambda);
          sds[a] = config.noise * priorWidth;
        } else {
          thetas[a] = arm.theta;
          means[a] = dot(x, arm.theta);
          sds[a] = config.noise * Math.sqrt(Math.max(0, quadraticForm(arm.aInv, x, d)));
        }
      }
      const posteriors: Posteriors = { family: 'normal', p: means, q: sds, means, sds };
      const seed = fnv1a32(
        `linear-thompson\u0000${state.version}\u0000${candidates.join('\u0000')}\u0000${contextKey(x)}`,
      );
      const probabilities = probabilityBestMonteCarlo(posteriors, draws, mulberry32(seed), penalties);
      return thompsonSelection(
        candidates,
        posteriors,
        probabilities,
        rng,
        state.version,
        penalties,
        'linear-thompson',
        (chosen, scores) => {
          const theta = thetas[chosen];
          return {
            topFeatures: theta === undefined ? [] : contributions(x, theta, config.topFeatures),
            ...attributionAgainst(scores, chosen, x, thetas, candidates, config.topFeatures, penalties),
          };
        },
      );
    },
  };
};
