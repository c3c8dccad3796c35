import { randomInt } from 'node:crypto';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { CachedRecordReads } from '#shared/adapters/cached-records.js';
import { isSqsEvent } from '#shared/adapters/sqs-batch.js';
import { makeSqsClient } from '#shared/adapters/sqs-client.js';
import { SqsJsonQueue } from '#shared/adapters/sqs-json-queue.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { headerValue } from '#shared/http/conventions.js';
import { type HttpEvent, type HttpResult, TENANT_HEADER } from '#shared/http/http.js';
import { ownApiUrlOf } from '#shared/http/own-api.js';
import { checkEndpointUrl, parsePortList } from '#shared/outbound/net.js';
import { GuardedHttpClient } from '#shared/outbound/outbound.js';
import { randomIds, systemClock } from '#shared/ports/system.js';
import { TtlCache } from '#shared/ports/ttl-cache.js';
import { makeHttpService } from '#shared/service-kit.js';
import { tenantMetricsFor } from '#shared/telemetry.js';
import { routerPillar } from '../pillar.js';
import { replayJobsOn } from '../replay-entry.js';
import { DynamoArmCounters } from './adapters/dynamo-arm-counters.js';
import { dynamoModelStore } from './adapters/dynamo-model-store.js';
import { GuardedExpertInvoker } from './adapters/expert-invoker.js';
import { RouteDecisionStore } from './adapters/route-decision-store.js';
import { schedulerBudgetSignal } from './adapters/scheduler-budgets.js';
import { type CandidatePolicyFor, makeRouterApp } from './app.js';
import { CanaryWatch } from './domain/canary-watch.js';
import { type Expert, ExpertService } from './domain/experts.js';
import { type OutcomeRecord, OutcomeService } from './domain/outcomes.js';
import type { ReplayMessage } from './domain/replay-jobs.js';
import { RewardIntake, type RewardMessage } from './domain/reward-intake.js';
import { RejectedRewards, type RewardRejection } from './domain/reward-rejections.js';
import { CONFIG_CACHE_MS, type RouterConfig, RouterConfigService } from './domain/router-config.js';
import {
  type ConstrainedBudgetState,
  DECISION_TTL_SECONDS,
  MODEL_CACHE_MS,
  RoutingService,
} from './domain/routing.js';
import { WarmStartService } from './domain/warm-start.js';

/** Composition root of the router function: environment, clients, adapters, app. */
const service = await makeHttpService('router', routerPillar, {
  ROUTER_TABLE_NAME: z.string().min(1),
  CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS: z.stringbool().default(false),
  CONDUCTOR_ALLOWED_ENDPOINT_PORTS: z.string().transform(parsePortList).optional(),
  /** The global kill-switch: every tenant is served its static (default) expert. */
  ROUTER_GLOBAL_KILL_SWITCH: z.stringbool().default(false),
  /** The rewards queue (the router manifest's `rewards` queue): POST router/reward answers 202 once it accepted the reward. */
  REWARDS_QUEUE_URL: z.url(),
  /** The replay queue: POST router/replay queues a job there for the replay function. */
  REPLAY_QUEUE_URL: z.url(),
  /** Age bound of the model states routes decide on (part of the reward freshness bound). */
  ROUTER_MODEL_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(MODEL_CACHE_MS),
  /** Age bound of the tenant configuration and candidate experts routes decide with. */
  ROUTER_CONFIG_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(CONFIG_CACHE_MS),
});
const { env } = service;

// Routes read their candidates through this cache; expert writes go through it and forget.
const expertRecords = new CachedRecordReads(
  new TenantRecordStore<Expert>(service.doc, env.ROUTER_TABLE_NAME, 'EXPERT'),
  { ttlMs: env.ROUTER_CONFIG_CACHE_MS, clock: systemClock },
);
const experts = new ExpertService({
  repository: expertRecords,
  endpointPolicy: (url) => {
    const verdict = checkEndpointUrl(url, {
      allowPrivate: env.CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS,
      ...(env.CONDUCTOR_ALLOWED_ENDPOINT_PORTS ? { allowedPorts: env.CONDUCTOR_ALLOWED_ENDPOINT_PORTS } : {}),
    });
    return verdict.ok ? { ok: true } : verdict;
  },
  clock: systemClock,
  ids: randomIds,
});

