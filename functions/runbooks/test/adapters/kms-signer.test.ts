import { constants, createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import {
  DependencyTimeoutException,
  DescribeKeyCommand,
  GetPublicKeyCommand,
  type GetPublicKeyCommandOutput,
  KMSClient,
  NotFoundException,
  SignCommand,
  type SignCommandInput,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { KmsPublicKeys, KmsSigner } from '../../src/adapters/kms-signer.js';
import { signDigestRsaPss } from '../../src/adapters/rsa-pss.js';
import { parseRunbookValue } from '../../src/domain/runbook.js';
import { signedMessageOf, signRunbook, verifyRunbook } from '../../src/domain/signing.js';

const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const NEW_KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/5678efab-12ab-34cd-56ef-1234567890ab';
const TENANT_KEY_ARN = 'arn:aws:kms:eu-west-1:444455556666:key/mrk-0123456789abcdef0123456789abcdef';
const NOW = new Date('2026-03-01T12:00:00.000Z');
const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };

const runbook = parseRunbookValue(
  {
    apiVersion: 'conductor.runbook/v1',
    id: 'flush-cache',
    version: 4,
    description: 'Flush the cache.',
    parameters: { type: 'object', properties: { region: { type: 'string', default: 'eu-west-1' } } },
    steps: [{ id: 'flush', name: 'Flush the region', type: 'lambda', functionName: 'conductor-cache-flush' }],
  },
  'flush-cache.json',
);
const message = signedMessageOf(runbook);
const digestOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();

/** What KMS holds for one key: the key pair, as GetPublicKey describes it. */
const kmsKey = (keyArn: string) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    keyArn,
    privateKey,
    publicKey,
    getPublicKey: {
      $metadata: {},
      KeyId: keyArn,
      PublicKey: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
      KeySpec: 'RSA_2048',
      KeyUsage: 'SIGN_VERIFY',
      SigningAlgorithms: ['RSASSA_PSS_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_256'],
    } satisfies GetPublicKeyCommandOutput,
  };
};

/** KMS's Sign in DIGEST mode: it is given the digest only, and signs it as the hash of the message. */
const signsDigestLikeKms = (keyArn: string, privateKey: KeyObject) => (input: SignCommandInput) => ({
  KeyId: keyArn,
  SigningAlgorithm: 'RSASSA_PSS_SHA_256' as const,
  Signature: new Uint8Array(signDigestRsaPss(privateKey, input.Message ?? new Uint8Array())),
});

