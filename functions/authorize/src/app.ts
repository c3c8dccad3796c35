import type { Logger } from '@aws-lambda-powertools/logger';
import {
  API_BASE,
  bind,
  HttpReply,
  httpApp,
  kernelOptionsOf,
  type RouteAuthorizer,
  type RouteRateLimiter,
} from '#shared/http/http.js';
import type { DecideMany } from '#shared/ports/policy.js';
import type { OperationTracer } from '#shared/telemetry.js';
import {
  approveGrant,
  authorize,
  authorizeBatch,
  dryRunPolicies,
  getGrant,
  getPolicyEngine,
  listDecisions,
  listGrants,
  requestGrant,
  revokeGrant,
} from '../contract.js';
import type { AuthorizeService, Decide } from './domain/authorize.js';
import type { DecisionLogService } from './domain/decisions.js';
import type { DryRunService } from './domain/dry-run.js';
import type { GrantService } from './domain/grants.js';

/** What GET /policy/engine reports: the serving process's engine and its decision cache. */
export interface EngineStatus {
  readonly engine: string;
  readonly policyVersion: string;
  readonly cache: { readonly hits: number; readonly misses: number; readonly hitRate: number };
}

export interface AuthorizeAppDeps {
  readonly logger: Logger;
  readonly authorize: RouteAuthorizer;
  readonly rateLimit?: RouteRateLimiter;
  /** Each route in its own trace segment (the service kit's traceOperation). */
  readonly trace?: OperationTracer;
  readonly decisions: AuthorizeService;
  readonly grants: GrantService;
  readonly decisionLog: DecisionLogService;
  readonly dryRun: DryRunService;
  readonly engineStatus: () => EngineStatus;
}

/**
 * The answers to other services' questions through the request's own decideMany (it carries the
 * route-level record: one decision-log item and one archive message for the request), kept out of
 * the policy metrics: they are answers, not this API's refusals.
 */
const askedWith = (decideMany: DecideMany | undefined): Decide | undefined =>
  decideMany && (({ inputs, recordIn }) => decideMany(inputs, { recordIn, countInMetrics: false }));

export const makeAuthorizeApp = (deps: AuthorizeAppDeps) =>
  httpApp({
    ...kernelOptionsOf(deps),
    routes: [
      bind(authorize, ({ principal, tenantId, traceId, body, decideMany }) =>
        deps.decisions.authorize({ principal, tenantId, traceId, decide: askedWith(decideMany) }, body),
      ),
      bind(authorizeBatch, async ({ principal, tenantId, traceId, body, decideMany }) => ({
        results: await deps.decisions.authorizeBatch(
          { principal, tenantId, traceId, decide: askedWith(decideMany) },
          body.requests,
        ),
      })),
      bind(requestGrant, async ({ principal, tenantId, body }) => {
        const grant = await deps.grants.request(tenantId, principal, body);
        return new HttpReply(201, grant, { Location: `${API_BASE}/policy/grants/${grant.id}` });
      }),
      bind(listGrants, ({ tenantId, query }) => deps.grants.list(tenantId, query)),
      bind(getGrant, ({ tenantId, params }) => deps.grants.get(tenantId, params.grantId)),
      bind(approveGrant, ({ principal, tenantId, params }) =>
        deps.grants.approve(tenantId, params.grantId, principal),
      ),
      bind(revokeGrant, ({ principal, tenantId, params }) =>
        deps.grants.revoke(tenantId, params.grantId, principal),
      ),
      bind(listDecisions, ({ tenantId, query }) => deps.decisionLog.list(tenantId, query)),
      bind(dryRunPolicies, ({ tenantId, body }) => deps.dryRun.run(tenantId, body.policies, body.limit)),
      bind(getPolicyEngine, async () => deps.engineStatus()),
    ],
  });
