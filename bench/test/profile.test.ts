import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { attributeProfileWindow } from '../lib/profile.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const frame = (id: number, url: string, children: number[] = [], functionName = 'f') => ({
  id,
  callFrame: { functionName, url },
  children,
});

/**
 * A profile of 1 s samples (timeDeltas in µs) whose stacks end in: a Node internal under jose under
 * the gateway; the SDK under a handler; jose under a handler; a Node internal with nothing of ours
 * above it; the garbage collector; idle; and a stand-in's own frame.
 */
const writeProfile = (samples: readonly number[]) => {
  const dir = mkdtempSync(join(tmpdir(), 'profile-test-'));
  dirs.push(dir);
  const root = '/repo';
  const nodes = [
    frame(1, '', [2, 5, 8, 10, 11, 12], '(root)'),
    frame(2, `file://${root}/infra/local/gateway.ts`, [3]),
    frame(3, `file://${root}/node_modules/jose/dist/verify.js`, [4]),
    frame(4, 'node:internal/crypto/util'),
    frame(5, `file://${root}/functions/router/src/handler.ts`, [6, 7]),
    frame(6, `file://${root}/node_modules/@smithy/core/dist-cjs/index.js`),
    frame(7, `file://${root}/node_modules/jose/dist/verify.js`),
    frame(8, 'node:internal/streams/readable', [9]),
    frame(9, 'node:internal/streams/end'),
    frame(10, '', [], '(garbage collector)'),
    frame(11, '', [], '(idle)'),
    frame(12, `file://${root}/node_modules/dynalite/index.js`),
  ];
  const start = 1_000_000;
  const profile = {
    nodes,
    samples,
    timeDeltas: samples.map(() => 1_000_000),
    startTime: start,
    endTime: start + samples.length * 1_000_000,
  };
  writeFileSync(join(dir, 'main.cpuprofile'), JSON.stringify(profile));
  return dir;
};

describe('attributeProfileWindow', () => {
  it('gives each sample to the nearest frame of ours, JWT to its caller, and leaves idle out', () => {
    // Prepare: one sample of each stack, then one more of the SDK (the window's last second)
    const dir = writeProfile([4, 6, 7, 9, 10, 11, 12, 6]);

    // Act: the whole run but the margin at its end
    const split = attributeProfileWindow(dir, 8, 0);

    // Assess
    expect(split?.ms).toEqual({
      functions: 0,
      sdk: 2000,
      standIns: 1000,
      jwtGateway: 1000,
      jwtFunction: 1000,
      nodeInternals: 1000,
      gc: 1000,
      loader: 0,
    });
    expect(split?.busyMs).toBe(7000);
  });

  it('counts only the window: the last seconds before the end, less the margin', () => {
    // Prepare
    const dir = writeProfile([4, 4, 4, 6, 6, 12]);

    // Act: 2 s ending 1 s before the end: the two SDK samples
    const split = attributeProfileWindow(dir, 2, 1);

    // Assess
    expect(split?.busyMs).toBe(2000);
    expect(split?.ms.sdk).toBe(2000);
  });

  it('answers undefined for a folder without a profile', () => {
    const dir = mkdtempSync(join(tmpdir(), 'profile-test-'));
    dirs.push(dir);
    expect(attributeProfileWindow(dir, 1)).toBeUndefined();
  });
});
