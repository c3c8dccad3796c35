import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { AuthzRequest, PolicyEngine } from '#shared/policy/types.js';

/** One decision table drives every engine: input -> allow, obligations, masks, determining policies. */
export interface DecisionCase {
  readonly name: string;
  readonly input: AuthzRequest;
  readonly expect: { allow: boolean; obligations: string[]; masks: string[]; reasons?: string[] };
}

export const decisionTable = (): readonly DecisionCase[] =>
  (
    JSON.parse(readFileSync(new URL('./decisions.json', import.meta.url), 'utf8')) as {
      cases: DecisionCase[];
    }
  ).cases;

/**
 * The table's cases as tests against one engine (given lazily: it may be built in a beforeAll), and
 * the check that every policy id appears as determining in at least one case.
 */
export const itDecidesTheTable = (engine: () => PolicyEngine, policyIds: () => readonly string[]): void => {
  const cases = decisionTable();
  for (const testCase of cases) {
    it(testCase.name, () => {
      const decision = engine().decide(testCase.input);

      expect(decision.error).toBeUndefined();
      expect(decision.allow).toBe(testCase.expect.allow);
      expect([...decision.obligations]).toEqual(testCase.expect.obligations);
      expect([...decision.masks]).toEqual(testCase.expect.masks);
      if (testCase.expect.reasons) expect([...decision.reasons]).toEqual(testCase.expect.reasons);
    });
  }

  it('exercises every policy as determining at least once', () => {
    const determining = new Set(cases.flatMap((c) => engine().decide(c.input).reasons));
    const missing = policyIds().filter((id) => !determining.has(id));
    expect(missing).toEqual([]);
  });
};
