import { describe, expect, it } from 'vitest';
import { principalFromClaims } from '#shared/http/claims.js';
import { type EnforcerDeps, PolicyEnforcer } from '#shared/policy/enforcer.js';
import { loadPolicyEngine } from '#shared/policy/source.js';
import type { Principal } from '#shared/ports/identity.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';

/** Step-up for sensitive actions: `amr` with `mfa`, a configured `acr`, or an issuer that enforces MFA. */
const enforcer = (options: Pick<EnforcerDeps, 'stepUpAcr' | 'issuerEnforcesMfa'> = {}) =>
  new PolicyEnforcer({
    engine: loadPolicyEngine(),
    grants: { grantedTenants: async () => [] },
    log: { record: async () => undefined },
    archive: { append: async () => undefined },
    clock: new ManualClock(),
    ids: new SequentialIds(),
    ...options,
  });

const admin = (extra: Partial<Principal> = {}): Principal => ({
  subject: 'ana',
  tenantId: 'acme',
  roles: ['tenant-admin'],
  amr: [],
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
    });
    expect(parsed).toEqual({
      ok: true,
      principal: {
        subject: 'ana',
        tenantId: 'acme',
        roles: ['tenant-admin'],
        amr: ['pwd', 'otp'],
        acr: 'urn:cognito:loa:2',
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
});
