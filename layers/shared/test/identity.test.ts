import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  claimList,
  flattenClaims,
  MACHINE_CLIENTS_ENV,
  type MachineClient,
  machineClientsFromEnv,
  parseMachineClients,
  principalFromClaims,
  ROLES_CLAIM_ENV,
  rolesClaimFromEnv,
  rolesOf,
} from '#shared/http/claims.js';
import { hasAtLeast, type Principal, ROLES, type Role } from '#shared/ports/identity.js';

const principalWith = (roles: readonly Role[]): Principal => ({
  subject: 'user-1',
  tenantId: 'acme',
  roles,
  amr: [],
});

const principalOf = (claims: Record<string, unknown>): Principal => {
  const result = principalFromClaims(claims);
  if (!result.ok) throw new Error(`expected a principal, got: ${result.reason}`);
  return result.principal;
};

describe('flattenClaims', () => {
  it.each<[string, unknown, string]>([
    ['an array as its items between brackets, space-separated', ['viewer', 'admin'], '[viewer admin]'],
    ['an empty array as empty brackets', [], '[]'],
    ['an array of numbers as their text', [1, 2], '[1 2]'],
    ['a number as its text', 1_767_225_600, '1767225600'],
    ['a boolean as its text', true, 'true'],
    ['an object as its JSON', { region: 'eu' }, '{"region":"eu"}'],
    ['a string as is', 'acme', 'acme'],
  ])('passes %s', (_, value, expected) => {
    // Act
    const flat = flattenClaims({ claim: value });

    // Assess
    expect(flat).toEqual({ claim: expected });
  });

  it('drops null and undefined claims, as the gateway passes no value for them', () => {
    // Act
    const flat = flattenClaims({ sub: 'user-1', acr: null, amr: undefined });

    // Assess
    expect(flat).toEqual({ sub: 'user-1' });
  });

  it('flattens an array holding an object whose toString is not a function without throwing (fast-check found it)', () => {
    // Act
    const flat = flattenClaims({ odd: [{ toString: null }, 'x'] });

    // Assess
    expect(flat).toEqual({ odd: '[{"toString":null} x]' });
  });

  it('leaves every claim a string, so principalFromClaims reads locally what it reads on AWS', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (claims) => {
        // Act
        const flat = flattenClaims(claims);

        // Assess
        expect(Object.values(flat).every((value) => typeof value === 'string')).toBe(true);
      }),
    );
  });
});

describe('claimList', () => {
  it.each<[string, unknown, string[]]>([
    ['the API Gateway form of an array', '[viewer operator]', ['viewer', 'operator']],
    ['a one-element API Gateway array', '[admin]', ['admin']],
    ['an empty API Gateway array', '[]', []],
    ['a real array', ['viewer', 'admin'], ['viewer', 'admin']],
    ['an empty real array', [], []],
    ['a comma-separated string', 'viewer,operator', ['viewer', 'operator']],
    ['a comma-and-space-separated string', 'viewer, operator', ['viewer', 'operator']],
    ['a single bare value', 'admin', ['admin']],
    ['an empty string', '', []],
    ['a blank string', '   ', []],
    ['a number', 42, ['42']],
    ['undefined', undefined, []],
    ['null', null, []],
  ])('reads %s', (_, value, expected) => {
    // Act / Assess
    expect(claimList(value)).toEqual(expected);
  });

  it('reads back any list of separator-free tokens that API Gateway flattened', () => {
    const token = fc.string({ minLength: 1, maxLength: 12 }).filter((text) => !/[\s,]/.test(text));
    fc.assert(
      fc.property(fc.array(token, { maxLength: 8 }), (tokens) => {
        // Prepare
        const flattened = flattenClaims({ groups: tokens }).groups;

        // Act / Assess
        expect(claimList(flattened)).toEqual(tokens);
      }),
    );
  });
});

