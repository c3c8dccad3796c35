/**
 * The retention policy of the buckets, as data: the one definition both the CDK stateful stack
 * (infra/cdk/lib/stateful-stack.ts maps it onto its LifecycleRule, StorageClass and Duration) and
 * `conductor compliance retention` (the dry-run of these rules) read. No aws-cdk-lib here: the CLI
 * imports this module without loading CDK.
 *
 * The requirements' policy (§6.4): hot records live 30 days in DynamoDB (TTL on `expiresAt`);
 * artifacts move to infrequent access at 90 days and to the archive at 180, and expire at about 13
 * months; evidence moves to the cold tier at 90 days and expires when its Object Lock retention
 * ends. A legal hold, or a retention not yet over, keeps an object whatever its age.
 */

/** About 13 months: the cold-retention horizon of the product requirements (§6.4), in days. */
export const THIRTEEN_MONTHS_DAYS = 396;
/** Objects written under Object Lock stay this long in S3 Standard before the cold tier. */
export const EVIDENCE_COLD_AFTER_DAYS = 90;
/** Glacier Instant Retrieval bills 90 days at least: a shorter stay there would cost more than it saves. */
export const COLD_TIER_MINIMUM_STAY_DAYS = 90;
/** Versions that are no longer current (overwritten, or expired) go this long after, once unlocked. */
export const NONCURRENT_VERSION_EXPIRY_DAYS = 30;
/** Multipart uploads never completed are aborted (and their parts deleted) this long after they began. */
export const INCOMPLETE_UPLOAD_EXPIRY_DAYS = 7;
/**
 * S3 Lifecycle transitions no object smaller than this (the default `TransitionDefaultMinimumObjectSize`,
 * `all_storage_classes_128K`, which the stack leaves as it is): smaller objects stay in Standard.
 */
export const S3_MINIMUM_TRANSITION_BYTES = 128 * 1024;

/** The S3 storage classes the rules transition to, as S3 (and CloudFormation) spell them. */
export type TransitionStorageClass = 'STANDARD_IA' | 'GLACIER_IR' | 'GLACIER';

/** One lifecycle rule of a bucket. */
export interface LifecycleRuleSpec {
  /** The rule's id in the bucket's lifecycle configuration (never rename one: it is what S3 shows). */
  readonly id: string;
  /** Keys the rule applies to (none: every key). */
  readonly prefix?: string;
  /** Where current versions go, and at what age (days since written). */
  readonly transitions?: readonly { readonly days: number; readonly storageClass: TransitionStorageClass }[];
  /** Current versions expire (a delete marker on a versioned bucket) at this age. */
  readonly expirationDays?: number;
  /** Versions that are no longer current are deleted this long after, unless locked or held. */
  readonly noncurrentVersionExpirationDays?: number;
  readonly abortIncompleteMultipartUploadDays?: number;
  /** Removes a delete marker once it is the only version left of its key. */
  readonly expiredObjectDeleteMarker?: boolean;
}

/**
 * The evidence bucket's lifecycle, for an Object Lock default retention of `retentionDays`. Evidence
 * expires when its retention ends (a delete marker on the current version), old versions go
 * NONCURRENT_VERSION_EXPIRY_DAYS later; S3 never deletes a version while its retention or a legal
 * hold lasts, so a version overwritten early still waits for its own retention date. Glacier Instant
 * Retrieval after EVIDENCE_COLD_AFTER_DAYS: evidence is rarely read once written, and it still
 * answers GetObject in milliseconds (an auditor's request, a dry-run replay), where Deep Archive
 * would need a restore of hours first and bills 180 days at least. Objects under 128 KB stay in
 * Standard (S3_MINIMUM_TRANSITION_BYTES). The transition is skipped when evidence would leave the
 * cold tier before Glacier IR's 90-day minimum.
 */
export const evidenceLifecycleRules = (retentionDays: number): LifecycleRuleSpec[] => {
  const cold = retentionDays >= EVIDENCE_COLD_AFTER_DAYS + COLD_TIER_MINIMUM_STAY_DAYS;
  return [
    {
      id: 'expire-after-retention',
      expirationDays: retentionDays,
      noncurrentVersionExpirationDays: NONCURRENT_VERSION_EXPIRY_DAYS,
      abortIncompleteMultipartUploadDays: INCOMPLETE_UPLOAD_EXPIRY_DAYS,
      ...(cold
        ? { transitions: [{ days: EVIDENCE_COLD_AFTER_DAYS, storageClass: 'GLACIER_IR' as const }] }
        : {}),
    },
    // Once every version of a key is gone, its delete marker is removed too.
    { id: 'remove-expired-delete-markers', expiredObjectDeleteMarker: true },
  ];
};

/**
 * The artifacts bucket's lifecycle: infrequent access at 90 days, the archive (Glacier Flexible
 * Retrieval) at 180, expiry at about 13 months. The bucket has Object Lock without a default
 * retention: an object under a legal hold (or a retention someone set) outlives this until released.
 */
export const ARTIFACTS_LIFECYCLE_RULES: readonly LifecycleRuleSpec[] = [
  {
    id: 'warm-cold-expire',
    transitions: [
      { days: 90, storageClass: 'STANDARD_IA' },
      { days: 180, storageClass: 'GLACIER' },
    ],
    expirationDays: THIRTEEN_MONTHS_DAYS,
    noncurrentVersionExpirationDays: NONCURRENT_VERSION_EXPIRY_DAYS,
    abortIncompleteMultipartUploadDays: INCOMPLETE_UPLOAD_EXPIRY_DAYS,
  },
];

/** The server access logs bucket's lifecycle: logs expire at about 13 months, old versions 30 days later. */
export const ACCESS_LOGS_LIFECYCLE_RULES: readonly LifecycleRuleSpec[] = [
  {
    id: 'expire-access-logs',
    expirationDays: THIRTEEN_MONTHS_DAYS,
    noncurrentVersionExpirationDays: NONCURRENT_VERSION_EXPIRY_DAYS,
  },
];
