import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { WormStore } from '#shared/ports/worm.js';
import { InMemoryTenantRecords, InMemoryWormStore } from '#shared/testing/fakes.js';
import { FileWormStore } from '../../../../infra/local/worm-store.js';
import { PLATFORM, type SeenEventRecord, seenEventId } from '../../src/domain/assess.js';
import { evidenceStoreWorm, runbooksSignedApproved } from '../../src/domain/platform-checks.js';

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

describe('platform.runbooks-signed-approved', () => {
  const at = (hoursAgo: number) => new Date(now.getTime() - hoursAgo * 3_600_000).toISOString();
  const setup = async (
    trails: Record<string, readonly string[]>,
    events: { id: string; status: string; hoursAgo: number }[],
  ) => {
    const seen = new InMemoryTenantRecords<SeenEventRecord>('SEEN_EVENT');
    const worm = new InMemoryWormStore();
    for (const event of events) {
      await seen.create({
        tenantId: PLATFORM,
        id: seenEventId('runbook_executed', `evt-${event.id}`),
        version: 1,
        createdAt: at(event.hoursAgo),
        updatedAt: at(event.hoursAgo),
        type: 'runbook_executed',
        sourceTenant: 'acme',
        detail: { runbookId: 'restart-service', executionId: event.id, status: event.status },
        expiresAt: 0,
      });
    }
    for (const [executionId, kinds] of Object.entries(trails)) {
      let prev = '0'.repeat(64);
      for (const [seq, kind] of kinds.entries()) {
        const hash = `h-${executionId}-${seq}`;
        await worm.putOnce(
          `runbooks/acme/${executionId}/${String(seq).padStart(6, '0')}.json`,
          JSON.stringify({ seq, kind, prevHash: prev, hash }),
        );
        prev = hash;
      }
    }
    /** The trail objects read, for the checks that count them. */
    const reads: string[] = [];
    const counted: Pick<WormStore, 'get'> = {
      get: async (key) => {
        reads.push(key);
        return worm.get(key);
      },
    };
    return Object.assign(runbooksSignedApproved(seen, counted), { reads, seen });
  };
  const GOOD = [
    'requested',
    'verified',
    'approval_requested',
    'approved',
    'step_started',
    'step_finished',
    'succeeded',
  ];

  it('passes when every execution of the period was verified and approved before its steps', async () => {
    const test = await setup({ 'rbx-1': GOOD }, [{ id: 'rbx-1', status: 'succeeded', hoursAgo: 2 }]);
    const outcome = await test.run({ now });
    expect(outcome.status).toBe('pass');
    expect(outcome.summary).toContain('all 1 executions');
  });

  it('fails naming an execution whose steps ran before an approval, or that has no trail', async () => {
    const test = await setup(
      { 'rbx-1': GOOD, 'rbx-2': ['requested', 'verified', 'step_started', 'approved', 'succeeded'] },
      [
        { id: 'rbx-1', status: 'succeeded', hoursAgo: 1 },
        { id: 'rbx-2', status: 'failed', hoursAgo: 1 },
        { id: 'rbx-3', status: 'succeeded', hoursAgo: 1 },
      ],
    );
    const outcome = await test.run({ now });
    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toContain('rbx-2 (no approval before its steps)');
    expect(outcome.summary).toContain('rbx-3 (no trail in the evidence store)');
    expect(outcome.summary).not.toContain('rbx-1');
  });

  it('reads a sound trail once: later runs take the verdict marked on its event, and still count it', async () => {
    // Prepare
    const test = await setup({ 'rbx-1': GOOD }, [{ id: 'rbx-1', status: 'succeeded', hoursAgo: 2 }]);
    await test.run({ now });
    const firstReads = test.reads.length;

    // Act
    const again = await test.run({ now: new Date(now.getTime() + 60_000) });

    // Assess: the whole trail and the miss after it the first time, nothing the second
    expect(firstReads).toBe(GOOD.length + 1);
    expect(test.reads).toHaveLength(firstReads);
    expect(again.status).toBe('pass');
    expect(again.summary).toContain('all 1 executions');
    expect(again.observations).toMatchObject({
      executions: [
        { executionId: 'rbx-1', entries: GOOD.length, problems: [], verifiedAt: now.toISOString() },
      ],
    });
    const [marked] = (await test.seen.list(PLATFORM, { limit: 10 })).items;
    expect(marked?.trailVerified).toEqual({ entries: GOOD.length, at: now.toISOString() });
  });

  it('reads a trail with a problem again on every run: a failing verdict is never kept', async () => {
    // Prepare
    const test = await setup({}, [{ id: 'rbx-9', status: 'succeeded', hoursAgo: 1 }]);
    await test.run({ now });

    // Act
    const again = await test.run({ now });

    // Assess
    expect(again.status).toBe('fail');
    expect(test.reads).toEqual(['runbooks/acme/rbx-9/000000.json', 'runbooks/acme/rbx-9/000000.json']);
    const [record] = (await test.seen.list(PLATFORM, { limit: 10 })).items;
    expect(record?.trailVerified).toBeUndefined();
  });

  it('ignores executions outside the period and those that never ran steps, and says when there was none', async () => {
    const test = await setup({}, [
      { id: 'old', status: 'succeeded', hoursAgo: 30 },
      { id: 'rejected', status: 'rejected', hoursAgo: 1 },
    ]);
    const outcome = await test.run({ now });
    expect(outcome.status).toBe('pass');
    expect(outcome.summary).toContain('no execution ran steps');
  });
});
