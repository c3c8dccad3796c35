import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '#shared/ports/canonical-json.js';
import {
  againstHead,
  appendEntry,
  BrokenTrailError,
  GENESIS_HASH,
  headOf,
  type TrailEntry,
  type TrailEvent,
  verifyChain,
} from '../../src/domain/trail.js';

const event = (kind: TrailEvent['kind'], detail: Record<string, unknown> = {}, at = 0): TrailEvent => ({
  executionId: 'exec_1',
  tenantId: 'acme',
  at: new Date(Date.UTC(2026, 2, 1, 10) + at * 1000).toISOString(),
  kind,
  detail,
});

/** `{ level: { level: … 1 } }`, `levels` objects deep. */
const nested = (levels: number): Record<string, unknown> =>
  Array.from({ length: levels - 1 }).reduce<Record<string, unknown>>((inner) => ({ level: inner }), {
    level: 1,
  });

/** The entries the chain makes of `events`, appended one after the other. */
const chainOf = (events: readonly TrailEvent[]): TrailEntry[] => {
  const entries: TrailEntry[] = [];
  for (const next of events) entries.push(appendEntry(entries.at(-1), next));
  return entries;
};

/** A run with one approval stage and one step, as the workflow records it. */
const trail = (): TrailEntry[] =>
  chainOf([
    { ...event('requested', { runbookId: 'restart-api', version: 3 }, 0), actor: 'alice' },
    event('verified', { keyId: 'runbooks-signing' }, 1),
    event('approval_requested', { stage: 'ops' }, 2),
    { ...event('approved', { stage: 'ops' }, 3), actor: 'bob' },
    event('step_started', { stepId: 'drain' }, 4),
    event('step_finished', { stepId: 'drain', outputDigest: 'a'.repeat(64) }, 5),
    event('succeeded', {}, 6),
  ]);

describe('appendEntry', () => {
  it('starts a trail at seq 0 linked to the genesis hash', () => {
    // Act
    const genesis = appendEntry(undefined, event('requested'));

    // Assess
    expect(genesis.seq).toBe(0);
    expect(genesis.prevHash).toBe(GENESIS_HASH);
    expect(genesis.prevHash).toMatch(/^0{64}$/);
  });

  it('hashes the canonical JSON of the entry without its hash, and links the next entry to it', () => {
    // Prepare
    const genesis = appendEntry(undefined, {
      ...event('requested', { b: 1, a: [true, null] }),
      actor: 'alice',
    });

    // Act
    const next = appendEntry(genesis, event('verified'));

    // Assess
    const { hash, ...content } = genesis;
    expect(hash).toBe(sha256Hex(canonicalJson(content)));
    expect(next.seq).toBe(1);
    expect(next.prevHash).toBe(genesis.hash);
  });

  it('keeps detail in canonical form, so the same facts hash the same whatever their key order', () => {
    // Act
    const one = appendEntry(
      undefined,
      event('step_finished', { stepId: 's', outputDigest: 'd', skip: undefined }),
    );
    const other = appendEntry(undefined, event('step_finished', { outputDigest: 'd', stepId: 's' }));

    // Assess
    expect(one.hash).toBe(other.hash);
    expect(one.detail).toEqual({ outputDigest: 'd', stepId: 's' });
    expect(Object.keys(one.detail)).toEqual(['outputDigest', 'stepId']);
  });

  it.each([
    ['a non-finite number', { retries: Number.NaN }, /detail\.retries: NaN is not a JSON number/],
    ['a date', { when: new Date(0) }, /detail\.when: .* is not a JSON value/],
    ['a hole in an array', { steps: [1, undefined] }, /detail\.steps\[1\]: undefined is not a JSON value/],
    ['a function', { call: () => 1 }, /detail\.call: a function is not a JSON value/],
    ['a nest 17 levels deep', nested(17), /detail: nested deeper than 16 levels/],
  ])('refuses a detail holding %s, which storage would not give back unchanged', (_, detail, message) => {
    expect(() => appendEntry(undefined, event('requested', detail))).toThrow(message);
  });

  it('refuses an execution id that cannot name a record and a WORM key, and a time that is not ISO 8601', () => {
    expect(() => appendEntry(undefined, { ...event('requested'), executionId: 'a/b' })).toThrow(
      /executionId/,
    );
    expect(() => appendEntry(undefined, { ...event('requested'), executionId: 'a#1' })).toThrow(
      /executionId/,
    );
    expect(() => appendEntry(undefined, { ...event('requested'), at: 'yesterday' })).toThrow(/at:/);
  });

  it('refuses to follow an entry of another execution, or one that does not match its hash', () => {
    // Prepare
    const genesis = appendEntry(undefined, event('requested'));

    // Act / Assess
    expect(() => appendEntry(genesis, { ...event('verified'), executionId: 'exec_2' })).toThrow(TypeError);
    expect(() => appendEntry({ ...genesis, kind: 'approved' }, event('verified'))).toThrow(BrokenTrailError);
  });
});

