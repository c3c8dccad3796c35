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
    status: z.enum(['active', 'quarantined']).meta({
      description: '`quarantined`: a later check found it does not match its signature; it never runs.',
    }),
    quarantineReason: z.string().optional(),
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
    status: z.enum(['active', 'quarantined']),
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

export const runbooksRoutes = [
  publishRunbook,
  listRunbookRegistry,
  getRunbook,
  listRunbookVersions,
  getRunbookVersion,
] as const;

export { RUNBOOK_EVENTS, runbookExecuted, unsignedRunbook } from './events.js';
