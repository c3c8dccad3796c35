import { execFile } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { sha256Hex } from '#shared/ports/canonical-json.js';
import { unwrap } from '../../clients/typescript/index.js';
import {
  buildPacket,
  DEFAULT_PACKET_KEY_DIR,
  ed25519PacketSigner,
  openLocalPacketKey,
  type PacketFiles,
  type PacketSigner,
  packetInputOfEvidence,
  verifyPacket,
} from '../../functions/compliance/offline.js';
import { type Command, ExitCodeError, type Invocation, UsageError } from '../command.js';
import { positional, requiredString, stringOption } from '../input.js';
import { kmsSignerOf } from '../kms-signer.js';
import { fields } from '../output.js';
import { retentionCommand } from './compliance-retention.js';

/**
 * `conductor compliance`: the auditor packet. `packet` reads a framework's evidence from the API
 * (an org-admin's token), checks every artifact against its record, builds the packet folder and signs
 * its manifest (a local Ed25519 key, yours, or a KMS key); `verify` checks a packet folder offline
 * with the publisher's public key; `retention` is the dry-run of the retention policy (what the
 * buckets' lifecycle rules would transition or delete, what holds keep), in compliance-retention.ts.
 */

/** Exit code of a packet that does not verify (or evidence that does not hold), apart from 2 (usage). */
export const EXIT_NOT_VERIFIED = 1;

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

interface Signing {
  readonly signer: PacketSigner;
  /** Where the public key is, or how to get it: what `verify` needs. */
  readonly publicKey: string;
}

/**
 * A KMS key as the packet's signer, with your AWS credentials: the runbooks' KmsSigner (an RSA key
 * that makes RSASSA_PSS_SHA_256 signatures; an alias resolved once) signs the manifest's SHA-256 in
 * DIGEST mode, which verifies as the RSASSA-PSS signature of the manifest itself.
 */
const kmsSigning = async (invocation: Invocation, keyIdOrAlias: string): Promise<Signing> => {
  const kms = await kmsSignerOf(keyIdOrAlias, invocation.context.io.env);
  return {
    signer: {
      keyId: kms.keyId,
      algorithm: 'RSASSA_PSS_SHA_256',
      sign: (message) => kms.sign(createHash('sha256').update(message).digest()),
    },
    publicKey: `KMS: aws kms get-public-key --key-id ${kms.keyId} (DER: convert it to PEM)`,
  };
};

/** `--key` (an Ed25519 PEM file), `--kms-key`, or the local key, made on first use. */
const signingOf = async (invocation: Invocation): Promise<Signing> => {
  const keyFile = stringOption(invocation, 'key');
  const kmsKey = stringOption(invocation, 'kms-key');
  if (keyFile !== undefined && kmsKey !== undefined)
    throw new UsageError('give --key or --kms-key, not both');
  if (kmsKey !== undefined) return kmsSigning(invocation, kmsKey);
  if (keyFile !== undefined) {
    const path = resolve(invocation.context.io.cwd, keyFile);
    try {
      const privateKey = createPrivateKey(readFileSync(path, 'utf8'));
      return {
        signer: ed25519PacketSigner(privateKey),
        publicKey: `the public half of ${path}`,
      };
    } catch (error) {
      throw new UsageError(`--key ${keyFile}: ${messageOf(error)}`);
    }
  }
  const local = openLocalPacketKey(resolve(invocation.context.io.cwd, DEFAULT_PACKET_KEY_DIR));
  return {
    signer: local.signer,
    publicKey: `${local.publicKeyFile}${local.created ? ' (a new key)' : ''}`,
  };
};

/** Writes the packet's files under `dir`; a name that would land outside it is refused before any is written. */
const writePacket = (dir: string, files: PacketFiles): void => {
  const targets = Object.entries(files).map(([name, text]) => {
    const target = resolve(dir, name);
    if (!target.startsWith(dir + sep))
      throw new ExitCodeError(EXIT_NOT_VERIFIED, `the packet names a file outside its folder: ${name}`);
    return [target, text] as const;
  });
  for (const [target, text] of targets) {
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, text);
  }
};