describe('principalFromClaims', () => {
  it('builds the principal from the claims the gateway passes on', () => {
    // Act
    const principal = principalOf({
      sub: 'user-7',
      tenant: 'acme',
      'cognito:groups': '[viewer operator]',
      amr: '[pwd mfa]',
    });

    // Assess
    expect(principal).toEqual({
      subject: 'user-7',
      tenantId: 'acme',
      roles: ['viewer', 'operator'],
      amr: ['pwd', 'mfa'],
    });
  });

  it('reads Cognito’s custom:tenant and cognito:groups', () => {
    // Act
    const principal = principalOf({ sub: 'user-7', 'custom:tenant': 'globex', 'cognito:groups': '[admin]' });

    // Assess
    expect(principal).toMatchObject({ tenantId: 'globex', roles: ['admin'] });
  });

  it('reads the roles from cognito:groups alone, ignoring roles and custom:roles', () => {
    // Act
    const principal = principalOf({
      sub: 'user-7',
      tenant: 'acme',
      roles: '[org-admin]',
      'cognito:groups': '[viewer]',
      'custom:roles': 'tenant-admin',
    });

    // Assess
    expect(principal.roles).toEqual(['viewer']);
  });

  it('reads the roles from the claim CONDUCTOR_ROLES_CLAIM names', () => {
    // Prepare
    const before = process.env[ROLES_CLAIM_ENV];
    try {
      process.env[ROLES_CLAIM_ENV] = 'roles';

      // Act
      const principal = principalOf({
        sub: 'user-7',
        tenant: 'acme',
        roles: '[operator]',
        'cognito:groups': '[admin]',
      });

      // Assess
      expect(rolesClaimFromEnv()).toBe('roles');
      expect(principal.roles).toEqual(['operator']);
    } finally {
      if (before === undefined) delete process.env[ROLES_CLAIM_ENV];
      else process.env[ROLES_CLAIM_ENV] = before;
    }
  });

  it.each<[string, unknown]>([
    ['a group named "x admin", as API Gateway flattens it', '[x admin]'],
    ['a group named "x admin", as a real array', ['x admin']],
    ['a group named "viewer,tenant-admin", as API Gateway flattens it', '[viewer,tenant-admin]'],
    ['a group named "viewer,tenant-admin", as a real array', ['viewer,tenant-admin']],
    ['a comma-separated string', 'viewer,tenant-admin'],
    ['a space-separated string', 'viewer tenant-admin'],
    ['a role beside an unknown group', '[tenant-admin developers]'],
    ['a role name in another case', '[Admin]'],
    ['two spaces between roles', '[viewer  admin]'],
    ['a padded role name', ' admin'],
    ['a number in a real array', ['admin', 7]],
  ])('grants no role at all to a claim holding %s', (_, value) => {
    // Act
    const principal = principalOf({ sub: 'user-7', tenant: 'acme', 'cognito:groups': value });

    // Assess
    expect(principal.roles).toEqual([]);
    expect(hasAtLeast(principal, 'viewer')).toBe(false);
  });

  it.each<[string, unknown, Role[]]>([
    ['the API Gateway form of several roles', '[viewer tenant-admin]', ['viewer', 'tenant-admin']],
    ['a real array, without duplicates', ['operator', 'operator'], ['operator']],
    ['a single bare role name', 'admin', ['admin']],
    ['an empty API Gateway array', '[]', []],
    ['no claim', undefined, []],
  ])('reads %s exactly', (_, value, roles) => {
    // Act / Assess
    expect(rolesOf(value)).toEqual(roles);
  });

  it('accepts a principal with no roles at all, who then passes no role check', () => {
    // Act
    const principal = principalOf({ sub: 'user-7', tenant: 'acme' });

    // Assess
    expect(principal.roles).toEqual([]);
    expect(hasAtLeast(principal, 'viewer')).toBe(false);
  });

  it.each<[string, Record<string, unknown> | undefined, RegExp]>([
    ['no claims', undefined, /no verified claims/],
    ['no subject', { tenant: 'acme', roles: '[admin]' }, /subject/],
    ['an empty subject', { sub: '', tenant: 'acme' }, /subject/],
    ['no tenant', { sub: 'user-7', roles: '[admin]' }, /tenant/],
    ['an upper-case tenant', { sub: 'user-7', tenant: 'ACME' }, /tenant/],
    ['a one-character tenant', { sub: 'user-7', tenant: 'a' }, /tenant/],
    ['a tenant starting with a dash', { sub: 'user-7', tenant: '-acme' }, /tenant/],
    ['a tenant smuggling a key separator', { sub: 'user-7', tenant: 'acme#EXPERT' }, /tenant/],
    ['a tenant of 64 characters', { sub: 'user-7', tenant: 'a'.repeat(64) }, /tenant/],
    ['a tenant that is a number', { sub: 'user-7', tenant: 42 }, /tenant/],
  ])('refuses a token with %s', (_, claims, reason) => {
    // Act
    const result = principalFromClaims(claims);

    // Assess
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.reason).toMatch(reason);
  });

  it('prefers the tenant claim over custom:tenant when both are present', () => {
    // Act
    const principal = principalOf({ sub: 'user-7', tenant: 'acme', 'custom:tenant': 'globex' });

    // Assess
    expect(principal.tenantId).toBe('acme');
  });

  it('yields the same set of roles after API Gateway flattened any subset of them, from the configured claim', () => {
    fc.assert(
      fc.property(
        fc.subarray([...ROLES]),
        fc.constantFrom('roles', 'cognito:groups', 'custom:roles'),
        (roles, claim) => {
          // Prepare
          const claims = flattenClaims({ sub: 'user-7', tenant: 'acme', [claim]: roles });

          // Act
          const result = principalFromClaims(claims, new Map(), claim);

          // Assess
          expect(result.ok && new Set(result.principal.roles)).toEqual(new Set(roles));
        },
      ),
    );
  });

  it('never grants a role when a name that is not one is mixed into the claim', () => {
    // Role names joined by single spaces ("viewer admin") are the one name the flattened form
    // cannot tell from those roles: see rolesOf.
    const unknownName = fc
      .string({ minLength: 1, maxLength: 16 })
      .filter((text) => !text.split(' ').every((part) => (ROLES as readonly string[]).includes(part)));
    fc.assert(
      fc.property(
        fc.subarray([...ROLES]),
        fc.array(unknownName, { minLength: 1, maxLength: 4 }),
        (roles, unknown) => {
          // Prepare
          const claims = flattenClaims({
            sub: 'user-7',
            tenant: 'acme',
            'cognito:groups': [...unknown, ...roles],
          });

          // Act
          const principal = principalOf(claims);

          // Assess
          expect(principal.roles).toEqual([]);
        },
      ),
    );
  });
});

