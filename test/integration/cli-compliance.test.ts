import { createHash, generateKeyPairSync } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { DescribeKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../cli/command.js';
import { runCli } from '../../cli/run.js';
import { type EvidenceResponse, packetInputOfEvidence } from '../../functions/compliance/offline.js';
import { signDigestRsaPss } from '../../functions/runbooks/src/adapters/rsa-pss.js';
import { type CliHarness, jsonOf, startCliHarness } from './cli-harness.js';
import { putForgedRunbookExecution } from './harness.js';

/**
 * `conductor compliance packet` and `verify` against the embedded runtime, as a GRC lead uses them:
 * an assessment first, then the packet of SOC2 (signed with the local key made on first use), checked
 * offline; an altered artifact, a deleted file, a file added and another key are each caught and
 * named. Then the packet signed with your own Ed25519 key, and with a KMS key (KMS mocked).
 */
let cli: CliHarness;
let orgAdmin: string;
let packetDir: string;
const LOCAL_PUBLIC_KEY = () => join(cli.workDir, '.conductor', 'compliance-signing', 'packet.pub.pem');

const conductor = (args: readonly string[], env?: Record<string, string>) =>
  cli.run([...args, '--token', orgAdmin], env ? { env } : {});

/** `conductor compliance packet --out <out>` of SOC2 (or `framework`), as the org-admin. */
const packet = (
  out: string,
  options: { framework?: string; args?: readonly string[]; env?: Record<string, string> } = {},
) =>
  conductor(
    [
      'compliance',
      'packet',
      '--framework',
      options.framework ?? 'SOC2',
      '--out',
      out,
      ...(options.args ?? []),
    ],
    options.env,
  );

const verify = (dir: string, publicKey: string = LOCAL_PUBLIC_KEY()) =>
  conductor(['compliance', 'verify', dir, '--public-key', publicKey]);

/** A PATH with no PDF converter on it. */
const noConverter = () => ({ PATH: mkdtempSync(join(cli.workDir, 'bin-')) });

/** A copy of the signed packet, to spoil without spoiling the original. */
const copyOfPacket = (name: string): string => {
  const copy = join(cli.workDir, name);
  cpSync(packetDir, copy, { recursive: true });
  return copy;
};

const manifestOf = (dir: string): { files: { name: string; sha256: string }[] } =>
  JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));

beforeAll(async () => {
  cli = await startCliHarness();
  orgAdmin = await cli.harness.conductor.issuer.mint({
    subject: 'grc-lead',
    tenant: 'acme',
    roles: ['org-admin'],
    amr: ['pwd', 'mfa'],
  });
  // A runbook execution nobody can account for (no trail in the evidence store): change-management
  // fails, and its open finding shows in the packet.
  await putForgedRunbookExecution(cli.harness);
  const assessed = await cli.harness.call('POST', '/compliance/assessments', {
    token: orgAdmin,
    body: { framework: 'SOC2', scope: 'all' },
  });
  expect(assessed.status, assessed.text).toBe(201);
  packetDir = join(cli.workDir, 'packet-soc2');
});
afterAll(() => cli?.stop());

