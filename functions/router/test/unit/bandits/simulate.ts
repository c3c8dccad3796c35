import {
  type FeatureVector,
  type ModelState,
  mulberry32,
  type Strategy,
} from '../../../src/domain/bandits/index.js';

/**
 * Runs a strategy against Bernoulli experts (success probability per expert, possibly depending on
 * the context) for `rounds` decisions; returns how often each expert was picked in the second half.
 */
export const simulate = <State extends ModelState>(
  strategy: Strategy<State>,
  options: {
    readonly experts: readonly string[];
    readonly successRate: (expertId: string, round: number) => number;
    readonly rounds: number;
    readonly seed?: number;
    readonly context?: (round: number) => FeatureVector;
  },
): { readonly lateCounts: Record<string, number>; readonly state: State } => {
  const rng = mulberry32(options.seed ?? 7);
  const world = mulberry32((options.seed ?? 7) + 1);
  let state = strategy.initialState();
  const lateCounts: Record<string, number> = Object.fromEntries(options.experts.map((e) => [e, 0]));
  for (let round = 0; round < options.rounds; round += 1) {
    const x = options.context?.(round) ?? Float64Array.of(1);
    const { expertId } = strategy.select(options.experts, x, state, rng);
    const reward = world() < options.successRate(expertId, round) ? 1 : 0;
    state = strategy.update(state, expertId, x, reward);
    if (round >= options.rounds / 2) lateCounts[expertId] = (lateCounts[expertId] ?? 0) + 1;
  }
  return { lateCounts, state };
};
