import { describe, expect, it } from 'vitest';
import { principalFromClaims } from '#shared/http/claims.js';
import { type EnforcerDeps, PolicyEnforcer } from '#shared/policy/enforcer.js';
import { loadPolicyEngine } from '#shared/policy/source.js';
import type { Principal } from '#shared/ports/identity.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';

/** Step-up for sensitive actions: `amr` with `mfa`, a configured `acr`, or an issuer that enforces MFA. */
/** The enforcers' clock: 2026-01-01T00:00:00Z. */
const NOW_S = Date.parse('2026-01-01T00:00:00.000Z') / 1000;

const enforcer = (
  options: Pick<EnforcerDeps, 'stepUpAcr' | 'issuerEnforcesMfa' | 'stepUpMaxAgeSeconds'> = {},
) =>
  new PolicyEnforcer({
    engine: loadPolicyEngine(),
    grants: { grantedTenants: async () => [] },
    log: { record: async () => undefined },
    archive: { append: async () => undefined },
    clock: new ManualClock(NOW_S * 1000),
    ids: new SequentialIds(),
    ...options,
  });

const admin = (extra: Partial<Principal> = {}): Principal => ({
  subject: 'ana',
  tenantId: 'acme',
  roles: ['tenant-admin'],
  amr: [],
  authTime: NOW_S - 60,
  ...extra,
});

/** A sensitive action (router:config:update is in the `sensitive` group). */
const changeConfig = (principal: Principal) => ({
  principal,
  action: 'router:config:update',
  resource: { tenantId: 'acme', kind: 'router-config' },
  traceId: 't',
});

describe('step-up', () => {
  it('reads acr from the token claims, next to amr', () => {
    const parsed = principalFromClaims({
      sub: 'ana',
      'custom:tenant': 'acme',
      'cognito:groups': '[tenant-admin]',
      amr: '[pwd otp]',
      acr: 'urn:cognito:loa:2',
      auth_time: '1767225540',
    });
    expect(parsed).toEqual({
      ok: true,
      principal: {
        subject: 'ana',
        tenantId: 'acme',
        roles: ['tenant-admin'],
        amr: ['pwd', 'otp'],
        acr: 'urn:cognito:loa:2',
        authTime: 1767225540,
      },
    });
  });

  it('needs amr with mfa by default: without it a sensitive action is denied with step_up', async () => {
    const withoutMfa = await enforcer().decide(changeConfig(admin({ amr: ['pwd'] })));
    const withMfa = await enforcer().decide(changeConfig(admin({ amr: ['pwd', 'mfa'] })));
    expect(withoutMfa).toMatchObject({ allow: false, obligations: ['step_up'] });
    expect(withMfa.allow).toBe(true);
  });

  it('counts a configured acr, and only as acr (an amr value of the same text does not count)', async () => {
    const configured = enforcer({ stepUpAcr: ['urn:cognito:loa:2'] });
    expect((await configured.decide(changeConfig(admin({ acr: 'urn:cognito:loa:2' })))).allow).toBe(true);
    expect((await configured.decide(changeConfig(admin({ acr: 'urn:cognito:loa:1' })))).allow).toBe(false);
    expect((await configured.decide(changeConfig(admin({ amr: ['urn:cognito:loa:2'] })))).allow).toBe(false);
  });

  it('counts every token as stepped up when the issuer enforces MFA (the Cognito pool the app creates)', async () => {
    const decision = await enforcer({ issuerEnforcesMfa: true }).decide(changeConfig(admin()));
    expect(decision.allow).toBe(true);
  });

  it('counts step-up only while the sign-in is recent: a token refreshed hours after MFA is not stepped up', async () => {
    const mfa = { amr: ['pwd', 'mfa'] };
    const at = async (authTime: number | undefined, options: Parameters<typeof enforcer>[0] = {}) =>
      (await enforcer(options).decide(changeConfig({ ...admin(mfa), authTime }))).allow;

    expect(await at(NOW_S - 59 * 60)).toBe(true);
    expect(await at(NOW_S - 61 * 60)).toBe(false);
    expect(await at(NOW_S - 3 * 3600, { issuerEnforcesMfa: true })).toBe(false);
    expect(await at(undefined)).toBe(false);
    expect(await at(NOW_S + 30)).toBe(true);
    expect(await at(NOW_S + 120)).toBe(false);
    expect(await at(NOW_S - 3 * 3600, { stepUpMaxAgeSeconds: 4 * 3600 })).toBe(true);
  });

  it('reads auth_time as API Gateway passes it (a string) or as a number, and ignores anything else', () => {
    const authTimeOf = (value: unknown) => {
      const parsed = principalFromClaims({ sub: 'ana', tenant: 'acme', auth_time: value });
      return parsed.ok ? parsed.principal.authTime : 'refused';
    };
    expect(authTimeOf('1767225540')).toBe(1767225540);
    expect(authTimeOf(1767225540)).toBe(1767225540);
    for (const bad of ['soon', '', '-5', '1.5', 0, -1, null, ['1767225540']])
      expect(authTimeOf(bad)).toBeUndefined();
  });
});
