import * as z from 'zod';
import { pageQuerySchema, pageSchemaOf, type RouteSpec, storableNumberSchema } from '#shared/http/http.js';
import { routeContextSchema } from '../router/contract.js';
import { JOB_PRIORITIES } from './events.js';
import { BUDGET_WINDOWS, isTimeZone } from './src/domain/budget-windows.js';
import { BUDGET_STATES, DEFAULT_POLICY, ENFORCEMENT_MODES } from './src/domain/budgets.js';
import { JOB_QUEUES, JOB_STATUSES } from './src/domain/jobs.js';
import { MAX_WHAT_IF_JOBS } from './src/domain/what-if.js';

/**
 * The scheduler pillar's contract: its route specs and its events. Pure data and schemas: the CDK
 * app, the embedded runtime and the OpenAPI document read it, the handler binds it to the domain, and
 * it is the only part of this pillar another one may import.
 */

/** A job's body is bounded: a larger request is a 413 before it is parsed. */
export const MAX_ENQUEUE_BODY_BYTES = 64 * 1024;

/** Every number of the scheduler's bodies is stored (budgets, jobs): the kernel's storable number. */
const finite = storableNumberSchema;

/** The most a job may be estimated to cost (a typo of a few orders of magnitude is a 400, not a spent budget). */
export const MAX_JOB_ESTIMATE_USD = 10_000;

const expertIdOf = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'not an expert id');

export const jobTargetSchema = z
  .union([
    z.strictObject({ expertId: expertIdOf }).meta({ description: 'Call this expert of the tenant.' }),
    z
      .strictObject({
        route: z.strictObject({
          context: routeContextSchema,
          candidates: z.array(expertIdOf).min(1).max(32),
        }),
      })
      .meta({
        description:
          'Ask the router which of these experts should do the job (a route decision whose taskId is the job id), then call it.',
      }),
  ])
  .meta({
    id: 'JobTarget',
    description:
      'The expert the worker calls with the payload (POST, JSON, through the guarded outbound client). Resolved when the job is admitted, with the caller’s own rights: an expert the caller cannot see is a 422.',
  });

export const enqueueRequestSchema = z
  .strictObject({
    queue: z.enum(JOB_QUEUES).default('default').meta({
      description:
        'The job’s kind: `interactive` (default priority high), `default` (normal) or `batch` (low). Listed with the job; the priority decides which SQS queue serves it.',
    }),
    payload: z.record(z.string(), z.unknown()).meta({
      description: 'The job’s input: any JSON object (the whole body is at most 64 KB).',
    }),
    priority: z.enum(JOB_PRIORITIES).optional().meta({
      description:
        'Overrides the queue’s default priority. A `downgrade` budget that is breached demotes it one class.',
    }),
    target: jobTargetSchema.optional(),
    estimatedCostUsd: finite.min(0).max(MAX_JOB_ESTIMATE_USD).optional().meta({
      description:
        'What the job is expected to cost, in USD: reserved against the tenant’s budgets when the job is admitted, replaced by the actual cost when it finishes. Default: the target expert’s declared cost per call, or 0 without a target.',
    }),
    idempotencyKey: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/, '1 to 128 of A-Z a-z 0-9 . _ : -')
      .optional()
      .meta({
        description:
          'A retry with the same key (and the same payload, queue, priority, target and estimate) answers the same job and creates nothing; another tenant’s same key is another job.',
      }),
  })
  .meta({ id: 'EnqueueRequest', description: 'A job for the scheduler’s workers.' });

export const jobAcceptedSchema = z
  .object({
    jobId: z.string(),
    status: z.enum(JOB_STATUSES).meta({
      description: '`queued` for a new job; a replay answers the job’s current status.',
    }),
    priority: z.enum(JOB_PRIORITIES).meta({
      description: 'The priority the job runs at (lower than asked when a `downgrade` budget is breached).',
    }),
    budgetState: z.enum(BUDGET_STATES).optional().meta({
      description:
        'The tenant’s budget state after admitting the job (the worst of its windows); absent without budgets.',
    }),
  })
  .meta({ id: 'JobAccepted' });

export const enqueueJob = {
  operationId: 'enqueueJob',
  rateFamily: 'scheduler.enqueue',
  method: 'POST',
  path: '/scheduler/enqueue',
  summary:
    'Queue a job for the scheduler’s workers (answered once the queue accepted it; idempotent per idempotencyKey)',
  tag: 'scheduler',
  auth: 'jwt',
  minRole: 'operator',
  action: 'scheduler:enqueue',
  body: enqueueRequestSchema,
  exampleBody: {
    queue: 'batch',
    payload: { report: 'weekly-costs', tenantScope: 'all' },
    priority: 'normal',
    estimatedCostUsd: 0.02,
    idempotencyKey: 'weekly-costs-2026-49',
  },
  maxBodyBytes: MAX_ENQUEUE_BODY_BYTES,
  success: {
    status: 202,
    description:
      'The job, admitted by the tenant’s budgets and accepted by its priority’s queue. A replay of an idempotencyKey answers 202 too, with the job as it stands and the header Idempotent-Replayed: true. Responses carry the tenant’s budget state in X-Conductor-Budget-State.',
    schema: jobAcceptedSchema,
  },
  errors: [400, 409, 413, 415, 422, 429, 503],
} as const satisfies RouteSpec;

