import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenerateMacCommand, KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { CachedSubjectHasher, KmsSubjectHasher, LocalSubjectHasher } from '../src/adapters/subject-hasher.js';
import { SUBJECT_HASH_PATTERN } from '../src/ports/subject-hash.js';

describe('subject hashers', () => {
  const kms = mockClient(KMSClient);
  const dirs: string[] = [];
  afterEach(() => {
    kms.reset();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('KMS: GenerateMac HMAC_SHA_256 with the DSR key, the MAC in hex', async () => {
    kms.on(GenerateMacCommand).resolves({ Mac: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) });
    const hash = await new KmsSubjectHasher(new KMSClient({ region: 'eu-west-1' }), 'arn:key').hash('jane');
    expect(hash).toBe('hmac-sha256:deadbeef');
    const [call] = kms.commandCalls(GenerateMacCommand);
    expect(call?.args[0].input).toMatchObject({ KeyId: 'arn:key', MacAlgorithm: 'HMAC_SHA_256' });
    expect(new TextDecoder().decode(call?.args[0].input.Message)).toBe('jane');
  });

  it('KMS: no MAC is an error, never an empty hash', async () => {
    kms.on(GenerateMacCommand).resolves({});
    await expect(
      new KmsSubjectHasher(new KMSClient({ region: 'eu-west-1' }), 'k').hash('jane'),
    ).rejects.toThrow('KMS GenerateMac returned no MAC');
  });

  it('local: one key file, created once (0600), the same hash for the same person across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dsr-key-'));
    dirs.push(dir);
    const file = join(dir, 'nested', 'dsr-subject.key');
    const first = new LocalSubjectHasher(file);
    const key = readFileSync(file, 'utf8');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = new LocalSubjectHasher(file);
    expect(readFileSync(file, 'utf8')).toBe(key);
    expect(await again.hash('jane')).toBe(await first.hash('jane'));
    expect(await first.hash('jane')).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(await first.hash('jane')).not.toBe(await first.hash('bob'));
    // Another deployment's key: another hash for the same person.
    const otherDir = mkdtempSync(join(tmpdir(), 'dsr-key-'));
    dirs.push(otherDir);
    expect(await new LocalSubjectHasher(join(otherDir, 'k')).hash('jane')).not.toBe(await first.hash('jane'));
  });
});

describe('the cached subject hasher', () => {
  it('asks once per person, and again after a failure', async () => {
    const asked: string[] = [];
    let fail = true;
    const cached = new CachedSubjectHasher({
      hash: async (subject) => {
        asked.push(subject);
        if (subject === 'flaky' && fail) {
          fail = false;
          throw new Error('throttled');
        }
        return `h:${subject}`;
      },
    });
    expect(await Promise.all([cached.hash('jane'), cached.hash('jane'), cached.hash('bob')])).toEqual([
      'h:jane',
      'h:jane',
      'h:bob',
    ]);
    await expect(cached.hash('flaky')).rejects.toThrow('throttled');
    expect(await cached.hash('flaky')).toBe('h:flaky');
    expect(asked).toEqual(['jane', 'bob', 'flaky', 'flaky']);
  });

  it('looks like a keyed hash', () => {
    expect(SUBJECT_HASH_PATTERN.test(`hmac-sha256:${'a'.repeat(64)}`)).toBe(true);
    expect(SUBJECT_HASH_PATTERN.test('jane')).toBe(false);
  });
});
