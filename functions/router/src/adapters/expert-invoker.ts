import { callExpertOnce } from '#shared/outbound/expert-call.js';
import type { OutboundHttp } from '#shared/outbound/outbound.js';
import type { ExpertInvoker, InvokeCall } from '../domain/invoke.js';

/** Reported costs above this are not taken (the cost signal's own range). */
const MAX_REPORTED_COST_USD = 1_000_000;

/**
 * Invoke mode's expert call through the kernel's guarded outbound client (private, link-local and
 * metadata addresses refused at call time, DNS answers pinned, the request's timeout, 1 MiB answers,
 * no redirects): `POST <endpoint>` with the request's input as JSON and the headers
 * `Idempotency-Key` and `X-Conductor-Task-Id` (the task the call was routed as) and
 * `X-Conductor-Trace-Id`. One attempt: the fallback to another expert is the domain's.
 */
export class GuardedExpertInvoker implements ExpertInvoker {
  constructor(private readonly client: OutboundHttp) {}

  call(request: {
    endpoint: string;
    input: unknown;
    taskId: string;
    traceId: string;
    timeoutMs: number;
  }): Promise<InvokeCall> {
    return callExpertOnce(this.client, {
      endpoint: request.endpoint,
      payload: request.input,
      headers: {
        'idempotency-key': request.taskId,
        'x-conductor-task-id': request.taskId,
        'x-conductor-trace-id': request.traceId,
      },
      timeoutMs: request.timeoutMs,
      maxCostUsd: MAX_REPORTED_COST_USD,
    });
  }
}
