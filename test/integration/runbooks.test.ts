import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRsaSigner, parseRunbook, type Runbook, signRunbook } from '../../functions/runbooks/offline.js';
import { signDigestRsaPss } from '../../functions/runbooks/src/adapters/rsa-pss.js';
import { expectUniformError, type Harness, startHarness } from './harness.js';

/**
 * The runbook registry over HTTP on the embedded runtime: a runbook signed with the runtime's local
 * key (as `conductor runbook sign` signs with `.conductor/runbook-signing`) is verified before it is
 * stored; a tampered one, another runbook's signature or another key's is refused with an
 * `unsigned_runbook` event; a version never changes; another tenant sees nothing.
 */
let h: Harness;
let signer: LocalRsaSigner;
let admin: string;
let restart: Runbook;

const RESTART = new URL('../../runbooks/restart-service.json', import.meta.url);
const ROTATION = new URL('../../runbooks/key-rotation.json', import.meta.url);

const publish = (body: unknown, token = admin) => h.call('POST', '/runbooks/registry', { token, body });
const signed = async (runbook: Runbook, by: LocalRsaSigner = signer) => ({
  runbook,
  signature: await signRunbook(runbook, by, new Date()),
});
const unsignedEvents = () =>
  h.conductor.bus
    .history(500)
    .map((entry) => entry.event)
    .filter((event) => event['detail-type'] === 'unsigned_runbook');

beforeAll(async () => {
  h = await startHarness();
  signer = await LocalRsaSigner.open(h.conductor.runbookKeyDir);
  // Publishing is an administrator's, stepped up.
  admin = await h.conductor.issuer.mint({
    subject: 'ada',
    tenant: 'acme',
    roles: ['admin'],
    amr: ['pwd', 'mfa'],
  });
  restart = parseRunbook(readFileSync(RESTART, 'utf8'), 'restart-service.json');
});
afterAll(async () => {
  await h.conductor.stop();
});

describe('POST runbooks/registry (publish)', () => {
  it('verifies and stores a signed version (201), answers the same again with 200 and changes nothing', async () => {
    // Act
    const first = await publish(await signed(restart));
    const again = await publish(await signed(restart));
    const latest = await h.call('GET', `/runbooks/registry/${restart.id}`, { token: h.tokens.acmeViewer });

    // Assess
    expect(first.status, first.text).toBe(201);
    expect(first.json).toMatchObject({
      runbookId: restart.id,
      version: restart.version,
      status: 'active',
      digest: expect.stringMatching(/^[0-9a-f]{64}$/),
      signature: { algorithm: 'RSASSA_PSS_SHA_256', keyId: signer.keyId },
      publishedBy: 'ada',
    });
    expect(again.status, again.text).toBe(200);
    expect(again.json.publishedAt).toBe(first.json.publishedAt);
    expect(latest.status).toBe(200);
    expect(latest.json.runbook).toMatchObject({ id: restart.id, steps: restart.steps });
  });

  it('refuses a tampered runbook, another runbook’s signature and another key’s with 422 and an unsigned_runbook event, storing nothing', async () => {
    // Prepare
    const tampered = structuredClone(restart) as Runbook & { version: number };
    tampered.version = restart.version + 10;
    const genuine = await signed({ ...tampered, description: 'what was signed' });
    const rotation = parseRunbook(readFileSync(ROTATION, 'utf8'), 'key-rotation.json');
    const otherKey = await LocalRsaSigner.open(`${h.conductor.runbookKeyDir}-elsewhere`);
    const before = unsignedEvents().length;

    // Act
    const changed = await publish({ runbook: tampered, signature: genuine.signature });
    const swapped = await publish({ runbook: tampered, signature: (await signed(rotation)).signature });
    const foreign = await publish(await signed(tampered, otherKey));
    const stored = await h.call('GET', `/runbooks/registry/${restart.id}/versions/${tampered.version}`, {
      token: h.tokens.acmeViewer,
    });

    // Assess
    expectUniformError(changed, 422, 'signature_invalid');
    expect(changed.json.message).toContain('digest_mismatch');
    expectUniformError(swapped, 422, 'signature_invalid');
    expectUniformError(foreign, 422, 'signature_invalid');
    expect(foreign.json.message).toContain('unknown_key');
    expectUniformError(stored, 404, 'runbook_version_not_found');
    const events = unsignedEvents().slice(before);
    expect(events.map((event) => (event.detail as { reason: string }).reason).sort()).toEqual(
      ['digest_mismatch', 'digest_mismatch', 'unknown_key'].sort(),
    );
    expect(events[0]?.detail).toMatchObject({ tenantId: 'acme', runbookId: restart.id, at: 'publish' });
  });

  it('refuses other content under a published version (409), and takes a new version as the latest', async () => {
    // Prepare
    const otherContent = { ...restart, description: `${restart.description} (edited)` };
    const next = { ...otherContent, version: restart.version + 1 };

    // Act
    const conflict = await publish(await signed(otherContent));
    const newer = await publish(await signed(next));
    const registry = await h.call('GET', '/runbooks/registry', { token: h.tokens.acmeViewer });
    const versions = await h.call('GET', `/runbooks/registry/${restart.id}/versions`, {
      token: h.tokens.acmeViewer,
    });

    // Assess
    expectUniformError(conflict, 409, 'runbook_version_exists');
    expect(newer.status, newer.text).toBe(201);
    expect(registry.json.items).toContainEqual(
      expect.objectContaining({ runbookId: restart.id, latestVersion: next.version, status: 'active' }),
    );
    expect(versions.json.items.map((v: { version: number }) => v.version)).toEqual([
      next.version,
      restart.version,
    ]);
  });

  it('refuses a runbook that fails its schema with the path and the reason, and a caller who may not publish', async () => {
    // Prepare
    const broken = {
      ...restart,
      steps: [{ id: 'x', name: 'x', type: 'http', method: 'DELETE', url: 'https://x' }],
    };

    // Act
    const invalid = await publish({ runbook: broken, signature: (await signed(restart)).signature });
    const unknownField = await publish({ ...(await signed(restart)), colour: 'red' });
    const operator = await publish(await signed(restart), h.tokens.acmeOperator);
    const notSteppedUp = await publish(
      await signed(restart),
      await h.conductor.issuer.mint({ subject: 'bob', tenant: 'acme', roles: ['admin'] }),
    );

    // Assess
    expectUniformError(invalid, 400, 'invalid_runbook');
    expect(invalid.json.message).toMatch(/runbook: steps\[0\]\.method: /);
    expectUniformError(unknownField, 400, 'validation_failed');
    expectUniformError(operator, 403);
    expectUniformError(notSteppedUp, 403);
  });
});

