import { type Schemas, unwrap } from '../../clients/typescript/index.js';
import { type Command, UsageError } from '../command.js';
import {
  choiceOption,
  integerOption,
  jsonObjectOption,
  numberOption,
  positional,
  stringOption,
} from '../input.js';
import { fields, list, table, usd } from '../output.js';

type Job = Schemas['Job'];
type Queue = NonNullable<Schemas['EnqueueRequest']['queue']>;
type Priority = Schemas['Job']['priority'];

const QUEUES: readonly Queue[] = ['interactive', 'default', 'batch'];
const PRIORITIES: readonly Priority[] = ['high', 'normal', 'low'];
/** How much of a payload `jobs get` shows; --json shows all of it. */
const PAYLOAD_PREVIEW = 200;

const enqueue: Command = {
  name: 'enqueue',
  summary: 'hand a job to the scheduler, admitted against the tenant’s budgets (operator)',
  details: `The queue sets the default priority (interactive: high, default: normal, batch: low);
--priority overrides it, and a breached downgrade budget demotes it one class. --estimate is reserved
against every budget of the tenant until the job finishes. A budget with no room answers 429
(budget_throttled or budget_exhausted) with its Retry-After: nothing was queued. A retry with the same
--key answers the same job and queues nothing new.`,
  options: {
    payload: { type: 'string', placeholder: '<json|@file>', description: `the job's input, a JSON object` },
    queue: { type: 'string', placeholder: '<queue>', description: `${QUEUES.join(', ')} (default default)` },
    priority: { type: 'string', placeholder: '<priority>', description: PRIORITIES.join(', ') },
    estimate: {
      type: 'string',
      placeholder: '<usd>',
      description: 'what the job is expected to cost (default: the expert’s declared cost, or 0)',
    },
    expert: { type: 'string', placeholder: '<expertId>', description: 'the expert the worker calls' },
    route: {
      type: 'string',
      placeholder: '<ids>',
      description: 'comma-separated candidates: the router picks the expert (with --context)',
    },
    context: { type: 'string', placeholder: '<json>', description: 'the routing context (with --route)' },
    key: {
      type: 'string',
      placeholder: '<key>',
      description: 'the idempotency key (1 to 128 of A-Za-z0-9._:-)',
    },
  },
  examples: [
    `conductor jobs enqueue --as acme-operator --queue batch --payload '{"report":"weekly-costs"}' --estimate 0.02`,
    `conductor jobs enqueue --as acme-operator --payload '{"q":"summarise"}' --route exp_a,exp_b --context '{"lang":"en"}'`,
    'conductor jobs enqueue --as acme-operator --payload @job.json --key weekly-costs-2026-49',
  ],
  run: async (invocation) => {
    const payload = jsonObjectOption(invocation, 'payload');
    if (payload === undefined) throw new UsageError(`--payload is required (a JSON object, or @file)`);
    const queue = choiceOption(invocation, 'queue', QUEUES);
    const priority = choiceOption(invocation, 'priority', PRIORITIES);
    const estimatedCostUsd = numberOption(invocation, 'estimate');
    const idempotencyKey = stringOption(invocation, 'key');
    const expertId = stringOption(invocation, 'expert');
    const route = stringOption(invocation, 'route');
    const context = jsonObjectOption(invocation, 'context');
    if (expertId !== undefined && route !== undefined)
      throw new UsageError('give --expert or --route, not both');
    if (context !== undefined && route === undefined) throw new UsageError('--context goes with --route');
    // The router validates the context's values (strings, numbers, booleans, string lists).
    const target: Schemas['JobTarget'] | undefined =
      expertId !== undefined
        ? { expertId }
        : route !== undefined
          ? {
              route: {
                context: (context ?? {}) as Schemas['RouteContext'],
                candidates: route.split(',').map((id) => id.trim()),
              },
            }
          : undefined;
    const accepted = await unwrap(
      invocation.context.client().POST('/api/conductor/v1/scheduler/enqueue', {
        body: {
          payload,
          ...(queue === undefined ? {} : { queue }),
          ...(priority === undefined ? {} : { priority }),
          ...(estimatedCostUsd === undefined ? {} : { estimatedCostUsd }),
          ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
          ...(target === undefined ? {} : { target }),
        },
      }),
    );
    invocation.context.print(accepted, () =>
      fields([
        ['job', accepted.jobId],
        ['status', accepted.status],
        ['priority', accepted.priority],
        ['budget state', accepted.budgetState ?? '- (no budget)'],
      ]),
    );
  },
};

