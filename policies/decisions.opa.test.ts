import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CedarPolicyEngine } from '#shared/policy/cedar.js';
import { OpaPolicyEngine } from '#shared/policy/opa.js';
import { buildOpaWasm, findOpa, OPA_INSTALL_URL, OpaNotFoundError } from '#shared/policy/opa-build.js';
import { defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import type { AuthzDecision, AuthzRequest } from '#shared/ports/policy.js';
import { itDecidesTheTable } from './decision-table.js';

/**
 * The decision table (the one the Cedar run uses) through the Rego of `policies/rego`, compiled by
 * `opa build -t wasm` and evaluated by OpaPolicyEngine. That needs the OPA compiler: without `opa` on
 * PATH the run shows as SKIPPED with the reason (it never passes without running), and with
 * CONDUCTOR_REQUIRE_OPA=1 a missing `opa` fails the suite instead.
 */
const regoDir = fileURLToPath(new URL('./rego', import.meta.url));
const opa = findOpa();
const opaRequired = process.env.CONDUCTOR_REQUIRE_OPA === '1';

describe('the OPA toolchain', () => {
  it.runIf(opaRequired)('is on PATH, as CONDUCTOR_REQUIRE_OPA=1 demands', () => {
    expect(opa, `opa is not on PATH (install it from ${OPA_INSTALL_URL})`).toBeDefined();
  });

  it.runIf(!opa)(
    'refuses to build the Rego policy without opa, naming where to get it, and writes nothing',
    () => {
      const outDir = join(tmpdir(), `conductor-opa-not-built-${process.pid}`);
      expect(() => buildOpaWasm(regoDir, outDir)).toThrow(OpaNotFoundError);
      expect(() => buildOpaWasm(regoDir, outDir)).toThrow(
        `The OPA compiler (opa) is not on PATH: install it from ${OPA_INSTALL_URL} to use policyEngine=opa, or use the default Cedar engine.`,
      );
      expect(existsSync(outDir)).toBe(false);
    },
  );
});

describe.skipIf(!opa)(
  opa
    ? `the OPA (Rego -> wasm) policies, driven by the decision table (compiled with ${opa})`
    : 'the OPA (Rego -> wasm) policies, driven by the decision table: SKIPPED, opa is not on PATH (CONDUCTOR_REQUIRE_OPA=1 makes this a failure)',
  () => {
    const cedar = new CedarPolicyEngine(readPolicySources(defaultPolicyDir()));
    let engine: OpaPolicyEngine;
    let outDir: string;

    beforeAll(async () => {
      outDir = mkdtempSync(join(tmpdir(), 'conductor-opa-'));
      engine = await OpaPolicyEngine.load(buildOpaWasm(regoDir, outDir, { opa }));
    }, 120_000);
    afterAll(() => {
      if (outDir) rmSync(outDir, { recursive: true, force: true });
    });

    itDecidesTheTable(
      () => engine,
      () => cedar.policies.map((p) => p.id),
    );

    it('decides as Cedar does for every declared action, role set, tenant relation, step-up and classification', () => {
      const schema = readFileSync(join(defaultPolicyDir(), 'schema.cedarschema'), 'utf8');
      const actions = [...schema.matchAll(/action\s+((?:"[^"]+"\s*,?\s*)+)\s+in\s*\[/g)].flatMap((m) =>
        [...(m[1] ?? '').matchAll(/"([^"]+)"/g)].map((a) => a[1] ?? ''),
      );
      expect(actions.length).toBeGreaterThan(0);
      const roleSets = [
        [],
        ['viewer'],
        ['viewer', 'viewer'],
        ['operator'],
        ['admin'],
        ['tenant-admin'],
        ['org-admin'],
        ['viewer', 'admin'],
        ['superuser'],
      ];
      const tenancies = [
        { resourceTenant: 'acme', grantedTenants: [] },
        { resourceTenant: 'acme', grantedTenants: ['globex'] },
        { resourceTenant: 'globex', grantedTenants: ['globex'] },
        { resourceTenant: 'globex', grantedTenants: ['initech'] },
      ];
      const comparable = (d: AuthzDecision) => ({
        allow: d.allow,
        obligations: d.obligations,
        masks: d.masks,
        reasons: d.reasons,
        error: d.error !== undefined,
      });
      const differences: string[] = [];
      for (const action of actions)
        for (const roles of roleSets)
          for (const { resourceTenant, grantedTenants } of tenancies)
            for (const mfa of [false, true])
              for (const classification of [undefined, 'restricted', 'internal']) {
                const request: AuthzRequest = {
                  principal: { subject: 'u-1', tenantId: 'acme', roles },
                  action,
                  resource: {
                    tenantId: resourceTenant,
                    kind: action.split(':')[0] ?? 'experts',
                    ...(classification ? { classification } : {}),
                  },
                  context: { mfa, grantedTenants },
                };
                const expected = comparable(cedar.decide(request));
                const actual = comparable(engine.decide(request));
                if (JSON.stringify(actual) !== JSON.stringify(expected))
                  differences.push(
                    `${JSON.stringify(request)}: cedar ${JSON.stringify(expected)}, opa ${JSON.stringify(actual)}`,
                  );
              }
      expect(differences).toEqual([]);
    });

    it('fails closed, as Cedar does, on an action the schema does not declare for requests', () => {
      for (const action of ['experts:purge', 'read', 'sensitive']) {
        const request: AuthzRequest = {
          principal: { subject: 'u-1', tenantId: 'acme', roles: ['org-admin'] },
          action,
          resource: { tenantId: 'acme', kind: 'experts' },
          context: { mfa: true, grantedTenants: [] },
        };
        expect(cedar.decide(request)).toMatchObject({ allow: false, reasons: ['fail-closed'] });
        const decision = engine.decide(request);
        expect(decision).toMatchObject({ allow: false, reasons: ['fail-closed'] });
        expect(decision.error).toContain('not declared');
      }
    });
  },
);
