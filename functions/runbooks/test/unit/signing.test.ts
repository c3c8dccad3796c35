import { constants, createHash, generateKeyPairSync, type KeyObject, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '#shared/ports/canonical-json.js';
import { signDigestRsaPss } from '../../src/adapters/rsa-pss.js';
import { parseRunbook, parseRunbookValue, type Runbook } from '../../src/domain/runbook.js';
import {
  type PublicKeys,
  RUNBOOK_SIGNATURE_ALGORITHM,
  type RunbookSignature,
  runbookDigest,
  runbookSignatureSchema,
  type Signer,
  signedMessageOf,
  signRunbook,
  verifyRunbook,
} from '../../src/domain/signing.js';

const EXAMPLES = resolve(import.meta.dirname, '../../../../runbooks');
const example = (name: string): Runbook => parseRunbook(readFileSync(resolve(EXAMPLES, name), 'utf8'), name);
const NOW = new Date('2026-03-01T12:00:00.000Z');

/** A signer with a real RSA-2048 key that, like KMS, only ever sees the digest. */
class InMemorySigner implements Signer {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly digests: Buffer[] = [];

  constructor(
    readonly keyId: string,
    private readonly version = '1',
  ) {
    ({ privateKey: this.privateKey, publicKey: this.publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
    }));
  }
  async keyVersion(): Promise<string> {
    return this.version;
  }
  async sign(digest: Buffer): Promise<Buffer> {
    this.digests.push(digest);
    return signDigestRsaPss(this.privateKey, digest);
  }
}

/** Trusts exactly the keys it is given. */
class TrustedKeys implements PublicKeys {
  readonly #keys = new Map<string, KeyObject>();
  trust(keyId: string, keyVersion: string, key: KeyObject): this {
    this.#keys.set(`${keyId}#${keyVersion}`, key);
    return this;
  }
  async get(keyId: string, keyVersion: string): Promise<KeyObject | undefined> {
    return this.#keys.get(`${keyId}#${keyVersion}`);
  }
}

const ours = new InMemorySigner('local:0123456789abcdef');
const keys = new TrustedKeys().trust(ours.keyId, '1', ours.publicKey);
const runbook = example('restart-service.json');
const other = example('key-rotation.json');

/** `runbook` as a plain JSON value, for editing and parsing again. */
const asJson = (value: Runbook): Record<string, unknown> => JSON.parse(JSON.stringify(value));
const reparsed = (edit: (json: Record<string, unknown>) => void, from: Runbook = runbook): Runbook => {
  const json = asJson(from);
  edit(json);
  return parseRunbookValue(json, 'edited.json');
};
/** Rebuilds a value with every object's keys in reverse order. */
const reversedKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([key, item]) => [key, reversedKeys(item)]),
  );
};

describe('signRunbook', () => {
  it('records the key, its version, the algorithm, the digest of the canonical JSON and the time', async () => {
    // Act
    const signature = await signRunbook(runbook, ours, NOW);

    // Assess
    const digest = createHash('sha256').update(canonicalJson(runbook), 'utf8').digest('hex');
    expect(signature).toEqual({
      keyId: ours.keyId,
      keyVersion: '1',
      algorithm: 'RSASSA_PSS_SHA_256',
      digest,
      signature: expect.any(String),
      signedAt: '2026-03-01T12:00:00.000Z',
    });
    expect(Buffer.from(signature.signature, 'base64')).toHaveLength(256);
    expect(runbookSignatureSchema.parse(signature)).toEqual(signature);
  });

  it('hands the signer the 32-byte SHA-256 digest, as KMS DIGEST mode takes it, never the runbook', async () => {
    // Prepare
    const signer = new InMemorySigner('local:fedcba9876543210');

    // Act
    const signature = await signRunbook(runbook, signer, NOW);

    // Assess
    expect(signer.digests).toEqual([Buffer.from(signature.digest, 'hex')]);
  });

  it('makes a signature node:crypto verifies over the canonical JSON with PSS, SHA-256 and a 32-byte salt', async () => {
    // Act
    const signature = await signRunbook(runbook, ours, NOW);

    // Assess
    const check = (saltLength: number) =>
      verify(
        'sha256',
        Buffer.from(canonicalJson(runbook), 'utf8'),
        { key: ours.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength },
        Buffer.from(signature.signature, 'base64'),
      );
    expect(check(32)).toBe(true);
    expect(check(20)).toBe(false);
  });
});

