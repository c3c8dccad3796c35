import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '#shared/errors.js';
import { EgressRefusedError, type OutboundHttp } from '#shared/outbound/outbound.js';
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

const RETRIED_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
const RETRIED_CODES = new Set(['upstream_timeout', 'upstream_unreachable']);

/** The cost an expert reports: `costUsd` in its JSON answer, or the X-Conductor-Cost-Usd header. */
export const reportedCostOf = (
  body: unknown,
  headers: Readonly<Record<string, string>>,
): number | undefined => {
  const fromBody =
    body !== null && typeof body === 'object' && 'costUsd' in body
      ? (body as { costUsd: unknown }).costUsd
      : undefined;
  const raw = fromBody ?? headers['x-conductor-cost-usd'];
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  // Rounded to a trillionth of a dollar: a reported 5e-324 is 0, a number the table can hold.
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_JOB_ESTIMATE_USD
    ? Math.round(value * 1e12) / 1e12
    : undefined;
};

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
      const started = Date.now();
      try {
        const response = await this.client.request({
          url: request.endpoint,
          method: 'POST',
          body: request.payload,
          headers: {
            'idempotency-key': request.jobId,
            'x-conductor-job-id': request.jobId,
            'x-conductor-trace-id': request.traceId,
          },
          timeoutMs: CALL_TIMEOUT_MS,
        });
        if (RETRIED_STATUSES.has(response.status)) {
          lastProblem = `the expert answered ${response.status}`;
          continue;
        }
        const reported = reportedCostOf(response.body, response.headers);
        return {
          outcome: response.status >= 200 && response.status < 300 ? 'ok' : 'error',
          httpStatus: response.status,
          latencyMs: Math.round(response.durationMs),
          attempts: attempt,
          result: response.body,
          ...(reported === undefined ? {} : { reportedCostUsd: reported }),
          called: true,
        };
      } catch (error) {
        if (error instanceof EgressRefusedError) {
          return {
            outcome: 'error',
            latencyMs: 0,
            attempts: attempt,
            result: { code: error.code, message: error.message },
            called: false,
          };
        }
        if (error instanceof AppError && !RETRIED_CODES.has(error.code)) {
          // The expert answered, but not usably (too large, not the JSON it claimed).
          return {
            outcome: 'error',
            latencyMs: Date.now() - started,
            attempts: attempt,
            result: { code: error.code, message: error.message },
            called: true,
          };
        }
        lastProblem = error instanceof Error ? error.message : String(error);
      }
    }
    throw new ExpertUnavailableError(`Expert call failed ${ATTEMPTS} times: ${lastProblem}`);
  }
}
