import * as z from 'zod';
import { pageQuerySchema, pageSchemaOf, type RouteSpec } from '#shared/http/http.js';
import { RUNBOOK_FIELDS } from './src/domain/runbook.js';
import { runbookSignatureSchema } from './src/domain/signing.js';

/**
 * The runbooks pillar's contract: its route specs and its events. Pure data and schemas: the CDK
 * app, the embedded runtime and the OpenAPI document read it, the handler binds it to the domain, and
 * it is the only part of this pillar another one may import. Today: the registry (publish, list,
 * read). Execution and approvals come next (issue 20).
 */

/** A runbook and its signature: at most this large (50 steps of prose and requests). */
export const MAX_PUBLISH_BODY_BYTES = 256 * 1024;

const runbookIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'not a runbook id (1 to 128 of A-Z a-z 0-9 . _ -)');
const versionSchema = z.coerce.number().int().min(1).max(1_000_000);

export const runbookVersionSchema = z
  .object({
    runbookId: z.string(),
    version: z.number().int(),
    description: z.string(),
    digest: z
      .string()
      .meta({ description: 'SHA-256 of the runbook’s RFC 8785 canonical JSON (what was signed).' }),
    status: z.enum(['active', 'quarantined', 'revoked']).meta({
      description:
        '`quarantined`: a later check found it does not match its signature; `revoked`: withdrawn by an administrator. Neither ever runs.',
    }),
    quarantineReason: z.string().optional(),
    revokedAt: z.string().optional(),
    revokedBy: z.string().optional(),
    revokeReason: z.string().optional(),
    signature: z.object({
      keyId: z.string(),
      keyVersion: z.string(),
      algorithm: z.string(),
      digest: z.string(),
      signature: z.string(),
      signedAt: z.string(),
    }),
    runbook: z.record(z.string(), z.unknown()).meta({ description: 'The runbook, defaults spelled out.' }),
    publishedAt: z.string(),
    publishedBy: z.string(),
  })
  .meta({ id: 'RunbookVersion' });

export const runbookSummarySchema = z
  .object({
    runbookId: z.string(),
    latestVersion: z.number().int(),
    description: z.string(),
    digest: z.string(),
    status: z.enum(['active', 'quarantined', 'revoked']),
    privilegedSteps: z.number().int(),
    approvalStages: z.array(z.string()),
    publishedAt: z.string(),
    publishedBy: z.string(),
  })
  .meta({ id: 'RunbookSummary' });

export const publishRunbook = {
  operationId: 'publishRunbook',
  rateFamily: 'runbooks.publish',
  method: 'POST',
  path: '/runbooks/registry',
  summary:
    'Publish a signed runbook version: the signature is verified before anything is stored; a version never changes',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'admin',
  action: 'runbooks:publish',
  body: z
    .strictObject({
      // Only the runbook's top-level fields are checked here (an unknown one is a 400 naming it):
      // the document is the domain's to check, every problem named by its path (`steps[2].url`).
      runbook: z
        .strictObject(Object.fromEntries(RUNBOOK_FIELDS.map((field) => [field, z.unknown().optional()])))
        .meta({
          id: 'RunbookDocument',
          description: 'A runbook (`conductor.runbook/v1`, see the runbooks README), as signed.',
        }),
      signature: runbookSignatureSchema.meta({
        id: 'RunbookSignature',
        description:
          'What `conductor runbook sign` writes: key id and version, RSASSA_PSS_SHA_256, the SHA-256 digest of the runbook’s canonical JSON, the signature (base64).',
      }),
    })
    .meta({ id: 'RunbookPublication' }),
  exampleBody: {
    runbook: {
      apiVersion: 'conductor.runbook/v1',
      id: 'restart-service',
      version: 1,
      description: 'Restart a service',
      parameters: { type: 'object', properties: {} },
      steps: [{ id: 'confirm', name: 'Confirm', type: 'manual', instructions: 'Check the dashboard.' }],
    },
    signature: {
      keyId: 'local:0123456789abcdef',
      keyVersion: '1',
      algorithm: 'RSASSA_PSS_SHA_256',
      digest: '0'.repeat(64),
      signature: 'AAAA',
      signedAt: '2026-12-07T00:00:00Z',
    },
  },
  maxBodyBytes: MAX_PUBLISH_BODY_BYTES,
  success: {
    status: 201,
    description:
      'The version, verified and stored. The same version published again with the same content answers 200 with it, changing nothing.',
    schema: runbookVersionSchema,
  },
  errors: [400, 409, 413, 415, 422],
} as const satisfies RouteSpec;

