import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type * as z from 'zod';
import { sha256Hex } from '#shared/ports/canonical-json.js';
import type { getEvidence } from './contract.js';
import {
  type EvidenceRecord,
  type FindingRecord,
  PLATFORM,
  type StoredEvidence,
} from './src/domain/assess.js';
import { CONTROLS_API_VERSION, FRAMEWORK_API_VERSION, parseCatalog } from './src/domain/catalog.js';
import type { PacketInput, PacketSigner } from './src/domain/packet.js';

/**
 * What `conductor compliance` (cli/commands/compliance.ts) uses of the compliance pillar offline: the
 * auditor packet's input rebuilt from `GET /compliance/evidence` (every artifact checked against the
 * SHA-256 its record states first), the local Ed25519 packet signer, and building and verifying the
 * packet. The pillar's public entry for it.
 */
export {
  buildPacket,
  type PacketFiles,
  type PacketInput,
  type PacketSigner,
  type PacketVerdict,
  verifyPacket,
} from './src/domain/packet.js';

/** What `GET /compliance/evidence` answers. */
export type EvidenceResponse = z.output<typeof getEvidence.success.schema>;
type EvidenceItem = EvidenceResponse['evidence'][number]['items'][number];
type FindingView = EvidenceResponse['findings'][number];

/**
 * One evidence item as the packet carries it: the record is its stored text parsed (the bytes the
 * packet holds, not the API's copy of them), and the artifact must hash to the SHA-256 the record
 * states. Throws naming the evidence key otherwise.
 */
const checkedEvidence = (item: EvidenceItem): StoredEvidence => {
  let record: EvidenceRecord;
  try {
    record = JSON.parse(item.recordText) as EvidenceRecord;
  } catch {
    throw new Error(`evidence ${item.key}: its stored record is not JSON`);
  }
  if (!isDeepStrictEqual(record, item.record))
    throw new Error(`evidence ${item.key}: the record sent is not the record stored`);
  const actual = sha256Hex(item.artifactText);
  if (record.artifact?.sha256 !== actual)
    throw new Error(
      `evidence ${item.key}: its artifact ${record.artifact?.key} hashes to ${actual}, the record states ${record.artifact?.sha256}`,
    );
  return { key: item.key, record, recordText: item.recordText, artifactText: item.artifactText };
};

/** The API's view of a finding (`findingId`, `overdue`) as the record the packet reads (`id`). */
const findingRecordOf = ({ findingId, overdue: _overdue, ...finding }: FindingView): FindingRecord => ({
  ...finding,
  id: findingId,
  // Not in the API's view, and not read by the packet.
  tenantId: PLATFORM,
  version: 0,
  createdAt: finding.openedAt,
  updatedAt: finding.history.at(-1)?.at ?? finding.lastFailedAt,
});

/**
 * The packet's input from `GET /compliance/evidence`: the framework and its controls as a catalog
 * (parsed as catalog files are, so a malformed answer is refused naming what is wrong), each control's
 * evidence checked, freshness, findings and the heatmap. Throws on evidence that does not hold.
 */
export const packetInputOfEvidence = (response: EvidenceResponse): PacketInput => {
  const { framework, controls } = response;
  const catalog = parseCatalog(
    [
      {
        source: 'the controls of GET /compliance/evidence',
        text: JSON.stringify({ apiVersion: CONTROLS_API_VERSION, controls }),
      },
      {
        source: `framework ${framework.id} of GET /compliance/evidence`,
        text: JSON.stringify({ apiVersion: FRAMEWORK_API_VERSION, ...framework }),
      },
    ],
    // The tests are run by the service, not here: any test id a control names is known.
    new Set(controls.flatMap((control) => control.tests)),
  );
  return {
    catalog,
    framework: framework.id,
    generatedAt: response.generatedAt,
    evidence: new Map(
      response.evidence.map(({ controlId, items }) => [controlId, items.map(checkedEvidence)]),
    ),
    freshness: response.freshness,
    findings: response.findings.map(findingRecordOf),
    risk: { heatmap: response.heatmap },
  };
};

/** Where the CLI keeps its packet-signing key, relative to the working directory. */
export const DEFAULT_PACKET_KEY_DIR = join('.conductor', 'compliance-signing');

/** A signer with an Ed25519 private key; its key id is `ed25519:` and 16 hex of its public key's SHA-256. */
export const ed25519PacketSigner = (privateKey: KeyObject): PacketSigner => {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519')
    throw new Error(
      `an Ed25519 private key is needed, this is ${privateKey.asymmetricKeyType} ${privateKey.type}`,
    );
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  return {
    keyId: `ed25519:${sha256Hex(spki).slice(0, 16)}`,
    algorithm: 'ed25519',
    sign: async (message) => sign(null, message, privateKey),
  };
};

/**
 * The local packet key in `directory`, made the first time: `packet.key.pem` (PKCS#8, mode 600) and
 * `packet.pub.pem` (SPKI), which is what an auditor verifies with once the publisher hands it over.
 */
export const openLocalPacketKey = (
  directory: string = DEFAULT_PACKET_KEY_DIR,
): { readonly signer: PacketSigner; readonly publicKeyFile: string; readonly created: boolean } => {
  const keyFile = join(directory, 'packet.key.pem');
  const publicKeyFile = join(directory, 'packet.pub.pem');
  const created = !existsSync(keyFile);
  if (created) {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    try {
      writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), {
        mode: 0o600,
        flag: 'wx',
      });
    } catch (error) {
      // Another run made it first: use that one.
      if ((error as { code?: unknown }).code !== 'EEXIST') throw error;
    }
  }
  const privateKey = createPrivateKey(readFileSync(keyFile, 'utf8'));
  // Written from the private key, so the two always match.
  if (!existsSync(publicKeyFile))
    writeFileSync(publicKeyFile, createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }));
  return { signer: ed25519PacketSigner(privateKey), publicKeyFile, created };
};
