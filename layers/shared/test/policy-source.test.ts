import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  declaredActions,
  PolicyLoadError,
  policyVersionOf,
  VALIDATED_MANIFEST,
} from '#shared/policy/cedar.js';
import {
  defaultPolicyDir,
  loadPolicyEngine,
  readPolicySources,
  readValidatedManifest,
  UnavailableEngine,
  writeValidatedManifest,
} from '#shared/policy/source.js';
import type { AuthzRequest } from '#shared/ports/policy.js';

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

describe('the validated manifest (written by the policy layer at synth)', () => {
  const realPolicies = () => {
    const dir = mkdtempSync(join(tmpdir(), 'conductor-policies-'));
    dirs.push(dir);
    cpSync(defaultPolicyDir(), dir, { recursive: true });
    rmSync(join(dir, VALIDATED_MANIFEST), { force: true });
    return dir;
  };

  it('lists the policies by id with their annotations, and the request actions of the schema', () => {
    // Prepare
    const dir = realPolicies();

    // Act
    const written = writeValidatedManifest(dir);
    const read = readValidatedManifest(dir);

    // Assess
    expect(read).toEqual(written);
    expect(written.policyVersion).toBe(policyVersionOf(readPolicySources(dir)));
    expect(written.policies.map((p) => p.id)).toContain('cross-tenant-needs-approved-grant');
    expect(written.policies.find((p) => p.id === 'sensitive-needs-step-up')?.annotations.obligation).toBe(
      'step_up',
    );
    expect(written.actions).toEqual(declaredActions(readPolicySources(dir).schema));
    expect(written.actions).toContain('router:route-to');
  });

  it('is ignored once the sources change (stale), or when it is not a manifest', () => {
    // Prepare
    const dir = realPolicies();
    writeValidatedManifest(dir);

    // Act
    writeFileSync(
      join(dir, 'extra.cedar'),
      '@id("extra")\npermit (principal, action == Conductor::Action::"experts:list", resource);',
    );
    const stale = readValidatedManifest(dir);
    writeFileSync(join(dir, VALIDATED_MANIFEST), '{"policyVersion": 3}');
    const malformed = readValidatedManifest(dir);

    // Assess
    expect(stale).toBeUndefined();
    expect(malformed).toBeUndefined();
  });

  it('refuses to be written for policies that do not validate', () => {
    const dir = folderWith('@id("x")\npermit (principal, action, resource) when { principal.salary > 3 };');
    expect(() => writeValidatedManifest(dir)).toThrow(PolicyLoadError);
    expect(readValidatedManifest(dir)).toBeUndefined();
  });

  it('lets the engine skip validation: a manifest of the sources’ version is trusted as it stands', () => {
    // Prepare: sources that do not validate strictly, and a manifest claiming (as only a build could) they did.
    const dir = folderWith('@id("x")\npermit (principal, action, resource) when { principal.salary > 3 };');
    const sources = readPolicySources(dir);
    writeFileSync(
      join(dir, VALIDATED_MANIFEST),
      JSON.stringify({
        policyVersion: policyVersionOf(sources),
        policies: [
          { id: 'x', text: sources.policies['p.cedar'], annotations: { id: 'x' }, effect: 'permit' },
        ],
        actions: [],
      }),
    );
    const errors: unknown[] = [];

    // Act
    const engine = loadPolicyEngine(dir, (error) => errors.push(error));

    // Assess: loaded (not UnavailableEngine), where the same folder without a manifest fails closed.
    expect(errors).toEqual([]);
    expect(engine).not.toBeInstanceOf(UnavailableEngine);
    expect(engine.policyVersion).toBe(policyVersionOf(sources));
  });
});
