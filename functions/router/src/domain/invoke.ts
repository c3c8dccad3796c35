import { AppError } from '#shared/errors.js';
import type { ExpertAttempt } from '#shared/ports/expert-call.js';
import type { Expert } from './experts.js';
import type { OutcomeStatus } from './outcomes.js';
import type { RewardInput } from './reward-intake.js';
import { NoEligibleCandidatesError, type RouteAnswer, type RouteRequest } from './routing.js';

/**
 * Invoke mode (POST /router/invoke): route the task, call the chosen expert through the guarded
 * outbound client, answer with what the expert said, and record how the call went without the
 * client sending anything.
 *
 * - **Fallback.** An infrastructure failure (no answer in time, no connection, 5xx, 408, 429, an
 *   answer too large or not the JSON it claims, an endpoint whose address is refused) lets another
 *   candidate answer, at most `maxFallbacks` times. A fallback is routed as its own task,
 *   `<taskId>:fallback-N`, among the candidates not tried yet: its own decision, with the strategy's
 *   own propensity, so the expert that answered learns the quality rewards of its answer (sent to
 *   `answeredTaskId`) and replay weighs it correctly. A 4xx answer is the expert's verdict on the
 *   request: no fallback (another expert would be asked the same), the caller gets 502 with it.
 * - **Automatic signals**, for every attempt, to the attempt's own task: the outcome (as POST
 *   /router/outcome records it: ok, error or timeout, with the latency; a canary's watch counts it),
 *   `incident_free` (1 for a 2xx answer, 0 otherwise), `latency_ms` when the expert answered, and
 *   `cost` (the cost it reported, else its declared cost per call) when it answered. They are
 *   learnt like a client's (exactly once per task and signal: a retried invoke calls the expert
 *   again, its signals count once). A refused endpoint was not called: outcome error, incident_free 0.
 * - **Shadow** decisions never call an expert: only the served pick is called.
 */

/** How one call to an expert went (the kernel's classification). */
export type InvokeCall = ExpertAttempt;

/** Port: one call to an expert's endpoint (no retries: the fallback is this service's). */
export interface ExpertInvoker {
  call(request: {
    readonly endpoint: string;
    readonly input: unknown;
    readonly taskId: string;
    readonly traceId: string;
    readonly timeoutMs: number;
  }): Promise<InvokeCall>;
}

export type AttemptOutcome = 'ok' | 'refused_by_expert' | 'timeout' | 'unavailable' | 'unusable' | 'refused';

export interface InvokeAttempt {
  readonly taskId: string;
  readonly expertId: string;
  readonly decisionId: string;
  readonly outcome: AttemptOutcome;
  readonly httpStatus?: number;
  readonly code?: string;
  readonly latencyMs: number;
}

export interface InvokeRequest extends RouteRequest {
  readonly input: unknown;
  readonly timeoutMs: number;
  readonly maxFallbacks: number;
}

export interface InvokeAnswer extends RouteAnswer {
  readonly taskId: string;
  readonly answeredTaskId: string;
  readonly fallbackUsed: boolean;
  readonly output: unknown;
  readonly httpStatus: number;
  readonly latencyMs: number;
  readonly costUsd?: number;
  readonly attempts: readonly InvokeAttempt[];
  readonly signalsRecorded: boolean;
}

/** No expert gave a usable answer: 502 with every attempt (the tenant's own experts, nothing internal). */
export class ExpertFailedError extends AppError {
  constructor(message: string, attempts: readonly InvokeAttempt[]) {
    super(502, 'expert_failed', message, { details: { attempts } });
  }
}

export interface InvokeServiceDeps {
  /** The route use case, with the request's policy and budget bound. */
  readonly route: (request: RouteRequest) => Promise<RouteAnswer>;
  readonly experts: {
    getMany(tenantId: string, ids: readonly string[]): Promise<ReadonlyMap<string, Expert>>;
  };
  readonly invoker: ExpertInvoker;
  readonly recordOutcome: (input: {
    readonly taskId: string;
    readonly status: OutcomeStatus;
    readonly latencyMs: number;
  }) => Promise<unknown>;
  /** The attempt's reward signals, together (one queue batch). */
  readonly recordRewards: (inputs: readonly RewardInput[]) => Promise<unknown>;
  /** Told what each call cost and took (the cost-aware objective's observations). */
  readonly observe?: (
    expertId: string,
    seen: { readonly costUsd?: number | undefined; readonly latencyMs?: number | undefined },
  ) => void;
  /** Told of each invoke's attempts once it is decided (`answered`: an expert gave the answer). */
  readonly onInvoked?: (attempts: readonly InvokeAttempt[], answered: boolean) => void;
  /** Milliseconds, monotonic enough for a deadline (default Date.now). */
  readonly now?: () => number;
  /** A signal that could not be recorded (the answer stands; `signalsRecorded: false`). */
  readonly onSignalError?: (error: unknown, taskId: string) => void;
}

/**
 * All of an invoke's expert calls end within this, fallbacks included: the API gateway waits 30 s
 * at most, and the router function's timeout (29 s) leaves room for the route and the signals.
 */
export const INVOKE_DEADLINE_MS = 24_000;
/** A fallback is not started with less time than this left. */
export const MIN_ATTEMPT_MS = 100;

export const fallbackTaskId = (taskId: string, n: number): string => `${taskId}:fallback-${n}`;

const outcomeOf = (call: InvokeCall): AttemptOutcome => {
  switch (call.kind) {
    case 'answer':
      return call.status >= 200 && call.status < 300 ? 'ok' : 'refused_by_expert';
    case 'unavailable':
      return call.code === 'upstream_timeout' ? 'timeout' : 'unavailable';
    case 'unusable':
      return 'unusable';
    case 'refused':
      return 'refused';
  }
};