export const jobSchema = z
  .object({
    jobId: z.string(),
    queue: z.enum(JOB_QUEUES),
    status: z.enum(JOB_STATUSES),
    priority: z.enum(JOB_PRIORITIES).meta({ description: 'The priority it runs at.' }),
    requestedPriority: z.enum(JOB_PRIORITIES),
    payload: z.record(z.string(), z.unknown()),
    estimatedCostUsd: z.number(),
    costUsd: z.number().optional().meta({
      description:
        'The actual cost, once completed: the cost the expert reported (`costUsd` in its JSON answer, or the header X-Conductor-Cost-Usd), else its declared cost per call; the estimate for a job without a target.',
    }),
    expertId: z
      .string()
      .optional()
      .meta({ description: 'The expert the job calls (its target, or the router’s pick).' }),
    taskId: z
      .string()
      .optional()
      .meta({ description: 'The router decision’s taskId (a routed job): its outcome is reported there.' }),
    outcome: z.enum(['ok', 'error']).optional().meta({
      description:
        '`ok`: the expert answered 2xx; `error`: it answered otherwise, or could not be called (see `result`).',
    }),
    httpStatus: z.number().optional(),
    latencyMs: z
      .number()
      .optional()
      .meta({ description: 'The expert call’s wall time (the successful attempt).' }),
    attempts: z
      .number()
      .optional()
      .meta({ description: 'Calls made (retries of infrastructure errors included).' }),
    result: z.unknown().optional().meta({
      description:
        'The expert’s answer (JSON or text), at most 32 KB; larger answers are cut and `resultTruncated` is set.',
    }),
    resultTruncated: z.boolean().optional(),
    lastError: z.string().optional().meta({
      description:
        'Why its last delivery failed (status `dead_lettered`; the message waits in the DLQ: `conductor dlq redrive` runs it again).',
    }),
    deadLetteredAt: z.string().optional(),
    budgetWindows: z.array(z.string()).meta({
      description: 'The budget windows (e.g. `monthly:2026-04`) that hold its reservation and take its cost.',
    }),
    createdAt: z.string(),
    updatedAt: z.string(),
    completedAt: z.string().optional(),
    idempotencyKey: z.string().optional(),
    traceId: z.string(),
  })
  .meta({ id: 'Job' });

export const jobPageSchema = pageSchemaOf(jobSchema, 'JobPage');

const jobParams = z.strictObject({
  jobId: z.string().regex(/^job_[A-Za-z0-9-]{1,64}$/, 'not a job id'),
});

export const listJobsQuery = pageQuerySchema;

