import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultPolicyDir, loadPolicyEngine, UnavailableEngine } from '#shared/policy/source.js';
import type { AuthzRequest } from '#shared/policy/types.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A policy folder with the real schema and the given policy text. */
const folderWith = (
  policy: string,
  schema = readFileSync(join(defaultPolicyDir(), 'schema.cedarschema'), 'utf8'),
) => {
  const dir = mkdtempSync(join(tmpdir(), 'conductor-policies-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'schema.cedarschema'), schema);
  writeFileSync(join(dir, 'p.cedar'), policy);
  return dir;
};

const ownRead: AuthzRequest = {
  principal: { subject: 'alice', tenantId: 'acme', roles: ['org-admin'] },
  action: 'experts:list',
  resource: { tenantId: 'acme', kind: 'experts' },
  context: { mfa: true, grantedTenants: [] },
};

describe('loading the policy engine fails closed', () => {
  const broken: [string, () => string][] = [
    ['a folder that does not exist', () => join(tmpdir(), 'no-such-policies-folder')],
    [
      'a policy that does not parse',
      () => folderWith('@id("x")\npermit (principal, action, resource) when { ;'),
    ],
    ['a policy without an @id', () => folderWith('permit (principal, action, resource);')],
    [
      'a policy that does not validate against the schema',
      () => folderWith('@id("x")\npermit (principal, action, resource) when { principal.salary > 3 };'),
    ],
    [
      'a schema that does not parse',
      () => folderWith('@id("x")\npermit (principal, action, resource);', 'namespace {'),
    ],
  ];

  for (const [name, dir] of broken) {
    it(`denies everything, saying why, when given ${name}`, () => {
      const errors: unknown[] = [];

      const engine = loadPolicyEngine(dir(), (error) => errors.push(error));
      const decision = engine.decide(ownRead);

      expect(engine).toBeInstanceOf(UnavailableEngine);
      expect(errors).toHaveLength(1);
      expect(decision.allow).toBe(false);
      expect(decision.reasons).toEqual(['fail-closed']);
      expect(decision.error).toMatch(/policy engine unavailable/);
    });
  }

  it('loads the real policies and allows what they allow (the control case)', () => {
    const errors: unknown[] = [];
    const engine = loadPolicyEngine(undefined, (error) => errors.push(error));
    expect(errors).toEqual([]);
    expect(engine.decide(ownRead).allow).toBe(true);
  });
});
