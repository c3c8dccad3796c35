/**
 * Runbook signatures: what is signed, the signer and key ports, signing and verifying.
 *
 * **What is signed.** The runbook as parsed (defaults applied) in RFC 8785 canonical JSON, as UTF-8
 * bytes: the *signed message*. Its SHA-256 is the signature's `digest`. The id, version, parameter
 * schema (defaults included), approvals and steps are all in it, so changing any of them, or
 * presenting another runbook's signature, fails on the digest.
 *
 * **The algorithm.** RSASSA-PSS (RFC 8017 §8.1) with SHA-256, MGF1-SHA-256 and a 32-byte salt: KMS's
 * `RSASSA_PSS_SHA_256`. A {@link Signer} is handed the 32-byte digest, never the message — KMS `Sign`
 * with `MessageType: 'DIGEST'` takes it as the hash of the message (EMSA-PSS's mHash), so its
 * signature is exactly the one `MessageType: 'RAW'` would give over the message, with no 4 KB limit
 * on the message. The verifier therefore checks the message itself:
 * `crypto.verify('sha256', message, { key, padding: RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig)`,
 * which hashes the message and checks the PSS encoding with that exact salt length. The local signer
 * signs the digest the same way (node:crypto cannot sign a precomputed hash, see its adapter), so one
 * verifier accepts both; the adapter tests prove it against node's own signatures.
 *
 * **Keys.** A signature records `keyId` (which signing key) and `keyVersion` (which material of it),
 * and the verifier asks {@link PublicKeys} for exactly that version, so a rotation never breaks old
 * signatures. Locally a key id has versions 1, 2, …; KMS has no versions for asymmetric keys, so
 * there a rotation is a new key and `keyVersion` is its ARN (see the KMS adapter).
 */
import { constants, type KeyObject, verify } from 'node:crypto';
import * as z from 'zod';
import { canonicalJson, sha256Hex } from '#shared/ports/canonical-json.js';
import type { Runbook } from './runbook.js';

export const RUNBOOK_SIGNATURE_ALGORITHM = 'RSASSA_PSS_SHA_256';
/** KMS's RSASSA_PSS_SHA_256 salt: as long as the SHA-256 hash. */
export const PSS_SALT_LENGTH = 32;
/** Keys shorter than this are refused (KMS signing keys are RSA_2048 or longer). */
const MIN_MODULUS_BITS = 2048;

export interface RunbookSignature {
  /** The signing key: `local:<16 hex>` or a KMS key ARN. */
  readonly keyId: string;
  /** The key's material that signed: `1`, `2`, … locally; the key ARN on KMS. */
  readonly keyVersion: string;
  readonly algorithm: typeof RUNBOOK_SIGNATURE_ALGORITHM;
  /** SHA-256 of the signed message (the runbook's canonical JSON), lower-case hex. */
  readonly digest: string;
  /** The RSASSA-PSS signature, base64. */
  readonly signature: string;
  /** ISO 8601. */
  readonly signedAt: string;
}

/** A stored or submitted signature, checked for shape (not for truth: that is verifyRunbook's). */
export const runbookSignatureSchema = z.strictObject({
  keyId: z.string().min(1).max(2048),
  keyVersion: z.string().min(1).max(2048),
  algorithm: z.literal(RUNBOOK_SIGNATURE_ALGORITHM),
  digest: z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lower-case hex digits' }),
  signature: z.base64().min(1),
  signedAt: z.iso.datetime({ offset: true }),
}) satisfies z.ZodType<RunbookSignature>;

/** Signs with one key version (KmsSigner, LocalRsaSigner). */
export interface Signer {
  readonly keyId: string;
  /** The key version `sign` signs with. */
  keyVersion(): Promise<string>;
  /**
   * RSASSA_PSS_SHA_256 over a message whose SHA-256 is `digest` (32 bytes), as KMS `Sign` does with
   * `MessageType: 'DIGEST'`.
   */
  sign(digest: Buffer): Promise<Buffer>;
}

/**
 * The public keys signatures are checked with. Answering a key means trusting it: an implementation
 * answers only the keys it was told to trust (a KMS key ARN on the list, a local key of its folder),
 * whatever a signature claims.
 */
export interface PublicKeys {
  get(keyId: string, keyVersion: string): Promise<KeyObject | undefined>;
}

export type RunbookVerification =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: 'digest_mismatch' | 'unknown_key' | 'bad_signature' | 'algorithm';
    };

/** The signed message: the runbook's canonical JSON as UTF-8. */
export const signedMessageOf = (runbook: Runbook): Buffer => Buffer.from(canonicalJson(runbook), 'utf8');

/** SHA-256 of the runbook's canonical JSON, lower-case hex: what a signature's `digest` must be. */
export const runbookDigest = (runbook: Runbook): string => sha256Hex(signedMessageOf(runbook));

export const signRunbook = async (runbook: Runbook, signer: Signer, now: Date): Promise<RunbookSignature> => {
  const digest = runbookDigest(runbook);
  const keyVersion = await signer.keyVersion();
  const signature = await signer.sign(Buffer.from(digest, 'hex'));
  return {
    keyId: signer.keyId,
    keyVersion,
    algorithm: RUNBOOK_SIGNATURE_ALGORITHM,
    digest,
    signature: signature.toString('base64'),
    signedAt: now.toISOString(),
  };
};

/**
 * Whether `signature` is a signature of this runbook by a trusted key. The digest is recomputed
 * from the runbook (never taken from the signature), then the signature is checked over the
 * message with the public key of the recorded key version.
 */
export const verifyRunbook = async (
  runbook: Runbook,
  signature: RunbookSignature,
  keys: PublicKeys,
): Promise<RunbookVerification> => {
  if (signature.algorithm !== RUNBOOK_SIGNATURE_ALGORITHM) return { ok: false, reason: 'algorithm' };
  const message = signedMessageOf(runbook);
  if (sha256Hex(message) !== signature.digest) return { ok: false, reason: 'digest_mismatch' };
  const key = await keys.get(signature.keyId, signature.keyVersion);
  if (!key) return { ok: false, reason: 'unknown_key' };
  // A trusted key that cannot make this algorithm's signatures (not RSA, too short).
  const type = key.asymmetricKeyType;
  if (
    (type !== 'rsa' && type !== 'rsa-pss') ||
    (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_MODULUS_BITS
  )
    return { ok: false, reason: 'algorithm' };
  const bytes = base64Bytes(signature.signature);
  if (!bytes) return { ok: false, reason: 'bad_signature' };
  let valid: boolean;
  try {
    valid = verify(
      'sha256',
      message,
      { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_LENGTH },
      bytes,
    );
  } catch {
    valid = false;
  }
  return valid ? { ok: true } : { ok: false, reason: 'bad_signature' };
};

/** Strict base64 (Buffer.from skips what it does not understand). */
const base64Bytes = (text: string): Buffer | undefined =>
  text.length > 0 && text.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(text)
    ? Buffer.from(text, 'base64')
    : undefined;
