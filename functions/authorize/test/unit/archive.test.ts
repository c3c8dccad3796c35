import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSqsEvent } from '#shared/adapters/sqs-batch.js';
import { WormViolationError } from '#shared/ports/worm.js';
import { InMemoryWormStore, silentLogger, testSubjectHasher } from '#shared/testing/fakes.js';
import { FileWormStore } from '../../../../infra/local/worm-store.js';
import { makeArchiveConsumer } from '../../src/archive-consumer.js';
import {
  ARCHIVE_CONTENT_TYPE,
  archiveKey,
  DecisionArchiver,
  MalformedArchiveMessageError,
  planArchive,
  pseudonymized,
} from '../../src/domain/archive.js';

/** What SqsDecisionArchive sends for one decision: its record(s) as a JSON array. */
const decisionBody = (decisionId: string, at = '2026-03-01T23:59:59.999Z', tenants = ['acme']): string =>
  JSON.stringify(
    tenants.map((tenantId) => ({
      decisionId,
      tenantId,
      at,
      traceId: 'trace-1',
      engine: 'cedar',
      policyVersion: 'cedar-v1',
      input: { principal: { subject: 'alice', tenantId: 'acme', roles: ['viewer'] }, action: 'experts:list' },
      allow: true,
      obligations: [],
      masks: [],
      reasons: ['read-own-or-granted-tenant'],
      latencyMs: 0.2,
      source: 'route',
    })),
  );

