import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { CedarPolicyEngine } from '#shared/policy/cedar.js';
import { defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import type { AuthzRequest, DecisionRecord } from '#shared/ports/policy.js';
import { refusal } from '#shared/testing/refusal.js';
import { CedarPolicyCompiler } from '../../src/adapters/cedar-candidates.js';
import type { DecisionLogReader } from '../../src/domain/decisions.js';
import {
  DRY_RUN_CANDIDATE_LIMITS,
  DRY_RUN_LIMIT,
  DryRunService,
  diffDecisions,
} from '../../src/domain/dry-run.js';

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

/** `n` small valid policies, each with an @id of its own. */
const manyPolicies = (n: number, prefix = 'p'): string =>
  Array.from(
    { length: n },
    (_, i) =>
      `@id("${prefix}-${i}")\npermit (principal, action == Conductor::Action::"experts:get", resource);`,
  ).join('\n');

describe('policy dry-run: the size of a candidate', () => {
  it('refuses policy text over 64 KiB with 413 payload_too_large, before compiling or reading', async () => {
    // Prepare: one policy, padded with a comment to one byte over the limit
    const { service, asked } = setup();
    const policy = manyPolicies(1);
    const padding = `// ${'x'.repeat(DRY_RUN_CANDIDATE_LIMITS.textBytes - policy.length - 3)}\n`;
    const atLimit = { 'a.cedar': padding.slice(0, -1), 'b.cedar': policy };
    const overLimit = { 'a.cedar': padding, 'b.cedar': policy };

    // Act
    const accepted = await service.run('acme', atLimit);
    const error = await refusal(service.run('acme', overLimit));

    // Assess
    expect(DRY_RUN_CANDIDATE_LIMITS.textBytes).toBe(65_536);
    expect(accepted.evaluated).toBe(history.length);
    expect([error.statusCode, error.code]).toEqual([413, 'payload_too_large']);
    expect(error.message).toContain('65536 bytes');
    expect(asked).toHaveLength(1);
  });

  it('counts UTF-8 bytes, not characters', async () => {
    // Prepare: 40 000 characters, 80 000 bytes
    const { service, asked } = setup();
    const wide = { 'a.cedar': `// ${'é'.repeat(40_000)}\n${manyPolicies(1)}` };

    // Act
    const error = await refusal(service.run('acme', wide));

    // Assess
    expect([error.statusCode, error.code]).toEqual([413, 'payload_too_large']);
    expect(asked).toEqual([]);
  });

  it('refuses more than 256 policies with 413, and takes 256', async () => {
    // Prepare: spread over two files, which are counted together
    const { service, asked } = setup();
    const max = DRY_RUN_CANDIDATE_LIMITS.policies;

    // Act
    const accepted = await service.run('acme', {
      'a.cedar': manyPolicies(max - 10, 'a'),
      'b.cedar': manyPolicies(10, 'b'),
    });
    const error = await refusal(
      service.run('acme', { 'a.cedar': manyPolicies(max - 10, 'a'), 'b.cedar': manyPolicies(11, 'b') }),
    );

    // Assess
    expect(max).toBe(256);
    expect(accepted.evaluated).toBe(history.length);
    expect([error.statusCode, error.code]).toEqual([413, 'payload_too_large']);
    expect(error.details).toEqual({ policies: 257, maxPolicies: 256 });
    expect(asked).toHaveLength(1);
  });
});

describe('policy dry-run: memory', () => {
  /** Collects garbage when asked to (vitest runs without --expose-gc): transient buffers must not count. */
  const collectGarbage = (() => {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  })();

  /** A distinct valid candidate of about 60 KB: 8 policies of 7.5 KB. */
  const bigCandidate = (n: number) => ({
    'big.cedar': Array.from(
      { length: 8 },
      (_, i) =>
        `@id("big-${n}-${i}")\npermit (principal, action in Conductor::Action::"read", resource)\n` +
        `when { principal.subject == "${'s'.repeat(7_400)}-${n}-${i}" };`,
    ).join('\n'),
  });

  it('100 distinct candidates of 60 KB leave the memory outside the JS heap (Cedar’s wasm) flat: under 8 MB of growth', () => {
    // Prepare: Cedar's wasm memory is counted in process.memoryUsage().external and never shrinks.
    // With a new preparsed set per candidate, these 100 took 28 MB of it; with the pool, none.
    const compiler = new CedarPolicyCompiler(sources.schema);
    const record = logged(request('experts:list', ['viewer']));
    // Warm up: the pool of preparsed names fills, Cedar's allocator reaches its working size.
    for (let n = 0; n < 20; n += 1) diffDecisions([record], compiler.compile(bigCandidate(1000 + n)));
    collectGarbage();
    const before = process.memoryUsage().external;

    // Act
    for (let n = 0; n < 100; n += 1) {
      const candidate = bigCandidate(n);
      expect(Buffer.byteLength(candidate['big.cedar'])).toBeGreaterThan(60_000);
      diffDecisions([record], compiler.compile(candidate));
    }
    collectGarbage();
    const growth = process.memoryUsage().external - before;

    // Assess
    expect(growth).toBeLessThan(8 * 1024 * 1024);
  }, 60_000);
});
