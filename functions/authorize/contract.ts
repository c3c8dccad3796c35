import * as z from 'zod';
import { pageQuerySchema, pageSchemaOf, type RouteSpec } from '#shared/http/http.js';
import { GRANT_STATUSES } from '#shared/ports/grants.js';
import { tenantIdSchema } from '#shared/ports/identity.js';
import { MAX_BATCH_REQUESTS } from './src/domain/authorize.js';
import { DRY_RUN_LIMIT } from './src/domain/dry-run.js';
import {
  GRANT_DURATION_MINUTES,
  GRANT_REASON_MAX_CHARS,
  MAX_PENDING_GRANTS_PER_TENANT_PAIR,
} from './src/domain/grants.js';

/**
 * The authorize pillar's HTTP contract (M4). Pure data and schemas: the CDK app, the embedded runtime
 * and the OpenAPI document read it; the handler binds it to the domain.
 */
const DRY_RUN_MAX_BODY_BYTES = 256 * 1024;
const MAX_CANDIDATE_FILES = 50;

// --- the decision service -------------------------------------------------------------------------

/**
 * The characters of the ids a question names and the decision log keeps (subject id, resource kind,
 * id and classification): ASCII letters, digits and `. _ : @ + = / | ~ -`. Enough for UUIDs, emails,
 * OIDC subjects (`auth0|…`, `google-oauth2:…`), base64 and the API's own ids; no whitespace, control
 * characters, quotes, `<`, `>`, `&` or `;`, so a logged id can neither break a log line nor carry
 * markup into whatever displays the log.
 */
export const LOGGED_ID_PATTERN = /^[A-Za-z0-9._:@+=/|~-]+$/;
const LOGGED_ID_MESSAGE = 'only A-Z a-z 0-9 and . _ : @ + = / | ~ -';
const loggedId = (maxLength: number) =>
  z.string().min(1).max(maxLength).regex(LOGGED_ID_PATTERN, LOGGED_ID_MESSAGE);

export const authorizeRequestSchema = z
  .strictObject({
    subject: z.strictObject({
      id: loggedId(256),
      tenantId: tenantIdSchema,
      roles: z.array(z.string().min(1).max(64)).max(20),
    }),
    action: z.string().min(1).max(128),
    resource: z.strictObject({
      tenantId: tenantIdSchema,
      kind: loggedId(64),
      id: loggedId(256).optional(),
      classification: loggedId(64).optional().meta({
        description:
          'The resource’s data classification, e.g. `restricted` for an expert only admin-level callers are routed to. Omit when it has none.',
      }),
    }),
    context: z.strictObject({ mfa: z.boolean().default(false) }).default({ mfa: false }),
  })
  .meta({
    id: 'AuthorizeRequest',
    description:
      'May this subject perform this action on this resource? Roles the engine does not know are ignored; ' +
      'live cross-tenant grants are looked up by the service, never taken from the request. ' +
      'Subject id, resource kind, id and classification are 1 to 256 (kind and classification: 64) of ' +
      'A-Z a-z 0-9 and `. _ : @ + = / | ~ -`. The decision is logged in the tenant the caller acts in ' +
      '(its own, or the one named in X-Conductor-Tenant), never in the resource’s tenant.',
  });

export const authorizeDecisionSchema = z
  .object({
    allow: z.boolean(),
    obligations: z.array(z.string()),
    decisionId: z.string(),
    policyVersion: z.string(),
    reasons: z.array(z.string()),
  })
  .meta({
    id: 'AuthorizeDecision',
    description: 'The decision (a deny is an answer, not an error), with what would change it and why.',
  });

export const authorizeBatchRequestSchema = z
  .strictObject({ requests: z.array(authorizeRequestSchema).min(1).max(MAX_BATCH_REQUESTS) })
  .meta({ id: 'AuthorizeBatchRequest' });

