import * as z from 'zod';
import { IncompatibleModelStateError } from './errors.js';
import { createEpsilonGreedy, createGreedy, createStatic } from './greedy.js';
import { createLinearThompson } from './linear-thompson.js';
import {
  createLinUcb,
  createNaiveLinUcb,
  type LinUcbState,
  loadLinUcbState,
  type StoredLinUcbState,
  toStoredLinUcbState,
} from './linucb.js';
import type { RunningMeansState } from './running-means.js';
import type { ModelState, Strategy, StrategyName } from './strategy.js';
import { type BetaBernoulliState, createBernoulliThompson, createGaussianThompson } from './thompson.js';

export * from './context-encoder.js';
export * from './errors.js';
export * from './greedy.js';
export * from './hash.js';
export * from './linear-thompson.js';
export * from './linucb.js';
export * from './random.js';
export * from './running-means.js';
export * from './strategy.js';
export * from './thompson.js';
export * from './vectors.js';

/** A tenant's strategy choice with its parameters (the feature dimension comes from its feature spec). */
export type StrategyConfig =
  | { readonly strategy: 'static'; readonly defaultExpertId: string; readonly noise?: number }
  | { readonly strategy: 'greedy'; readonly noise?: number }
  | { readonly strategy: 'epsilon-greedy'; readonly epsilon: number; readonly noise?: number }
  | {
      readonly strategy: 'thompson';
      readonly likelihood: 'bernoulli';
      readonly prior?: { readonly alpha: number; readonly beta: number };
      readonly propensityDraws?: number;
      readonly discount?: number;
    }
  | {
      readonly strategy: 'thompson';
      readonly likelihood: 'gaussian';
      readonly priorMean?: number;
      readonly priorStrength?: number;
      readonly noise?: number;
      readonly noiseStrength?: number;
      readonly propensityDraws?: number;
    }
  | {
      readonly strategy: 'linucb' | 'naive-linucb';
      readonly alpha?: number;
      readonly lambda?: number;
      readonly noise?: number;
      readonly topFeatures?: number;
      readonly discount?: number;
    }
  | {
      readonly strategy: 'linear-thompson';
      readonly lambda?: number;
      /** v: the posterior's scale, θ ~ N(θ̂, v²·A⁻¹). */
      readonly noise?: number;
      readonly topFeatures?: number;
      readonly propensityDraws?: number;
      readonly discount?: number;
    };

export type ModelKind = RunningMeansState['model'] | BetaBernoulliState['model'] | LinUcbState['model'];

/** Which model state a strategy configuration learns into. */
export const modelKindOf = (config: StrategyConfig): ModelKind => {
  switch (config.strategy) {
    case 'static':
    case 'greedy':
    case 'epsilon-greedy':
      return 'running-means';
    case 'thompson':
      return config.likelihood === 'bernoulli' ? 'beta-bernoulli' : 'running-means';
    case 'linucb':
    case 'naive-linucb':
    case 'linear-thompson':
      return 'ridge';
  }
};

/** Erases a strategy's state type behind a runtime check of `state.model`. */
const checked = <State extends ModelState>(
  strategy: Strategy<State>,
  model: ModelKind,
): Strategy<ModelState> => {
  const assertModel = (state: ModelState): State => {
    if (state.model !== model)
      throw new IncompatibleModelStateError(
        `Strategy ${strategy.name} needs a ${model} state, got ${state.model}.`,
      );
    return state as State;
  };
  return {
    name: strategy.name,
    initialState: () => strategy.initialState(),
    select: (candidates, x, state, rng, penalty) =>
      strategy.select(candidates, x, assertModel(state), rng, penalty),
    update: (state, expertId, x, reward) => strategy.update(assertModel(state), expertId, x, reward),
  };
};

/** The strategy a tenant configured, for features of `dimension` (throws InvalidRouterConfigError). */
export const createStrategy = (config: StrategyConfig, dimension: number): Strategy<ModelState> => {
  const model = modelKindOf(config);
  switch (config.strategy) {
    case 'static':
      return checked(createStatic(config), model);
    case 'greedy':
      return checked(createGreedy(config), model);
    case 'epsilon-greedy':
      return checked(createEpsilonGreedy(config), model);
    case 'thompson':
      return config.likelihood === 'bernoulli'
        ? checked(createBernoulliThompson(config), model)
        : checked(createGaussianThompson(config), model);
    case 'linucb':
      return checked(createLinUcb({ ...config, dimension }), model);
    case 'naive-linucb':
      return checked(createNaiveLinUcb({ ...config, dimension }), model);
    case 'linear-thompson':
      return checked(createLinearThompson({ ...config, dimension }), model);
  }
};

export const strategyNameOf = (config: StrategyConfig): StrategyName => config.strategy;

// ---------------------------------------------------------------------------------------------
// Storage: what a state becomes in a table item, and back (validated; LinUCB's inverses re-solved).

export type StoredModelState = RunningMeansState | BetaBernoulliState | StoredLinUcbState;

const finite = z.number().refine(Number.isFinite, 'must be finite');

const runningMeansSchema = z.strictObject({
  model: z.literal('running-means'),
  version: z.int().min(0),
  arms: z.record(
    z.string().min(1),
    z.strictObject({ n: z.int().min(0), mean: finite, m2: finite.refine((v) => v >= 0, 'must be >= 0') }),
  ),
});

const betaBernoulliSchema = z.strictObject({
  model: z.literal('beta-bernoulli'),
  version: z.int().min(0),
  arms: z.record(
    z.string().min(1),
    z.strictObject({
      successes: finite.refine((v) => v >= 0, 'must be >= 0'),
      failures: finite.refine((v) => v >= 0, 'must be >= 0'),
    }),
  ),
});

export const toStoredModelState = (state: ModelState): StoredModelState => {
  switch (state.model) {
    case 'running-means':
      return state as RunningMeansState;
    case 'beta-bernoulli':
      return state as BetaBernoulliState;
    case 'ridge':
      return toStoredLinUcbState(state as LinUcbState);
    default:
      throw new IncompatibleModelStateError(`Unknown model kind ${state.model}.`);
  }
};

/** Parses a stored state (throws a ZodError when it is malformed). */
export const loadModelState = (stored: unknown): ModelState => {
  const model = (stored as { model?: unknown } | null)?.model;
  if (model === 'ridge') return loadLinUcbState(stored);
  if (model === 'beta-bernoulli') return betaBernoulliSchema.parse(stored);
  return runningMeansSchema.parse(stored);
};
