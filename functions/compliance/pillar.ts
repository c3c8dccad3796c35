import type { PillarManifest } from '#shared/pillar.js';
import { COMPLIANCE_EVENTS, complianceRoutes } from './contract.js';

/**
 * M7, continuous compliance. One function serves the routes and the hourly sweep: the control
 * catalog as code, assessments whose every result is WORM evidence (the evidence bucket's
 * `compliance/`), findings with their lifecycle, freshness and the risk register. Platform-level:
 * for org-admins, its records under one partition (functions/compliance/README.md).
 */
export const compliancePillar = {
  name: 'compliance',
  description:
    'Controls as code, scheduled control tests, WORM evidence, findings, risk, the auditor packet’s input',
  functions: [
    {
      name: 'compliance',
      description:
        'Control catalog, assessments (on demand and hourly), WORM evidence, freshness, findings, risk register',
      entry: 'functions/compliance/src/handler.ts',
      routes: complianceRoutes,
      tables: ['compliance'],
      evidence: ['compliance/'],
      // The runbooks' trail mirror (platform.runbooks-signed-approved) and the decision archive
      // (platform.decision-archive, platform.decisions-logged), read and listed.
      evidenceReads: ['runbooks/', 'decisions/'],
      // The hot decision log, compared with the archive.
      recordReads: [
        { table: 'policy', entity: 'DECISION', purpose: 'compare the decision log with its WORM archive' },
        {
          table: 'scheduler',
          entity: 'BUDGET',
          purpose: 'whether each tenant that submits jobs has a budget',
        },
        {
          table: 'eval',
          entity: 'EVAL_RUN',
          purpose: 'whether each tenant that routes ran an evaluation gate in 30 days',
        },
      ],
      complianceCollector: true,
      // POST /compliance/dsr reads (and on erasure rewrites) the declared entities of every table.
      dataSubjectRequests: true,
      // The DSR log names the subject and the handler by their keyed hash.
      hashesSubjects: true,
      // A full assessment reads a dozen AWS APIs one after the other.
      timeoutSeconds: 60,
    },
  ],
  subscriptions: [
    {
      id: 'compliance-changes',
      description:
        'Re-run the controls whose onEvents name the change (runbooks executed or refused, gates regressed, budgets breached)',
      events: ['runbook_executed', 'unsigned_runbook', 'eval_regression', 'budget_breach'],
      function: 'compliance',
    },
  ],
  schedules: [
    {
      id: 'compliance-sweep',
      expression: 'rate(1 hour)',
      function: 'compliance',
      description:
        'Announce stale evidence (evidence_stale) and collect every control due (per-control frequency, before 24 h)',
    },
  ],
  tables: [
    {
      id: 'compliance',
      envVar: 'COMPLIANCE_TABLE_NAME',
      description: 'Control states (latest evidence), findings (never archived), assessments',
      personalData: [
        {
          entity: 'FINDING',
          subjectFields: ['history[].by'],
          purpose: 'who moved a finding (remediation, risk acceptance)',
          retention: 'kept (findings are never archived)',
          onErasure: 'redact',
        },
        {
          entity: 'ASSESSMENT',
          subjectFields: ['requestedBy'],
          purpose: 'who ran an assessment on demand',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
        {
          entity: 'DSR',
          subjectFields: ['requestedBy'],
          purpose: 'who handled a data subject request',
          retention: 'kept until deleted',
          onErasure: 'keep',
          keepReason:
            'accountability for data subject requests (Art. 5(2)); the WORM log holds the handler’s id hashed',
        },
      ],
    },
  ],
  events: COMPLIANCE_EVENTS,
  observability: {
    eventAlarms: [
      {
        name: 'compliance-control-failed',
        metric: 'ControlFailed',
        service: 'compliance',
        severity: 'ticket',
        description:
          'A control test failed and opened (or updated) a finding: GET /compliance/findings?status=open, remediate, then POST /compliance/findings/{id}/transition.',
      },
      {
        name: 'compliance-evidence-stale',
        metric: 'EvidenceStale',
        service: 'compliance',
        severity: 'ticket',
        description:
          'A control’s evidence is older than 24 h: the hourly sweep failed to collect it (see the compliance function’s logs), or a collector keeps failing.',
      },
    ],
  },
  // The PRD's (§6.2): assessments 60 a minute per tenant.
  rateFamilies: { compliance: 60 },
} as const satisfies PillarManifest;
