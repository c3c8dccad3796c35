import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '#shared/errors.js';
import type { Grant } from '#shared/ports/grants.js';
import type { Page } from '#shared/ports/records.js';
import type { Clock, IdGenerator } from '#shared/ports/system.js';

/** A request nobody approves lapses after a day (its `expiresAt`, also the DynamoDB TTL). */
export const PENDING_GRANT_LAPSE_SECONDS = 24 * 3600;
export const GRANT_DURATION_MINUTES = { min: 5, max: 1440 } as const;
export const GRANT_REASON_MAX_CHARS = 500;
/**
 * At most this many requests of one requester tenant wait, pending, in one target tenant: enough for
 * a team asking during an incident, few enough that no tenant can flood another's approvers (and
 * the grant partition every enforcement point reads) with requests.
 */
export const MAX_PENDING_GRANTS_PER_TENANT_PAIR = 20;

/** What the requester says when asking another tenant for access. */
export interface GrantRequestInput {
  readonly reason: string;
  readonly durationMinutes: number;
}

/** Who acts on a grant: the verified caller, never a body field. */
export interface GrantActor {
  readonly subject: string;
  readonly tenantId: string;
}

/** Port: where grants are kept. Writes are conditional (create on absence, replace on version). */
export interface GrantRepository {
  create(grant: Grant): Promise<void>;
  get(tenantId: string, id: string): Promise<Grant | undefined>;
  list(tenantId: string, options: { limit: number; cursor?: string | undefined }): Promise<Page<Grant>>;
  /**
   * Throws a ConflictError (`version_conflict`) when the stored version is not `expectedVersion`.
   * Storing an approved grant also makes it findable by the enforcement points' grant lookup (a
   * failure to do so stores nothing); storing a revoked one stops that, best effort, since the lookup
   * checks the grant itself and a revoked grant opens nothing either way.
   */
  replace(grant: Grant, expectedVersion: number): Promise<void>;
}

/**
 * Port: the places of pending requests, counted per requester tenant and target tenant without
 * reading the target's grants. A place is held from the request until the target tenant answers it
 * (approves or revokes: released) or it lapses (the grant's pending `expiresAt`); claims are atomic,
 * so concurrent requests never hold more than `limit` places between them.
 */
export interface PendingGrantSlots {
  /** Takes a free place for the pending `grant`, until its `expiresAt`; false when all `limit` are held. */
  claim(grant: Grant, limit: number, now: Date): Promise<boolean>;
  /** Frees the place `grant` holds; nothing when it holds none. */
  release(grant: Grant): Promise<void>;
}

export interface GrantServiceDeps {
  readonly repository: GrantRepository;
  readonly pending: PendingGrantSlots;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** @default PENDING_GRANT_LAPSE_SECONDS */
  readonly pendingLapseSeconds?: number;
  /** @default MAX_PENDING_GRANTS_PER_TENANT_PAIR */
  readonly maxPendingPerTenantPair?: number;
}

const epochSeconds = (at: Date): number => Math.floor(at.getTime() / 1000);

/** How often a revoke re-reads and retries when a concurrent write (an approval) got in first. */
const REVOKE_ATTEMPTS = 3;

/** What an outsider gets for a grant it may not touch: the answer for a missing one. */
const grantNotFound = (id: string): NotFoundError =>
  new NotFoundError(`Grant ${id} not found.`, 'grant_not_found');

/**
 * The lifecycle of a cross-tenant grant: requested by a subject of one tenant into the target
 * tenant's partition (`pending`, lapsing after a day; at most `maxPendingPerTenantPair` of one
 * requester tenant unanswered at a time), approved once by someone else of the target tenant (`approved`, live
 * for `durationMinutes` from approval), or revoked at any time (`revoked`) by the target tenant or
 * withdrawn by its requester. Every change is a conditional replace on the version read, so two
 * approvers or an approval racing a revoke never lose an update.
 */
export class GrantService {
  readonly #lapseSeconds: number;
  readonly #maxPending: number;

  constructor(private readonly deps: GrantServiceDeps) {
    this.#lapseSeconds = deps.pendingLapseSeconds ?? PENDING_GRANT_LAPSE_SECONDS;
    this.#maxPending = deps.maxPendingPerTenantPair ?? MAX_PENDING_GRANTS_PER_TENANT_PAIR;
  }

