import { describe, expect, it } from 'vitest';
import { policyActionsOf, routesOf } from '#shared/pillar.js';
import { defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import { declaredActions } from '../functions/authorize/src/adapters/cedar-candidates.js';
import { PILLARS } from '../functions/catalog.js';

/**
 * The policy schema and the manifests must name the same actions: an action a pillar asks about but
 * the schema does not declare fails closed (every such request is denied), and an action the schema
 * declares that no pillar uses is a policy nobody can reach.
 */
const schemaActions = declaredActions(readPolicySources(defaultPolicyDir()).schema);

describe('the actions of the policy schema', () => {
  it("are exactly the manifests' actions: their token routes' and the ones they declare", () => {
    // Act
    const manifestActions = PILLARS.flatMap(policyActionsOf);

    // Assess
    expect([...new Set(manifestActions)].sort()).toEqual([...schemaActions].sort());
  });

  it('each belong to one pillar', () => {
    // Prepare
    const owners = new Map<string, string[]>();
    for (const pillar of PILLARS) {
      for (const action of policyActionsOf(pillar))
        owners.set(action, [...(owners.get(action) ?? []), pillar.name]);
    }

    // Assess
    for (const [action, pillars] of owners) expect(pillars, action).toHaveLength(1);
  });

  it('leave out public routes, which the policy engine is never asked about', () => {
    // Prepare
    const publicActions = routesOf(PILLARS)
      .filter((route) => route.auth === 'public')
      .map((route) => route.action);

    // Assess
    expect(publicActions.length).toBeGreaterThan(0);
    for (const action of publicActions) expect(schemaActions).not.toContain(action);
  });
});
