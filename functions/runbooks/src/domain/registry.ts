import { AppError, ConflictError, NotFoundError } from '#shared/errors.js';
import { canonicalJson } from '#shared/ports/canonical-json.js';
import { type EventPublisher, eventOf } from '#shared/ports/events.js';
import type { Page, TenantRecord, TenantRecords } from '#shared/ports/records.js';
import type { Clock } from '#shared/ports/system.js';
import { unsignedRunbook } from '../../events.js';
import { parseRunbookValue, type Runbook, type RunbookAllowLists } from './runbook.js';
import { type PublicKeys, type RunbookSignature, verifyRunbook } from './signing.js';

/**
 * The runbook registry: signed runbook versions per tenant. Publishing verifies the signature
 * against the trusted keys before anything is stored (a refusal is an `unsigned_runbook` event: an
 * attempt to publish what its signer did not sign). A version never changes: the same version with
 * the same content again changes nothing, other content is a 409. The runbook record names the
 * latest version; each version record holds the runbook (its canonical JSON, as signed) and its
 * signature. `verifyStored` checks a stored version again (before a run) and quarantines it when it
 * no longer matches.
 */

/** `revoked`: withdrawn by an administrator; it never runs and its content cannot be published again. */
export type RunbookStatus = 'active' | 'quarantined' | 'revoked';

/** The latest version of a runbook, for the registry's list. */
export interface RunbookRecord extends TenantRecord {
  readonly latestVersion: number;
  readonly description: string;
  readonly digest: string;
  readonly status: RunbookStatus;
  readonly privilegedSteps: number;
  readonly approvalStages: readonly string[];
  readonly publishedAt: string;
  readonly publishedBy: string;
}

/** One version (`<runbookId>@<version, 10 digits>`, so ids sort by version). */
export interface RunbookVersionRecord extends TenantRecord {
  readonly runbookId: string;
  readonly runbookVersion: number;
  /** The runbook's canonical JSON: exactly what was signed. */
  readonly document: string;
  readonly digest: string;
  readonly signature: RunbookSignature;
  readonly status: RunbookStatus;
  readonly quarantinedAt?: string;
  readonly revokedAt?: string;
  readonly revokedBy?: string;
  readonly revokeReason?: string;
  readonly quarantineReason?: string;
  readonly publishedAt: string;
  readonly publishedBy: string;
}

export interface RegistryDeps {
  readonly runbooks: TenantRecords<RunbookRecord>;
  readonly versions: TenantRecords<RunbookVersionRecord>;
  readonly keys: PublicKeys;
  /** BYOK: a tenant's own keys, trusted for that tenant's runbooks besides `keys`. */
  readonly tenantKeys?: { keysFor(tenantId: string): PublicKeys };
  readonly events: EventPublisher;
  readonly clock: Clock;
  readonly allowLists?: RunbookAllowLists;
  readonly onPublishError?: (error: unknown, runbookId: string) => void;
  /** Told of every refusal and quarantine (the UnsignedRunbook metric its alarm watches). */
  readonly onUnsigned?: (tenantId: string, runbookId: string, reason: string) => void;
}

export const versionRecordId = (runbookId: string, version: number): string =>
  `${runbookId}@${String(version).padStart(10, '0')}`;

/** The runbook a version record holds, parsed back (it was valid when published). */
export const runbookOf = (record: RunbookVersionRecord): Runbook => JSON.parse(record.document) as Runbook;

export class RunbookRegistry {
  constructor(private readonly deps: RegistryDeps) {}