export const getJob = {
  operationId: 'getJob',
  rateFamily: 'scheduler.read',
  method: 'GET',
  path: '/scheduler/jobs/{jobId}',
  summary: 'Read one job: its status, priority, estimate and actual cost',
  tag: 'scheduler',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'scheduler:jobs:get',
  params: jobParams,
  success: { status: 200, description: 'The job', schema: jobSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const listJobs = {
  operationId: 'listJobs',
  rateFamily: 'scheduler.read',
  method: 'GET',
  path: '/scheduler/jobs',
  summary: 'List the tenant’s jobs, a page at a time (by job id)',
  tag: 'scheduler',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'scheduler:jobs:list',
  query: listJobsQuery,
  success: { status: 200, description: 'A page of jobs', schema: jobPageSchema },
  errors: [400],
} as const satisfies RouteSpec;

const percent = (max: number) => finite.min(0).max(max);

export const budgetPolicySchema = z
  .strictObject({
    gracePercent: percent(100).default(DEFAULT_POLICY.gracePercent).meta({
      description: 'Spend allowed above the limit: the cap is limit × (1 + grace/100).',
    }),
    carryOverCapPercent: percent(100).default(DEFAULT_POLICY.carryOverCapPercent).meta({
      description:
        'Unused budget of the previous window carried into the next, at most this percent of the limit (0: none).',
    }),
    burstPercent: percent(100).default(DEFAULT_POLICY.burstPercent).meta({
      description:
        'How far the projected spend may pass the cap, in percent of the limit, before the budget counts as breached (the cap itself still holds).',
    }),
    mode: z.enum(ENFORCEMENT_MODES).default(DEFAULT_POLICY.mode).meta({
      description:
        '`soft`: alert only, nothing refused; `throttle`: once breached, each priority is admitted only under its ceiling, refusals are 429; `downgrade`: once breached, jobs are demoted one priority class (admitted up to the cap).',
    }),
    alertThresholds: z
      .array(finite.min(1).max(1000))
      .max(10)
      .default([...DEFAULT_POLICY.alertThresholds])
      .meta({
        description:
          'Percentages of the limit whose crossing by the projected spend publishes budget_breach (once per window); stored sorted, without repeats.',
      }),
    priorityCeilingsPercent: z
      .strictObject({
        high: percent(100).default(DEFAULT_POLICY.priorityCeilingsPercent.high),
        normal: percent(100).default(DEFAULT_POLICY.priorityCeilingsPercent.normal),
        low: percent(100).default(DEFAULT_POLICY.priorityCeilingsPercent.low),
      })
      .default({ ...DEFAULT_POLICY.priorityCeilingsPercent })
      .meta({
        description:
          'Mode `throttle`, once breached: a job of each priority is admitted only while spend (its estimate included) stays under this percent of the cap.',
      }),
  })
  .meta({ id: 'BudgetPolicy' });

export const budgetLimitsRequestSchema = z
  .strictObject({
    /** Accepted like the router's; must name the tenant the request acts in. */
    tenantId: z.string().optional(),
    window: z.enum(BUDGET_WINDOWS),
    limit: finite.positive().max(1e9).meta({ description: 'The window’s limit, in USD (> 0).' }),
    timeZone: z
      .string()
      .max(64)
      .refine(isTimeZone, 'not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)')
      .default('UTC')
      .meta({ description: 'The IANA time zone the windows are calendar-aligned in (e.g. Europe/Berlin).' }),
    effectiveFrom: z.iso.datetime({ offset: true }).optional().meta({
      description: 'The budget applies from the window containing this instant on; not in a past window.',
    }),
    policy: budgetPolicySchema.default(budgetPolicySchema.parse({})),
  })
  .meta({
    id: 'BudgetLimitsRequest',
    description: 'A tenant’s budget for one window kind (replaces the one it had).',
  });

export const budgetSchema = z
  .object({
    tenantId: z.string(),
    window: z.enum(BUDGET_WINDOWS),
    limitUsd: z.number(),
    timeZone: z.string(),
    effectiveFrom: z.string().optional(),
    policy: budgetPolicySchema,
    version: z.number(),
    updatedAt: z.string(),
    changedBy: z.string(),
  })
  .meta({ id: 'Budget' });

export const budgetLimitsAnswerSchema = z
  .object({ ok: z.literal(true), budget: budgetSchema })
  .meta({ id: 'BudgetLimitsAnswer' });

export const budgetStatusSchema = z
  .object({
    window: z.enum(BUDGET_WINDOWS),
    windowId: z.string(),
    start: z.string(),
    end: z.string(),
    timeZone: z.string(),
    mode: z.enum(ENFORCEMENT_MODES),
    limitUsd: z.number(),
    carryInUsd: z.number(),
    capUsd: z.number(),
    breachAtUsd: z.number(),
    spentUsd: z.number().meta({ description: 'Actual cost of the jobs finished in this window.' }),
    reservedUsd: z.number().meta({ description: 'Estimated cost of the admitted jobs not finished yet.' }),
    projectedUsd: z.number().meta({
      description:
        'Finished spend extrapolated to the window’s end at its mean rate (the elapsed share counted as at least 10 %), plus reservedUsd.',
    }),
    remainingUsd: z.number(),
    state: z.enum(BUDGET_STATES),
    thresholdsReached: z.array(z.number()),
  })
  .meta({ id: 'BudgetStatus' });

export const budgetStateSchema = z
  .object({ tenantId: z.string(), budgets: z.array(budgetStatusSchema) })
  .meta({ id: 'BudgetState' });

export const putBudgetLimits = {
  operationId: 'putBudgetLimits',
  rateFamily: 'budgets',
  method: 'PUT',
  path: '/budgets/limits',
  summary:
    'Set the tenant’s budget for a window kind (daily, weekly or monthly): limit, time zone and policy',
  tag: 'budgets',
  auth: 'jwt',
  minRole: 'admin',
  action: 'budgets:limits:put',
  body: budgetLimitsRequestSchema,
  maxBodyBytes: 8 * 1024,
  exampleBody: {
    window: 'monthly',
    limit: 1000,
    timeZone: 'Europe/Berlin',
    policy: { gracePercent: 10, mode: 'throttle', alertThresholds: [50, 80, 100] },
  },
  success: { status: 200, description: 'The stored budget', schema: budgetLimitsAnswerSchema },
  errors: [400, 413, 415, 422],
} as const satisfies RouteSpec;

export const getBudgetState = {
  operationId: 'getBudgetState',
  rateFamily: 'budgets.read',
  method: 'GET',
  path: '/budgets/state',
  summary: 'The tenant’s budgets now: spent, reserved, projected, remaining and state per window',
  tag: 'budgets',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'budgets:state:get',
  query: z.strictObject({ window: z.enum(BUDGET_WINDOWS).optional() }),
  success: { status: 200, description: 'The budgets’ state', schema: budgetStateSchema },
  errors: [400],
} as const satisfies RouteSpec;

const demandItemSchema = z.strictObject({
  at: z.iso.datetime({ offset: true }),
  priority: z.enum(JOB_PRIORITIES).default('normal'),
  estimatedCostUsd: finite.min(0).max(MAX_JOB_ESTIMATE_USD),
  actualCostUsd: finite.min(0).max(MAX_JOB_ESTIMATE_USD).optional(),
  durationSeconds: finite.min(0).max(86_400).optional(),
});

export const whatIfRequestSchema = z
  .strictObject({
    budget: budgetLimitsRequestSchema.omit({ tenantId: true, effectiveFrom: true }).meta({
      description:
        'The budget policy to try (as PUT budgets/limits takes it); the tenant’s own budgets are not read or changed.',
    }),
    trace: z
      .array(demandItemSchema)
      .max(MAX_WHAT_IF_JOBS)
      .optional()
      .meta({
        description: `A synthetic demand trace: up to ${MAX_WHAT_IF_JOBS} jobs, in any order.`,
      }),
    recorded: z
      .strictObject({ from: z.iso.datetime({ offset: true }), to: z.iso.datetime({ offset: true }) })
      .optional()
      .meta({
        description: `The tenant’s recorded jobs created in [from, to) as the trace (their requested priority, estimate, actual cost and duration; at most ${MAX_WHAT_IF_JOBS}).`,
      }),
    retryThrottled: z.boolean().default(false).meta({
      description:
        'A throttled client retries after Retry-After (up to 100 times): its job counts as delayed instead of throttled.',
    }),
  })
  .refine((body) => (body.trace === undefined) !== (body.recorded === undefined), {
    message: 'give either trace or recorded',
    path: ['trace'],
  })
  .meta({ id: 'WhatIfRequest', description: 'A demand trace replayed against a budget policy, in memory.' });

const admissionCounts = z.object({ admitted: z.number(), throttled: z.number(), delayed: z.number() });

export const whatIfReportSchema = z
  .object({
    jobs: z.number(),
    admitted: z.number(),
    demoted: z
      .number()
      .meta({ description: 'Admitted one priority class lower (a breached downgrade budget).' }),
    delayed: z.number().meta({ description: 'Admitted after at least one 429 (retryThrottled).' }),
    meanDelaySeconds: z.number(),
    throttled: z.number().meta({ description: 'Refused for good.' }),
    spentUsd: z.number(),
    byPriority: z.object({ high: admissionCounts, normal: admissionCounts, low: admissionCounts }),
    windows: z.array(
      z.object({
        windowId: z.string(),
        admitted: z.number(),
        refused: z.number(),
        spentUsd: z.number(),
        breachedAt: z.string().optional(),
      }),
    ),
  })
  .meta({ id: 'WhatIfReport' });

export const budgetWhatIf = {
  operationId: 'budgetWhatIf',
  rateFamily: 'budgets.read',
  method: 'POST',
  path: '/budgets/what-if',
  summary:
    'Replay a recorded or synthetic demand trace against a budget policy: what would have been admitted, demoted, delayed, throttled and spent',
  tag: 'budgets',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'budgets:what-if',
  body: whatIfRequestSchema,
  maxBodyBytes: 2 * 1024 * 1024,
  exampleBody: {
    budget: { window: 'daily', limit: 5, policy: { gracePercent: 10 } },
    trace: [
      { at: '2026-12-01T09:00:00Z', priority: 'low', estimatedCostUsd: 3 },
      { at: '2026-12-01T10:00:00Z', priority: 'high', estimatedCostUsd: 2.5 },
    ],
  },
  success: { status: 200, description: 'What would have happened', schema: whatIfReportSchema },
  errors: [400, 413, 415, 422],
} as const satisfies RouteSpec;

export const schedulerRoutes = [
  enqueueJob,
  getJob,
  listJobs,
  putBudgetLimits,
  getBudgetState,
  budgetWhatIf,
] as const;

export { budgetBreach, JOB_PRIORITIES, type JobPriority, jobCompleted, SCHEDULER_EVENTS } from './events.js';
export { BUDGET_STATES } from './src/domain/budgets.js';
