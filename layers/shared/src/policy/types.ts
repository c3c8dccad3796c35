import type { Role } from '../identity.js';

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
}
