import { describe, expect, it } from 'vitest';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { InMemoryLedgerStore } from '../../src/adapters/ledger-memory.js';
import { DEFAULT_POLICY } from '../../src/domain/budgets.js';
import type { Job } from '../../src/domain/jobs.js';
import { type DemandItem, MAX_WHAT_IF_JOBS, traceOfJobs, WhatIf } from '../../src/domain/what-if.js';

const whatIf = () =>
  new WhatIf({
    memoryStore: (entity) => new InMemoryTenantRecords(entity),
    ledgerStore: () => new InMemoryLedgerStore(),
  });
const daily = (limit: number, policy: Partial<typeof DEFAULT_POLICY> = {}) => ({
  window: 'daily' as const,
  limit,
  timeZone: 'UTC',
  policy: { ...DEFAULT_POLICY, gracePercent: 10, ...policy },
});
const jobsAt = (
  start: string,
  count: number,
  item: Omit<DemandItem, 'at'>,
  everyMinutes = 10,
): DemandItem[] =>
  Array.from({ length: count }, (_, i) => ({
    ...item,
    at: new Date(Date.parse(start) + i * everyMinutes * 60_000).toISOString(),
  }));

describe('what-if: a demand trace against a budget policy', () => {
  it('admits what fits under the cap and throttles the rest, per window, spending what the admitted jobs cost', async () => {
    // Act: ten $1 high-priority jobs against a $5 daily limit with 10 % grace (cap $5.50).
    const report = await whatIf().run({
      budget: daily(5),
      trace: jobsAt('2026-12-01T08:00:00Z', 10, { priority: 'high', estimatedCostUsd: 1 }),
      retryThrottled: false,
    });

    // Assess
    expect(report).toMatchObject({
      jobs: 10,
      admitted: 5,
      throttled: 5,
      delayed: 0,
      demoted: 0,
      spentUsd: 5,
    });
    expect(report.windows).toEqual([
      { windowId: 'daily:2026-12-01', admitted: 5, refused: 5, spentUsd: 5, breachedAt: expect.any(String) },
    ]);
  });

  it('holds low work back once the projection breaches, while high work still fits', async () => {
    const report = await whatIf().run({
      budget: daily(10),
      trace: [
        ...jobsAt('2026-12-01T06:00:00Z', 4, { priority: 'high', estimatedCostUsd: 1 }, 1),
        ...jobsAt('2026-12-01T06:10:00Z', 3, { priority: 'low', estimatedCostUsd: 0.1 }, 1),
        ...jobsAt('2026-12-01T06:20:00Z', 3, { priority: 'high', estimatedCostUsd: 0.1 }, 1),
      ],
      retryThrottled: false,
    });

    // $3 finished by 06:02, a quarter of the day, projects to about $12, past the $11 cap: breached.
    expect(report.byPriority.low).toEqual({ admitted: 0, throttled: 3, delayed: 0 });
    expect(report.byPriority.high).toEqual({ admitted: 7, throttled: 0, delayed: 0 });
    expect(report.windows[0]?.breachedAt).toBe('2026-12-01T06:02:00.000Z');
  });

  it('with a retrying client, a throttled job is delayed into the next window instead of refused', async () => {
    const report = await whatIf().run({
      budget: daily(2),
      trace: jobsAt('2026-12-01T20:00:00Z', 4, { priority: 'high', estimatedCostUsd: 1 }, 0),
      retryThrottled: true,
    });

    expect(report).toMatchObject({ admitted: 4, delayed: 2, throttled: 0, spentUsd: 4 });
    // Retried every 300 s from 20:00 until the next day's window opens at midnight.
    expect(report.meanDelaySeconds).toBe(4 * 3600);
    expect(report.windows.map((window) => [window.windowId, window.admitted])).toEqual([
      ['daily:2026-12-01', 2],
      ['daily:2026-12-02', 2],
    ]);
  });

  it('counts the jobs a breached downgrade budget demotes; a soft budget admits everything', async () => {
    const trace = jobsAt('2026-12-01T12:00:00Z', 6, { priority: 'high', estimatedCostUsd: 1 });

    const downgrade = await whatIf().run({
      budget: daily(4, { mode: 'downgrade' }),
      trace,
      retryThrottled: false,
    });
    const soft = await whatIf().run({ budget: daily(4, { mode: 'soft' }), trace, retryThrottled: false });

    expect(downgrade.demoted).toBeGreaterThan(0);
    expect(downgrade.admitted + downgrade.throttled).toBe(6);
    expect(soft).toMatchObject({ admitted: 6, throttled: 0, spentUsd: 6 });
  });

  it('replays actual costs and durations: a job counts once it finishes, at its actual cost', async () => {
    const report = await whatIf().run({
      budget: daily(100),
      trace: [
        {
          at: '2026-12-01T10:00:00Z',
          priority: 'normal',
          estimatedCostUsd: 1,
          actualCostUsd: 3,
          durationSeconds: 60,
        },
        { at: '2026-12-01T10:00:30Z', priority: 'normal', estimatedCostUsd: 2 },
      ],
      retryThrottled: false,
    });

    expect(report).toMatchObject({ admitted: 2, spentUsd: 5 });
  });

  it('refuses a trace longer than it replays', async () => {
    const trace = jobsAt(
      '2026-12-01T00:00:00Z',
      MAX_WHAT_IF_JOBS + 1,
      { priority: 'low', estimatedCostUsd: 0 },
      0,
    );

    await expect(whatIf().run({ budget: daily(1), trace, retryThrottled: false })).rejects.toMatchObject({
      statusCode: 422,
      code: 'trace_too_large',
    });
  });

  it('makes a trace of recorded jobs: their range, requested priority, estimate, actual cost and duration', () => {
    const job = (id: string, createdAt: string, extra: Partial<Job>): Job => ({
      tenantId: 'acme',
      id,
      version: 2,
      createdAt,
      updatedAt: createdAt,
      status: 'completed',
      priority: 'low',
      payloadJson: '{}',
      traceId: 't',
      ...extra,
    });

    const trace = traceOfJobs(
      [
        job('b', '2026-12-02T00:00:00.000Z', { requestedPriority: 'high', estimatedCostUsd: 2 }),
        job('a', '2026-12-01T00:00:00.000Z', {
          estimatedCostUsd: 1,
          costUsd: 1.5,
          completedAt: '2026-12-01T00:00:10.000Z',
        }),
        job('c', '2026-12-03T00:00:00.000Z', {}),
      ],
      new Date('2026-12-01T00:00:00Z'),
      new Date('2026-12-03T00:00:00Z'),
    );

    expect(trace).toEqual([
      {
        at: '2026-12-01T00:00:00.000Z',
        priority: 'low',
        estimatedCostUsd: 1,
        actualCostUsd: 1.5,
        durationSeconds: 10,
      },
      { at: '2026-12-02T00:00:00.000Z', priority: 'high', estimatedCostUsd: 2 },
    ]);
  });
});
