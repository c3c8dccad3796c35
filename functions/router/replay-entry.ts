import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { type LastAttemptDeadLetters, settleSqsBatch } from '#shared/adapters/sqs-batch.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { type Clock, randomIds } from '#shared/ports/system.js';
import { DynamoDecisionLog } from './src/adapters/dynamo-decision-log.js';
import { dynamoModelStore } from './src/adapters/dynamo-model-store.js';
import {
  type LatestReplay,
  type ReplayJob,
  ReplayJobService,
  type ReplayJobServiceDeps,
} from './src/domain/replay-jobs.js';
import { RouterConfigService } from './src/domain/router-config.js';

/**
 * What the router pillar exports for its third entry point, the replay function
 * (`functions/replay/src/handler.ts`): the replay queue's handler, wired to the router table. One job
 * per message: the job's record says what to replay; the function reads the range's decisions and
 * rewards and writes the result into it. A job that fails on bad data ends `failed` with its reason
 * (and the message is done); a table error is retried by SQS, then dead-lettered with its error.
 */
export interface ReplayEntryDeps {
  readonly doc: DynamoDBDocumentClient;
  /** The router table (ROUTER_TABLE_NAME). */
  readonly tableName: string;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly deadLetters?: LastAttemptDeadLetters | undefined;
}

const replayMessageSchema = z.strictObject({ tenantId: z.string().min(1), jobId: z.string().min(1) });

/** The replay job service over the router table (the router function queues, the replay function runs). */
export const replayJobsOn = (
  doc: DynamoDBDocumentClient,
  tableName: string,
  clock: Clock,
  queue: ReplayJobServiceDeps['queue'],
  configs: Pick<RouterConfigService, 'get'>,
): ReplayJobService =>
  new ReplayJobService({
    jobs: new TenantRecordStore<ReplayJob>(doc, tableName, 'REPLAY_JOB'),
    latest: new TenantRecordStore<LatestReplay>(doc, tableName, 'REPLAY_LATEST'),
    log: new DynamoDecisionLog(doc, tableName),
    models: dynamoModelStore(doc, tableName),
    queue,
    configs,
    clock,
    ids: randomIds,
    elapsedMs: () => performance.now(),
  });

export const makeReplayEntry = (deps: ReplayEntryDeps): ((event: SQSEvent) => Promise<SQSBatchResponse>) => {
  const configs = new RouterConfigService({
    repository: new TenantRecordStore(deps.doc, deps.tableName, 'ROUTER_CONFIG'),
    experts: { get: async () => undefined },
    clock: deps.clock,
    cacheMs: 0,
  });
  const jobs = replayJobsOn(
    deps.doc,
    deps.tableName,
    deps.clock,
    {
      send: async () => {
        throw new Error('the replay function runs jobs; it queues none');
      },
    },
    configs,
  );
  return async (event) => {
    const failed = new Map<string, unknown>();
    for (const record of event.Records) {
      try {
        const { tenantId, jobId } = replayMessageSchema.parse(JSON.parse(record.body));
        const job = await jobs.run(tenantId, jobId);
        deps.logger.info('replay job ran', {
          tenantId,
          jobId,
          status: job?.status ?? 'missing',
          ...(job?.result ? { rewarded: job.result.rewarded, passed: job.result.passed } : {}),
          ...(job?.error ? { error: job.error.code } : {}),
        });
      } catch (error) {
        failed.set(record.messageId, error);
      }
    }
    return settleSqsBatch(event, failed, {
      deadLetters: deps.deadLetters,
      onFailure: ({ record, error, fate }) =>
        deps.logger.error(
          fate === 'dead-lettered'
            ? 'replay job not run on its last delivery; put on the DLQ with its error'
            : 'replay job not run; the message will be redelivered',
          {
            messageId: record.messageId,
            error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
          },
        ),
    });
  };
};
