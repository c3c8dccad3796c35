import { callExpertOnce } from '#shared/outbound/expert-call.js';
import type { OutboundHttp } from '#shared/outbound/outbound.js';
import type { ExpertAttempt } from '#shared/ports/expert-call.js';
import type { ExpertPort } from '../domain/runner.js';

/** Reported costs above this are not taken (an evaluation does not account costs; kept for the record). */
export const MAX_REPORTED_COST_USD = 1_000_000;

export interface EndpointExpertsOptions {
  /** The kernel's guarded client (`GuardedHttpClient`), `allowPrivate` only for local runs. */
  readonly client: OutboundHttp;
  /** Expert id → its endpoint URL. */
  readonly endpoints: ReadonlyMap<string, string>;
  /** More headers per call (credentials, a trace id). @default none */
  readonly headers?: (expertId: string, taskId: string, trial: number) => Record<string, string>;
  /** @default MAX_REPORTED_COST_USD */
  readonly maxCostUsd?: number;
}

/**
 * The runner's expert call over HTTP through the kernel's guarded outbound client (egress guard,
 * pinned DNS, time and size limits, no redirects): `POST <endpoint>` with the task's input as JSON
 * and the headers `X-Conductor-Eval-Task` and `X-Conductor-Eval-Trial`. One attempt per call: the
 * runner retries. An expert with no endpoint here is refused (`unknown_expert`) with no call.
 *
 * The outbound client takes no AbortSignal, so a call is bounded by its `timeoutMs` alone; the
 * runner's hard per-trial bound covers anything past that.
 */
export class EndpointExperts implements ExpertPort {
  constructor(private readonly options: EndpointExpertsOptions) {}

  async call(
    expertId: string,
    input: unknown,
    options: { timeoutMs: number; signal: AbortSignal; taskId: string; trial: number },
  ): Promise<ExpertAttempt> {
    const endpoint = this.options.endpoints.get(expertId);
    if (endpoint === undefined)
      return {
        kind: 'refused',
        code: 'unknown_expert',
        message: `No endpoint is known for expert ${expertId}.`,
      };
    if (options.signal.aborted)
      return {
        kind: 'unavailable',
        code: 'upstream_timeout',
        message: 'The trial was abandoned.',
        latencyMs: 0,
      };
    return callExpertOnce(this.options.client, {
      endpoint,
      payload: input,
      headers: {
        'x-conductor-eval-task': options.taskId,
        'x-conductor-eval-trial': String(options.trial),
        ...this.options.headers?.(expertId, options.taskId, options.trial),
      },
      timeoutMs: options.timeoutMs,
      maxCostUsd: this.options.maxCostUsd ?? MAX_REPORTED_COST_USD,
    });
  }
}
