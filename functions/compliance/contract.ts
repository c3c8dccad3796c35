import * as z from 'zod';
import { pageSchemaOf, type RouteSpec } from '#shared/http/http.js';
import { TENANT_ID_PATTERN } from '#shared/ports/identity.js';
import { COMPLIANCE_EVENTS } from './events.js';

/**
 * The compliance pillar's contract (M7): the control catalog, assessments, evidence freshness,
 * findings, the risk register and the evidence an auditor packet is built from. Compliance is the
 * platform's, not a tenant's: every route is an org-admin's, whatever tenant the caller acts in
 * (see functions/compliance/README.md).
 */

export { COMPLIANCE_EVENTS };

const frameworkIdSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{1,31}$/, 'a framework id, e.g. SOC2')
  .meta({ description: 'A framework of the catalog, e.g. `SOC2`, `GDPR` (GET /compliance/frameworks).' });
const controlIdSchema = z.string().regex(/^[a-z][a-z0-9-]{1,63}$/, 'a control id, e.g. log-retention');
const idSchema = (what: string, prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}[A-Za-z0-9_-]{1,120}$`), `${what} id (${prefix}…)`);

export const frameworkQuerySchema = z.strictObject({ framework: frameworkIdSchema });

const resultSchema = z.enum(['pass', 'fail', 'error', 'not_applicable']).meta({
  description:
    '`not_applicable`: the test cannot run in this deployment (an AWS check on the embedded runtime); its evidence says why.',
});
const severitySchema = z.enum(['low', 'medium', 'high', 'critical']);
const findingStatusSchema = z.enum(['open', 'in_remediation', 'resolved', 'risk_accepted']);

export const controlSchema = z
  .object({
    id: z.string(),
    title: z.string(),
    description: z.string(),
    owner: z.string(),
    tests: z.array(z.string()),
    frequency: z.enum(['hourly', 'daily', 'weekly']),
    severity: severitySchema,
    likelihood: z.number(),
    impact: z.number(),
  })
  .meta({ id: 'ComplianceControl' });

export const frameworkSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    criteria: z.array(z.object({ id: z.string(), title: z.string(), controls: z.array(z.string()) })),
  })
  .meta({ id: 'ComplianceFramework' });

export const listFrameworks = {
  operationId: 'listComplianceFrameworks',
  method: 'GET',
  path: '/compliance/frameworks',
  summary: 'The control catalog: every framework with its criteria mapped to controls, and the controls',
  tag: 'compliance',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'compliance:read',
  success: {
    status: 200,
    description: 'The frameworks and controls this deployment tests.',
    schema: z.object({ items: z.array(frameworkSchema), controls: z.array(controlSchema) }),
  },
  errors: [],
} as const satisfies RouteSpec;

export const assessmentBodySchema = z.strictObject({
  framework: frameworkIdSchema,
  scope: z
    .union([z.literal('all'), z.array(controlIdSchema).min(1).max(50)])
    .default('all')
    .meta({ description: '`all` (default) or the framework’s controls to test, by id.' }),
});

const assessmentResultSchema = z.object({
  controlId: z.string(),
  testId: z.string(),
  result: resultSchema,
  summary: z.string(),
  evidenceKey: z.string().meta({ description: 'The evidence record’s key in the WORM store.' }),
  findingId: z.string().optional(),
});

export const assessmentSchema = z
  .object({
    assessmentId: z.string(),
    framework: z.string(),
    scope: z.array(z.string()),
    status: z.literal('completed'),
    startedAt: z.string(),
    finishedAt: z.string(),
    requestedBy: z.string().meta({ description: 'The subject who asked, or `conductor:schedule`.' }),
    results: z.array(assessmentResultSchema),
  })
  .meta({ id: 'ComplianceAssessment' });

export const runAssessment = {
  operationId: 'runComplianceAssessment',
  method: 'POST',
  path: '/compliance/assessments',
  summary:
    'Run a framework’s control tests now (all, or the named controls): each result written as WORM evidence, failures as findings',
  tag: 'compliance',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'compliance:assessments:run',
  rateFamily: 'compliance',
  body: assessmentBodySchema,
  exampleBody: { framework: 'SOC2', scope: ['log-retention'] },
  success: {
    status: 201,
    description: 'The assessment, run to its end: every test’s result and evidence key.',
    schema: assessmentSchema,
  },
  errors: [400],
} as const satisfies RouteSpec;

export const assessmentParamsSchema = z.strictObject({ assessmentId: idSchema('an assessment', 'asm_') });

export const getAssessment = {
  operationId: 'getComplianceAssessment',
  method: 'GET',
  path: '/compliance/assessments/{assessmentId}',
  summary: 'One assessment with every test’s result',
  tag: 'compliance',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'compliance:read',
  params: assessmentParamsSchema,
  success: { status: 200, description: 'The assessment.', schema: assessmentSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const MAX_PAGE = 100;
const pageQuery = {
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(25),
  cursor: z.string().max(2048).optional().meta({ description: 'The `nextCursor` of the previous page.' }),
};

export const listAssessmentsQuerySchema = z.strictObject({ ...pageQuery });

export const listAssessments = {
  operationId: 'listComplianceAssessments',
  method: 'GET',
  path: '/compliance/assessments',
  summary: 'The assessments run (on demand and by the schedule), oldest first',
  tag: 'compliance',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'compliance:read',
  query: listAssessmentsQuerySchema,
  success: {
    status: 200,
    description: 'A page of assessments.',
    schema: pageSchemaOf(assessmentSchema, 'ComplianceAssessmentPage'),
  },
  errors: [400],
} as const satisfies RouteSpec;

export const freshnessRowSchema = z
  .object({
    controlId: z.string(),
    severity: severitySchema,
    status: z.enum(['fresh', 'stale', 'missing']).meta({
      description: '`fresh`: evidence collected in the last 24 h; `stale`: older; `missing`: none yet.',
    }),
    ageHours: z.number().optional(),
    lastResult: resultSchema.optional(),
    lastEvidenceKey: z.string().optional(),
  })
  .meta({ id: 'ComplianceFreshness' });

export const getFreshness = {
  operationId: 'getComplianceFreshness',
  method: 'GET',
  path: '/compliance/freshness',
  summary: 'Evidence freshness of each of a framework’s controls (stale after 24 h)',
  tag: 'compliance',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'compliance:read',
  query: frameworkQuerySchema,
  success: {
    status: 200,
    description: 'Each control’s evidence age and latest result.',
    schema: z.object({
      framework: z.string(),
      fresh: z.number(),
      total: z.number(),
      items: z.array(freshnessRowSchema),
    }),
  },
  errors: [400],
} as const satisfies RouteSpec;

export const findingSchema = z
  .object({
    findingId: z.string(),
    controlId: z.string(),
    severity: severitySchema,
    owner: z.string(),
    status: findingStatusSchema,
    reason: z.string(),
    failures: z.number(),
    openedAt: z.string(),
    lastFailedAt: z.string(),
    lastPassedAt: z.string().optional(),
    slaDueAt: z
      .string()
      .meta({ description: 'Opened + the severity’s SLA (critical 3 d, high 14, medium 30, low 90).' }),
    overdue: z.boolean(),
    runbookId: z.string().optional(),
    acceptedUntil: z.string().optional(),
    history: z.array(
      z.object({ at: z.string(), by: z.string(), to: findingStatusSchema, note: z.string().optional() }),
    ),
  })
  .meta({ id: 'ComplianceFinding' });

export const listFindingsQuerySchema = z.strictObject({
  ...pageQuery,
  status: findingStatusSchema.optional(),
  controlId: controlIdSchema.optional(),
});

export const listFindings = {
  operationId: 'listComplianceFindings',
  method: 'GET',
  path: '/compliance/findings',
  summary: 'Findings (never archived), filtered by status or control',
  tag: 'compliance',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'compliance:read',
  query: listFindingsQuerySchema,
  success: {
    status: 200,
    description: 'A page of findings.',
    schema: pageSchemaOf(findingSchema, 'ComplianceFindingPage'),
  },
  errors: [400],
} as const satisfies RouteSpec;

export const findingParamsSchema = z.strictObject({ findingId: idSchema('a finding', 'fnd_') });

export const getFinding = {
  operationId: 'getComplianceFinding',
  method: 'GET',
  path: '/compliance/findings/{findingId}',
  summary: 'One finding with its history',
  tag: 'compliance',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'compliance:read',
  params: findingParamsSchema,
  success: { status: 200, description: 'The finding.', schema: findingSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const transitionBodySchema = z.strictObject({
  to: z.enum(['in_remediation', 'resolved', 'risk_accepted']),
  note: z.string().min(1).max(1000).optional(),
  acceptedUntil: z.iso
    .datetime()
    .optional()
    .meta({ description: 'Required with `risk_accepted`: when the acceptance expires (in the future).' }),
  runbookId: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'a runbook id')
    .optional()
    .meta({ description: 'The runbook that remediates it.' }),
});

export const transitionFinding = {
  operationId: 'transitionComplianceFinding',
  method: 'POST',
  path: '/compliance/findings/{findingId}/transition',
  summary:
    'Move a finding along its lifecycle: in_remediation, resolved (after a passing test), risk_accepted (with an expiry)',
  tag: 'compliance',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'compliance:findings:update',
  params: findingParamsSchema,
  body: transitionBodySchema,
  exampleBody: { to: 'in_remediation', note: 'ticket SEC-142', runbookId: 'rotate-keys' },
  success: { status: 200, description: 'The finding as it is now.', schema: findingSchema },
  errors: [400, 404, 409],
} as const satisfies RouteSpec;

export const riskSchema = z
  .object({
    framework: z.string(),
    register: z.array(
      z.object({
        controlId: z.string(),
        owner: z.string(),
        likelihood: z.number(),
        impact: z.number(),
        score: z.number(),
        level: z.enum(['low', 'medium', 'high', 'critical']),
        failing: z.boolean(),
        openFindingId: z.string().optional(),
      }),
    ),
    heatmap: z
      .array(z.array(z.object({ controls: z.number(), failing: z.number() })))
      .meta({ description: '5×5: heatmap[likelihood-1][impact-1].' }),
  })
  .meta({ id: 'ComplianceRisk' });

export const getRisk = {
  operationId: 'getComplianceRisk',
  method: 'GET',
  path: '/compliance/risk',
  summary: 'The risk register of a framework’s controls (likelihood × impact) and its heatmap',
  tag: 'compliance',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'compliance:read',
  query: frameworkQuerySchema,
  success: { status: 200, description: 'The register, highest score first.', schema: riskSchema },
  errors: [400],
} as const satisfies RouteSpec;

export const storedEvidenceSchema = z
  .object({
    key: z.string(),
    record: z.record(z.string(), z.unknown()).meta({ description: 'The evidence record (EvidenceRecord).' }),
    recordText: z.string().meta({ description: 'The record exactly as the WORM store holds it.' }),
    artifactText: z.string().meta({ description: 'The artifact exactly as the WORM store holds it.' }),
  })
  .meta({ id: 'ComplianceStoredEvidence' });

export const getEvidence = {
  operationId: 'getComplianceEvidence',
  method: 'GET',
  path: '/compliance/evidence',
  summary:
    'Everything an auditor packet of a framework is built from: its criteria and controls, each control’s latest evidence as stored, freshness, findings, the heatmap',
  tag: 'compliance',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'compliance:evidence:read',
  query: frameworkQuerySchema,
  success: {
    status: 200,
    description: 'The packet’s input (`conductor compliance packet` builds, signs and verifies it offline).',
    schema: z.object({
      framework: frameworkSchema,
      controls: z.array(controlSchema),
      generatedAt: z.string(),
      evidence: z.array(z.object({ controlId: z.string(), items: z.array(storedEvidenceSchema) })),
      freshness: z.array(freshnessRowSchema),
      findings: z.array(findingSchema),
      heatmap: riskSchema.shape.heatmap,
    }),
  },
  errors: [400],
} as const satisfies RouteSpec;

const tenantIdSchema = z.string().regex(TENANT_ID_PATTERN, 'a tenant id');

export const dsrBodySchema = z.strictObject({
  type: z.enum(['access', 'export', 'delete']).meta({
    description:
      '`access` (Art. 15): the person’s records with their purpose and retention; `export` (Art. 20): the same records as one downloadable JSON archive; `delete` (Art. 17): erase them as each record type declares (delete, redact, or keep with its legal reason).',
  }),
  subject: z
    .string()
    .min(1)
    .max(256)
    .refine((value) => value.trim() !== '', 'must not be blank')
    .meta({ description: 'The person’s id as Conductor knows it: the `sub` of their tokens.' }),
  tenantIds: z.array(tenantIdSchema).min(1).max(100).meta({
    description:
      'The tenants the person worked in (Conductor keeps no directory of people). The platform’s own records are searched too.',
  }),
});

const dsrOutcomeSchema = z.object({
  pillar: z.string(),
  table: z.string(),
  entity: z.string(),
  purpose: z.string(),
  retention: z.string(),
  onErasure: z.enum(['delete', 'redact', 'keep']),
  keepReason: z.string().optional(),
  records: z.number().meta({ description: 'Records that name the person.' }),
  deleted: z.number(),
  redacted: z.number(),
  kept: z.number(),
});

export const dsrSchema = z
  .object({
    dsrId: z.string(),
    type: z.enum(['access', 'export', 'delete']),
    subjectHash: z.string().meta({
      description: 'A keyed hash of the subject (HMAC-SHA-256, KMS on AWS): the id itself is kept nowhere.',
    }),
    tenantIds: z.array(z.string()),
    status: z.enum(['running', 'completed', 'failed']),
    requestedBy: z.string(),
    requestedAt: z.string(),
    completedAt: z.string().optional(),
    error: z.string().optional(),
    outcome: z.array(dsrOutcomeSchema),
    retained: z
      .array(
        z.object({
          pillar: z.string(),
          where: z.string(),
          purpose: z.string(),
          retention: z.string(),
          reason: z.string(),
        }),
      )
      .meta({
        description:
          'Where the person’s id may remain unsearched: WORM evidence (unchangeable until its retention ends) and records searched by no request, with why.',
      }),
    evidenceKey: z.string().optional().meta({ description: 'The request’s log entry in the WORM store.' }),
  })
  .meta({ id: 'ComplianceDsr' });

const foundRecordSchema = z.object({
  pillar: z.string(),
  table: z.string(),
  entity: z.string(),
  tenant: z
    .string()
    .meta({ description: 'The tenant whose records it is (`platform`: the platform’s own).' }),
  key: z.string(),
  record: z.record(z.string(), z.unknown()).meta({
    description:
      'The record as stored, except that other people’s ids in it read `[another person]` and every `tenantId` attribute reads `tenant`.',
  }),
});

export const runDsr = {
  operationId: 'runComplianceDsr',
  method: 'POST',
  path: '/compliance/dsr',
  summary:
    'A data subject request (GDPR Art. 15-20): find every record naming a person across the pillars’ tables, and return, export or erase them; logged as WORM evidence',
  tag: 'compliance',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'compliance:dsr:run',
  rateFamily: 'compliance',
  body: dsrBodySchema,
  exampleBody: { type: 'access', subject: 'u-jane', tenantIds: ['acme'] },
  success: {
    status: 201,
    description:
      'The request, run to its end. `access` and `export` add the records found (`export` as an attachment).',
    schema: dsrSchema.extend({ records: z.array(foundRecordSchema).optional() }),
  },
  errors: [400, 409],
} as const satisfies RouteSpec;

export const dsrParamsSchema = z.strictObject({ dsrId: idSchema('a data subject request', 'dsr_') });

export const getDsr = {
  operationId: 'getComplianceDsr',
  method: 'GET',
  path: '/compliance/dsr/{dsrId}',
  summary: 'One data subject request as logged (its outcome; never the person’s id or records)',
  tag: 'compliance',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'compliance:read',
  params: dsrParamsSchema,
  success: { status: 200, description: 'The request.', schema: dsrSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const listDsrQuerySchema = z.strictObject({ ...pageQuery });

export const listDsr = {
  operationId: 'listComplianceDsr',
  method: 'GET',
  path: '/compliance/dsr',
  summary: 'The data subject request log, oldest first',
  tag: 'compliance',
  auth: 'jwt',
  minRole: 'org-admin',
  action: 'compliance:read',
  query: listDsrQuerySchema,
  success: {
    status: 200,
    description: 'A page of requests.',
    schema: pageSchemaOf(dsrSchema, 'ComplianceDsrPage'),
  },
  errors: [400],
} as const satisfies RouteSpec;

export const complianceRoutes = [
  listFrameworks,
  runAssessment,
  listAssessments,
  getAssessment,
  getFreshness,
  listFindings,
  getFinding,
  transitionFinding,
  getRisk,
  getEvidence,
  runDsr,
  listDsr,
  getDsr,
] as const;