const routerConfig: RouterConfigService = new RouterConfigService({
  repository: new TenantRecordStore<RouterConfig>(service.doc, env.ROUTER_TABLE_NAME, 'ROUTER_CONFIG'),
  experts: expertRecords,
  clock: systemClock,
  cacheMs: env.ROUTER_CONFIG_CACHE_MS,
  // The tenant's replay gate: the canary starts only on a replay job that found its candidate not worse.
  replayGate: (tenantId, jobId, config) => replayJobs.gate(tenantId, jobId, config),
});

const decisions = new RouteDecisionStore(service.doc, env.ROUTER_TABLE_NAME, DECISION_TTL_SECONDS);
const models = dynamoModelStore(service.doc, env.ROUTER_TABLE_NAME);

/** The router's metrics per tenant and by service alone (the kernel's `tenantMetricsFor`). */
const routerMetrics = tenantMetricsFor('router');
const tenantMetrics = routerMetrics.of;

const routing = new RoutingService({
  experts: expertRecords,
  configs: routerConfig,
  decisions,
  models,
  clock: systemClock,
  ids: randomIds,
  seed: () => randomInt(0, 2 ** 32),
  events: service.events,
  onPublishError: (error) =>
    service.logger.warn('route_decision event not published; the decision stands', { error: String(error) }),
  globalKillSwitch: env.ROUTER_GLOBAL_KILL_SWITCH,
  modelCacheMs: env.ROUTER_MODEL_CACHE_MS,
  // The exploration rate per tenant (Average of RouteExploration), and how often the cap bit: one
  // EMF line per decision, dimensions service and tenant.
  onDecision: (decision) => {
    const metrics = tenantMetrics(decision.tenantId);
    metrics.addMetric('RouteExploration', MetricUnit.Count, decision.rationale.exploration ? 1 : 0);
    metrics.addMetric(
      'RouteExplorationCapped',
      MetricUnit.Count,
      decision.rationale.explorationCapped ? 1 : 0,
    );
    metrics.publishStoredMetrics();
  },
});

// The canary watch judges the rollback rule and the automatic ramp after every canary outcome.
const canaryWatch = new CanaryWatch({
  counters: new DynamoArmCounters(service.doc, env.ROUTER_TABLE_NAME),
  configs: routerConfig,
  clock: systemClock,
  events: service.events,
  latestReplay: (tenantId, experiment) => replayJobs.latestOf(tenantId, experiment),
  onPublishError: (error) =>
    service.logger.warn('router_canary_rollback event not published; the rollback stands', {
      error: String(error),
    }),
  // CanaryRollback (Sum) per tenant: the router's alarm fires on any.
  onRollback: (tenantId, experiment, verdict) => {
    service.logger.warn('canary rolled back', { tenantId, experiment, reason: verdict.reason });
    // Per tenant for the dashboard, and by service alone for the alarm (alarms cannot SEARCH).
    routerMetrics.count(tenantId, 'CanaryRollback', MetricUnit.Count, 1);
  },
});
const outcomes = new OutcomeService({
  decisions,
  outcomes: new TenantRecordStore<OutcomeRecord>(
    service.doc,
    env.ROUTER_TABLE_NAME,
    'ROUTE_OUTCOME',
    DECISION_TTL_SECONDS,
  ),
  watch: canaryWatch,
  clock: systemClock,
});

const sqs = makeSqsClient({
  region: env.AWS_REGION,
  endpoint: env.AWS_ENDPOINT_URL_SQS,
  instrument: service.instrument,
});

/**
 * Each route asks the policy engine, in one batch, which of its eligible candidates the caller may
 * route to (action router:route-to, the expert as resource with its tenant and, when its metadata
 * has a string `classification`, that classification): every answer is a logged decision.
 */
