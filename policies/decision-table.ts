import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { AuthzRequest, PolicyEngine } from '#shared/ports/policy.js';

/**
 * One decision table drives every engine: input -> allow, obligations, masks, determining policies.
 * A case's `input.resource` is `{tenantId, kind, id?, classification?}` (AuthzRequest's resource):
 * `classification` is Cedar's optional `Resource.classification` (e.g. `"restricted"` for an
 * expert), left out for a resource that has none.
 */
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

/** The resource attributes the engines read (AuthzRequest's resource), and whether each is optional. */
const RESOURCE_FIELDS: Readonly<Record<string, 'required' | 'optional'>> = {
  tenantId: 'required',
  kind: 'required',
  id: 'optional',
  classification: 'optional',
};

/**
 * What is wrong with a case's resource: an unknown key (a typo such as `clasification` would
 * otherwise test the unclassified path without saying so), a missing required one, a non-string.
 */
export const resourceProblems = (testCase: DecisionCase): string[] => {
  const resource = testCase.input.resource as unknown as Record<string, unknown>;
  const problems: string[] = [];
  for (const [key, value] of Object.entries(resource)) {
    if (!(key in RESOURCE_FIELDS)) problems.push(`${testCase.name}: unknown resource attribute ${key}`);
    else if (typeof value !== 'string') problems.push(`${testCase.name}: resource.${key} is not a string`);
  }
  for (const [key, presence] of Object.entries(RESOURCE_FIELDS))
    if (presence === 'required' && !(key in resource))
      problems.push(`${testCase.name}: resource.${key} is missing`);
  return problems;
};

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

  it('gives resources only the attributes the engines read: tenantId, kind, id?, classification?', () => {
    expect(cases.flatMap(resourceProblems)).toEqual([]);
  });

  it('exercises every policy as determining at least once', () => {
    const determining = new Set(cases.flatMap((c) => engine().decide(c.input).reasons));
    const missing = policyIds().filter((id) => !determining.has(id));
    expect(missing).toEqual([]);
  });
};