export const listRunbookRegistry = {
  operationId: 'listRunbookRegistry',
  rateFamily: 'runbooks.registry',
  method: 'GET',
  path: '/runbooks/registry',
  summary: 'The tenant’s runbooks, each at its latest version',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'runbooks:registry:list',
  query: pageQuerySchema.extend({
    tenantId: z.string().max(63).optional().meta({
      description:
        'The tenant whose registry this is: the one the request acts in (else 403 tenant_mismatch).',
    }),
  }),
  success: {
    status: 200,
    description: 'A page of runbooks',
    schema: pageSchemaOf(runbookSummarySchema, 'RunbookPage'),
  },
  errors: [400],
} as const satisfies RouteSpec;

const runbookParams = z.strictObject({ runbookId: runbookIdSchema });

export const getRunbook = {
  operationId: 'getRunbook',
  rateFamily: 'runbooks.read',
  method: 'GET',
  path: '/runbooks/registry/{runbookId}',
  summary: 'A runbook at its latest version, with its signature',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'runbooks:get',
  params: runbookParams,
  success: { status: 200, description: 'The latest version', schema: runbookVersionSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const listRunbookVersions = {
  operationId: 'listRunbookVersions',
  rateFamily: 'runbooks.read',
  method: 'GET',
  path: '/runbooks/registry/{runbookId}/versions',
  summary: 'Every published version of a runbook, newest first',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'runbooks:versions:list',
  params: runbookParams,
  query: pageQuerySchema,
  success: {
    status: 200,
    description: 'A page of versions',
    schema: pageSchemaOf(runbookVersionSchema, 'RunbookVersionPage'),
  },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const getRunbookVersion = {
  operationId: 'getRunbookVersion',
  rateFamily: 'runbooks.read',
  method: 'GET',
  path: '/runbooks/registry/{runbookId}/versions/{version}',
  summary: 'One version of a runbook, as published',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'runbooks:versions:get',
  params: z.strictObject({ runbookId: runbookIdSchema, version: versionSchema }),
  success: { status: 200, description: 'The version', schema: runbookVersionSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const revokeRunbookVersion = {
  operationId: 'revokeRunbookVersion',
  rateFamily: 'runbooks.publish',
  method: 'POST',
  path: '/runbooks/registry/{runbookId}/versions/{version}/revoke',
  summary:
    'Revoke a version: it never runs again and its content cannot be published again (a replay is refused)',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'admin',
  action: 'runbooks:versions:revoke',
  params: z.strictObject({ runbookId: runbookIdSchema, version: versionSchema }),
  body: z
    .strictObject({ reason: z.string().min(3).max(500).meta({ description: 'Why, for the record.' }) })
    .meta({ id: 'RunbookRevocation' }),
  exampleBody: { reason: 'superseded by version 2: wrong drain default' },
  success: { status: 200, description: 'The version, revoked', schema: runbookVersionSchema },
  errors: [400, 404, 415],
} as const satisfies RouteSpec;

// --- BYOK: a tenant's own signing keys ----------------------------------------------------------

export const trustedKeySchema = z
  .object({
    keyId: z.string(),
    keyVersion: z.string(),
    fingerprint: z.string().meta({ description: 'SHA-256 of the key’s SPKI DER, hex.' }),
    publicKey: z.string().meta({ description: 'SPKI PEM.' }),
    description: z.string().optional(),
    status: z.enum(['active', 'retired']),
    addedBy: z.string(),
    addedAt: z.string(),
    retiredAt: z.string().optional(),
    retiredBy: z.string().optional(),
  })
  .meta({ id: 'RunbookTrustedKey' });

const keyIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9:/._-]{1,256}$/, 'not a key id (a KMS key ARN: 1-256 of A-Z a-z 0-9 : / . _ -)');

export const addTrustedKey = {
  operationId: 'addTrustedKey',
  rateFamily: 'runbooks.publish',
  method: 'POST',
  path: '/runbooks/trusted-keys',
  summary:
    'BYOK: trust the tenant’s own signing key (its public half) for the tenant’s runbooks; Conductor never calls the key',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'admin',
  action: 'runbooks:keys:add',
  body: z
    .strictObject({
      keyId: keyIdSchema.meta({
        description:
          'What signatures name as keyId and keyVersion: the KMS key ARN (`conductor runbook sign --kms-key`).',
      }),
      publicKey: z.string().min(1).max(8192).meta({
        description: 'SPKI PEM of an RSA key of 2048 bits or more (`aws kms get-public-key`, PEM-wrapped).',
      }),
      description: z.string().max(500).optional(),
    })
    .meta({ id: 'RunbookTrustedKeyRegistration' }),
  exampleBody: {
    keyId: 'arn:aws:kms:eu-west-1:111122223333:key/0b1c2d3e-0000-4000-8000-000000000000',
    publicKey: '-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----',
  },
  success: {
    status: 201,
    description: 'The key, trusted for this tenant’s runbooks. The same key again: 200, unchanged.',
    schema: trustedKeySchema,
  },
  errors: [400, 409, 415],
} as const satisfies RouteSpec;

export const listTrustedKeys = {
  operationId: 'listTrustedKeys',
  rateFamily: 'runbooks.read',
  method: 'GET',
  path: '/runbooks/trusted-keys',
  summary: 'The tenant’s own signing keys (BYOK), active and retired',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'runbooks:keys:list',
  query: pageQuerySchema,
  success: {
    status: 200,
    description: 'A page of keys',
    schema: pageSchemaOf(trustedKeySchema, 'RunbookTrustedKeyPage'),
  },
  errors: [400],
} as const satisfies RouteSpec;

export const retireTrustedKey = {
  operationId: 'retireTrustedKey',
  rateFamily: 'runbooks.publish',
  method: 'POST',
  path: '/runbooks/trusted-keys/retire',
  summary:
    'Retire one of the tenant’s keys: its signatures no longer verify (versions it signed are quarantined at their next check)',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'admin',
  action: 'runbooks:keys:retire',
  body: z.strictObject({ keyId: keyIdSchema }).meta({ id: 'RunbookTrustedKeyRetirement' }),
  exampleBody: { keyId: 'arn:aws:kms:eu-west-1:111122223333:key/0b1c2d3e-0000-4000-8000-000000000000' },
  success: { status: 200, description: 'The key, retired', schema: trustedKeySchema },
  errors: [400, 404, 415],
} as const satisfies RouteSpec;

// --- Executions and approvals ---------------------------------------------------------------

const executionIdSchema = z
  .string()
  .regex(/^rbx_[A-Za-z0-9-]{1,64}$/, 'not an execution id (rbx_…)')
  .meta({ description: 'An execution id, as POST /runbooks/execute answered it.' });
const stageNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'not a stage name');
const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'not a SHA-256 digest (64 lower-case hex)');

const decisionSchema = z.object({
  actor: z.string(),
  decision: z.enum(['approve', 'reject']),
  digest: z.string(),
  at: z.string(),
  comment: z.string().optional(),
});

export const approvalRequestSchema = z
  .object({
    requestId: z.string(),
    executionId: z.string(),
    runbookId: z.string(),
    stage: z.string(),
    stageIndex: z.number().int(),
    status: z.enum(['pending', 'waiting', 'approved', 'rejected', 'timed_out']),
    roles: z.array(z.string()),
    minApprovers: z.number().int(),
    approvals: z.number().int(),
    digest: z.string().meta({
      description:
        'What an approval is bound to: SHA-256 of the runbook’s digest and the parameters. A decision must name it.',
    }),
    requestedBy: z.string(),
    requestedAt: z.string().optional(),
    expiresAt: z.string().optional(),
    decisions: z.array(decisionSchema),
  })
  .meta({ id: 'ApprovalRequest' });

export const executionSchema = z
  .object({
    executionId: z.string(),
    runbookId: z.string(),
    version: z.number().int(),
    status: z.enum(['awaiting_approval', 'running', 'succeeded', 'failed', 'rejected', 'timed_out']),
    runbookDigest: z.string(),
    paramsDigest: z.string(),
    digest: z.string().meta({ description: 'The digest every approval names (runbook and parameters).' }),
    params: z.record(z.string(), z.unknown()),
    requestedBy: z.string(),
    requestedAt: z.string(),
    finishedAt: z.string().optional(),
    durationMs: z.number().int().optional(),
    failure: z.string().optional(),
    stages: z.array(
      z.object({
        name: z.string(),
        requestId: z.string(),
        roles: z.array(z.string()),
        minApprovers: z.number().int(),
        timeoutSeconds: z.number().int(),
        status: z.enum(['pending', 'waiting', 'approved', 'rejected', 'timed_out']),
        requestedAt: z.string().optional(),
        expiresAt: z.string().optional(),
        decisions: z.array(decisionSchema),
      }),
    ),
    steps: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        type: z.string(),
        privileged: z.boolean(),
        status: z.enum(['pending', 'running', 'awaiting_confirmation', 'succeeded', 'failed']),
        startedAt: z.string().optional(),
        finishedAt: z.string().optional(),
        outputDigest: z.string().optional(),
        error: z.string().optional(),
        confirmedBy: z.string().optional(),
      }),
    ),
    trailHead: z.object({ seq: z.number().int(), hash: z.string() }).optional(),
  })
  .meta({ id: 'RunbookExecution' });

