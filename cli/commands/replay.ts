import { setTimeout as sleep } from 'node:timers/promises';
import { type Schemas, unwrap } from '../../clients/typescript/index.js';
import { type Command, type Invocation, UsageError } from '../command.js';
import { booleanOption, numberOption, positional, requiredString, stringOption } from '../input.js';
import { fields, table } from '../output.js';

type Job = Schemas['ReplayJob'];
type Strategy = Schemas['CandidateStrategy']['strategy'];
const STRATEGIES: readonly Strategy[] = [
  'static',
  'greedy',
  'epsilon-greedy',
  'thompson',
  'linucb',
  'linear-thompson',
];
/** How often `start --wait` reads the job. */
const POLL_MS = 1_000;
/** How long `start --wait` waits (a replay of a month of decisions takes minutes). */
const WAIT_MS = 15 * 60_000;

const strategyOf = (invocation: Invocation, prefix: string) => {
  const strategy = stringOption(invocation, prefix) as Strategy | undefined;
  if (strategy === undefined) return undefined;
  if (!STRATEGIES.includes(strategy))
    throw new UsageError(`--${prefix} must be one of ${STRATEGIES.join(', ')}, got '${strategy}'`);
  const alpha = numberOption(invocation, `${prefix}-alpha`);
  const epsilon = numberOption(invocation, `${prefix}-epsilon`);
  const likelihood = stringOption(invocation, `${prefix}-likelihood`) as 'bernoulli' | 'gaussian' | undefined;
  return {
    strategy,
    ...(alpha === undefined ? {} : { alpha }),
    ...(epsilon === undefined ? {} : { epsilon }),
    ...(likelihood === undefined ? {} : { likelihood }),
  };
};

const interval = (e: { value: number; low: number; high: number } | undefined) =>
  e ? `${e.value.toFixed(4)} [${e.low.toFixed(4)}, ${e.high.toFixed(4)}]` : '-';

/** A job as people read it: status, then the estimates side by side and the verdict. */
export const jobText = (job: Job): string => {
  const head = fields([
    ['job', job.jobId],
    ['status', job.status],
    ['range', `${job.request.from} .. ${job.request.to} (${job.request.source})`],
    ['baseline', job.baseline.strategy],
    ['candidate', job.candidate.strategy],
    ['error', job.error ? `${job.error.code}: ${job.error.message}` : undefined],
  ]);
  const result = job.result;
  if (!result) return head;
  const rows = (['baseline', 'candidate'] as const).map((arm) => [
    arm,
    interval(result[arm].ips),
    interval(result[arm].snips),
    interval(result[arm].doublyRobust),
    result[arm].effectiveSampleSize.toFixed(1),
  ]);
  return [
    head,
    '',
    table(['policy', 'IPS (95 % CI)', 'SNIPS (95 % CI)', 'DR (95 % CI)', 'ESS'], rows),
    '',
    fields([
      ['decisions', `${result.rewarded} with a reward, of ${result.decisions} in the range`],
      ['candidate - baseline', `${interval(result.difference)} (${result.estimator})`],
      [
        'verdict',
        result.passed
          ? `not worse (margin ${job.request.margin})`
          : `worse, or not shown not worse (margin ${job.request.margin})`,
      ],
      ['throughput', `${result.evaluatedPerSecond} decisions/s`],
    ]),
  ].join('\n');
};

const start: Command = {
  name: 'start',
  summary: 'estimate a candidate strategy against the baseline on the logged decisions of a range',
  details:
    'Queues an off-policy replay (IPS, self-normalised IPS, doubly robust, 95 % intervals, effective sample size). The candidate defaults to the running experiment’s, the baseline to the configuration’s own strategy. --wait polls until the job has finished.',
  options: {
    from: { type: 'string', placeholder: '<iso-time>', description: 'start of the range (inclusive)' },
    to: {
      type: 'string',
      placeholder: '<iso-time>',
      description: 'end of the range (exclusive; default now)',
    },
    candidate: { type: 'string', placeholder: '<strategy>', description: `one of ${STRATEGIES.join(', ')}` },
    'candidate-alpha': { type: 'string', placeholder: '<n>', description: 'LinUCB α of the candidate' },
    'candidate-epsilon': {
      type: 'string',
      placeholder: '<n>',
      description: 'ε of an epsilon-greedy candidate',
    },
    'candidate-likelihood': {
      type: 'string',
      placeholder: '<l>',
      description: 'bernoulli or gaussian (thompson)',
    },
    baseline: {
      type: 'string',
      placeholder: '<strategy>',
      description: 'another baseline than the configuration’s',
    },
    source: { type: 'string', placeholder: '<source>', description: 'strategies (default) or shadow' },
    margin: { type: 'string', placeholder: '<n>', description: 'non-inferiority margin (default 0.01)' },
    wait: { type: 'boolean', description: 'wait for the result' },
  },
  examples: [
    'conductor replay start --as acme-admin --from 2026-12-01T00:00:00Z --candidate thompson --wait',
    'conductor replay start --as acme-admin --from 2026-12-05T00:00:00Z --source shadow',
  ],
  run: async (invocation) => {
    const from = requiredString(invocation, 'from');
    const to = stringOption(invocation, 'to') ?? new Date().toISOString();
    const source = stringOption(invocation, 'source') as 'strategies' | 'shadow' | undefined;
    if (source !== undefined && source !== 'strategies' && source !== 'shadow')
      throw new UsageError(`--source must be strategies or shadow, got '${source}'`);
    const candidate = strategyOf(invocation, 'candidate');
    const baseline = strategyOf(invocation, 'baseline');
    const margin = numberOption(invocation, 'margin');
    const client = invocation.context.client();
    let job = await unwrap(
      client.POST('/api/conductor/v1/router/replay', {
        body: {
          from,
          to,
          ...(source ? { source } : {}),
          ...(candidate ? { candidate } : {}),
          ...(baseline ? { baseline } : {}),
          ...(margin === undefined ? {} : { margin }),
        },
      }),
    );
    if (booleanOption(invocation, 'wait')) {
      const deadline = Date.now() + WAIT_MS;
      while ((job.status === 'queued' || job.status === 'running') && Date.now() < deadline) {
        invocation.context.progress(`replay ${job.jobId}: ${job.status}`);
        await sleep(POLL_MS);
        job = await unwrap(
          client.GET('/api/conductor/v1/router/replay/{jobId}', { params: { path: { jobId: job.jobId } } }),
        );
      }
    }
    const finished = job;
    invocation.context.print(finished, () => jobText(finished));
  },
};