export const authorizeBatchResultSchema = z
  .object({ results: z.array(authorizeDecisionSchema) })
  .meta({ id: 'AuthorizeBatchResult', description: 'One decision per request, in request order.' });

// --- cross-tenant grants --------------------------------------------------------------------------

export const grantRequestSchema = z
  .strictObject({
    reason: z.string().trim().min(1).max(GRANT_REASON_MAX_CHARS),
    durationMinutes: z.number().int().min(GRANT_DURATION_MINUTES.min).max(GRANT_DURATION_MINUTES.max),
  })
  .meta({ id: 'GrantRequest', description: 'Why access is needed, and for how long once approved.' });

export const grantSchema = z
  .object({
    tenantId: z.string(),
    id: z.string(),
    version: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
    requesterSubject: z.string(),
    requesterTenant: z.string(),
    reason: z.string(),
    durationMinutes: z.number().int(),
    status: z.enum(GRANT_STATUSES),
    approvedBy: z.string().optional(),
    approvedAt: z.string().optional(),
    revokedBy: z.string().optional(),
    revokedAt: z.string().optional(),
    expiresAt: z.number().int().meta({
      description: 'Epoch seconds: when a pending request lapses, or an approved grant ends.',
    }),
  })
  .meta({
    id: 'Grant',
    description: 'A time-boxed opening of one tenant (tenantId) to one subject of another tenant.',
  });

export const grantPageSchema = pageSchemaOf(grantSchema, 'GrantPage');

const grantParams = z.strictObject({
  grantId: z.string().regex(/^grt_[A-Za-z0-9-]{1,64}$/, 'not a grant id'),
});

const pageQuery = pageQuerySchema;

// --- decision log, dry-run, engine ----------------------------------------------------------------

export const listDecisionsQuery = pageQuery.extend({
  decision: z.enum(['allow', 'deny']).optional(),
  action: z.string().min(1).max(128).optional(),
});

export const decisionSchema = z
  .object({
    decisionId: z.string(),
    tenantId: z.string(),
    at: z.string(),
    traceId: z.string(),
    engine: z.string(),
    policyVersion: z.string(),
    source: z.enum(['route', 'api']),
    input: z.object({
      principal: z.object({ subject: z.string(), tenant: z.string(), roles: z.array(z.string()) }),
      action: z.string(),
      resource: z.object({
        tenant: z.string(),
        kind: z.string(),
        id: z.string().optional(),
        classification: z.string().optional(),
      }),
      context: z.object({ mfa: z.boolean(), grantedTenants: z.array(z.string()) }),
    }),
    allow: z.boolean(),
    obligations: z.array(z.string()),
    masks: z.array(z.string()),
    reasons: z.array(z.string()),
    latencyMs: z.number(),
    error: z.string().optional(),
  })
  .meta({
    id: 'PolicyDecision',
    description:
      'One logged decision of the tenant. The input names tenants `tenant`, as Cedar does: a cross-tenant ' +
      'attempt at a route (`source: route`) is logged in both tenants’ logs; a decision asked through ' +
      'POST /policy/authorize (`source: api`) only in the log of the tenant the asker acted in.',
  });

export const decisionPageSchema = pageSchemaOf(decisionSchema, 'PolicyDecisionPage');

export const dryRunRequestSchema = z
  .strictObject({
    policies: z
      .record(
        z.string().regex(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}\.cedar$/, 'a policy file name ending in .cedar'),
        z.string().max(DRY_RUN_MAX_BODY_BYTES),
      )
      .refine((files) => Object.keys(files).length >= 1, 'at least one policy file')
      .refine(
        (files) => Object.keys(files).length <= MAX_CANDIDATE_FILES,
        `at most ${MAX_CANDIDATE_FILES} policy files`,
      ),
    limit: z.number().int().min(1).max(DRY_RUN_LIMIT.max).default(DRY_RUN_LIMIT.default),
  })
  .meta({
    id: 'PolicyDryRunRequest',
    description:
      'A candidate policy set (file name -> Cedar text, validated against the deployed schema) and how ' +
      'many of the latest logged decisions to decide again with it. At most 64 KiB of policy text ' +
      '(UTF-8, all files) and 256 policies: more is a 413 payload_too_large.',
  });

