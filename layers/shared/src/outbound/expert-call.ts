import { AppError } from '../errors.js';
import type { ExpertAttempt } from '../ports/expert-call.js';
import { EgressRefusedError, type OutboundHttp } from './outbound.js';

export type { ExpertAttempt } from '../ports/expert-call.js';

export const RETRIED_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);
const UNAVAILABLE_CODES = new Set(['upstream_timeout', 'upstream_unreachable']);

/**
 * The cost an expert reports: `costUsd` in its JSON answer, or the X-Conductor-Cost-Usd header; a
 * number in [0, max], rounded to a trillionth of a dollar (a reported 5e-324 is 0, a number a table
 * can hold). Anything else is no report.
 */
export const reportedCostOf = (
  body: unknown,
  headers: Readonly<Record<string, string>>,
  maxUsd: number,
): number | undefined => {
  const fromBody =
    body !== null && typeof body === 'object' && 'costUsd' in body
      ? (body as { costUsd: unknown }).costUsd
      : undefined;
  const raw = fromBody ?? headers['x-conductor-cost-usd'];
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= maxUsd
    ? Math.round(value * 1e12) / 1e12
    : undefined;
};

export interface ExpertCallRequest {
  readonly endpoint: string;
  readonly payload: unknown;
  readonly headers: Record<string, string>;
  readonly timeoutMs: number;
  /** Reported costs above this are ignored (not a number the caller can hold). */
  readonly maxCostUsd: number;
}

/**
 * One call to an expert's endpoint through the guarded outbound client (`POST <endpoint>`, the
 * payload as JSON), never thrown: every way it can go is an `ExpertAttempt` (ports/expert-call.ts).
 * The scheduler's worker retries on `unavailable`; the router's invoke mode falls back.
 */
export const callExpertOnce = async (
  client: OutboundHttp,
  request: ExpertCallRequest,
): Promise<ExpertAttempt> => {
  const started = Date.now();
  try {
    const response = await client.request({
      url: request.endpoint,
      method: 'POST',
      body: request.payload,
      headers: request.headers,
      timeoutMs: request.timeoutMs,
    });
    const latencyMs = Math.round(response.durationMs);
    if (RETRIED_STATUSES.has(response.status))
      return {
        kind: 'unavailable',
        code: 'upstream_status',
        status: response.status,
        message: `the expert answered ${response.status}`,
        latencyMs,
      };
    const reported = reportedCostOf(response.body, response.headers, request.maxCostUsd);
    return {
      kind: 'answer',
      status: response.status,
      body: response.body,
      latencyMs,
      ...(reported === undefined ? {} : { reportedCostUsd: reported }),
    };
  } catch (error) {
    const latencyMs = Date.now() - started;
    if (error instanceof EgressRefusedError)
      return { kind: 'refused', code: error.code, message: error.message };
    if (error instanceof AppError && !UNAVAILABLE_CODES.has(error.code))
      return { kind: 'unusable', code: error.code, message: error.message, latencyMs };
    const code = error instanceof AppError ? error.code : 'upstream_unreachable';
    return {
      kind: 'unavailable',
      code: code === 'upstream_timeout' ? 'upstream_timeout' : 'upstream_unreachable',
      message: error instanceof Error ? error.message : String(error),
      latencyMs,
    };
  }
};
