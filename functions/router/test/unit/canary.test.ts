import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ASSIGNMENT_BUCKETS, assignmentBucket, servedByCandidate } from '../../src/domain/canary.js';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `session-${i}`);
const MODULE = pathToFileURL(resolve(import.meta.dirname, '../../src/domain/canary.ts')).href;

describe('sticky canary assignment', () => {
  it('gives 10,000 keys the same buckets in another process', async () => {
    const script = `
      const { assignmentBucket } = await import(${JSON.stringify(MODULE)});
      const keys = Array.from({ length: 10000 }, (_, i) => 'session-' + i);
      process.stdout.write(JSON.stringify(keys.map((k) => assignmentBucket('acme', 'exp-1', k))));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: resolve(import.meta.dirname, '../../../..'), maxBuffer: 10 * 1024 * 1024 },
    );

    expect(JSON.parse(stdout)).toEqual(KEYS.map((key) => assignmentBucket('acme', 'exp-1', key)));
  });

  it('serves the candidate to a share of keys within binomial noise of the configured one', () => {
    for (const percent of [5, 10, 25, 50]) {
      const served = KEYS.filter((key) =>
        servedByCandidate(assignmentBucket('acme', 'exp-1', key), percent),
      ).length;
      const p = percent / 100;
      const sigma = Math.sqrt(p * (1 - p) * KEYS.length);

      expect(Math.abs(served - p * KEYS.length), `${percent} %`).toBeLessThan(4 * sigma);
    }
  });

  it('only moves keys from the baseline to the candidate as the share grows (5 -> 25 -> 100)', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (key, a, b) => {
          const bucket = assignmentBucket('acme', 'exp-1', key);
          const [low, high] = a <= b ? [a, b] : [b, a];
          if (servedByCandidate(bucket, low)) expect(servedByCandidate(bucket, high)).toBe(true);
        },
      ),
    );
    const at = (percent: number) =>
      KEYS.filter((key) => servedByCandidate(assignmentBucket('acme', 'exp-1', key), percent));
    expect(at(0)).toEqual([]);
    expect(at(100)).toHaveLength(KEYS.length);
  });

  it('assigns independently per tenant and per experiment, in range', () => {
    const buckets = (tenant: string, experiment: string) =>
      KEYS.slice(0, 1000).map((k) => assignmentBucket(tenant, experiment, k));
    const base = buckets('acme', 'exp-1');
    const agree = (other: number[]) => other.filter((b, i) => b === base[i]).length;

    expect(base.every((b) => Number.isInteger(b) && b >= 0 && b < ASSIGNMENT_BUCKETS)).toBe(true);
    // Unrelated hashes agree on about 1 in 10,000 buckets, not on most.
    expect(agree(buckets('globex', 'exp-1'))).toBeLessThan(10);
    expect(agree(buckets('acme', 'exp-2'))).toBeLessThan(10);
  });

  it('refuses a share outside 0-100', () => {
    expect(() => servedByCandidate(0, -1)).toThrow(RangeError);
    expect(() => servedByCandidate(0, 100.5)).toThrow(RangeError);
    expect(() => servedByCandidate(0, Number.NaN)).toThrow(RangeError);
  });
});
