import type { Logger } from '@aws-lambda-powertools/logger';
import { ValidationError } from '#shared/errors.js';
import {
  API_BASE,
  assertBodyTenant,
  bind,
  type HttpEvent,
  HttpReply,
  httpApp,
  kernelOptionsOf,
  type RouteAuthorizer,
  type RouteRateLimiter,
} from '#shared/http/http.js';
import type { Principal } from '#shared/ports/identity.js';
import type { DecideMany } from '#shared/ports/policy.js';
import type { OperationTracer } from '#shared/telemetry.js';
import {
  createExpert,
  deleteExpert,
  exportRouterPriors,
  getExperimentStatus,
  getExpert,
  getRationale,
  getReplay,
  getRouterConfig,
  getRouterConfigHistory,
  invokeTask,
  listExperts,
  listRejectedRewards,
  postOutcome,
  postReward,
  putRouterPriors,
  routeTask,
  setExpertHealth,
  startReplay,
  updateExpert,
  updateRouterConfig,
} from '../contract.js';
import type { CanaryWatch } from './domain/canary-watch.js';
import type { Expert, ExpertService } from './domain/experts.js';
import { type ExpertInvoker, type InvokeAttempt, InvokeService } from './domain/invoke.js';
import type { OutcomeService } from './domain/outcomes.js';
import type { ReplayJob, ReplayJobService } from './domain/replay-jobs.js';
import type { RewardIntake } from './domain/reward-intake.js';
import { DEFAULT_REWARD_MAPPING } from './domain/reward-mapping.js';
import type { RejectedRewards } from './domain/reward-rejections.js';
import type { RouterConfigService } from './domain/router-config.js';
import type { BudgetSignal, CandidatePolicy, RoutingService } from './domain/routing.js';
import type { WarmStartService } from './domain/warm-start.js';

/**
 * The policy question a route asks about its candidates, per request (the handler binds the engine);
 * `decideMany` is the request's own (it carries the route-level decision's record into the same write).
 */
export type CandidatePolicyFor = (
  principal: Principal,
  traceId: string,
  decideMany: DecideMany | undefined,
) => CandidatePolicy;

export interface RouterAppDeps {
  readonly logger: Logger;
  readonly experts: ExpertService;
  readonly routing: RoutingService;
  readonly routerConfig: RouterConfigService;
  readonly rewards: RewardIntake;
  readonly rejectedRewards: RejectedRewards;
  readonly outcomes: OutcomeService;
  readonly canaryWatch: CanaryWatch;
  readonly replayJobs: ReplayJobService;
  readonly warmStart: WarmStartService;
  readonly authorize: RouteAuthorizer;
  readonly rateLimit?: RouteRateLimiter;
  /** Which candidates the policy engine lets the caller route to (absent: every eligible one). */
  readonly candidatePolicy?: CandidatePolicyFor;
  /** The tenant's budget state for budget-aware demotion, asked with the caller's request (absent: none). */
  readonly budgetSignal?: (tenantId: string, event: HttpEvent, traceId: string) => BudgetSignal;
  /** Invoke mode: the guarded call to an expert's endpoint, and the expert records it reads the endpoint from. */
  readonly invoke: {
    readonly invoker: ExpertInvoker;
    readonly experts: {
      getMany(tenantId: string, ids: readonly string[]): Promise<ReadonlyMap<string, Expert>>;
    };
    readonly onSignalError?: (error: unknown, taskId: string) => void;
    /** Each invoke's attempts once decided (the handler counts fallbacks and failures). */
    readonly onInvoked?: (tenantId: string, attempts: readonly InvokeAttempt[], answered: boolean) => void;
  };
  /** Each route in its own trace segment (the service kit's traceOperation). */
  readonly trace?: OperationTracer;
}

/** `If-Match: "3"` (or `3`) -> 3; absent -> undefined; anything else is a 400. */
export const expectedVersionOf = (event: HttpEvent): number | undefined => {
  const header = Object.entries(event.headers ?? {}).find(([key]) => key.toLowerCase() === 'if-match')?.[1];
  if (header === undefined) return undefined;
  const match = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(header);
  if (!match?.[1]) {
    throw new ValidationError('If-Match must be the expert version, e.g. "3".', [
      { path: 'headers.if-match', message: 'not a version' },
    ]);
  }
  return Number(match[1]);
};

/** A replay job as the API shows it (without the storage fields). */
const replayView = (job: ReplayJob) => {
  const {
    tenantId: _t,
    id: _i,
    version: _v,
    updatedAt: _u,
    dimension: _d,
    modelSpec: _m,
    defaultExpertId: _e,
    ...view
  } = job;
  return view;
};

const etag = (version: number): Record<string, string> => ({ ETag: `"${version}"` });

