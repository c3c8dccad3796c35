import { createPublicKey, type KeyObject } from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';
import { type PublicKeys, RUNBOOK_SIGNATURE_ALGORITHM, type Signer } from '../domain/signing.js';

/**
 * The KMS SDK, loaded on first use: a dynamic import stays lazy in a function bundle, so a function
 * that only verifies cached keys, or never signs, does not pay for it at cold start.
 */
const kmsSdk = () => import('@aws-sdk/client-kms');

/** A key ARN (multi-Region keys included); aliases are resolved with {@link KmsSigner.forKey}. */
const KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]{1,128}$/;
const DIGEST_BYTES = 32;

const nameOf = (error: unknown): string | undefined => (error as { name?: string } | undefined)?.name;

/**
 * Signs runbook digests with an asymmetric KMS key (RSA_2048, SIGN_VERIFY): `Sign` with
 * `MessageType: 'DIGEST'` and `RSASSA_PSS_SHA_256`, so KMS signs the 32-byte digest as the hash of
 * the runbook's canonical JSON (no 4 KB message limit).
 *
 * Key versions: KMS rotates only symmetric keys (neither automatic nor on-demand rotation exists for
 * asymmetric ones), so there are no versions to record. A rotation is a new key, and a signer is
 * pinned to one key ARN, which is both `keyId` and `keyVersion`: the signature names the key that
 * made it, whatever an alias points to later. A tenant's own key (BYOK) is the same: its ARN. An
 * alias is resolved once, when the signer is made ({@link KmsSigner.forKey}); resolving it at each
 * signature could record one key and sign with another if the alias moved in between.
 */
export class KmsSigner implements Signer {
  readonly keyId: string;

  /** @param keyArn the key's ARN (not an alias: see {@link KmsSigner.forKey}). */
  constructor(
    private readonly kms: Pick<KMSClient, 'send'>,
    keyArn: string,
  ) {
    if (!KEY_ARN.test(keyArn)) throw new Error(`KmsSigner needs a KMS key ARN, got "${keyArn}"`);
    this.keyId = keyArn;
  }

  /**
   * A signer of the key `keyIdOrAlias` names now (key id, key ARN, alias name or alias ARN), checked
   * to be a signing key that can make RSASSA_PSS_SHA_256 signatures. Throws naming what is wrong.
   */
  static async forKey(kms: Pick<KMSClient, 'send'>, keyIdOrAlias: string): Promise<KmsSigner> {
    const { DescribeKeyCommand } = await kmsSdk();
    const { KeyMetadata: key } = await kms.send(new DescribeKeyCommand({ KeyId: keyIdOrAlias }));
    if (!key?.Arn) throw new Error(`KMS did not describe the key "${keyIdOrAlias}"`);
    if (key.KeyUsage !== 'SIGN_VERIFY' || !key.SigningAlgorithms?.includes(RUNBOOK_SIGNATURE_ALGORITHM))
      throw new Error(
        `KMS key ${key.Arn} cannot sign runbooks: it needs KeyUsage SIGN_VERIFY and ${RUNBOOK_SIGNATURE_ALGORITHM} (an RSA key), it has ${key.KeySpec} for ${key.KeyUsage}`,
      );
    return new KmsSigner(kms, key.Arn);
  }

  /** The key ARN: KMS has no versions of an asymmetric key. */
  async keyVersion(): Promise<string> {
    return this.keyId;
  }

  async sign(digest: Buffer): Promise<Buffer> {
    if (digest.length !== DIGEST_BYTES)
      throw new RangeError(`a SHA-256 digest is ${DIGEST_BYTES} bytes, got ${digest.length}`);
    const { SignCommand } = await kmsSdk();
    const out = await this.kms.send(
      new SignCommand({
        KeyId: this.keyId,
        Message: digest,
        MessageType: 'DIGEST',
        SigningAlgorithm: RUNBOOK_SIGNATURE_ALGORITHM,
      }),
    );
    if (!out.Signature) throw new Error(`KMS returned no signature for ${this.keyId}`);
    if (out.KeyId !== undefined && out.KeyId !== this.keyId)
      throw new Error(`KMS signed with ${out.KeyId}, not ${this.keyId}`);
    return Buffer.from(out.Signature);
  }
}

/**
 * Public keys of the KMS keys runbook signatures are trusted from (`GetPublicKey`, SPKI DER), kept in
 * memory: a key's public key never changes. Only the listed key ARNs are answered — a signature may
 * name any key, and KMS would hand out the public key of another account's key that allows it — so a
 * signature of any other key is `unknown_key` without a call. A KMS signature's key version is its
 * key ARN, so `keyVersion` must equal `keyId`.
 *
 * A retired key must stay enabled (`GetPublicKey` refuses a disabled key) with `kms:Sign` taken
 * away, for the signatures it made to stay verifiable.
 */
export class KmsPublicKeys implements PublicKeys {
  readonly #trusted: ReadonlySet<string>;
  readonly #keys = new Map<string, Promise<KeyObject | undefined>>();

  /** @param trustedKeyArns the current signing key's ARN and those of the keys it replaced (a tenant's own, for BYOK). */
  constructor(
    private readonly kms: Pick<KMSClient, 'send'>,
    trustedKeyArns: readonly string[],
  ) {
    this.#trusted = new Set(trustedKeyArns);
  }

  async get(keyId: string, keyVersion: string): Promise<KeyObject | undefined> {
    if (keyVersion !== keyId || !this.#trusted.has(keyId)) return undefined;
    const known = this.#keys.get(keyId);
    if (known) return known;
    const loading = this.#load(keyId);
    this.#keys.set(keyId, loading);
    // Remember only keys: a key not found or a failed call is asked again next time.
    loading.then(
      (key) => key ?? this.#keys.delete(keyId),
      () => this.#keys.delete(keyId),
    );
    return loading;
  }

  async #load(keyArn: string): Promise<KeyObject | undefined> {
    const { GetPublicKeyCommand } = await kmsSdk();
    const out = await this.kms.send(new GetPublicKeyCommand({ KeyId: keyArn })).catch((error: unknown) => {
      if (nameOf(error) === 'NotFoundException') return undefined;
      throw error;
    });
    if (!out) return undefined;
    if (!out.PublicKey) throw new Error(`KMS returned no public key for ${keyArn}`);
    if (out.KeyUsage !== 'SIGN_VERIFY' || !out.SigningAlgorithms?.includes(RUNBOOK_SIGNATURE_ALGORITHM))
      throw new Error(
        `KMS key ${keyArn} is trusted for runbooks but cannot make ${RUNBOOK_SIGNATURE_ALGORITHM} signatures`,
      );
    return createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' });
  }
}

/** The deployment's signing key as KMS describes it: its ARN and CreationDate (the daily key age check). */
export const kmsSigningKeyInfo = (kms: Pick<KMSClient, 'send'>, keyIdOrAlias: string) => ({
  async current(): Promise<{ keyId: string; createdAt: Date } | undefined> {
    const { DescribeKeyCommand } = await kmsSdk();
    const { KeyMetadata: key } = await kms.send(new DescribeKeyCommand({ KeyId: keyIdOrAlias }));
    if (!key?.Arn || !key.CreationDate) throw new Error(`KMS did not describe the key "${keyIdOrAlias}"`);
    return { keyId: key.Arn, createdAt: key.CreationDate };
  },
});
