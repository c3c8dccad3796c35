import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Schemas, unwrap } from '../../clients/typescript/index.js';
import {
  LocalPublicKeys,
  LocalRsaSigner,
  parseRunbook,
  parseTrail,
  type RunbookSignature,
  runbookSignatureSchema,
  signRunbook,
  verifyRunbook,
  verifyTrailFile,
} from '../../functions/runbooks/offline.js';
import { type Command, ExitCodeError, type Invocation, UsageError } from '../command.js';
import { positional, stringOption } from '../input.js';
import { kmsSignerOf } from '../kms-signer.js';
import { fields } from '../output.js';

/** Exit code of a verification that failed (a tampered runbook or trail), apart from 2 (usage). */
export const EXIT_NOT_VERIFIED = 1;

const KEY_DIR_OPTION = {
  type: 'string',
  placeholder: '<dir>',
  description: 'the local signing key (default .conductor/runbook-signing; created on first use)',
} as const;

const readText = (invocation: Invocation, path: string): string => {
  try {
    return readFileSync(resolve(invocation.context.io.cwd, path), 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
};

/** The runbook file, parsed as the registry will parse it; a bad file is a usage error naming the path in it. */
const runbookOf = (invocation: Invocation, path: string) => {
  try {
    return parseRunbook(readText(invocation, path), path);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
};

const keyDirOf = (invocation: Invocation): string =>
  resolve(invocation.context.io.cwd, stringOption(invocation, 'key-dir') ?? '.conductor/runbook-signing');

const signatureFileOf = (runbookPath: string) => runbookPath.replace(/(\.json)?$/, '.sig.json');

/** The signature beside a runbook file (`--signature`, or <runbook>.sig.json), parsed. */
const signatureOf = (invocation: Invocation, runbookPath: string): RunbookSignature => {
  const signaturePath = stringOption(invocation, 'signature') ?? signatureFileOf(runbookPath);
  const text = readText(invocation, signaturePath);
  try {
    return runbookSignatureSchema.parse(JSON.parse(text)) as RunbookSignature;
  } catch (error) {
    throw new UsageError(
      `${signaturePath} is not a runbook signature: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
};

const sign: Command = {
  name: 'sign',
  summary: 'sign a runbook file with the local RSA key (RSASSA_PSS_SHA_256 over its RFC 8785 form)',
  arguments: '<runbook.json>',
  options: {
    'key-dir': KEY_DIR_OPTION,
    'kms-key': {
      type: 'string',
      placeholder: '<arn|alias>',
      description:
        'sign with this KMS key instead (the deployment’s, or the tenant’s own: BYOK), with your AWS credentials and AWS_REGION',
    },
    out: {
      type: 'string',
      placeholder: '<file>',
      description: 'where the signature goes (default <runbook>.sig.json)',
    },
  },
  details:
    'The signature records the key id, its version, the algorithm and the SHA-256 digest of the canonical runbook. With --kms-key, KMS signs the digest (MessageType DIGEST) and the key id is the key’s ARN; a tenant’s own key is trusted once its admin registers its public half (POST /runbooks/trusted-keys).',
  examples: [
    'conductor runbook sign runbooks/restart-service.json',
    'conductor runbook sign runbooks/restart-service.json --kms-key alias/acme-runbook-signing',
  ],
  run: async (invocation) => {
    const path = positional(invocation, 0, 'runbook.json');
    const runbook = runbookOf(invocation, path);
    const kmsKey = stringOption(invocation, 'kms-key');
    const signer = kmsKey
      ? await kmsSignerOf(kmsKey, invocation.context.io.env)
      : await LocalRsaSigner.open(keyDirOf(invocation));
    const signature = await signRunbook(runbook, signer, new Date());
    const out = resolve(invocation.context.io.cwd, stringOption(invocation, 'out') ?? signatureFileOf(path));
    writeFileSync(out, `${JSON.stringify(signature, null, 2)}\n`);
    invocation.context.print({ ...signature, file: out }, () =>
      fields([
        ['runbook', `${runbook.id} v${runbook.version}`],
        ['digest', signature.digest],
        ['key', `${signature.keyId} (version ${signature.keyVersion})`],
        ['signature', out],
      ]),
    );
  },
};

const verify: Command = {
  name: 'verify',
  summary:
    'check a runbook file against its signature and the local public keys (exit 1 if it does not hold)',
  arguments: '<runbook.json>',
  options: {
    'key-dir': KEY_DIR_OPTION,
    signature: {
      type: 'string',
      placeholder: '<file>',
      description: 'the signature (default <runbook>.sig.json)',
    },
  },
  examples: ['conductor runbook verify runbooks/restart-service.json'],
  run: async (invocation) => {
    const path = positional(invocation, 0, 'runbook.json');
    const runbook = runbookOf(invocation, path);
    const signature = signatureOf(invocation, path);
    const result = await verifyRunbook(runbook, signature, new LocalPublicKeys(keyDirOf(invocation)));
    invocation.context.print(result, () =>
      result.ok
        ? `verified: ${runbook.id} v${runbook.version} signed by ${signature.keyId} (version ${signature.keyVersion})`
        : `NOT verified: ${result.reason}`,
    );
    if (!result.ok) throw new ExitCodeError(EXIT_NOT_VERIFIED, `${path}: ${result.reason}`);
  },
};

const rotateKey: Command = {
  name: 'rotate-key',
  summary: 'make a new version of the local signing key; signatures of the old versions stay verifiable',
  options: { 'key-dir': KEY_DIR_OPTION },
  run: async (invocation) => {
    const signer = await (await LocalRsaSigner.open(keyDirOf(invocation))).rotate();
    const version = await signer.keyVersion();
    invocation.context.print(
      { keyId: signer.keyId, keyVersion: version },
      () => `key ${signer.keyId} now signs with version ${version}`,
    );
  },
};

const verifyTrail: Command = {
  name: 'verify-trail',
  summary: 'check an execution trail file (conductor.trail/v1) offline: its hash chain, order and length',
  arguments: '<trail.jsonl>',
  options: {
    head: {
      type: 'string',
      placeholder: '<seq>:<hash>',
      description:
        'the head you trust (from the execution record): a file cut short or rewritten is caught against it',
    },
  },
  run: async (invocation) => {
    const path = positional(invocation, 0, 'trail.jsonl');
    let file: ReturnType<typeof parseTrail>;
    try {
      file = parseTrail(readText(invocation, path), path);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    const head = stringOption(invocation, 'head');
    const match = head === undefined ? undefined : /^(\d+):([0-9a-f]{64})$/.exec(head);
    if (head !== undefined && !match) throw new UsageError('--head is <seq>:<64 hex of the hash>');
    const result = verifyTrailFile(
      file,
      match ? { seq: Number(match[1]), hash: match[2] as string } : undefined,
    );
    invocation.context.print(result, () =>
      result.ok
        ? `verified: ${result.length} entries of ${file.executionId}, head ${result.lastHash}`
        : `NOT verified: ${result.reason} at entry ${result.at}`,
    );
    if (!result.ok)
      throw new ExitCodeError(EXIT_NOT_VERIFIED, `${path}: ${result.reason} at entry ${result.at}`);
  },
};

const publish: Command = {
  name: 'publish',
  summary: 'publish a signed runbook version to the registry (verified there before it is stored)',
  arguments: '<runbook.json>',
  options: {
    signature: {
      type: 'string',
      placeholder: '<file>',
      description: 'the signature (default <runbook>.sig.json)',
    },
  },
  details:
    'An administrator, stepped up. The same version with the same content again answers 200 and changes nothing; other content under a published version is a 409.',
  examples: ['conductor runbook publish runbooks/restart-service.json --as acme-admin'],
  run: async (invocation) => {
    const path = positional(invocation, 0, 'runbook.json');
    const runbook = runbookOf(invocation, path);
    const signature = signatureOf(invocation, path);
    const published = await unwrap(
      invocation.context.client().POST('/api/conductor/v1/runbooks/registry', {
        body: { runbook: runbook as unknown as Schemas['RunbookDocument'], signature },
      }),
    );
    invocation.context.print(published, () =>
      fields([
        ['runbook', `${published.runbookId} v${published.version}`],
        ['status', published.status],
        ['digest', published.digest],
        ['key', `${published.signature.keyId} (version ${published.signature.keyVersion})`],
        ['published', `${published.publishedAt} by ${published.publishedBy}`],
      ]),
    );
  },
};

export const runbookCommand: Command = {
  name: 'runbook',
  summary: 'signed runbooks: sign, verify and publish them, rotate the local key, check an execution trail',
  details:
    'sign, verify, rotate-key and verify-trail work on files with the local signing key (the one npm start verifies with: run them from the project’s root). Executing a runbook comes with the rest of the runbooks API (issue 20).',
  subcommands: [sign, verify, publish, rotateKey, verifyTrail],
};
