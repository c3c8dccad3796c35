import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { EventPublisher } from '../events.js';
import type { RouteAuthorizer } from '../http.js';
import { randomIds, systemClock } from '../ports.js';
import { CachedPolicyEngine } from './cache.js';
import { DynamoDecisionLog, DynamoGrantLookup } from './dynamo-policy-store.js';
import { type DecisionArchive, PolicyEnforcer } from './enforcer.js';
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
  /** Where every decision is handed off for the append-only archive (SqsDecisionArchive in services). */
  readonly archive: DecisionArchive;
  /** The loaded engine (Cedar or OPA); it is wrapped in the 60 s decision cache here. */
  readonly engine: PolicyEngine;
}

/**
 * Composition of the policy enforcement point for a handler: the engine (loaded once per process,
 * failing closed), the 60 s decision cache, grants, the decision log in the policy table and the
 * hand-off to the decision archive.
 */
export const makeEnforcement = (wiring: EnforcementWiring) => {
  const engine = new CachedPolicyEngine(wiring.engine);
  const enforcer = new PolicyEnforcer({
    engine,
    grants: new DynamoGrantLookup(wiring.doc, wiring.policyTableName),
    log: new DynamoDecisionLog(wiring.doc, wiring.policyTableName),
    archive: wiring.archive,
    events: wiring.events,
    clock: systemClock,
    ids: randomIds,
    logger: wiring.logger,
  });
  return { engine, enforcer, authorize: policyAuthorizer(enforcer) };
};