describe('principalFromClaims for a machine client', () => {
  const orders: MachineClient = { clientId: 'client-orders', tenant: 'acme', roles: ['viewer', 'operator'] };
  const bound = new Map([[orders.clientId, orders]]);
  /** What a Cognito client-credentials access token carries, after the gateway flattened it. */
  const machineToken = (overrides: Record<string, unknown> = {}) =>
    flattenClaims({
      sub: 'client-orders',
      client_id: 'client-orders',
      token_use: 'access',
      scope: 'conductor/viewer conductor/operator',
      ...overrides,
    });

  it('takes the tenant and the roles from the client binding', () => {
    // Act
    const result = principalFromClaims(machineToken(), bound);

    // Assess
    expect(result).toEqual({
      ok: true,
      principal: { subject: 'client-orders', tenantId: 'acme', roles: ['viewer', 'operator'], amr: [] },
    });
  });

  it('grants only the bound roles the token’s scopes ask for', () => {
    // Act
    const result = principalFromClaims(machineToken({ scope: 'conductor/viewer' }), bound);

    // Assess
    expect(result.ok && result.principal.roles).toEqual(['viewer']);
  });

  it('never grants a role through a scope the client is not bound to', () => {
    // Prepare
    const viewerOnly = new Map([[orders.clientId, { ...orders, roles: ['viewer' as const] }]]);

    // Act
    const result = principalFromClaims(
      machineToken({ scope: 'conductor/operator conductor/admin' }),
      viewerOnly,
    );

    // Assess
    expect(result.ok && result.principal.roles).toEqual([]);
  });

  it('ignores role, amr and acr claims of the token itself', () => {
    // Act
    const result = principalFromClaims(
      machineToken({ roles: ['org-admin'], 'cognito:groups': ['admin'], amr: ['mfa'], acr: 'loa:3' }),
      bound,
    );

    // Assess
    expect(result.ok && result.principal).toEqual({
      subject: 'client-orders',
      tenantId: 'acme',
      roles: ['viewer', 'operator'],
      amr: [],
    });
  });

  it('refuses a token whose tenant claim contradicts the binding', () => {
    // Act
    const result = principalFromClaims(machineToken({ tenant: 'globex' }), bound);

    // Assess
    expect(result).toEqual({ ok: false, reason: 'token tenant claim contradicts its client binding' });
  });

  it('refuses a token of a bound client whose subject is someone else (a user signed in through it)', () => {
    // Act
    const result = principalFromClaims(machineToken({ sub: 'user-7', 'custom:tenant': 'acme' }), bound);

    // Assess
    expect(result.ok).toBe(false);
  });

  it('reads a token of an unbound client as a user token, which without a tenant is no identity', () => {
    // Act
    const result = principalFromClaims(machineToken({ sub: 'other', client_id: 'other' }), bound);

    // Assess
    expect(result).toEqual({ ok: false, reason: 'token has no valid tenant claim' });
  });

  it('keeps reading user tokens as before when clients are bound', () => {
    // Act
    const result = principalFromClaims(
      { sub: 'user-7', 'custom:tenant': 'globex', 'cognito:groups': '[admin]', amr: '[pwd mfa]' },
      bound,
    );

    // Assess
    expect(result).toEqual({
      ok: true,
      principal: { subject: 'user-7', tenantId: 'globex', roles: ['admin'], amr: ['pwd', 'mfa'] },
    });
  });
});

