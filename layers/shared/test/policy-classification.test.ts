import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CachedPolicyEngine, normalisedKey } from '#shared/policy/cache.js';
import { CedarPolicyEngine, loadCedar } from '#shared/policy/cedar.js';
import { defaultPolicyDir, loadPolicyEngine } from '#shared/policy/source.js';
import type { AuthzDecision, AuthzRequest, PolicyEngine } from '#shared/ports/policy.js';

/** The optional `Resource.classification` (an expert's data classification) through the engine and the cache. */
const schema = readFileSync(join(defaultPolicyDir(), 'schema.cedarschema'), 'utf8');

/** The real schema, with one policy that only says whether the attribute is there. */
const classificationProbe = new CedarPolicyEngine({
  schema,
  policies: {
    'probe.cedar': [
      '@id("has-classification")',
      'permit (principal, action, resource) when { resource has classification };',
      '@id("is-internal")',
      'permit (principal, action, resource)',
      'when { resource has classification && resource.classification == "internal" };',
    ].join('\n'),
  },
});

const routeTo = (classification?: string): AuthzRequest => ({
  principal: { subject: 'u-acme-operator', tenantId: 'acme', roles: ['operator'] },
  action: 'router:route-to',
  resource: {
    tenantId: 'acme',
    kind: 'experts',
    id: 'exp-1',
    ...(classification !== undefined ? { classification } : {}),
  },
  context: { mfa: false, grantedTenants: [] },
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('CedarPolicyEngine and the resource classification', () => {
  it('gives the Resource entity the classification attribute when the request has one', () => {
    // Act
    const decision = classificationProbe.decide(routeTo('internal'));

    // Assess
    expect(decision.error).toBeUndefined();
    expect(decision.allow).toBe(true);
    expect(decision.reasons).toEqual(['has-classification', 'is-internal']);
  });

  it('leaves the attribute out (not empty) when the request has none, or has it undefined', () => {
    // Act
    const absent = classificationProbe.decide(routeTo());
    const undefinedValue = classificationProbe.decide({
      ...routeTo(),
      resource: { ...routeTo().resource, classification: undefined },
    });

    // Assess: `resource has classification` is false, and that is no error (the attribute is optional).
    for (const decision of [absent, undefinedValue]) {
      expect(decision.error).toBeUndefined();
      expect(decision.allow).toBe(false);
      expect(decision.reasons).toEqual([]);
    }
  });

  it('puts exactly tenant, kind and, when present, classification in the Resource entity', () => {
    // Prepare
    const cedar = loadCedar();
    const spy = vi.spyOn(cedar, 'statefulIsAuthorized');

    // Act
    classificationProbe.decide(routeTo('restricted'));
    classificationProbe.decide(routeTo());

    // Assess
    const isResource = (uid: unknown) => (uid as { type?: string }).type === 'Conductor::Resource';
    const resourceAttrs = spy.mock.calls.map(
      ([call]) => call.entities.find((entity) => isResource(entity.uid))?.attrs,
    );
    expect(resourceAttrs).toEqual([
      { tenant: 'acme', kind: 'experts', classification: 'restricted' },
      { tenant: 'acme', kind: 'experts' },
    ]);
  });

  it('fails closed on a classification that is not a string, as the schema says', () => {
    // Act
    const decision = loadPolicyEngine().decide({
      ...routeTo(),
      resource: { ...routeTo().resource, classification: 7 as unknown as string },
    });

    // Assess
    expect(decision).toMatchObject({ allow: false, reasons: ['fail-closed'] });
    expect(decision.error).toContain('classification');
  });

  it('decides the deployed policies on it: an operator is not routed to a restricted expert', () => {
    // Prepare
    const engine = loadPolicyEngine();

    // Act + Assess
    expect(engine.decide(routeTo('restricted'))).toMatchObject({
      allow: false,
      reasons: ['restricted-experts-need-admin'],
      obligations: [],
    });
    expect(engine.decide(routeTo('internal'))).toMatchObject({
      allow: true,
      reasons: ['operate-own-or-granted-tenant'],
    });
    expect(engine.decide(routeTo())).toMatchObject({
      allow: true,
      reasons: ['operate-own-or-granted-tenant'],
    });
  });
});

describe('the decision cache and the resource classification', () => {
  /** An engine that counts its calls and answers by classification. */
  const counting = () => {
    const asked: AuthzRequest[] = [];
    const engine: PolicyEngine = {
      name: 'cedar',
      policyVersion: 'cedar-test',
      decide: (request): AuthzDecision => {
        asked.push(request);
        const restricted = request.resource.classification === 'restricted';
        return {
          allow: !restricted,
          obligations: [],
          masks: [],
          reasons: [restricted ? 'restricted-experts-need-admin' : 'operate-own-or-granted-tenant'],
          policyVersion: 'cedar-test',
        };
      },
    };
    return { engine, asked };
  };

  it('keys on the classification: absent, restricted and internal are three keys', () => {
    // Act
    const keys = [routeTo(), routeTo('restricted'), routeTo('internal')].map((request) =>
      normalisedKey('cedar-test', request),
    );

    // Assess
    expect(new Set(keys).size).toBe(3);
    // Absent and explicitly undefined are the same request.
    expect(
      normalisedKey('cedar-test', {
        ...routeTo(),
        resource: { ...routeTo().resource, classification: undefined },
      }),
    ).toBe(keys[0]);
  });

  it('never answers a request from the entry of one that differs only by classification', () => {
    // Prepare
    const { engine, asked } = counting();
    const cached = new CachedPolicyEngine(engine, () => 0);

    // Act
    const open = cached.decide(routeTo());
    const restricted = cached.decide(routeTo('restricted'));
    const openAgain = cached.decide(routeTo());
    const restrictedAgain = cached.decide(routeTo('restricted'));

    // Assess
    expect(open.allow).toBe(true);
    expect(restricted.allow).toBe(false);
    expect(openAgain).toBe(open);
    expect(restrictedAgain).toBe(restricted);
    expect(asked.map((request) => request.resource.classification)).toEqual([undefined, 'restricted']);
    expect(cached.stats).toEqual({ hits: 2, misses: 2 });
  });

  it('with the real Cedar engine, caching an operator’s open expert does not open the restricted one', () => {
    // Prepare
    const cached = new CachedPolicyEngine(loadPolicyEngine(), () => 0);

    // Act
    const open = cached.decide(routeTo());
    const restricted = cached.decide(routeTo('restricted'));

    // Assess
    expect(open.allow).toBe(true);
    expect(restricted).toMatchObject({ allow: false, reasons: ['restricted-experts-need-admin'] });
    expect(cached.stats).toEqual({ hits: 0, misses: 2 });
  });
});
