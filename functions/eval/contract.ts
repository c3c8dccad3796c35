import * as z from 'zod';
import { pageQuerySchema, pageSchemaOf, type RouteSpec } from '#shared/http/http.js';
import { SUITE_FIELDS } from './src/domain/suite.js';

/**
 * The evaluation pillar's contract: its route specs and its events. Pure data and schemas: the CDK
 * app, the embedded runtime and the OpenAPI document read it, the handler binds it to the domain, and
 * it is the only part of this pillar another one may import.
 */

/** A suite document is at most this large (5,000 tasks of ~200 bytes): a larger body is a 413. */
export const MAX_SUITE_BODY_BYTES = 1024 * 1024;
/** The most experts one run evaluates (each adds a run of the whole suite). */
export const MAX_RUN_EXPERTS = 8;

const idOf = (what: string) =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, `not a ${what} id (1 to 128 of A-Z a-z 0-9 . _ -)`);
const expertIdOf = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'not an expert id');
const runIdOf = z.string().regex(/^run_[A-Za-z0-9-]{1,64}$/, 'not a run id');

export const suiteIdSchema = idOf('suite');
export const baselineIdSchema = idOf('baseline');

const RUN_STATUSES = ['queued', 'running', 'completed', 'failed'] as const;
const VERDICTS = ['pass', 'regression', 'undecided', 'infrastructure_failure'] as const;

export const suiteSummarySchema = z
  .object({
    suiteId: z.string(),
    version: z.string(),
    digest: z.string().meta({ description: 'SHA-256 of the suite’s canonical JSON (defaults applied).' }),
    description: z.string().optional(),
    expertType: z.string().optional(),
    tasks: z.number().int(),
    tolerance: z
      .number()
      .meta({ description: 'The gate’s tolerance: the largest drop in pass rate that is not a regression.' }),
    confidence: z.number(),
    judges: z.array(z.string()).meta({ description: 'Experts the suite’s rubric scorers ask to judge.' }),
    registeredAt: z.string(),
    registeredBy: z.string(),
  })
  .meta({ id: 'EvalSuite' });

export const registerSuite = {
  operationId: 'registerEvalSuite',
  rateFamily: 'eval.write',
  method: 'PUT',
  path: '/eval/suites/{suiteId}',
  summary:
    'Register a golden suite (conductor.suite/v1): a new version, or the same document again (no change). A version once registered never changes.',
  tag: 'eval',
  auth: 'jwt',
  minRole: 'operator',
  action: 'eval:suites:put',
  params: z.strictObject({ suiteId: suiteIdSchema }),
  // Only the top-level fields are checked here (an unknown one is a 400 naming it); the document
  // itself is the domain's to check, so that every problem is named by its path in the suite
  // (`tasks[3].scorer.pattern`) under one code, `invalid_suite`, as conductor-eval names them.
  body: z
    .strictObject(Object.fromEntries(SUITE_FIELDS.map((field) => [field, z.unknown().optional()])))
    .meta({
      id: 'EvalSuiteDocument',
      description:
        'A golden suite (`conductor.suite/v1`, see the eval README): tasks with input, expected output, scorer, tolerance and weight. Its `id` must be the path’s suiteId. Custom scorers run only in standalone mode (conductor-eval run) and are refused here.',
    }),
  exampleBody: {
    apiVersion: 'conductor.suite/v1',
    id: 'arithmetic',
    version: '1',
    gate: { tolerance: 0.05, confidence: 0.99 },
    defaults: { scorer: { type: 'exact' } },
    tasks: [
      { id: 'add', input: { question: '2+2' }, expected: 4 },
      {
        id: 'half',
        input: { question: '1/2' },
        expected: 0.5,
        scorer: { type: 'numeric', tolerance: 0.001 },
      },
    ],
  },
  maxBodyBytes: MAX_SUITE_BODY_BYTES,
  success: { status: 200, description: 'The suite version as registered', schema: suiteSummarySchema },
  errors: [400, 409, 413, 415],
} as const satisfies RouteSpec;

export const listSuites = {
  operationId: 'listEvalSuites',
  rateFamily: 'eval.read',
  method: 'GET',
  path: '/eval/suites',
  summary: 'The tenant’s golden suites, each at its latest version',
  tag: 'eval',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'eval:suites:list',
  query: pageQuerySchema,
  success: {
    status: 200,
    description: 'A page of suites',
    schema: pageSchemaOf(suiteSummarySchema, 'EvalSuitePage'),
  },
  errors: [400],
} as const satisfies RouteSpec;

