import type { PillarManifest } from '#shared/pillar.js';
import { ROUTER_EVENTS, routerRoutes, routeTask } from './contract.js';

/**
 * M1, the adaptive router: the experts registry, routing with contextual bandits, rationale, config,
 * and reward learning. Two functions: `router` serves the API; `reward` (functions/reward) consumes
 * the rewards queue, so learning scales, fails and is permitted on its own.
 */
export const routerPillar = {
  name: 'router',
  description: 'Experts registry, routing with contextual bandits, rationale, config and reward learning',
  functions: [
    {
      name: 'router',
      description: 'Experts registry (routing candidates); routing and rationale',
      entry: 'functions/router/src/handler.ts',
      routes: routerRoutes,
      tables: ['router'],
      // The canary watch's per-minute counts (UpdateItem ADD): outcomes here, learnt rewards in reward.
      counters: [
        { table: 'router', entity: 'CANARY_COUNTS', purpose: 'per-minute canary outcome and reward counts' },
      ],
      // POST /router/invoke waits for experts: its calls end within 24 s (INVOKE_DEADLINE_MS), under
      // the HTTP API's 30 s. Every other route answers in milliseconds.
      timeoutSeconds: 29,
    },
    {
      name: 'replay',
      description:
        'The replay queue consumer: estimates candidate strategies on the logged decisions of a range (off-policy replay jobs)',
      entry: 'functions/replay/src/handler.ts',
      tables: ['router'],
      // Reads the whole decision partition of the tenant: about 1,000 Query pages per million decisions.
      timeoutSeconds: 600,
    },
    {
      name: 'reward',
      description:
        'The rewards queue consumer: joins rewards to route decisions and learns them into the model states',
      entry: 'functions/reward/src/handler.ts',
      tables: ['router'],
      // The canary watch's per-minute counts (UpdateItem ADD): outcomes here, learnt rewards in reward.
      counters: [
        { table: 'router', entity: 'CANARY_COUNTS', purpose: 'per-minute canary outcome and reward counts' },
      ],
      publishesEvents: true,
    },
  ],
  tables: [
    {
      id: 'router',
      envVar: 'ROUTER_TABLE_NAME',
      description: 'Experts, route decisions and bandit state',
      // Route decisions hold no person: a request's userId is only hashed into its canary bucket.
      personalData: [
        {
          entity: 'EXPERT',
          subjectFields: ['health.setBy'],
          purpose: 'who last set an expert’s health',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
        {
          entity: 'ROUTER_CONFIG',
          subjectFields: ['updatedBy', 'changes[].changedBy'],
          purpose: 'who changed the router’s configuration',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
        {
          entity: 'REPLAY_JOB',
          subjectFields: ['requestedBy'],
          purpose: 'who asked for a replay',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
      ],
    },
  ],
  queues: [
    {
      // Reward signals accepted by POST router/reward; the reward function joins each to its decision
      // and learns it into the tenant's model state. No batching window: a reward must change
      // decisions within 60 s (the product's freshness bound), which is also the age its alarm fires at.
      id: 'rewards',
      envVar: 'REWARDS_QUEUE_URL',
      consumer: 'reward',
      batchSize: 10,
      maximumConcurrency: 2,
      visibilityTimeoutSeconds: 60,
      maxReceiveCount: 5,
      maxAgeSeconds: 60,
      producers: ['router'],
    },
    {
      // Off-policy replay jobs queued by POST router/replay; the replay function reads the range's
      // decisions and rewards and writes the job's result. One job per message, one at a time per
      // function instance: a job may read a month of decisions.
      id: 'replay',
      envVar: 'REPLAY_QUEUE_URL',
      consumer: 'replay',
      batchSize: 1,
      maximumConcurrency: 2,
      visibilityTimeoutSeconds: 900,
      maxReceiveCount: 3,
      maxAgeSeconds: 900,
      producers: ['router'],
    },
    {
      // Outcomes of the scheduler's routed jobs (their expert call: ok, error, timeout, latency),
      // sent by its worker (jobOutcomeMessageSchema in contract.ts) and recorded by the reward
      // function as POST router/outcome records a client's: joined to the decision, once per task,
      // counted by a canary's arm. A pillar reaching another through a queue (DESIGN §4).
      id: 'job-outcomes',
      envVar: 'JOB_OUTCOMES_QUEUE_URL',
      consumer: 'reward',
      batchSize: 10,
      maximumConcurrency: 2,
      visibilityTimeoutSeconds: 60,
      maxReceiveCount: 5,
      maxAgeSeconds: 300,
      producers: ['scheduler-worker'],
    },
  ],
  events: ROUTER_EVENTS,
  // Asked per candidate expert of POST /router/route (never named by a route).
  policyActions: ['router:route-to'],
  rateFamilies: {
    'router.route': 600,
    'router.reward': 1200,
    'router.read': 600,
    'router.admin': 120,
    'experts.read': 600,
    'experts.write': 120,
  },
  observability: {
    // 99.9 % of POST /router/route answers are not 5xx: an error budget of 0.1 % (30-day window).
    slos: [{ name: 'route', route: routeTask, objective: 0.999 }],
    tenantMetrics: [
      {
        title: 'Exploration rate per tenant (RouteExploration, Average)',
        metric: 'RouteExploration',
        service: 'router',
        statistic: 'Average',
        yMax: 1,
      },
      {
        title: 'Exploration capped per tenant (RouteExplorationCapped, Sum)',
        metric: 'RouteExplorationCapped',
        service: 'router',
        statistic: 'Sum',
      },
      {
        title: 'Invoke fallbacks per tenant (InvokeFallbacks, Sum)',
        metric: 'InvokeFallbacks',
        service: 'router',
        statistic: 'Sum',
      },
      {
        title: 'Invokes no expert answered per tenant (InvokeFailures, Sum)',
        metric: 'InvokeFailures',
        service: 'router',
        statistic: 'Sum',
      },
      {
        title: 'Canary rollbacks per tenant (CanaryRollback, Sum)',
        metric: 'CanaryRollback',
        service: 'router',
        statistic: 'Sum',
      },
    ],
    eventAlarms: [
      {
        name: 'canary-rollback',
        metric: 'CanaryRollback',
        service: 'router',
        severity: 'ticket',
        description:
          'The router rolled a canary back (its candidate strategy failed more than its rollback rule allows while the baseline did not): the candidate serves no traffic until an admin raises its share again. Read the tenant’s router_canary_rollback event, GET /router/experiment and GET /router/config/history (the reason).',
      },
      {
        name: 'reward-drift',
        metric: 'RewardDrift',
        service: 'router',
        severity: 'ticket',
        description:
          'An expert’s recent rewards fell outside the band its model predicted for them (three standard deviations): its quality may have changed. Read the router_drift event (expert, observed and expected mean); a tenant whose experts change can set a forgetting factor (PUT /router/config discount, e.g. 0.99).',
      },
    ],
  },
} as const satisfies PillarManifest;
