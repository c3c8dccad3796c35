import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { GenerateMacCommand, type KMSClient } from '@aws-sdk/client-kms';
import { DSR_SUBJECT_KEY_ENV } from '../pillar.js';
import { standIns } from '../ports/stand-ins.js';
import type { SubjectHasher } from '../ports/subject-hash.js';
import type { ClientOptions } from './clients.js';
import { makeKmsClient } from './kms-client.js';

/**
 * The subject's keyed hash on AWS: KMS GenerateMac (HMAC_SHA_256) with the deployment's DSR key,
 * which never leaves KMS.
 */
export class KmsSubjectHasher implements SubjectHasher {
  constructor(
    private readonly kms: Pick<KMSClient, 'send'>,
    private readonly keyId: string,
  ) {}

  async hash(subject: string): Promise<string> {
    const out = await this.kms.send(
      new GenerateMacCommand({
        KeyId: this.keyId,
        MacAlgorithm: 'HMAC_SHA_256',
        Message: new TextEncoder().encode(subject),
      }),
    );
    if (!out.Mac) throw new Error('KMS GenerateMac returned no MAC');
    return `hmac-sha256:${Buffer.from(out.Mac).toString('hex')}`;
  }
}

/**
 * The embedded runtime's stand-in (KMS has no emulator): HMAC-SHA-256 with a 32-byte key created
 * once in a file of the local data directory (mode 0600) and read from it afterwards.
 */
export class LocalSubjectHasher implements SubjectHasher {
  readonly #key: Buffer;

  constructor(keyFile: string) {
    if (!existsSync(keyFile)) {
      mkdirSync(dirname(keyFile), { recursive: true });
      try {
        writeFileSync(keyFile, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
      } catch (error) {
        // Another process created it first: use theirs.
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    this.#key = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64');
    if (this.#key.length < 32) throw new Error(`${keyFile}: not a 32-byte key`);
  }

  async hash(subject: string): Promise<string> {
    return `hmac-sha256:${createHmac('sha256', this.#key).update(subject, 'utf8').digest('hex')}`;
  }
}

/** Subjects remembered per process: a warm function asks KMS once per person, not once per record. */
const CACHE_SIZE = 10_000;

/** A hasher that remembers the last CACHE_SIZE subjects' hashes (the hash of a person never changes). */
export class CachedSubjectHasher implements SubjectHasher {
  readonly #cache = new Map<string, Promise<string>>();

  constructor(private readonly inner: SubjectHasher) {}

  hash(subject: string): Promise<string> {
    const known = this.#cache.get(subject);
    if (known) return known;
    const pending = this.inner.hash(subject);
    // A failed call is not remembered: the next one asks again.
    pending.catch(() => this.#cache.delete(subject));
    if (this.#cache.size >= CACHE_SIZE) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(subject, pending);
    return pending;
  }
}

/**
 * The deployment's subject hasher: KMS with the key of DSR_SUBJECT_KEY_ENV, else the embedded
 * runtime's key file; cached. Throws when neither is there (a function CDK did not give the key).
 */
export const subjectHasherFor = (
  keyArn: string | undefined,
  aws: ClientOptions,
  purpose: string,
): SubjectHasher => {
  if (keyArn !== undefined) return new CachedSubjectHasher(new KmsSubjectHasher(makeKmsClient(aws), keyArn));
  const keyFile = standIns().dsrSubjectKeyFile;
  if (keyFile !== undefined) return new CachedSubjectHasher(new LocalSubjectHasher(keyFile));
  throw new Error(`Invalid environment: ${DSR_SUBJECT_KEY_ENV}: required (${purpose})`);
};
