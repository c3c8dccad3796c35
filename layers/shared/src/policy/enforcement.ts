import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RouteAuthorizer } from '../http/http.js';
import type { EventPublisher } from '../ports/events.js';
import type { DecideMany, DecisionArchive, PolicyEngine } from '../ports/policy.js';
import { randomIds, systemClock } from '../ports/system.js';
import { CachedPolicyEngine } from './cache.js';
import { DynamoDecisionLog, DynamoGrantLookup } from './dynamo-policy-store.js';
import { PolicyEnforcer } from './enforcer.js';

/** Where the enforcement point reports its counters (Powertools Metrics in services: EMF, namespace Conductor). */
export interface PolicyMetricsSink {
  addMetric(name: string, unit: 'Count', value: number): void;
  publishStoredMetrics(): void;
}

/**
 * The enforcer as the kernel's HTTP app needs it: the route's action on the tenant the request acts
 * in. With a metrics sink it exports, per decision, `PolicyDecisions`, `PolicyDenied` and
 * `PolicyCacheHits` (hit rate = hits / decisions), the figures the policy SLO is watched with.
 */
export const policyAuthorizer =
  (
    enforcer: PolicyEnforcer,
    observe?: { engine: CachedPolicyEngine; metrics: PolicyMetricsSink },
  ): RouteAuthorizer =>
  async ({ principal, spec, tenantId, traceId, defer }) => {
    const hitsBefore = observe?.engine.stats.hits ?? 0;
    const input = { principal, action: spec.action, resource: { tenantId, kind: spec.tag }, traceId };
    let allowed = false;
    // A deferred allow's counts go out with the request's next publish: its batch's, or the kernel's
    // flush (one EMF line per request instead of two).
    let countsWait = false;
    try {
      if (defer) {
        // An allow's record waits for the handler's first batch (or the kernel's flush): one write.
        const { decision, pending } = await enforcer.enforceDeferred(input);
        allowed = true;
        countsWait = true;
        let written = false;
        const decideMany = policyDecideMany(enforcer, observe);
        return {
          masks: decision.masks,
          decisionId: decision.decisionId,
          deferred: {
            decideMany: async (inputs, options) => {
              // Claimed before the write, so concurrent batches carry it once; released if it fails.
              const carry = written ? [] : pending;
              written = true;
              try {
                const answers = await decideMany(inputs, {
                  ...options,
                  alsoRecord: [...(options?.alsoRecord ?? []), ...carry],
                });
                // The batch published every stored count, the route-level ones with its own.
                const wrote = inputs.length > 0 || carry.length > 0 || (options?.alsoRecord?.length ?? 0) > 0;
                if (options?.countInMetrics !== false && wrote) countsWait = false;
                return answers;
              } catch (error) {
                if (carry.length > 0) written = false;
                throw error;
              }
            },
            flush: async () => {
              try {
                if (written) return;
                await enforcer.commit(pending);
                written = true;
              } finally {
                if (observe && countsWait) {
                  countsWait = false;
                  observe.metrics.publishStoredMetrics();
                }
              }
            },
          },
        };
      }
      const decision = await enforcer.enforce(input);
      allowed = true;
      return { masks: decision.masks, decisionId: decision.decisionId };
    } finally {
      if (observe) {
        observe.metrics.addMetric('PolicyDecisions', 'Count', 1);
        observe.metrics.addMetric('PolicyDenied', 'Count', allowed ? 0 : 1);
        observe.metrics.addMetric('PolicyCacheHits', 'Count', observe.engine.stats.hits - hitsBefore);
        if (!countsWait) observe.metrics.publishStoredMetrics();
      }
    }
  };

/**
 * The enforcer's `decideMany` for handlers that ask about many resources in one request (the router:
 * `router:route-to` per candidate expert). With a metrics sink it counts every decision of the
 * batch as `policyAuthorizer` counts one: `PolicyDecisions` (one per input), `PolicyDenied` (each
 * deny; every input when the batch could not be recorded, since none was answered) and
 * `PolicyCacheHits`, published once per batch. An empty batch decides, writes and counts nothing.
 */
export const policyDecideMany =
  (
    enforcer: PolicyEnforcer,
    observe?: { engine: CachedPolicyEngine; metrics: PolicyMetricsSink },
  ): DecideMany =>
  async (inputs, options) => {
    if (inputs.length === 0 && (options?.alsoRecord ?? []).length === 0) return [];
    const hitsBefore = observe?.engine.stats.hits ?? 0;
    let denied = inputs.length;
    const { countInMetrics = true, ...record } = options ?? {};
    try {
      const decisions = await enforcer.decideMany(inputs, record);
      denied = decisions.filter((decision) => !decision.allow).length;
      return decisions;
    } finally {
      if (observe && countInMetrics) {
        observe.metrics.addMetric('PolicyDecisions', 'Count', inputs.length);
        observe.metrics.addMetric('PolicyDenied', 'Count', denied);
        observe.metrics.addMetric('PolicyCacheHits', 'Count', observe.engine.stats.hits - hitsBefore);
        observe.metrics.publishStoredMetrics();
      }
    }
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
  readonly metrics?: PolicyMetricsSink | undefined;
  /** How step-up is recognised besides `amr` containing `mfa` (see EnforcerDeps). */
  readonly stepUp?: {
    readonly acr?: readonly string[];
    readonly issuerEnforcesMfa?: boolean;
    readonly maxAgeSeconds?: number;
  };
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
    ...(wiring.stepUp?.acr ? { stepUpAcr: wiring.stepUp.acr } : {}),
    ...(wiring.stepUp?.issuerEnforcesMfa ? { issuerEnforcesMfa: true } : {}),
    ...(wiring.stepUp?.maxAgeSeconds !== undefined
      ? { stepUpMaxAgeSeconds: wiring.stepUp.maxAgeSeconds }
      : {}),
  });
  const observe = wiring.metrics ? { engine, metrics: wiring.metrics } : undefined;
  return {
    engine,
    enforcer,
    authorize: policyAuthorizer(enforcer, observe),
    /** Many decisions, one log write and one archive message, counted in the policy metrics. */
    decideMany: policyDecideMany(enforcer, observe),
  };
};
