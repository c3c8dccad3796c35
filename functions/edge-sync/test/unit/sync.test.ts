import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { refusal } from '#shared/testing/refusal.js';
import { makeSync, pullAll, register, SimNode } from '../support/fakes.js';

const pushAll = async (ctx: Awaited<ReturnType<typeof makeSync>>, node: SimNode) => {
  const ops = node.outbox.splice(0);
  return ops.length === 0 ? undefined : ctx.sync.push('acme', node.node, ops, 'trace-1');
};

describe('EdgeSync', () => {
  it('authenticates a node by its credential only, and not once revoked', async () => {
    // Prepare
    const ctx = await makeSync();
    const a = await register(ctx, new SimNode('a', 1));

    // Act
    const ok = await ctx.sync.authenticateNode('acme', 'a', a.token);
    const wrong = await refusal(ctx.sync.authenticateNode('acme', 'a', `${a.token}x`));
    const otherTenant = await refusal(ctx.sync.authenticateNode('globex', 'a', a.token));
    await ctx.sync.revokeNode('acme', 'a', 'admin', 'lost');
    const revoked = await refusal(ctx.sync.authenticateNode('acme', 'a', a.token));

    // Assess
    expect(ok.lastSeenAt).toBe('2026-12-01T10:00:00.000Z');
    expect(JSON.stringify(ok)).not.toContain(a.token);
    expect([wrong.code, otherTenant.code, revoked.code]).toEqual([
      'node_credential_invalid',
      'node_not_found',
      'node_revoked',
    ]);
  });

  it('logs each push as one entry, reads it back in pages, and acknowledges the cursor a node sends', async () => {
    // Prepare
    const ctx = await makeSync();
    const a = await register(ctx, new SimNode('a', 1));
    const b = await register(ctx, new SimNode('b', 2));
    for (let i = 0; i < 5; i += 1) {
      a.set('status', `s${i}`);
      await pushAll(ctx, a);
    }

    // Act
    await pullAll(ctx, b);
    await ctx.sync.pull('acme', b.node, { documentId: 'doc-1', cursor: b.cursor, limit: 10 });

    // Assess
    expect(b.get('status')).toBe('s4');
    expect((await ctx.stores.log.list('acme', { limit: 100 })).items.map((e) => e.id)).toEqual(
      [1, 2, 3, 4, 5].map((n) => `doc-1#${String(n).padStart(12, '0')}`),
    );
    expect((await ctx.stores.acks.get('acme', 'doc-1#b'))?.seq).toBe(5);
  });

  it('loses no entry when two processes push at once: the second takes the next sequence', async () => {
    // Prepare: two service instances (two Lambda containers) on the same stores.
    const ctx = await makeSync();
    const { EdgeSync } = await import('../../src/domain/sync.js');
    const other = new EdgeSync(ctx.deps);
    const a = await register(ctx, new SimNode('a', 1));
    const b = await register(ctx, new SimNode('b', 2));
    a.set('status', 'from-a');
    b.set('notes', 'from-b');

    // Act
    const [ra, rb] = await Promise.all([
      ctx.sync.push('acme', a.node, a.outbox.splice(0), 't'),
      other.push('acme', b.node, b.outbox.splice(0), 't'),
    ]);
    const state = await ctx.sync.readDocument('acme', 'doc-1');

    // Assess
    expect([ra.accepted, rb.accepted]).toEqual([1, 1]);
    expect(state.head).toBe(2);
    expect(state.fields).toEqual({ status: 'from-a', notes: 'from-b' });
  });

  it('records a conflict once even when the push is retried after its log write, and publishes edge_conflict', async () => {
    // Prepare
    const ctx = await makeSync();
    const a = await register(ctx, new SimNode('a', 1));
    const b = await register(ctx, new SimNode('b', 2));
    a.set('signOff', 'alice');
    b.set('signOff', 'bob');
    await pushAll(ctx, a);
    const ops = b.outbox.splice(0);

    // Act: the first attempt's conflict write fails after the log took the entry.
    const create = ctx.stores.conflicts.create.bind(ctx.stores.conflicts);
    ctx.stores.conflicts.create = async () => {
      throw new Error('DynamoDB unavailable');
    };
    const failed = await refusal(ctx.sync.push('acme', b.node, ops, 't1')).catch((error: unknown) => error);
    ctx.stores.conflicts.create = create;
    const retried = await ctx.sync.push('acme', b.node, ops, 't2');

    // Assess
    expect(String((failed as Error).message ?? failed)).toContain('DynamoDB unavailable');
    expect(retried).toMatchObject({
      accepted: 0,
      duplicates: 1,
      conflicts: [{ field: 'signOff', status: 'open' }],
    });
    expect((await ctx.stores.conflicts.list('acme', { limit: 10 })).items).toHaveLength(1);
    expect(ctx.published.map((e) => e.detail)).toContainEqual(
      expect.objectContaining({ field: 'signOff', rule: 'manual', autoResolved: false, nodeId: 'b' }),
    );
  });

  it('a person’s resolution reaches every node and closes the conflict', async () => {
    // Prepare
    const ctx = await makeSync();
    const a = await register(ctx, new SimNode('a', 1));
    const b = await register(ctx, new SimNode('b', 2));
    a.set('signOff', 'alice');
    b.set('signOff', 'bob');
    await pushAll(ctx, a);
    const pushed = await pushAll(ctx, b);
    const conflictId = pushed?.conflicts[0]?.conflictId as string;

    // Act
    const resolved = await ctx.sync.resolveConflict(
      'acme',
      conflictId,
      { choose: 'current', note: 'a was on site' },
      'lead',
    );
    await pullAll(ctx, a);
    await pullAll(ctx, b);

    // Assess
    expect(resolved).toMatchObject({ status: 'resolved', resolvedValue: 'alice', resolvedBy: 'lead' });
    expect([a.get('signOff'), b.get('signOff')]).toEqual(['alice', 'alice']);
    expect((await refusal(ctx.sync.resolveConflict('acme', conflictId, { value: 'x' }, 'lead'))).code).toBe(
      'conflict_not_open',
    );
  });

  it('compacts into a snapshot, never past what a live node acknowledged; a new node starts from the snapshot', async () => {
    // Prepare: a lagging node acknowledged entry 1 only; a revoked one acknowledged nothing later.
    const ctx = await makeSync({ snapshotEvery: 4 });
    const a = await register(ctx, new SimNode('a', 1));
    const lag = await register(ctx, new SimNode('lag', 2));
    a.increment('hours', 1);
    await pushAll(ctx, a);
    await pullAll(ctx, lag);
    await ctx.sync.pull('acme', lag.node, { documentId: 'doc-1', cursor: lag.cursor, limit: 10 });

    // Act
    for (let i = 2; i <= 9; i += 1) {
      a.increment('hours', 1);
      await pushAll(ctx, a);
    }
    const afterLagging = await ctx.stores.documents.get('acme', 'doc-1');
    await ctx.sync.revokeNode('acme', 'lag', 'admin');
    a.increment('hours', 1);
    await pushAll(ctx, a);
    for (let i = 11; i <= 13; i += 1) {
      a.increment('hours', 1);
      await pushAll(ctx, a);
    }
    const afterRevoke = await ctx.stores.documents.get('acme', 'doc-1');
    const fresh = await register(ctx, new SimNode('fresh', 3));
    await pullAll(ctx, fresh);

    // Assess
    expect(afterLagging).toMatchObject({ snapshotSeq: 8, compactedThrough: 1 });
    expect(afterRevoke?.compactedThrough).toBe(12);
    expect(ctx.snapshots.objects.size).toBe(3);
    expect(fresh.get('hours')).toBe(13);
    const stale = await refusal(
      ctx.sync.pull('acme', a.node, {
        documentId: 'doc-1',
        cursor: Buffer.from('doc-1:3').toString('base64url'),
        limit: 5,
      }),
    );
    expect(stale.code).toBe('cursor_expired');
  });

  it('answers a state vector with the minimal delta', async () => {
    // Prepare
    const ctx = await makeSync();
    const a = await register(ctx, new SimNode('a', 1));
    for (let i = 0; i < 20; i += 1) a.set(`f${i}`, 'x'.repeat(100));
    await pushAll(ctx, a);
    a.set('status', 'done');
    await pushAll(ctx, a);
    const sv = Y.encodeStateVector(a.doc);
    const doc = new Y.Doc();
    doc.clientID = 1;

    // Act
    const page = await ctx.sync.pull('acme', a.node, {
      documentId: 'doc-1',
      stateVector: Buffer.from(sv).toString('base64'),
      limit: 10,
    });

    // Assess
    expect(page.ops).toHaveLength(1);
    expect(Buffer.from(page.ops[0]?.update as string, 'base64').length).toBeLessThan(8);
  });
});