export const runRequestSchema = z
  .strictObject({
    suiteId: suiteIdSchema,
    expertIds: z
      .array(expertIdOf)
      .min(1)
      .max(MAX_RUN_EXPERTS)
      .refine((ids) => new Set(ids).size === ids.length, 'an expert is named twice'),
    baselineId: baselineIdSchema.optional().meta({
      description:
        'Compare with this baseline of the same suite; without one the run measures and gates nothing.',
    }),
    concurrency: z.number().int().min(1).max(64).default(8).meta({ description: 'Calls in flight at once.' }),
    retries: z
      .number()
      .int()
      .min(0)
      .max(3)
      .default(1)
      .meta({ description: 'Further attempts after an infrastructure error (timeout, unreachable, 5xx).' }),
    idempotencyKey: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/, '1 to 128 of A-Z a-z 0-9 . _ : -')
      .optional()
      .meta({ description: 'A retry with the same key (and the same request) answers the same run.' }),
  })
  .meta({ id: 'EvalRunRequest', description: 'Run a registered suite against experts of the tenant.' });

export const runAcceptedSchema = z
  .object({ runId: z.string(), status: z.enum(RUN_STATUSES) })
  .meta({ id: 'EvalRunAccepted' });

export const runEval = {
  operationId: 'runEval',
  rateFamily: 'eval.run',
  method: 'POST',
  path: '/eval/run',
  summary:
    'Run a golden suite against experts (asynchronous, through the eval queue); poll GET eval/results/{runId}',
  tag: 'eval',
  auth: 'jwt',
  minRole: 'operator',
  action: 'eval:run',
  body: runRequestSchema,
  exampleBody: { suiteId: 'arithmetic', expertIds: ['exp_calc'], concurrency: 4 },
  maxBodyBytes: 16 * 1024,
  success: {
    status: 202,
    description:
      'The run, accepted by the eval queue. Its experts (and the suite’s judges) were resolved with the caller’s rights. A replay of an idempotencyKey answers the same run with Idempotent-Replayed: true.',
    schema: runAcceptedSchema,
  },
  errors: [400, 404, 409, 413, 415, 422, 503],
} as const satisfies RouteSpec;

const metricSchema = z
  .object({
    expertId: z.string(),
    passRate: z.number(),
    meanScore: z.number(),
    tasks: z.number().int(),
    scoredTrials: z.number().int(),
    errorTrials: z.number().int(),
    meanLatencyMs: z.number(),
  })
  .meta({ id: 'EvalMetric' });

const verdictSchema = z
  .object({
    expertId: z.string(),
    verdict: z.enum(['pass', 'regression', 'undecided']),
    baselineRate: z.number(),
    currentRate: z.number(),
    delta: z.number().meta({ description: 'current − baseline pass rate (0-1).' }),
    interval: z
      .array(z.number())
      .meta({ description: 'The interval on delta, at the gate’s confidence each side.' }),
    tasksCompared: z.number().int(),
    flips: z.array(z.object({ taskId: z.string(), baseline: z.number(), current: z.number() })).meta({
      description: 'Tasks whose outcome changed, the first 100 (the report has every one).',
    }),
    flipCount: z
      .number()
      .int()
      .optional()
      .meta({ description: 'How many tasks flipped, when more than 100.' }),
    reason: z.string(),
    severity: z.enum(['minor', 'major', 'critical']).optional(),
  })
  .meta({ id: 'EvalVerdict' });

export const runResultSchema = z
  .object({
    runId: z.string(),
    suiteId: z.string(),
    suiteVersion: z.string(),
    suiteDigest: z.string(),
    expertIds: z.array(z.string()),
    baselineId: z.string().optional(),
    status: z.enum(RUN_STATUSES),
    verdict: z
      .enum(VERDICTS)
      .optional()
      .meta({ description: 'The gate, once completed: the worst of the experts’.' }),
    metrics: z.array(metricSchema),
    regressions: z.array(verdictSchema).meta({ description: 'The experts whose verdict is regression.' }),
    verdicts: z.array(verdictSchema),
    quarantined: z.array(
      z.object({ taskId: z.string(), expertId: z.string(), reason: z.string(), since: z.string() }),
    ),
    error: z.string().optional().meta({ description: 'Why a failed run failed.' }),
    createdAt: z.string(),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    requestedBy: z.string(),
  })
  .meta({ id: 'EvalRunResult' });

const runParams = z.strictObject({ runId: runIdOf });

export const listEvalRuns = {
  operationId: 'listEvalRuns',
  rateFamily: 'eval.read',
  method: 'GET',
  path: '/eval/runs',
  summary:
    'The tenant’s runs (kept 30 days), optionally of one suite: the history `conductor-eval trends --remote` draws',
  tag: 'eval',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'eval:runs:list',
  query: pageQuerySchema.extend({ suiteId: suiteIdSchema.optional() }),
  success: {
    status: 200,
    description: 'A page of runs',
    schema: pageSchemaOf(runResultSchema, 'EvalRunPage'),
  },
  errors: [400],
} as const satisfies RouteSpec;