  /** `targetTenant` is the tenant the request acts in (X-Conductor-Tenant); it must not be the requester's own. */
  async request(targetTenant: string, requester: GrantActor, input: GrantRequestInput): Promise<Grant> {
    if (targetTenant === requester.tenantId) {
      throw new ValidationError(
        'Name the tenant you ask for access in the X-Conductor-Tenant header; it must not be your own tenant.',
        [{ path: 'headers.x-conductor-tenant', message: 'required, and not the caller’s own tenant' }],
        'grant_target_required',
      );
    }
    const now = this.deps.clock.now();
    const at = now.toISOString();
    const grant: Grant = {
      tenantId: targetTenant,
      id: this.deps.ids.next('grt'),
      version: 1,
      createdAt: at,
      updatedAt: at,
      requesterSubject: requester.subject,
      requesterTenant: requester.tenantId,
      reason: input.reason,
      durationMinutes: input.durationMinutes,
      status: 'pending',
      expiresAt: epochSeconds(now) + this.#lapseSeconds,
    };
    if (!(await this.deps.pending.claim(grant, this.#maxPending, now))) {
      throw new ConflictError(
        `Tenant ${requester.tenantId} already has ${this.#maxPending} pending requests for access to tenant ${targetTenant}: ` +
          `wait until ${targetTenant} approves or turns one down, or one lapses (a day after it was asked; a withdrawn request counts until then).`,
        'too_many_pending_grants',
      );
    }
    try {
      await this.deps.repository.create(grant);
    } catch (error) {
      await this.#release(grant);
      throw error;
    }
    return grant;
  }

  async get(tenantId: string, id: string): Promise<Grant> {
    const grant = await this.deps.repository.get(tenantId, id);
    // Another tenant's grant is indistinguishable from a missing one.
    if (!grant) throw grantNotFound(id);
    return grant;
  }

  list(tenantId: string, options: { limit: number; cursor?: string | undefined }): Promise<Page<Grant>> {
    return this.deps.repository.list(tenantId, options);
  }

  /**
   * Approves a pending, unlapsed grant. The approver must belong to the grant's tenant (a subject
   * let in by a grant of its own cannot open the tenant to others) and must not be the requester.
   */
  async approve(tenantId: string, id: string, approver: GrantActor): Promise<Grant> {
    const grant = await this.get(tenantId, id);
    if (approver.tenantId !== grant.tenantId) {
      throw new ForbiddenError(
        'Only members of the tenant a grant opens may approve it.',
        [],
        'approver_not_of_tenant',
      );
    }
    if (approver.subject === grant.requesterSubject) {
      throw new ForbiddenError(
        'The requester of a grant cannot approve it; another admin of the tenant must.',
        [],
        'approver_is_requester',
      );
    }
    if (grant.status !== 'pending') {
      throw new ConflictError(
        `Grant ${id} is ${grant.status}; only pending grants can be approved.`,
        'grant_not_pending',
      );
    }
    const now = this.deps.clock.now();
    if (grant.expiresAt <= epochSeconds(now)) {
      throw new ConflictError(`Grant ${id} lapsed unapproved; request a new one.`, 'grant_lapsed');
    }
    const approved: Grant = {
      ...grant,
      status: 'approved',
      approvedBy: approver.subject,
      approvedAt: now.toISOString(),
      expiresAt: epochSeconds(now) + grant.durationMinutes * 60,
      version: grant.version + 1,
      updatedAt: now.toISOString(),
    };
    await this.deps.repository.replace(approved, grant.version);
    await this.#release(grant);
    return approved;
  }

  /**
   * Revokes a grant in any state; revoking a revoked grant answers it unchanged (idempotent). Members
   * of the grant's tenant may revoke, and so may the requester, from its own tenant (withdrawing a
   * pending request, or giving access back); to anyone else of another tenant the grant is missing
   * (404), so its id confirms nothing. A revoke never loses to a concurrent approval: on a version
   * conflict it re-reads and tries again.
   */
  async revoke(tenantId: string, id: string, revoker: GrantActor): Promise<Grant> {
    for (let attempt = 1; ; attempt += 1) {
      const grant = await this.get(tenantId, id);
      const isRequester =
        revoker.subject === grant.requesterSubject && revoker.tenantId === grant.requesterTenant;
      if (revoker.tenantId !== grant.tenantId && !isRequester) throw grantNotFound(id);
      if (grant.status === 'revoked') return grant;
      const at = this.deps.clock.now().toISOString();
      const revoked: Grant = {
        ...grant,
        status: 'revoked',
        revokedBy: revoker.subject,
        revokedAt: at,
        version: grant.version + 1,
        updatedAt: at,
      };
      try {
        await this.deps.repository.replace(revoked, grant.version);
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= REVOKE_ATTEMPTS) throw error;
        continue;
      }
      // A request the target turns down frees its place; one its requester withdraws keeps it until
      // it would have lapsed, so withdrawing and asking again cannot pile up records in the target.
      if (grant.status === 'pending' && revoker.tenantId === grant.tenantId) await this.#release(grant);
      return revoked;
    }
  }

  /**
   * Gives back the place of a request that stopped pending. Best effort: the grant's own change is
   * already stored, and a place not given back frees itself when the request would have lapsed.
   */
  async #release(grant: Grant): Promise<void> {
    try {
      await this.deps.pending.release(grant);
    } catch {
      // Held at most until the grant's pending expiresAt; nothing else depends on it.
    }
  }
}
