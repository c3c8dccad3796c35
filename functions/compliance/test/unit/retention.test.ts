import { describe, expect, it } from 'vitest';
import { expiredRecords, type LifecycleRule, retentionDryRun } from '../../src/domain/retention.js';

const now = new Date('2027-12-01T00:00:00Z');
const daysAgo = (days: number) => new Date(now.getTime() - days * 86_400_000).toISOString();

/** The requirements' policy: infrequent access at 90 days, archive at 180, expiry at 13 months. */
const ARCHIVE: LifecycleRule = {
  id: 'archive',
  prefix: 'decisions/',
  transitions: [
    { days: 90, storageClass: 'STANDARD_IA' },
    { days: 180, storageClass: 'GLACIER' },
  ],
  expirationDays: 396,
};

describe('the retention dry-run', () => {
  it('lists what each rule would move and delete, and what legal holds and retention keep', () => {
    const outcome = retentionDryRun(
      [ARCHIVE],
      [
        { key: 'decisions/new.jsonl', writtenAt: daysAgo(10) },
        { key: 'decisions/ia.jsonl', writtenAt: daysAgo(100) },
        { key: 'decisions/cold.jsonl', writtenAt: daysAgo(200) },
        { key: 'decisions/old.jsonl', writtenAt: daysAgo(400) },
        { key: 'decisions/held.jsonl', writtenAt: daysAgo(400), legalHold: true },
        { key: 'decisions/locked.jsonl', writtenAt: daysAgo(400), retainUntil: daysAgo(-30) },
        { key: 'evidence/other.json', writtenAt: daysAgo(400) },
      ],
      now,
    );
    expect(outcome).toEqual([
      {
        ruleId: 'archive',
        transitions: { STANDARD_IA: ['decisions/ia.jsonl'], GLACIER: ['decisions/cold.jsonl'] },
        deletions: ['decisions/old.jsonl'],
        held: [
          { key: 'decisions/held.jsonl', reason: 'legal_hold' },
          { key: 'decisions/locked.jsonl', reason: 'retention' },
        ],
      },
    ]);
  });

  it('lists the records whose TTL has passed (30-day hot records)', () => {
    const records = [
      { id: 'a', expiresAt: Math.floor(now.getTime() / 1000) - 1 },
      { id: 'b', expiresAt: Math.floor(now.getTime() / 1000) + 3600 },
      { id: 'c' },
    ];
    expect(expiredRecords(records, now).map((r) => r.id)).toEqual(['a']);
  });
});