export const getEvalResults = {
  operationId: 'getEvalResults',
  rateFamily: 'eval.results',
  method: 'GET',
  path: '/eval/results/{runId}',
  summary: 'A run’s status, metrics per expert, the gate’s verdicts and regressions',
  tag: 'eval',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'eval:results:get',
  params: runParams,
  success: { status: 200, description: 'The run', schema: runResultSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const getEvalReport = {
  operationId: 'getEvalReport',
  rateFamily: 'eval.read',
  method: 'GET',
  path: '/eval/results/{runId}/report',
  summary:
    'A completed run’s full report (conductor.eval-report/v1: every task and trial), as stored in the artifacts bucket',
  tag: 'eval',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'eval:results:report',
  params: runParams,
  success: {
    status: 200,
    description: 'The report (what conductor-eval renders as Markdown, JUnit XML and JSON)',
    schema: z.record(z.string(), z.unknown()).meta({ id: 'EvalReport' }),
  },
  errors: [400, 404, 409],
} as const satisfies RouteSpec;

export const getEvalPriors = {
  operationId: 'getEvalPriors',
  rateFamily: 'eval.read',
  method: 'GET',
  path: '/eval/results/{runId}/priors',
  summary:
    'Router priors from a completed run whose gate passed (conductor.priors/v1, for PUT router/priors): per expert, its pass rate and the trials behind it',
  tag: 'eval',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'eval:results:priors',
  params: runParams,
  success: {
    status: 200,
    description: 'The priors document',
    schema: z
      .object({
        format: z.literal('conductor.priors/v1'),
        source: z.string(),
        experts: z.array(
          z.object({ expertId: z.string(), meanReward: z.number(), weight: z.number().int() }),
        ),
      })
      .meta({ id: 'EvalPriors' }),
  },
  errors: [400, 404, 409],
} as const satisfies RouteSpec;

export const baselineSchema = z
  .object({
    baselineId: z.string(),
    suiteId: z.string(),
    suiteDigest: z.string(),
    sourceRunId: z.string(),
    promoted: z.boolean(),
    promotedAt: z.string().optional(),
    promotedBy: z.string().optional(),
    experts: z.array(z.object({ expertId: z.string(), passRate: z.number(), tasks: z.number().int() })),
    createdAt: z.string(),
    createdBy: z.string(),
  })
  .meta({ id: 'EvalBaseline' });

export const snapshotBaseline = {
  operationId: 'snapshotEvalBaseline',
  rateFamily: 'eval.write',
  method: 'POST',
  path: '/eval/baselines',
  summary:
    'Snapshot a completed run as a baseline (its per-task pass rates); an unpromoted baseline of that id is replaced, a promoted one never',
  tag: 'eval',
  auth: 'jwt',
  minRole: 'operator',
  action: 'eval:baselines:snapshot',
  body: z.strictObject({ runId: runIdOf, baselineId: baselineIdSchema }).meta({ id: 'EvalBaselineSnapshot' }),
  exampleBody: { runId: 'run_0a1b2c', baselineId: 'arithmetic-main' },
  maxBodyBytes: 4 * 1024,
  success: { status: 201, description: 'The baseline', schema: baselineSchema },
  errors: [400, 404, 409, 413, 415],
} as const satisfies RouteSpec;

export const promoteBaseline = {
  operationId: 'promoteEvalBaseline',
  rateFamily: 'eval.write',
  method: 'POST',
  path: '/eval/baselines/{baselineId}/promote',
  summary: 'Promote a baseline: from then on it never changes (promoting it again changes nothing)',
  tag: 'eval',
  auth: 'jwt',
  minRole: 'admin',
  action: 'eval:baselines:promote',
  params: z.strictObject({ baselineId: baselineIdSchema }),
  success: { status: 200, description: 'The promoted baseline', schema: baselineSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const listBaselines = {
  operationId: 'listEvalBaselines',
  rateFamily: 'eval.read',
  method: 'GET',
  path: '/eval/baselines',
  summary: 'The tenant’s baselines, optionally of one suite',
  tag: 'eval',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'eval:baselines:list',
  query: pageQuerySchema.extend({ suiteId: suiteIdSchema.optional() }),
  success: {
    status: 200,
    description: 'A page of baselines',
    schema: pageSchemaOf(baselineSchema, 'EvalBaselinePage'),
  },
  errors: [400],
} as const satisfies RouteSpec;

export const evalRoutes = [
  registerSuite,
  listSuites,
  runEval,
  listEvalRuns,
  getEvalResults,
  getEvalReport,
  getEvalPriors,
  snapshotBaseline,
  promoteBaseline,
  listBaselines,
] as const;

/** The message the eval queue carries: a run to execute (everything it needs is on the run record). */
export interface EvalRunMessage {
  readonly tenantId: string;
  readonly runId: string;
  readonly traceId: string;
}

export { EVAL_EVENTS, evalRegression } from './events.js';
