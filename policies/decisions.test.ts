import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CedarPolicyEngine } from '#shared/policy/cedar.js';
import { defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import type { AuthzRequest } from '#shared/policy/types.js';

/** The decision table drives every engine: input -> allow, obligations, masks, determining policies. */
interface DecisionCase {
  readonly name: string;
  readonly input: AuthzRequest;
  readonly expect: { allow: boolean; obligations: string[]; masks: string[]; reasons?: string[] };
}
const table = JSON.parse(readFileSync(new URL('./decisions.json', import.meta.url), 'utf8')) as {
  cases: DecisionCase[];
};
const engine = new CedarPolicyEngine(readPolicySources(defaultPolicyDir()));

describe('the Cedar policies, driven by the decision table', () => {
  for (const testCase of table.cases) {
    it(testCase.name, () => {
      const decision = engine.decide(testCase.input);

      expect(decision.error).toBeUndefined();
      expect(decision.allow).toBe(testCase.expect.allow);
      expect([...decision.obligations]).toEqual(testCase.expect.obligations);
      expect([...decision.masks]).toEqual(testCase.expect.masks);
      if (testCase.expect.reasons) expect([...decision.reasons]).toEqual(testCase.expect.reasons);
    });
  }

  it('exercises every policy as determining at least once', () => {
    const determining = new Set(table.cases.flatMap((c) => engine.decide(c.input).reasons));
    const missing = engine.policies.map((p) => p.id).filter((id) => !determining.has(id));
    expect(missing).toEqual([]);
  });
});
