import { bind, HttpReply, httpApp, type KernelDeps, kernelOptionsOf } from '#shared/http/http.js';
import type { Clock } from '#shared/ports/system.js';
import {
  getAssessment,
  getDsr,
  getEvidence,
  getFinding,
  getFreshness,
  getRisk,
  listAssessments,
  listDsr,
  listFindings,
  listFrameworks,
  runAssessment,
  runDsr,
  transitionFinding,
} from '../contract.js';
import type { AssessmentRecord, Compliance, FindingRecord } from './domain/assess.js';
import { controlsOf } from './domain/catalog.js';
import type { DataSubjectRequests, DsrRecord } from './domain/dsr.js';

export interface ComplianceAppDeps extends KernelDeps {
  readonly compliance: Compliance;
  readonly dsr: DataSubjectRequests;
  readonly clock: Clock;
}

const dsrView = (record: DsrRecord) => ({
  dsrId: record.id,
  type: record.type,
  subjectHash: record.subjectHash,
  tenantIds: [...record.tenantIds],
  status: record.status,
  requestedBy: record.requestedBy,
  requestedAt: record.requestedAt,
  ...(record.completedAt === undefined ? {} : { completedAt: record.completedAt }),
  ...(record.error === undefined ? {} : { error: record.error }),
  outcome: record.outcome.map((entry) => ({ ...entry })),
  retained: record.retained.map((entry) => ({ ...entry })),
  ...(record.evidenceKey === undefined ? {} : { evidenceKey: record.evidenceKey }),
});

const assessmentView = (record: AssessmentRecord) => ({
  assessmentId: record.id,
  framework: record.framework,
  scope: [...record.scope],
  status: record.status,
  startedAt: record.startedAt,
  finishedAt: record.finishedAt,
  requestedBy: record.requestedBy,
  results: record.results.map((result) => ({ ...result })),
});

const findingView = (finding: FindingRecord, now: Date) => ({
  findingId: finding.id,
  controlId: finding.controlId,
  severity: finding.severity,
  owner: finding.owner,
  status: finding.status,
  reason: finding.reason,
  failures: finding.failures,
  openedAt: finding.openedAt,
  lastFailedAt: finding.lastFailedAt,
  ...(finding.lastPassedAt === undefined ? {} : { lastPassedAt: finding.lastPassedAt }),
  slaDueAt: finding.slaDueAt,
  // Past its SLA and still neither resolved nor accepted.
  overdue:
    (finding.status === 'open' || finding.status === 'in_remediation') &&
    Date.parse(finding.slaDueAt) < now.getTime(),
  ...(finding.runbookId === undefined ? {} : { runbookId: finding.runbookId }),
  ...(finding.acceptedUntil === undefined ? {} : { acceptedUntil: finding.acceptedUntil }),
  history: finding.history.map((entry) => ({ ...entry })),
});

/**
 * A found record as a data subject request returns it: every `tenantId` attribute reads `tenant`.
 * The records come from several tenants (and the platform), an org-admin's deliberate cross-tenant
 * read; the kernel's egress guard, which refuses any other tenant's `tenantId` in a response, stays
 * as strict as for every other route.
 */
const retagged = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(retagged);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [key === 'tenantId' ? 'tenant' : key, retagged(inner)]),
  );
};

