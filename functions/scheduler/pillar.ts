import type { PillarManifest } from '#shared/pillar.js';
import { SCHEDULER_EVENTS, schedulerRoutes } from './contract.js';

/**
 * One SQS queue per priority class, each with its DLQ (after 5 receives). The maximum concurrency
 * of each class's event source mapping is its share of the workers (SQS adds up to 300 concurrent
 * executions a minute per mapping until this cap); the oldest-message age alarm is its patience.
 */
export const PRIORITY_QUEUES = [
  { priority: 'high', id: 'scheduler-high', maximumConcurrency: 10, maxAgeSeconds: 60 },
  // The normal class keeps the skeleton's queue (`scheduler-jobs`), so a deployed stack keeps that
  // queue and its DLQ, and the messages in them, instead of replacing them.
  { priority: 'normal', id: 'scheduler-jobs', maximumConcurrency: 5, maxAgeSeconds: 300 },
  { priority: 'low', id: 'scheduler-low', maximumConcurrency: 2, maxAgeSeconds: 3600 },
] as const;

/** The environment variable of each priority's queue URL (in the scheduler function). */
export const PRIORITY_QUEUE_ENV = {
  high: 'SCHEDULER_HIGH_QUEUE_URL',
  normal: 'SCHEDULER_JOBS_QUEUE_URL',
  low: 'SCHEDULER_LOW_QUEUE_URL',
} as const;

/**
 * M3, the cost-aware scheduler (its skeleton; issue 17 adds priority queues, budgets and expert
 * calls): POST scheduler/enqueue writes a job and hands it to the jobs queue; the worker completes it
 * and announces job_completed. Two functions, as the router and reward are: the worker needs no policy
 * engine, scales on the queue's concurrency cap (the stand-in for KEDA) rather than on API traffic,
 * and will get its own timeout and egress when it calls experts.
 */
export const schedulerPillar = {
  name: 'scheduler',
  description: 'Jobs on priority queues, admitted against budgets with windows, grace and throttling',
  functions: [
    {
      name: 'scheduler',
      description:
        'Jobs (enqueue with budget admission, get, list) and budgets (PUT limits, GET state): a job is answered once its priority’s queue accepted it',
      entry: 'functions/scheduler/src/handler.ts',
      routes: schedulerRoutes,
      tables: ['scheduler'],
    },
    {
      name: 'scheduler-worker',
      description:
        'The priority queues’ consumer: completes each job once, commits its cost to the budgets, publishes job_completed',
      entry: 'functions/scheduler/src/worker.ts',
      // Three expert calls of 8 s at most and their pauses (src/adapters/expert-http.ts); the
      // queues keep a message invisible 60 s, longer than this.
      timeoutSeconds: 30,
      tables: ['scheduler'],
      publishesEvents: true,
    },
  ],
  tables: [
    {
      id: 'scheduler',
      envVar: 'SCHEDULER_TABLE_NAME',
      description: 'Jobs (30-day TTL)',
      personalData: [
        {
          entity: 'BUDGET',
          subjectFields: ['changedBy'],
          purpose: 'who last changed a budget',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
      ],
    },
  ],
  queues: PRIORITY_QUEUES.map(({ priority, id, maximumConcurrency, maxAgeSeconds }) => ({
    // Jobs of one priority, admitted by POST scheduler/enqueue, each in its tenant's message group
    // (SQS fair queues). No batching window: a job starts as soon as a worker is free. The mapping's
    // maximum concurrency per class stands in for KEDA: high gets the most workers, low the fewest.
    // Its age alarm fires when a job of the class has waited longer than the class should.
    id,
    envVar: PRIORITY_QUEUE_ENV[priority],
    consumer: 'scheduler-worker',
    batchSize: 10,
    maximumConcurrency,
    visibilityTimeoutSeconds: 60,
    maxReceiveCount: 5,
    maxAgeSeconds,
    producers: ['scheduler'],
  })),
  events: SCHEDULER_EVENTS,
  observability: {
    tenantMetrics: [
      {
        title: 'Jobs completed per tenant (JobsCompleted, Sum)',
        metric: 'JobsCompleted',
        service: 'scheduler',
        statistic: 'Sum',
      },
      {
        title: 'Spend per tenant (JobCostUsd, Sum, USD)',
        metric: 'JobCostUsd',
        service: 'scheduler',
        statistic: 'Sum',
      },
      {
        title: 'Budget breaches per tenant (BudgetBreach, Sum)',
        metric: 'BudgetBreach',
        service: 'scheduler',
        statistic: 'Sum',
      },
    ],
    eventAlarms: [
      {
        name: 'budget-breach',
        metric: 'BudgetBreach',
        service: 'scheduler',
        severity: 'ticket',
        description:
          'A tenant’s budget is breached (its projected spend reached the cap plus its burst allowance, or its spend the cap): its mode applies (soft: nothing refused; throttle: low work waits, 429 budget_throttled; downgrade: jobs demoted). Read the tenant’s budget_breach event and GET /budgets/state; raise the limit with PUT /budgets/limits if the spend is expected.',
      },
    ],
  },
  rateFamilies: {
    'scheduler.enqueue': 300,
    'scheduler.read': 600,
    budgets: 60,
    'budgets.read': 300,
  },
} as const satisfies PillarManifest;
