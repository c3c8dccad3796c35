/**
 * Hybrid logical clocks (Kulkarni et al.): a wall-clock time in milliseconds, a counter for events in
 * the same millisecond (or while the wall clock lags a time already seen), and the node that made
 * it. Ordered by time, then counter, then node, so two stamps are never equal and the order agrees
 * with causality: a node that has seen a stamp only makes larger ones. Written as one string whose
 * order is the stamps' order, `<time 13 digits>.<counter 6 digits>.<node>`, so a stored value can
 * be compared without parsing it.
 */
export interface HlcStamp {
  readonly time: number;
  readonly counter: number;
  readonly node: string;
}

const HLC_PATTERN = /^(\d{13})\.(\d{6})\.(.{1,128})$/;
const MAX_COUNTER = 999_999;

export const formatHlc = (stamp: HlcStamp): string =>
  `${String(stamp.time).padStart(13, '0')}.${String(stamp.counter).padStart(6, '0')}.${stamp.node}`;

/** A stamp from its text, or undefined when it is not one. */
export const parseHlc = (text: unknown): HlcStamp | undefined => {
  if (typeof text !== 'string') return undefined;
  const match = HLC_PATTERN.exec(text);
  if (!match) return undefined;
  return { time: Number(match[1]), counter: Number(match[2]), node: match[3] as string };
};

/** Negative, zero or positive as `a` is before, the same as, or after `b`. */
export const compareHlc = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * One node's clock. `now()` stamps a local event; `observe()` takes in a stamp received from
 * elsewhere, so that the next local stamp is after it.
 */
export class HybridLogicalClock {
  #last: HlcStamp;

  constructor(
    readonly node: string,
    private readonly wallClock: () => number = Date.now,
    last?: string,
  ) {
    this.#last = parseHlc(last) ?? { time: 0, counter: 0, node };
  }

  now(): string {
    const wall = this.wallClock();
    const last = this.#last;
    this.#last =
      wall > last.time
        ? { time: wall, counter: 0, node: this.node }
        : { time: last.time, counter: Math.min(last.counter + 1, MAX_COUNTER), node: this.node };
    return formatHlc(this.#last);
  }

  observe(remote: string | undefined): void {
    const stamp = parseHlc(remote);
    if (!stamp) return;
    const last = this.#last;
    if (stamp.time > last.time || (stamp.time === last.time && stamp.counter > last.counter)) {
      this.#last = { time: stamp.time, counter: stamp.counter, node: this.node };
    }
  }

  /** The last stamp made or observed, to keep across restarts. */
  get last(): string {
    return formatHlc(this.#last);
  }
}
