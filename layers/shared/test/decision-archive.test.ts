import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ServiceUnavailableError } from '#shared/errors.js';
import {
  DecisionArchiveMessageTooLargeError,
  MAX_ARCHIVE_MESSAGE_BYTES,
  NoArchive,
  SqsDecisionArchive,
} from '#shared/policy/archive.js';
import { policyAuthorizer } from '#shared/policy/enforcement.js';
import { PolicyEnforcer } from '#shared/policy/enforcer.js';
import type { ConductorEvent } from '#shared/ports/events.js';
import type {
  DecisionArchive,
  DecisionLog,
  DecisionRecord,
  EnforceInput,
  PolicyEngine,
} from '#shared/ports/policy.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { httpEvent, principalClaims } from '#shared/testing/events.js';
import { InMemoryTenantRecords, silentLogger } from '#shared/testing/fakes.js';
import { invoke } from '#shared/testing/invoke.js';
import { makeRouterApp } from '../../../functions/router/src/app.js';
import { type Expert, ExpertService } from '../../../functions/router/src/domain/experts.js';
import { inMemoryRouting } from '../../../functions/router/test/support/routing-fakes.js';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/conductor-decision-archive';

const engine = (allow: boolean): PolicyEngine => ({
  name: 'cedar',
  policyVersion: 'cedar-test',
  decide: () => ({
    allow,
    obligations: [],
    masks: [],
    reasons: ['test-policy'],
    policyVersion: 'cedar-test',
  }),
});

const acmeReads: EnforceInput = {
  principal: { subject: 'alice', tenantId: 'acme', roles: ['viewer'], amr: [] },
  action: 'experts:list',
  resource: { tenantId: 'acme', kind: 'experts' },
  traceId: 'trace-archive-test',
};

const record = (decisionId: string): DecisionRecord => ({
  decisionId,
  tenantId: 'acme',
  at: '2026-03-01T10:00:00.000Z',
  traceId: 't',
  engine: 'cedar',
  policyVersion: 'cedar-test',
  input: {
    principal: { subject: 'alice', tenantId: 'acme', roles: ['viewer'] },
    action: 'experts:list',
    resource: { tenantId: 'acme', kind: 'experts' },
    context: { mfa: false, grantedTenants: [] },
  },
  allow: true,
  obligations: [],
  masks: [],
  reasons: ['test-policy'],
  latencyMs: 0.1,
  source: 'route',
});

/** A store that records what it was given, or fails with `failure`. */
const recorder = (failure?: Error) => {
  const batches: (readonly DecisionRecord[])[] = [];
  const write = async (records: readonly DecisionRecord[]): Promise<void> => {
    if (failure) throw failure;
    batches.push(records);
  };
  return { batches, log: { record: write } satisfies DecisionLog, archive: { append: write } };
};

const enforcerWith = (deps: { log: DecisionLog; archive: DecisionArchive; allow?: boolean }) => {
  const published: ConductorEvent[] = [];
  const enforcer = new PolicyEnforcer({
    engine: engine(deps.allow ?? true),
    grants: { grantedTenants: async () => [] },
    log: deps.log,
    archive: deps.archive,
    events: { publish: async (events) => void published.push(...events) },
    clock: new ManualClock('2026-03-01T10:00:00.000Z'),
    ids: new SequentialIds(),
    logger: silentLogger(),
  });
  return { enforcer, published };
};

