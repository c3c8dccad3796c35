import type { PillarManifest } from '#shared/pillar.js';
import { SCHEDULER_EVENTS, schedulerRoutes } from './contract.js';

/**
 * M3, the cost-aware scheduler (its skeleton; issue 17 adds priority queues, budgets and expert
 * calls): POST scheduler/enqueue writes a job and hands it to the jobs queue; the worker completes it
 * and announces job_completed. Two functions, as the router and reward are: the worker needs no policy
 * engine, scales on the queue's concurrency cap (the stand-in for KEDA) rather than on API traffic,
 * and will get its own timeout and egress when it calls experts.
 */
export const schedulerPillar = {
  name: 'scheduler',
  description: 'Job intake and the jobs queue’s worker (priority queues and budgets come with issue 17)',
  functions: [
    {
      name: 'scheduler',
      description: 'POST scheduler/enqueue: writes the job, hands it to the jobs queue, then answers',
      entry: 'functions/scheduler/src/handler.ts',
      routes: schedulerRoutes,
      tables: ['scheduler'],
    },
    {
      name: 'scheduler-worker',
      description: 'The jobs queue consumer: completes each job once and publishes job_completed',
      entry: 'functions/scheduler/src/worker.ts',
      tables: ['scheduler'],
      publishesEvents: true,
    },
  ],
  tables: [{ id: 'scheduler', envVar: 'SCHEDULER_TABLE_NAME', description: 'Jobs (30-day TTL)' }],
  queues: [
    {
      // Jobs accepted by POST scheduler/enqueue. No batching window: a job starts as soon as a worker
      // is free. Five workers at most for now (issue 17 sizes it per priority). Its age alarm fires when
      // a job has waited 5 minutes: the workers are saturated or failing.
      id: 'scheduler-jobs',
      envVar: 'SCHEDULER_JOBS_QUEUE_URL',
      consumer: 'scheduler-worker',
      batchSize: 10,
      maximumConcurrency: 5,
      visibilityTimeoutSeconds: 60,
      maxReceiveCount: 5,
      maxAgeSeconds: 300,
      producers: ['scheduler'],
    },
  ],
  events: SCHEDULER_EVENTS,
  rateFamilies: { 'scheduler.enqueue': 300 },
} as const satisfies PillarManifest;
