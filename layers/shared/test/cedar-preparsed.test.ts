import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CedarPolicyEngine,
  loadCedar,
  PREPARSED_POOLS,
  PreparsedSlots,
  preparsedSlots,
} from '../src/policy/cedar.js';
import { defaultPolicyDir, readPolicySources } from '../src/policy/source.js';
import type { AuthzRequest } from '../src/ports/policy.js';

/**
 * cedar-wasm keeps every preparsed policy set until the process ends (it has no call to free one):
 * the engine must draw its names from a fixed pool, so that distinct policy sets (dry-run candidates)
 * never make Cedar hold more than the pool's size.
 */
const { schema } = readPolicySources(defaultPolicyDir());

/** A valid set of its own: it allows reading exactly to the subject `u-<n>`. */
const candidate = (n: number) => ({
  schema,
  policies: {
    'c.cedar': `@id("reads-${n}")\npermit (principal, action in Conductor::Action::"read", resource) when { principal.subject == "u-${n}" };`,
  },
});

const reading = (n: number): AuthzRequest => ({
  principal: { subject: `u-${n}`, tenantId: 'acme', roles: ['viewer'] },
  action: 'experts:list',
  resource: { tenantId: 'acme', kind: 'experts' },
  context: { mfa: false, grantedTenants: [] },
});

/** The names Cedar is asked to preparse policy sets and schemas under, while `run` runs. */
const namesPreparsedBy = (run: () => void) => {
  const cedar = loadCedar();
  const sets = vi.spyOn(cedar, 'preparsePolicySet');
  const schemas = vi.spyOn(cedar, 'preparseSchema');
  run();
  return {
    policySets: new Set(sets.mock.calls.map(([name]) => name)),
    schemas: new Set(schemas.mock.calls.map(([name]) => name)),
  };
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('CedarPolicyEngine: preparsed policy sets are bounded', () => {
  it('100 distinct candidates are preparsed under at most the pool size of names, the schema under one', () => {
    // Act
    const names = namesPreparsedBy(() => {
      for (let n = 0; n < 100; n += 1) {
        const engine = new CedarPolicyEngine(candidate(n), undefined, { pool: 'candidates' });
        expect(engine.decide(reading(n))).toMatchObject({ allow: true, reasons: [`reads-${n}`] });
      }
    });

    // Assess
    expect(names.policySets.size).toBeLessThanOrEqual(PREPARSED_POOLS.candidates);
    expect(names.schemas.size).toBeLessThanOrEqual(1);
    expect(preparsedSlots('candidates').held).toBeLessThanOrEqual(PREPARSED_POOLS.candidates);
  });

  it('an engine whose name went to another set preparses its own again and decides by it', () => {
    // Prepare: more engines than names, the first one's name long reused
    const engines = Array.from(
      { length: PREPARSED_POOLS.candidates + 3 },
      (_, n) => new CedarPolicyEngine(candidate(1000 + n), undefined, { pool: 'candidates' }),
    );
    const [first] = engines;

    // Act
    const own = first?.decide(reading(1000));
    const other = first?.decide(reading(1001));

    // Assess
    expect(own).toMatchObject({ allow: true, reasons: ['reads-1000'] });
    expect(other).toMatchObject({ allow: false, reasons: [] });
    expect(engines.map((engine, n) => engine.decide(reading(1000 + n)).allow)).toEqual(
      engines.map(() => true),
    );
  });

  it('candidates never take the deployed policy set’s name', () => {
    // Prepare
    const deployed = new CedarPolicyEngine(readPolicySources(defaultPolicyDir()));

    // Act
    const names = namesPreparsedBy(() => {
      for (let n = 0; n < 2 * PREPARSED_POOLS.candidates; n += 1)
        new CedarPolicyEngine(candidate(2000 + n), undefined, { pool: 'candidates' }).decide(reading(n));
      deployed.decide(reading(0));
    });

    // Assess: the deployed engine did not need to preparse again
    expect([...names.policySets].every((name) => name.startsWith('conductor-candidates-'))).toBe(true);
  });

  it('the same policy set in two engines shares one name', () => {
    // Act
    const names = namesPreparsedBy(() => {
      new CedarPolicyEngine(candidate(3000), undefined, { pool: 'candidates' });
      new CedarPolicyEngine(candidate(3000), undefined, { pool: 'candidates' });
    });

    // Assess
    expect(names.policySets.size).toBe(1);
  });
});

describe('PreparsedSlots', () => {
  it('reuses the least recently used name for new content, and changes nothing when preparing fails', () => {
    // Prepare
    const slots = new PreparsedSlots('t', 2);
    const preparsed: string[] = [];
    const record = (name: string) => {
      preparsed.push(name);
    };

    // Act
    const a = slots.nameFor('a', record);
    const b = slots.nameFor('b', record);
    slots.nameFor('a', record); // a is now the most recently used
    const c = slots.nameFor('c', record); // takes b's name
    expect(() =>
      slots.nameFor('d', () => {
        throw new Error('refused');
      }),
    ).toThrow('refused');
    const aAgain = slots.nameFor('a', record);

    // Assess
    expect([a, b, c, aAgain]).toEqual(['t-0', 't-1', 't-1', 't-0']);
    expect(preparsed).toEqual(['t-0', 't-1', 't-1']);
    expect(slots.held).toBe(2);
  });

  it('refuses a pool without names', () => {
    expect(() => new PreparsedSlots('t', 0)).toThrow(RangeError);
  });
});
