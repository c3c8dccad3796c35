import { describe, expect, it } from 'vitest';
import { CedarPolicyEngine, parseAndValidate } from '../src/policy/cedar.js';
import { defaultPolicyDir, readPolicySources } from '../src/policy/source.js';
import type { AuthzRequest } from '../src/ports/policy.js';

/**
 * Cedar skips a policy whose condition raises an evaluation error, so an erroring forbid lets a
 * matching permit win. Conductor fails closed instead: any forbid that errored makes the answer a
 * deny that names it. The errors here pass strict validation (an overflowing Long addition is well
 * typed): validating a policy set does not rule them out.
 */
const { schema } = readPolicySources(defaultPolicyDir());

const OVERFLOW = '9223372036854775807 + 1 > 0';

const engineOf = (text: string) => new CedarPolicyEngine({ schema, policies: { 'probe.cedar': text } });

const readEverything = [
  '@id("everyone-reads")',
  'permit (principal, action in Conductor::Action::"read", resource);',
].join('\n');

/** A forbid that raises an integer overflow for viewers, and never matches otherwise. */
const brokenForbid = [
  '@id("viewers-overflow")',
  '@obligation("step_up")',
  'forbid (principal, action, resource)',
  `when { principal.roles.contains("viewer") && ${OVERFLOW} };`,
].join('\n');

const listExperts = (roles: string[]): AuthzRequest => ({
  principal: { subject: 'u-acme', tenantId: 'acme', roles },
  action: 'experts:list',
  resource: { tenantId: 'acme', kind: 'experts' },
  context: { mfa: false, grantedTenants: [] },
});

describe('CedarPolicyEngine: a forbid that errors', () => {
  it('passes strict validation (the error is only found when evaluating)', () => {
    expect(() =>
      parseAndValidate({ schema, policies: { 'probe.cedar': `${readEverything}\n${brokenForbid}` } }),
    ).not.toThrow();
  });

  it('denies while a permit matches, naming the errored forbid in the reasons and the error', () => {
    // Prepare
    const engine = engineOf(`${readEverything}\n${brokenForbid}`);

    // Act
    const decision = engine.decide(listExperts(['viewer']));

    // Assess
    expect(decision.allow).toBe(false);
    expect(decision.reasons).toEqual(['fail-closed', 'viewers-overflow']);
    expect(decision.obligations).toEqual([]);
    expect(decision.masks).toEqual([]);
    expect(decision.error).toContain('viewers-overflow');
    expect(decision.error).toMatch(/overflow/i);
  });

  it('names every errored forbid, sorted', () => {
    // Prepare
    const second = brokenForbid
      .replace('viewers-overflow', 'also-overflows')
      .replace('@obligation("step_up")\n', '');
    const engine = engineOf(`${readEverything}\n${brokenForbid}\n${second}`);

    // Act
    const decision = engine.decide(listExperts(['viewer']));

    // Assess
    expect(decision).toMatchObject({
      allow: false,
      reasons: ['fail-closed', 'also-overflows', 'viewers-overflow'],
    });
  });

  it('decides as usual for requests where the forbid does not error', () => {
    // Prepare: `&&` short-circuits, so for an operator the overflow is never evaluated
    const engine = engineOf(`${readEverything}\n${brokenForbid}`);

    // Act
    const decision = engine.decide(listExperts(['operator']));

    // Assess
    expect(decision).toEqual({
      allow: true,
      obligations: [],
      masks: [],
      reasons: ['everyone-reads'],
      policyVersion: engine.policyVersion,
    });
  });

  it('still denies when a matching forbid decides too, and says a forbid errored', () => {
    // Prepare
    const alwaysForbid = '@id("nobody-reads")\nforbid (principal, action, resource);';
    const engine = engineOf(`${readEverything}\n${brokenForbid}\n${alwaysForbid}`);

    // Act
    const decision = engine.decide(listExperts(['viewer']));

    // Assess
    expect(decision.allow).toBe(false);
    expect(decision.reasons).toEqual(['fail-closed', 'viewers-overflow']);
    expect(decision.error).toContain('viewers-overflow');
  });

  it('leaves an errored permit to Cedar: it is skipped, and only ever takes an allow away', () => {
    // Prepare
    const brokenPermit = `@id("viewers-overflow-permit")\npermit (principal, action, resource) when { ${OVERFLOW} };`;
    const engine = engineOf(`${readEverything}\n${brokenPermit}`);

    // Act
    const decision = engine.decide(listExperts(['viewer']));

    // Assess: the other permit still allows; with no other permit it is a fail-closed deny
    expect(decision).toMatchObject({ allow: true, reasons: ['everyone-reads'] });
    expect(engineOf(brokenPermit).decide(listExperts(['viewer']))).toMatchObject({
      allow: false,
      reasons: ['fail-closed'],
    });
  });

  it('fails closed the same way when the policies come from a validated manifest', () => {
    // Prepare: the manifest carries each policy's effect; the engine reads the forbids from it
    const sources = { schema, policies: { 'probe.cedar': `${readEverything}\n${brokenForbid}` } };
    const probe = new CedarPolicyEngine(sources);
    const engine = new CedarPolicyEngine(sources, {
      policyVersion: probe.policyVersion,
      policies: probe.policies,
      actions: [],
    });

    // Act
    const decision = engine.decide(listExperts(['viewer']));

    // Assess
    expect(decision).toMatchObject({ allow: false, reasons: ['fail-closed', 'viewers-overflow'] });
  });
});
