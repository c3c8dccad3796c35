import type { ConductorEvent, EventPublisher } from '#shared/ports/events.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import type { JobPriority } from '../../events.js';
import { InMemoryLedgerStore } from '../../src/adapters/ledger-memory.js';
import { BudgetLedger } from '../../src/domain/budget-ledger.js';
import { type Budget, Budgets } from '../../src/domain/budgets.js';
import { type Job, JobIntake, type JobMessage, type JobQueue, JobWorker } from '../../src/domain/jobs.js';

/** The jobs queue as a list of accepted messages; `failing` makes every send reject. */
export class RecordingJobQueue implements JobQueue {
  readonly sent: JobMessage[] = [];
  /** The priority queue each sent message went to, in order. */
  readonly priorities: JobPriority[] = [];
  failing = false;

  async send(message: JobMessage, priority: JobPriority): Promise<void> {
    await Promise.resolve();
    if (this.failing) throw new Error('SQS unavailable');
    this.sent.push(structuredClone(message));
    this.priorities.push(priority);
  }
}

/** An event publisher that keeps what it was given; `failing` makes every publish reject. */
export class RecordingEvents implements EventPublisher {
  readonly published: ConductorEvent[] = [];
  failing = false;

  async publish(events: readonly ConductorEvent[]): Promise<void> {
    await Promise.resolve();
    if (this.failing) throw new Error('EventBridge unavailable');
    this.published.push(...events);
  }
}

/** Intake and worker on one in-memory table, queue and bus, with a manual clock and sequential ids. */
export const inMemoryScheduler = () => {
  const jobs = new InMemoryTenantRecords<Job>('JOB');
  const queue = new RecordingJobQueue();
  const events = new RecordingEvents();
  const clock = new ManualClock('2026-03-01T09:00:00.000Z');
  const queueErrors: string[] = [];
  const publishErrors: string[] = [];
  const intake = new JobIntake({
    jobs,
    queue,
    clock,
    ids: new SequentialIds(),
    onQueueError: (_error, jobId) => queueErrors.push(jobId),
  });
  const worker = new JobWorker({
    jobs,
    clock,
    events,
    onPublishError: (_error, jobId) => publishErrors.push(jobId),
  });
  return { jobs, queue, events, clock, intake, worker, queueErrors, publishErrors };
};

/** Budgets and their ledgers on in-memory tables, announcing on a recording bus. */
export const inMemoryBudgets = (clock: ManualClock, events = new RecordingEvents()) => {
  const records = new InMemoryTenantRecords<Budget>('BUDGET');
  const ledgerRecords = new InMemoryLedgerStore();
  const ledger = new BudgetLedger({ store: ledgerRecords, clock });
  const budgets = new Budgets({ budgets: records, ledger, clock, events });
  return { budgets, ledger, ledgerRecords, records, events };
};
