/**
 * How one call to an expert's endpoint went, classified the way every caller of experts needs it
 * (the scheduler's worker, which retries; the router's invoke mode, which falls back to another
 * expert). Made by `callExpertOnce` (outbound/expert-call.ts); domain code sees only this type.
 *
 * - `answer`: the expert answered with a status nobody retries (2xx, or a 4xx other than 408 and
 *   429: the expert's own verdict on the request). `reportedCostUsd` when it reported one.
 * - `unavailable`: an infrastructure error, worth another attempt or another expert: no answer in
 *   time (`upstream_timeout`), no connection (`upstream_unreachable`), or 408, 429, 500, 502, 503,
 *   504 (`upstream_status`, with the status).
 * - `unusable`: the expert answered, but not usably: larger than the size cap, or not the JSON its
 *   content-type claims (`upstream_response_too_large`, `upstream_invalid_json`).
 * - `refused`: the egress guard refused the endpoint (private, metadata or reserved address, a port
 *   not allowed...): no connection was made, and retrying cannot help.
 */
export type ExpertAttempt =
  | {
      readonly kind: 'answer';
      readonly status: number;
      readonly body: unknown;
      readonly latencyMs: number;
      readonly reportedCostUsd?: number;
    }
  | {
      readonly kind: 'unavailable';
      readonly code: 'upstream_timeout' | 'upstream_unreachable' | 'upstream_status';
      readonly status?: number;
      readonly message: string;
      readonly latencyMs: number;
    }
  | { readonly kind: 'unusable'; readonly code: string; readonly message: string; readonly latencyMs: number }
  | { readonly kind: 'refused'; readonly code: string; readonly message: string };