/** The compliance pillar's HTTP app: the catalog, assessments, freshness, findings, risk, evidence. */
export const makeComplianceApp = (deps: ComplianceAppDeps) => {
  const { compliance } = deps;
  return httpApp({
    ...kernelOptionsOf(deps),
    routes: [
      bind(listFrameworks, async () => ({
        items: [...compliance.catalog.frameworks.values()].map((framework) => ({
          id: framework.id,
          name: framework.name,
          criteria: framework.criteria.map((criterion) => ({
            ...criterion,
            controls: [...criterion.controls],
          })),
        })),
        controls: [...compliance.catalog.controls.values()].map((control) => ({
          ...control,
          tests: [...control.tests],
        })),
      })),
      bind(runAssessment, async ({ body, principal, traceId }) => {
        const record = await compliance.assess(body.framework, body.scope, principal.subject, traceId);
        return new HttpReply(201, assessmentView(record));
      }),
      bind(listAssessments, async ({ query }) => {
        const page = await compliance.assessments(query);
        return {
          items: page.items.map(assessmentView),
          ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
        };
      }),
      bind(getAssessment, async ({ params }) =>
        assessmentView(await compliance.assessment(params.assessmentId)),
      ),
      bind(getFreshness, async ({ query }) => {
        const items = await compliance.freshness(query.framework);
        return {
          framework: query.framework,
          fresh: items.filter((row) => row.status === 'fresh').length,
          total: items.length,
          items,
        };
      }),
      bind(listFindings, async ({ query }) => {
        const page = await compliance.findingsPage(query);
        const now = deps.clock.now();
        return {
          items: page.items.map((finding) => findingView(finding, now)),
          ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
        };
      }),
      bind(getFinding, async ({ params }) =>
        findingView(await compliance.finding(params.findingId), deps.clock.now()),
      ),
      bind(transitionFinding, async ({ params, body, principal }) => {
        const finding = await compliance.transition(params.findingId, body.to, principal.subject, {
          ...(body.note === undefined ? {} : { note: body.note }),
          ...(body.acceptedUntil === undefined ? {} : { acceptedUntil: body.acceptedUntil }),
          ...(body.runbookId === undefined ? {} : { runbookId: body.runbookId }),
        });
        return findingView(finding, deps.clock.now());
      }),
      bind(getRisk, async ({ query }) => compliance.risk(query.framework)),
      bind(runDsr, async ({ body, principal }) => {
        const { dsr, records } = await deps.dsr.run({
          type: body.type,
          subject: body.subject,
          tenantIds: body.tenantIds,
          requestedBy: principal.subject,
        });
        const view = {
          ...dsrView(dsr),
          ...(records === undefined
            ? {}
            : {
                records: records.map(({ tenantId, record, ...where }) => ({
                  ...where,
                  tenant: tenantId,
                  record: retagged(record) as Record<string, unknown>,
                })),
              }),
        };
        // Art. 20: the export is one machine-readable archive, offered as a file.
        return new HttpReply(
          201,
          view,
          body.type === 'export' ? { 'Content-Disposition': `attachment; filename="${dsr.id}.json"` } : {},
        );
      }),
      bind(listDsr, async ({ query }) => {
        const page = await deps.dsr.list(query);
        return {
          items: page.items.map(dsrView),
          ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
        };
      }),
      bind(getDsr, async ({ params }) => dsrView(await deps.dsr.get(params.dsrId))),
      bind(getEvidence, async ({ query }) => {
        // scopeOf refuses an unknown framework (400) before anything is read.
        const controls = compliance.scopeOf(query.framework, 'all');
        const framework = compliance.catalog.frameworks.get(query.framework);
        if (!framework) throw new Error(`framework ${query.framework} vanished from the catalog`);
        const generatedAt = deps.clock.now().toISOString();
        const { evidence, findings } = await compliance.evidenceOf(query.framework);
        const freshness = await compliance.freshness(query.framework);
        const { heatmap } = await compliance.risk(query.framework);
        const now = deps.clock.now();
        return {
          framework: {
            id: framework.id,
            name: framework.name,
            criteria: framework.criteria.map((criterion) => ({
              ...criterion,
              controls: [...criterion.controls],
            })),
          },
          controls: controlsOf(compliance.catalog, query.framework).map((control) => ({
            ...control,
            tests: [...control.tests],
          })),
          generatedAt,
          evidence: controls
            .filter((control) => evidence.has(control.id))
            .map((control) => ({
              controlId: control.id,
              items: (evidence.get(control.id) ?? []).map((stored) => ({
                key: stored.key,
                record: { ...stored.record },
                recordText: stored.recordText,
                artifactText: stored.artifactText,
              })),
            })),
          freshness,
          findings: findings.map((finding) => findingView(finding, now)),
          heatmap,
        };
      }),
    ],
  });
};
