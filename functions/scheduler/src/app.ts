import { bind, HttpReply, httpApp, type KernelDeps, kernelOptionsOf } from '#shared/http/http.js';
import { enqueueJob } from '../contract.js';
import type { JobIntake } from './domain/jobs.js';

export interface SchedulerAppDeps extends KernelDeps {
  readonly intake: Pick<JobIntake, 'enqueue'>;
}

/** The scheduler's HTTP app: its one route bound to the domain on the kernel's middy stack. */
export const makeSchedulerApp = (deps: SchedulerAppDeps) =>
  httpApp({
    ...kernelOptionsOf(deps),
    routes: [
      bind(enqueueJob, async ({ tenantId, body, traceId }) => {
        const { jobId, status, replayed } = await deps.intake.enqueue(tenantId, body, traceId);
        return new HttpReply(202, { jobId, status }, replayed ? { 'Idempotent-Replayed': 'true' } : {});
      }),
    ],
  });
