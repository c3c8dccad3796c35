import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from '#shared/errors.js';
import type { Page, TenantRecord, TenantRecords } from '#shared/ports/records.js';
import type { Clock } from '#shared/ports/system.js';
import type { PublicKeys } from './signing.js';

/**
 * BYOK: a tenant's own signing keys. A tenant administrator registers the public half of a key the
 * tenant holds (its customer-managed KMS key: `aws kms get-public-key`), under the key id its
 * signatures name (the key's ARN, as `KmsSigner` records it). Conductor verifies that tenant's
 * runbooks with it, offline; it never calls the tenant's key, so no cross-account grant is needed,
 * and the key signs only in the tenant's account. Another tenant's runbooks never verify with it.
 * Retiring a key stops its signatures from verifying (stored versions signed by it are quarantined
 * at their next check).
 */

export const MIN_TENANT_KEY_BITS = 2048;

export interface TenantKeyRecord extends TenantRecord {
  /** The key version signatures must name: for a KMS key, its ARN (= the key id). */
  readonly keyVersion: string;
  /** The public key, SPKI PEM. */
  readonly publicKeyPem: string;
  /** SHA-256 of the SPKI DER, hex: what the key is, whatever it is called. */
  readonly fingerprint: string;
  readonly description?: string;
  readonly status: 'active' | 'retired';
  readonly addedBy: string;
  readonly retiredAt?: string;
  readonly retiredBy?: string;
}

export interface TenantKeysDeps {
  readonly records: TenantRecords<TenantKeyRecord>;
  readonly clock: Clock;
  /** The deployment's own keys: a tenant cannot register a key id they already name. */
  readonly deploymentKeys: PublicKeys;
}

const KEY_ID = /^[A-Za-z0-9:/._-]{1,256}$/;

export class TenantKeys {
  readonly #parsed = new Map<string, KeyObject>();

  constructor(private readonly deps: TenantKeysDeps) {}

  /** POST runbooks/trusted-keys: 201 a new key; the same key again: 200, unchanged; another key under the id: 409. */
  async add(
    tenantId: string,
    body: { readonly keyId: string; readonly publicKey: string; readonly description?: string | undefined },
    actor: string,
  ): Promise<{ key: TenantKeyRecord; created: boolean }> {
    if (!KEY_ID.test(body.keyId))
      throw new ValidationError('keyId must be 1-256 of A-Z a-z 0-9 : / . _ - (a KMS key ARN).', [
        { path: 'keyId', message: 'not a key id' },
      ]);
    const key = parsePublicKey(body.publicKey);
    if (await this.deps.deploymentKeys.get(body.keyId, body.keyId)) {
      throw new ConflictError(`${body.keyId} is a key of the deployment itself.`, 'key_reserved');
    }
    const der = key.export({ type: 'spki', format: 'der' });
    const now = this.deps.clock.now().toISOString();
    const record: TenantKeyRecord = {
      tenantId,
      id: body.keyId,
      version: 1,
      createdAt: now,
      updatedAt: now,
      keyVersion: body.keyId,
      publicKeyPem: key.export({ type: 'spki', format: 'pem' }).toString(),
      fingerprint: createHash('sha256').update(der).digest('hex'),
      ...(body.description ? { description: body.description } : {}),
      status: 'active',
      addedBy: actor,
    };
    try {
      await this.deps.records.create(record);
      return { key: record, created: true };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const stored = await this.deps.records.get(tenantId, body.keyId);
      if (stored && stored.fingerprint === record.fingerprint && stored.status === 'active')
        return { key: stored, created: false };
      throw new ConflictError(
        stored?.status === 'retired'
          ? `Key ${body.keyId} was retired: a retired key is not trusted again. Register the new key under its own id.`
          : `Key ${body.keyId} is registered with another public key.`,
        'key_exists',
      );
    }
  }

  list(
    tenantId: string,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<Page<TenantKeyRecord>> {
    return this.deps.records.list(tenantId, page);
  }

  /** POST runbooks/trusted-keys/retire: its signatures no longer verify in this tenant. */
  async retire(tenantId: string, keyId: string, actor: string): Promise<TenantKeyRecord> {
    for (let attempt = 1; ; attempt += 1) {
      const stored = await this.deps.records.get(tenantId, keyId);
      if (!stored) throw new NotFoundError(`No key ${keyId} in this tenant.`, 'key_not_found');
      if (stored.status === 'retired') return stored;
      const now = this.deps.clock.now().toISOString();
      const retired: TenantKeyRecord = {
        ...stored,
        version: stored.version + 1,
        updatedAt: now,
        status: 'retired',
        retiredAt: now,
        retiredBy: actor,
      };
      try {
        await this.deps.records.replace(retired, stored.version);
        return retired;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= 5) throw error;
      }
    }
  }

  /** The keys a tenant's runbooks verify with: its own active keys, then the deployment's. */
  keysFor(tenantId: string): PublicKeys {
    return {
      get: async (keyId, keyVersion) => {
        const own = await this.deps.records.get(tenantId, keyId);
        if (own) return own.status === 'active' && own.keyVersion === keyVersion ? this.#key(own) : undefined;
        return this.deps.deploymentKeys.get(keyId, keyVersion);
      },
    };
  }

  #key(record: TenantKeyRecord): KeyObject {
    let key = this.#parsed.get(record.fingerprint);
    if (!key) {
      key = createPublicKey(record.publicKeyPem);
      this.#parsed.set(record.fingerprint, key);
    }
    return key;
  }
}

/** An RSA public key of at least 2048 bits, as SPKI PEM (what `aws kms get-public-key` gives, PEM-wrapped). */
const parsePublicKey = (text: string): KeyObject => {
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch {
    throw new ValidationError('publicKey is not a public key (SPKI PEM, "-----BEGIN PUBLIC KEY-----").', [
      { path: 'publicKey', message: 'not a public key' },
    ]);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== 'rsa' || bits < MIN_TENANT_KEY_BITS) {
    throw new ValidationError(
      `publicKey must be an RSA key of at least ${MIN_TENANT_KEY_BITS} bits (RSASSA_PSS_SHA_256), not ${key.asymmetricKeyType} ${bits || ''}`.trim(),
      [{ path: 'publicKey', message: 'not an RSA key of 2048 bits or more' }],
    );
  }
  return key;
};
