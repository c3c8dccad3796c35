import { ForbiddenError, ValidationError } from '#shared/errors.js';
import { type Principal, type Role, roleSchema } from '#shared/ports/identity.js';
import type { EnforcedDecision, EnforceInput, ResourceRef } from '#shared/ports/policy.js';

/** Like Verified Permissions' BatchIsAuthorized: at most this many questions per batch. */
export const MAX_BATCH_REQUESTS = 30;

/** One question another service asks: may this subject perform this action on this resource? */
export interface AuthorizeQuestion {
  readonly subject: { readonly id: string; readonly tenantId: string; readonly roles: readonly string[] };
  readonly action: string;
  readonly resource: ResourceRef;
  readonly context: { readonly mfa: boolean };
}

/** The answer: a deny is an answer too (200), with the obligations that would change it. */
export interface AuthorizeAnswer {
  readonly allow: boolean;
  readonly obligations: string[];
  readonly decisionId: string;
  readonly policyVersion: string;
  readonly reasons: string[];
}

/** Who asks, as the kernel established it: the verified principal and the tenant the request acts in. */
export interface Asker {
  readonly principal: Principal;
  readonly tenantId: string;
  readonly traceId: string;
  /**
   * The request's own `Decide`, where the kernel hands one over (the route's deferred record then
   * goes out with the answers: one write); the service's otherwise.
   */
  readonly decide?: Decide | undefined;
}

/**
 * Port: the policy enforcement point's decideMany (answers in input order; logs every decision —
 * one decision-log write and one archive hand-off per call — and looks up live grants itself),
 * keeping every decision of the call in the log of `recordIn` only.
 */
export type Decide = (call: {
  readonly inputs: readonly EnforceInput[];
  readonly recordIn: string;
}) => Promise<EnforcedDecision[]>;

export interface AuthorizeServiceDeps {
  readonly decide: Decide;
  /** Actions a request may name: the Cedar schema's actions that apply to principals and resources. */
  readonly declaredActions: ReadonlySet<string>;
}

const isRole = (name: string): name is Role => roleSchema.safeParse(name).success;

/**
 * The decision service for other services (`POST /policy/authorize`). A caller asks about subjects
 * and resources of the tenant it acts in, or about a subject of its own tenant touching any tenant
 * (that is how "may this user of ours read that tenant's expert?" is asked). It never asks on behalf
 * of a third tenant's users. Questions are checked before any is decided, so a refused batch logs
 * nothing. Every answer is logged (hot log, archive, `policy_denied`) in the tenant the asker acts
 * in, and only there: the body names subject and resource, so a decision about another tenant's
 * resource must not land in that tenant's log, where the asker could write anything it likes.
 */
export class AuthorizeService {
  constructor(private readonly deps: AuthorizeServiceDeps) {}

  /** Refuses a question the asker may not ask (403) or that names an undeclared action (400). */
  check(asker: Asker, question: AuthorizeQuestion, where = 'body'): void {
    if (!this.deps.declaredActions.has(question.action)) {
      throw new ValidationError(
        `Unknown action '${question.action}': the Cedar schema declares no such action for requests (see the x-conductor-action of each operation in the OpenAPI document).`,
        [{ path: `${where}.action`, message: 'not an action of the schema' }],
        'unknown_action',
      );
    }
    const own = asker.principal.tenantId;
    const subjectTenant = question.subject.tenantId;
    const actingFor = subjectTenant === own || subjectTenant === asker.tenantId;
    // A subject of the acting (granted) tenant may only be asked about inside that tenant.
    const confined = subjectTenant === own || question.resource.tenantId === asker.tenantId;
    if (!actingFor || !confined) {
      throw new ForbiddenError(
        `${where === 'body' ? '' : `${where}: `}You may not ask about subjects of tenant ${subjectTenant}: only about your own tenant's subjects, or subjects and resources of the tenant you act in.`,
        [],
        'policy_denied',
      );
    }
  }

  async authorize(asker: Asker, question: AuthorizeQuestion): Promise<AuthorizeAnswer> {
    this.check(asker, question);
    const [answer] = await this.#decide(asker, [question]);
    if (!answer) throw new Error('the policy enforcement point answered no decision');
    return answer;
  }

  /** Answers in order; any refused question refuses the whole batch before anything is decided. */
  async authorizeBatch(asker: Asker, questions: readonly AuthorizeQuestion[]): Promise<AuthorizeAnswer[]> {
    if (questions.length > MAX_BATCH_REQUESTS) {
      throw new ValidationError(
        `A batch holds at most ${MAX_BATCH_REQUESTS} requests; got ${questions.length}.`,
        [{ path: 'body.requests', message: `at most ${MAX_BATCH_REQUESTS}` }],
        'batch_too_large',
      );
    }
    questions.forEach((question, index) => {
      this.check(asker, question, `body.requests.${index}`);
    });
    return this.#decide(asker, questions);
  }

  /**
   * All questions in one decideMany: one decision-log write and one archive message for the batch,
   * in the asker's (acting) tenant.
   */
  async #decide(asker: Asker, questions: readonly AuthorizeQuestion[]): Promise<AuthorizeAnswer[]> {
    const decide = asker.decide ?? this.deps.decide;
    const decisions = await decide({
      inputs: questions.map((question) => this.#input(asker, question)),
      recordIn: asker.tenantId,
    });
    return decisions.map((decision) => this.#answer(decision));
  }

  #input(asker: Asker, question: AuthorizeQuestion): EnforceInput {
    return {
      principal: {
        subject: question.subject.id,
        tenantId: question.subject.tenantId,
        // Unknown role names are dropped, not trusted, exactly as for token claims.
        roles: question.subject.roles.filter(isRole),
        amr: question.context.mfa ? ['mfa'] : [],
      },
      action: question.action,
      resource: question.resource,
      traceId: asker.traceId,
      source: 'api',
    };
  }

  #answer(decision: EnforcedDecision): AuthorizeAnswer {
    return {
      allow: decision.allow,
      obligations: [...decision.obligations],
      decisionId: decision.decisionId,
      policyVersion: decision.policyVersion,
      reasons: [...decision.reasons],
    };
  }
}
