import { probabilityBestLowerBound, type Selection } from './bandits/index.js';

/** How many of a tenant's latest decisions the exploration cap is measured over (per instance). */
export const EXPLORATION_WINDOW = 1_000;

/** One tenant's latest decisions as a ring of explored (1) / exploited (0) flags. */
class Window {
  readonly flags: Uint8Array;
  next = 0;
  filled = 0;
  explored = 0;

  constructor(size: number) {
    this.flags = new Uint8Array(size);
  }

  /** The explored count and size the window would have with one more decision of this kind. */
  withOne(explored: boolean): { explored: number; size: number } {
    const evicted = this.filled === this.flags.length ? (this.flags[this.next] as number) : 0;
    return {
      explored: this.explored - evicted + (explored ? 1 : 0),
      size: Math.min(this.filled + 1, this.flags.length),
    };
  }

  push(explored: boolean): void {
    const { explored: count, size } = this.withOne(explored);
    this.flags[this.next] = explored ? 1 : 0;
    this.next = (this.next + 1) % this.flags.length;
    this.filled = size;
    this.explored = count;
  }
}

/**
 * The per-tenant exploration cap: the fraction of non-greedy picks among a tenant's latest
 * `window` decisions never exceeds the tenant's cap. An exploring pick is admitted only if, counted
 * in, the fraction stays within the cap; otherwise the decision exploits instead (see
 * `exploitInstead`). Each process (each Lambda instance) keeps its own windows: since every
 * instance's fraction stays within the cap, so does the fraction over all instances together, with
 * no shared counter and no extra write per route. A new window starts by exploiting until the cap
 * leaves room (with cap 0.1: the first exploration can happen at the 10th decision).
 */
export class ExplorationBudget {
  readonly #windows = new Map<string, Window>();

  constructor(
    private readonly window = EXPLORATION_WINDOW,
    private readonly maxTenants = 10_000,
  ) {
    if (!Number.isInteger(window) || window < 1) throw new RangeError('window must be a positive integer');
  }

  /**
   * Records a decision of `tenantId` and says whether its exploration may stand: true for every
   * exploiting pick, and for an exploring one that keeps the window's fraction within `cap`.
   */
  admit(tenantId: string, exploring: boolean, cap: number): boolean {
    const window = this.#windowOf(tenantId);
    const admitted = !exploring || cap >= 1 || this.#fits(window, cap);
    window.push(exploring && admitted);
    return admitted;
  }

  /**
   * Whether the tenant's next decision may explore (without recording it): false when one more
   * exploring pick would take the window past `cap`. With no room, the decision is an exploitation
   * whatever the strategy draws.
   */
  hasRoom(tenantId: string, cap: number): boolean {
    return cap >= 1 || this.#fits(this.#windowOf(tenantId), cap);
  }

  /** The fraction of exploring picks among the tenant's latest decisions in this instance. */
  rate(tenantId: string): number {
    const window = this.#windows.get(tenantId);
    return window && window.filled > 0 ? window.explored / window.filled : 0;
  }

  #fits(window: Window, cap: number): boolean {
    const next = window.withOne(true);
    // Counts, not floats: explored/size <= cap, with a tolerance for caps like 0.1.
    return next.explored <= cap * next.size + 1e-9;
  }

  #windowOf(tenantId: string): Window {
    let window = this.#windows.get(tenantId);
    if (!window) {
      if (this.#windows.size >= this.maxTenants) {
        const oldest = this.#windows.keys().next().value;
        if (oldest !== undefined) this.#windows.delete(oldest);
      }
      window = new Window(this.window);
      this.#windows.set(tenantId, window);
    }
    return window;
  }
}

/**
 * The decision a capped exploration becomes: the exploiting pick, deterministic (propensity 1: with
 * the cap reached, nothing else could have been picked), with the confidence the strategy has that it
 * is the best candidate (Thompson's pick probability is exactly that; the others' Gaussian bound).
 */
export const exploitInstead = (
  selection: Selection,
  /** The exploiting pick's top feature contributions (linear strategies), if they can be had. */
  topFeatures: Selection['topFeatures'] = [],
): Selection => {
  const index = selection.perCandidate.findIndex((c) => c.expertId === selection.exploitExpertId);
  const assessed = selection.perCandidate[index];
  const confidence =
    assessed === undefined
      ? selection.confidence
      : selection.strategy === 'thompson' || selection.strategy === 'linear-thompson'
        ? assessed.probability
        : probabilityBestLowerBound(
            selection.perCandidate.map((c) => c.estimate),
            selection.perCandidate.map((c) => c.uncertainty),
            index,
          );
  // The attribution compares the strategy's own pick with its runner-up: not the pick served here.
  const { attribution, ...rest } = selection;
  return {
    ...rest,
    ...(attribution !== undefined && selection.expertId === selection.exploitExpertId ? { attribution } : {}),
    expertId: selection.exploitExpertId,
    propensity: 1,
    confidence,
    exploration: false,
    topFeatures: selection.expertId === selection.exploitExpertId ? selection.topFeatures : topFeatures,
  };
};
