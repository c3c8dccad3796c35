import { describe, expect, it, vi } from 'vitest';
import { ConflictError } from '#shared/errors.js';
import { canonicalJson } from '#shared/ports/canonical-json.js';
import { ManualClock } from '#shared/ports/system.js';
import { InMemoryTenantRecords, InMemoryWormStore, testSubjectHasher } from '#shared/testing/fakes.js';
import { BrokenTrailError, headOf, type TrailEntry, type TrailHead } from '../../src/domain/trail.js';
import { parseTrail, serializeTrail, verifyTrailFile } from '../../src/domain/trail-file.js';
import {
  TRAIL_CONTENT_TYPE,
  TRAIL_ENTITY,
  TrailLog,
  type TrailRecord,
  trailMirrorKey,
  trailRecordId,
} from '../../src/domain/trail-log.js';

const setup = () => {
  const records = new InMemoryTenantRecords<TrailRecord>(TRAIL_ENTITY);
  const worm = new InMemoryWormStore();
  const clock = new ManualClock('2026-03-01T10:00:00.000Z');
  return { records, worm, clock, log: new TrailLog({ records, worm, clock, hasher: testSubjectHasher }) };
};

/** Records a short run: requested, verified, one step started and finished. */
const run = async (log: TrailLog, clock: ManualClock): Promise<TrailHead> => {
  await log.append('acme', 'exec_1', {
    kind: 'requested',
    actor: 'alice',
    detail: { runbookId: 'restart-api' },
  });
  clock.advance(1000);
  await log.append('acme', 'exec_1', { kind: 'verified', detail: { keyId: 'runbooks-signing' } });
  clock.advance(1000);
  await log.append('acme', 'exec_1', { kind: 'step_started', detail: { stepId: 'drain' } });
  clock.advance(1000);
  const last = await log.append('acme', 'exec_1', {
    kind: 'step_finished',
    detail: { stepId: 'drain', outputDigest: 'a'.repeat(64) },
  });
  return last.head;
};