export const executionTimelineSchema = executionSchema
  .extend({
    trail: z.array(
      z.object({
        seq: z.number().int(),
        at: z.string(),
        kind: z.string(),
        actor: z.string().optional(),
        detail: z.record(z.string(), z.unknown()),
        prevHash: z.string(),
        hash: z.string(),
      }),
    ),
    trailCheck: z
      .object({ ok: z.boolean(), reason: z.string().optional(), at: z.number().int().optional() })
      .meta({
        description:
          'The trail checked now: a hash chain from genesis to the record’s head, each entry equal to its WORM copy, nothing past the head.',
      }),
  })
  .meta({ id: 'RunbookExecutionTimeline' });

export const executeRunbook = {
  operationId: 'executeRunbook',
  rateFamily: 'runbooks.execute',
  method: 'POST',
  path: '/runbooks/execute',
  summary:
    'Execute a runbook: its stored version is verified again, the parameters checked, and the approval flow started',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'operator',
  action: 'runbooks:execute',
  body: z
    .strictObject({
      runbookId: runbookIdSchema,
      version: z
        .number()
        .int()
        .min(1)
        .max(1_000_000)
        .optional()
        .meta({ description: 'Default: the latest.' }),
      params: z.record(z.string(), z.unknown()).optional().meta({
        description:
          'Checked against the runbook’s parameter schema (400 invalid_parameters), defaults filled in.',
      }),
      idempotencyKey: z.string().min(1).max(128).optional().meta({
        description:
          'The same key from the same caller answers the same execution (200) instead of starting another.',
      }),
    })
    .meta({ id: 'RunbookExecuteRequest' }),
  exampleBody: { runbookId: 'restart-service', params: { service: 'search', reason: 'memory leak' } },
  success: {
    status: 202,
    description:
      'The execution, started: it waits for its approval stages, then runs its steps. 200 for a repeated idempotencyKey.',
    schema: executionSchema,
  },
  errors: [400, 404, 409, 413, 415, 422, 503],
} as const satisfies RouteSpec;

