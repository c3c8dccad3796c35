/** A small seeded generator (an LCG) in [0, 1): the same seed, the same stream. */
export const seededRandom = (seed: number): (() => number) => {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
};

const LANGUAGES = ['ts', 'go', 'py', 'rust', 'java'];
const TIERS = ['free', 'pro', 'gold'];

/** The small route contexts of the HTTP benchmarks: a language, a token count, urgency and a tier. */
export const smallContextOf = (random: () => number) => ({
  language: LANGUAGES[Math.floor(random() * LANGUAGES.length)],
  tokens: Math.floor(random() * 4000),
  urgent: random() < 0.2,
  tier: TIERS[Math.floor(random() * TIERS.length)],
});
