import type { Principal, Role } from './identity.js';

/** One authorization question: may this principal perform this action on this resource? */
export interface AuthzRequest {
  readonly principal: {
    readonly subject: string;
    readonly tenantId: string;
    readonly roles: readonly Role[] | readonly string[];
  };
  /** Action id as named by RouteSpec.action and declared in the Cedar schema, e.g. `experts:get`. */
  readonly action: string;
  readonly resource: ResourceRef;
  readonly context: {
    /** Step-up authentication present (amr contains mfa or the configured acr). */
    readonly mfa: boolean;
    /** Tenants a live, approved cross-tenant grant opens to this principal. */
    readonly grantedTenants: readonly string[];
  };
}

export interface AuthzDecision {
  readonly allow: boolean;
  /** What the caller must do or the enforcement point must apply: `request_approval`, `step_up`, ... */
  readonly obligations: readonly string[];
  /** Fields the enforcement point removes from what it returns (from `@mask` annotations). */
  readonly masks: readonly string[];
  /** The determining policies (their `@id`), or the reason a decision failed closed. */
  readonly reasons: readonly string[];
  readonly policyVersion: string;
  /** Set when the engine could not decide and the answer is a fail-closed deny. */
  readonly error?: string;
}

/** Port: a policy engine that answers in-process. Implementations must fail closed. */
export interface PolicyEngine {
  readonly name: 'cedar' | 'opa';
  readonly policyVersion: string;
  decide(request: AuthzRequest): AuthzDecision;
}

/** A deny that says why it was not a real decision. */
export const failClosed = (policyVersion: string, error: string): AuthzDecision => ({
  allow: false,
  obligations: [],
  masks: [],
  reasons: ['fail-closed'],
  policyVersion,
  error,
});

/** What a decision is about: a resource of a tenant, of a kind, maybe one in particular. */
export interface ResourceRef {
  readonly tenantId: string;
  /** What kind of thing (the route's tag: `experts`, `policy`, ...). */
  readonly kind: string;
  readonly id?: string | undefined;
  /**
   * The resource's data classification (an expert's, e.g. `restricted`), Cedar's optional
   * `Resource.classification`: given to the engine only when present.
   */
  readonly classification?: string | undefined;
  /**
   * An approval request's approver roles (the runbook stage's), Cedar's optional
   * `Resource.approverRoles` (a Set): given to the engine only when present.
   */
  readonly approverRoles?: readonly string[] | undefined;
  /**
   * The subject who requested the execution an approval request belongs to, Cedar's optional
   * `Resource.requestedBy`: given to the engine only when present.
   */
  readonly requestedBy?: string | undefined;
}

/** Port: which tenants a live, approved, unexpired grant opens to this principal. */
export interface GrantLookup {
  grantedTenants(principal: Principal, targetTenant: string, at: Date): Promise<string[]>;
}

/** One logged decision: the input (no secrets: claims are reduced to subject, tenant and roles), result and timing. */
export interface DecisionRecord {
  readonly decisionId: string;
  /**
   * The tenant whose partition holds this record (the resource's tenant; for decisions asked through
   * POST /policy/authorize, the tenant the asker acts in).
   */
  readonly tenantId: string;
  readonly at: string;
  readonly traceId: string;
  readonly engine: string;
  readonly policyVersion: string;
  readonly input: AuthzRequest;
  readonly allow: boolean;
  readonly obligations: readonly string[];
  readonly masks: readonly string[];
  readonly reasons: readonly string[];
  readonly latencyMs: number;
  /** `route` for enforcement at an endpoint, `api` for POST /policy/authorize. */
  readonly source: 'route' | 'api';
  readonly error?: string;
}

/** Port: where decisions are kept. `record` resolves only once the record is durable (back-pressure, not loss). */
export interface DecisionLog {
  record(records: readonly DecisionRecord[]): Promise<void>;
}

/**
 * Port: the append-only archive that keeps decisions past the hot log's 30 days. `append` resolves
 * only once the records are handed off durably (e.g. accepted by a queue that feeds a WORM store).
 */
export interface DecisionArchive {
  append(records: readonly DecisionRecord[]): Promise<void>;
}

export interface EnforcedDecision extends AuthzDecision {
  readonly decisionId: string;
}

export interface EnforceInput {
  readonly principal: Principal;
  readonly action: string;
  readonly resource: ResourceRef;
  readonly traceId: string;
  readonly source?: 'route' | 'api';
}

/**
 * Decides a batch of questions with one decision-log write and one archive hand-off
 * (`PolicyEnforcer.decideMany`; handlers get it, counted in the policy metrics, as `decideMany` of
 * `makeEnforcement` / `makeHttpService`). Answers in input order.
 */
export type DecideMany = (
  inputs: readonly EnforceInput[],
  options?: {
    readonly alsoRecord?: readonly DecisionRecord[];
    /** The one tenant whose log keeps these decisions (`PolicyEnforcer.decideMany`'s `recordIn`). */
    readonly recordIn?: string;
    /**
     * False for answers given to other services (POST /policy/authorize): they are not this API's
     * refusals, so they stay out of `PolicyDecisions` and `PolicyDenied` (the deny-spike alarm).
     * @default true
     */
    readonly countInMetrics?: boolean;
  },
) => Promise<EnforcedDecision[]>;