const outcomeSchema = z.object({
  allow: z.boolean(),
  obligations: z.array(z.string()),
  masks: z.array(z.string()),
});

export const dryRunResultSchema = z
  .object({
    evaluated: z.number().int(),
    changed: z.array(
      z.object({
        decisionId: z.string(),
        at: z.string(),
        action: z.string(),
        /** The engine and policy (bundle) version that made the logged decision. */
        decidedBy: z.object({ engine: z.string(), policyVersion: z.string() }),
        before: outcomeSchema,
        after: outcomeSchema,
      }),
    ),
    candidateVersion: z.string(),
    /** The version of the deployed Cedar policies the candidate replaces (also with OPA running: its Rego mirrors them). */
    currentVersion: z.string(),
    /** The engine and policy version deciding requests now. */
    running: z.object({ engine: z.string(), policyVersion: z.string() }),
  })
  .meta({ id: 'PolicyDryRunResult', description: 'The logged decisions the candidate would change.' });

export const engineStatusSchema = z
  .object({
    engine: z.string(),
    policyVersion: z.string(),
    cache: z.object({ hits: z.number().int(), misses: z.number().int(), hitRate: z.number() }),
  })
  .meta({
    id: 'PolicyEngineStatus',
    description: 'The engine deciding in this process, its policy version and its decision-cache counters.',
  });

// --- routes ---------------------------------------------------------------------------------------

export const authorize = {
  operationId: 'authorize',
  rateFamily: 'policy.authorize',
  method: 'POST',
  path: '/policy/authorize',
  summary: 'Decide one authorization question for another service (allow, obligations, decisionId)',
  tag: 'policy',
  auth: 'jwt',
  minRole: 'operator',
  action: 'policy:authorize',
  // The route-level record goes out with the answers' (one decision-log item, one archive message).
  deferDecisionLog: true,
  body: authorizeRequestSchema,
  success: { status: 200, description: 'The decision', schema: authorizeDecisionSchema },
  errors: [400, 413, 415],
} as const satisfies RouteSpec;

export const authorizeBatch = {
  operationId: 'authorizeBatch',
  rateFamily: 'policy.authorize',
  method: 'POST',
  path: '/policy/authorize/batch',
  summary: `Decide up to ${MAX_BATCH_REQUESTS} authorization questions at once, answered in order`,
  tag: 'policy',
  auth: 'jwt',
  minRole: 'operator',
  action: 'policy:authorize',
  // The route-level record goes out with the answers' (one decision-log item, one archive message).
  deferDecisionLog: true,
  body: authorizeBatchRequestSchema,
  success: { status: 200, description: 'One decision per request', schema: authorizeBatchResultSchema },
  errors: [400, 413, 415],
} as const satisfies RouteSpec;

export const requestGrant = {
  operationId: 'requestGrant',
  rateFamily: 'policy.admin',
  method: 'POST',
  path: '/policy/grants',
  summary: `Ask the tenant named in X-Conductor-Tenant for time-boxed access (a pending grant its admins approve; at most ${MAX_PENDING_GRANTS_PER_TENANT_PAIR} pending per requesting tenant)`,
  tag: 'policy',
  auth: 'jwt',
  minRole: 'tenant-admin',
  action: 'policy:grants:request',
  body: grantRequestSchema,
  success: { status: 201, description: 'The pending grant', schema: grantSchema },
  errors: [400, 409, 413, 415],
} as const satisfies RouteSpec;

