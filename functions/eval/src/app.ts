import {
  bind,
  type HttpEvent,
  HttpReply,
  httpApp,
  type KernelDeps,
  kernelOptionsOf,
} from '#shared/http/http.js';
import type { TenantRecords } from '#shared/ports/records.js';
import {
  getEvalPriors,
  getEvalReport,
  getEvalResults,
  listBaselines,
  listEvalRuns,
  listSuites,
  promoteBaseline,
  registerSuite,
  runEval,
  snapshotBaseline,
} from '../contract.js';
import type { BaselineRecord, EvalService, RunRecord, SubmitDeps, SuiteRecord } from './domain/runs.js';

export interface EvalAppDeps extends KernelDeps {
  readonly service: EvalService;
  readonly records: {
    readonly suites: Pick<TenantRecords<SuiteRecord>, 'list'>;
    readonly baselines: Pick<TenantRecords<BaselineRecord>, 'list'>;
    readonly runs: Pick<TenantRecords<RunRecord>, 'list'>;
  };
  /** What a run's submission needs, for one request (the caller's rights to resolve experts). */
  readonly submit: (request: { readonly event: HttpEvent; readonly traceId: string }) => SubmitDeps;
}

const suiteView = (suite: SuiteRecord) => ({
  suiteId: suite.id,
  version: suite.suiteVersion,
  digest: suite.digest,
  ...(suite.description === undefined ? {} : { description: suite.description }),
  ...(suite.expertType === undefined ? {} : { expertType: suite.expertType }),
  tasks: suite.tasks,
  tolerance: suite.tolerance,
  confidence: suite.confidence,
  judges: [...suite.judges],
  registeredAt: suite.updatedAt,
  registeredBy: suite.registeredBy,
});

const baselineView = (baseline: BaselineRecord) => ({
  baselineId: baseline.id,
  suiteId: baseline.suiteId,
  suiteDigest: baseline.suiteDigest,
  sourceRunId: baseline.sourceRunId,
  promoted: baseline.promoted,
  ...(baseline.promotedAt === undefined ? {} : { promotedAt: baseline.promotedAt }),
  ...(baseline.promotedBy === undefined ? {} : { promotedBy: baseline.promotedBy }),
  experts: baseline.experts.map((e) => ({ ...e })),
  createdAt: baseline.updatedAt,
  createdBy: baseline.createdBy,
});

/** A run as GET eval/results shows it: the gate's regressions apart, as the requirements name them. */
export const runView = (run: RunRecord) => {
  const verdicts = (run.verdicts ?? []).map((verdict) => ({ ...verdict, interval: [...verdict.interval] }));
  return {
    runId: run.id,
    suiteId: run.suiteId,
    suiteVersion: run.suiteVersion,
    suiteDigest: run.suiteDigest,
    expertIds: [...run.expertIds],
    ...(run.baselineId === undefined ? {} : { baselineId: run.baselineId }),
    status: run.phase,
    ...(run.verdict === undefined ? {} : { verdict: run.verdict }),
    metrics: [...(run.metrics ?? [])],
    regressions: verdicts.filter((verdict) => verdict.verdict === 'regression'),
    verdicts,
    quarantined: (run.quarantined ?? []).map(({ taskId, expertId, reason, since }) => ({
      taskId,
      expertId,
      reason,
      since,
    })),
    ...(run.error === undefined ? {} : { error: run.error }),
    createdAt: run.createdAt,
    ...(run.startedAt === undefined ? {} : { startedAt: run.startedAt }),
    ...(run.finishedAt === undefined ? {} : { finishedAt: run.finishedAt }),
    requestedBy: run.requestedBy,
  };
};

/** The eval pillar's HTTP app: its routes bound to the domain on the kernel's middy stack. */
export const makeEvalApp = (deps: EvalAppDeps) =>
  httpApp({
    ...kernelOptionsOf(deps),
    routes: [
      bind(registerSuite, async ({ tenantId, params, body, principal }) =>
        suiteView(await deps.service.registerSuite(tenantId, params.suiteId, body, principal.subject)),
      ),
      bind(listSuites, async ({ tenantId, query }) => {
        const page = await deps.records.suites.list(tenantId, query);
        return {
          items: page.items.map(suiteView),
          ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
        };
      }),
      bind(runEval, async ({ tenantId, body, principal, traceId, event }) => {
        const { run, replayed } = await deps.service.submitRun(
          tenantId,
          body,
          principal.subject,
          traceId,
          deps.submit({ event, traceId }),
        );
        return new HttpReply(
          202,
          { runId: run.id, status: run.phase },
          replayed ? { 'Idempotent-Replayed': 'true' } : {},
        );
      }),
      bind(listEvalRuns, async ({ tenantId, query }) => {
        // Filtered per page: a page may hold fewer than `limit` runs of the suite.
        const page = await deps.records.runs.list(tenantId, { limit: query.limit, cursor: query.cursor });
        return {
          items: page.items
            .filter((run) => query.suiteId === undefined || run.suiteId === query.suiteId)
            .map(runView),
          ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
        };
      }),
      bind(getEvalResults, async ({ tenantId, params }) =>
        runView(await deps.service.getRun(tenantId, params.runId)),
      ),
      bind(getEvalReport, async ({ tenantId, params }) => ({
        apiVersion: 'conductor.eval-report/v1',
        ...(await deps.service.report(tenantId, params.runId)),
      })),
      bind(getEvalPriors, async ({ tenantId, params }) => deps.service.priors(tenantId, params.runId)),
      bind(
        snapshotBaseline,
        async ({ tenantId, body, principal }) =>
          new HttpReply(
            201,
            baselineView(
              await deps.service.snapshotBaseline(tenantId, body.runId, body.baselineId, principal.subject),
            ),
          ),
      ),
      bind(promoteBaseline, async ({ tenantId, params, principal }) =>
        baselineView(await deps.service.promoteBaseline(tenantId, params.baselineId, principal.subject)),
      ),
      bind(listBaselines, async ({ tenantId, query }) => {
        // Filtered per page: a page may hold fewer than `limit` baselines of the suite.
        const page = await deps.records.baselines.list(tenantId, {
          limit: query.limit,
          cursor: query.cursor,
        });
        return {
          items: page.items
            .filter((b) => query.suiteId === undefined || b.suiteId === query.suiteId)
            .map(baselineView),
          ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
        };
      }),
    ],
  });
