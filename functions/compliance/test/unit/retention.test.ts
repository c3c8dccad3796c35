import { describe, expect, it } from 'vitest';
import {
  ARTIFACTS_LIFECYCLE_RULES,
  evidenceLifecycleRules,
  S3_MINIMUM_TRANSITION_BYTES,
} from '../../../../infra/retention-policy.js';
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

  it('moves no object smaller than the rule’s minimum transition size, and still expires it', () => {
    const rule: LifecycleRule = { ...ARCHIVE, minimumTransitionBytes: 128 * 1024 };
    const outcome = retentionDryRun(
      [rule],
      [
        { key: 'decisions/small.jsonl', writtenAt: daysAgo(100), size: 128 * 1024 - 1 },
        { key: 'decisions/big.jsonl', writtenAt: daysAgo(100), size: 128 * 1024 },
        { key: 'decisions/unknown.jsonl', writtenAt: daysAgo(100) },
        { key: 'decisions/small-old.jsonl', writtenAt: daysAgo(400), size: 10 },
      ],
      now,
    );
    expect(outcome).toEqual([
      {
        ruleId: 'archive',
        transitions: { STANDARD_IA: ['decisions/big.jsonl', 'decisions/unknown.jsonl'] },
        deletions: ['decisions/small-old.jsonl'],
        held: [],
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

describe('the retention policy', () => {
  const asDryRun = (
    rules: readonly { id: string; transitions?: LifecycleRule['transitions']; expirationDays?: number }[],
  ) => rules.map((rule): LifecycleRule => ({ ...rule, transitions: rule.transitions ?? [] }));
  const big = S3_MINIMUM_TRANSITION_BYTES;

  it('moves artifacts to infrequent access at 90 days, the archive at 180, and deletes them at 13 months', () => {
    const objects = [10, 91, 181, 395, 396].map((days) => ({
      key: `eval/${days}.json`,
      writtenAt: daysAgo(days),
      size: big,
    }));
    expect(retentionDryRun(asDryRun(ARTIFACTS_LIFECYCLE_RULES), objects, now)).toEqual([
      {
        ruleId: 'warm-cold-expire',
        transitions: { STANDARD_IA: ['eval/91.json'], GLACIER: ['eval/181.json', 'eval/395.json'] },
        deletions: ['eval/396.json'],
        held: [],
      },
    ]);
  });

  it('moves evidence to Glacier Instant Retrieval at 90 days and expires it with its retention, unless it would not stay there 90 days', () => {
    const objects = [{ key: 'decisions/a.jsonl', writtenAt: daysAgo(100), size: big }];
    expect(retentionDryRun(asDryRun(evidenceLifecycleRules(396)), objects, now)[0]?.transitions).toEqual({
      GLACIER_IR: ['decisions/a.jsonl'],
    });
    expect(retentionDryRun(asDryRun(evidenceLifecycleRules(120)), objects, now)[0]).toEqual({
      ruleId: 'expire-after-retention',
      transitions: {},
      deletions: [],
      held: [],
    });
    expect(evidenceLifecycleRules(120).map((rule) => rule.id)).toEqual([
      'expire-after-retention',
      'remove-expired-delete-markers',
    ]);
  });
});
