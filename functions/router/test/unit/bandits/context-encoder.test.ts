import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Context,
  createContextEncoder,
  fnv1a32,
  InvalidContextError,
  InvalidRouterConfigError,
  toDense,
} from '../../../src/domain/bandits/index.js';

/** FNV-1a written the obvious way, over TextEncoder's bytes: the reference for the fast one. */
const referenceFnv1a = (text: string): number => {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) hash = Math.imul(hash ^ byte, 0x01000193);
  return hash >>> 0;
};

const contextValue = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 5 }),
);
const contextArbitrary: fc.Arbitrary<Context> = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 10 }),
  contextValue,
  { maxKeys: 12 },
);

/** How many hashed tokens a context yields at most (one per key, one per distinct list member). */
const tokenCount = (context: Context): number =>
  Object.values(context).reduce<number>((n, v) => n + (Array.isArray(v) ? new Set(v).size : 1), 0);

describe('fnv1a32', () => {
  it('matches the published FNV-1a test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('hashes the UTF-8 bytes of any text, surrogates included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => {
        expect(fnv1a32(text)).toBe(referenceFnv1a(text));
      }),
    );
  });
});

describe('ContextEncoder', () => {
  const spec = {
    dimension: 32,
    numeric: [
      { key: 'tokens', transform: 'signed-log1p' as const, mean: 5, std: 2 },
      { key: 'priority', mean: 1, std: 0.5 },
    ],
    clip: 3,
  };

  it('puts the intercept at index 0 and each declared numeric feature in its own scaled, clipped slot', () => {
    const encoder = createContextEncoder(spec);

    const x = encoder.encodeDense({ tokens: Math.expm1(7), priority: 10 });

    expect(x[0]).toBe(1);
    expect(x[1]).toBeCloseTo((7 - 5) / 2, 12);
    expect(x[2]).toBe(3);
    expect(encoder.firstHashedIndex).toBe(3);
  });

  it('encodes an absent declared feature as 0, the average', () => {
    const x = createContextEncoder(spec).encodeDense({});

    expect(Array.from(x)).toEqual([1, ...new Array(31).fill(0)]);
  });

  it('hashes categorical values, list members and booleans into the buckets after the numeric slots, with ±1', () => {
    const encoder = createContextEncoder(spec);

    const x = encoder.encode({ tier: 'gold', tags: ['eu', 'pii', 'eu'], urgent: true, internal: false });

    const hashed = Array.from(x.indices).filter((i) => i >= encoder.firstHashedIndex);
    expect(hashed.length).toBeGreaterThan(0);
    for (const [k, index] of Array.from(x.indices).entries()) {
      if (index < encoder.firstHashedIndex) continue;
      expect(Number.isInteger(x.values[k])).toBe(true);
    }
    // 4 tokens at most (tier=gold, tags=eu, tags=pii, urgent); false adds nothing.
    const mass = Array.from(x.values)
      .slice(1)
      .reduce((sum, v) => sum + Math.abs(v), 0);
    expect(mass).toBeLessThanOrEqual(4);
    const labels = [
      ...encoder.explain({ tier: 'gold', tags: ['eu', 'pii', 'eu'], urgent: true, internal: false }),
    ]
      .flatMap(([, names]) => names)
      .map((name) => name.replace(/^-/, ''));
    expect(labels.sort()).toEqual(['(intercept)', 'tags=eu', 'tags=pii', 'tier=gold', 'urgent'].sort());
  });

  it('gives the same vector for the same context whatever the order of its keys', () => {
    const encoder = createContextEncoder({ dimension: 16 });
    fc.assert(
      fc.property(contextArbitrary, (context) => {
        const reversed = Object.fromEntries(Object.entries(context).reverse());
        expect(Array.from(encoder.encodeDense(reversed))).toEqual(Array.from(encoder.encodeDense(context)));
      }),
    );
  });

  it('is deterministic and respects its dimension and sparsity', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 256 }),
        contextArbitrary.filter((c) => !Object.hasOwn(c, 'n')),
        fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: undefined }),
        (dimension, free, declared) => {
          const context: Context = declared === undefined ? free : { ...free, n: declared };
          const encoder = createContextEncoder({ dimension, numeric: [{ key: 'n', mean: 0, std: 1 }] });

          const first = encoder.encode(context);
          const again = createContextEncoder({ dimension, numeric: [{ key: 'n', mean: 0, std: 1 }] }).encode(
            context,
          );

          expect(first.dimension).toBe(dimension);
          expect(Array.from(again.indices)).toEqual(Array.from(first.indices));
          expect(Array.from(again.values)).toEqual(Array.from(first.values));
          expect(first.indices[0]).toBe(0);
          expect(first.values[0]).toBe(1);
          for (let k = 0; k < first.indices.length; k += 1) {
            expect(first.indices[k]).toBeLessThan(dimension);
            if (k > 0) expect(first.indices[k]).toBeGreaterThan(first.indices[k - 1] as number);
            expect(first.values[k]).not.toBe(0);
            expect(Number.isFinite(first.values[k])).toBe(true);
          }
          expect(first.indices.length).toBeLessThanOrEqual(Math.min(dimension, 1 + tokenCount(context)));
          expect(Array.from(toDense(first))).toEqual(Array.from(encoder.encodeDense(context)));
        },
      ),
    );
  });

  it('refuses non-finite numbers, and text or lists in a declared numeric slot', () => {
    const encoder = createContextEncoder(spec);

    expect(() => encoder.encode({ size: Number.POSITIVE_INFINITY })).toThrow(InvalidContextError);
    expect(() => encoder.encode({ tokens: Number.NaN })).toThrow(InvalidContextError);
    expect(() => encoder.encode({ tokens: 'many' })).toThrow(InvalidContextError);
    expect(() => encoder.encode({ priority: ['high'] })).toThrow(InvalidContextError);
    expect(() => encoder.encode({ nested: { a: 1 } } as unknown as Context)).toThrow(InvalidContextError);
  });

  it('refuses a spec without room for the intercept and its numeric slots, or with repeated keys', () => {
    expect(() => createContextEncoder({ dimension: 2, numeric: [{ key: 'a' }, { key: 'b' }] })).toThrow(
      InvalidRouterConfigError,
    );
    expect(() => createContextEncoder({ dimension: 8, numeric: [{ key: 'a' }, { key: 'a' }] })).toThrow(
      InvalidRouterConfigError,
    );
    expect(() => createContextEncoder({ dimension: 8, numeric: [{ key: 'a', std: 0 }] })).toThrow(
      InvalidRouterConfigError,
    );
    expect(() => createContextEncoder({ dimension: 1 })).toThrow(InvalidRouterConfigError);
  });

  it('ignores undeclared keys when every slot is declared', () => {
    const encoder = createContextEncoder({ dimension: 2, numeric: [{ key: 'a' }] });

    expect(Array.from(encoder.encodeDense({ a: 2, tier: 'gold', urgent: true }))).toEqual([1, 2]);
  });
});