describe('TrailLog', () => {
  it('gives back the appended events as the timeline, in order, chained and mirrored to the WORM store', async () => {
    // Prepare
    const { log, clock, worm, records } = setup();

    // Act
    const head = await run(log, clock);
    const timeline = await log.timeline('acme', 'exec_1');

    // Assess
    expect(timeline.map((entry) => [entry.seq, entry.kind])).toEqual([
      [0, 'requested'],
      [1, 'verified'],
      [2, 'step_started'],
      [3, 'step_finished'],
    ]);
    // People by their keyed hash: the mirror is WORM evidence, which no erasure can reach.
    expect(timeline[0]).toMatchObject({
      actor: await testSubjectHasher.hash('alice'),
      at: '2026-03-01T10:00:00.000Z',
    });
    expect(JSON.stringify([...worm.objects.values()])).not.toContain('alice');
    expect(timeline[3]?.prevHash).toBe(timeline[2]?.hash);
    expect(head).toEqual(headOf(timeline[3] as TrailEntry));
    expect(await records.get('acme', 'exec_1#000003')).toMatchObject({ kind: 'step_finished' });
    const mirror = worm.objects.get('runbooks/acme/exec_1/000003.json');
    expect(mirror).toEqual({ body: canonicalJson(timeline[3]), contentType: TRAIL_CONTENT_TYPE });
    expect(await log.verifyExecution('acme', 'exec_1', head)).toEqual({
      ok: true,
      length: 4,
      lastHash: head.hash,
    });
  });

  it('keeps executions and tenants apart, and gives an execution with no events an empty timeline', async () => {
    // Prepare
    const { log, clock } = setup();
    await run(log, clock);

    // Act
    await log.append('globex', 'exec_1', { kind: 'requested', detail: {} });
    await log.append('acme', 'exec_2', { kind: 'requested', detail: {} });

    // Assess
    expect(await log.timeline('acme', 'exec_1')).toHaveLength(4);
    expect(await log.timeline('globex', 'exec_1')).toHaveLength(1);
    expect((await log.timeline('acme', 'exec_2'))[0]?.seq).toBe(0);
    expect(await log.timeline('acme', 'exec_3')).toEqual([]);
  });

  it('lands two concurrent appends at the same head on distinct seqs, the loser retrying after a conflict', async () => {
    // Prepare
    const { log, records } = setup();
    await log.append('acme', 'exec_1', { kind: 'requested', detail: {} });
    const create = vi.spyOn(records, 'create');

    // Act
    const [approved, stepStarted] = await Promise.all([
      log.append('acme', 'exec_1', { kind: 'approved', actor: 'bob', detail: { stage: 'ops' } }),
      log.append('acme', 'exec_1', { kind: 'step_started', detail: { stepId: 'drain' } }),
    ]);

    // Assess
    expect([approved.entry.seq, stepStarted.entry.seq].sort()).toEqual([1, 2]);
    expect(create).toHaveBeenCalledTimes(3);
    const lost = create.mock.settledResults.filter((result) => result.type === 'rejected');
    expect(lost).toEqual([{ type: 'rejected', value: expect.any(ConflictError) }]);
    const timeline = await log.timeline('acme', 'exec_1');
    expect(timeline.map((entry) => entry.kind).sort()).toEqual(['approved', 'requested', 'step_started']);
    const head = headOf(timeline[2] as TrailEntry);
    expect(await log.verifyExecution('acme', 'exec_1', head)).toMatchObject({ ok: true, length: 3 });
  });

  it('gives up with 409 trail_contended when it loses the race for every seq', async () => {
    // Prepare
    const { log, records } = setup();
    vi.spyOn(records, 'create').mockRejectedValue(new ConflictError('taken', 'already_exists'));

    // Act / Assess
    await expect(log.append('acme', 'exec_1', { kind: 'requested', detail: {} })).rejects.toMatchObject({
      statusCode: 409,
      code: 'trail_contended',
    });
    expect(records.create).toHaveBeenCalledTimes(5);
  });

  it('completes an append that stopped between the record and its mirror when it is retried, adding nothing', async () => {
    // Prepare: the first mirror write fails, as if the function died after the record was written
    const { log, clock, records, worm } = setup();
    await log.append('acme', 'exec_1', { kind: 'requested', detail: {} });
    const putOnce = vi.spyOn(worm, 'putOnce').mockRejectedValueOnce(new Error('the function timed out'));
    const event = {
      kind: 'step_finished',
      detail: { stepId: 'drain', outputDigest: 'b'.repeat(64) },
    } as const;
    await expect(log.append('acme', 'exec_1', event)).rejects.toThrow('timed out');
    expect(worm.objects.has(trailMirrorKey('acme', 'exec_1', 1))).toBe(false);
    clock.advance(5000);

    // Act
    const retried = await log.append('acme', 'exec_1', event);

    // Assess
    expect(retried).toMatchObject({ replayed: true, entry: { seq: 1, at: '2026-03-01T10:00:00.000Z' } });
    expect(await log.timeline('acme', 'exec_1')).toHaveLength(2);
    expect(records.all()).toHaveLength(2);
    expect(worm.objects.get(trailMirrorKey('acme', 'exec_1', 1))?.body).toBe(canonicalJson(retried.entry));
    expect(putOnce).toHaveBeenCalledTimes(2);
    expect(await log.verifyExecution('acme', 'exec_1', retried.head)).toMatchObject({ ok: true, length: 2 });
  });

  it('mirrors the stranded entry when the next event, not a retry, comes after it', async () => {
    // Prepare
    const { log, worm } = setup();
    vi.spyOn(worm, 'putOnce').mockRejectedValueOnce(new Error('S3 is unavailable'));
    await expect(log.append('acme', 'exec_1', { kind: 'requested', detail: {} })).rejects.toThrow();

    // Act
    const next = await log.append('acme', 'exec_1', { kind: 'verified', detail: {} });

    // Assess
    expect(next).toMatchObject({ replayed: false, entry: { seq: 1 } });
    expect(worm.objects.has(trailMirrorKey('acme', 'exec_1', 0))).toBe(true);
    expect(await log.verifyExecution('acme', 'exec_1', next.head)).toMatchObject({ ok: true });
  });

  it('reports an entry that was never mirrored as mirror_missing', async () => {
    // Prepare
    const { log, worm } = setup();
    vi.spyOn(worm, 'putOnce').mockRejectedValueOnce(new Error('S3 is unavailable'));
    await expect(log.append('acme', 'exec_1', { kind: 'requested', detail: {} })).rejects.toThrow();
    const [entry] = await log.timeline('acme', 'exec_1');

    // Act / Assess
    expect(await log.verifyExecution('acme', 'exec_1', headOf(entry as TrailEntry))).toEqual({
      ok: false,
      at: 0,
      reason: 'mirror_missing',
    });
  });

  it('detects a hot record edited in the table, re-hashed or not, and refuses to append after it', async () => {
    // Prepare
    const { log, clock, records } = setup();
    const head = await run(log, clock);
    const stored = (await records.get('acme', trailRecordId('exec_1', 2))) as TrailRecord;
    await records.replace({ ...stored, detail: { stepId: 'skip-drain' }, version: 2 }, 1);

    // Act
    const edited = await log.verifyExecution('acme', 'exec_1', head);

    // Assess
    expect(edited).toEqual({ ok: false, at: 2, reason: 'hash_mismatch' });
    await expect(log.append('acme', 'exec_1', { kind: 'succeeded', detail: {} })).rejects.toThrow(
      BrokenTrailError,
    );
  });

  it('detects a trail rewritten in the table with every hash recomputed and the head moved, against the WORM copies', async () => {
    // Prepare: a forger with table access rebuilds the trail from entry 2 on, and the head with it
    const { log, clock, records } = setup();
    await run(log, clock);
    const forgerRecords = new InMemoryTenantRecords<TrailRecord>(TRAIL_ENTITY);
    const forger = new TrailLog({
      records: forgerRecords,
      worm: new InMemoryWormStore(),
      clock,
      hasher: testSubjectHasher,
    });
    for (const entry of (await log.timeline('acme', 'exec_1')).slice(0, 2)) {
      await forgerRecords.create(
        (await records.get('acme', trailRecordId('exec_1', entry.seq))) as TrailRecord,
      );
    }
    await forger.append('acme', 'exec_1', { kind: 'step_started', detail: { stepId: 'skip-drain' } });
    const forgedHead = (await forger.append('acme', 'exec_1', { kind: 'succeeded', detail: {} })).head;
    for (const seq of [2, 3]) {
      await records.delete('acme', trailRecordId('exec_1', seq));
      await records.create((await forgerRecords.get('acme', trailRecordId('exec_1', seq))) as TrailRecord);
    }

    // Act
    const result = await log.verifyExecution('acme', 'exec_1', forgedHead);

    // Assess
    expect(result).toEqual({ ok: false, at: 2, reason: 'mirror_mismatch' });
  });

  it('detects entries removed from the end of the table, even with the head moved back, by their WORM copies', async () => {
    // Prepare
    const { log, clock, records } = setup();
    const head = await run(log, clock);
    await records.delete('acme', trailRecordId('exec_1', 3));
    const [, , third] = await log.timeline('acme', 'exec_1');

    // Act / Assess
    expect(await log.verifyExecution('acme', 'exec_1', head)).toEqual({
      ok: false,
      at: 3,
      reason: 'truncated',
    });
    expect(await log.verifyExecution('acme', 'exec_1', headOf(third as TrailEntry))).toEqual({
      ok: false,
      at: 3,
      reason: 'truncated',
    });
  });

  it('detects an entry removed from the middle of the table as a sequence gap', async () => {
    // Prepare
    const { log, clock, records } = setup();
    const head = await run(log, clock);
    await records.delete('acme', trailRecordId('exec_1', 1));

    // Act / Assess
    expect(await log.verifyExecution('acme', 'exec_1', head)).toEqual({
      ok: false,
      at: 1,
      reason: 'sequence_gap',
    });
  });
});