const latencyOf = (call: InvokeCall): number => (call.kind === 'refused' ? 0 : call.latencyMs);

const describe = (attempt: InvokeAttempt, timeoutMs: number): string => {
  switch (attempt.outcome) {
    case 'ok':
      return `${attempt.expertId} answered`;
    case 'refused_by_expert':
      return `${attempt.expertId} answered ${attempt.httpStatus}`;
    case 'timeout':
      return `${attempt.expertId} did not answer within ${timeoutMs} ms`;
    case 'unavailable':
      return attempt.httpStatus === undefined
        ? `${attempt.expertId} could not be reached`
        : `${attempt.expertId} answered ${attempt.httpStatus}`;
    case 'unusable':
      return `${attempt.expertId} gave an unusable answer (${attempt.code})`;
    case 'refused':
      return `${attempt.expertId}'s endpoint is not allowed (${attempt.code})`;
  }
};

export class InvokeService {
  constructor(private readonly deps: InvokeServiceDeps) {}

  async invoke(tenantId: string, request: InvokeRequest, traceId: string): Promise<InvokeAnswer> {
    const attempts: InvokeAttempt[] = [];
    const tried = new Set<string>();
    let signalsRecorded = true;
    const now = this.deps.now ?? Date.now;
    const deadline = now() + INVOKE_DEADLINE_MS;
    for (let n = 0; n <= request.maxFallbacks; n += 1) {
      const left = deadline - now();
      if (n > 0 && left < MIN_ATTEMPT_MS) break;
      const taskId = n === 0 ? request.taskId : fallbackTaskId(request.taskId, n);
      const candidates = request.candidates.filter((id) => !tried.has(id));
      let answer: RouteAnswer;
      try {
        answer = await this.deps.route({ ...request, taskId, candidates });
      } catch (error) {
        // No candidate left to fall back to: the failures so far are the answer.
        if (n > 0 && error instanceof NoEligibleCandidatesError) break;
        throw error;
      }
      tried.add(answer.expertId);
      const expert = (await this.deps.experts.getMany(tenantId, [answer.expertId])).get(answer.expertId);
      const call: InvokeCall = expert
        ? await this.deps.invoker.call({
            endpoint: expert.endpoint,
            input: request.input,
            taskId,
            traceId,
            timeoutMs: Math.max(MIN_ATTEMPT_MS, Math.min(request.timeoutMs, left)),
          })
        : // Deleted between the route and the call (a retry's stored pick): nothing to call.
          { kind: 'refused', code: 'expert_gone', message: `Expert ${answer.expertId} no longer exists.` };
      const outcome = outcomeOf(call);
      const attempt: InvokeAttempt = {
        taskId,
        expertId: answer.expertId,
        decisionId: answer.decisionId,
        outcome,
        ...(call.kind === 'answer' || (call.kind === 'unavailable' && call.status !== undefined)
          ? { httpStatus: call.status as number }
          : {}),
        ...(call.kind === 'answer' ? {} : { code: call.code }),
        latencyMs: latencyOf(call),
      };
      attempts.push(attempt);
      const costUsd = call.kind === 'answer' ? (call.reportedCostUsd ?? expert?.costPerCallUsd) : undefined;
      if (call.kind === 'answer' || outcome === 'timeout')
        this.deps.observe?.(answer.expertId, { costUsd, latencyMs: latencyOf(call) });
      if (!(await this.#record(taskId, call, outcome, costUsd))) signalsRecorded = false;

      if (outcome === 'ok' && call.kind === 'answer') {
        this.deps.onInvoked?.(attempts, true);
        return {
          ...answer,
          taskId: request.taskId,
          answeredTaskId: taskId,
          fallbackUsed: n > 0,
          output: call.body ?? null,
          httpStatus: call.status,
          latencyMs: call.latencyMs,
          ...(costUsd === undefined ? {} : { costUsd }),
          attempts,
          signalsRecorded,
        };
      }
      if (outcome === 'refused_by_expert') break;
    }
    this.deps.onInvoked?.(attempts, false);
    throw new ExpertFailedError(
      `No expert answered the task: ${attempts.map((a) => describe(a, request.timeoutMs)).join('; ')}.`,
      attempts,
    );
  }

  /** The attempt's automatic signals, concurrently; false when one could not be recorded. */
  async #record(
    taskId: string,
    call: InvokeCall,
    outcome: AttemptOutcome,
    costUsd: number | undefined,
  ): Promise<boolean> {
    const latencyMs = latencyOf(call);
    const rewards: RewardInput[] = [{ taskId, signal: 'incident_free', value: outcome === 'ok' ? 1 : 0 }];
    if (call.kind === 'answer') {
      rewards.push({ taskId, signal: 'latency_ms', value: latencyMs });
      if (costUsd !== undefined) rewards.push({ taskId, signal: 'cost', value: costUsd });
    }
    const writes: Promise<unknown>[] = [
      this.deps.recordOutcome({
        taskId,
        status: outcome === 'ok' ? 'ok' : outcome === 'timeout' ? 'timeout' : 'error',
        latencyMs,
      }),
      this.deps.recordRewards(rewards),
    ];
    const settled = await Promise.allSettled(writes);
    let recorded = true;
    for (const result of settled) {
      if (result.status === 'rejected') {
        recorded = false;
        this.deps.onSignalError?.(result.reason, taskId);
      }
    }
    return recorded;
  }
}
