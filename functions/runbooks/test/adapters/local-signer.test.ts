import { constants, createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalPublicKeys, LocalRsaSigner, localKeyIdOf } from '../../src/adapters/local-signer.js';
import { signDigestRsaPss } from '../../src/adapters/rsa-pss.js';
import { parseRunbookValue } from '../../src/domain/runbook.js';
import { signedMessageOf, signRunbook, verifyRunbook } from '../../src/domain/signing.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const runbook = parseRunbookValue(
  {
    apiVersion: 'conductor.runbook/v1',
    id: 'flush-cache',
    version: 1,
    description: 'Flush the cache.',
    parameters: { type: 'object' },
    steps: [{ id: 'flush', name: 'Flush', type: 'lambda', functionName: 'conductor-cache-flush' }],
  },
  'flush-cache.json',
);
const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };

describe('LocalRsaSigner', () => {
  let directory: string;

  beforeEach(async () => {
    directory = join(await mkdtemp(join(tmpdir(), 'conductor-runbook-keys-')), 'runbook-signing');
  });
  afterEach(async () => {
    await rm(join(directory, '..'), { recursive: true, force: true });
  });

  it('creates an RSA-2048 key on first use: the private key mode 600 in a folder mode 700', async () => {
    // Act
    const signer = await LocalRsaSigner.open(directory);

    // Assess
    expect((await readdir(directory)).sort()).toEqual(['v1.key.pem', 'v1.pub.pem']);
    expect((await stat(join(directory, 'v1.key.pem'))).mode & 0o777).toBe(0o600);
    expect((await stat(directory)).mode & 0o777).toBe(0o700);
    const publicKey = createPublicKey(await readFile(join(directory, 'v1.pub.pem'), 'utf8'));
    expect(publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(signer.keyId).toBe(localKeyIdOf(publicKey));
    expect(signer.keyId).toMatch(/^local:[0-9a-f]{16}$/);
    expect(await signer.keyVersion()).toBe('1');
  });

  it('keeps its key id across instances: a second open reads the same key', async () => {
    // Prepare
    const first = await LocalRsaSigner.open(directory);

    // Act
    const second = await LocalRsaSigner.open(directory);

    // Assess
    expect(second.keyId).toBe(first.keyId);
    const signature = await signRunbook(runbook, second, NOW);
    expect(await verifyRunbook(runbook, signature, new LocalPublicKeys(directory))).toEqual({ ok: true });
  });

  it('is its key id: the SHA-256 of the SPKI DER, first 16 hex digits', () => {
    // Prepare
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

    // Act
    const keyId = localKeyIdOf(publicKey);

    // Assess
    const der = publicKey.export({ type: 'spki', format: 'der' });
    expect(keyId).toBe(`local:${createHash('sha256').update(der).digest('hex').slice(0, 16)}`);
  });

  it('signs the digest the way KMS DIGEST mode does: node verifies it over the message', async () => {
    // Prepare
    const signer = await LocalRsaSigner.open(directory);
    const message = signedMessageOf(runbook);
    const publicKey = createPublicKey(await readFile(join(directory, 'v1.pub.pem'), 'utf8'));

    // Act
    const signature = await signer.sign(createHash('sha256').update(message).digest());

    // Assess
    expect(verify('sha256', message, { key: publicKey, ...PSS }, signature)).toBe(true);
  });

  it('rotates to a new version beside the old one: both versions’ signatures verify, under the same key id', async () => {
    // Prepare
    const v1 = await LocalRsaSigner.open(directory);
    const oldSignature = await signRunbook(runbook, v1, NOW);

    // Act
    const v2 = await v1.rotate();
    const newSignature = await signRunbook(runbook, v2, NOW);

    // Assess
    expect(v2.keyId).toBe(v1.keyId);
    expect([oldSignature.keyVersion, newSignature.keyVersion]).toEqual(['1', '2']);
    expect((await readdir(directory)).sort()).toEqual([
      'v1.key.pem',
      'v1.pub.pem',
      'v2.key.pem',
      'v2.pub.pem',
    ]);
    expect((await stat(join(directory, 'v2.key.pem'))).mode & 0o777).toBe(0o600);
    const keys = new LocalPublicKeys(directory);
    expect(await verifyRunbook(runbook, oldSignature, keys)).toEqual({ ok: true });
    expect(await verifyRunbook(runbook, newSignature, keys)).toEqual({ ok: true });
    // The versions are different keys: a signature does not verify under the other version.
    expect(await verifyRunbook(runbook, { ...newSignature, keyVersion: '1' }, keys)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('opens the newest version after a rotation', async () => {
    // Prepare
    await (await (await LocalRsaSigner.open(directory)).rotate()).rotate();

    // Act
    const signer = await LocalRsaSigner.open(directory);

    // Assess
    expect(await signer.keyVersion()).toBe('3');
  });

  it('refuses a digest that is not 32 bytes', async () => {
    // Prepare
    const signer = await LocalRsaSigner.open(directory);

    // Act
    const signing = signer.sign(Buffer.from('not a digest'));

    // Assess
    await expect(signing).rejects.toThrow(/32 bytes/);
  });
});

describe('LocalPublicKeys', () => {
  let directory: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'conductor-runbook-keys-'));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('answers only its folder’s key id, and only versions that exist', async () => {
    // Prepare
    const signer = await LocalRsaSigner.open(directory);
    const keys = new LocalPublicKeys(directory);

    // Act
    const answers = await Promise.all([
      keys.get(signer.keyId, '1'),
      keys.get('local:0000000000000000', '1'),
      keys.get(signer.keyId, '2'),
      keys.get(signer.keyId, '../v1'),
      keys.get(signer.keyId, '01'),
    ]);

    // Assess
    expect(answers.map((key) => key?.asymmetricKeyType)).toEqual([
      'rsa',
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('sees a version another signer added after it was made', async () => {
    // Prepare
    const keys = new LocalPublicKeys(directory);
    const v1 = await LocalRsaSigner.open(directory);
    expect(await keys.get(v1.keyId, '2')).toBeUndefined();

    // Act
    const v2 = await v1.rotate();

    // Assess
    expect(await keys.get(v2.keyId, '2')).toBeDefined();
  });

  it('answers nothing for an empty or missing folder', async () => {
    // Prepare
    const keys = new LocalPublicKeys(join(directory, 'nowhere'));

    // Act
    const key = await keys.get('local:0123456789abcdef', '1');

    // Assess
    expect(key).toBeUndefined();
  });
});

describe('signDigestRsaPss', () => {
  it('makes RSASSA-PSS signatures node verifies for any modulus size, with a fresh salt each time', () => {
    for (const modulusLength of [2048, 2049, 3072]) {
      // Prepare
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength });
      const message = Buffer.from(`message for ${modulusLength}`);
      const digest = createHash('sha256').update(message).digest();

      // Act
      const [a, b] = [signDigestRsaPss(privateKey, digest), signDigestRsaPss(privateKey, digest)];

      // Assess
      expect(verify('sha256', message, { key: publicKey, ...PSS }, a)).toBe(true);
      expect(verify('sha256', message, { key: publicKey, ...PSS }, b)).toBe(true);
      expect(a.equals(b)).toBe(false);
    }
  });
});
