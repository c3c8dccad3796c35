import { NotFoundError, UnprocessableError } from '#shared/errors.js';
import {
  assertBodyTenant,
  bind,
  type HttpEvent,
  HttpReply,
  httpApp,
  type KernelDeps,
  kernelOptionsOf,
} from '#shared/http/http.js';
import type { TenantRecords } from '#shared/ports/records.js';
import { budgetWhatIf, enqueueJob, getBudgetState, getJob, listJobs, putBudgetLimits } from '../contract.js';
import type { Budgets } from './domain/budgets.js';
import { BUDGET_STATE_HEADER, type Job, type JobIntake } from './domain/jobs.js';
import type { TargetResolver } from './domain/targets.js';
import { MAX_WHAT_IF_JOBS, traceOfJobs, type WhatIf } from './domain/what-if.js';

export interface SchedulerAppDeps extends KernelDeps {
  readonly intake: Pick<JobIntake, 'enqueue'>;
  readonly jobs: Pick<TenantRecords<Job>, 'get' | 'list'>;
  readonly budgets: Pick<Budgets, 'put' | 'status'>;
  readonly whatIf: Pick<WhatIf, 'run'>;
  /** Resolves a job's target with the caller's rights, for one request (absent: targets are refused). */
  readonly targets?: (request: { readonly event: HttpEvent; readonly traceId: string }) => TargetResolver;
}

/** The tenant's jobs, every page (for a recorded what-if): refused past MAX_WHAT_IF_JOBS in the range. */
const recordedJobs = async (jobs: SchedulerAppDeps['jobs'], tenantId: string, from: Date, to: Date) => {
  const found: Job[] = [];
  let cursor: string | undefined;
  do {
    const page = await jobs.list(tenantId, { limit: 100, cursor });
    found.push(
      ...page.items.filter((job) => job.createdAt >= from.toISOString() && job.createdAt < to.toISOString()),
    );
    if (found.length > MAX_WHAT_IF_JOBS) {
      throw new UnprocessableError(
        `More than ${MAX_WHAT_IF_JOBS} jobs were created in this range; choose a shorter one.`,
        'trace_too_large',
      );
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return found;
};

/** The expert's answer a job keeps: its JSON, or its cut text. */
const resultOf = (job: Job) => {
  if (job.resultJson !== undefined) return { result: JSON.parse(job.resultJson) as unknown };
  if (job.resultText !== undefined) return { result: job.resultText, resultTruncated: true };
  return {};
};

/** A job as the API shows it (defaults for jobs written before queues and budgets). */
export const jobView = (job: Job) => ({
  jobId: job.id,
  queue: job.queue ?? 'default',
  status: job.status,
  priority: job.priority,
  requestedPriority: job.requestedPriority ?? job.priority,
  payload: JSON.parse(job.payloadJson) as Record<string, unknown>,
  estimatedCostUsd: job.estimatedCostUsd ?? 0,
  ...(job.costUsd === undefined ? {} : { costUsd: job.costUsd }),
  ...(job.expertId === undefined ? {} : { expertId: job.expertId }),
  ...(job.taskId === undefined ? {} : { taskId: job.taskId }),
  ...(job.outcome === undefined ? {} : { outcome: job.outcome }),
  ...(job.httpStatus === undefined ? {} : { httpStatus: job.httpStatus }),
  ...(job.latencyMs === undefined ? {} : { latencyMs: job.latencyMs }),
  ...(job.attempts === undefined ? {} : { attempts: job.attempts }),
  ...resultOf(job),
  ...(job.lastError === undefined ? {} : { lastError: job.lastError }),
  ...(job.deadLetteredAt === undefined ? {} : { deadLetteredAt: job.deadLetteredAt }),
  budgetWindows: [...(job.budgetWindows ?? [])],
  createdAt: job.createdAt,
  updatedAt: job.updatedAt,
  ...(job.completedAt === undefined ? {} : { completedAt: job.completedAt }),
  ...(job.idempotencyKey === undefined ? {} : { idempotencyKey: job.idempotencyKey }),
  traceId: job.traceId,
});

/** The scheduler's HTTP app: its routes bound to the domain on the kernel's middy stack. */
export const makeSchedulerApp = (deps: SchedulerAppDeps) =>
  httpApp({
    ...kernelOptionsOf(deps),
    routes: [
      bind(enqueueJob, async ({ tenantId, body, traceId, event }) => {
        const { jobId, status, priority, replayed, budgetState } = await deps.intake.enqueue(
          tenantId,
          body,
          traceId,
          deps.targets?.({ event, traceId }),
        );
        return new HttpReply(
          202,
          { jobId, status, priority, ...(budgetState === undefined ? {} : { budgetState }) },
          {
            ...(replayed ? { 'Idempotent-Replayed': 'true' } : {}),
            ...(budgetState === undefined ? {} : { [BUDGET_STATE_HEADER]: budgetState }),
          },
        );
      }),
      bind(getJob, async ({ tenantId, params }) => {
        const job = await deps.jobs.get(tenantId, params.jobId);
        if (!job) throw new NotFoundError(`No job ${params.jobId} in this tenant.`, 'job_not_found');
        return jobView(job);
      }),
      bind(listJobs, async ({ tenantId, query }) => {
        const page = await deps.jobs.list(tenantId, query);
        return {
          items: page.items.map(jobView),
          ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
        };
      }),
      bind(putBudgetLimits, async ({ tenantId, body, principal }) => {
        assertBodyTenant(body.tenantId, tenantId);
        const budget = await deps.budgets.put(
          tenantId,
          {
            window: body.window,
            limit: body.limit,
            timeZone: body.timeZone,
            effectiveFrom: body.effectiveFrom,
            policy: {
              ...body.policy,
              alertThresholds: [...new Set(body.policy.alertThresholds)].sort((a, b) => a - b),
            },
          },
          principal.subject,
        );
        return {
          ok: true,
          budget: {
            tenantId: budget.tenantId,
            window: budget.window,
            limitUsd: budget.limitUsd,
            timeZone: budget.timeZone,
            ...(budget.effectiveFrom === undefined ? {} : { effectiveFrom: budget.effectiveFrom }),
            policy: budget.policy,
            version: budget.version,
            updatedAt: budget.updatedAt,
            changedBy: budget.changedBy,
          },
        };
      }),
      bind(getBudgetState, async ({ tenantId, query }) => ({
        tenantId,
        budgets: await deps.budgets.status(tenantId, query.window),
      })),
      bind(budgetWhatIf, async ({ tenantId, body }) => {
        const { window, limit, timeZone, policy } = body.budget;
        let trace = body.trace ?? [];
        if (body.recorded) {
          const from = new Date(body.recorded.from);
          const to = new Date(body.recorded.to);
          trace = traceOfJobs(await recordedJobs(deps.jobs, tenantId, from, to), from, to);
        }
        return deps.whatIf.run({
          budget: { window, limit, timeZone, policy },
          trace,
          retryThrottled: body.retryThrottled,
        });
      }),
    ],
  });
