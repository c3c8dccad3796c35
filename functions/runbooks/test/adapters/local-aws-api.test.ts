import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCAL_ALIASES_FILE, LocalAwsApi } from '../../src/adapters/local-aws-api.js';
import { LocalPublicKeys, LocalRsaSigner } from '../../src/adapters/local-signer.js';
import type { AwsApiStep } from '../../src/adapters/step-runners.js';
import { signRunbook, verifyRunbook } from '../../src/domain/signing.js';
import { resolveStep, StepFailedError, type StepOutput } from '../../src/domain/steps.js';
import { exampleJson, parsed } from '../support/fakes.js';
import { stepContext } from './step-fixtures.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const context = stepContext({ timeoutMs: 5_000 });
/** The shipped key rotation: its create-key and move-alias steps are what the stand-in serves. */
const keyRotation = parsed(exampleJson('key-rotation.json'));
const stepOf = (id: string, outputs: ReadonlyMap<string, StepOutput> = new Map()): AwsApiStep => {
  const step = keyRotation.steps.find((s) => s.id === id);
  if (!step) throw new Error(`key-rotation.json has no step ${id}`);
  const resolved = resolveStep(
    step,
    { aliasName: 'alias/conductor-runbook-signing', ticket: 'SEC-7' },
    outputs,
  );
  if (resolved.type !== 'aws-api') throw new Error(`step ${id} is not an aws-api step`);
  return resolved;
};

describe('LocalAwsApi', () => {
  let directory: string;

  beforeEach(async () => {
    directory = join(await mkdtemp(join(tmpdir(), 'conductor-local-aws-')), 'runbook-signing');
  });
  afterEach(async () => {
    await rm(join(directory, '..'), { recursive: true, force: true });
  });

  it('creates a new key version on kms:CreateKey: new signatures verify, and so do the old key’s', async () => {
    // Prepare
    const v1 = await LocalRsaSigner.open(directory);
    const oldSignature = await signRunbook(keyRotation, v1, NOW);
    const api = new LocalAwsApi({ directory });

    // Act
    const output = await api.run(stepOf('create-key'), context);

    // Assess
    expect(output).toEqual({
      KeyMetadata: {
        KeyId: v1.keyId,
        Arn: `${v1.keyId}:2`,
        KeySpec: 'RSA_2048',
        KeyUsage: 'SIGN_VERIFY',
        KeyState: 'Enabled',
        Description: 'Conductor runbook signing key, rotated under SEC-7',
      },
    });
    const signer = await LocalRsaSigner.open(directory);
    expect(await signer.keyVersion()).toBe('2');
    const newSignature = await signRunbook(keyRotation, signer, NOW);
    const keys = new LocalPublicKeys(directory);
    expect(await verifyRunbook(keyRotation, newSignature, keys)).toEqual({ ok: true });
    expect(await verifyRunbook(keyRotation, oldSignature, keys)).toEqual({ ok: true });
  });

  it('creates the key folder and its first two versions when there was none', async () => {
    // Act
    const output = await new LocalAwsApi({ directory }).run(stepOf('create-key'), context);

    // Assess
    expect(output).toMatchObject({ KeyMetadata: { Arn: expect.stringMatching(/^local:[0-9a-f]{16}:2$/) } });
    expect((await readdir(directory)).filter((name) => name.endsWith('.key.pem')).sort()).toEqual([
      'v1.key.pem',
      'v2.key.pem',
    ]);
  });

  it('records kms:UpdateAlias in aliases.json, the target being the new key’s Arn, and answers {}', async () => {
    // Prepare: the runbook's own chaining, create-key's output into move-alias
    const api = new LocalAwsApi({ directory });
    const created = await api.run(stepOf('create-key'), context);

    // Act
    const output = await api.run(stepOf('move-alias', new Map([['create-key', created]])), context);

    // Assess
    expect(output).toEqual({});
    const arn = (created as { KeyMetadata: { Arn: string } }).KeyMetadata.Arn;
    expect(JSON.parse(await readFile(join(directory, LOCAL_ALIASES_FILE), 'utf8'))).toEqual({
      'alias/conductor-runbook-signing': { AliasName: 'alias/conductor-runbook-signing', TargetKeyId: arn },
    });
    expect((await stat(join(directory, LOCAL_ALIASES_FILE))).mode & 0o777).toBe(0o600);
  });

  it('moves an alias and keeps the others, leaving no temporary file', async () => {
    // Prepare
    const api = new LocalAwsApi({ directory });
    const moveAlias = stepOf('move-alias');
    await api.run({ ...moveAlias, input: { AliasName: 'alias/a', TargetKeyId: 'local:k:1' } }, context);
    await api.run({ ...moveAlias, input: { AliasName: 'alias/b', TargetKeyId: 'local:k:1' } }, context);

    // Act
    await api.run({ ...moveAlias, input: { AliasName: 'alias/a', TargetKeyId: 'local:k:2' } }, context);

    // Assess
    expect(JSON.parse(await readFile(join(directory, LOCAL_ALIASES_FILE), 'utf8'))).toEqual({
      'alias/a': { AliasName: 'alias/a', TargetKeyId: 'local:k:2' },
      'alias/b': { AliasName: 'alias/b', TargetKeyId: 'local:k:1' },
    });
    expect(await readdir(directory)).toEqual([LOCAL_ALIASES_FILE]);
  });

  it('fails any other action: it runs only on AWS', async () => {
    // Prepare
    const step: AwsApiStep = {
      ...stepOf('create-key'),
      service: 'ecs',
      action: 'ecs:UpdateService',
      input: {},
    };

    // Act
    const running = new LocalAwsApi({ directory }).run(step, context);

    // Assess
    await expect(running).rejects.toThrow(StepFailedError);
    await expect(running).rejects.toMatchObject({
      stepId: 'create-key',
      reason: 'ecs:UpdateService runs only on AWS: the embedded runtime has no stand-in for it',
    });
  });

  it('makes only RSA_2048 SIGN_VERIFY keys', async () => {
    // Prepare
    const step = stepOf('create-key');

    // Act
    const running = new LocalAwsApi({ directory }).run(
      { ...step, input: { KeySpec: 'ECC_NIST_P256' } },
      context,
    );

    // Assess
    await expect(running).rejects.toMatchObject({ reason: expect.stringMatching(/only KeySpec RSA_2048/) });
    await expect(readdir(directory)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('checks the allow-list when given one, before touching the key folder', async () => {
    // Prepare
    const api = new LocalAwsApi({ directory, allowedActions: ['kms:UpdateAlias'] });

    // Act
    const running = api.run(stepOf('create-key'), context);

    // Assess
    await expect(running).rejects.toMatchObject({
      reason: '"kms:CreateKey" is not an allowed AWS API action (allowed: kms:UpdateAlias)',
    });
    await expect(readdir(directory)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
