import { ConflictError, NotFoundError, UnprocessableError } from '#shared/errors.js';
import type { Page, TenantRecords } from '#shared/ports/records.js';
import type { Clock, IdGenerator } from '#shared/ports/system.js';

export const EXPERT_TYPES = ['model', 'agent', 'tool'] as const;
export type ExpertType = (typeof EXPERT_TYPES)[number];
export type MetadataValue = string | number | boolean;

/** What a client may set on an expert. */
export interface ExpertInput {
  readonly name: string;
  readonly type: ExpertType;
  readonly costPerCallUsd: number;
  readonly endpoint: string;
  readonly metadata: Readonly<Record<string, MetadataValue>>;
  readonly enabled: boolean;
}

/**
 * What an operator or a monitoring system last said about an expert's health (PUT
 * experts/{id}/health). An unhealthy expert is removed from routes with reason `unhealthy` until it
 * is marked healthy again or `until` passes.
 */
export interface ExpertHealth {
  readonly status: 'healthy' | 'unhealthy';
  readonly reason?: string;
  readonly setAt: string;
  readonly setBy: string;
  /** When an `unhealthy` mark lapses on its own (absent: until marked healthy). */
  readonly until?: string;
}

export interface ExpertHealthInput {
  readonly status: ExpertHealth['status'];
  readonly reason?: string | undefined;
  /** For `unhealthy`: lapse after this many seconds. */
  readonly ttlSeconds?: number | undefined;
}

/** A routing candidate: an expert backend of one tenant. Server-owned fields are never client input. */
export interface Expert extends ExpertInput {
  readonly tenantId: string;
  readonly id: string;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly health?: ExpertHealth;
}

/** Whether an expert is marked unhealthy at `now` (a lapsed mark counts as healthy). */
export const isUnhealthy = (expert: Pick<Expert, 'health'>, now: Date): boolean =>
  expert.health?.status === 'unhealthy' &&
  (expert.health.until === undefined || new Date(expert.health.until).getTime() > now.getTime());

/** Port: where experts are kept. Writes are conditional (create on absence, replace on version). */
export type ExpertRepository = TenantRecords<Expert>;

/** Port: may Conductor call this endpoint? (refuses private and metadata addresses) */
export type EndpointPolicy = (url: string) => { ok: true } | { ok: false; code: string; reason: string };

export interface ExpertServiceDeps {
  readonly repository: ExpertRepository;
  readonly endpointPolicy: EndpointPolicy;
  readonly clock: Clock;
  readonly ids: IdGenerator;
}

/**
 * How often a write without If-Match re-reads and writes again after losing to a concurrent write
 * (last writer wins). With If-Match the caller asked for a specific version: a conflict is its 409.
 */
export const LAST_WRITER_ATTEMPTS = 10;

export class ExpertService {
  constructor(private readonly deps: ExpertServiceDeps) {}

  #checkEndpoint(endpoint: string): void {
    const verdict = this.deps.endpointPolicy(endpoint);
    if (!verdict.ok) throw new UnprocessableError(verdict.reason, verdict.code);
  }

  async create(tenantId: string, input: ExpertInput): Promise<Expert> {
    this.#checkEndpoint(input.endpoint);
    const now = this.deps.clock.now().toISOString();
    const expert: Expert = {
      ...input,
      tenantId,
      id: this.deps.ids.next('exp'),
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    await this.deps.repository.create(expert);
    return expert;
  }

  async get(tenantId: string, id: string): Promise<Expert> {
    const expert = await this.deps.repository.get(tenantId, id);
    // Another tenant's expert is indistinguishable from a missing one.
    if (!expert) throw new NotFoundError(`Expert ${id} not found.`, 'expert_not_found');
    return expert;
  }

  list(tenantId: string, options: { limit: number; cursor?: string | undefined }): Promise<Page<Expert>> {
    return this.deps.repository.list(tenantId, options);
  }

  /**
   * Full replacement of the client-owned fields; `expectedVersion` (If-Match) guards lost updates.
   * Without it the last writer wins: a write that loses to a concurrent one re-reads and writes again.
   */
  async update(tenantId: string, id: string, input: ExpertInput, expectedVersion?: number): Promise<Expert> {
    this.#checkEndpoint(input.endpoint);
    return this.#replace(tenantId, id, expectedVersion, (current) => ({
      ...input,
      tenantId: current.tenantId,
      id: current.id,
      createdAt: current.createdAt,
      version: current.version,
      updatedAt: this.deps.clock.now().toISOString(),
      ...(current.health ? { health: current.health } : {}),
    }));
  }

  /** Marks an expert healthy or unhealthy (a server-owned field: nothing else of the expert changes). */
  async setHealth(
    tenantId: string,
    id: string,
    input: ExpertHealthInput,
    setBy: string,
    expectedVersion?: number,
  ): Promise<Expert> {
    return this.#replace(tenantId, id, expectedVersion, (current) => {
      const now = this.deps.clock.now();
      const health: ExpertHealth = {
        status: input.status,
        ...(input.reason === undefined ? {} : { reason: input.reason }),
        setAt: now.toISOString(),
        setBy,
        ...(input.status === 'unhealthy' && input.ttlSeconds !== undefined
          ? { until: new Date(now.getTime() + input.ttlSeconds * 1000).toISOString() }
          : {}),
      };
      return { ...current, health, updatedAt: now.toISOString() };
    });
  }

  /**
   * Writes `change(current)` as the next version. With `expectedVersion` the write is conditional on
   * it (a 409 when it is no longer current); without, a lost race re-reads and writes again, at most
   * LAST_WRITER_ATTEMPTS times.
   */
  async #replace(
    tenantId: string,
    id: string,
    expectedVersion: number | undefined,
    change: (current: Expert) => Expert,
  ): Promise<Expert> {
    for (let attempt = 1; ; attempt += 1) {
      const current = await this.get(tenantId, id);
      const base = expectedVersion ?? current.version;
      const next: Expert = { ...change(current), version: base + 1 };
      try {
        await this.deps.repository.replace(next, base);
        return next;
      } catch (error) {
        const retry =
          error instanceof ConflictError && expectedVersion === undefined && attempt < LAST_WRITER_ATTEMPTS;
        if (!retry) throw error;
      }
    }
  }

  async remove(tenantId: string, id: string, expectedVersion?: number): Promise<void> {
    const deleted = await this.deps.repository.delete(tenantId, id, expectedVersion);
    if (!deleted) throw new NotFoundError(`Expert ${id} not found.`, 'expert_not_found');
  }
}
