import { describe, expect, it } from 'vitest';
import { ForbiddenError } from '#shared/errors.js';
import { PolicyEnforcer } from '#shared/policy/enforcer.js';
import { loadPolicyEngine } from '#shared/policy/source.js';
import type { Principal } from '#shared/ports/identity.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';

/** The 403 of a sensitive action without MFA: it asks for MFA only when MFA would be enough. */
const enforcer = () =>
  new PolicyEnforcer({
    engine: loadPolicyEngine(),
    grants: { grantedTenants: async () => [] },
    log: { record: async () => undefined },
    archive: { append: async () => undefined },
    clock: new ManualClock(),
    ids: new SequentialIds(),
  });

const caller = (roles: Principal['roles']): Principal => ({
  subject: 'sam',
  tenantId: 'acme',
  roles,
  amr: ['pwd'],
});

/** router:config:update is in the `sensitive` group: tenant-admins may, with MFA; viewers never. */
const refusalOf = async (principal: Principal): Promise<ForbiddenError> => {
  const refused = await enforcer()
    .enforce({
      principal,
      action: 'router:config:update',
      resource: { tenantId: 'acme', kind: 'router-config' },
      traceId: 't',
    })
    .then(
      () => undefined,
      (error: unknown) => error,
    );
  if (!(refused instanceof ForbiddenError))
    throw new Error(`expected a ForbiddenError, got ${String(refused)}`);
  return refused;
};

describe('the step-up refusal', () => {
  it('asks a tenant-admin without MFA to step up, with the obligation step_up', async () => {
    const refusal = await refusalOf(caller(['tenant-admin']));

    expect(refusal.message).toBe('This operation needs step-up authentication (MFA).');
    expect(refusal.details).toEqual({ obligations: ['step_up'] });
  });

  it('tells a viewer without MFA that the role is missing, and does not pass step_up on', async () => {
    const refusal = await refusalOf(caller(['viewer']));

    expect(refusal.message).toContain('not allowed for your roles');
    expect(refusal.message).toContain('MFA would not change that');
    expect(refusal.details).toBeUndefined();
  });
});