describe('verifyChain', () => {
  it('accepts an appended trail, reporting its length and last hash', () => {
    // Prepare
    const entries = trail();

    // Act
    const result = verifyChain(entries, {
      executionId: 'exec_1',
      ...againstHead(headOf(entries[6] as TrailEntry)),
    });

    // Assess
    expect(result).toEqual({ ok: true, length: 7, lastHash: entries[6]?.hash });
  });

  it('accepts an empty trail from genesis', () => {
    expect(verifyChain([])).toEqual({ ok: true, length: 0, lastHash: GENESIS_HASH });
  });

  it('reports an edited entry as a hash mismatch where it was edited', () => {
    // Prepare
    const entries = trail();
    entries[3] = { ...(entries[3] as TrailEntry), actor: 'mallory' };

    // Act / Assess
    expect(verifyChain(entries)).toEqual({ ok: false, at: 3, reason: 'hash_mismatch' });
  });

  it('reports an entry edited and re-hashed as a broken link at the entry after it', () => {
    // Prepare
    const entries = trail();
    const { hash: _hash, ...edited } = { ...(entries[3] as TrailEntry), actor: 'mallory' };
    entries[3] = { ...edited, hash: sha256Hex(canonicalJson(edited)) };

    // Act / Assess
    expect(verifyChain(entries)).toEqual({ ok: false, at: 4, reason: 'broken_link' });
  });

  it('reports two swapped entries as reordered', () => {
    // Prepare
    const entries = trail();
    [entries[2], entries[5]] = [entries[5] as TrailEntry, entries[2] as TrailEntry];

    // Act / Assess
    expect(verifyChain(entries)).toEqual({ ok: false, at: 2, reason: 'reordered' });
  });

  it('reports an entry removed from the middle as a sequence gap', () => {
    // Prepare
    const entries = trail();
    entries.splice(4, 1);

    // Act / Assess
    expect(verifyChain(entries)).toEqual({ ok: false, at: 4, reason: 'sequence_gap' });
  });

  it('reports a trail without its first entry as not starting at genesis, unless a window is asked for', () => {
    // Prepare
    const window = trail().slice(1);

    // Act / Assess
    expect(verifyChain(window)).toEqual({ ok: false, at: 0, reason: 'not_genesis' });
    expect(verifyChain(window, { fromGenesis: false })).toMatchObject({ ok: true, length: 7 });
  });

  it('detects entries cut from the end only against the known head', () => {
    // Prepare
    const entries = trail();
    const head = headOf(entries[6] as TrailEntry);
    const truncated = entries.slice(0, 5);

    // Act / Assess
    expect(verifyChain(truncated)).toMatchObject({ ok: true, length: 5 });
    expect(verifyChain(truncated, againstHead(head))).toEqual({ ok: false, at: 5, reason: 'truncated' });
    expect(verifyChain(truncated, { length: 7 })).toEqual({ ok: false, at: 5, reason: 'truncated' });
    expect(verifyChain(truncated, { lastHash: head.hash })).toEqual({
      ok: false,
      at: 5,
      reason: 'truncated',
    });
  });

  it('reports entries past the known head as beyond it', () => {
    // Prepare
    const entries = trail();
    const head = headOf(entries[4] as TrailEntry);

    // Act / Assess
    expect(verifyChain(entries, againstHead(head))).toEqual({ ok: false, at: 5, reason: 'beyond_head' });
    expect(verifyChain(entries, { lastHash: head.hash })).toEqual({
      ok: false,
      at: 5,
      reason: 'beyond_head',
    });
  });

  it('reports a trail rewritten and re-hashed throughout as a mismatch with the known head', () => {
    // Prepare
    const entries = trail();
    const head = headOf(entries[6] as TrailEntry);
    const forged = chainOf(entries.map((entry) => ({ ...entry, actor: 'mallory' })));

    // Act / Assess
    expect(verifyChain(forged)).toMatchObject({ ok: true });
    expect(verifyChain(forged, againstHead(head))).toEqual({ ok: false, at: 6, reason: 'hash_mismatch' });
  });

  it('reports an intact entry of another execution spliced in as the wrong execution', () => {
    // Prepare
    const entries = trail();
    const other = chainOf(trail().map((entry) => ({ ...entry, executionId: 'exec_2' })));
    entries[3] = other[3] as TrailEntry;

    // Act / Assess
    expect(verifyChain(entries)).toEqual({ ok: false, at: 3, reason: 'wrong_execution' });
    expect(verifyChain(other, { executionId: 'exec_1' })).toEqual({
      ok: false,
      at: 0,
      reason: 'wrong_execution',
    });
  });

  it('reports a genesis entry that links to something as a broken link', () => {
    // Prepare
    const { hash: _hash, ...forged } = { ...(trail()[0] as TrailEntry), prevHash: 'f'.repeat(64) };

    // Act / Assess
    expect(verifyChain([{ ...forged, hash: sha256Hex(canonicalJson(forged)) }])).toEqual({
      ok: false,
      at: 0,
      reason: 'broken_link',
    });
  });
});