describe('parseMachineClients', () => {
  it('reads the bindings by client id', () => {
    // Act
    const clients = parseMachineClients('[{"clientId":"c1","tenant":"acme","roles":["operator"]}]');

    // Assess
    expect(clients.get('c1')).toEqual({ clientId: 'c1', tenant: 'acme', roles: ['operator'] });
  });

  it('reads no variable and an empty one as no bindings', () => {
    // Act / Assess
    expect(parseMachineClients(undefined).size).toBe(0);
    expect(parseMachineClients(' ').size).toBe(0);
  });

  it.each<[string, string]>([
    ['text that is not JSON', 'acme'],
    ['a role that needs step-up', '[{"clientId":"c1","tenant":"acme","roles":["admin"]}]'],
    ['a binding with no role', '[{"clientId":"c1","tenant":"acme","roles":[]}]'],
    ['a tenant that is no tenant id', '[{"clientId":"c1","tenant":"ACME","roles":["viewer"]}]'],
    [
      'one client bound twice',
      '[{"clientId":"c1","tenant":"acme","roles":["viewer"]},{"clientId":"c1","tenant":"globex","roles":["viewer"]}]',
    ],
  ])('refuses %s, naming the variable', (_, text) => {
    // Act / Assess
    expect(() => parseMachineClients(text)).toThrow(MACHINE_CLIENTS_ENV);
  });

  it('reads the environment again when the variable changes', () => {
    // Prepare
    const before = process.env[MACHINE_CLIENTS_ENV];
    try {
      process.env[MACHINE_CLIENTS_ENV] = '[{"clientId":"c1","tenant":"acme","roles":["viewer"]}]';
      const first = machineClientsFromEnv();
      process.env[MACHINE_CLIENTS_ENV] = '[{"clientId":"c2","tenant":"acme","roles":["viewer"]}]';

      // Act
      const second = machineClientsFromEnv();

      // Assess
      expect([...first.keys()]).toEqual(['c1']);
      expect([...second.keys()]).toEqual(['c2']);
    } finally {
      if (before === undefined) delete process.env[MACHINE_CLIENTS_ENV];
      else process.env[MACHINE_CLIENTS_ENV] = before;
    }
  });
});

describe('hasAtLeast', () => {
  const ladder: Record<Role, Role[]> = {
    viewer: ['viewer'],
    operator: ['viewer', 'operator'],
    admin: ['viewer', 'operator', 'admin'],
    'tenant-admin': ['viewer', 'operator', 'admin', 'tenant-admin'],
    'org-admin': ['viewer', 'operator', 'admin', 'tenant-admin', 'org-admin'],
  };

  it.each(ROLES)('lets a %s pass exactly the checks at or below its rung', (role) => {
    // Act
    const passed = ROLES.filter((minimum) => hasAtLeast(principalWith([role]), minimum));

    // Assess
    expect(passed).toEqual(ladder[role]);
  });

  it('judges a principal with several roles by the highest one', () => {
    // Act
    const principal = principalWith(['viewer', 'tenant-admin']);

    // Assess
    expect(hasAtLeast(principal, 'tenant-admin')).toBe(true);
    expect(hasAtLeast(principal, 'org-admin')).toBe(false);
  });

  it('lets a principal without roles pass no check', () => {
    // Act
    const passed = ROLES.filter((minimum) => hasAtLeast(principalWith([]), minimum));

    // Assess
    expect(passed).toEqual([]);
  });
});
