import { randomUUID } from 'node:crypto';

/** Time, injected so domain code never calls Date.now. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

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
