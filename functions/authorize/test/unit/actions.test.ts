import { describe, expect, it } from 'vitest';
import { PolicyLoadError } from '#shared/policy/cedar.js';
import { defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import { authorizeRoutes } from '../../contract.js';
import { declaredActions } from '../../src/adapters/cedar-candidates.js';

const { schema } = readPolicySources(defaultPolicyDir());

describe('declaredActions', () => {
  it('lists the actions requests may name, and every route of this function names one of them', () => {
    // Act
    const actions = declaredActions(schema);

    // Assess
    expect(actions).toEqual(
      expect.arrayContaining(['experts:get', 'policy:authorize', 'policy:grants:approve']),
    );
    for (const route of authorizeRoutes) expect(actions).toContain(route.action);
  });

  it('leaves out the action groups, which apply to no request', () => {
    // Act
    const actions = declaredActions(schema);

    // Assess
    for (const group of ['read', 'operate', 'administer', 'sensitive', 'cross-tenant-request']) {
      expect(actions).not.toContain(group);
    }
  });

  it('reads actions of a schema it is given, not of the deployed one', () => {
    // Prepare
    const other = `namespace Conductor {
      entity User; entity Resource;
      action "group";
      action "things:poke" in ["group"] appliesTo { principal: User, resource: Resource };
    }`;

    // Act + Assess
    expect(declaredActions(other)).toEqual(['things:poke']);
  });

  it('throws with Cedar’s message on a schema that does not parse', () => {
    expect(() => declaredActions('namespace Conductor { entity')).toThrow(PolicyLoadError);
  });
});
