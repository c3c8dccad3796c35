import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InMemoryTenantRecords } from '#shared/adapters/memory-records.js';
import { ManualClock } from '#shared/ports/system.js';
import { refusal } from '#shared/testing/refusal.js';
import { type RunbookRecord, RunbookRegistry, type RunbookVersionRecord } from '../../src/domain/registry.js';
import { signRunbook } from '../../src/domain/signing.js';
import { type TenantKeyRecord, TenantKeys } from '../../src/domain/tenant-keys.js';
import { exampleJson, KeyPairSigner, parsed, RecordingEvents, TrustedKeys } from '../support/fakes.js';

/**
 * BYOK: a tenant's own signing key (the public half of its KMS key) is trusted for that tenant's
 * runbooks only, never for another tenant's, and not after it was retired.
 */
const ARN = 'arn:aws:kms:eu-west-1:111122223333:key/0b1c2d3e-0000-4000-8000-000000000000';
const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
const tenantSigner = new KeyPairSigner(ARN, pair.privateKey, ARN);
const pem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const restart = exampleJson('restart-service.json');

const setup = () => {
  const clock = new ManualClock('2026-03-01T09:00:00.000Z');
  const deploymentPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const deploymentKeys = new TrustedKeys().trust('local:deployment', '1', deploymentPair.publicKey);
  const records = new InMemoryTenantRecords<TenantKeyRecord>('RUNBOOK_KEY');
  const tenantKeys = new TenantKeys({ records, clock, deploymentKeys });
  const registry = new RunbookRegistry({
    runbooks: new InMemoryTenantRecords<RunbookRecord>('RUNBOOK'),
    versions: new InMemoryTenantRecords<RunbookVersionRecord>('RUNBOOK_VERSION'),
    keys: deploymentKeys,
    tenantKeys,
    events: new RecordingEvents(),
    clock,
  });
  const publish = async (tenantId: string) =>
    registry.publish(
      tenantId,
      { runbook: restart, signature: await signRunbook(parsed(restart), tenantSigner, clock.now()) },
      'admin-1',
      't',
    );
  return { clock, tenantKeys, registry, publish, deploymentPair };
};

describe('TenantKeys (BYOK)', () => {
  it('trusts a registered key for its tenant only: acme publishes, globex is refused unknown_key', async () => {
    // Prepare
    const t = setup();
    const { key, created } = await t.tenantKeys.add('acme', { keyId: ARN, publicKey: pem }, 'admin-1');

    // Act
    const acme = await t.publish('acme');
    const globex = await refusal(t.publish('globex'));

    // Assess
    expect(created).toBe(true);
    expect(key).toMatchObject({
      id: ARN,
      keyVersion: ARN,
      status: 'active',
      fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(acme.created).toBe(true);
    expect(globex.code).toBe('signature_invalid');
    expect(globex.message).toContain('unknown_key');
  });

  it('answers the same key again with 200 and refuses another public key under the id with 409', async () => {
    // Prepare
    const t = setup();
    await t.tenantKeys.add('acme', { keyId: ARN, publicKey: pem }, 'admin-1');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });

    // Act
    const again = await t.tenantKeys.add('acme', { keyId: ARN, publicKey: pem }, 'admin-2');
    const conflict = await refusal(
      t.tenantKeys.add('acme', { keyId: ARN, publicKey: other.toString() }, 'admin-2'),
    );

    // Assess
    expect(again.created).toBe(false);
    expect(again.key.addedBy).toBe('admin-1');
    expect(conflict.code).toBe('key_exists');
  });

  it('stops trusting a retired key, and quarantines a version it signed at its next check', async () => {
    // Prepare
    const t = setup();
    await t.tenantKeys.add('acme', { keyId: ARN, publicKey: pem }, 'admin-1');
    const { version } = await t.publish('acme');

    // Act
    const retired = await t.tenantKeys.retire('acme', ARN, 'admin-2');
    const check = await t.registry.verifyStored('acme', version, 't');
    const readd = await refusal(t.tenantKeys.add('acme', { keyId: ARN, publicKey: pem }, 'admin-1'));

    // Assess
    expect(retired).toMatchObject({ status: 'retired', retiredBy: 'admin-2' });
    expect(check).toEqual({ ok: false, reason: 'unknown_key' });
    expect(readd.code).toBe('key_exists');
  });

  it('refuses what is not an RSA public key of 2048 bits, a bad key id, and a deployment key id', async () => {
    // Prepare
    const t = setup();
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    const deploymentPem = t.deploymentPair.publicKey.export({ type: 'spki', format: 'pem' }).toString();

    // Act
    const notAKey = await refusal(t.tenantKeys.add('acme', { keyId: ARN, publicKey: 'hello' }, 'a'));
    const notRsa = await refusal(t.tenantKeys.add('acme', { keyId: ARN, publicKey: ec.toString() }, 'a'));
    const tooSmall = await refusal(
      t.tenantKeys.add('acme', { keyId: ARN, publicKey: small.toString() }, 'a'),
    );
    const badId = await refusal(t.tenantKeys.add('acme', { keyId: 'no spaces', publicKey: pem }, 'a'));
    // The deployment key's id names its version 1 (local keys), not the id: registering it is allowed
    // only when the deployment does not answer it as keyId = keyVersion (KMS keys do).
    const reserved = await refusal(
      new TenantKeys({
        records: new InMemoryTenantRecords<TenantKeyRecord>('RUNBOOK_KEY'),
        clock: t.clock,
        deploymentKeys: new TrustedKeys().trust(ARN, ARN, t.deploymentPair.publicKey),
      }).add('acme', { keyId: ARN, publicKey: deploymentPem }, 'a'),
    );

    // Assess
    expect([notAKey.code, notRsa.code, tooSmall.code, badId.code]).toEqual([
      'validation_failed',
      'validation_failed',
      'validation_failed',
      'validation_failed',
    ]);
    expect(reserved.code).toBe('key_reserved');
    expect((await t.tenantKeys.list('acme', { limit: 10 })).items).toEqual([]);
  });

  it('answers 404 key_not_found when retiring a key the tenant never registered', async () => {
    // Prepare
    const t = setup();
    await t.tenantKeys.add('acme', { keyId: ARN, publicKey: pem }, 'admin-1');

    // Act
    const error = await refusal(t.tenantKeys.retire('globex', ARN, 'admin-2'));

    // Assess
    expect(error.code).toBe('key_not_found');
  });
});
