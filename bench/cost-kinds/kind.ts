import type { RunningConductor } from '../../infra/local/runtime.js';

/**
 * One kind of request `npm run bench:cost` prices (bench/cost.ts): sent REQUESTS times under a call
 * meter, with every event source mapping drained before the meter stops, so the asynchronous work
 * the requests set off (queue consumers, workers) is priced with them.
 */
export interface Kind {
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'PUT';
  /** Under the API's base URL (`/router/route`, `/scheduler/enqueue`, …). */
  readonly path: string;
  readonly token: string;
  readonly status: number;
  /** The body of request i (undefined for a GET). */
  readonly body?: (i: number, phase: string) => unknown;
  /** Headers of request i besides the bearer token and the content type (e.g. an edge node's credential). */
  readonly headers?: (i: number, phase: string) => Readonly<Record<string, string>>;
  /** Work done before the phase, unmetered (e.g. routing the tasks a reward phase rewards). */
  readonly prepare?: (count: number, phase: string) => Promise<void>;
  /** Requests of this kind sent, unmetered, before it is measured (default 5). */
  readonly warmUp?: number;
  /** Requests sent at once, each wave answered before the next (default 1: one after another). */
  readonly wave?: number;
  /** Checks an answer's body (e.g. that an invoke was served as the kind says); throws if not. */
  readonly check?: (reply: unknown) => void;
  /**
   * Run unmetered after each phase (warm-up and measured) once the drain is done: checks that the
   * work the phase's requests set off really finished (jobs completed, runs stored); throws if not.
   */
  readonly verify?: () => Promise<void>;
  /**
   * Of a tenant of its own: warmed up just before it is measured, not with acme's kinds, so that
   * acme's kinds are warmed up and measured as before (its warm-up would otherwise come between
   * theirs and their measurement, and let acme's 30 s caches expire: the budget look-up, the model).
   */
  readonly ownTenant?: boolean;
  /** What one request of this kind is, when the name does not say it (the report's note). */
  readonly note?: string;
}

/** What a pillar's kinds get to set themselves up with (their setup runs unmetered). */
export interface CostContext {
  readonly conductor: RunningConductor;
  /** A bearer token for `subject` of `tenant` with `roles` (MFA in `amr` when `mfa`). */
  readonly token: (
    tenant: string,
    subject: string,
    roles: readonly string[],
    mfa?: boolean,
  ) => Promise<string>;
  /** A request of the bench's own (`headers` besides the token's); throws unless it answers `status`; its JSON answer. */
  readonly call: (
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    token: string,
    body: unknown,
    status: number,
    headers?: Readonly<Record<string, string>>,
  ) => Promise<Record<string, unknown>>;
  /**
   * A local expert on 127.0.0.1 (private endpoints are allowed in this runtime): any POST under it
   * is answered at once with `{ "answer": "pong", "costUsd": 0.0004 }`, under `/fail` with 503.
   */
  readonly expertBase: string;
}

/** A pillar's kinds, set up (unmetered) in their own tenants. */
export type PillarKinds = (context: CostContext) => Promise<readonly Kind[]>;