describe('PolicyEnforcer and the decision archive', () => {
  it('writes the hot log and hands off to the archive concurrently, with the same records', async () => {
    // Prepare: both writes wait on one gate, so a sequential enforcer would only ever start the first
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const started: string[] = [];
    const written: Record<string, readonly DecisionRecord[]> = {};
    const { enforcer } = enforcerWith({
      log: {
        record: async (records) => {
          started.push('log');
          await gate;
          written.log = records;
        },
      },
      archive: {
        append: async (records) => {
          started.push('archive');
          await gate;
          written.archive = records;
        },
      },
    });

    // Act
    const deciding = enforcer.decide({ ...acmeReads, resource: { tenantId: 'globex', kind: 'experts' } });
    await vi.waitFor(() => expect(started).toHaveLength(2));
    open();
    const decision = await deciding;

    // Assess
    expect(started.sort()).toEqual(['archive', 'log']);
    expect(written.archive).toEqual(written.log);
    // A cross-tenant attempt: one copy for each tenant, in both stores.
    expect(written.archive?.map((r) => [r.decisionId, r.tenantId])).toEqual([
      [decision.decisionId, 'globex'],
      [decision.decisionId, 'acme'],
    ]);
  });

  it('answers nothing when the archive hand-off fails: 503 decision_not_recorded, no event', async () => {
    // Prepare
    const hot = recorder();
    const { enforcer, published } = enforcerWith({
      log: hot.log,
      archive: recorder(new Error('SQS is throttling')).archive,
      allow: false,
    });

    // Act
    const decided = enforcer.decide(acmeReads);
    const enforced = enforcer.enforce(acmeReads);

    // Assess
    await expect(decided).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(enforced).rejects.toMatchObject({
      statusCode: 503,
      code: 'decision_not_recorded',
      headers: { 'Retry-After': '1' },
    });
    expect(hot.batches).toHaveLength(2); // the hot write was attempted alongside, not instead
    expect(published).toEqual([]);
  });

  it('answers nothing when the hot log fails, although the archive took the records', async () => {
    // Prepare
    const archive = recorder();
    const { enforcer } = enforcerWith({
      log: recorder(new Error('DynamoDB is throttling')).log,
      archive: archive.archive,
    });

    // Act
    const decided = enforcer.decide(acmeReads);

    // Assess
    await expect(decided).rejects.toMatchObject({ statusCode: 503, code: 'decision_not_recorded' });
    expect(archive.batches).toHaveLength(1);
  });

  it('never runs the route when the decision cannot be archived: the request is a 503 and nothing is stored', async () => {
    // Prepare
    const experts = new InMemoryTenantRecords<Expert>('EXPERT');
    const { enforcer } = enforcerWith({
      log: recorder().log,
      archive: recorder(new Error('queue unavailable')).archive,
    });
    const app = makeRouterApp({
      logger: silentLogger(),
      experts: new ExpertService({
        repository: experts,
        endpointPolicy: () => ({ ok: true }),
        clock: new ManualClock(),
        ids: new SequentialIds(),
      }),
      ...inMemoryRouting(experts).appDeps,
      authorize: policyAuthorizer(enforcer),
    });

    // Act
    const reply = await invoke(
      app,
      httpEvent({
        method: 'POST',
        path: '/experts',
        claims: principalClaims({ tenant: 'acme', roles: ['admin'] }),
        body: {
          name: 'large-model',
          type: 'model',
          costPerCallUsd: 0.002,
          endpoint: 'https://models.example.com/v1/complete',
        },
      }),
    );

    // Assess
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('1');
    expect(reply.body).toMatchObject({ code: 'decision_not_recorded' });
    expect(reply.text).not.toContain('queue unavailable');
    expect(experts.all()).toEqual([]);
  });

  it('answers once both writes succeeded', async () => {
    // Prepare
    const hot = recorder();
    const archive = recorder();
    const { enforcer } = enforcerWith({ log: hot.log, archive: archive.archive });

    // Act
    const decision = await enforcer.enforce(acmeReads);

    // Assess
    expect(decision.allow).toBe(true);
    expect(hot.batches.flat().map((r) => r.decisionId)).toEqual([decision.decisionId]);
    expect(archive.batches.flat().map((r) => r.decisionId)).toEqual([decision.decisionId]);
  });
});

describe('SqsDecisionArchive', () => {
  const client = new SQSClient({ region: 'us-east-1' });
  const sqs = mockClient(client);
  afterEach(() => sqs.reset());

  it('sends one message per hand-off: the records as a JSON array', async () => {
    // Prepare
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    const archive = new SqsDecisionArchive(client, QUEUE_URL);
    const records = [record('dec_1'), { ...record('dec_1'), tenantId: 'globex' }];

    // Act
    await archive.append(records);

    // Assess
    expect(sqs).toHaveReceivedCommandTimes(SendMessageCommand, 1);
    expect(sqs).toHaveReceivedCommandWith(SendMessageCommand, { QueueUrl: QUEUE_URL });
    const body = sqs.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody ?? '';
    expect(JSON.parse(body)).toEqual(records);
  });

  it('fails when SQS does not accept the message (the enforcer then answers 503)', async () => {
    // Prepare
    sqs.on(SendMessageCommand).rejects(new Error('ServiceUnavailable'));
    const archive = new SqsDecisionArchive(client, QUEUE_URL);

    // Act
    const appended = archive.append([record('dec_1')]);

    // Assess
    await expect(appended).rejects.toThrow('ServiceUnavailable');
  });

  it('refuses a message over 256 KB rather than truncating it, and sends nothing for no records', async () => {
    // Prepare
    const archive = new SqsDecisionArchive(client, QUEUE_URL);
    const huge = { ...record('dec_big'), reasons: ['x'.repeat(MAX_ARCHIVE_MESSAGE_BYTES)] };

    // Act
    const tooLarge = archive.append([huge]);
    await archive.append([]);

    // Assess
    await expect(tooLarge).rejects.toBeInstanceOf(DecisionArchiveMessageTooLargeError);
    expect(sqs).not.toHaveReceivedCommand(SendMessageCommand);
  });

  it('has a no-op sibling for unit tests', async () => {
    await expect(new NoArchive().append([record('dec_1')])).resolves.toBeUndefined();
  });
});
