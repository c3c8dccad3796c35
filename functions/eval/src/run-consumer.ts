import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { type LastAttemptDeadLetters, processSqsBatch } from '#shared/adapters/sqs-batch.js';
import type { EvalService, ExecuteDeps, RunRecord } from './domain/runs.js';

const runMessageSchema = z.strictObject({
  tenantId: z.string().min(1),
  runId: z.string().regex(/^run_[A-Za-z0-9-]{1,64}$/),
  traceId: z.string().min(1),
});

export interface RunBatchDeps {
  readonly service: Pick<EvalService, 'execute' | 'markFailed'>;
  readonly execute: ExecuteDeps;
  readonly logger: Pick<Logger, 'info' | 'error'>;
  readonly onRun?: (run: RunRecord) => void;
  readonly deadLetters?: LastAttemptDeadLetters | undefined;
}

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/**
 * The eval queue's consumer (transport <-> domain for SQS): each message is a run, executed once
 * (EvalService.execute skips a run already done, or claimed by another delivery, and answers nothing:
 * only a run executed here is logged and counted). A message that fails (the table
 * or the artifacts store unavailable) is reported as a batch item failure and comes back; on its last
 * delivery the kernel puts it on the DLQ with its error.
 */
export const makeRunBatchHandler =
  (deps: RunBatchDeps) =>
  (event: SQSEvent): Promise<SQSBatchResponse> =>
    processSqsBatch(
      event,
      async (record) => {
        const message = runMessageSchema.parse(JSON.parse(record.body));
        let run: RunRecord | undefined;
        try {
          run = await deps.service.execute(message, deps.execute);
        } catch (error) {
          // On its last delivery the run says why it failed before its message goes to the DLQ
          // (best effort: the DLQ message carries the error too).
          if (deps.deadLetters?.isLastAttempt(record)) {
            await deps.service.markFailed(message, error).catch((markError: unknown) =>
              deps.logger.error('eval run not marked failed', {
                runId: message.runId,
                error: describeError(markError),
              }),
            );
          }
          throw error;
        }
        if (run) {
          deps.logger.info('eval run done', { runId: run.id, phase: run.phase, verdict: run.verdict });
          deps.onRun?.(run);
        }
      },
      {
        deadLetters: deps.deadLetters,
        onFailure: ({ record, error, fate }) =>
          deps.logger.error(
            fate === 'dead-lettered'
              ? 'eval run not processed on its last delivery; put on the DLQ with its error'
              : 'eval run not processed; the message will be redelivered',
            { messageId: record.messageId, error: describeError(error) },
          ),
      },
    );
