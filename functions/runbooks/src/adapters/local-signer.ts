import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { link, mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PublicKeys, Signer } from '../domain/signing.js';
import { signDigestRsaPss } from './rsa-pss.js';

/** Where `npm start` and the CLI keep the local runbook-signing key (relative to the working directory). */
export const DEFAULT_RUNBOOK_KEY_DIR = join('.conductor', 'runbook-signing');

/** `v1.key.pem` (PKCS#8, mode 600) and `v1.pub.pem` (SPKI) for version 1, and so on. */
const KEY_FILE = /^v([1-9]\d{0,8})\.(key|pub)\.pem$/;
const VERSION = /^[1-9]\d{0,8}$/;
const privateFile = (version: number) => `v${version}.key.pem`;
const publicFile = (version: number) => `v${version}.pub.pem`;
const generateRsaKeyPair = promisify(generateKeyPair);

/** `local:` and the first 16 hex digits of the SHA-256 of version 1's public key (SPKI DER). */
export const localKeyIdOf = (publicKey: KeyObject): string =>
  `local:${createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16)}`;

/**
 * KMS's stand-in on `npm start` and in the CLI: an RSA-2048 key with versions, as PEM files in a
 * folder (created mode 700; private keys mode 600). A signer signs with one version, the newest
 * when opened; `rotate()` adds the next version beside the others and answers a signer of it, so
 * signatures of older versions stay verifiable with {@link LocalPublicKeys}. The key id stays that
 * of version 1. It signs the 32-byte digest exactly as KMS's DIGEST mode does ({@link signDigestRsaPss}).
 */
export class LocalRsaSigner implements Signer {
  readonly #privateKey: KeyObject;

  private constructor(
    readonly keyId: string,
    readonly directory: string,
    readonly version: number,
    privateKey: KeyObject,
  ) {
    this.#privateKey = privateKey;
  }

  /** The newest version of the key in `directory`; creates version 1 when there is none. */
  static async open(directory: string = DEFAULT_RUNBOOK_KEY_DIR): Promise<LocalRsaSigner> {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    let versions = await privateVersionsIn(directory);
    if (versions.length === 0) {
      await createVersion(directory, 1).catch(ignoreExisting); // another process may have just made it
      versions = await privateVersionsIn(directory);
    }
    if (versions.length === 0)
      throw new Error(
        `${directory} has a public key but no private key: another process may be creating it (open again), else remove the folder to start over`,
      );
    const newest = Math.max(...versions);
    return new LocalRsaSigner(
      await keyIdIn(directory),
      directory,
      newest,
      await readPrivateKey(directory, newest),
    );
  }

  async keyVersion(): Promise<string> {
    return String(this.version);
  }

  async sign(digest: Buffer): Promise<Buffer> {
    return signDigestRsaPss(this.#privateKey, digest);
  }

  /** Adds the next version of the key (the older ones stay) and answers a signer of it. */
  async rotate(): Promise<LocalRsaSigner> {
    for (let attempt = 0; ; attempt += 1) {
      const next = Math.max(0, ...(await versionsIn(this.directory))) + 1;
      try {
        const privateKey = await createVersion(this.directory, next);
        return new LocalRsaSigner(this.keyId, this.directory, next, privateKey);
      } catch (error) {
        if (!isExisting(error) || attempt >= 4) throw error; // another process took `next`: take the one after
      }
    }
  }
}

/**
 * The public keys of every version of the local key in a folder: what verifies a local signature.
 * It answers only for its folder's key id; key files are read once (a version never changes).
 */
export class LocalPublicKeys implements PublicKeys {
  readonly #keys = new Map<number, KeyObject>();
  #keyId: string | undefined;

  constructor(private readonly directory: string = DEFAULT_RUNBOOK_KEY_DIR) {}

  async get(keyId: string, keyVersion: string): Promise<KeyObject | undefined> {
    if (!VERSION.test(keyVersion)) return undefined; // never a path: the version comes from a signature
    this.#keyId ??= await keyIdIn(this.directory).catch(orUndefinedIfMissing);
    if (this.#keyId === undefined || keyId !== this.#keyId) return undefined;
    const version = Number(keyVersion);
    const known = this.#keys.get(version);
    if (known) return known;
    const key = await readPublicKey(this.directory, version).catch(orUndefinedIfMissing);
    if (key) this.#keys.set(version, key);
    return key;
  }
}

/**
 * The local key in use (its newest version) and when that version was written: what the daily key
 * age check reads locally, as it reads a KMS key's CreationDate on AWS. Undefined before any key exists.
 */
export const localSigningKeyInfo = (directory: string = DEFAULT_RUNBOOK_KEY_DIR) => ({
  async current(): Promise<{ keyId: string; createdAt: Date } | undefined> {
    const versions = await versionsIn(directory).catch(orUndefinedIfMissing);
    if (!versions || versions.length === 0) return undefined;
    const newest = Math.max(...versions);
    const { mtime } = await stat(join(directory, publicFile(newest)));
    return { keyId: `${await keyIdIn(directory)}#${newest}`, createdAt: mtime };
  },
});

const keyIdIn = async (directory: string): Promise<string> => localKeyIdOf(await readPublicKey(directory, 1));

const readPublicKey = async (directory: string, version: number): Promise<KeyObject> =>
  createPublicKey(await readFile(join(directory, publicFile(version)), 'utf8'));

const readPrivateKey = async (directory: string, version: number): Promise<KeyObject> =>
  createPrivateKey(await readFile(join(directory, privateFile(version)), 'utf8'));

/** Every version with a file in the folder (a public key whose private key was never written included). */
const versionsIn = async (directory: string): Promise<number[]> =>
  (await readdir(directory)).flatMap((name) => {
    const match = KEY_FILE.exec(name);
    return match ? [Number(match[1])] : [];
  });

const privateVersionsIn = async (directory: string): Promise<number[]> =>
  (await readdir(directory)).flatMap((name) => {
    const match = KEY_FILE.exec(name);
    return match?.[2] === 'key' ? [Number(match[1])] : [];
  });

/** Writes a new key pair as `version`, public key first; fails with EEXIST if the version is taken. */
const createVersion = async (directory: string, version: number): Promise<KeyObject> => {
  const { privateKey, publicKey } = await generateRsaKeyPair('rsa', {
    modulusLength: 2048,
    publicExponent: 0x10001,
  });
  await writeOnce(directory, publicFile(version), publicKey.export({ type: 'spki', format: 'pem' }), 0o644);
  await writeOnce(
    directory,
    privateFile(version),
    privateKey.export({ type: 'pkcs8', format: 'pem' }),
    0o600,
  );
  return privateKey;
};

/**
 * Creates `name` with `content` only if it does not exist, never half-written: written to a
 * temporary file, then hard-linked into place (which fails with EEXIST if the name is taken).
 */
const writeOnce = async (
  directory: string,
  name: string,
  content: string | Buffer,
  mode: number,
): Promise<void> => {
  const temporary = join(directory, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  await writeFile(temporary, content, { mode, flag: 'wx' });
  try {
    await link(temporary, join(directory, name));
  } finally {
    await unlink(temporary);
  }
};

const codeOf = (error: unknown): unknown => (error as { code?: unknown } | undefined)?.code;
const isExisting = (error: unknown): boolean => codeOf(error) === 'EEXIST';
const ignoreExisting = (error: unknown): void => {
  if (!isExisting(error)) throw error;
};
const orUndefinedIfMissing = (error: unknown): undefined => {
  if (codeOf(error) === 'ENOENT') return undefined;
  throw error;
};