export const makeRouterApp = (deps: RouterAppDeps) =>
  httpApp({
    ...kernelOptionsOf(deps),
    routes: [
      bind(createExpert, async ({ tenantId, body }) => {
        const expert = await deps.experts.create(tenantId, body);
        return new HttpReply(201, expert, {
          ...etag(expert.version),
          Location: `${API_BASE}/experts/${expert.id}`,
        });
      }),
      bind(listExperts, ({ tenantId, query }) => deps.experts.list(tenantId, query)),
      bind(getExpert, async ({ tenantId, params }) => {
        const expert = await deps.experts.get(tenantId, params.expertId);
        return new HttpReply(200, expert, etag(expert.version));
      }),
      bind(updateExpert, async ({ tenantId, params, body, event }) => {
        const expert = await deps.experts.update(tenantId, params.expertId, body, expectedVersionOf(event));
        return new HttpReply(200, expert, etag(expert.version));
      }),
      bind(setExpertHealth, async ({ tenantId, params, body, event, principal }) => {
        const expert = await deps.experts.setHealth(
          tenantId,
          params.expertId,
          body,
          principal.subject,
          expectedVersionOf(event),
        );
        return new HttpReply(200, expert, etag(expert.version));
      }),
      bind(deleteExpert, async ({ tenantId, params, event }) => {
        await deps.experts.remove(tenantId, params.expertId, expectedVersionOf(event));
        return new HttpReply(204, undefined);
      }),
      bind(routeTask, ({ tenantId, body, traceId, principal, decideMany, event }) => {
        // The PRD's body names the tenant; the request acts in the tenant the kernel decided.
        assertBodyTenant(body.tenantId, tenantId);
        return deps.routing.route(
          tenantId,
          {
            taskId: body.taskId,
            context: body.context,
            candidates: body.candidates,
            sessionId: body.sessionId,
            // A canary sticky by user keys on the end user the caller names, else on the caller.
            userId: body.userId ?? principal.subject,
          },
          traceId,
          deps.candidatePolicy?.(principal, traceId, decideMany),
          deps.budgetSignal?.(tenantId, event, traceId),
        );
      }),
      bind(invokeTask, ({ tenantId, body, traceId, principal, decideMany, event }) => {
        assertBodyTenant(body.tenantId, tenantId);
        const { invoke } = deps;
        const policy = deps.candidatePolicy?.(principal, traceId, decideMany);
        const budget = deps.budgetSignal?.(tenantId, event, traceId);
        const userId = body.userId ?? principal.subject;
        return new InvokeService({
          route: (request) => deps.routing.route(tenantId, { ...request, userId }, traceId, policy, budget),
          experts: invoke.experts,
          invoker: invoke.invoker,
          recordOutcome: (input) => deps.outcomes.report(tenantId, input, traceId),
          recordRewards: (inputs) => deps.rewards.acceptMany(tenantId, inputs, traceId),
          observe: (expertId, seen) => deps.routing.observeCall(tenantId, expertId, seen),
          ...(invoke.onSignalError ? { onSignalError: invoke.onSignalError } : {}),
          onInvoked: (attempts, answered) => invoke.onInvoked?.(tenantId, attempts, answered),
        }).invoke(
          tenantId,
          {
            taskId: body.taskId,
            context: body.context,
            candidates: body.candidates,
            sessionId: body.sessionId,
            userId,
            input: body.input,
            timeoutMs: body.timeoutMs,
            maxFallbacks: body.maxFallbacks,
          },
          traceId,
        );
      }),
      bind(putRouterPriors, ({ tenantId, body }) => deps.warmStart.apply(tenantId, body)),
      bind(exportRouterPriors, ({ tenantId }) => deps.warmStart.export(tenantId)),
      bind(postReward, async ({ tenantId, body, traceId }) => {
        const accepted = await deps.rewards.accept(tenantId, body, traceId);
        return new HttpReply(202, accepted);
      }),
      bind(postOutcome, async ({ tenantId, body, traceId }) => {
        assertBodyTenant(body.tenantId, tenantId);
        const answer = await deps.outcomes.report(
          tenantId,
          { taskId: body.taskId, status: body.status, latencyMs: body.latencyMs },
          traceId,
        );
        // The latency the client saw and the cost it was told: the cost-aware objective's terms.
        if (!answer.duplicate)
          deps.routing.observeCall(tenantId, answer.expertId, {
            latencyMs: answer.latencyMs,
            costUsd: body.costUsd,
          });
        return answer;
      }),
      bind(getExperimentStatus, async ({ tenantId }) => {
        const { replay, ...status } = await deps.canaryWatch.status(tenantId);
        return replay ? { ...status, replay: replayView(replay) } : status;
      }),
      bind(startReplay, async ({ tenantId, body, principal }) => {
        const job = await deps.replayJobs.start(tenantId, body, principal.subject);
        return new HttpReply(202, replayView(job), { Location: `${API_BASE}/router/replay/${job.jobId}` });
      }),
      bind(getReplay, async ({ tenantId, params }) =>
        replayView(await deps.replayJobs.get(tenantId, params.jobId)),
      ),
      bind(listRejectedRewards, ({ tenantId, query }) => deps.rejectedRewards.list(tenantId, query)),
      bind(getRationale, ({ tenantId, params }) => deps.routing.rationale(tenantId, params.rationaleId)),
      bind(getRouterConfig, async ({ tenantId }) => {
        const config = await deps.routerConfig.get(tenantId);
        return new HttpReply(200, config, etag(config.version));
      }),
      bind(getRouterConfigHistory, ({ tenantId }) => deps.routerConfig.history(tenantId)),
      bind(updateRouterConfig, async ({ tenantId, body, event, principal }) => {
        const config = await deps.routerConfig.update(
          tenantId,
          { ...body, rewardMapping: { ...DEFAULT_REWARD_MAPPING, ...body.rewardMapping } },
          expectedVersionOf(event),
          principal.subject,
        );
        return new HttpReply(200, config, etag(config.version));
      }),
    ],
  });
