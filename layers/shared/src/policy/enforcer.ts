import type { Logger } from '@aws-lambda-powertools/logger';
import { ForbiddenError, ServiceUnavailableError } from '../errors.js';
import type { EventPublisher } from '../events.js';
import type { Principal } from '../identity.js';
import type { Clock, IdGenerator } from '../ports.js';
import type { AuthzDecision, AuthzRequest, PolicyEngine } from './types.js';

/** Port: which tenants a live, approved, unexpired grant opens to this principal. */
export interface GrantLookup {
  grantedTenants(principal: Principal, targetTenant: string, at: Date): Promise<string[]>;
}

/** One logged decision: the input (no secrets: claims are reduced to subject, tenant and roles), result and timing. */
export interface DecisionRecord {
  readonly decisionId: string;
  /** The tenant whose partition holds this record (the resource's tenant). */
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

export interface EnforcerDeps {
  readonly engine: PolicyEngine;
  readonly grants: GrantLookup;
  readonly log: DecisionLog;
  readonly archive: DecisionArchive;
  readonly events?: EventPublisher | undefined;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly logger?: Logger | undefined;
  /** `acr` values that count as step-up, besides `amr` containing `mfa`. */
  readonly stepUpAcr?: readonly string[];
}

export interface EnforcedDecision extends AuthzDecision {
  readonly decisionId: string;
}

export interface EnforceInput {
  readonly principal: Principal;
  readonly action: string;
  readonly resource: { readonly tenantId: string; readonly kind: string; readonly id?: string | undefined };
  readonly traceId: string;
  readonly source?: 'route' | 'api';
}

/**
 * The policy enforcement point every endpoint passes through (via the kernel's HTTP app): builds the
 * request from verified claims, asks the engine, writes the decision to the hot log and hands it to
 * the archive (concurrently) before answering, emits `policy_denied` on a deny. Deny and engine
 * failure look the same to the caller: no access. If either write fails nothing is answered: the
 * request fails with 503 (back-pressure, never a decision that is not on record).
 */
export class PolicyEnforcer {
  constructor(private readonly deps: EnforcerDeps) {}

  get policyVersion(): string {
    return this.deps.engine.policyVersion;
  }

  hasStepUp(principal: Principal): boolean {
    return (
      principal.amr.includes('mfa') || principal.amr.some((value) => this.deps.stepUpAcr?.includes(value))
    );
  }

  /** Decides, logs and (on deny) announces; never throws for a deny: callers decide how to answer. */
  async decide(input: EnforceInput): Promise<EnforcedDecision> {
    const started = performance.now();
    const now = this.deps.clock.now();
    const crossTenant = input.resource.tenantId !== input.principal.tenantId;
    const grantedTenants = crossTenant
      ? await this.deps.grants
          .grantedTenants(input.principal, input.resource.tenantId, now)
          .catch((error: unknown) => {
            // No grant information is no grant: fail closed.
            this.deps.logger?.error('grant lookup failed; treating as no grant', error as Error);
            return [] as string[];
          })
      : [];
    const request: AuthzRequest = {
      principal: {
        subject: input.principal.subject,
        tenantId: input.principal.tenantId,
        roles: input.principal.roles,
      },
      action: input.action,
      resource: input.resource,
      context: { mfa: this.hasStepUp(input.principal), grantedTenants },
    };
    const decision = this.deps.engine.decide(request);
    const decisionId = this.deps.ids.next('dec');
    const latencyMs = Math.round((performance.now() - started) * 1000) / 1000;
    const record: DecisionRecord = {
      decisionId,
      tenantId: input.resource.tenantId,
      at: now.toISOString(),
      traceId: input.traceId,
      engine: this.deps.engine.name,
      policyVersion: decision.policyVersion,
      input: request,
      allow: decision.allow,
      obligations: decision.obligations,
      masks: decision.masks,
      reasons: decision.reasons,
      latencyMs,
      source: input.source ?? 'route',
      ...(decision.error ? { error: decision.error } : {}),
    };
    // The caller's own tenant keeps a copy too, so both sides of a cross-tenant attempt can audit it.
    const records = crossTenant ? [record, { ...record, tenantId: input.principal.tenantId }] : [record];
    try {
      await Promise.all([this.deps.log.record(records), this.deps.archive.append(records)]);
    } catch (error) {
      this.deps.logger?.error('policy decision not recorded; refusing to answer', {
        decisionId,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
      throw new ServiceUnavailableError(
        'The policy decision could not be recorded; retry later.',
        'decision_not_recorded',
      );
    }
    if (decision.error)
      this.deps.logger?.error('policy decision failed closed', { decisionId, reason: decision.error });
    if (!decision.allow) await this.#announceDenial(record);
    return { ...decision, decisionId };
  }

  /** Decides and throws the 403 a denied caller gets (with obligations, e.g. request_approval). */
  async enforce(input: EnforceInput): Promise<EnforcedDecision> {
    const decision = await this.decide(input);
    if (!decision.allow) {
      const crossTenant = input.resource.tenantId !== input.principal.tenantId;
      throw new ForbiddenError(
        crossTenant
          ? 'Access to another tenant needs an approved, unexpired grant.'
          : decision.obligations.includes('step_up')
            ? 'This operation needs step-up authentication (MFA).'
            : 'This operation is not allowed for your roles.',
        decision.obligations,
        'policy_denied',
      );
    }
    return decision;
  }

  async #announceDenial(record: DecisionRecord): Promise<void> {
    if (!this.deps.events) return;
    try {
      await this.deps.events.publish([
        {
          type: 'policy_denied',
          detail: {
            tenantId: record.tenantId,
            traceId: record.traceId,
            occurredAt: record.at,
            decisionId: record.decisionId,
            subject: record.input.principal.subject,
            action: record.input.action,
            resourceTenantId: record.input.resource.tenantId,
            obligations: [...record.obligations],
            policyVersion: record.policyVersion,
          },
        },
      ]);
    } catch (error) {
      // The decision itself is durable in the log; the event is telemetry and must not turn a 403 into a 500.
      this.deps.logger?.error('policy_denied event not published', error as Error);
    }
  }
}
