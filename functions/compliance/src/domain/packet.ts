import { constants, createPublicKey, verify as verifySignature } from 'node:crypto';
import { canonicalJson, sha256Hex } from '#shared/ports/canonical-json.js';
import type { Compliance, FindingRecord, StoredEvidence } from './assess.js';
import { type Catalog, controlsOf } from './catalog.js';

/**
 * The auditor packet: one folder an auditor can read offline. `index.html` (self-contained: no
 * script, no remote asset) cross-walks every criterion of a framework to its controls, each control
 * to its latest evidence (result, date, SHA-256, the artifact itself), owner and status, with the
 * open findings and the risk heatmap; `evidence.json` holds the same data; `artifacts/` the evidence
 * records and artifacts as the WORM store holds them; `manifest.json` the SHA-256 of every file,
 * signed (`manifest.sig.json`) by the signer (KMS on AWS, a local key here). `verifyPacket` checks
 * the signature and every hash: an altered artifact, record or page is named.
 */

export interface PacketSigner {
  readonly keyId: string;
  /** `ed25519` (a local key) or `RSASSA_PSS_SHA_256` (KMS). */
  readonly algorithm: 'ed25519' | 'RSASSA_PSS_SHA_256';
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export interface PacketInput {
  readonly catalog: Catalog;
  readonly framework: string;
  readonly generatedAt: string;
  /** The latest evidence of each control (by control id), with the stored texts of record and artifact. */
  /** The latest assessment's evidence of each control (one per test), by control id. */
  readonly evidence: ReadonlyMap<string, readonly StoredEvidence[]>;
  readonly freshness: readonly {
    readonly controlId: string;
    readonly status: string;
    readonly ageHours?: number;
  }[];
  readonly findings: readonly FindingRecord[];
  readonly risk: {
    readonly heatmap: readonly (readonly { readonly controls: number; readonly failing: number }[])[];
  };
}

export type PacketFiles = Record<string, string>;

const escapeHtml = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

/**
 * What a packet shows, read from the service: each control's latest evidence (record and artifact as
 * the WORM store holds them), freshness, the findings and the risk heatmap.
 */
export const packetInputOf = async (
  compliance: Compliance,
  framework: string,
  generatedAt: string,
): Promise<PacketInput> => {
  const gathered = await compliance.evidenceOf(framework);
  const freshness = await compliance.freshness(framework);
  const { heatmap } = await compliance.risk(framework);
  return {
    catalog: compliance.catalog,
    framework,
    generatedAt,
    evidence: gathered.evidence,
    freshness,
    findings: gathered.findings,
    risk: { heatmap },
  };
};

/** Builds the packet's files and signs its manifest. */
export const buildPacket = async (input: PacketInput, signer: PacketSigner): Promise<PacketFiles> => {
  const framework = input.catalog.frameworks.get(input.framework);
  if (!framework) throw new Error(`unknown framework ${input.framework}`);
  const controls = controlsOf(input.catalog, input.framework);
  const files: PacketFiles = {};
  const artifactPath = (key: string) => `artifacts/${key}`;
  for (const { key, record, recordText, artifactText } of [...input.evidence.values()].flat()) {
    files[artifactPath(key)] = recordText;
    files[artifactPath(record.artifact.key)] = artifactText;
  }
  const freshness = new Map(input.freshness.map((row) => [row.controlId, row]));
  const openFindings = input.findings.filter((f) => f.status !== 'resolved');
  const crosswalk = framework.criteria.map((criterion) => ({
    criterion: criterion.id,
    title: criterion.title,
    controls: criterion.controls.map((controlId) => {
      const control = input.catalog.controls.get(controlId);
      const latest = input.evidence.get(controlId) ?? [];
      return {
        controlId,
        title: control?.title ?? controlId,
        owner: control?.owner ?? 'unknown',
        status: freshness.get(controlId)?.status ?? 'missing',
        evidence: latest.map((stored) => ({
          key: stored.key,
          testId: stored.record.testId,
          result: stored.record.result,
          effectiveDate: stored.record.effectiveDate,
          summary: stored.record.summary,
          recordSha256: sha256Hex(stored.recordText),
          artifactSha256: stored.record.artifact.sha256,
        })),
        findings: openFindings
          .filter((f) => f.controlId === controlId)
          .map((f) => ({ findingId: f.id, status: f.status, severity: f.severity, slaDueAt: f.slaDueAt })),
      };
    }),
  }));
  files['evidence.json'] = JSON.stringify(
    {
      framework: framework.id,
      name: framework.name,
      generatedAt: input.generatedAt,
      controls: controls.length,
      crosswalk,
      heatmap: input.risk.heatmap,
    },
    null,
    2,
  );
  files['index.html'] = renderHtml(
    framework.id,
    framework.name,
    input.generatedAt,
    crosswalk,
    input.risk.heatmap,
  );
  const manifest = {
    format: 'conductor.packet/v1',
    framework: framework.id,
    generatedAt: input.generatedAt,
    files: Object.keys(files)
      .sort()
      .map((name) => ({ name, sha256: sha256Hex(files[name] as string) })),
  };
  files['manifest.json'] = canonicalJson(manifest);
  const signature = await signer.sign(new TextEncoder().encode(files['manifest.json']));
  files['manifest.sig.json'] = JSON.stringify({
    keyId: signer.keyId,
    algorithm: signer.algorithm,
    signature: Buffer.from(signature).toString('base64'),
  });
  return files;
};

export interface PacketVerdict {
  readonly ok: boolean;
  readonly problems: readonly string[];
}

/**
 * Checks a packet offline: the manifest's signature with the signer's public key (PEM), then every
 * file the manifest lists (present, same SHA-256), and no unlisted file.
 */
export const verifyPacket = (files: PacketFiles, publicKeyPem: string): PacketVerdict => {
  const problems: string[] = [];
  const manifestText = files['manifest.json'];
  const signatureText = files['manifest.sig.json'];
  if (manifestText === undefined || signatureText === undefined) {
    return { ok: false, problems: ['manifest.json or manifest.sig.json is missing'] };
  }
  const key = createPublicKey(publicKeyPem);
  const parsed = (() => {
    try {
      const sig = JSON.parse(signatureText) as { signature?: unknown };
      const manifest = JSON.parse(manifestText) as { files?: unknown };
      if (typeof sig.signature !== 'string' || !Array.isArray(manifest.files)) return undefined;
      return {
        signature: Buffer.from(sig.signature, 'base64'),
        files: manifest.files as { name: string; sha256: string }[],
      };
    } catch {
      return undefined;
    }
  })();
  if (!parsed) {
    return {
      ok: false,
      problems: [
        'manifest.json or manifest.sig.json is not what a packet holds (not JSON, or fields missing)',
      ],
    };
  }
  const message = Buffer.from(manifestText, 'utf8');
  // The algorithm follows the public key's type, never the signature file's word for it.
  const valid =
    key.asymmetricKeyType === 'ed25519'
      ? verifySignature(null, message, key, parsed.signature)
      : key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss'
        ? verifySignature(
            'sha256',
            message,
            { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
            parsed.signature,
          )
        : false;
  if (!valid)
    problems.push(
      'manifest.json: the signature does not match (the manifest was changed, or another key signed it)',
    );
  const manifest = { files: parsed.files };
  const listed = new Set(manifest.files.map((file) => file.name));
  for (const file of manifest.files) {
    const text = files[file.name];
    if (text === undefined) problems.push(`${file.name}: missing`);
    else if (sha256Hex(text) !== file.sha256)
      problems.push(`${file.name}: altered (its SHA-256 is not the manifest's)`);
  }
  for (const name of Object.keys(files)) {
    if (name !== 'manifest.json' && name !== 'manifest.sig.json' && !listed.has(name)) {
      problems.push(`${name}: not in the manifest`);
    }
  }
  return { ok: problems.length === 0, problems };
};

type Crosswalk = {
  criterion: string;
  title: string;
  controls: {
    controlId: string;
    title: string;
    owner: string;
    status: string;
    evidence: {
      key: string;
      testId: string;
      result: string;
      effectiveDate: string;
      summary: string;
      artifactSha256: string;
    }[];
    findings: { findingId: string; status: string; severity: string; slaDueAt: string }[];
  }[];
}[];

const renderHtml = (
  id: string,
  name: string,
  generatedAt: string,
  crosswalk: Crosswalk,
  heatmap: PacketInput['risk']['heatmap'],
): string => {
  const rows = crosswalk
    .flatMap((criterion) =>
      criterion.controls.map((control, i) => {
        const evidence = control.evidence
          .map(
            (e) =>
              `<div class="${escapeHtml(e.result)}">${escapeHtml(e.testId)}: ${escapeHtml(e.result)} · ${escapeHtml(e.effectiveDate)}<br><small>${escapeHtml(e.summary)}</small><br><a href="artifacts/${escapeHtml(e.key)}">record</a> · <code>${escapeHtml(e.artifactSha256.slice(0, 16))}…</code></div>`,
          )
          .join('');
        const cells = [
          i === 0
            ? `<td rowspan="${criterion.controls.length}"><b>${escapeHtml(criterion.criterion)}</b><br>${escapeHtml(criterion.title)}</td>`
            : '',
          `<td>${escapeHtml(control.controlId)}<br><small>${escapeHtml(control.title)}</small></td>`,
          evidence === '' ? '<td class="missing">no evidence</td>' : `<td>${evidence}</td>`,
          `<td>${escapeHtml(control.owner)}</td>`,
          `<td class="${escapeHtml(control.status)}">${escapeHtml(control.status)}${control.findings.map((f) => `<br>${escapeHtml(f.findingId)} (${escapeHtml(f.severity)}, ${escapeHtml(f.status)}, due ${escapeHtml(f.slaDueAt.slice(0, 10))})`).join('')}</td>`,
        ];
        return `<tr>${cells.join('')}</tr>`;
      }),
    )
    .join('\n');
  const heat = heatmap
    .map(
      (row, l) =>
        `<tr><th>likelihood ${l + 1}</th>${row
          .map((cell, i) => {
            const level = (l + 1) * (i + 1);
            const shade =
              level >= 20 ? '#f4a6a6' : level >= 10 ? '#f8d49a' : level >= 5 ? '#fdf1b0' : '#d9f2d9';
            return `<td style="background:${shade}">${cell.controls}${cell.failing > 0 ? ` (${cell.failing} failing)` : ''}</td>`;
          })
          .join('')}</tr>`,
    )
    .reverse()
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(id)} auditor packet</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}td,th{border:1px solid #999;padding:4px 8px;vertical-align:top}
.pass,.fresh{background:#e3f6e3}.fail,.error,.stale{background:#fbe0e0}.missing{background:#eee}</style></head>
<body><h1>${escapeHtml(name)}</h1>
<p>Framework <b>${escapeHtml(id)}</b>, generated ${escapeHtml(generatedAt)} by Conductor. Every file of this folder is listed with its SHA-256 in <code>manifest.json</code>, signed in <code>manifest.sig.json</code>: verify it offline with <code>conductor compliance verify &lt;folder&gt; --public-key &lt;the publisher’s public key&gt;</code>.</p>
<h2>Criteria, controls, evidence</h2>
<table><tr><th>criterion</th><th>control</th><th>latest evidence</th><th>owner</th><th>status</th></tr>
${rows}
</table>
<h2>Risk heatmap (controls by likelihood and impact)</h2>
<table><tr><th></th><th>impact 1</th><th>impact 2</th><th>impact 3</th><th>impact 4</th><th>impact 5</th></tr>
${heat}
</table></body></html>
`;
};