describe('the registry, read', () => {
  it('hides one tenant’s runbooks from another, and refuses a registry query naming another tenant', async () => {
    // Act
    const globexList = await h.call('GET', '/runbooks/registry', { token: h.tokens.globexViewer });
    const globexGet = await h.call('GET', `/runbooks/registry/${restart.id}`, {
      token: h.tokens.globexViewer,
    });
    const named = await h.call('GET', '/runbooks/registry?tenantId=globex', { token: h.tokens.acmeViewer });
    const own = await h.call('GET', '/runbooks/registry?tenantId=acme', { token: h.tokens.acmeViewer });

    // Assess
    expect(globexList.status).toBe(200);
    expect(globexList.json.items).toEqual([]);
    expectUniformError(globexGet, 404, 'runbook_not_found');
    expectUniformError(named, 403, 'tenant_mismatch');
    expect(own.status).toBe(200);
    expect(own.json.items.length).toBeGreaterThan(0);
  });
});

describe('BYOK: a tenant’s own signing key', () => {
  it('trusts acme’s registered key for acme only, and not after it is retired', async () => {
    // Prepare: acme's own KMS key, as KmsSigner would sign with it (key id = version = its ARN).
    const arn = 'arn:aws:kms:eu-west-1:111122223333:key/0b1c2d3e-0000-4000-8000-0000000000aa';
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const own = {
      keyId: arn,
      keyVersion: async () => arn,
      sign: async (digest: Buffer) => signDigestRsaPss(pair.privateKey, digest),
    };
    const byok = { ...restart, id: 'byok-restart' };
    const body = { runbook: byok, signature: await signRunbook(byok, own, new Date()) };
    const publicKey = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();

    // Act
    const before = await publish(body);
    const added = await h.call('POST', '/runbooks/trusted-keys', {
      token: admin,
      body: { keyId: arn, publicKey },
    });
    const byViewer = await h.call('POST', '/runbooks/trusted-keys', {
      token: h.tokens.acmeViewer,
      body: { keyId: arn, publicKey },
    });
    const after = await publish(body);
    const globex = await h.call('POST', '/runbooks/registry', { token: h.tokens.globexAdmin, body });
    const listed = await h.call('GET', '/runbooks/trusted-keys', { token: h.tokens.acmeViewer });
    const retired = await h.call('POST', '/runbooks/trusted-keys/retire', {
      token: admin,
      body: { keyId: arn },
    });
    const next = { ...byok, version: 2 };
    const afterRetire = await publish({ runbook: next, signature: await signRunbook(next, own, new Date()) });

    // Assess
    expectUniformError(before, 422, 'signature_invalid');
    expect(added.status, added.text).toBe(201);
    expect(added.json).toMatchObject({ keyId: arn, status: 'active', addedBy: 'ada' });
    expect(byViewer.status).toBe(403);
    expect(after.status, after.text).toBe(201);
    expect(after.json.signature.keyId).toBe(arn);
    expectUniformError(globex, 422, 'signature_invalid');
    expect(listed.json.items).toEqual([expect.objectContaining({ keyId: arn, status: 'active' })]);
    expect(retired.json).toMatchObject({ status: 'retired', retiredBy: 'ada' });
    expectUniformError(afterRetire, 422, 'signature_invalid');
  });
});

describe('the key ceremony’s cadence (runbooks-key-age, a daily schedule)', () => {
  it('reads the signing key in use and says the rotation is due from its 90th day', async () => {
    // Prepare: the handler the runtime's schedule invokes (the same module instance).
    const { handler } = await import('../../functions/runbooks/src/key-age-handler.js');

    // Act
    const today = await handler();
    h.conductor.advanceClock(91 * 86_400_000); // last in this file: the clock stays moved until stop
    const later = await handler();

    // Assess
    expect(today).toMatchObject({ keyId: `${signer.keyId}#1`, ageDays: 0, rotateAfterDays: 90, due: false });
    expect(later).toMatchObject({ ageDays: 91, due: true });
  });
});
