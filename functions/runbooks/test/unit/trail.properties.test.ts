import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  againstHead,
  appendEntry,
  headOf,
  TRAIL_KINDS,
  type TrailEntry,
  type TrailEvent,
  verifyChain,
} from '../../src/domain/trail.js';

const START = Date.UTC(2026, 2, 1);

const eventArb = fc.record(
  {
    kind: fc.constantFrom(...TRAIL_KINDS),
    actor: fc.constantFrom('alice', 'bob', 'ops-bot'),
    detail: fc.dictionary(fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9]{0,7}$/), fc.jsonValue({ maxDepth: 3 }), {
      maxKeys: 4,
    }),
    afterMs: fc.integer({ min: 0, max: 3_600_000 }),
  },
  { requiredKeys: ['kind', 'detail', 'afterMs'] },
);

/** Any trail the chain can append: 1-20 events of one execution. */
const trailArb = fc.array(eventArb, { minLength: 1, maxLength: 20 }).map((events) => {
  const entries: TrailEntry[] = [];
  let ms = START;
  for (const { afterMs, ...event } of events) {
    ms += afterMs;
    const next: TrailEvent = {
      ...event,
      executionId: 'exec_1',
      tenantId: 'acme',
      at: new Date(ms).toISOString(),
    };
    entries.push(appendEntry(entries.at(-1), next));
  }
  return entries;
});

const headOfTrail = (entries: readonly TrailEntry[]) => againstHead(headOf(entries.at(-1) as TrailEntry));

const flipHex = (hex: string): string => `${hex[0] === '0' ? '1' : '0'}${hex.slice(1)}`;

/** Every field of an entry, each with a change that makes it differ. */
const tamper: Record<keyof TrailEntry, (entry: TrailEntry) => TrailEntry> = {
  executionId: (entry) => ({ ...entry, executionId: `${entry.executionId}x` }),
  tenantId: (entry) => ({ ...entry, tenantId: 'globex' }),
  seq: (entry) => ({ ...entry, seq: entry.seq + 1 }),
  at: (entry) => ({ ...entry, at: new Date(Date.parse(entry.at) + 1).toISOString() }),
  kind: (entry) => ({ ...entry, kind: entry.kind === 'failed' ? 'succeeded' : 'failed' }),
  actor: (entry) => ({ ...entry, actor: entry.actor === 'mallory' ? undefined : 'mallory' }),
  detail: (entry) => ({ ...entry, detail: { ...entry.detail, tampered: !entry.detail.tampered } }),
  prevHash: (entry) => ({ ...entry, prevHash: flipHex(entry.prevHash) }),
  hash: (entry) => ({ ...entry, hash: flipHex(entry.hash) }),
};
const fieldArb = fc.constantFrom(...(Object.keys(tamper) as (keyof TrailEntry)[]));

describe('the hash chain under any trail (fast-check)', () => {
  it('verifies any appended trail from genesis to its head', () => {
    fc.assert(
      fc.property(trailArb, (entries) => {
        // Act
        const result = verifyChain(entries, { executionId: 'exec_1', ...headOfTrail(entries) });

        // Assess
        expect(result).toEqual({ ok: true, length: entries.length, lastHash: entries.at(-1)?.hash });
      }),
    );
  });

  it('reports any change to any one field of any entry as a hash mismatch at that entry', () => {
    fc.assert(
      fc.property(trailArb, fc.nat(), fieldArb, (entries, pick, field) => {
        // Prepare
        const index = pick % entries.length;
        const tampered = [...entries];
        tampered[index] = tamper[field](entries[index] as TrailEntry);

        // Act
        const result = verifyChain(tampered, headOfTrail(entries));

        // Assess
        expect(result).toEqual({ ok: false, at: index, reason: 'hash_mismatch' });
      }),
    );
  });

  it('reports any swap of two entries as reordered at the first of them', () => {
    fc.assert(
      fc.property(
        trailArb.filter((entries) => entries.length >= 2),
        fc.nat(),
        fc.nat(),
        (entries, a, b) => {
          // Prepare
          const i = a % entries.length;
          const j = (i + 1 + (b % (entries.length - 1))) % entries.length;
          const [first, second] = [Math.min(i, j), Math.max(i, j)];
          const swapped = [...entries];
          [swapped[first], swapped[second]] = [entries[second] as TrailEntry, entries[first] as TrailEntry];

          // Act
          const result = verifyChain(swapped, headOfTrail(entries));

          // Assess
          expect(result).toEqual({ ok: false, at: first, reason: 'reordered' });
        },
      ),
    );
  });

  it('reports any removed entry: the first as not genesis, one in the middle as a gap, the last as truncated', () => {
    fc.assert(
      fc.property(
        trailArb.filter((entries) => entries.length >= 2),
        fc.nat(),
        (entries, pick) => {
          // Prepare
          const index = pick % entries.length;
          const removed = entries.filter((_, at) => at !== index);

          // Act
          const result = verifyChain(removed, headOfTrail(entries));

          // Assess
          const reason =
            index === 0 ? 'not_genesis' : index === entries.length - 1 ? 'truncated' : 'sequence_gap';
          expect(result).toEqual({ ok: false, at: index, reason });
        },
      ),
    );
  });

  it('reports any trail cut short as truncated against its head, though the rest still links', () => {
    fc.assert(
      fc.property(trailArb, fc.nat(), (entries, pick) => {
        // Prepare
        const kept = pick % entries.length;
        const truncated = entries.slice(0, kept);

        // Act / Assess
        expect(verifyChain(truncated)).toMatchObject({ ok: true, length: kept });
        expect(verifyChain(truncated, headOfTrail(entries))).toEqual({
          ok: false,
          at: kept,
          reason: 'truncated',
        });
      }),
    );
  });

  it('reports any inserted entry, copied or forged onto the chain, and one appended past the head', () => {
    fc.assert(
      fc.property(trailArb, fc.nat(), eventArb, fc.boolean(), (entries, pick, event, copy) => {
        // Prepare
        const position = pick % (entries.length + 1);
        const before = entries[position - 1];
        const { afterMs: _afterMs, ...facts } = event;
        const inserted = copy
          ? (entries[pick % entries.length] as TrailEntry)
          : appendEntry(before, {
              ...facts,
              executionId: 'exec_1',
              tenantId: 'acme',
              at: new Date(START).toISOString(),
            });
        const forged = [...entries.slice(0, position), inserted, ...entries.slice(position)];

        // Act
        const result = verifyChain(forged, headOfTrail(entries));

        // Assess
        expect(result.ok).toBe(false);
        if (!copy && position === entries.length) {
          expect(result).toEqual({ ok: false, at: position, reason: 'beyond_head' });
        }
      }),
    );
  });
});
