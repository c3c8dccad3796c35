import { afterEach, describe, expect, it, vi } from 'vitest';
import { normalisedKey } from '#shared/policy/cache.js';
import { CedarPolicyEngine, loadCedar } from '#shared/policy/cedar.js';
import { type EvaluablePolicy, OPA_ENTRYPOINT, OpaPolicyEngine } from '#shared/policy/opa.js';
import { defaultOpaBundleDir, defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import type { AuthzRequest, PolicyEngine } from '#shared/ports/policy.js';

/**
 * An approval request's optional resource attributes, `approverRoles` (the runbook stage's roles, a
 * Cedar `Set<String>`) and `requestedBy` (the subject who requested the execution), through both
 * engines' input and the decision cache: asked as `runbooks:approvals:decide` by the runbooks pillar.
 */
const cedar = new CedarPolicyEngine(readPolicySources(defaultPolicyDir()));
const opa = await OpaPolicyEngine.loadBundle(defaultOpaBundleDir());

const decide = (
  resource: { approverRoles?: readonly string[]; requestedBy?: string } = {},
  subject = 'u-acme-operator',
): AuthzRequest => ({
  principal: { subject, tenantId: 'acme', roles: ['operator'] },
  action: 'runbooks:approvals:decide',
  resource: { tenantId: 'acme', kind: 'approval-requests', id: 'apr-1', ...resource },
  context: { mfa: true, grantedTenants: [] },
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('CedarPolicyEngine and an approval request', () => {
  it('puts approverRoles (as a set) and requestedBy in the Resource entity when present, and leaves them out when absent', () => {
    // Prepare
    const spy = vi.spyOn(loadCedar(), 'statefulIsAuthorized');

    // Act
    cedar.decide(decide({ approverRoles: ['operator', 'admin'], requestedBy: 'u-acme-requester' }));
    cedar.decide(decide());

    // Assess
    const isResource = (uid: unknown) => (uid as { type?: string }).type === 'Conductor::Resource';
    const resourceAttrs = spy.mock.calls.map(
      ([call]) => call.entities.find((entity) => isResource(entity.uid))?.attrs,
    );
    expect(resourceAttrs).toEqual([
      {
        tenant: 'acme',
        kind: 'approval-requests',
        approverRoles: ['operator', 'admin'],
        requestedBy: 'u-acme-requester',
      },
      { tenant: 'acme', kind: 'approval-requests' },
    ]);
  });

  it.each([
    ['approverRoles that is not a list', { approverRoles: 'operator' }, 'approverRoles'],
    ['approverRoles with a non-string', { approverRoles: ['operator', 7] }, 'approverRoles'],
    ['requestedBy that is not a string', { requestedBy: 7 }, 'requestedBy'],
  ])('fails closed on %s, as the schema says', (_what, resource, attribute) => {
    // Act
    const decision = cedar.decide(decide(resource as never));

    // Assess
    expect(decision).toMatchObject({ allow: false, reasons: ['fail-closed'] });
    expect(decision.error).toContain(attribute);
  });
});

describe('OpaPolicyEngine and an approval request', () => {
  const recording = () => {
    const calls: unknown[] = [];
    const policy: EvaluablePolicy = {
      entrypoints: { [OPA_ENTRYPOINT]: 0 },
      evaluate: (input) => {
        calls.push(input);
        return [{ result: { allow: false, obligations: [], masks: [], reasons: [] } }];
      },
    };
    return { engine: new OpaPolicyEngine(policy, 'opa-test'), calls };
  };

  it('passes approverRoles and requestedBy in input.resource when present, and leaves them out when absent', () => {
    // Prepare
    const { engine, calls } = recording();

    // Act
    engine.decide(decide({ approverRoles: ['operator', 'admin'], requestedBy: 'u-acme-requester' }));
    engine.decide(decide({ approverRoles: undefined, requestedBy: undefined } as never));

    // Assess
    expect(calls.map((input) => (input as { resource: unknown }).resource)).toEqual([
      {
        tenantId: 'acme',
        kind: 'approval-requests',
        approverRoles: ['operator', 'admin'],
        requestedBy: 'u-acme-requester',
      },
      { tenantId: 'acme', kind: 'approval-requests' },
    ]);
    expect(Object.keys((calls[1] as { resource: object }).resource)).toEqual(['tenantId', 'kind']);
  });

  it.each([
    ['approverRoles that is not a list', { approverRoles: 'operator' }],
    ['approverRoles with a non-string', { approverRoles: ['operator', 7] }],
    ['a null approverRoles', { approverRoles: null }],
    ['requestedBy that is not a string', { requestedBy: 7 }],
    ['a null requestedBy', { requestedBy: null }],
  ])('fails closed without evaluating on %s', (_what, resource) => {
    // Prepare
    const { engine, calls } = recording();

    // Act
    const decision = engine.decide(decide(resource as never));

    // Assess
    expect(calls).toEqual([]);
    expect(decision).toMatchObject({ allow: false, reasons: ['fail-closed'] });
    expect(decision.error).toBe('opa: malformed resource');
  });
});

describe.each([
  ['Cedar', cedar],
  ['OPA', opa],
] as [string, PolicyEngine][])('the deployed policies of %s on an approval request', (_name, engine) => {
  it("compare requestedBy with the principal's subject, and approverRoles with its roles", () => {
    // Act + Assess
    expect(
      engine.decide(decide({ approverRoles: ['operator', 'admin'], requestedBy: 'u-acme-requester' })),
    ).toMatchObject({ allow: true, reasons: ['approve-in-stage-role'] });
    expect(
      engine.decide(decide({ approverRoles: ['operator'], requestedBy: 'u-acme-operator' })),
    ).toMatchObject({ allow: false, reasons: ['requester-cannot-approve'], obligations: [] });
    expect(engine.decide(decide({ approverRoles: ['admin'] }))).toMatchObject({ allow: false, reasons: [] });
    expect(engine.decide(decide())).toMatchObject({ allow: false, reasons: [] });
  });
});

describe('the decision cache and an approval request', () => {
  it('keys on approverRoles (in any order) and requestedBy', () => {
    // Act
    const key = (resource: { approverRoles?: readonly string[]; requestedBy?: string }) =>
      normalisedKey('v', decide(resource));

    // Assess
    const keys = [
      key({}),
      key({ approverRoles: ['operator'] }),
      key({ approverRoles: ['admin'] }),
      key({ approverRoles: ['operator'], requestedBy: 'u-1' }),
      key({ approverRoles: ['operator'], requestedBy: 'u-2' }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
    expect(key({ approverRoles: ['operator', 'admin'] })).toBe(key({ approverRoles: ['admin', 'operator'] }));
  });
});
