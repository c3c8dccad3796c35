import type { DecisionRecord } from '../ports/policy.js';

/**
 * A decision record as the enforcer writes one for a route's candidate (`router:route-to` of expert
 * `exp-<n>`, allowed), numbered `dec_<n, 6 digits>`, in `tenantId`'s log; `fields` overrides any field.
 */
export const decisionRecordFixture = (
  n: number,
  tenantId = 'acme',
  fields: Partial<DecisionRecord> = {},
): DecisionRecord => ({
  decisionId: `dec_${String(n).padStart(6, '0')}`,
  tenantId,
  at: '2026-03-01T10:00:00.000Z',
  traceId: 't',
  engine: 'cedar',
  policyVersion: 'cedar-test',
  input: {
    principal: { subject: 'alice', tenantId: 'acme', roles: ['operator'] },
    action: 'router:route-to',
    resource: { tenantId, kind: 'experts', id: `exp-${n}`, classification: 'internal' },
    context: { mfa: false, grantedTenants: [] },
  },
  allow: true,
  obligations: [],
  masks: [],
  reasons: ['operate-own-or-granted-tenant'],
  latencyMs: 0.1,
  source: 'route',
  ...fields,
});
