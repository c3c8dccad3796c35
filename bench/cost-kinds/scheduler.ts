import type { CostContext, Kind, PillarKinds } from './kind.js';

/**
 * The scheduler's (M3) main request, priced by `npm run bench:cost`: `POST /scheduler/enqueue` of a
 * job (queue `default`, priority normal, no idempotency key) that calls an expert registered on the
 * bench's local expert (`context.expertBase`, answering `{ answer: "pong", costUsd: 0.0004 }` at once).
 * One request: the enqueue (its target resolved through the router's API, `GET /experts/{id}`, the
 * job written, its message sent to the `scheduler-jobs` queue, 202), and what it sets off, drained
 * with it: the worker (that queue's event source mapping) reads the job, calls the expert through the
 * guarded outbound client, writes the answer and its cost, marks the job completed and publishes
 * `job_completed`.
 * - "scheduler job": in a tenant without budgets.
 * - "scheduler job under a budget": in a tenant with a monthly budget ($1,000,000, mode throttle:
 *   never breached), so the admission reserves the estimate in the month's ledger and the worker
 *   claims the job and commits its cost there too.
 * After each phase (`verify`, unmetered, once the drain is done) every job it enqueued is read back:
 * each must have completed with the expert's answer and cost.
 */

const ESTIMATE_USD = 0.001;
/** Jobs enqueued and not yet seen completed. */
const unchecked: { readonly token: string; readonly jobId: string; readonly budgeted: boolean }[] = [];

/**
 * Throws unless every job enqueued so far has completed with the local expert's answer and cost (and,
 * under a budget, in the month's budget window).
 */
const checkCompleted = async (context: CostContext) => {
  for (const { token, jobId, budgeted } of unchecked.splice(0)) {
    const job = await context.call('GET', `/scheduler/jobs/${jobId}`, token, undefined, 200);
    const answer = (job.result as { answer?: string } | undefined)?.answer;
    const windows = (job.budgetWindows as readonly string[]).length;
    if (
      job.status !== 'completed' ||
      job.outcome !== 'ok' ||
      job.costUsd !== 0.0004 ||
      answer !== 'pong' ||
      windows !== (budgeted ? 1 : 0)
    )
      throw new Error(`job ${jobId} not completed with the expert's answer: ${JSON.stringify(job)}`);
  }
};

/** The enqueue kind of a tenant of its own (with a monthly budget when `budgeted`). */
const jobKind = async (context: CostContext, name: string, tenant: string, budgeted: boolean) => {
  const admin = await context.token(tenant, `${tenant}-admin`, ['tenant-admin'], true);
  const operator = await context.token(tenant, `${tenant}-operator`, ['operator']);
  const expert = {
    name: `${tenant}-expert`,
    type: 'model',
    costPerCallUsd: ESTIMATE_USD,
    endpoint: `${context.expertBase}/job`,
  };
  const expertId = (await context.call('POST', '/experts', admin, expert, 201)).id as string;
  if (budgeted) {
    const budget = { window: 'monthly', limit: 1_000_000, policy: { mode: 'throttle' } };
    await context.call('PUT', '/budgets/limits', admin, budget, 200);
  }
  return {
    name,
    method: 'POST',
    path: '/scheduler/enqueue',
    token: operator,
    status: 202,
    body: (i, phase) => ({
      payload: { task: `cost-${phase}-${i}` },
      target: { expertId },
      estimatedCostUsd: ESTIMATE_USD,
    }),
    ...(budgeted
      ? {
          note: 'Budget admission: the month’s ledger reserves the estimate, the worker commits the cost. The budget itself is read through the scheduler’s 10 s cache, so back to back (as here) nearly every enqueue finds it cached; a tenant enqueuing less often pays one more read per job.',
        }
      : {}),
    verify: () => checkCompleted(context),
    check: (reply) => {
      const { jobId, status, priority, budgetState } = reply as Record<string, unknown>;
      if (status !== 'queued' || priority !== 'normal' || budgetState !== (budgeted ? 'ok' : undefined))
        throw new Error(`expected a queued normal job${budgeted ? ' with budget state ok' : ''}`);
      unchecked.push({ token: operator, jobId: jobId as string, budgeted });
    },
  } satisfies Kind;
};

export const schedulerCostKinds: PillarKinds = async (context) => [
  await jobKind(context, 'scheduler job', 'bench-scheduler', false),
  await jobKind(context, 'scheduler job under a budget', 'bench-scheduler-budget', true),
];
