import { describe, expect, it } from 'vitest';
import type { Principal } from '#shared/ports/identity.js';
import type { EnforcedDecision, EnforceInput } from '#shared/ports/policy.js';
import { refusal } from '#shared/testing/refusal.js';
import {
  type Asker,
  type AuthorizeQuestion,
  AuthorizeService,
  MAX_BATCH_REQUESTS,
} from '../../src/domain/authorize.js';

const ACTIONS = new Set(['experts:get', 'experts:list', 'policy:authorize']);

const operator = (tenantId: string): Principal => ({
  subject: `svc-${tenantId}`,
  tenantId,
  roles: ['operator'],
  amr: [],
});
const askerIn = (own: string, acting = own): Asker => ({
  principal: operator(own),
  tenantId: acting,
  traceId: 'trace-0001',
});

const question = (overrides: Partial<AuthorizeQuestion> = {}): AuthorizeQuestion => ({
  subject: { id: 'alice', tenantId: 'acme', roles: ['tenant-admin'] },
  action: 'experts:get',
  resource: { tenantId: 'globex', kind: 'experts', id: 'exp_1' },
  context: { mfa: true },
  ...overrides,
});

/** A decideMany port that records what it was asked (and in how many calls) and answers from a script. */
const fakeDecide = (answer: (input: EnforceInput, n: number) => Partial<EnforcedDecision> = () => ({})) => {
  const asked: EnforceInput[] = [];
  const calls: number[] = [];
  const decideOne = async (input: EnforceInput): Promise<EnforcedDecision> => {
    asked.push(input);
    const n = asked.length;
    const scripted = answer(input, n);
    // Answer out of order, as concurrent log writes would.
    await new Promise((resolve) => setTimeout(resolve, (10 - (n % 10)) * 2));
    return {
      allow: false,
      obligations: ['request_approval'],
      masks: [],
      reasons: ['cross-tenant-needs-approved-grant'],
      policyVersion: 'cedar-000000000001',
      decisionId: `dec_${n}`,
      ...scripted,
    };
  };
  const recordedIn: string[] = [];
  const decide = (call: {
    inputs: readonly EnforceInput[];
    recordIn: string;
  }): Promise<EnforcedDecision[]> => {
    calls.push(call.inputs.length);
    recordedIn.push(call.recordIn);
    return Promise.all(call.inputs.map(decideOne));
  };
  return { decide, asked, calls, recordedIn };
};

const setup = (answer?: Parameters<typeof fakeDecide>[0]) => {
  const fake = fakeDecide(answer);
  return {
    service: new AuthorizeService({ decide: fake.decide, declaredActions: ACTIONS }),
    asked: fake.asked,
    calls: fake.calls,
    recordedIn: fake.recordedIn,
  };
};

