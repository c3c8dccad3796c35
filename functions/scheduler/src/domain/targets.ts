/**
 * What a job calls (M3, "jobs that do real work"): its target, resolved when the job is admitted,
 * and the call the worker makes. Ports only; the adapters are the router's HTTP API (resolution, with
 * the caller's own rights) and the kernel's guarded outbound client (the call).
 */

/** A job's target as the API takes it: an expert of the tenant, or a routing request. */
export type JobTarget =
  | { readonly expertId: string }
  | {
      readonly route: {
        readonly context: Readonly<Record<string, unknown>>;
        readonly candidates: readonly string[];
      };
    };

/** A target resolved at admission: the expert the worker will call, and what it declares it costs. */
export interface ResolvedTarget {
  readonly expertId: string;
  readonly endpoint: string;
  readonly costPerCallUsd: number;
  /** A routed job: the router's decision for it (its taskId is the job id). */
  readonly taskId?: string;
  readonly decisionId?: string;
}

/**
 * Port: resolves a target for one request, with the caller's rights (an expert the caller cannot
 * see, or another tenant's, is refused: 422 `unknown_expert`). `preferCheaper`: route among the
 * cheaper half of the candidates only (a breached `downgrade` budget).
 */
export type TargetResolver = (
  target: JobTarget,
  options: { readonly taskId: string; readonly preferCheaper: boolean },
) => Promise<ResolvedTarget>;

/** What one expert call gave. */
export interface ExpertCallResult {
  readonly outcome: 'ok' | 'error';
  /** The HTTP status of the last attempt (absent: no answer, e.g. the endpoint was refused). */
  readonly httpStatus?: number;
  readonly latencyMs: number;
  readonly attempts: number;
  /** The answer (JSON, or text), or why there is none. */
  readonly result: unknown;
  /** The cost the expert reported (`costUsd` in its JSON answer, or X-Conductor-Cost-Usd), if any. */
  readonly reportedCostUsd?: number;
  /** Whether the expert was reached at all (a refused endpoint costs nothing). */
  readonly called: boolean;
}

/**
 * Port: calls an expert's endpoint with a job's payload. Infrastructure errors (no answer, timeout,
 * 5xx, 429, 408) are retried a bounded number of times; if they persist it rejects with
 * `ExpertUnavailableError`, so the queue delivers the job again (and dead-letters it in the end).
 * Any other answer, and an endpoint the egress guard refuses, is a result (`outcome: error`).
 */
export interface ExpertCaller {
  call(request: {
    readonly endpoint: string;
    readonly payload: unknown;
    readonly jobId: string;
    readonly traceId: string;
  }): Promise<ExpertCallResult>;
}

/** The expert could not be reached after the retries of one delivery: the job comes back later. */
export class ExpertUnavailableError extends Error {
  override readonly name = 'ExpertUnavailableError';
}

/** The most of an expert's answer a job keeps (the rest is cut; the item stays far below 400 KB). */
export const MAX_RESULT_BYTES = 32 * 1024;

/** The job's actual cost: what the expert reported, else its declared cost per call; nothing if it was never reached. */
export const actualCostOf = (call: ExpertCallResult, declaredUsd: number): number =>
  !call.called ? 0 : (call.reportedCostUsd ?? declaredUsd);

/** A routed job's outcome, for the router (its decision's taskId is the job id). */
export interface JobOutcomeReport {
  readonly tenantId: string;
  readonly taskId: string;
  readonly status: 'ok' | 'error';
  readonly latencyMs: number;
  readonly traceId: string;
}

/** Port: hands a routed job's outcome to the router (its `job-outcomes` queue); resolves once accepted. */
export interface OutcomeReporter {
  report(outcome: JobOutcomeReport): Promise<void>;
}
