export const START = Date.parse('2026-01-01T00:00:00.000Z');

/** A clock the test moves by hand (milliseconds), from START. */
export const manualClock = () => {
  let now = START;
  return { clock: () => now, advance: (ms: number) => (now += ms) };
};
