import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { isSqsEvent } from '#shared/sqs-batch.js';
import { InMemoryWormStore, silentLogger } from '#shared/testing/fakes.js';
import { WormViolationError } from '#shared/worm.js';
import { makeArchiveConsumer } from '../../src/archive-consumer.js';
import {
  ARCHIVE_CONTENT_TYPE,
  archiveKey,
  DecisionArchiver,
  MalformedArchiveMessageError,
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

const setup = (store = new InMemoryWormStore()) => ({
  store,
  consume: makeArchiveConsumer({ archiver: new DecisionArchiver(store), logger: silentLogger() }),
});

describe('the decision archiver', () => {
  it('writes each message as one JSON Lines object, keyed by the first record’s UTC date and the message id', async () => {
    // Prepare
    const { store, consume } = setup();
    const message = sqsRecord(decisionBody('dec_1', '2026-03-01T23:59:59.999Z', ['globex', 'acme']));

    // Act
    const response = await consume(batch(message));

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    const key = `decisions/2026/03/01/${message.messageId}.jsonl`;
    const stored = store.objects.get(key);
    expect(stored?.contentType).toBe(ARCHIVE_CONTENT_TYPE);
    const lines = stored?.body.split('\n') ?? [];
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1).map((line) => JSON.parse(line))).toEqual(JSON.parse(message.body));
  });

  it('dates a key in UTC whatever the offset of the record’s time', () => {
    expect(archiveKey('m-1', '2026-03-01T23:30:00-02:00')).toBe('decisions/2026/03/02/m-1.jsonl');
  });

  it('is idempotent: a redelivered message succeeds and leaves the one object as it was', async () => {
    // Prepare
    const { store, consume } = setup();
    const message = sqsRecord(decisionBody('dec_1'));
    await consume(batch(message));
    const before = [...store.objects.entries()];

    // Act: SQS delivers at least once, with a new receipt handle and a higher receive count
    const again = await consume(
      batch({
        ...message,
        receiptHandle: 'rh-second',
        attributes: { ...message.attributes, ApproximateReceiveCount: '2' },
      }),
    );
    const twiceInOneBatch = await consume(batch(message, message));

    // Assess
    expect(again).toEqual({ batchItemFailures: [] });
    expect(twiceInOneBatch).toEqual({ batchItemFailures: [] });
    expect([...store.objects.entries()]).toEqual(before);
  });

  it('reports only the message that failed, archiving the rest of the batch', async () => {
    // Prepare: the store refuses one key (a WORM conflict), and one message is not a decision list
    const store = new InMemoryWormStore();
    const { consume } = setup(store);
    const good = [sqsRecord(decisionBody('dec_1')), sqsRecord(decisionBody('dec_3'))];
    const conflicting = sqsRecord(decisionBody('dec_2'));
    const conflictKey = `decisions/2026/03/01/${conflicting.messageId}.jsonl`;
    await store.putOnce(conflictKey, 'something else\n');
    const malformed = sqsRecord('{"not":"a list"}');

    // Act
    const response = await consume(batch(good[0] as SQSRecord, conflicting, malformed, good[1] as SQSRecord));

    // Assess
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: conflicting.messageId },
      { itemIdentifier: malformed.messageId },
    ]);
    for (const message of good) {
      expect(store.objects.has(`decisions/2026/03/01/${message.messageId}.jsonl`)).toBe(true);
    }
    expect(await store.get(conflictKey)).toBe('something else\n');
    expect(store.objects.size).toBe(3);
  });

  it('reports a message whose write fails (the store is down), so SQS redelivers it', async () => {
    // Prepare
    const attempts: string[] = [];
    const failing = {
      putOnce: async (key: string) => {
        attempts.push(key);
        throw new Error('S3 is unavailable');
      },
    };
    const consume = makeArchiveConsumer({ archiver: new DecisionArchiver(failing), logger: silentLogger() });
    const message = sqsRecord(decisionBody('dec_1'));

    // Act
    const response = await consume(batch(message));

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: message.messageId }]);
    expect(attempts).toEqual([`decisions/2026/03/01/${message.messageId}.jsonl`]);
  });

  it('refuses bodies that are not a non-empty list of dated decision records', async () => {
    const archiver = new DecisionArchiver(new InMemoryWormStore());
    for (const body of [
      'not json',
      '[]',
      '[{"decisionId":"d"}]',
      '[{"decisionId":"d","tenantId":"t","at":"yesterday"}]',
    ]) {
      await expect(archiver.archive({ messageId: 'm-1', body })).rejects.toBeInstanceOf(
        MalformedArchiveMessageError,
      );
    }
  });

  it('never overwrites: a different body under the same message id is a WORM violation', async () => {
    // Prepare
    const archiver = new DecisionArchiver(new InMemoryWormStore());
    await archiver.archive({ messageId: 'm-1', body: decisionBody('dec_1') });

    // Act
    const rewrite = archiver.archive({ messageId: 'm-1', body: decisionBody('dec_forged') });

    // Assess
    await expect(rewrite).rejects.toBeInstanceOf(WormViolationError);
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
