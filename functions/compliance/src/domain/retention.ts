/**
 * The retention dry-run: what each lifecycle rule would do to the objects there are now, without
 * doing it. An object moves to a rule's storage class once it is as old as the transition says, and
 * is deleted once it is as old as the expiration says — unless a legal hold or an Object Lock
 * retention still holds it, which the dry-run lists apart (S3 never deletes those). Records of a
 * table go when their `expiresAt` has passed (DynamoDB TTL). An object smaller than a rule's
 * `minimumTransitionBytes` never transitions (S3 Lifecycle skips objects under 128 KiB by default),
 * though it still expires.
 */

export interface LifecycleRule {
  readonly id: string;
  /** Keys this rule applies to (none: every key). */
  readonly prefix?: string;
  readonly transitions: readonly { readonly days: number; readonly storageClass: string }[];
  readonly expirationDays?: number;
  /** Objects smaller than this (bytes) stay where they are: S3 Lifecycle's default is 128 KiB. */
  readonly minimumTransitionBytes?: number;
}

export interface StoredObject {
  readonly key: string;
  readonly writtenAt: string;
  readonly legalHold?: boolean;
  /** The Object Lock retain-until date, when the object has one. */
  readonly retainUntil?: string;
  /** Its size in bytes, when known (a rule's `minimumTransitionBytes` needs it). */
  readonly size?: number;
}

export interface RuleOutcome {
  readonly ruleId: string;
  /** Keys that would move, by the storage class they would be in now (the coldest they qualify for). */
  readonly transitions: Readonly<Record<string, readonly string[]>>;
  readonly deletions: readonly string[];
  /** Keys old enough to expire but held: by a legal hold, or an Object Lock retention not yet over. */
  readonly held: readonly { readonly key: string; readonly reason: 'legal_hold' | 'retention' }[];
}

const DAY_MS = 86_400_000;

export const retentionDryRun = (
  rules: readonly LifecycleRule[],
  objects: readonly StoredObject[],
  now: Date,
): RuleOutcome[] =>
  rules.map((rule) => {
    const transitions: Record<string, string[]> = {};
    const deletions: string[] = [];
    const held: { key: string; reason: 'legal_hold' | 'retention' }[] = [];
    const ordered = [...rule.transitions].sort((a, b) => b.days - a.days);
    for (const object of objects) {
      if (rule.prefix !== undefined && !object.key.startsWith(rule.prefix)) continue;
      const ageDays = (now.getTime() - Date.parse(object.writtenAt)) / DAY_MS;
      if (rule.expirationDays !== undefined && ageDays >= rule.expirationDays) {
        if (object.legalHold) held.push({ key: object.key, reason: 'legal_hold' });
        else if (object.retainUntil !== undefined && Date.parse(object.retainUntil) > now.getTime()) {
          held.push({ key: object.key, reason: 'retention' });
        } else deletions.push(object.key);
        continue;
      }
      const transition = ordered.find((t) => ageDays >= t.days);
      const tooSmall =
        rule.minimumTransitionBytes !== undefined &&
        object.size !== undefined &&
        object.size < rule.minimumTransitionBytes;
      if (transition && !tooSmall) {
        transitions[transition.storageClass] = [...(transitions[transition.storageClass] ?? []), object.key];
      }
    }
    return { ruleId: rule.id, transitions, deletions, held };
  });

/** The records of a table DynamoDB's TTL would delete now (`expiresAt`, seconds since the epoch, passed). */
export const expiredRecords = <T extends { readonly expiresAt?: number }>(
  records: readonly T[],
  now: Date,
): T[] =>
  records.filter((record) => record.expiresAt !== undefined && record.expiresAt * 1000 <= now.getTime());