describe('conductor compliance packet', () => {
  it('builds the SOC2 packet from the latest evidence, signed with a local key made on first use', async () => {
    // Act
    const run = await packet(packetDir, { args: ['--json'] });

    // Assess
    const printed = jsonOf(run);
    const html = readFileSync(join(packetDir, 'index.html'), 'utf8');
    expect(html).toContain('CC6.1');
    expect(html).toContain('log-retention');
    expect(html).not.toMatch(/<script/i);
    // The open finding (change-management: an execution without its trail) is shown by its API id.
    expect(html).toMatch(/fnd_change-management_[A-Za-z0-9_-]+ \(/);
    const manifestText = readFileSync(join(packetDir, 'manifest.json'), 'utf8');
    expect(printed).toMatchObject({
      dir: packetDir,
      framework: 'SOC2',
      algorithm: 'ed25519',
      keyId: expect.stringMatching(/^ed25519:[0-9a-f]{16}$/),
      manifestSha256: createHash('sha256').update(manifestText).digest('hex'),
      publicKey: expect.stringContaining(LOCAL_PUBLIC_KEY()),
    });
    expect(JSON.parse(readFileSync(join(packetDir, 'manifest.sig.json'), 'utf8'))).toMatchObject({
      keyId: printed.keyId,
      algorithm: 'ed25519',
    });
    const names = manifestOf(packetDir).files.map((file) => file.name);
    expect(names).toEqual(expect.arrayContaining(['index.html', 'evidence.json']));
    expect(names.filter((name) => name.startsWith('artifacts/')).length).toBeGreaterThan(1);
    const privateKey = join(cli.workDir, '.conductor', 'compliance-signing', 'packet.key.pem');
    expect(statSync(privateKey).mode & 0o777).toBe(0o600);
    // A PDF only where a converter is on PATH, beside the folder (the folder is what the manifest lists).
    if (printed.pdf !== null)
      expect(readFileSync(`${packetDir}.pdf`).subarray(0, 5).toString()).toBe('%PDF-');
  });

  it('says where the packet is, its manifest’s SHA-256, the public key, and that no converter means HTML', async () => {
    // Prepare
    const out = join(cli.workDir, 'packet-no-pdf');

    // Act
    const run = await packet(out, { env: noConverter() });

    // Assess
    expect(run.code, run.stderr).toBe(0);
    const manifestSha256 = createHash('sha256')
      .update(readFileSync(join(out, 'manifest.json')))
      .digest('hex');
    expect(run.stdout).toContain(out);
    expect(run.stdout).toContain(`sha256 ${manifestSha256}`);
    expect(run.stdout).toContain(LOCAL_PUBLIC_KEY());
    expect(run.stdout).not.toContain('(a new key)'); // the key of the first run, kept
    expect(run.stdout).toContain('no PDF converter found on PATH');
    expect(run.stdout).toContain('index.html is the packet');
    expect(run.stdout).toContain("the publisher's public key");
    expect(existsSync(`${out}.pdf`)).toBe(false);
  });

  it('refuses to write into a folder that is not empty (exit 2)', async () => {
    const run = await packet(packetDir);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('is not an empty folder');
  });

  it('an unknown framework: the API’s 400 message, exit 1', async () => {
    const run = await packet('nope', { framework: 'NOPE' });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('400');
    expect(run.stderr).toContain('Unknown framework NOPE');
    expect(existsSync(join(cli.workDir, 'nope'))).toBe(false);
  });
});

describe('the packet’s input', () => {
  it('refuses evidence whose artifact does not hash to its record’s SHA-256, naming the evidence', async () => {
    // Prepare: the route's answer with one artifact changed on its way
    const reply = await cli.harness.call('GET', '/compliance/evidence?framework=SOC2', { token: orgAdmin });
    expect(reply.status, reply.text).toBe(200);
    const answer = reply.json as EvidenceResponse;
    expect(() => packetInputOfEvidence(answer)).not.toThrow();
    const item = answer.evidence.find((e) => e.controlId === 'log-retention')?.items[0];
    if (!item) throw new Error('no log-retention evidence');
    item.artifactText = `${item.artifactText} `;

    // Act, Assess
    expect(() => packetInputOfEvidence(answer)).toThrow(`evidence ${item.key}: its artifact`);
  });
});

describe('conductor compliance verify', () => {
  it('verifies the packet with the publisher’s public key (exit 0)', async () => {
    const run = await verify(packetDir);

    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('OK:');
  });

  it('names an artifact altered by one byte (exit 1, no stack trace)', async () => {
    // Prepare
    const dir = copyOfPacket('altered');
    // log-retention's artifact, found through its evidence record (the record names it)
    const records = manifestOf(dir)
      .files.map((file) => file.name)
      .filter((name) => name.startsWith('artifacts/') && name.includes('log-retention'))
      .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')));
    const key = records.find((record) => record.artifact?.key)?.artifact.key;
    if (!key) throw new Error('the packet has no log-retention artifact');
    const artifact = `artifacts/${key}`;
    const bytes = readFileSync(join(dir, artifact));
    bytes[0] = (bytes[0] ?? 0) ^ 0x01;
    writeFileSync(join(dir, artifact), bytes);

    // Act
    const run = await verify(dir);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('NOT verified');
    expect(run.stdout).toContain(`${artifact}: altered`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('names a deleted file and a file the manifest does not list', async () => {
    // Prepare
    const dir = copyOfPacket('changed');
    unlinkSync(join(dir, 'evidence.json'));
    mkdirSync(join(dir, 'extra'));
    writeFileSync(join(dir, 'extra', 'note.txt'), 'slipped in');

    // Act
    const run = await verify(dir);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('evidence.json: missing');
    expect(run.stdout).toContain('extra/note.txt: not in the manifest');
  });

  it('refuses another key’s public key: the signature does not match', async () => {
    // Prepare
    const other = join(cli.workDir, 'other.pub.pem');
    writeFileSync(other, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));

    // Act
    const run = await verify(packetDir, other);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('manifest.json: the signature does not match');
  });

  it('signs with your own Ed25519 key (--key): verified with its public half, not with the local key', async () => {
    // Prepare
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(cli.workDir, 'own.key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(cli.workDir, 'own.pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    const out = join(cli.workDir, 'packet-own-key');

    // Act
    const built = await packet(out, { args: ['--key', 'own.key.pem'], env: noConverter() });
    const own = await verify(out, 'own.pub.pem');
    const local = await verify(out);

    // Assess
    expect(built.code, built.stderr).toBe(0);
    expect(own.code, own.stdout).toBe(0);
    expect(local.code).toBe(1);
  });
});

describe('conductor compliance packet --kms-key', () => {
  it('signs the manifest with KMS (RSASSA_PSS_SHA_256 of its digest); the packet verifies with the key’s public half', async () => {
    // Prepare: KMS mocked, signing with an RSA key of ours as KMS would
    const keyArn = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const kms = mockClient(KMSClient);
    kms.on(DescribeKeyCommand).resolves({
      KeyMetadata: {
        KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
        Arn: keyArn,
        KeyUsage: 'SIGN_VERIFY',
        KeySpec: 'RSA_2048',
        SigningAlgorithms: ['RSASSA_PSS_SHA_256'],
      },
    });
    kms.on(SignCommand).callsFake((input: { Message: Uint8Array }) => ({
      KeyId: keyArn,
      Signature: signDigestRsaPss(rsa.privateKey, input.Message),
      SigningAlgorithm: 'RSASSA_PSS_SHA_256',
    }));
    const work = mkdtempSync(join(cli.workDir, 'kms-'));
    writeFileSync(join(work, 'kms.pub.pem'), rsa.publicKey.export({ type: 'spki', format: 'pem' }));
    let out = '';
    let err = '';
    const io: CliIo = {
      stdout: { write: (text: string) => (out += text) },
      stderr: { write: (text: string) => (err += text) },
      env: { AWS_REGION: 'eu-west-1', PATH: work },
      cwd: work,
      readStdin: async () => '',
    };
    const common = ['--api', cli.harness.conductor.apiUrl, '--token', orgAdmin, '--quiet'];

    try {
      // Act
      const built = await runCli(
        [
          ...'compliance packet --framework SOC2 --out packet --kms-key alias/compliance-packets'.split(' '),
          ...common,
        ],
        io,
      );
      const verified = await runCli(
        [...'compliance verify packet --public-key kms.pub.pem'.split(' '), ...common],
        io,
      );

      // Assess
      expect(built, err).toBe(0);
      expect(verified, out).toBe(0);
      const sign = kms.commandCalls(SignCommand)[0]?.args[0].input;
      expect(sign).toMatchObject({
        KeyId: keyArn,
        MessageType: 'DIGEST',
        SigningAlgorithm: 'RSASSA_PSS_SHA_256',
      });
      const manifest = readFileSync(join(work, 'packet', 'manifest.json'));
      expect(Buffer.from(sign?.Message ?? []).toString('hex')).toBe(
        createHash('sha256').update(manifest).digest('hex'),
      );
      expect(JSON.parse(readFileSync(join(work, 'packet', 'manifest.sig.json'), 'utf8'))).toMatchObject({
        keyId: keyArn,
        algorithm: 'RSASSA_PSS_SHA_256',
      });
    } finally {
      kms.restore();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
