import { describe, expect, it } from 'vitest';
import { routesOf } from '#shared/pillar.js';
import { CedarPolicyEngine } from '#shared/policy/cedar.js';
import { defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import { ROLES, type Role } from '#shared/ports/identity.js';
import { PILLARS } from '../functions/catalog.js';

const ALL_ROUTES = routesOf(PILLARS);

/**
 * Every route documents the lowest role that may call it (`minRole`, published in the OpenAPI
 * document as x-conductor-min-role); the Cedar policies decide. This keeps the two from drifting:
 * in its own tenant, with step-up, the documented role is allowed and the role below it is not.
 */
const engine = new CedarPolicyEngine(readPolicySources(defaultPolicyDir()));
/** Actions that are only ever asked of another tenant (the route requires X-Conductor-Tenant). */
const ASKED_OF_ANOTHER_TENANT = new Set(['policy:grants:request']);
const decide = (role: Role, action: string) =>
  engine.decide({
    principal: { subject: `s-${role}`, tenantId: 'acme', roles: [role] },
    action,
    resource: { tenantId: ASKED_OF_ANOTHER_TENANT.has(action) ? 'globex' : 'acme', kind: 'any' },
    context: { mfa: true, grantedTenants: [] },
  });

describe('the documented minimum role of every route matches the policies', () => {
  for (const spec of ALL_ROUTES.filter((route) => route.auth === 'jwt')) {
    it(`${spec.method} ${spec.path} (${spec.action}) needs ${spec.minRole ?? '(undocumented)'}`, () => {
      expect(spec.minRole, 'every token route documents its minimum role').toBeDefined();
      const index = ROLES.indexOf(spec.minRole as Role);
      expect(decide(spec.minRole as Role, spec.action).allow).toBe(true);
      const below = ROLES[index - 1];
      if (below) expect(decide(below, spec.action).allow).toBe(false);
    });
  }
});
