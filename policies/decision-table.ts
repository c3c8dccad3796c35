import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { AuthzRequest, PolicyEngine } from '#shared/ports/policy.js';

/**
 * One decision table drives every engine: input -> allow, obligations, masks, determining policies.
 * A case's `input.resource` is `{tenantId, kind, id?, classification?, approverRoles?, requestedBy?}`
 * (AuthzRequest's resource): `classification` is Cedar's optional `Resource.classification` (e.g.
 * `"restricted"` for an expert), `approverRoles` (a list of strings, Cedar's `Set<String>`) and
 * `requestedBy` an approval request's (`runbooks:approvals:decide`); each left out for a resource
 * that has none.
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

/**
 * The resource attributes the engines read (AuthzRequest's resource): whether each is optional, and
 * its type (a string, or a list of strings for a Cedar `Set<String>`).
 */
const RESOURCE_FIELDS: Readonly<
  Record<string, { presence: 'required' | 'optional'; type: 'string' | 'strings' }>
> = {
  tenantId: { presence: 'required', type: 'string' },
  kind: { presence: 'required', type: 'string' },
  id: { presence: 'optional', type: 'string' },
  classification: { presence: 'optional', type: 'string' },
  approverRoles: { presence: 'optional', type: 'strings' },
  requestedBy: { presence: 'optional', type: 'string' },
};

const hasType = (value: unknown, type: 'string' | 'strings'): boolean =>
  type === 'string'
    ? typeof value === 'string'
    : Array.isArray(value) && value.every((item) => typeof item === 'string');

/**
 * What is wrong with a case's resource: an unknown key (a typo such as `clasification` would
 * otherwise test the unclassified path without saying so), a missing required one, a value of the
 * wrong type.
 */
export const resourceProblems = (testCase: DecisionCase): string[] => {
  const resource = testCase.input.resource as unknown as Record<string, unknown>;
  const problems: string[] = [];
  for (const [key, value] of Object.entries(resource)) {
    const field = RESOURCE_FIELDS[key];
    if (!field) problems.push(`${testCase.name}: unknown resource attribute ${key}`);
    else if (!hasType(value, field.type))
      problems.push(
        `${testCase.name}: resource.${key} is not ${field.type === 'string' ? 'a string' : 'a list of strings'}`,
      );
  }
  for (const [key, { presence }] of Object.entries(RESOURCE_FIELDS))
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

  it('gives resources only the attributes the engines read: tenantId, kind, id?, classification?, approverRoles?, requestedBy?', () => {
    expect(cases.flatMap(resourceProblems)).toEqual([]);
  });

  it('exercises every policy as determining at least once', () => {
    const determining = new Set(cases.flatMap((c) => engine().decide(c.input).reasons));
    const missing = policyIds().filter((id) => !determining.has(id));
    expect(missing).toEqual([]);
  });
};
