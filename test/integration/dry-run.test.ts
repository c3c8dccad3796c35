import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectUniformError, type Harness, startHarness } from './harness.js';

/**
 * The size of a policy dry-run candidate over real HTTP on the embedded runtime: each candidate is
 * compiled in the process that answers every authorization question, so its text and its number of
 * policies are capped (64 KiB, 256 policies), below the route's body limit: a 413 in the uniform
 * error shape, before anything is compiled or read.
 */
let h: Harness;
let acmeAdmin: string;

beforeAll(async () => {
  h = await startHarness();
  acmeAdmin = h.tokens.acmeAdmin ?? '';
});
afterAll(async () => {
  await h.conductor.stop();
});

const deployed = (file: string) =>
  readFileSync(new URL(`../../policies/cedar/${file}`, import.meta.url), 'utf8');

/** `n` small valid policies, each with an @id of its own. */
const manyPolicies = (n: number): string =>
  Array.from(
    { length: n },
    (_, i) => `@id("p-${i}")\npermit (principal, action == Conductor::Action::"experts:get", resource);`,
  ).join('\n');

const dryRun = (policies: Record<string, string>) =>
  h.call('POST', '/policy/dry-run', { token: acmeAdmin, body: { policies } });

describe('policy dry-run: the candidate size cap over HTTP', () => {
  it('decides with a candidate of the deployed files (well under the caps)', async () => {
    const reply = await dryRun({
      'guards.cedar': deployed('guards.cedar'),
      'tenant.cedar': deployed('tenant.cedar'),
    });

    expect(reply.status, reply.text).toBe(200);
    expect(reply.json.candidateVersion).toBe(reply.json.currentVersion);
  });

  it('refuses 64 KiB and one byte of policy text with 413 payload_too_large', async () => {
    // 65 537 bytes across two files: under the route's 256 KiB body limit, over the candidate cap.
    const policy = manyPolicies(1);
    const padding = `// ${'x'.repeat(64 * 1024 - policy.length - 3)}\n`;

    const reply = await dryRun({ 'a.cedar': padding, 'b.cedar': policy });

    expectUniformError(reply, 413, 'payload_too_large');
    expect(reply.json.message).toContain('65536 bytes');
  });

  it('refuses 257 policies with 413 payload_too_large, saying how many and the maximum', async () => {
    const reply = await dryRun({ 'many.cedar': manyPolicies(257) });

    expectUniformError(reply, 413, 'payload_too_large');
    expect(reply.json.details).toEqual({ policies: 257, maxPolicies: 256 });
  });

  it('keeps answering after 100 distinct candidates', async () => {
    for (let n = 0; n < 100; n += 1) {
      const reply = await dryRun({
        'c.cedar': `@id("c-${n}")\npermit (principal, action == Conductor::Action::"experts:get", resource);`,
      });
      expect(reply.status, reply.text).toBe(200);
      expect(reply.json.candidateVersion).toMatch(/^cedar-[0-9a-f]{12}$/);
    }
  });
});