export const listRunbookExecutions = {
  operationId: 'listRunbookExecutions',
  rateFamily: 'runbooks.read',
  method: 'GET',
  path: '/runbooks/executions',
  summary: 'The tenant’s runbook executions, in id order',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'runbooks:executions:list',
  query: pageQuerySchema,
  success: {
    status: 200,
    description: 'A page of executions',
    schema: pageSchemaOf(executionSchema, 'RunbookExecutionPage'),
  },
  errors: [400],
} as const satisfies RouteSpec;

export const getRunbookExecution = {
  operationId: 'getRunbookExecution',
  rateFamily: 'runbooks.read',
  method: 'GET',
  path: '/runbooks/executions/{executionId}',
  summary: 'An execution and its timeline: every trail entry, and whether the hash chain holds',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'runbooks:executions:get',
  params: z.strictObject({ executionId: executionIdSchema }),
  success: { status: 200, description: 'The execution and its trail', schema: executionTimelineSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const confirmRunbookStep = {
  operationId: 'confirmRunbookStep',
  rateFamily: 'approvals',
  method: 'POST',
  path: '/runbooks/executions/{executionId}/steps/{stepId}/confirm',
  summary: 'Confirm a manual step the execution is waiting on',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'operator',
  action: 'runbooks:steps:confirm',
  params: z.strictObject({ executionId: executionIdSchema, stepId: runbookIdSchema }),
  body: z.strictObject({ note: z.string().max(1000).optional() }).meta({ id: 'RunbookStepConfirmation' }),
  exampleBody: {},
  success: { status: 200, description: 'The execution, the step confirmed', schema: executionSchema },
  errors: [400, 404, 409, 415],
} as const satisfies RouteSpec;

export const openApprovalRequest = {
  operationId: 'openApprovalRequest',
  rateFamily: 'approvals',
  method: 'POST',
  path: '/approvals/requests',
  summary:
    'The approval request of a stage the execution waits on, its approvers told again (approval_requested)',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'operator',
  action: 'runbooks:approvals:request',
  body: z
    .strictObject({ executionId: executionIdSchema, stage: stageNameSchema })
    .meta({ id: 'ApprovalRequestOpening' }),
  exampleBody: { executionId: 'rbx_0123', stage: 'on-call' },
  success: { status: 200, description: 'The request', schema: approvalRequestSchema },
  errors: [400, 404, 409, 415],
} as const satisfies RouteSpec;

export const decideApprovalRequest = {
  operationId: 'decideApprovalRequest',
  rateFamily: 'approvals',
  method: 'POST',
  path: '/approvals/requests/{requestId}/decision',
  summary:
    'Approve or reject a stage: a role of the stage, stepped up, never the requester, naming the digest reviewed',
  tag: 'runbooks',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'runbooks:approvals:respond',
  deferDecisionLog: true,
  params: z.strictObject({
    requestId: z
      .string()
      .regex(/^rbx_[A-Za-z0-9-]{1,64}\.\d{1,2}$/, 'not an approval request id (<executionId>.<stage>)'),
  }),
  body: z
    .strictObject({
      decision: z.enum(['approve', 'reject']),
      digest: sha256Schema.meta({ description: 'The execution’s `digest` as the approver reviewed it.' }),
      comment: z.string().max(1000).optional(),
    })
    .meta({ id: 'ApprovalDecision' }),
  exampleBody: { decision: 'approve', digest: '0'.repeat(64) },
  success: { status: 200, description: 'The request after the decision', schema: approvalRequestSchema },
  errors: [400, 404, 409, 415],
} as const satisfies RouteSpec;

export const runbooksRoutes = [
  publishRunbook,
  listRunbookRegistry,
  getRunbook,
  listRunbookVersions,
  getRunbookVersion,
  revokeRunbookVersion,
  addTrustedKey,
  listTrustedKeys,
  retireTrustedKey,
  executeRunbook,
  listRunbookExecutions,
  getRunbookExecution,
  confirmRunbookStep,
  openApprovalRequest,
  decideApprovalRequest,
] as const;

export {
  approvalRequested,
  RUNBOOK_EVENTS,
  runbookExecuted,
  runbookNotification,
  unsignedRunbook,
} from './events.js';