export const listGrants = {
  operationId: 'listGrants',
  rateFamily: 'policy.admin',
  method: 'GET',
  path: '/policy/grants',
  summary: 'List the grants that open the acting tenant, a page at a time',
  tag: 'policy',
  auth: 'jwt',
  minRole: 'admin',
  action: 'policy:grants:list',
  query: pageQuery,
  success: { status: 200, description: 'A page of grants', schema: grantPageSchema },
  errors: [400],
} as const satisfies RouteSpec;

export const getGrant = {
  operationId: 'getGrant',
  rateFamily: 'policy.admin',
  method: 'GET',
  path: '/policy/grants/{grantId}',
  summary: 'Read one grant of the acting tenant',
  tag: 'policy',
  auth: 'jwt',
  minRole: 'admin',
  action: 'policy:grants:get',
  params: grantParams,
  success: { status: 200, description: 'The grant', schema: grantSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const approveGrant = {
  operationId: 'approveGrant',
  rateFamily: 'policy.admin',
  method: 'POST',
  path: '/policy/grants/{grantId}/approve',
  summary: 'Approve a pending grant (not your own request); it is live for its duration from now',
  tag: 'policy',
  auth: 'jwt',
  minRole: 'admin',
  action: 'policy:grants:approve',
  params: grantParams,
  success: { status: 200, description: 'The approved grant', schema: grantSchema },
  errors: [400, 404, 409],
} as const satisfies RouteSpec;

export const revokeGrant = {
  operationId: 'revokeGrant',
  rateFamily: 'policy.admin',
  method: 'POST',
  path: '/policy/grants/{grantId}/revoke',
  summary: 'Revoke a grant, pending or approved (idempotent); its requester may withdraw it from its tenant',
  tag: 'policy',
  auth: 'jwt',
  minRole: 'admin',
  action: 'policy:grants:revoke',
  params: grantParams,
  success: { status: 200, description: 'The revoked grant', schema: grantSchema },
  errors: [400, 404, 409],
} as const satisfies RouteSpec;

export const listDecisions = {
  operationId: 'listPolicyDecisions',
  rateFamily: 'policy.admin',
  method: 'GET',
  path: '/policy/decisions',
  summary: 'The acting tenant’s decision log, newest first, optionally only allows or denies of one action',
  tag: 'policy',
  auth: 'jwt',
  minRole: 'admin',
  action: 'policy:decisions:list',
  query: listDecisionsQuery,
  success: { status: 200, description: 'A page of decisions', schema: decisionPageSchema },
  errors: [400],
} as const satisfies RouteSpec;

export const dryRunPolicies = {
  operationId: 'dryRunPolicies',
  rateFamily: 'policy.admin',
  method: 'POST',
  path: '/policy/dry-run',
  summary: 'Decide the latest logged decisions again under a candidate policy set; list those that change',
  tag: 'policy',
  auth: 'jwt',
  minRole: 'admin',
  action: 'policy:dry-run',
  body: dryRunRequestSchema,
  maxBodyBytes: DRY_RUN_MAX_BODY_BYTES,
  success: { status: 200, description: 'What the candidate would change', schema: dryRunResultSchema },
  errors: [400, 413, 415, 422],
} as const satisfies RouteSpec;

export const getPolicyEngine = {
  operationId: 'getPolicyEngine',
  rateFamily: 'policy.admin',
  method: 'GET',
  path: '/policy/engine',
  summary: 'The policy engine of the serving process: its policy version and decision-cache hit rate',
  tag: 'policy',
  auth: 'jwt',
  minRole: 'admin',
  action: 'policy:decisions:list',
  success: { status: 200, description: 'Engine status', schema: engineStatusSchema },
  errors: [],
} as const satisfies RouteSpec;

export const authorizeRoutes = [
  authorize,
  authorizeBatch,
  requestGrant,
  listGrants,
  getGrant,
  approveGrant,
  revokeGrant,
  listDecisions,
  dryRunPolicies,
  getPolicyEngine,
] as const;
