import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { WormStore } from '#shared/ports/worm.js';
import { InMemoryWormStore } from '#shared/testing/fakes.js';
import { FileWormStore } from '../../../../infra/local/worm-store.js';
import { evidenceStoreWorm } from '../../src/domain/platform-checks.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const now = new Date('2026-12-07T06:00:00Z');
let probes = 0;
const probeId = () => {
  probes += 1;
  return `probe-${probes}`;
};

describe('platform.evidence-store-worm', () => {
  it('passes on the local write-once file store (the embedded runtime’s evidence store)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'worm-probe-'));
    dirs.push(dir);
    const outcome = await evidenceStoreWorm(new FileWormStore(dir), probeId).run({ now });
    expect(outcome).toMatchObject({
      status: 'pass',
      observations: { overwriteRefused: true, deleteRefused: true, unchanged: true },
    });
  });

  it('fails a store that lets an object be deleted or overwritten, naming what it allowed', async () => {
    const objects = new Map<string, string>();
    const loose: WormStore = {
      putOnce: async (key, body) => {
        objects.set(key, body);
        return 'created';
      },
      get: async (key) => objects.get(key),
      delete: async (key) => void objects.delete(key),
    };
    const outcome = await evidenceStoreWorm(loose, probeId).run({ now });
    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toContain('an overwrite with other content is refused');
    expect(outcome.summary).toContain('a delete before the retention ends is refused');
    expect((await evidenceStoreWorm(new InMemoryWormStore(), probeId).run({ now })).status).toBe('pass');
  });
});
