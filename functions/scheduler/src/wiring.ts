import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CachedRecordReads } from '#shared/adapters/cached-records.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import type { Clock } from '#shared/ports/system.js';
import { tenantMetricsFor } from '#shared/telemetry.js';
import type { JobPriority } from '../events.js';
import { DynamoLedgerStore } from './adapters/ledger-dynamodb.js';
import { BudgetLedger } from './domain/budget-ledger.js';
import type { Budget, BudgetStatus } from './domain/budgets.js';
import { messageGroupOf, type TenantWeights } from './domain/fair-share.js';
import type { JobMessage, JobQueue } from './domain/jobs.js';

/**
 * Adapters both scheduler functions build the same way (the API and the worker): the budget
 * records and their ledgers, and the per-priority queues.
 */

/** How long a budget read stays cached: a changed limit or policy applies within it. */
export const BUDGET_CACHE_TTL_MS = 10_000;
/** Ledger items outlive their window by a year (carry-over reads the previous one; state history). */
export const LEDGER_TTL_SECONDS = 400 * 24 * 60 * 60;

export const budgetStores = (doc: Pick<DynamoDBDocumentClient, 'send'>, tableName: string, clock: Clock) => ({
  budgets: new CachedRecordReads<Budget>(new TenantRecordStore<Budget>(doc, tableName, 'BUDGET'), {
    ttlMs: BUDGET_CACHE_TTL_MS,
    clock,
  }),
  ledger: new BudgetLedger({ store: new DynamoLedgerStore(doc, tableName, LEDGER_TTL_SECONDS), clock }),
});

/**
 * The jobs queues as one port: a job goes to its priority's queue, in its tenant's message group
 * (SQS fair queues: one tenant's backlog does not hold back another's messages in the same queue),
 * or one of its tenant's groups for a tenant weighing more than 1 (see fair-share.ts).
 */
export const priorityQueues = (
  queueOf: (url: string) => { send(message: JobMessage, messageGroupId?: string): Promise<void> },
  urls: Readonly<Record<JobPriority, string>>,
  weights: TenantWeights = {},
): JobQueue => {
  const queues = {
    high: queueOf(urls.high),
    normal: queueOf(urls.normal),
    low: queueOf(urls.low),
  };
  return {
    send: (message, priority) =>
      queues[priority].send(message, messageGroupOf(message.tenantId, message.jobId, weights)),
  };
};

/** The scheduler's metrics per tenant and by service (the alarm on BudgetBreach watches the latter). */
export const schedulerMetrics = tenantMetricsFor('scheduler');

/** A budget became breached: logged, and counted as BudgetBreach (Sum) for the dashboard and the alarm. */
export const breachMetric =
  (logger: Pick<Logger, 'warn'>) =>
  (tenantId: string, status: BudgetStatus): void => {
    logger.warn('budget breached', {
      tenantId,
      windowId: status.windowId,
      state: status.state,
      projectedUsd: status.projectedUsd,
      capUsd: status.capUsd,
    });
    schedulerMetrics.count(tenantId, 'BudgetBreach', MetricUnit.Count, 1);
  };
