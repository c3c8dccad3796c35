import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { EventPublisher } from '../events.js';
import type { RouteAuthorizer } from '../http.js';
import { randomIds, systemClock } from '../ports.js';
import { CachedPolicyEngine } from './cache.js';
import { DynamoDecisionLog, DynamoGrantLookup } from './dynamo-policy-store.js';
import { PolicyEnforcer } from './enforcer.js';
import type { PolicyEngine } from './types.js';

/** The enforcer as the kernel's HTTP app needs it: the route's action on the tenant the request acts in. */
export const policyAuthorizer =
  (enforcer: PolicyEnforcer): RouteAuthorizer =>
  async ({ principal, spec, tenantId, traceId }) => {
    const decision = await enforcer.enforce({
      principal,
      action: spec.action,
      resource: { tenantId, kind: spec.tag },
      traceId,
    });
    return { masks: decision.masks, decisionId: decision.decisionId };
  };

export interface EnforcementWiring {
  readonly doc: Pick<DynamoDBDocumentClient, 'send'>;
  readonly policyTableName: string;
  readonly logger: Logger;
  readonly events?: EventPublisher | undefined;
  /** The loaded engine (Cedar or OPA); it is wrapped in the 60 s decision cache here. */
  readonly engine: PolicyEngine;
}

/**
 * Composition of the policy enforcement point for a handler: the engine (loaded once per process,
 * failing closed), the 60 s decision cache, grants and the decision log in the policy table.
 */
export const makeEnforcement = (wiring: EnforcementWiring) => {
  const engine = new CachedPolicyEngine(wiring.engine);
  const enforcer = new PolicyEnforcer({
    engine,
    grants: new DynamoGrantLookup(wiring.doc, wiring.policyTableName),
    log: new DynamoDecisionLog(wiring.doc, wiring.policyTableName),
    events: wiring.events,
    clock: systemClock,
    ids: randomIds,
    logger: wiring.logger,
  });
  return { engine, enforcer, authorize: policyAuthorizer(enforcer) };
};
