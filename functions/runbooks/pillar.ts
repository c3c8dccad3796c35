import type { PillarManifest } from '#shared/pillar.js';
import { RUNBOOK_EVENTS, runbooksRoutes } from './contract.js';

/**
 * M5, signed runbooks. The API function (`runbooks`) publishes (after verifying the signature with
 * the deployment's runbook signing key and checking the steps against its allow-lists), lists and
 * reads runbooks, starts executions of the approval flow and settles its task tokens on decisions.
 * The approval flow (one Step Functions state machine for every runbook, `approval-flow`) invokes
 * `runbooks-approval-request` once per stage (it records the stage's task token and publishes
 * `approval_requested`) and `runbooks-run-steps` once every stage approved (it verifies the runbook
 * again and runs its steps: outbound HTTPS through the guarded client, Lambda and AWS API calls with
 * the step role, narrowed per step). `runbooks-flow-events` receives the machine's status changes and
 * ends the execution's record and trail. Every function writes the trail's WORM mirror under
 * `runbooks/` of the evidence bucket.
 */
export const runbooksPillar = {
  name: 'runbooks',
  description:
    'Signed runbooks: registry (publish verified, list, read), executions through the approval flow (Step Functions), the execution trail',
  functions: [
    {
      name: 'runbooks',
      description:
        'The runbook API: publish (signature and allow-lists checked), registry reads, executions (start, read, confirm) and approval decisions (task tokens)',
      entry: 'functions/runbooks/src/handler.ts',
      routes: runbooksRoutes,
      tables: ['runbooks'],
      evidence: ['runbooks/'],
      hashesSubjects: true,
      runbookSigningKey: 'verify',
    },
    {
      name: 'runbooks-approval-request',
      description:
        'Approval flow task (state machine only): records a stage’s task token and publishes approval_requested',
      entry: 'functions/runbooks/src/approval-request-handler.ts',
      tables: ['runbooks'],
      evidence: ['runbooks/'],
      hashesSubjects: true,
      publishesEvents: true,
    },
    {
      name: 'runbooks-run-steps',
      description:
        'Approval flow task (state machine only): verifies the runbook again and runs its steps (guarded HTTPS, the step role per step)',
      entry: 'functions/runbooks/src/run-steps-handler.ts',
      tables: ['runbooks'],
      evidence: ['runbooks/'],
      hashesSubjects: true,
      runbookSigningKey: 'verify',
      runbookStepRole: true,
      publishesEvents: true,
      // A run may take as long as the flow's "Run the steps" task allows: Lambda's 15 minutes.
      timeoutSeconds: 900,
    },
    {
      name: 'runbooks-key-age',
      description:
        'Daily (schedule): the age of the runbook signing key; from 90 days, RunbookKeyRotationDue (run the key rotation)',
      entry: 'functions/runbooks/src/key-age-handler.ts',
      runbookSigningKey: 'verify',
    },
    {
      name: 'runbooks-flow-events',
      description:
        'The approval flow’s status changes (EventBridge): ends the execution record and trail, publishes runbook_executed',
      entry: 'functions/runbooks/src/flow-events-handler.ts',
      tables: ['runbooks'],
      evidence: ['runbooks/'],
      hashesSubjects: true,
      publishesEvents: true,
    },
  ],
  schedules: [
    {
      id: 'runbook-key-age',
      expression: 'rate(1 day)',
      function: 'runbooks-key-age',
      description: 'How old the runbook signing key is: from 90 days on, the key rotation is due',
    },
  ],
  personalEvidence: [
    {
      prefix: 'runbooks/',
      subjectFields: ['actor', 'detail.confirmedBy'],
      purpose: 'the executions’ trail mirror (change-management audit)',
      retention: 'the evidence bucket’s retention (13 months by default), then expiry',
      // The entries name people by their keyed hash (TrailLog): the execution record keeps the names.
      storedAs: 'keyed-hash',
    },
  ],
  tables: [
    {
      id: 'runbooks',
      envVar: 'RUNBOOKS_TABLE_NAME',
      description: 'Runbooks and their signed versions (kept), executions, approval requests, trails',
      personalData: [
        {
          entity: 'RUNBOOK',
          subjectFields: ['publishedBy'],
          purpose: 'who published a runbook',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
        {
          entity: 'RUNBOOK_VERSION',
          subjectFields: ['publishedBy', 'revokedBy'],
          purpose: 'who published or revoked a signed version (outside the signature)',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
        {
          entity: 'RUNBOOK_KEY',
          subjectFields: ['addedBy', 'retiredBy'],
          purpose: 'who added or retired a tenant signing key',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
        {
          entity: 'RUNBOOK_EXECUTION',
          subjectFields: ['requestedBy', 'stages[].decisions[].actor', 'steps[].confirmedBy'],
          purpose: 'change management: who asked, approved and confirmed each execution',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
        {
          entity: 'TRAIL',
          subjectFields: ['actor', 'detail.confirmedBy'],
          purpose:
            'the execution’s hash-chained audit trail (people by their keyed hash since it is WORM evidence)',
          retention: 'kept until deleted',
          onErasure: 'keep',
          keepReason:
            'a hash-chained change-management audit trail mirrored to WORM evidence (Art. 17(3)(b)): an edit would read as tampering; it names people only by their keyed hash',
        },
      ],
    },
  ],
  workflows: [
    {
      id: 'approval-flow',
      description:
        'The runbook approval flow: each approval stage waits on a task token until decided or timed out, then the steps run',
      envVar: 'APPROVAL_FLOW_ARN',
      tasks: { approvalRequest: 'runbooks-approval-request', runSteps: 'runbooks-run-steps' },
      startedBy: ['runbooks'],
      statusChangesTo: 'runbooks-flow-events',
    },
  ],
  events: RUNBOOK_EVENTS,
  // Asked per decision on an approval request, besides the respond route's own action.
  policyActions: ['runbooks:approvals:decide'],
  observability: {
    eventAlarms: [
      {
        name: 'unsigned-runbook',
        metric: 'UnsignedRunbook',
        service: 'runbooks',
        severity: 'page',
        description:
          'A runbook did not match its signature: a publish was refused, or a stored version was found changed and quarantined. Someone may be tampering with procedures: read the unsigned_runbook event (tenant, runbook, version, reason) and the decision log of the request.',
      },
      {
        name: 'runbook-key-rotation-due',
        metric: 'RunbookKeyRotationDue',
        service: 'runbooks-key-age',
        severity: 'ticket',
        description:
          'The runbook signing key is 90 days old or more. Rotate it with runbooks/key-rotation.json (two distinct approvers): a new KMS key, the alias moved, the new ARN trusted and deployed; keep the old key enabled without kms:Sign.',
      },
      {
        name: 'runbook-execution-failed',
        metric: 'RunbookExecutionFailed',
        service: 'runbooks-flow-events',
        severity: 'ticket',
        description:
          'A runbook execution ended in failure (its steps failed, or the approval flow failed, timed out or was aborted; rejections and approval timeouts are outcomes and do not count). Read the execution (GET /runbooks/executions/{id}), its trail and the state machine execution in the Step Functions console.',
      },
    ],
  },
  rateFamilies: {
    'runbooks.registry': 300,
    'runbooks.publish': 60,
    'runbooks.read': 600,
    'runbooks.execute': 120,
    approvals: 120,
  },
} as const satisfies PillarManifest;
