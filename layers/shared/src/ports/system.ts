import { randomUUID } from 'node:crypto';

/** Time, injected so domain code never calls Date.now. */
export interface Clock {
  now(): Date;
}

/** How far the embedded runtime has moved the system clock forward (always 0 in Lambda). */
let skewMs = 0;

/** Wall-clock time; on the embedded runtime, plus what `advanceSystemClock` added. */
export const systemClock: Clock = { now: () => new Date(Date.now() + skewMs) };

/**
 * The embedded runtime's controllable clock (RunningConductor.advanceClock): moves every handler's
 * `systemClock` forward, so a test or a benchmark can cross a canary window or a soak without waiting.
 * Nothing in a deployed function calls it. `reset` puts the clock back on the wall.
 */
export const advanceSystemClock = (ms: number | 'reset'): void => {
  if (ms === 'reset') skewMs = 0;
  else if (Number.isFinite(ms) && ms >= 0) skewMs += ms;
  else throw new RangeError(`the clock only moves forward, by a finite number of ms (got ${ms})`);
};

/** A clock tests can move by hand. */
export class ManualClock implements Clock {
  #ms: number;
  constructor(start: Date | string | number = '2026-01-01T00:00:00.000Z') {
    this.#ms = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.#ms);
  }
  advance(ms: number): void {
    this.#ms += ms;
  }
}

/** Identifier source, injected so domain code is deterministic under test. */
export interface IdGenerator {
  next(prefix?: string): string;
}

export const randomIds: IdGenerator = {
  next: (prefix) => (prefix ? `${prefix}_${randomUUID()}` : randomUUID()),
};

export class SequentialIds implements IdGenerator {
  #n = 0;
  next(prefix = 'id'): string {
    this.#n += 1;
    return `${prefix}_${String(this.#n).padStart(6, '0')}`;
  }
}
