import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConflictError } from '#shared/errors.js';
import { type ConductorEvent, type EventPublisher, EventTypes } from '#shared/ports/events.js';
import type { TenantRecord } from '#shared/ports/records.js';
import { ManualClock } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { RUNBOOK_EVENTS } from '../../events.js';
import { signDigestRsaPss } from '../../src/adapters/rsa-pss.js';
import {
  type RunbookRecord,
  RunbookRegistry,
  type RunbookVersionRecord,
  versionRecordId,
} from '../../src/domain/registry.js';
import { parseRunbookValue, type Runbook, type RunbookAllowLists } from '../../src/domain/runbook.js';
import {
  type PublicKeys,
  type RunbookSignature,
  type Signer,
  signRunbook,
} from '../../src/domain/signing.js';

const EXAMPLES = resolve(import.meta.dirname, '../../../../runbooks');

/** An example runbook file (`runbooks/<name>`) as the JSON value a client sends: no defaults filled in. */
export const exampleJson = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(resolve(EXAMPLES, name), 'utf8')) as Record<string, unknown>;

/** The runbook a JSON value parses to (defaults applied): what is signed. */
export const parsed = (json: unknown): Runbook => parseRunbookValue(json, 'test');

/** Made once: RSA-2048 key generation takes a noticeable fraction of a second. */
const trustedPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
const strangerPair = generateKeyPairSync('rsa', { modulusLength: 2048 });

/** Signs the digest with an RSA private key as KMS's DIGEST mode does (the adapters' own code). */
export class KeyPairSigner implements Signer {
  constructor(
    readonly keyId: string,
    private readonly privateKey: KeyObject,
    private readonly version = '1',
  ) {}

  async keyVersion(): Promise<string> {
    return this.version;
  }

  async sign(digest: Buffer): Promise<Buffer> {
    return signDigestRsaPss(this.privateKey, digest);
  }
}

/** The signing key the registry trusts (`local:trusted`, version 1). */
export const trustedSigner = new KeyPairSigner('local:trusted', trustedPair.privateKey);
/** A key the registry was never told to trust. */
export const strangerSigner = new KeyPairSigner('local:stranger', strangerPair.privateKey);
/** The stranger's key claiming to be the trusted one: its signatures do not hold under the trusted public key. */
export const impostorSigner = new KeyPairSigner('local:trusted', strangerPair.privateKey);

/** Answers exactly the keys it was told to trust, whatever a signature claims. */
export class TrustedKeys implements PublicKeys {
  readonly #keys = new Map<string, KeyObject>();

  trust(keyId: string, keyVersion: string, key: KeyObject): this {
    this.#keys.set(`${keyId}#${keyVersion}`, key);
    return this;
  }

  async get(keyId: string, keyVersion: string): Promise<KeyObject | undefined> {
    await Promise.resolve();
    return this.#keys.get(`${keyId}#${keyVersion}`);
  }
}

/**
 * The bus as a list of published events, each checked against the pillar's event definitions as the
 * real publisher does; `failing` makes every publish reject.
 */
export class RecordingEvents implements EventPublisher {
  readonly published: ConductorEvent[] = [];
  failing = false;
  readonly #types = new EventTypes(RUNBOOK_EVENTS);

  async publish(events: readonly ConductorEvent[]): Promise<void> {
    await Promise.resolve();
    if (this.failing) throw new Error('EventBridge unavailable');
    this.published.push(...events.map((event) => ({ type: event.type, detail: this.#types.parse(event) })));
  }
}

/** In-memory records whose next `contended` replaces lose to another writer (409 version_conflict). */
export class ContendedTenantRecords<T extends TenantRecord> extends InMemoryTenantRecords<T> {
  contended = 0;

  override async replace(record: T, expectedVersion: number): Promise<void> {
    if (this.contended > 0) {
      this.contended -= 1;
      throw new ConflictError(
        `${record.id} was changed concurrently; re-read and retry.`,
        'version_conflict',
      );
    }
    return super.replace(record, expectedVersion);
  }
}

/**
 * A RunbookRegistry on in-memory records and bus, with a manual clock, trusting only
 * {@link trustedSigner}; `unsigned` and `publishErrors` are what its callbacks were told.
 */
export const inMemoryRegistry = (options: { allowLists?: RunbookAllowLists } = {}) => {
  const runbooks = new ContendedTenantRecords<RunbookRecord>('RUNBOOK');
  const versions = new InMemoryTenantRecords<RunbookVersionRecord>('RUNBOOK_VERSION');
  const keys = new TrustedKeys().trust(trustedSigner.keyId, '1', trustedPair.publicKey);
  const events = new RecordingEvents();
  const clock = new ManualClock('2026-03-01T09:00:00.000Z');
  const unsigned: { tenantId: string; runbookId: string; reason: string }[] = [];
  const publishErrors: string[] = [];
  const registry = new RunbookRegistry({
    runbooks,
    versions,
    keys,
    events,
    clock,
    ...(options.allowLists ? { allowLists: options.allowLists } : {}),
    onUnsigned: (tenantId, runbookId, reason) => unsigned.push({ tenantId, runbookId, reason }),
    onPublishError: (_error, runbookId) => publishErrors.push(runbookId),
  });

  /** The signature of the runbook `json` parses to, by `signer` (the trusted key unless told). */
  const signatureOf = (json: unknown, signer: Signer = trustedSigner): Promise<RunbookSignature> =>
    signRunbook(parsed(json), signer, clock.now());

  /** Signs `json` with the trusted key and publishes it in `acme` as `actor`. */
  const publishSigned = async (json: unknown, actor = 'operator-1') =>
    registry.publish('acme', { runbook: json, signature: await signatureOf(json) }, actor, 'trace-publish');

  /** Replaces a stored version behind the registry's back, as someone with table access could. */
  const tamper = async (
    runbookId: string,
    version: number,
    edit: (record: RunbookVersionRecord) => Partial<RunbookVersionRecord>,
  ): Promise<void> => {
    const id = versionRecordId(runbookId, version);
    const stored = await versions.get('acme', id);
    if (!stored) throw new Error(`no stored version ${id} to tamper with`);
    await versions.replace({ ...stored, ...edit(stored) }, stored.version);
  };

  return {
    runbooks,
    versions,
    keys,
    events,
    clock,
    registry,
    unsigned,
    publishErrors,
    signatureOf,
    publishSigned,
    tamper,
  };
};

export type InMemoryRegistry = ReturnType<typeof inMemoryRegistry>;