const priorityText = (job: Job) =>
  job.priority === job.requestedPriority ? job.priority : `${job.priority} (asked ${job.requestedPriority})`;

const payloadText = (payload: Job['payload']) => {
  const text = JSON.stringify(payload);
  return text.length > PAYLOAD_PREVIEW ? `${text.slice(0, PAYLOAD_PREVIEW)}… (--json shows all)` : text;
};

const jobText = (job: Job) =>
  fields([
    ['job', job.jobId],
    ['queue', job.queue],
    ['status', job.status],
    ['priority', priorityText(job)],
    ['estimate', usd(job.estimatedCostUsd)],
    ['cost', job.costUsd === undefined ? undefined : usd(job.costUsd)],
    ['expert', job.expertId],
    ['task', job.taskId],
    [
      'outcome',
      job.outcome === undefined
        ? undefined
        : `${job.outcome}${job.httpStatus === undefined ? '' : ` (HTTP ${job.httpStatus})`}, ${job.latencyMs} ms, ${job.attempts} call(s)`,
    ],
    ['budget windows', list(job.budgetWindows)],
    ['created', job.createdAt],
    ['updated', job.updatedAt],
    ['completed', job.completedAt],
    ['dead-lettered', job.deadLetteredAt],
    ['last error', job.lastError],
    ['key', job.idempotencyKey],
    ['trace', job.traceId],
    ['payload', payloadText(job.payload)],
  ]);

const get: Command = {
  name: 'get',
  summary: 'read one job: its status, priority, estimate and actual cost',
  arguments: '<jobId>',
  examples: ['conductor jobs get job_4f1c… --as acme-viewer'],
  run: async (invocation) => {
    const jobId = positional(invocation, 0, '<jobId>');
    const job = await unwrap(
      invocation.context
        .client()
        .GET('/api/conductor/v1/scheduler/jobs/{jobId}', { params: { path: { jobId } } }),
    );
    invocation.context.print(job, () => jobText(job));
  },
};

const jobRows = (items: readonly Job[]) =>
  table(
    ['job', 'queue', 'status', 'priority', 'estimate', 'cost', 'created'],
    items.map((job) => [
      job.jobId,
      job.queue,
      job.status,
      priorityText(job),
      usd(job.estimatedCostUsd),
      job.costUsd === undefined ? '-' : usd(job.costUsd),
      job.createdAt,
    ]),
  );

const listJobs: Command = {
  name: 'list',
  summary: 'the tenant’s jobs, a page at a time (by job id)',
  options: {
    limit: { type: 'string', placeholder: '<n>', description: 'jobs per page (1 to 100, default 25)' },
    cursor: { type: 'string', placeholder: '<cursor>', description: 'the nextCursor of a previous page' },
  },
  examples: ['conductor jobs list --as acme-viewer', 'conductor jobs list --limit 100 --json'],
  run: async (invocation) => {
    const limit = integerOption(invocation, 'limit');
    const cursor = stringOption(invocation, 'cursor');
    const page = await unwrap(
      invocation.context.client().GET('/api/conductor/v1/scheduler/jobs', {
        params: { query: { ...(limit !== undefined ? { limit } : {}), ...(cursor ? { cursor } : {}) } },
      }),
    );
    invocation.context.print(page, () =>
      page.nextCursor ? `${jobRows(page.items)}\n\nmore: --cursor ${page.nextCursor}` : jobRows(page.items),
    );
  },
};

export const jobsCommand: Command = {
  name: 'jobs',
  summary: 'the scheduler’s jobs: enqueue, get, list',
  subcommands: [enqueue, get, listJobs],
};
