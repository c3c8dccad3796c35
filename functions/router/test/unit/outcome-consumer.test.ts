import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '#shared/testing/fakes.js';
import { JOB_OUTCOME_KIND } from '../../messages.js';
import type { OutcomeInput } from '../../src/domain/outcomes.js';
import { UnknownTaskError } from '../../src/domain/outcomes.js';
import { makeOutcomeBatchHandler } from '../../src/outcome-consumer.js';

const record = (messageId: string, body: unknown): SQSRecord => ({
  messageId,
  receiptHandle: `r-${messageId}`,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  attributes: {
    ApproximateReceiveCount: '1',
    SentTimestamp: '1772355600000',
    SenderId: 'scheduler-worker',
    ApproximateFirstReceiveTimestamp: '1772355600000',
  },
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:conductor-job-outcomes',
  awsRegion: 'us-east-1',
});

const outcome = (taskId: string) => ({
  kind: JOB_OUTCOME_KIND,
  tenantId: 'acme',
  taskId,
  status: 'ok',
  latencyMs: 120,
  traceId: 't-1',
});

describe('the job-outcomes queue consumer', () => {
  it('records each routed job’s outcome as POST router/outcome would, in its tenant, and fails only the bad messages', async () => {
    // Prepare
    const reported: { tenantId: string; input: OutcomeInput; traceId: string }[] = [];
    const handle = makeOutcomeBatchHandler({
      logger: silentLogger(),
      outcomes: {
        report: async (tenantId, input, traceId) => {
          await Promise.resolve();
          if (input.taskId === 'job_unknown') throw new UnknownTaskError(input.taskId);
          reported.push({ tenantId, input, traceId });
          return { ...input, decisionId: 'dec_1', expertId: 'exp_1', duplicate: false };
        },
      },
    });

    // Act
    const response = await handle({
      Records: [
        record('m-1', outcome('job_1')),
        record('m-2', outcome('job_unknown')),
        record('m-3', { ...outcome('job_3'), status: 'maybe' }),
        record('m-4', 'not json'),
      ],
    });

    // Assess
    expect(reported).toEqual([
      { tenantId: 'acme', input: { taskId: 'job_1', status: 'ok', latencyMs: 120 }, traceId: 't-1' },
    ]);
    expect(response.batchItemFailures.map((failure) => failure.itemIdentifier).sort()).toEqual([
      'm-2',
      'm-3',
      'm-4',
    ]);
  });
});