/** Every file under `dir`, by its path inside it with `/` (the manifest's names), as text. */
const readPacket = (dir: string): PacketFiles => {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${dir} is not a folder`);
  const files: PacketFiles = {};
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, name);
    if (!statSync(path).isDirectory()) files[name.split(sep).join('/')] = readFileSync(path, 'utf8');
  }
  return files;
};

const run = promisify(execFile);

/** The converters tried, in order, by name on PATH: each prints `html` (a path) to `pdf`. */
const CONVERTERS: readonly (readonly [string, (html: string, pdf: string, profile: string) => string[]])[] = [
  ['wkhtmltopdf', (html, pdf) => ['--quiet', '--enable-local-file-access', html, pdf]],
  ...['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'].map(
    (name) =>
      [
        name,
        (html: string, pdf: string, profile: string) => [
          '--headless',
          '--disable-gpu',
          // Chromium will not start as root with its sandbox; the page is the packet's own (no script).
          ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
          `--user-data-dir=${profile}`,
          '--no-pdf-header-footer',
          `--print-to-pdf=${pdf}`,
          pathToFileURL(html).href,
        ],
      ] as const,
  ),
];

/** index.html printed to `pdf` by the first converter on PATH: which one, why it failed, or none found. */
const printPdf = async (
  html: string,
  pdf: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ readonly converter: string; readonly failed?: string } | undefined> => {
  const profile = await mkdtemp(join(tmpdir(), 'conductor-pdf-'));
  try {
    for (const [converter, args] of CONVERTERS) {
      try {
        await run(converter, args(html, pdf, profile), { env, timeout: 120_000 });
        return existsSync(pdf) ? { converter } : { converter, failed: 'it wrote no PDF' };
      } catch (error) {
        if ((error as { code?: unknown }).code === 'ENOENT') continue;
        return { converter, failed: messageOf(error).split('\n')[0] ?? 'failed' };
      }
    }
    return undefined;
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
};

const packet: Command = {
  name: 'packet',
  summary: 'build and sign the auditor packet of a framework from its latest evidence (org-admin)',
  options: {
    framework: { type: 'string', placeholder: '<id>', description: 'the framework, e.g. SOC2' },
    out: {
      type: 'string',
      placeholder: '<dir>',
      description:
        'where the packet goes, a new or empty folder (default ./compliance-packet-<framework>-<date>)',
    },
    key: {
      type: 'string',
      placeholder: '<pem>',
      description: `sign with this Ed25519 private key (PKCS#8 PEM); default the local key in ${DEFAULT_PACKET_KEY_DIR}, made on first use`,
    },
    'kms-key': {
      type: 'string',
      placeholder: '<arn|alias>',
      description:
        'sign with this KMS key (RSA, RSASSA_PSS_SHA_256) instead, with your AWS credentials and AWS_REGION',
    },
  },
  details:
    'Reads GET /compliance/evidence (an org-admin’s token), refuses evidence whose artifact does not hash to the SHA-256 its record states, and writes index.html (the criteria, controls, evidence, findings and heatmap; no script), evidence.json, artifacts/, manifest.json (every file’s SHA-256) and manifest.sig.json. With wkhtmltopdf or Chromium on PATH, index.html is also printed to <dir>.pdf beside the folder (not in it: the folder is exactly what the manifest lists). An auditor verifies with the publisher’s public key, handed over apart from the packet: a key that travels with the packet proves nothing.',
  examples: [
    'conductor compliance packet --framework SOC2 --token "$ORG_ADMIN_TOKEN"',
    'conductor compliance packet --framework SOC2 --out soc2-q4 --kms-key alias/compliance-packets',
  ],
  run: async (invocation) => {
    const framework = requiredString(invocation, 'framework');
    const { signer, publicKey } = await signingOf(invocation);
    const evidence = await unwrap(
      invocation.context
        .client()
        .GET('/api/conductor/v1/compliance/evidence', { params: { query: { framework } } }),
    );
    let input: ReturnType<typeof packetInputOfEvidence>;
    try {
      input = packetInputOfEvidence(evidence);
    } catch (error) {
      throw new ExitCodeError(EXIT_NOT_VERIFIED, `no packet: ${messageOf(error)}`);
    }
    const { cwd } = invocation.context.io;
    const dir = resolve(
      cwd,
      stringOption(invocation, 'out') ??
        `compliance-packet-${framework}-${evidence.generatedAt.slice(0, 10)}`,
    );
    if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0))
      throw new UsageError(`${dir} is not an empty folder: a packet goes in a new or empty one`);
    const files = await buildPacket(input, signer);
    writePacket(dir, files);
    const manifestSha256 = sha256Hex(files['manifest.json'] ?? '');
    invocation.context.progress('printing index.html to PDF');
    const pdfFile = `${dir}.pdf`;
    const pdf = await printPdf(join(dir, 'index.html'), pdfFile, invocation.context.io.env);
    const pdfLine =
      pdf === undefined
        ? `no PDF converter found on PATH (${CONVERTERS.map(([name]) => name).join(', ')}): index.html is the packet`
        : pdf.failed === undefined
          ? `${pdfFile} (${pdf.converter})`
          : `${pdf.converter} failed (${pdf.failed}): index.html is the packet`;
    invocation.context.print(
      {
        dir,
        framework: evidence.framework.id,
        generatedAt: evidence.generatedAt,
        files: Object.keys(files).length,
        manifestSha256,
        keyId: signer.keyId,
        algorithm: signer.algorithm,
        publicKey,
        pdf: pdf !== undefined && pdf.failed === undefined ? pdfFile : null,
      },
      () =>
        [
          fields([
            ['packet', `${dir} (${Object.keys(files).length} files)`],
            ['framework', `${evidence.framework.id}, evidence as of ${evidence.generatedAt}`],
            ['manifest', `sha256 ${manifestSha256}`],
            ['signed by', `${signer.keyId} (${signer.algorithm})`],
            ['public key', publicKey],
            ['pdf', pdfLine],
          ]),
          '',
          `An auditor verifies it with your public key, handed over apart from the packet:`,
          `  conductor compliance verify ${dir} --public-key <the publisher's public key, PEM>`,
        ].join('\n'),
    );
  },
};