let counter = 0;
const sqsRecord = (
  body: string,
  messageId = `0b7c7f9e-5d0e-4d4b-9a53-${String(++counter).padStart(12, '0')}`,
) =>
  ({
    messageId,
    receiptHandle: `rh-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '1772409599999',
      SenderId: 'AIDALOCAL',
      ApproximateFirstReceiveTimestamp: '1772409599999',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:conductor-decision-archive',
    awsRegion: 'us-east-1',
  }) satisfies SQSRecord;

const batch = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

/** The same message as SQS delivers it again: a new receipt handle and a higher receive count. */
const redelivered = (record: SQSRecord): SQSRecord => ({
  ...record,
  receiptHandle: `${record.receiptHandle}-again`,
  attributes: { ...record.attributes, ApproximateReceiveCount: '2' },
});

const setup = (store = new InMemoryWormStore()) => ({
  store,
  consume: makeArchiveConsumer({
    archiver: new DecisionArchiver(store, testSubjectHasher),
    logger: silentLogger(),
  }),
});

const KEY = /^decisions\/\d{4}\/\d{2}\/\d{2}\/\d{8}T\d{9}Z-[0-9a-f]{32}\.jsonl$/;

const linesOf = (body: string | undefined): unknown[] => {
  const lines = (body ?? '').split('\n');
  expect(lines.at(-1)).toBe('');
  return lines.slice(0, -1).map((line) => JSON.parse(line));
};

describe('the decision archiver', () => {
  it('writes a batch of three messages as exactly one JSON Lines object holding every record', async () => {
    // Prepare: one message is a cross-tenant deny (two records)
    const { store, consume } = setup();
    const messages = [
      sqsRecord(decisionBody('dec_2', '2026-03-01T10:00:00.250Z')),
      sqsRecord(decisionBody('dec_1', '2026-03-01T10:00:00.125Z', ['globex', 'acme'])),
      sqsRecord(decisionBody('dec_3', '2026-03-01T10:00:01.000Z')),
    ];

    // Act
    const response = await consume(batch(...messages));

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(store.objects.size).toBe(1);
    const [[key, stored]] = [...store.objects.entries()] as [
      [string, { body: string; contentType?: string }],
    ];
    expect(key).toMatch(KEY);
    expect(key).toBe(
      archiveKey(
        messages.map((m) => m.messageId),
        '2026-03-01T10:00:00.125Z',
      ),
    );
    expect(key.startsWith('decisions/2026/03/01/20260301T100000125Z-')).toBe(true);
    expect(stored.contentType).toBe(ARCHIVE_CONTENT_TYPE);
    // Messages in message-id order, each message's records as sent, but the caller: a keyed hash.
    const expected = [...messages]
      .sort((a, b) => (a.messageId < b.messageId ? -1 : 1))
      .flatMap((m) => JSON.parse(m.body) as { input: { principal: Record<string, unknown> } }[]);
    const alice = await testSubjectHasher.hash('alice');
    expect(linesOf(stored.body)).toEqual(
      expected.map((record) => ({
        ...record,
        input: { ...record.input, principal: { ...record.input.principal, subject: alice } },
      })),
    );
    expect(linesOf(stored.body)).toHaveLength(4);
    expect(stored.body).not.toContain('"alice"');
  });

  it('stores the people a record names only as their keyed hash: the caller and a resource’s requester', async () => {
    const record = {
      decisionId: 'dec_p',
      tenantId: 'acme',
      at: '2026-03-01T10:00:00.000Z',
      input: {
        principal: { subject: 'alice', tenantId: 'acme', roles: ['operator'] },
        action: 'runbooks:approvals:decide',
        resource: { tenantId: 'acme', kind: 'runbook-execution', requestedBy: 'bob' },
      },
      allow: false,
    };
    const out = await pseudonymized(record, testSubjectHasher);
    expect(out).toEqual({
      ...record,
      input: {
        ...record.input,
        principal: { ...record.input.principal, subject: await testSubjectHasher.hash('alice') },
        resource: { ...record.input.resource, requestedBy: await testSubjectHasher.hash('bob') },
      },
    });
    // Nothing else is touched, and a record without the fields is as sent.
    const bare = { decisionId: 'd', tenantId: 't', at: record.at };
    expect(await pseudonymized(bare, testSubjectHasher)).toEqual(bare);
    expect(record.input.principal.subject).toBe('alice');
  });

  it('derives key and content from the batch alone: the same messages in any order give the same object', () => {
    const batches = fc
      .uniqueArray(fc.record({ messageId: fc.uuid(), offsetMs: fc.integer({ min: 0, max: 86_400_000 }) }), {
        selector: (m) => m.messageId,
        minLength: 1,
        maxLength: 12,
      })
      .map((list) =>
        list.map(({ messageId, offsetMs }, i) => ({
          messageId,
          body: decisionBody(`dec_${i}`, new Date(Date.UTC(2026, 2, 1) + offsetMs).toISOString()),
        })),
      )
      .chain((messages) =>
        fc.tuple(
          fc.constant(messages),
          fc.shuffledSubarray(messages, { minLength: messages.length, maxLength: messages.length }),
        ),
      );
    fc.assert(
      fc.property(batches, ([messages, shuffled]) => {
        const one = planArchive(messages).object;
        expect(one?.key).toMatch(KEY);
        expect(planArchive(shuffled).object).toEqual(one);
      }),
      { numRuns: 50 },
    );
  });

  it('names different batches differently, and dates a key in UTC by the earliest record whatever its offset', () => {
    const key = archiveKey(['m-2', 'm-1'], '2026-03-01T23:30:00-02:00');
    expect(key).toMatch(/^decisions\/2026\/03\/02\/20260302T013000000Z-[0-9a-f]{32}\.jsonl$/);
    expect(archiveKey(['m-1', 'm-2'], '2026-03-01T23:30:00-02:00')).toBe(key);
    expect(archiveKey(['m-1', 'm-2', 'm-1'], '2026-03-01T23:30:00-02:00')).toBe(key);
    expect(archiveKey(['m-1'], '2026-03-01T23:30:00-02:00')).not.toBe(key);
    expect(archiveKey(['m-1', 'm-2', 'm-3'], '2026-03-01T23:30:00-02:00')).not.toBe(key);

    // A batch spanning midnight is filed under the day of its earliest record.
    const planned = planArchive([
      { messageId: 'late', body: decisionBody('dec_late', '2026-03-02T00:00:00.001Z') },
      { messageId: 'early', body: decisionBody('dec_early', '2026-03-01T23:59:59.999Z') },
    ]);
    expect(planned.object?.key.startsWith('decisions/2026/03/01/20260301T235959999Z-')).toBe(true);
  });

  it('reports only a malformed message, archiving the rest of the batch together', async () => {
    // Prepare
    const { store, consume } = setup();
    const good = [sqsRecord(decisionBody('dec_1')), sqsRecord(decisionBody('dec_3'))];
    const malformed = sqsRecord('{"not":"a list"}');

    // Act
    const response = await consume(batch(good[0] as SQSRecord, malformed, good[1] as SQSRecord));

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: malformed.messageId }]);
    expect(store.objects.size).toBe(1);
    const [[key, stored]] = [...store.objects.entries()] as [[string, { body: string }]];
    expect(key).toBe(
      archiveKey(
        good.map((m) => m.messageId),
        '2026-03-01T23:59:59.999Z',
      ),
    );
    expect(linesOf(stored.body).map((r) => (r as { decisionId: string }).decisionId)).toEqual([
      'dec_1',
      'dec_3',
    ]);
  });

  it('reports every well-formed message of the batch when the one write fails (the store is down)', async () => {
    // Prepare
    const attempts: string[] = [];
    const failing = {
      putOnce: async (key: string) => {
        attempts.push(key);
        throw new Error('S3 is unavailable');
      },
    };
    const consume = makeArchiveConsumer({
      archiver: new DecisionArchiver(failing, testSubjectHasher),
      logger: silentLogger(),
    });
    const good = [sqsRecord(decisionBody('dec_1')), sqsRecord(decisionBody('dec_2'))];
    const malformed = sqsRecord('not json');

    // Act
    const response = await consume(batch(good[0] as SQSRecord, malformed, good[1] as SQSRecord));

    // Assess
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      [malformed, ...good].map((m) => m.messageId).sort(),
    );
    expect(attempts).toEqual([
      archiveKey(
        good.map((m) => m.messageId),
        '2026-03-01T23:59:59.999Z',
      ),
    ]);
  });

  it('puts a message failing its last delivery on the DLQ with its error; earlier deliveries come back', async () => {
    // Prepare
    const { store } = setup();
    const dead: { messageId: string; error: unknown }[] = [];
    const consume = makeArchiveConsumer({
      archiver: new DecisionArchiver(store, testSubjectHasher),
      logger: silentLogger(),
      deadLetters: {
        isLastAttempt: (r) => Number(r.attributes.ApproximateReceiveCount) >= 5,
        send: async (r, error) => {
          dead.push({ messageId: r.messageId, error });
        },
      },
    });
    const good = sqsRecord(decisionBody('dec_1'));
    const early = sqsRecord('not json');
    const last = { ...sqsRecord('{"not":"a list"}') };
    const lastDelivery: SQSRecord = {
      ...last,
      attributes: { ...last.attributes, ApproximateReceiveCount: '5' },
    };

    // Act
    const response = await consume(batch(good, early, lastDelivery));

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: early.messageId }]);
    expect(dead.map((d) => d.messageId)).toEqual([lastDelivery.messageId]);
    expect(dead[0]?.error).toBeInstanceOf(Error);
    expect(store.objects.size).toBe(1);
  });

  it('is idempotent: the same batch delivered again succeeds and leaves the one object as it was', async () => {
    // Prepare
    const { store, consume } = setup();
    const messages = [sqsRecord(decisionBody('dec_1')), sqsRecord(decisionBody('dec_2'))];
    await consume(batch(...messages));
    const before = [...store.objects.entries()];

    // Act: SQS delivers at least once, with new receipt handles, higher receive counts, in any order
    const again = await consume(batch(...messages.map(redelivered)));
    const reversed = await consume(batch(...[...messages].reverse().map(redelivered)));
    const duplicated = await consume(batch(...messages, messages[0] as SQSRecord));

    // Assess
    expect(again).toEqual({ batchItemFailures: [] });
    expect(reversed).toEqual({ batchItemFailures: [] });
    expect(duplicated).toEqual({ batchItemFailures: [] });
    expect([...store.objects.entries()]).toEqual(before);
  });

  it('is idempotent on the embedded runtime’s file WORM store too: a second delivery adds no object', async () => {
    // Prepare
    const root = mkdtempSync(join(tmpdir(), 'conductor-archive-'));
    try {
      const store = new FileWormStore(root);
      const consume = makeArchiveConsumer({
        archiver: new DecisionArchiver(store, testSubjectHasher),
        logger: silentLogger(),
      });
      const messages = [sqsRecord(decisionBody('dec_1')), sqsRecord(decisionBody('dec_2'))];
      await consume(batch(...messages));
      const keys = await store.keys('decisions');

      // Act
      const again = await consume(batch(...[...messages].reverse().map(redelivered)));

      // Assess
      expect(again).toEqual({ batchItemFailures: [] });
      expect(keys).toHaveLength(1);
      expect(await store.keys('decisions')).toEqual(keys);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('is at least once: a message redelivered in another batch is in a second object, with its decisionId', async () => {
    // Prepare: the first batch was archived, but the answer was lost for dec_1's message
    const { store, consume } = setup();
    const first = sqsRecord(decisionBody('dec_1'));
    await consume(batch(first, sqsRecord(decisionBody('dec_2'))));

    // Act: it comes back beside a new message
    await consume(batch(redelivered(first), sqsRecord(decisionBody('dec_3'))));

    // Assess: readers dedupe on decisionId
    const ids = [...store.objects.values()].flatMap(({ body }) =>
      linesOf(body).map((r) => (r as { decisionId: string }).decisionId),
    );
    expect(store.objects.size).toBe(2);
    expect(ids.filter((id) => id === 'dec_1')).toHaveLength(2);
    expect(new Set(ids)).toEqual(new Set(['dec_1', 'dec_2', 'dec_3']));
  });

  it('never overwrites: other content under the batch key fails the whole batch and stays as it was', async () => {
    // Prepare
    const { store, consume } = setup();
    const messages = [sqsRecord(decisionBody('dec_1')), sqsRecord(decisionBody('dec_2'))];
    const key = archiveKey(
      messages.map((m) => m.messageId),
      '2026-03-01T23:59:59.999Z',
    );
    await store.putOnce(key, 'something else\n');

    // Act
    const response = await consume(batch(...messages));
    const direct = await new DecisionArchiver(store, testSubjectHasher).archive(messages);

    // Assess
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      messages.map((m) => m.messageId).sort(),
    );
    expect(direct.write).toMatchObject({ status: 'failed', key });
    expect(direct.write.status === 'failed' && direct.write.error).toBeInstanceOf(WormViolationError);
    expect(await store.get(key)).toBe('something else\n');
  });

  it('writes nothing when no message of the batch is well-formed, and reports each', async () => {
    // Prepare
    const { store, consume } = setup();
    const messages = [sqsRecord('[]'), sqsRecord('null')];

    // Act
    const response = await consume(batch(...messages));

    // Assess
    expect(response.batchItemFailures).toEqual(messages.map((m) => ({ itemIdentifier: m.messageId })));
    expect(store.objects.size).toBe(0);
  });

  it('refuses bodies that are not a non-empty list of decision records dated within years 0000-9999', () => {
    const bodies = [
      'not json',
      '[]',
      '{"decisionId":"d","tenantId":"t","at":"2026-03-01T00:00:00Z"}',
      '[{"decisionId":"d"}]',
      '[{"decisionId":"d","tenantId":"t","at":"yesterday"}]',
      '[{"decisionId":"","tenantId":"t","at":"2026-03-01T00:00:00Z"}]',
      '[{"decisionId":"d","tenantId":"t","at":"9999-12-31T23:59:59-05:00"}]',
    ];
    const plan = planArchive(bodies.map((body, i) => ({ messageId: `m-${i}`, body })));
    expect(plan.object).toBeUndefined();
    expect(plan.malformed.map((m) => m.messageId)).toEqual(bodies.map((_, i) => `m-${i}`));
    expect(plan.malformed.every((m) => m.error instanceof MalformedArchiveMessageError)).toBe(true);
  });
});

describe('isSqsEvent', () => {
  it('tells an SQS batch from an API Gateway request', () => {
    expect(isSqsEvent(batch(sqsRecord('[]')))).toBe(true);
    expect(isSqsEvent({ version: '2.0', routeKey: 'GET /x', rawPath: '/x', requestContext: {} })).toBe(false);
    expect(isSqsEvent({ Records: [{ eventSource: 'aws:s3' }] })).toBe(false);
    expect(isSqsEvent({ Records: [] })).toBe(false);
    expect(isSqsEvent(null)).toBe(false);
  });
});
