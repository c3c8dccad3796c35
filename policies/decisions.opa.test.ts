import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { CedarPolicyEngine } from '#shared/policy/cedar.js';
import { OPA_ENTRYPOINT, OpaPolicyEngine, readOpaBundle } from '#shared/policy/opa.js';
import {
  buildOpaBundle,
  findOpa,
  OPA_INSTALL_URL,
  opaVersionOf,
  regoSourceDigest,
} from '#shared/policy/opa-build.js';
import { defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import type { AuthzDecision, AuthzRequest } from '#shared/ports/policy.js';
import { itDecidesTheTable } from './decision-table.js';

/**
 * The decision table (the one the Cedar run uses) through the Rego of `policies/rego`, compiled by
 * `opa build -t wasm` into the committed bundle `policies/opa/` and evaluated by OpaPolicyEngine:
 * this runs everywhere, with or without opa. What needs the OPA toolchain (rebuilding the bundle
 * from its source, the Rego's own unit tests) shows as SKIPPED without `opa`, and fails instead when
 * CONDUCTOR_REQUIRE_OPA=1 (CI installs the pinned opa and sets it).
 */
const regoDir = fileURLToPath(new URL('./rego', import.meta.url));
const bundleDir = fileURLToPath(new URL('./opa', import.meta.url));
const pinnedOpa = readFileSync(join(bundleDir, 'OPA_VERSION'), 'utf8').trim();
const opa = findOpa();
const opaRequired = process.env.CONDUCTOR_REQUIRE_OPA === '1';
const skipReason =
  'SKIPPED: opa is not installed (npm run opa:install); CONDUCTOR_REQUIRE_OPA=1 makes this a failure';

describe('the OPA toolchain', () => {
  it.runIf(opaRequired)('is installed, as CONDUCTOR_REQUIRE_OPA=1 demands', () => {
    expect(
      opa,
      `opa is not on PATH nor in .tools/bin (npm run opa:install; ${OPA_INSTALL_URL})`,
    ).toBeDefined();
  });
});

describe('the committed OPA bundle (policies/opa)', () => {
  it('is built from the Rego as it is now: rebuild it with npm run opa:build after changing policies/rego', async () => {
    const { manifest } = await readOpaBundle(bundleDir);
    expect(manifest.sourceDigest, 'policies/opa/bundle.json is stale: run npm run opa:build').toBe(
      regoSourceDigest(regoDir),
    );
  });

  it(`was built by the pinned opa (${pinnedOpa}) for the entry point ${OPA_ENTRYPOINT}`, async () => {
    const { manifest } = await readOpaBundle(bundleDir);
    expect(manifest).toMatchObject({ opaVersion: pinnedOpa, entrypoint: OPA_ENTRYPOINT });
  });

  it.skipIf(!opa)(
    opa
      ? `is exactly what ${pinnedOpa} builds from the source, byte for byte`
      : `is exactly what opa builds: ${skipReason}`,
    () => {
      if (!opa) return;
      expect(opaVersionOf(opa)).toBe(pinnedOpa);
      const outDir = mkdtempSync(join(tmpdir(), 'conductor-opa-rebuild-'));
      try {
        const { manifest } = buildOpaBundle(regoDir, outDir, { opa });
        expect(
          readFileSync(join(outDir, 'policy.wasm')).equals(readFileSync(join(bundleDir, 'policy.wasm'))),
        ).toBe(true);
        expect(manifest).toEqual(JSON.parse(readFileSync(join(bundleDir, 'bundle.json'), 'utf8')));
      } finally {
        rmSync(outDir, { recursive: true, force: true });
      }
    },
    120_000,
  );

  it.skipIf(!opa)(
    opa ? 'passes the Rego unit tests (opa test policies/rego)' : `passes opa test: ${skipReason}`,
    () => {
      if (!opa) return;
      const out = execFileSync(opa, ['test', regoDir, '--format', 'json'], { encoding: 'utf8' });
      const results = JSON.parse(out) as { name: string; fail?: boolean; error?: unknown }[];
      expect(results.length).toBeGreaterThan(0);
      expect(results.filter((r) => r.fail || r.error).map((r) => r.name)).toEqual([]);
    },
    60_000,
  );
});

describe('the OPA (Rego -> wasm) policies of the committed bundle, driven by the decision table', () => {
  const cedar = new CedarPolicyEngine(readPolicySources(defaultPolicyDir()));
  let engine: OpaPolicyEngine;

  beforeAll(async () => {
    engine = await OpaPolicyEngine.loadBundle(bundleDir);
  });

  itDecidesTheTable(
    () => engine,
    () => cedar.policies.map((p) => p.id),
  );

  it('decides as Cedar does for every declared action, role set, tenant relation, step-up and resource attributes', () => {
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
    // The optional resource attributes: none, a classification, an approval request's stage roles and
    // requester (the principal below is u-1: someone else's request, then its own).
    const resourceAttributes: Omit<AuthzRequest['resource'], 'tenantId' | 'kind'>[] = [
      {},
      { classification: 'restricted' },
      { classification: 'internal' },
      { approverRoles: ['operator', 'admin'], requestedBy: 'u-2' },
      { approverRoles: ['viewer', 'operator'], requestedBy: 'u-1' },
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
            for (const attributes of resourceAttributes) {
              const request: AuthzRequest = {
                principal: { subject: 'u-1', tenantId: 'acme', roles },
                action,
                resource: {
                  tenantId: resourceTenant,
                  kind: action.split(':')[0] ?? 'experts',
                  ...attributes,
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
  }, 60_000);

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
});
