import { describe, expect, it } from 'vitest';
import { CedarPolicyEngine } from '#shared/policy/cedar.js';
import { defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import type { AuthzRequest, DecisionRecord } from '#shared/ports/policy.js';
import { refusal } from '#shared/testing/refusal.js';
import { CedarPolicyCompiler } from '../../src/adapters/cedar-candidates.js';
import type { DecisionLogReader } from '../../src/domain/decisions.js';
import { DRY_RUN_LIMIT, DryRunService, diffDecisions } from '../../src/domain/dry-run.js';

const sources = readPolicySources(defaultPolicyDir());
const current = new CedarPolicyEngine(sources);
const tenantPolicies = sources.policies['tenant.cedar'] ?? '';
const withoutOperate = {
  ...sources.policies,
  'tenant.cedar': tenantPolicies.replace(/@id\("operate-own-or-granted-tenant"\)[\s\S]*?\};\n/, ''),
};

const request = (action: string, roles: string[], overrides: Partial<AuthzRequest> = {}): AuthzRequest => ({
  principal: { subject: `u-${roles.join('-')}`, tenantId: 'acme', roles },
  action,
  resource: { tenantId: 'acme', kind: action.split(':')[0] ?? 'x' },
  context: { mfa: false, grantedTenants: [] },
  ...overrides,
});

let n = 0;
/** A decision as the enforcer logs it, decided by the deployed policies. */
const logged = (input: AuthzRequest): DecisionRecord => {
  n += 1;
  const decision = current.decide(input);
  return {
    decisionId: `dec_${String(n).padStart(4, '0')}`,
    tenantId: 'acme',
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, 1000 - n)).toISOString(),
    traceId: `trace-${n}`,
    engine: 'cedar',
    policyVersion: decision.policyVersion,
    input,
    allow: decision.allow,
    obligations: decision.obligations,
    masks: decision.masks,
    reasons: decision.reasons,
    latencyMs: 0.1,
    source: 'route',
  };
};

const history = [
  logged(request('policy:authorize', ['operator'])),
  logged(request('experts:list', ['viewer'])),
  logged(request('policy:authorize', ['tenant-admin'])),
  logged(request('experts:get', ['tenant-admin'], { resource: { tenantId: 'globex', kind: 'experts' } })),
  logged(request('policy:authorize', ['viewer'])),
];

/** A reader over a fixed history (newest first) that remembers how much it was asked for. */
const readerOf = (records: readonly DecisionRecord[]) => {
  const asked: { tenantId: string; count: number }[] = [];
  const reader: DecisionLogReader = {
    list: async () => ({ items: [...records] }),
    recent: async (tenantId, count) => {
      asked.push({ tenantId, count });
      return records.slice(0, count);
    },
  };
  return { reader, asked };
};

const setup = (records: readonly DecisionRecord[] = history) => {
  const { reader, asked } = readerOf(records);
  const service = new DryRunService({
    reader,
    compiler: new CedarPolicyCompiler(sources.schema),
    currentVersion: () => current.policyVersion,
    running: () => ({ engine: 'opa', policyVersion: 'opa-0123456789ab' }),
  });
  return { service, asked };
};

describe('policy dry-run', () => {
  it('changes nothing when the candidate is the deployed set, and says the versions are equal', async () => {
    // Prepare
    const { service } = setup();

    // Act
    const report = await service.run('acme', sources.policies);

    // Assess
    expect(report).toEqual({
      evaluated: history.length,
      changed: [],
      candidateVersion: current.policyVersion,
      currentVersion: current.policyVersion,
      running: { engine: 'opa', policyVersion: 'opa-0123456789ab' },
    });
  });

  it('lists exactly the decisions a candidate without the operate permit turns from allow to deny', async () => {
    // Prepare
    const { service } = setup();

    // Act
    const report = await service.run('acme', withoutOperate);

    // Assess
    expect(report.candidateVersion).not.toBe(report.currentVersion);
    expect(report.changed).toEqual([
      {
        decisionId: history[0]?.decisionId,
        at: history[0]?.at,
        action: 'policy:authorize',
        decidedBy: { engine: 'cedar', policyVersion: current.policyVersion },
        before: { allow: true, obligations: [], masks: [] },
        after: { allow: false, obligations: [], masks: [] },
      },
      {
        decisionId: history[2]?.decisionId,
        at: history[2]?.at,
        action: 'policy:authorize',
        decidedBy: { engine: 'cedar', policyVersion: current.policyVersion },
        before: { allow: true, obligations: [], masks: [] },
        after: { allow: false, obligations: [], masks: [] },
      },
    ]);
  });

  it('reports a change of obligations or masks, not only of allow', () => {
    // Prepare: a candidate that no longer masks endpoints for viewers
    const unmasked = new CedarPolicyCompiler(sources.schema).compile({
      ...sources.policies,
      'tenant.cedar': tenantPolicies.replace('@mask("endpoint")\n', ''),
    });

    // Act
    const changed = diffDecisions(history, unmasked);

    // Assess
    expect(changed).toEqual([
      {
        decisionId: history[1]?.decisionId,
        at: history[1]?.at,
        action: 'experts:list',
        decidedBy: { engine: 'cedar', policyVersion: current.policyVersion },
        before: { allow: true, obligations: [], masks: ['endpoint'] },
        after: { allow: true, obligations: [], masks: [] },
      },
    ]);
  });

  it('refuses an invalid candidate with 422 and Cedar’s messages, before reading any decision', async () => {
    // Prepare
    const { service, asked } = setup();

    // Act
    const error = await refusal(
      service.run('acme', {
        'bad.cedar': '@id("x")\npermit (principal, action == Conductor::Action::"experts:purge", resource);',
      }),
    );
    const unparsable = await refusal(service.run('acme', { 'bad.cedar': 'permit (principal' }));

    // Assess
    expect([error.statusCode, error.code]).toEqual([422, 'invalid_policy_set']);
    expect(JSON.stringify(error.details)).toContain('experts:purge');
    expect([unparsable.statusCode, unparsable.code]).toEqual([422, 'invalid_policy_set']);
    expect(unparsable.details?.errors).toEqual(expect.arrayContaining([expect.any(String)]));
    expect(asked).toEqual([]);
  });

  it('refuses a candidate policy without an @id, which no decision could name as its reason', async () => {
    // Prepare
    const { service } = setup();

    // Act
    const error = await refusal(service.run('acme', { 'a.cedar': 'permit (principal, action, resource);' }));

    // Assess
    expect([error.statusCode, error.code]).toEqual([422, 'invalid_policy_set']);
    expect(error.details?.errors).toEqual(expect.arrayContaining([expect.stringContaining('needs an @id')]));
  });

  it('reads the acting tenant’s last N decisions, never more than the maximum', async () => {
    // Prepare
    const { service, asked } = setup();

    // Act
    await service.run('globex', sources.policies, 3);
    await service.run('globex', sources.policies, 50_000);

    // Assess
    expect(asked).toEqual([
      { tenantId: 'globex', count: 3 },
      { tenantId: 'globex', count: DRY_RUN_LIMIT.max },
    ]);
  });
});

describe('CedarPolicyCompiler', () => {
  it('compiles the same candidate once', () => {
    // Prepare
    const compiler = new CedarPolicyCompiler(sources.schema);

    // Act
    const first = compiler.compile(withoutOperate);
    const second = compiler.compile({ ...withoutOperate });

    // Assess
    expect(second).toBe(first);
  });
});
