import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryTenantRecords, InMemoryWormStore } from '#shared/testing/fakes.js';
import {
  type AssessmentRecord,
  Compliance,
  type ControlState,
  type ControlTest,
  type FindingRecord,
} from '../../src/domain/assess.js';
import { parseCatalog } from '../../src/domain/catalog.js';
import { buildPacket, type PacketSigner, packetInputOf, verifyPacket } from '../../src/domain/packet.js';
import { CATALOG_FILES, CATALOG_TEST_IDS } from '../support/catalog-files.js';

const FILES = CATALOG_FILES;
const TEST_IDS = CATALOG_TEST_IDS;

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signer: PacketSigner = {
  keyId: 'local:packet-1',
  algorithm: 'ed25519',
  sign: async (message) => sign(null, message, privateKey),
};
const PUBLIC_PEM = publicKey.export({ type: 'spki', format: 'pem' }).toString();

/** A SOC2 assessment where the evidence bucket check fails (a finding) and one test writes `<b>` in its summary. */
const packet = async () => {
  const tests = new Map<string, ControlTest>(
    TEST_IDS.map((id) => [
      id,
      {
        id,
        run: async () =>
          id === 'aws.evidence-bucket-lock'
            ? {
                status: 'fail' as const,
                summary: 'versioning <b>suspended</b>',
                observations: { versioning: 'Suspended' },
              }
            : { status: 'pass' as const, summary: `${id} holds`, observations: { id } },
      },
    ]),
  );
  const compliance = new Compliance({
    catalog: parseCatalog(FILES, new Set(TEST_IDS)),
    tests,
    evidence: new InMemoryWormStore(),
    controls: new InMemoryTenantRecords<ControlState>('CONTROL'),
    findings: new InMemoryTenantRecords<FindingRecord>('FINDING'),
    assessments: new InMemoryTenantRecords<AssessmentRecord>('ASSESSMENT'),
    seen: new InMemoryTenantRecords('SEEN_EVENT'),
    events: { publish: async () => undefined },
    clock: new ManualClock(new Date('2026-12-07T06:00:00Z')),
    ids: new SequentialIds(),
    environment: 'test',
  });
  await compliance.assess('SOC2', 'all', 'schedule', 't');
  return buildPacket(await packetInputOf(compliance, 'SOC2', '2026-12-07T07:00:00.000Z'), signer);
};

describe('the auditor packet', () => {
  it('cross-walks every criterion to its controls, evidence with hashes, owners and status, signed', async () => {
    const files = await packet();
    const html = files['index.html'] as string;
    const data = JSON.parse(files['evidence.json'] as string);

    expect(verifyPacket(files, PUBLIC_PEM)).toEqual({ ok: true, problems: [] });
    for (const criterion of ['CC1.3', 'CC6.1', 'CC6.6', 'CC6.7', 'CC7.2', 'CC8.1'])
      expect(html).toContain(`<b>${criterion}</b>`);
    const cc72 = data.crosswalk.find((c: { criterion: string }) => c.criterion === 'CC7.2');
    const worm = cc72.controls.find((c: { controlId: string }) => c.controlId === 'evidence-worm');
    expect(worm).toMatchObject({
      owner: 'grc',
      status: 'fresh',
      findings: [{ severity: 'critical', status: 'open' }],
    });
    expect(worm.evidence.map((e: { testId: string }) => e.testId)).toEqual([
      'aws.evidence-bucket-lock',
      'platform.evidence-store-worm',
    ]);
    // Every evidence record and artifact travels in the packet, each listed in the manifest.
    const manifest = JSON.parse(files['manifest.json'] as string) as { files: { name: string }[] };
    expect(
      manifest.files.filter((f) => f.name.startsWith('artifacts/compliance/artifacts/')).length,
    ).toBeGreaterThan(0);
    expect(html).toContain('versioning &lt;b&gt;suspended&lt;/b&gt;');
    expect(html).not.toMatch(/<script|https?:\/\//);
  });

  it('verify names an altered artifact, a changed manifest, a missing file and an extra one', async () => {
    const files = await packet();
    const artifact = Object.keys(files).find((name) =>
      name.startsWith('artifacts/compliance/artifacts/'),
    ) as string;

    const altered = verifyPacket({ ...files, [artifact]: `${files[artifact]} ` }, PUBLIC_PEM);
    const manifest = JSON.parse(files['manifest.json'] as string);
    manifest.framework = 'GDPR';
    const resigned = verifyPacket({ ...files, 'manifest.json': JSON.stringify(manifest) }, PUBLIC_PEM);
    const { [artifact]: _dropped, ...missing } = files;
    const extra = verifyPacket({ ...files, 'notes.txt': 'hi' }, PUBLIC_PEM);
    const otherKey = generateKeyPairSync('ed25519')
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();

    expect(altered.problems).toEqual([`${artifact}: altered (its SHA-256 is not the manifest's)`]);
    expect(resigned.problems[0]).toContain('the signature does not match');
    expect(verifyPacket(missing, PUBLIC_PEM).problems).toEqual([`${artifact}: missing`]);
    expect(extra.problems).toEqual(['notes.txt: not in the manifest']);
    expect(verifyPacket(files, otherKey).ok).toBe(false);
  });

  it('verify answers a verdict, not an exception, for a garbled signature file, and ignores its algorithm word', async () => {
    const files = await packet();
    const garbled = verifyPacket({ ...files, 'manifest.sig.json': '{not json' }, PUBLIC_PEM);
    const sig = JSON.parse(files['manifest.sig.json'] as string);
    const relabelled = verifyPacket(
      { ...files, 'manifest.sig.json': JSON.stringify({ ...sig, algorithm: 'RSASSA_PSS_SHA_256' }) },
      PUBLIC_PEM,
    );
    expect(garbled).toEqual({
      ok: false,
      problems: [expect.stringContaining('manifest.sig.json is not what a packet holds')],
    });
    // The key is Ed25519: the signature still verifies, whatever the file calls its algorithm.
    expect(relabelled.problems).toEqual([]);
  });
});