describe('KmsSigner', () => {
  const client = new KMSClient({ region: 'eu-west-1' });
  const kms = mockClient(client);
  const key = kmsKey(KEY_ARN);

  afterEach(() => kms.reset());

  it('asks KMS to sign the digest (MessageType DIGEST, RSASSA_PSS_SHA_256) with its key ARN', async () => {
    // Prepare
    kms.on(SignCommand).resolves({ KeyId: KEY_ARN, Signature: new Uint8Array(256).fill(7) });
    const signer = new KmsSigner(client, KEY_ARN);

    // Act
    const signature = await signer.sign(digestOf(message));

    // Assess
    expect(signature).toEqual(Buffer.alloc(256, 7));
    expect(kms).toHaveReceivedCommandTimes(SignCommand, 1);
    expect(kms).toHaveReceivedCommandWith(SignCommand, {
      KeyId: KEY_ARN,
      Message: digestOf(message),
      MessageType: 'DIGEST',
      SigningAlgorithm: 'RSASSA_PSS_SHA_256',
    });
  });

  it('records the key ARN as key id and key version: KMS has no versions of an asymmetric key', async () => {
    // Prepare
    kms.on(SignCommand).callsFake(signsDigestLikeKms(KEY_ARN, key.privateKey));
    const signer = new KmsSigner(client, KEY_ARN);

    // Act
    const signature = await signRunbook(runbook, signer, NOW);

    // Assess
    expect(signature).toMatchObject({ keyId: KEY_ARN, keyVersion: KEY_ARN, algorithm: 'RSASSA_PSS_SHA_256' });
  });

  it('is verified like the local signer: KMS DIGEST-mode signatures pass node’s PSS check over the message', async () => {
    // Prepare: Sign answers what node:crypto makes over the message the test knows, with PSS, SHA-256, salt 32
    kms.on(SignCommand).resolves({
      KeyId: KEY_ARN,
      Signature: new Uint8Array(sign('sha256', message, { key: key.privateKey, ...PSS })),
    });
    kms.on(GetPublicKeyCommand, { KeyId: KEY_ARN }).resolves(key.getPublicKey);
    const signer = new KmsSigner(client, KEY_ARN);

    // Act
    const signature = await signRunbook(runbook, signer, NOW);
    const verdict = await verifyRunbook(runbook, signature, new KmsPublicKeys(client, [KEY_ARN]));

    // Assess: KMS was handed the SHA-256 of exactly those bytes, as a digest
    const request = kms.commandCalls(SignCommand)[0]?.args[0].input;
    expect(request?.MessageType).toBe('DIGEST');
    expect(Buffer.from(request?.Message ?? new Uint8Array())).toEqual(digestOf(message));
    expect(signature.digest).toBe(digestOf(message).toString('hex'));
    expect(verdict).toEqual({ ok: true });
  });

  it('is verified when KMS signs from the digest alone, as it does in DIGEST mode', async () => {
    // Prepare
    kms.on(SignCommand).callsFake(signsDigestLikeKms(KEY_ARN, key.privateKey));
    kms.on(GetPublicKeyCommand, { KeyId: KEY_ARN }).resolves(key.getPublicKey);
    const signer = new KmsSigner(client, KEY_ARN);

    // Act
    const signature = await signRunbook(runbook, signer, NOW);
    const verdict = await verifyRunbook(runbook, signature, new KmsPublicKeys(client, [KEY_ARN]));

    // Assess
    expect(verdict).toEqual({ ok: true });
  });

  it('resolves an alias to the key ARN once, when it is made, after checking the key can sign runbooks', async () => {
    // Prepare
    kms.on(DescribeKeyCommand, { KeyId: 'alias/conductor-runbook-signing' }).resolves({
      KeyMetadata: {
        KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
        Arn: KEY_ARN,
        KeySpec: 'RSA_2048',
        KeyUsage: 'SIGN_VERIFY',
        SigningAlgorithms: ['RSASSA_PSS_SHA_256'],
      },
    });

    // Act
    const signer = await KmsSigner.forKey(client, 'alias/conductor-runbook-signing');

    // Assess
    expect(signer.keyId).toBe(KEY_ARN);
    expect(await signer.keyVersion()).toBe(KEY_ARN);
  });

  it('refuses a key that cannot make RSASSA_PSS_SHA_256 signatures, naming it', async () => {
    // Prepare
    kms.on(DescribeKeyCommand).resolves({
      KeyMetadata: { KeyId: 'k', Arn: KEY_ARN, KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT' },
    });

    // Act
    const making = KmsSigner.forKey(client, 'alias/data-key');

    // Assess
    await expect(making).rejects.toThrow(`KMS key ${KEY_ARN} cannot sign runbooks`);
  });

  it('needs a key ARN, not an alias: a signature must name the key that made it', () => {
    // Act
    const making = () => new KmsSigner(client, 'alias/conductor-runbook-signing');

    // Assess
    expect(making).toThrow('KmsSigner needs a KMS key ARN, got "alias/conductor-runbook-signing"');
  });

  it('refuses a signature KMS made with another key', async () => {
    // Prepare
    kms.on(SignCommand).resolves({ KeyId: NEW_KEY_ARN, Signature: new Uint8Array(256) });
    const signer = new KmsSigner(client, KEY_ARN);

    // Act
    const signing = signer.sign(digestOf(message));

    // Assess
    await expect(signing).rejects.toThrow(`KMS signed with ${NEW_KEY_ARN}, not ${KEY_ARN}`);
  });

  it('refuses a digest that is not 32 bytes without calling KMS', async () => {
    // Prepare
    const signer = new KmsSigner(client, KEY_ARN);

    // Act
    const signing = signer.sign(Buffer.from(message));

    // Assess
    await expect(signing).rejects.toThrow(/32 bytes/);
    expect(kms).not.toHaveReceivedCommand(SignCommand);
  });
});

describe('KmsPublicKeys', () => {
  const client = new KMSClient({ region: 'eu-west-1' });
  const kms = mockClient(client);
  const oldKey = kmsKey(KEY_ARN);
  const newKey = kmsKey(NEW_KEY_ARN);

  afterEach(() => kms.reset());

  it('reads a trusted key’s public key (SPKI DER) once and keeps it', async () => {
    // Prepare
    kms.on(GetPublicKeyCommand, { KeyId: KEY_ARN }).resolves(oldKey.getPublicKey);
    const keys = new KmsPublicKeys(client, [KEY_ARN]);

    // Act
    const [first, second] = await Promise.all([keys.get(KEY_ARN, KEY_ARN), keys.get(KEY_ARN, KEY_ARN)]);
    const third = await keys.get(KEY_ARN, KEY_ARN);

    // Assess
    expect(first?.equals(oldKey.publicKey)).toBe(true);
    expect(second).toBe(first);
    expect(third).toBe(first);
    expect(kms).toHaveReceivedCommandTimes(GetPublicKeyCommand, 1);
  });

  it('answers nothing for a key it does not trust, or a version that is not the key ARN, without asking KMS', async () => {
    // Prepare
    const keys = new KmsPublicKeys(client, [KEY_ARN]);

    // Act
    const answers = await Promise.all([keys.get(TENANT_KEY_ARN, TENANT_KEY_ARN), keys.get(KEY_ARN, '1')]);

    // Assess
    expect(answers).toEqual([undefined, undefined]);
    expect(kms).not.toHaveReceivedCommand(GetPublicKeyCommand);
  });

  it('keeps verifying the old key’s signatures after a rotation to a new key', async () => {
    // Prepare
    kms.on(SignCommand, { KeyId: KEY_ARN }).callsFake(signsDigestLikeKms(KEY_ARN, oldKey.privateKey));
    kms.on(SignCommand, { KeyId: NEW_KEY_ARN }).callsFake(signsDigestLikeKms(NEW_KEY_ARN, newKey.privateKey));
    kms.on(GetPublicKeyCommand, { KeyId: KEY_ARN }).resolves(oldKey.getPublicKey);
    kms.on(GetPublicKeyCommand, { KeyId: NEW_KEY_ARN }).resolves(newKey.getPublicKey);
    const before = await signRunbook(runbook, new KmsSigner(client, KEY_ARN), NOW);

    // Act
    const after = await signRunbook(runbook, new KmsSigner(client, NEW_KEY_ARN), NOW);
    const keys = new KmsPublicKeys(client, [NEW_KEY_ARN, KEY_ARN]);

    // Assess
    expect(await verifyRunbook(runbook, before, keys)).toEqual({ ok: true });
    expect(await verifyRunbook(runbook, after, keys)).toEqual({ ok: true });
    expect(await verifyRunbook(runbook, before, new KmsPublicKeys(client, [NEW_KEY_ARN]))).toEqual({
      ok: false,
      reason: 'unknown_key',
    });
  });

  it('verifies a tenant’s own key (BYOK) when it is trusted for that tenant, and only then', async () => {
    // Prepare
    const tenantKey = kmsKey(TENANT_KEY_ARN);
    kms
      .on(SignCommand, { KeyId: TENANT_KEY_ARN })
      .callsFake(signsDigestLikeKms(TENANT_KEY_ARN, tenantKey.privateKey));
    kms.on(GetPublicKeyCommand, { KeyId: TENANT_KEY_ARN }).resolves(tenantKey.getPublicKey);
    const signature = await signRunbook(runbook, new KmsSigner(client, TENANT_KEY_ARN), NOW);

    // Act
    const forTheTenant = await verifyRunbook(runbook, signature, new KmsPublicKeys(client, [TENANT_KEY_ARN]));
    const forOthers = await verifyRunbook(runbook, signature, new KmsPublicKeys(client, [KEY_ARN]));

    // Assess
    expect(forTheTenant).toEqual({ ok: true });
    expect(forOthers).toEqual({ ok: false, reason: 'unknown_key' });
  });

  it('answers nothing for a trusted key KMS does not know, and asks again next time', async () => {
    // Prepare
    kms.on(GetPublicKeyCommand).rejects(new NotFoundException({ $metadata: {}, message: 'Key not found' }));
    const keys = new KmsPublicKeys(client, [KEY_ARN]);

    // Act
    const answers = [await keys.get(KEY_ARN, KEY_ARN), await keys.get(KEY_ARN, KEY_ARN)];

    // Assess
    expect(answers).toEqual([undefined, undefined]);
    expect(kms).toHaveReceivedCommandTimes(GetPublicKeyCommand, 2);
  });

  it('lets any other KMS failure through (a timed-out call is not a forged signature), then retries', async () => {
    // Prepare
    kms
      .on(GetPublicKeyCommand)
      .rejectsOnce(new DependencyTimeoutException({ $metadata: {}, message: 'KMS timed out' }))
      .resolves(oldKey.getPublicKey);
    const keys = new KmsPublicKeys(client, [KEY_ARN]);

    // Act
    const first = keys.get(KEY_ARN, KEY_ARN);

    // Assess
    await expect(first).rejects.toThrow('KMS timed out');
    expect((await keys.get(KEY_ARN, KEY_ARN))?.equals(oldKey.publicKey)).toBe(true);
  });

  it('refuses a trusted key that is not a signing key', async () => {
    // Prepare
    kms
      .on(GetPublicKeyCommand)
      .resolves({ ...oldKey.getPublicKey, KeyUsage: 'ENCRYPT_DECRYPT', SigningAlgorithms: undefined });
    const keys = new KmsPublicKeys(client, [KEY_ARN]);

    // Act
    const reading = keys.get(KEY_ARN, KEY_ARN);

    // Assess
    await expect(reading).rejects.toThrow(
      `KMS key ${KEY_ARN} is trusted for runbooks but cannot make RSASSA_PSS_SHA_256 signatures`,
    );
  });
});
