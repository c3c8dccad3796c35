import type { Logger } from '@aws-lambda-powertools/logger';
import { ForbiddenError, ServiceUnavailableError } from '../errors.js';
import { type EventPublisher, eventOf } from '../ports/events.js';
import type { Principal } from '../ports/identity.js';
import type {
  AuthzDecision,
  AuthzRequest,
  DecisionArchive,
  DecisionLog,
  DecisionRecord,
  EnforcedDecision,
  EnforceInput,
  GrantLookup,
  PolicyEngine,
} from '../ports/policy.js';
import type { Clock, IdGenerator } from '../ports/system.js';
import { policyDenied } from './events.js';

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
  /**
   * The issuer itself requires MFA at every sign-in (the Cognito user pool the CDK app creates
   * does), so every token it signed counts as stepped up, whatever claims it carries.
   */
  readonly issuerEnforcesMfa?: boolean;
  /**
   * How long after the person's sign-in (`auth_time`) a token still counts as stepped up (default
   * STEP_UP_MAX_AGE_SECONDS). A token without `auth_time` never counts.
   */
  readonly stepUpMaxAgeSeconds?: number;
}

/** Step-up lasts an hour after the sign-in that did it: a token refreshed later is not a fresh step-up. */
export const STEP_UP_MAX_AGE_SECONDS = 3600;

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

  /**
   * Stepped up: authenticated with MFA (the issuer enforces it, `amr` has `mfa`, or a configured
   * `acr`) AND recently: `auth_time` at most `stepUpMaxAgeSeconds` ago (and not in the future,
   * beyond a minute of clock skew).
   */
  hasStepUp(principal: Principal): boolean {
    const method =
      this.deps.issuerEnforcesMfa === true ||
      principal.amr.includes('mfa') ||
      (principal.acr !== undefined && this.deps.stepUpAcr?.includes(principal.acr) === true);
    if (!method || principal.authTime === undefined) return false;
    const age = this.deps.clock.now().getTime() / 1000 - principal.authTime;
    return age >= -60 && age <= (this.deps.stepUpMaxAgeSeconds ?? STEP_UP_MAX_AGE_SECONDS);
  }

  /** Decides, logs and (on deny) announces; never throws for a deny: callers decide how to answer. */
  async decide(input: EnforceInput): Promise<EnforcedDecision> {
    const [decision] = await this.decideMany([input]);
    if (!decision) throw new Error('decideMany answered no decision for one input');
    return decision;
  }

  /**
   * Decides every input as `decide` does (a live-grant lookup for each cross-tenant one, failing
   * closed), then records them all at once: ONE `log.record` and ONE `archive.append` with every
   * record (both tenants' copies of a cross-tenant attempt, or each decision once in `recordIn`),
   * run concurrently. If either fails, nothing is answered: 503 `decision_not_recorded`, and no
   * denial is announced. Denials are then announced in one `policy_denied` publish (its failure is
   * only logged). Answers in input order; no input, no write.
   */
  async decideMany(
    inputs: readonly EnforceInput[],
    options: {
      readonly alsoRecord?: readonly DecisionRecord[];
      /**
       * The one tenant whose log, archive and `policy_denied` events keep these decisions, instead
       * of the resource's tenant (and the principal's on a cross-tenant attempt). For questions
       * asked through the API (POST /policy/authorize), whose body names subject and resource: only
       * the tenant the asker acts in, which the route's own policy check admitted it to, may
       * receive them; otherwise anyone could write into any tenant's log.
       */
      readonly recordIn?: string;
    } = {},
  ): Promise<EnforcedDecision[]> {
    const carried = options.alsoRecord ?? [];
    if (inputs.length === 0 && carried.length === 0) return [];
    const decided = await this.#evaluate(inputs, options.recordIn);
    await this.commit([...carried, ...decided.flatMap(({ copies }) => copies)]);
    return this.#answer(decided);
  }

  /**
   * Route-level enforcement whose record may wait: the decision is made now; a deny is recorded,
   * announced and thrown at once (403, as `enforce`), while an allow's records are handed back
   * unwritten, for the caller to `commit` — alone, or with a later batch (`decideMany`'s
   * `alsoRecord`) — before anything is answered.
   */
  async enforceDeferred(
    input: EnforceInput,
  ): Promise<{ readonly decision: EnforcedDecision; readonly pending: readonly DecisionRecord[] }> {
    const decided = await this.#evaluate([input]);
    const [one] = decided;
    if (!one) throw new Error('no decision for one input');
    if (!one.decision.allow) {
      await this.commit(one.copies);
      const [denied] = await this.#answer(decided);
      throw this.#refusal(input, denied ?? { ...one.decision, decisionId: one.record.decisionId });
    }
    return { decision: { ...one.decision, decisionId: one.record.decisionId }, pending: one.copies };
  }

  /**
   * Writes records to the hot log and the archive, concurrently; if either fails nothing may be
   * answered: 503 `decision_not_recorded`.
   */
  async commit(records: readonly DecisionRecord[]): Promise<void> {
    if (records.length === 0) return;
    try {
      await Promise.all([this.deps.log.record(records), this.deps.archive.append(records)]);
    } catch (error) {
      const decisionIds = [...new Set(records.map((record) => record.decisionId))];
      this.deps.logger?.error('policy decision not recorded; refusing to answer', {
        ...(decisionIds.length === 1 ? { decisionId: decisionIds[0] } : { decisionIds }),
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
      throw new ServiceUnavailableError(
        'The policy decision could not be recorded; retry later.',
        'decision_not_recorded',
      );
    }
  }

  /** Every input decided (grant lookups shared within the batch), nothing written yet. */
  async #evaluate(inputs: readonly EnforceInput[], recordIn?: string) {
    const started = performance.now();
    const now = this.deps.clock.now();
    const lookups = new Map<string, Promise<string[]>>();
    return Promise.all(inputs.map((input) => this.#decideOne(input, now, started, lookups, recordIn)));
  }

  /** After the records are durable: log engine failures, announce denials, answer in input order. */
  async #answer(
    decided: readonly { decision: AuthzDecision; record: DecisionRecord }[],
  ): Promise<EnforcedDecision[]> {
    for (const { record, decision } of decided)
      if (decision.error)
        this.deps.logger?.error('policy decision failed closed', {
          decisionId: record.decisionId,
          reason: decision.error,
        });
    const answers = decided.map(({ record, decision }) => ({ ...decision, decisionId: record.decisionId }));
    const denied = decided.filter(({ decision }) => !decision.allow).map(({ record }) => record);
    if (denied.length > 0) await this.#announceDenials(denied);
    return answers;
  }

  /**
   * One input: its grants (cross-tenant only; one lookup per principal and target tenant in a
   * batch), the engine's answer and the records to keep: the resource tenant's, and on a
   * cross-tenant attempt the caller's own tenant's copy too, so both sides can audit it; or, with
   * `recordIn`, that tenant's only.
   */
  async #decideOne(
    input: EnforceInput,
    now: Date,
    started: number,
    lookups: Map<string, Promise<string[]>>,
    recordIn?: string,
  ): Promise<{ decision: AuthzDecision; record: DecisionRecord; copies: DecisionRecord[] }> {
    const crossTenant = input.resource.tenantId !== input.principal.tenantId;
    const grantedTenants = crossTenant ? await this.#grantedTenants(input, now, lookups) : [];
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
      tenantId: recordIn ?? input.resource.tenantId,
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
    const copies =
      crossTenant && recordIn === undefined
        ? [record, { ...record, tenantId: input.principal.tenantId }]
        : [record];
    return { decision, record, copies };
  }

  /** The live grants of a cross-tenant input; no grant information is no grant (fail closed). */
  #grantedTenants(
    input: EnforceInput,
    now: Date,
    lookups: Map<string, Promise<string[]>>,
  ): Promise<string[]> {
    const { principal } = input;
    const key = JSON.stringify([
      principal.subject,
      principal.tenantId,
      [...principal.roles],
      [...principal.amr],
      input.resource.tenantId,
    ]);
    let lookup = lookups.get(key);
    if (!lookup) {
      lookup = this.deps.grants
        .grantedTenants(principal, input.resource.tenantId, now)
        .catch((error: unknown) => {
          this.deps.logger?.error('grant lookup failed; treating as no grant', error as Error);
          return [] as string[];
        });
      lookups.set(key, lookup);
    }
    return lookup;
  }

  /** Decides and throws the 403 a denied caller gets (with obligations, e.g. request_approval). */
  async enforce(input: EnforceInput): Promise<EnforcedDecision> {
    const decision = await this.decide(input);
    if (!decision.allow) throw this.#refusal(input, decision);
    return decision;
  }

  /**
   * The 403 a denied caller gets, with the decision's obligations. `step_up` is only passed on when
   * MFA would be enough: a caller whose roles do not allow the action is not sent to sign in again
   * for nothing (the decision log keeps the engine's obligations as they were).
   */
  #refusal(input: EnforceInput, decision: EnforcedDecision): ForbiddenError {
    const crossTenant = input.resource.tenantId !== input.principal.tenantId;
    if (crossTenant)
      return new ForbiddenError(
        'Access to another tenant needs an approved, unexpired grant.',
        decision.obligations,
        'policy_denied',
      );
    if (!decision.obligations.includes('step_up'))
      return new ForbiddenError(
        'This operation is not allowed for your roles.',
        decision.obligations,
        'policy_denied',
      );
    if (this.#allowedWithStepUp(input))
      return new ForbiddenError(
        'This operation needs step-up authentication (MFA).',
        decision.obligations,
        'policy_denied',
      );
    return new ForbiddenError(
      'This operation is not allowed for your roles (signing in with MFA would not change that).',
      decision.obligations.filter((obligation) => obligation !== 'step_up'),
      'policy_denied',
    );
  }

  /** Whether the same own-tenant request, stepped up, would be allowed (asked, never recorded). */
  #allowedWithStepUp(input: EnforceInput): boolean {
    const { principal } = input;
    return this.deps.engine.decide({
      principal: { subject: principal.subject, tenantId: principal.tenantId, roles: principal.roles },
      action: input.action,
      resource: input.resource,
      context: { mfa: true, grantedTenants: [] },
    }).allow;
  }

  /** One `policy_denied` event per denied decision, published together; a failed publish is only logged. */
  async #announceDenials(records: readonly DecisionRecord[]): Promise<void> {
    if (!this.deps.events) return;
    try {
      await this.deps.events.publish(
        records.map((record) =>
          eventOf(policyDenied, {
            tenantId: record.tenantId,
            traceId: record.traceId,
            occurredAt: record.at,
            decisionId: record.decisionId,
            subject: record.input.principal.subject,
            action: record.input.action,
            resourceTenantId: record.input.resource.tenantId,
            obligations: [...record.obligations],
            policyVersion: record.policyVersion,
          }),
        ),
      );
    } catch (error) {
      // The decisions themselves are durable in the log; the events are telemetry and must not turn a 403 into a 500.
      this.deps.logger?.error('policy_denied event not published', error as Error);
    }
  }
}