const verify: Command = {
  name: 'verify',
  summary:
    'check a packet folder offline: the manifest’s signature and every file (exit 1 if it does not hold)',
  arguments: '<dir>',
  options: {
    'public-key': {
      type: 'string',
      placeholder: '<pem>',
      description: 'the publisher’s public key (SPKI PEM), obtained from the publisher, not from the packet',
    },
  },
  details:
    'Reads every file under the folder: an altered or missing file, a file the manifest does not list, and a signature that does not match the public key are each named.',
  examples: ['conductor compliance verify compliance-packet-SOC2-2026-12-07 --public-key publisher.pub.pem'],
  run: async (invocation) => {
    const dir = resolve(invocation.context.io.cwd, positional(invocation, 0, '<dir>'));
    const keyFile = requiredString(invocation, 'public-key');
    let publicKeyPem: string;
    try {
      publicKeyPem = readFileSync(resolve(invocation.context.io.cwd, keyFile), 'utf8');
      createPublicKey(publicKeyPem);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new UsageError(
        `--public-key ${keyFile}: ${code === 'ENOENT' || code === 'EISDIR' ? messageOf(error) : 'not a public key (SPKI PEM)'}`,
      );
    }
    const files = readPacket(dir);
    let verdict: ReturnType<typeof verifyPacket>;
    try {
      verdict = verifyPacket(files, publicKeyPem);
    } catch (error) {
      verdict = {
        ok: false,
        problems: [`the manifest or its signature cannot be read: ${messageOf(error)}`],
      };
    }
    const listed = Object.keys(files).length;
    invocation.context.print({ dir, ...verdict }, () =>
      verdict.ok
        ? `OK: ${dir}: the signature holds and all ${listed - 2} files match manifest.json`
        : [`NOT verified: ${dir}`, ...verdict.problems.map((problem) => `  ${problem}`)].join('\n'),
    );
    if (!verdict.ok)
      throw new ExitCodeError(
        EXIT_NOT_VERIFIED,
        `${dir}: ${verdict.problems.length} problem${verdict.problems.length === 1 ? '' : 's'}`,
      );
  },
};

export const complianceCommand: Command = {
  name: 'compliance',
  summary:
    'the auditor packet: build and sign it from the latest evidence, verify it offline; the retention dry-run',
  subcommands: [packet, verify, retentionCommand],
};
