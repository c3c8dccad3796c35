import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GoldenTask, ScorerSpec } from '../../src/domain/model.js';
import { outputOf, scoreOutput } from '../../src/domain/scorers.js';

const taskOf = (scorer: ScorerSpec, expected?: unknown): GoldenTask => ({
  id: 't1',
  input: {},
  ...(expected === undefined ? {} : { expected }),
  scorer,
  tolerance: 0,
  weight: 1,
  trials: 1,
});
const scoreOf = async (scorer: ScorerSpec, expected: unknown, output: unknown) =>
  (await scoreOutput(taskOf(scorer, expected), output, {})).score;

/** A deep superset of a JSON value: one more key in every object, one more item after every array. */
const widened = (value: unknown): unknown => {
  if (Array.isArray(value)) return [...value.map(widened), 'extra'];
  if (typeof value !== 'object' || value === null) return value;
  // Object.fromEntries keeps a `__proto__` key an own property (an assignment would set the prototype).
  return Object.fromEntries([
    ...(Object.hasOwn(value, '~extra') ? [] : [['~extra', [1, { deep: true }]] as const]),
    ...Object.entries(value).map(([key, item]) => [key, widened(item)] as const),
  ]);
};

/** A built-in scorer with an expected value it accepts. */
const scoredArb: fc.Arbitrary<{ scorer: ScorerSpec; expected?: unknown }> = fc.oneof(
  fc.record({
    scorer: fc.record({
      type: fc.constant('exact' as const),
      trim: fc.boolean(),
      caseSensitive: fc.boolean(),
    }),
    expected: fc.jsonValue(),
  }),
  fc.record({
    scorer: fc.record({ type: fc.constant('contains' as const), caseSensitive: fc.boolean() }),
    expected: fc.oneof(fc.string(), fc.array(fc.string(), { minLength: 1, maxLength: 5 })),
  }),
  fc.record({
    scorer: fc.record({
      type: fc.constant('regex' as const),
      pattern: fc.constantFrom('^\\d+$', 'a|b', '"[a-z]+"', '^$'),
      flags: fc.constantFrom('', 'i', 'g', 'su'),
    }),
  }),
  fc.record({
    scorer: fc.record({
      type: fc.constant('numeric' as const),
      tolerance: fc.double({ min: 0, max: 1e6, noNaN: true }),
      relative: fc.boolean(),
    }),
    expected: fc.double({ noNaN: true, noDefaultInfinity: true }),
  }),
  fc.record({ scorer: fc.constant({ type: 'json-subset' as const }), expected: fc.jsonValue() }),
  fc.record({
    scorer: fc.constantFrom<ScorerSpec>(
      { type: 'json-schema', schema: { type: 'object', required: ['a'] } },
      { type: 'json-schema', schema: { type: 'array', items: { type: 'number' } } },
      { type: 'json-schema', schema: {} },
    ),
  }),
);

describe('the scorers (fast-check)', () => {
  it('score any JSON value exactly equal to itself (and to its JSON round trip) 1, whatever the options', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), fc.boolean(), fc.boolean(), async (value, trim, caseSensitive) => {
        // Prepare
        const scorer: ScorerSpec = { type: 'exact', trim, caseSensitive };

        // Act
        const scores = [
          await scoreOf(scorer, value, value),
          await scoreOf(scorer, value, JSON.parse(JSON.stringify(value))),
        ];

        // Assess
        expect(scores).toEqual([1, 1]);
      }),
    );
  });

  it('find any JSON value a json-subset of itself, and of any deep superset of it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        // Act
        const itself = await scoreOf({ type: 'json-subset' }, value, value);
        const superset = await scoreOf({ type: 'json-subset' }, value, widened(value));

        // Assess
        expect(itself).toBe(1);
        expect(superset).toBe(1);
      }),
    );
  });

  it('always score within [0, 1], with a detail whenever the score falls short of 1', async () => {
    await fc.assert(
      fc.asyncProperty(
        scoredArb,
        fc.oneof(fc.jsonValue(), fc.double()),
        async ({ scorer, expected }, output) => {
          // Act
          const result = await scoreOutput(taskOf(scorer, expected), output, {});

          // Assess
          expect(result.score).toBeGreaterThanOrEqual(0);
          expect(result.score).toBeLessThanOrEqual(1);
          if (result.score < 1) expect(result.detail).toEqual(expect.any(String));
        },
      ),
    );
  });

  it('score a numeric output the same whichever side of expected its error falls', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: -1_000_000, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.boolean(),
        async (expected, error, tolerance, relative) => {
          // Prepare
          const scorer: ScorerSpec = {
            type: 'numeric',
            tolerance: relative ? tolerance : tolerance * 1000,
            relative,
          };

          // Act
          const above = await scoreOf(scorer, expected, expected + error);
          const below = await scoreOf(scorer, expected, expected - error);

          // Assess
          expect(above).toBe(below);
        },
      ),
    );
  });

  it('find the value at any dotted path through nested objects', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ minLength: 1 }).filter((s) => !s.includes('.')),
          { minLength: 1, maxLength: 6 },
        ),
        fc.jsonValue(),
        (segments, leaf) => {
          // Prepare
          const answer = segments.reduceRight<unknown>(
            (inner, key) => Object.fromEntries([[key, inner]]),
            leaf,
          );

          // Act
          const found = outputOf(answer, segments.join('.'));

          // Assess
          expect(found).toBe(leaf);
        },
      ),
    );
  });
});