describe('AuthorizeService', () => {
  it('decides the body’s subject (not the caller) and answers allow, obligations, decisionId, version, reasons', async () => {
    // Prepare
    const { service, asked } = setup();

    // Act
    const answer = await service.authorize(askerIn('acme'), question());

    // Assess
    expect(answer).toEqual({
      allow: false,
      obligations: ['request_approval'],
      decisionId: 'dec_1',
      policyVersion: 'cedar-000000000001',
      reasons: ['cross-tenant-needs-approved-grant'],
    });
    expect(asked).toEqual([
      {
        principal: { subject: 'alice', tenantId: 'acme', roles: ['tenant-admin'], amr: ['mfa'] },
        action: 'experts:get',
        resource: { tenantId: 'globex', kind: 'experts', id: 'exp_1' },
        traceId: 'trace-0001',
        source: 'api',
      },
    ]);
  });

  it('has every decision recorded in the tenant the asker acts in, never the resource’s tenant', async () => {
    // Prepare
    const { service, recordedIn } = setup();

    // Act
    await service.authorize(askerIn('acme'), question());
    await service.authorizeBatch(askerIn('acme'), [question(), question()]);
    await service.authorize(
      askerIn('acme', 'globex'),
      question({
        subject: { id: 'gina', tenantId: 'globex', roles: ['viewer'] },
        resource: { tenantId: 'globex', kind: 'experts' },
      }),
    );

    // Assess
    expect(recordedIn).toEqual(['acme', 'acme', 'globex']);
  });

  it('asks with the resource classification when the question gives one', async () => {
    // Prepare
    const { service, asked } = setup();

    // Act
    await service.authorize(
      askerIn('acme'),
      question({
        action: 'experts:get',
        resource: { tenantId: 'acme', kind: 'experts', id: 'exp_2', classification: 'restricted' },
      }),
    );

    // Assess
    expect(asked[0]?.resource).toEqual({
      tenantId: 'acme',
      kind: 'experts',
      id: 'exp_2',
      classification: 'restricted',
    });
  });

  it('drops role names the engine does not know and asks without step-up unless the context says mfa', async () => {
    // Prepare
    const { service, asked } = setup();

    // Act
    await service.authorize(
      askerIn('acme'),
      question({
        subject: { id: 'bob', tenantId: 'acme', roles: ['viewer', 'root', 'superuser'] },
        context: { mfa: false },
      }),
    );

    // Assess
    expect(asked[0]?.principal).toEqual({ subject: 'bob', tenantId: 'acme', roles: ['viewer'], amr: [] });
  });

  it('refuses an action the schema does not declare, with a clear message, deciding nothing', async () => {
    // Prepare
    const { service, asked } = setup();

    // Act
    const error = await refusal(service.authorize(askerIn('acme'), question({ action: 'experts:purge' })));

    // Assess
    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('unknown_action');
    expect(error.message).toContain("Unknown action 'experts:purge'");
    expect(asked).toEqual([]);
  });

  describe('who may be asked about', () => {
    const allowed: [string, Asker, AuthorizeQuestion][] = [
      [
        'a subject of the own tenant on the own tenant',
        askerIn('acme'),
        question({ resource: { tenantId: 'acme', kind: 'experts' } }),
      ],
      ['a subject of the own tenant touching another tenant', askerIn('acme'), question()],
      [
        'a subject and resource of the tenant it acts in (by grant)',
        askerIn('acme', 'globex'),
        question({
          subject: { id: 'gina', tenantId: 'globex', roles: ['viewer'] },
          resource: { tenantId: 'globex', kind: 'experts' },
        }),
      ],
    ];
    for (const [name, asker, q] of allowed) {
      it(`answers about ${name}`, async () => {
        const { service, asked } = setup();

        await service.authorize(asker, q);

        expect(asked).toHaveLength(1);
      });
    }

    const refused: [string, Asker, AuthorizeQuestion][] = [
      [
        'a subject of another tenant (a tampered body tenant)',
        askerIn('acme'),
        question({ subject: { id: 'gina', tenantId: 'globex', roles: ['tenant-admin'] } }),
      ],
      [
        'a subject of a third tenant while acting in a granted one',
        askerIn('acme', 'globex'),
        question({
          subject: { id: 'ian', tenantId: 'initech', roles: ['viewer'] },
          resource: { tenantId: 'globex', kind: 'experts' },
        }),
      ],
      [
        'a subject of the granted tenant touching a third tenant',
        askerIn('acme', 'globex'),
        question({
          subject: { id: 'gina', tenantId: 'globex', roles: ['viewer'] },
          resource: { tenantId: 'initech', kind: 'experts' },
        }),
      ],
    ];
    for (const [name, asker, q] of refused) {
      it(`refuses a question about ${name} with 403 policy_denied, deciding nothing`, async () => {
        const { service, asked } = setup();

        const error = await refusal(service.authorize(asker, q));

        expect([error.statusCode, error.code]).toEqual([403, 'policy_denied']);
        expect(asked).toEqual([]);
      });
    }
  });

  describe('batch', () => {
    it('answers every question in request order, all decided (and logged) in one call', async () => {
      // Prepare
      const { service, calls } = setup((input) => ({
        allow: input.action === 'experts:list',
        obligations: [],
      }));
      const questions = Array.from({ length: MAX_BATCH_REQUESTS }, (_, i) =>
        question({
          action: i % 3 === 0 ? 'experts:list' : 'experts:get',
          resource: { tenantId: 'acme', kind: 'experts', id: `exp_${i}` },
        }),
      );

      // Act
      const answers = await service.authorizeBatch(askerIn('acme'), questions);

      // Assess
      expect(answers).toHaveLength(MAX_BATCH_REQUESTS);
      expect(answers.map((a) => a.allow)).toEqual(questions.map((q) => q.action === 'experts:list'));
      expect(calls).toEqual([MAX_BATCH_REQUESTS]);
    });

    it(`refuses more than ${MAX_BATCH_REQUESTS} questions, deciding none`, async () => {
      // Prepare
      const { service, asked } = setup();

      // Act
      const error = await refusal(
        service.authorizeBatch(
          askerIn('acme'),
          Array.from({ length: MAX_BATCH_REQUESTS + 1 }, () => question()),
        ),
      );

      // Assess
      expect([error.statusCode, error.code]).toEqual([400, 'batch_too_large']);
      expect(asked).toEqual([]);
    });

    it('refuses the whole batch when one question is refused, naming it, and decides none', async () => {
      // Prepare
      const { service, asked } = setup();

      // Act
      const error = await refusal(
        service.authorizeBatch(askerIn('acme'), [question(), question(), question({ action: 'nope' })]),
      );

      // Assess
      expect(error.code).toBe('unknown_action');
      expect(error.details).toEqual({
        issues: [{ path: 'body.requests.2.action', message: 'not an action of the schema' }],
      });
      expect(asked).toEqual([]);
    });
  });
});
