import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendEntry, type TrailEntry } from '../../functions/runbooks/src/domain/trail.js';
import { serializeTrail } from '../../functions/runbooks/src/domain/trail-file.js';
import { type CliHarness, startCliHarness } from './cli-harness.js';

/**
 * `conductor runbook`, offline, as an SRE uses it before anything is published: sign a runbook file
 * with the local key, verify it (a tampered file is caught), rotate the key (old signatures still
 * verify), and check an execution trail file's hash chain. Run as a child process from a temp folder.
 */
const BIN = fileURLToPath(new URL('../../bin/conductor.mjs', import.meta.url));
const RUNBOOKS = fileURLToPath(new URL('../../runbooks/', import.meta.url));

let work: string;

const conductor = (args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: work, env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'conductor-runbook-'));
  for (const name of ['restart-service.json', 'key-rotation.json'])
    copyFileSync(join(RUNBOOKS, name), join(work, name));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('conductor runbook (offline)', () => {
  it('signs a runbook with a new local key (its private half 0600) and verifies it', async () => {
    // Act
    const signed = await conductor(['runbook', 'sign', 'restart-service.json', '--json']);
    const verified = await conductor(['runbook', 'verify', 'restart-service.json']);

    // Assess
    expect(signed.code, signed.stderr).toBe(0);
    const signature = JSON.parse(readFileSync(join(work, 'restart-service.sig.json'), 'utf8'));
    expect(signature).toMatchObject({
      algorithm: 'RSASSA_PSS_SHA_256',
      keyId: expect.stringMatching(/^local:[0-9a-f]{16}$/),
      keyVersion: '1',
      digest: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(JSON.parse(signed.stdout)).toMatchObject({ digest: signature.digest });
    expect(statSync(join(work, '.conductor', 'runbook-signing', 'v1.key.pem')).mode & 0o777).toBe(0o600);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain('verified: restart-service v1');
  });

  it('refuses a changed step, a changed parameter default and another runbook’s signature (exit 1)', async () => {
    // Prepare
    const original = readFileSync(join(work, 'restart-service.json'), 'utf8');
    const document = JSON.parse(original);
    const changedStep = structuredClone(document);
    changedStep.steps[0].timeoutSeconds = (changedStep.steps[0].timeoutSeconds ?? 30) + 1;
    writeFileSync(join(work, 'changed-step.json'), JSON.stringify(changedStep));
    copyFileSync(join(work, 'restart-service.sig.json'), join(work, 'changed-step.sig.json'));
    const [name] = Object.keys(document.parameters.properties ?? {});
    const changedDefault = structuredClone(document);
    if (name) changedDefault.parameters.properties[name].default = 'tampered';
    writeFileSync(join(work, 'changed-default.json'), JSON.stringify(changedDefault));
    copyFileSync(join(work, 'restart-service.sig.json'), join(work, 'changed-default.sig.json'));
    expect((await conductor(['runbook', 'sign', 'key-rotation.json'])).code).toBe(0);

    // Act
    const step = await conductor(['runbook', 'verify', 'changed-step.json']);
    const parameterDefault = await conductor(['runbook', 'verify', 'changed-default.json']);
    const swapped = await conductor([
      'runbook',
      'verify',
      'restart-service.json',
      '--signature',
      'key-rotation.sig.json',
    ]);

    // Assess
    expect(name).toBeDefined();
    for (const result of [step, parameterDefault, swapped]) {
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('NOT verified: digest_mismatch');
    }
  });

  it('rotates the local key: new signatures name version 2, and version 1’s still verify', async () => {
    // Act
    const rotated = await conductor(['runbook', 'rotate-key']);
    const resigned = await conductor([
      'runbook',
      'sign',
      'key-rotation.json',
      '--out',
      'key-rotation.v2.sig.json',
    ]);
    const oldStillGood = await conductor(['runbook', 'verify', 'restart-service.json']);
    const newGood = await conductor([
      'runbook',
      'verify',
      'key-rotation.json',
      '--signature',
      'key-rotation.v2.sig.json',
    ]);

    // Assess
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toContain('now signs with version 2');
    expect(resigned.code).toBe(0);
    expect(JSON.parse(readFileSync(join(work, 'key-rotation.v2.sig.json'), 'utf8')).keyVersion).toBe('2');
    expect(oldStillGood.code, oldStillGood.stdout).toBe(0);
    expect(newGood.code, newGood.stdout).toBe(0);
  });

  it('refuses a signature by a key it does not know (another key folder), and a runbook file that fails its schema (exit 2, path and reason)', async () => {
    // Act
    const otherKey = await conductor([
      'runbook',
      'verify',
      'restart-service.json',
      '--key-dir',
      'other-keys',
    ]);
    writeFileSync(
      join(work, 'broken.json'),
      JSON.stringify({ apiVersion: 'conductor.runbook/v1', id: 'broken' }),
    );
    const broken = await conductor(['runbook', 'sign', 'broken.json']);

    // Assess
    expect(otherKey.code).toBe(1);
    expect(otherKey.stdout).toContain('NOT verified: unknown_key');
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/broken\.json: \w+/);
  });

  it('verifies an execution trail file, and catches it reordered or cut short against its head', async () => {
    // Prepare: a trail of four entries, as an execution writes them.
    const entries: TrailEntry[] = [];
    for (const kind of ['requested', 'verified', 'approved', 'succeeded'] as const) {
      entries.push(
        appendEntry(entries.at(-1), {
          executionId: 'exe-1',
          tenantId: 'acme',
          at: `2026-12-07T07:00:0${entries.length}.000Z`,
          kind,
          actor: 'alice',
          detail: kind === 'approved' ? { stage: 'sre' } : {},
        }),
      );
    }
    const head = `${(entries.at(-1) as TrailEntry).seq}:${(entries.at(-1) as TrailEntry).hash}`;
    writeFileSync(join(work, 'trail.jsonl'), serializeTrail(entries));
    const [a, b, c, d] = entries as [TrailEntry, TrailEntry, TrailEntry, TrailEntry];
    writeFileSync(join(work, 'reordered.jsonl'), serializeTrail([a, c, b, d]));
    writeFileSync(join(work, 'short.jsonl'), serializeTrail([a, b, c]));

    // Act
    const good = await conductor(['runbook', 'verify-trail', 'trail.jsonl', '--head', head]);
    const reordered = await conductor(['runbook', 'verify-trail', 'reordered.jsonl']);
    const short = await conductor(['runbook', 'verify-trail', 'short.jsonl', '--head', head]);

    // Assess
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toContain('verified: 4 entries of exe-1');
    expect(reordered.code).toBe(1);
    expect(reordered.stdout).toContain('NOT verified');
    expect(short.code).toBe(1);
    expect(short.stdout).toContain('NOT verified: truncated');
  });
});

describe('conductor runbook publish (against the embedded runtime)', () => {
  let cli: CliHarness;
  beforeAll(async () => {
    cli = await startCliHarness();
    copyFileSync(join(RUNBOOKS, 'restart-service.json'), join(cli.workDir, 'restart-service.json'));
  });
  afterAll(async () => {
    await cli.stop();
  });

  it('publishes a runbook signed with the runtime’s key as an admin; the registry refuses a tampered copy (exit 1) and an operator (exit 1)', async () => {
    // Prepare: signed with the key folder the runtime verifies with (npm start: .conductor/runbook-signing).
    const keyDir = ['--key-dir', cli.harness.conductor.runbookKeyDir];
    expect((await cli.run(['runbook', 'sign', 'restart-service.json', ...keyDir])).code).toBe(0);
    const document = JSON.parse(readFileSync(join(cli.workDir, 'restart-service.json'), 'utf8'));
    writeFileSync(
      join(cli.workDir, 'tampered.json'),
      JSON.stringify({ ...document, description: 'tampered' }),
    );
    copyFileSync(join(cli.workDir, 'restart-service.sig.json'), join(cli.workDir, 'tampered.sig.json'));

    // Act
    const published = await cli.run([
      'runbook',
      'publish',
      'restart-service.json',
      '--as',
      'acme-admin',
      '--json',
    ]);
    const tampered = await cli.run(['runbook', 'publish', 'tampered.json', '--as', 'acme-admin']);
    const operator = await cli.run(['runbook', 'publish', 'restart-service.json', '--as', 'acme-operator']);

    // Assess
    expect(published.code, published.stderr).toBe(0);
    expect(JSON.parse(published.stdout)).toMatchObject({ runbookId: 'restart-service', status: 'active' });
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toContain('signature_invalid');
    expect(operator.code).toBe(1);
    expect(operator.stderr).toMatch(/403|forbidden|policy_denied/);
  });
});
