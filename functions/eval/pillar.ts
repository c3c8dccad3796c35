import type { PillarManifest } from '#shared/pillar.js';
import { EVAL_EVENTS, evalRoutes } from './contract.js';

/**
 * M2, evaluation gates: golden suites registered per tenant, runs through the eval queue, verdicts
 * against baselines, flaky quarantine, and priors for the router. Two functions: the API (which
 * resolves a run's experts with the caller's rights and queues it) and the worker, which calls the
 * experts through the guarded outbound client for as long as a suite takes (up to 15 minutes) and
 * writes the report once to the artifacts bucket.
 */
export const evalPillar = {
  name: 'eval',
  description:
    'Golden suites, evaluation runs with statistical regression gates, baselines, flaky quarantine',
  functions: [
    {
      name: 'eval',
      description:
        'Suites (register, list), runs (submit through the eval queue, results, report, priors), baselines (snapshot, promote, list)',
      entry: 'functions/eval/src/handler.ts',
      routes: evalRoutes,
      tables: ['eval'],
      artifacts: ['eval/'],
    },
    {
      name: 'eval-worker',
      description:
        'The eval queue’s consumer: runs each suite once against its experts, gates it against the baseline, writes the report, publishes eval_regression',
      entry: 'functions/eval/src/worker.ts',
      // A run makes at most MAX_RUN_CALLS calls (src/domain/runs.ts), in parallel.
      timeoutSeconds: 900,
      tables: ['eval'],
      artifacts: ['eval/'],
      publishesEvents: true,
    },
  ],
  tables: [
    {
      id: 'eval',
      envVar: 'EVAL_TABLE_NAME',
      description: 'Suites, suite versions, baselines and quarantines (kept); runs (30-day TTL)',
      personalData: [
        {
          entity: 'EVAL_SUITE',
          subjectFields: ['registeredBy'],
          purpose: 'who registered an evaluation suite',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
        {
          entity: 'EVAL_SUITE_VERSION',
          subjectFields: ['registeredBy'],
          purpose: 'who registered a suite version',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
        {
          entity: 'EVAL_RUN',
          subjectFields: ['requestedBy'],
          purpose: 'who asked for an evaluation run',
          retention: '30 days (TTL)',
          onErasure: 'delete',
        },
        {
          entity: 'EVAL_BASELINE',
          subjectFields: ['createdBy', 'promotedBy'],
          purpose: 'who created and promoted a gate baseline',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
      ],
    },
  ],
  queues: [
    {
      // One message per run; a run is one worker for up to 15 minutes, so one record per invocation.
      id: 'eval-runs',
      envVar: 'EVAL_RUNS_QUEUE_URL',
      consumer: 'eval-worker',
      batchSize: 1,
      maximumConcurrency: 5,
      visibilityTimeoutSeconds: 960,
      maxReceiveCount: 3,
      maxAgeSeconds: 1800,
      producers: ['eval'],
    },
  ],
  events: EVAL_EVENTS,
  observability: {
    tenantMetrics: [
      {
        title: 'Evaluation runs per tenant (EvalRuns, Sum)',
        metric: 'EvalRuns',
        service: 'eval-worker',
        statistic: 'Sum',
      },
      {
        title: 'Regressions per tenant (EvalRegressions, Sum)',
        metric: 'EvalRegressions',
        service: 'eval-worker',
        statistic: 'Sum',
      },
    ],
    eventAlarms: [
      {
        name: 'eval-regression',
        metric: 'EvalRegressions',
        service: 'eval-worker',
        severity: 'ticket',
        description:
          'An evaluation run found an expert regressed against its baseline beyond the suite’s tolerance, with the suite’s confidence. Read the tenant’s eval_regression event and GET /eval/results/{runId}: the flips name the tasks that went from pass to fail.',
      },
    ],
  },
  rateFamilies: {
    'eval.run': 60,
    'eval.results': 600,
    'eval.read': 600,
    'eval.write': 60,
  },
} as const satisfies PillarManifest;