const candidatePolicy: CandidatePolicyFor = (principal, traceId, decideMany) => async (candidates) => {
  const answers = await (decideMany ?? service.decideMany)(
    candidates.map((expert) => {
      const classification = expert.metadata.classification;
      return {
        principal,
        action: 'router:route-to',
        resource: {
          tenantId: expert.tenantId,
          kind: 'experts',
          id: expert.id,
          ...(typeof classification === 'string' ? { classification } : {}),
        },
        traceId,
      };
    }),
  );
  return {
    allowed: new Set(candidates.filter((_, i) => answers[i]?.allow === true).map((expert) => expert.id)),
    policyVersion: answers[0]?.policyVersion ?? service.enforcer.policyVersion,
  };
};

/**
 * The tenant's budget state (the scheduler's, through its API with the caller's token) for
 * budget-aware demotion, kept BUDGET_STATE_CACHE_MS per tenant: a breach demotes within that, and
 * the scheduler is asked at most once per tenant and period by this instance.
 */
export const BUDGET_STATE_CACHE_MS = 30_000;
const budgetStates = new TtlCache<ConstrainedBudgetState | undefined>({
  ttlMs: BUDGET_STATE_CACHE_MS,
  clock: systemClock,
});

const replayJobs = replayJobsOn(
  service.doc,
  env.ROUTER_TABLE_NAME,
  systemClock,
  new SqsJsonQueue<ReplayMessage>(sqs, env.REPLAY_QUEUE_URL),
  routerConfig,
);

const http = makeRouterApp({
  logger: service.logger,
  experts,
  routing,
  routerConfig,
  rewards: new RewardIntake({
    queue: new SqsJsonQueue<RewardMessage>(sqs, env.REWARDS_QUEUE_URL),
    clock: systemClock,
  }),
  rejectedRewards: new RejectedRewards(
    new TenantRecordStore<RewardRejection>(
      service.doc,
      env.ROUTER_TABLE_NAME,
      'REWARD_REJECTED',
      DECISION_TTL_SECONDS,
    ),
  ),
  outcomes,
  canaryWatch,
  replayJobs,
  authorize: service.authorize,
  rateLimit: service.rateLimit,
  candidatePolicy,
  budgetSignal: (tenantId, event, traceId) => () =>
    budgetStates.get(tenantId, () =>
      schedulerBudgetSignal({
        apiUrl: ownApiUrlOf(event),
        authorization: headerValue(event, 'authorization') ?? '',
        tenantHeader: headerValue(event, TENANT_HEADER),
        traceId,
        onError: (error) =>
          service.logger.warn('budget state not read; routing without budget demotion', {
            tenantId,
            error: String(error),
          }),
      })(),
    ),
  // Invoke mode calls experts through the kernel's guard, with the same address rules as registration.
  invoke: {
    invoker: new GuardedExpertInvoker(
      new GuardedHttpClient({
        allowPrivate: env.CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS,
        ...(env.CONDUCTOR_ALLOWED_ENDPOINT_PORTS
          ? { allowedPorts: env.CONDUCTOR_ALLOWED_ENDPOINT_PORTS }
          : {}),
        userAgent: 'conductor-router',
      }),
    ),
    experts: expertRecords,
    onSignalError: (error, taskId) =>
      service.logger.warn('invoke signal not recorded; the answer stands', { taskId, error: String(error) }),
    // Per tenant and by service: InvokeFallbacks (attempts past the first that were needed) and
    // InvokeFailures (invokes no expert answered: the caller got 502).
    onInvoked: (tenantId, attempts, answered) => {
      routerMetrics.count(tenantId, 'InvokeFallbacks', MetricUnit.Count, Math.max(0, attempts.length - 1));
      routerMetrics.count(tenantId, 'InvokeFailures', MetricUnit.Count, answered ? 0 : 1);
    },
  },
  warmStart: new WarmStartService({
    models,
    configs: routerConfig,
    experts: expertRecords,
    clock: systemClock,
  }),
  trace: service.traceOperation,
});

/**
 * API Gateway requests only (the rewards queue is consumed by the reward function, functions/reward).
 * A queue batch wired here by mistake fails loudly, so its messages come back and end in the DLQ,
 * instead of being answered with a 404 that an event source mapping would count as processed.
 */
export const handler = async (event: HttpEvent, context: Context): Promise<HttpResult> => {
  if (isSqsEvent(event as never))
    throw new Error('The router function consumes no queue: SQS batch refused.');
  return http(event, context);
};