  #keysFor(tenantId: string): PublicKeys {
    return this.deps.tenantKeys?.keysFor(tenantId) ?? this.deps.keys;
  }

  /** POST runbooks/registry: verified, then stored; `created` false when this version was there already. */
  async publish(
    tenantId: string,
    body: { readonly runbook: unknown; readonly signature: RunbookSignature },
    actor: string,
    traceId: string,
  ): Promise<{ version: RunbookVersionRecord; created: boolean }> {
    const runbook = parseRunbookValue(body.runbook, 'runbook', this.deps.allowLists);
    const verified = await verifyRunbook(runbook, body.signature, this.#keysFor(tenantId));
    if (!verified.ok) {
      await this.#unsigned(tenantId, traceId, runbook, 'publish', verified.reason);
      throw new AppError(
        422,
        'signature_invalid',
        `The signature does not hold for runbook ${runbook.id} version ${runbook.version}: ${verified.reason}. Sign exactly this runbook with a trusted key (conductor runbook sign).`,
        { details: { reason: verified.reason } },
      );
    }
    const now = this.deps.clock.now().toISOString();
    const id = versionRecordId(runbook.id, runbook.version);
    const record: RunbookVersionRecord = {
      tenantId,
      id,
      version: 1,
      createdAt: now,
      updatedAt: now,
      runbookId: runbook.id,
      runbookVersion: runbook.version,
      document: canonicalJson(runbook),
      digest: body.signature.digest,
      signature: body.signature,
      status: 'active',
      publishedAt: now,
      publishedBy: actor,
    };
    let created = true;
    try {
      await this.deps.versions.create(record);
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      created = false;
    }
    const stored = created ? record : await this.deps.versions.get(tenantId, id);
    if (!stored) throw new Error(`runbook version ${id} was taken and is gone`);
    if (stored.status === 'revoked') {
      throw new ConflictError(
        `Runbook ${runbook.id} version ${runbook.version} was revoked${stored.revokeReason ? ` (${stored.revokeReason})` : ''}: it cannot be published again. Publish a new version.`,
        'runbook_version_revoked',
      );
    }
    if (stored.digest !== record.digest) {
      throw new ConflictError(
        `Runbook ${runbook.id} version ${runbook.version} is published with other content; a version never changes: publish this one as a new version.`,
        'runbook_version_exists',
      );
    }
    await this.#advanceLatest(tenantId, runbook, stored);
    return { version: stored, created };
  }

  /** The runbook record points at the highest version published (concurrent publishers: the higher wins). */
  async #advanceLatest(tenantId: string, runbook: Runbook, stored: RunbookVersionRecord): Promise<void> {
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      const latest = await this.deps.runbooks.get(tenantId, runbook.id);
      if (latest && latest.latestVersion >= runbook.version) return;
      const record: RunbookRecord = {
        tenantId,
        id: runbook.id,
        version: (latest?.version ?? 0) + 1,
        createdAt: latest?.createdAt ?? stored.publishedAt,
        updatedAt: stored.publishedAt,
        latestVersion: runbook.version,
        description: runbook.description,
        digest: stored.digest,
        status: stored.status,
        privilegedSteps: runbook.steps.filter((step) => step.privileged).length,
        approvalStages: runbook.approvals.map((stage) => stage.name),
        publishedAt: stored.publishedAt,
        publishedBy: stored.publishedBy,
      };
      try {
        if (latest) await this.deps.runbooks.replace(record, latest.version);
        else await this.deps.runbooks.create(record);
        return;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    throw new ConflictError(
      `Runbook ${runbook.id} is being published by others right now; retry.`,
      'runbook_contended',
    );
  }

  list(tenantId: string, page: { limit: number; cursor?: string | undefined }): Promise<Page<RunbookRecord>> {
    return this.deps.runbooks.list(tenantId, page);
  }

  async latest(tenantId: string, runbookId: string): Promise<RunbookVersionRecord> {
    const runbook = await this.deps.runbooks.get(tenantId, runbookId);
    if (!runbook) throw new NotFoundError(`No runbook ${runbookId} in this tenant.`, 'runbook_not_found');
    return this.version(tenantId, runbookId, runbook.latestVersion);
  }

  async version(tenantId: string, runbookId: string, version: number): Promise<RunbookVersionRecord> {
    const record = await this.deps.versions.get(tenantId, versionRecordId(runbookId, version));
    if (!record) {
      throw new NotFoundError(
        `No version ${version} of runbook ${runbookId} in this tenant.`,
        'runbook_version_not_found',
      );
    }
    return record;
  }

  /**
   * Every version of one runbook, newest first: the version records under `<runbookId>@`, read a
   * page at a time (what it costs follows how many versions there are, not their numbers).
   */
  async versions(tenantId: string, runbookId: string): Promise<RunbookVersionRecord[]> {
    const runbook = await this.deps.runbooks.get(tenantId, runbookId);
    if (!runbook) throw new NotFoundError(`No runbook ${runbookId} in this tenant.`, 'runbook_not_found');
    const found: RunbookVersionRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.deps.versions.list(tenantId, { limit: 100, cursor, prefix: `${runbookId}@` });
      found.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return found.reverse();
  }

  /**
   * POST runbooks/registry/{runbookId}/versions/{version}/revoke: the version never runs again, and
   * its content cannot be published again (a replay); the runbook's status follows its latest
   * version. Revoking a revoked version changes nothing.
   */
  async revoke(
    tenantId: string,
    runbookId: string,
    version: number,
    actor: string,
    reason: string,
  ): Promise<RunbookVersionRecord> {
    for (let attempt = 1; ; attempt += 1) {
      const record = await this.version(tenantId, runbookId, version);
      if (record.status === 'revoked') return record;
      const now = this.deps.clock.now().toISOString();
      const revoked: RunbookVersionRecord = {
        ...record,
        version: record.version + 1,
        updatedAt: now,
        status: 'revoked',
        revokedAt: now,
        revokedBy: actor,
        revokeReason: reason,
      };
      try {
        await this.deps.versions.replace(revoked, record.version);
      } catch (error) {
        if (error instanceof ConflictError && attempt < 5) continue;
        throw error;
      }
      const latest = await this.deps.runbooks.get(tenantId, runbookId);
      if (latest && latest.latestVersion === version) {
        await this.deps.runbooks
          .replace(
            { ...latest, version: latest.version + 1, updatedAt: now, status: 'revoked' },
            latest.version,
          )
          .catch((error: unknown) => {
            if (!(error instanceof ConflictError)) throw error;
          });
      }
      return revoked;
    }
  }

  /**
   * A stored version checked again, as before a run: its content against its digest and signature
   * with the trusted keys. A mismatch quarantines the version (it never runs again) and publishes
   * `unsigned_runbook`; the answer says why.
   */
  async verifyStored(
    tenantId: string,
    record: RunbookVersionRecord,
    traceId: string,
  ): Promise<{ ok: true; runbook: Runbook } | { ok: false; reason: string }> {
    if (record.status === 'quarantined')
      return { ok: false, reason: record.quarantineReason ?? 'quarantined' };
    if (record.status === 'revoked') return { ok: false, reason: 'revoked' };
    let runbook: Runbook;
    let reason: string | undefined;
    try {
      runbook = parseRunbookValue(JSON.parse(record.document), record.id, this.deps.allowLists);
      const verified = await verifyRunbook(runbook, record.signature, this.#keysFor(tenantId));
      if (
        verified.ok &&
        canonicalJson(runbook) === record.document &&
        record.digest === record.signature.digest
      )
        return { ok: true, runbook };
      reason = !verified.ok
        ? verified.reason
        : record.digest !== record.signature.digest
          ? 'digest_mismatch'
          : 'not_canonical';
    } catch (error) {
      reason = error instanceof AppError ? 'invalid_runbook' : 'unreadable';
    }
    const now = this.deps.clock.now().toISOString();
    await this.deps.versions
      .replace(
        {
          ...record,
          version: record.version + 1,
          updatedAt: now,
          status: 'quarantined',
          quarantinedAt: now,
          quarantineReason: reason,
        },
        record.version,
      )
      .catch((error: unknown) => {
        if (!(error instanceof ConflictError)) throw error;
      });
    const latest = await this.deps.runbooks.get(tenantId, record.runbookId);
    if (latest && latest.latestVersion === record.runbookVersion && latest.status !== 'quarantined') {
      await this.deps.runbooks
        .replace(
          { ...latest, version: latest.version + 1, updatedAt: now, status: 'quarantined' },
          latest.version,
        )
        .catch((error: unknown) => {
          if (!(error instanceof ConflictError)) throw error;
        });
    }
    await this.#unsignedEvent(tenantId, traceId, record.runbookId, record.runbookVersion, 'execute', reason);
    return { ok: false, reason };
  }

  async #unsigned(
    tenantId: string,
    traceId: string,
    runbook: Runbook,
    at: 'publish' | 'execute',
    reason: string,
  ) {
    await this.#unsignedEvent(tenantId, traceId, runbook.id, runbook.version, at, reason);
  }

  async #unsignedEvent(
    tenantId: string,
    traceId: string,
    runbookId: string,
    version: number,
    at: 'publish' | 'execute',
    reason: string,
  ): Promise<void> {
    this.deps.onUnsigned?.(tenantId, runbookId, reason);
    // The refusal stands whether or not the event is published (it is also in the decision's answer).
    await this.deps.events
      .publish([
        eventOf(unsignedRunbook, {
          tenantId,
          traceId,
          occurredAt: this.deps.clock.now().toISOString(),
          runbookId,
          version,
          at,
          reason,
        }),
      ])
      .catch((error: unknown) => this.deps.onPublishError?.(error, runbookId));
  }
}
