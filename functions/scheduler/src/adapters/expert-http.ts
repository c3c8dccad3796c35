import { setTimeout as sleep } from 'node:timers/promises';
import { callExpertOnce, reportedCostOf as reportedCostOfAnswer } from '#shared/outbound/expert-call.js';
import type { OutboundHttp } from '#shared/outbound/outbound.js';
import { MAX_JOB_ESTIMATE_USD } from '../../contract.js';
import { type ExpertCaller, type ExpertCallResult, ExpertUnavailableError } from '../domain/targets.js';

/**
 * The worker's expert call through the kernel's guarded outbound client (private, link-local and
 * metadata addresses refused at call time, DNS answers pinned, time and size limits, no redirects):
 * `POST <endpoint>` with the job's payload as JSON and the headers `Idempotency-Key` and
 * `X-Conductor-Job-Id` (the job id: a repeated call after a worker died is the same job) and
 * `X-Conductor-Trace-Id`.
 *
 * Retries, for infrastructure errors only: no answer (unreachable, timeout), 5xx, 429 and 408 are
 * tried again after BACKOFF_MS, at most ATTEMPTS calls in all; then `ExpertUnavailableError`, and the
 * queue delivers the job again later. Any other answer is the job's result (`ok` for 2xx, `error`
 * otherwise), as is an answer too large or not the JSON it claims to be. An endpoint the guard
 * refuses is an `error` result with no call (it costs nothing): retrying cannot help.
 */

export const ATTEMPTS = 3;
export const BACKOFF_MS = [250, 1000] as const;
/** Per call: three calls and their pauses stay within the worker's 30 s timeout. */
export const CALL_TIMEOUT_MS = 8_000;

/** The cost an expert reports (the kernel's rule), bounded by the largest job estimate. */
export const reportedCostOf = (
  body: unknown,
  headers: Readonly<Record<string, string>>,
): number | undefined => reportedCostOfAnswer(body, headers, MAX_JOB_ESTIMATE_USD);

export class GuardedExpertCaller implements ExpertCaller {
  readonly #pause: (ms: number) => Promise<unknown>;

  constructor(
    private readonly client: OutboundHttp,
    options: { readonly pause?: (ms: number) => Promise<unknown> } = {},
  ) {
    this.#pause = options.pause ?? ((ms) => sleep(ms));
  }

  async call(request: {
    endpoint: string;
    payload: unknown;
    jobId: string;
    traceId: string;
  }): Promise<ExpertCallResult> {
    let lastProblem = '';
    for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
      if (attempt > 1) await this.#pause(BACKOFF_MS[attempt - 2] ?? 1000);
      const outcome = await callExpertOnce(this.client, {
        endpoint: request.endpoint,
        payload: request.payload,
        headers: {
          'idempotency-key': request.jobId,
          'x-conductor-job-id': request.jobId,
          'x-conductor-trace-id': request.traceId,
        },
        timeoutMs: CALL_TIMEOUT_MS,
        maxCostUsd: MAX_JOB_ESTIMATE_USD,
      });
      switch (outcome.kind) {
        case 'answer':
          return {
            outcome: outcome.status >= 200 && outcome.status < 300 ? 'ok' : 'error',
            httpStatus: outcome.status,
            latencyMs: outcome.latencyMs,
            attempts: attempt,
            result: outcome.body,
            ...(outcome.reportedCostUsd === undefined ? {} : { reportedCostUsd: outcome.reportedCostUsd }),
            called: true,
          };
        case 'refused':
          return {
            outcome: 'error',
            latencyMs: 0,
            attempts: attempt,
            result: { code: outcome.code, message: outcome.message },
            called: false,
          };
        case 'unusable':
          // The expert answered, but not usably (too large, not the JSON it claimed).
          return {
            outcome: 'error',
            latencyMs: outcome.latencyMs,
            attempts: attempt,
            result: { code: outcome.code, message: outcome.message },
            called: true,
          };
        case 'unavailable':
          lastProblem = outcome.message;
      }
    }
    throw new ExpertUnavailableError(`Expert call failed ${ATTEMPTS} times: ${lastProblem}`);
  }
}