const get: Command = {
  name: 'get',
  summary: 'read a replay job: its status and, once it ran, its estimates and verdict',
  arguments: '<jobId>',
  examples: ['conductor replay get rpl_0c8e... --as acme-viewer'],
  run: async (invocation) => {
    const jobId = positional(invocation, 0, 'jobId');
    const job = await unwrap(
      invocation.context
        .client()
        .GET('/api/conductor/v1/router/replay/{jobId}', { params: { path: { jobId } } }),
    );
    invocation.context.print(job, () => jobText(job));
  },
};

export const replayCommand: Command = {
  name: 'replay',
  summary: 'off-policy replay: what a candidate strategy would have earned on the logged decisions',
  subcommands: [start, get],
};

type Status = Schemas['OutcomeRequest']['status'];
const STATUSES: readonly Status[] = ['ok', 'error', 'timeout'];

export const outcomeCommand: Command = {
  name: 'outcome',
  summary: 'report how the call to the chosen expert went (feeds the canary watch)',
  options: {
    'task-id': { type: 'string', placeholder: '<id>', description: 'the routed task' },
    status: { type: 'string', placeholder: '<status>', description: `one of ${STATUSES.join(', ')}` },
    'latency-ms': { type: 'string', placeholder: '<ms>', description: 'how long the call took' },
  },
  examples: ['conductor outcome --as acme-operator --task-id task-1 --status ok --latency-ms 230'],
  run: async (invocation) => {
    const taskId = requiredString(invocation, 'task-id');
    const status = requiredString(invocation, 'status') as Status;
    if (!STATUSES.includes(status))
      throw new UsageError(`--status must be one of ${STATUSES.join(', ')}, got '${status}'`);
    const latencyMs = numberOption(invocation, 'latency-ms');
    if (latencyMs === undefined) throw new UsageError('--latency-ms is required');
    const answer = await unwrap(
      invocation.context
        .client()
        .POST('/api/conductor/v1/router/outcome', { body: { taskId, status, latencyMs } }),
    );
    invocation.context.print(answer, () =>
      fields([
        ['task', answer.taskId],
        ['expert', answer.expertId],
        ['recorded', answer.duplicate ? 'before (the first report stands)' : 'now'],
        ['arm', answer.arm],
        ['canary', answer.canary],
      ]),
    );
  },
};

export const experimentCommand: Command = {
  name: 'experiment',
  summary: 'the tenant’s experiment: its configuration, each canary arm’s window, the rollback verdict',
  examples: ['conductor experiment --as acme-viewer'],
  run: async (invocation) => {
    const status = await unwrap(invocation.context.client().GET('/api/conductor/v1/router/experiment'));
    invocation.context.print(status, () => {
      const e = status.experiment;
      if (!e) return 'no experiment (set one with PUT /router/config: experiment)';
      const arm = (a: { outcomes: number; errorRate: number } | undefined) =>
        a ? `${a.outcomes} outcomes, ${(a.errorRate * 100).toFixed(1)} % errors` : undefined;
      return fields([
        ['experiment', `${e.name}: ${e.candidate.strategy} in ${e.mode} at ${e.percent} %`],
        ['step since', e.stepStartedAt],
        ['rolled back', e.rolledBack ? `${e.rolledBack.at}: ${e.rolledBack.reason}` : undefined],
        ['baseline', arm(status.window?.baseline)],
        ['candidate', arm(status.window?.candidate)],
        [
          'verdict',
          status.verdict
            ? `${status.verdict.rollback ? 'ROLL BACK' : 'hold'}: ${status.verdict.reason}`
            : undefined,
        ],
        ['next step', status.nextStep === undefined ? undefined : `${status.nextStep} %`],
        [
          'last replay',
          status.replay
            ? `${status.replay.jobId} (${status.replay.result?.passed ? 'not worse' : 'not shown not worse'})`
            : undefined,
        ],
      ]);
    });
  },
};