describe('verifyRunbook', () => {
  it('accepts the runbook it signed', async () => {
    // Prepare
    const signature = await signRunbook(runbook, ours, NOW);

    // Act
    const verdict = await verifyRunbook(runbook, signature, keys);

    // Assess
    expect(verdict).toEqual({ ok: true });
  });

  it('takes the canonical form, so the same runbook written with its keys in another order verifies', async () => {
    // Prepare
    const signature = await signRunbook(runbook, ours, NOW);
    const reordered = parseRunbookValue(reversedKeys(asJson(runbook)), 'reordered.json');

    // Act
    const verdict = await verifyRunbook(reordered, signature, keys);

    // Assess
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(runbook));
    expect(runbookDigest(reordered)).toBe(signature.digest);
    expect(verdict).toEqual({ ok: true });
  });

  it('takes the runbook with its defaults, so spelling a default out changes nothing', async () => {
    // Prepare
    const signature = await signRunbook(runbook, ours, NOW);
    const spelledOut = reparsed((json) => {
      for (const step of json.steps as Record<string, unknown>[]) step.privileged ??= false;
    });

    // Act
    const verdict = await verifyRunbook(spelledOut, signature, keys);

    // Assess
    expect(verdict).toEqual({ ok: true });
  });

  describe('detects tampering', () => {
    it('a changed step: digest_mismatch', async () => {
      // Prepare
      const signature = await signRunbook(runbook, ours, NOW);
      const tampered = reparsed((json) => {
        const steps = json.steps as Record<string, unknown>[];
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook placeholder, not a JS template.
        if (steps[0]) steps[0].url = 'https://attacker.example.net/${params.service}';
      });

      // Act
      const verdict = await verifyRunbook(tampered, signature, keys);

      // Assess
      expect(verdict).toEqual({ ok: false, reason: 'digest_mismatch' });
    });

    it('a changed parameter default: digest_mismatch', async () => {
      // Prepare
      const signature = await signRunbook(runbook, ours, NOW);
      const tampered = reparsed((json) => {
        const drain = (json.parameters as { properties: { drain: { default: boolean } } }).properties.drain;
        drain.default = false;
      });

      // Act
      const verdict = await verifyRunbook(tampered, signature, keys);

      // Assess
      expect(verdict).toEqual({ ok: false, reason: 'digest_mismatch' });
    });

    it('a step made unprivileged, or an approval stage weakened: digest_mismatch', async () => {
      // Prepare
      const signature = await signRunbook(other, ours, NOW);
      const unprivileged = reparsed((json) => {
        const steps = json.steps as Record<string, unknown>[];
        if (steps[2]) steps[2].privileged = false;
      }, other);
      const oneApprover = reparsed((json) => {
        const stages = json.approvals as Record<string, unknown>[];
        if (stages[0]) stages[0].minApprovers = 1;
      }, other);

      // Act
      const verdicts = [
        await verifyRunbook(unprivileged, signature, keys),
        await verifyRunbook(oneApprover, signature, keys),
      ];

      // Assess
      expect(verdicts).toEqual([
        { ok: false, reason: 'digest_mismatch' },
        { ok: false, reason: 'digest_mismatch' },
      ]);
    });

    it('the signature of another runbook: digest_mismatch', async () => {
      // Prepare
      const otherSignature = await signRunbook(other, ours, NOW);

      // Act
      const verdict = await verifyRunbook(runbook, otherSignature, keys);

      // Assess
      expect(verdict).toEqual({ ok: false, reason: 'digest_mismatch' });
    });

    it('the signature of another version of the same runbook: digest_mismatch', async () => {
      // Prepare
      const signature = await signRunbook(runbook, ours, NOW);
      const nextVersion = reparsed((json) => {
        json.version = 2;
      });

      // Act
      const verdict = await verifyRunbook(nextVersion, signature, keys);

      // Assess
      expect(verdict).toEqual({ ok: false, reason: 'digest_mismatch' });
    });

    it('a signature by another key: unknown_key', async () => {
      // Prepare
      const stranger = new InMemorySigner('local:aaaaaaaaaaaaaaaa');
      const signature = await signRunbook(runbook, stranger, NOW);

      // Act
      const verdict = await verifyRunbook(runbook, signature, keys);

      // Assess
      expect(verdict).toEqual({ ok: false, reason: 'unknown_key' });
    });

    it('a signature by another key that claims to be ours: bad_signature', async () => {
      // Prepare
      const impostor = new InMemorySigner(ours.keyId, '1');
      const signature = await signRunbook(runbook, impostor, NOW);

      // Act
      const verdict = await verifyRunbook(runbook, signature, keys);

      // Assess
      expect(verdict).toEqual({ ok: false, reason: 'bad_signature' });
    });

    it('an unknown version of our key: unknown_key', async () => {
      // Prepare
      const signature = await signRunbook(runbook, ours, NOW);

      // Act
      const verdict = await verifyRunbook(runbook, { ...signature, keyVersion: '2' }, keys);

      // Assess
      expect(verdict).toEqual({ ok: false, reason: 'unknown_key' });
    });

    it('another algorithm: algorithm', async () => {
      // Prepare
      const signature = await signRunbook(runbook, ours, NOW);
      const claimed = { ...signature, algorithm: 'RSASSA_PKCS1_V1_5_SHA_256' } as unknown as RunbookSignature;

      // Act
      const verdict = await verifyRunbook(runbook, claimed, keys);

      // Assess
      expect(verdict).toEqual({ ok: false, reason: 'algorithm' });
    });

    it('a trusted key that cannot make RSA-PSS signatures: algorithm', async () => {
      // Prepare
      const signature = await signRunbook(runbook, ours, NOW);
      const ecKeys = new TrustedKeys().trust(
        ours.keyId,
        '1',
        generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
      );

      // Act
      const verdict = await verifyRunbook(runbook, signature, ecKeys);

      // Assess
      expect(verdict).toEqual({ ok: false, reason: 'algorithm' });
    });

    it('a changed runbook whose signature was given the new digest: bad_signature', async () => {
      // Prepare
      const signature = await signRunbook(runbook, ours, NOW);
      const tampered = reparsed((json) => {
        json.description = 'Harmless, promise.';
      });

      // Act
      const verdict = await verifyRunbook(tampered, { ...signature, digest: runbookDigest(tampered) }, keys);

      // Assess
      expect(verdict).toEqual({ ok: false, reason: 'bad_signature' });
    });

    it('a flipped bit, a truncated signature or one that is not base64: bad_signature', async () => {
      // Prepare
      const signature = await signRunbook(runbook, ours, NOW);
      const bytes = Buffer.from(signature.signature, 'base64');
      const flipped = Buffer.from(bytes);
      flipped[100] = (flipped[100] ?? 0) ^ 0x01;
      const forged = [
        flipped.toString('base64'),
        bytes.subarray(0, 128).toString('base64'),
        `!${signature.signature.slice(1)}`,
      ];

      // Act
      const verdicts = await Promise.all(
        forged.map((text) => verifyRunbook(runbook, { ...signature, signature: text }, keys)),
      );

      // Assess
      expect(verdicts).toEqual(forged.map(() => ({ ok: false, reason: 'bad_signature' })));
    });
  });
});

describe('signedMessageOf', () => {
  it('is the canonical JSON of the runbook, whatever the order its keys were written in', () => {
    // Prepare
    const reordered = parseRunbookValue(reversedKeys(asJson(other)), 'reordered.json');

    // Act
    const messages = [signedMessageOf(other), signedMessageOf(reordered)];

    // Assess
    expect(messages[0]?.equals(messages[1] ?? Buffer.alloc(0))).toBe(true);
    expect(messages[0]?.toString('utf8')).toBe(canonicalJson(other));
    expect(messages[0]?.toString('utf8')).toMatch(/^\{"apiVersion":"conductor\.runbook\/v1","approvals":\[/);
  });
});

describe('runbookSignatureSchema', () => {
  it('refuses a signature record of the wrong shape', () => {
    // Act
    const result = runbookSignatureSchema.safeParse({
      keyId: 'local:0123456789abcdef',
      keyVersion: '1',
      algorithm: RUNBOOK_SIGNATURE_ALGORITHM,
      digest: 'ABC',
      signature: 'not base64!',
      signedAt: 'yesterday',
    });

    // Assess
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path.join('.'))).toEqual([
      'digest',
      'signature',
      'signedAt',
    ]);
  });
});