describe('the trail file of an execution', () => {
  it('verifies offline after a round trip through a file', async () => {
    // Prepare
    const { log, clock } = setup();
    const head = await run(log, clock);
    const text = serializeTrail(await log.timeline('acme', 'exec_1'));

    // Act
    const file = parseTrail(text, 'exec_1.trail.jsonl');

    // Assess
    expect(file).toMatchObject({ executionId: 'exec_1', tenantId: 'acme', head });
    expect(file.entries).toEqual(await log.timeline('acme', 'exec_1'));
    expect(verifyTrailFile(file)).toEqual({ ok: true, length: 4, lastHash: head.hash });
    expect(verifyTrailFile(file, head)).toMatchObject({ ok: true });
  });

  it('detects a file with its last lines cut, by its header or by a pinned head', async () => {
    // Prepare
    const { log, clock } = setup();
    const head = await run(log, clock);
    const lines = serializeTrail(await log.timeline('acme', 'exec_1')).split('\n');
    const cut = `${lines.slice(0, 3).join('\n')}\n`;
    const recut = serializeTrail(parseTrail(cut, 'cut').entries);

    // Act / Assess
    expect(verifyTrailFile(parseTrail(cut, 'cut'))).toEqual({ ok: false, at: 2, reason: 'truncated' });
    expect(verifyTrailFile(parseTrail(recut, 'recut'))).toMatchObject({ ok: true, length: 2 });
    expect(verifyTrailFile(parseTrail(recut, 'recut'), head)).toEqual({
      ok: false,
      at: 2,
      reason: 'truncated',
    });
  });

  it('detects a file with two entry lines swapped', async () => {
    // Prepare
    const { log, clock } = setup();
    await run(log, clock);
    const lines = serializeTrail(await log.timeline('acme', 'exec_1')).split('\n');
    [lines[2], lines[4]] = [lines[4] as string, lines[2] as string];

    // Act / Assess
    expect(verifyTrailFile(parseTrail(lines.join('\n'), 'swapped'))).toEqual({
      ok: false,
      at: 1,
      reason: 'reordered',
    });
  });
});
