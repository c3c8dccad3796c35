import { Aws, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import {
  Alarm,
  type AlarmBase,
  AnomalyDetectionAlarm,
  ComparisonOperator,
  type IAlarm,
  Stats,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, BillingMode, type ITable, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, type IEventBus } from 'aws-cdk-lib/aws-events';
import {
  AnyPrincipal,
  ArnPrincipal,
  Effect,
  Grant,
  type IGrantable,
  PolicyStatement,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import { type CfnKey, type IKey, Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type IBucket,
  type LifecycleRule,
  ObjectLockMode,
  ObjectLockRetention,
  ObjectOwnership,
  StorageClass,
} from 'aws-cdk-lib/aws-s3';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription, UrlSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { type QueueSpec, queuesOf, TABLE_KEY, type TableSpec, tablesOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import {
  ACCESS_LOGS_LIFECYCLE_RULES,
  ARTIFACTS_LIFECYCLE_RULES,
  evidenceLifecycleRules,
  type LifecycleRuleSpec,
  THIRTEEN_MONTHS_DAYS,
  type TransitionStorageClass,
} from '../../retention-policy.js';

const QUEUES = queuesOf(PILLARS);
const TABLES = tablesOf(PILLARS);

/** About 13 months: the cold-retention horizon of the product requirements (§6.4). */
export const THIRTEEN_MONTHS = Duration.days(THIRTEEN_MONTHS_DAYS);
/** The longest SQS keeps a message: a consumer outage of up to two weeks loses nothing. */
export const QUEUE_RETENTION = Duration.days(14);
/** Evidence prefixes a function may be granted: one lower-case folder, e.g. `decisions/`. */
const EVIDENCE_PREFIX = /^[a-z0-9][a-z0-9-]*\/$/;
/** The period of the queue alarms: SQS sends its metrics to CloudWatch once a minute. */
export const QUEUE_ALARM_PERIOD = Duration.minutes(1);
const ALARM_PERIOD = QUEUE_ALARM_PERIOD;
/**
 * The queue depth anomaly alarm: 5-minute maxima of the visible messages, above a band of
 * DEPTH_ANOMALY_STD_DEVS standard deviations for DEPTH_ANOMALY_PERIODS periods in a row (15 min).
 * Five minutes smooths the decision-archive queue's batching saw-tooth; three in a row keeps a
 * burst the consumer drains at once from paging anybody.
 */
const DEPTH_ANOMALY_PERIOD = Duration.minutes(5);
const DEPTH_ANOMALY_PERIODS = 3;
const DEPTH_ANOMALY_STD_DEVS = 3;
/**
 * The static backup of the depth anomaly alarm (which has no model while CloudWatch trains it, up
 * to two weeks): the same 5-minute maxima above DEPTH_HIGH_MESSAGES for DEPTH_ANOMALY_PERIODS in a
 * row. Far above any backlog the consumers drain in minutes at their maximum concurrency, so it
 * stays quiet once the band is trained; the age alarm catches the slow consumer before it.
 */
const DEPTH_HIGH_MESSAGES = 10_000;
/**
 * A DLQ message this old has been waiting a week: half of the 14 days after which SQS drops it
 * (counted from its first send), so this re-notifies a forgotten DLQ while there is time to redrive.
 */
export const DLQ_MAX_AGE = Duration.days(7);
/** The actions that would make objects under the evidence key unreadable, or undo that protection. */
const EVIDENCE_KEY_GUARDED_ACTIONS = ['kms:DisableKey', 'kms:ScheduleKeyDeletion', 'kms:PutKeyPolicy'];
/** Enough to catch a typo or a list; SNS checks the rest when it sends the confirmation. */
export const EMAIL_PATTERN = /^[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+$/;
/** An IAM role ARN, in any partition (`arn:aws:iam::123456789012:role/path/name`). */
const ROLE_ARN_PATTERN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
/**
 * The one algorithm runbook signatures are made and verified with (the runbooks pillar's
 * RUNBOOK_SIGNATURE_ALGORITHM): signers may sign with no other, so the key cannot vouch for anything
 * the API would not check the same way.
 */
const RUNBOOK_SIGNING_ALGORITHM = 'RSASSA_PSS_SHA_256';
/** What reading the runbook signing key takes: its public key, and its spec to check it signs runbooks. */
const RUNBOOK_KEY_READ_ACTIONS = ['kms:DescribeKey', 'kms:GetPublicKey'];

/** Who hears an alarm: `page` wakes someone up now, `ticket` is for working hours. */
export type AlertSeverity = 'page' | 'ticket';

/**
 * Which topic each kind of alarm notifies, by the end of its name (`conductor-<stage>-<...>-<kind>`).
 * Page: the users see failures now (an SLO budget burning fast, a route answering 5xx, a function
 * crashing or timing out). Ticket: something degrades or waits, with hours to act (a slow budget
 * burn, throttling, work piling up or waiting in a DLQ, an unusual number of denies). The alarms of
 * the burn-rate windows (`<slo>-5xx-ratio-<window>`) notify nobody: their composites do.
 */
export const ALERT_SEVERITY = {
  'error-budget-fast-burn': 'page',
  'error-budget-slow-burn': 'ticket',
  '5xx-ratio': 'page',
  'lambda-errors': 'page',
  'lambda-throttles': 'ticket',
  'table-throttles': 'ticket',
  'policy-deny-spike': 'ticket',
  'policy-denies-high': 'ticket',
  'dlq-not-empty': 'ticket',
  'dlq-oldest-message-age': 'ticket',
  'oldest-message-age': 'ticket',
  'depth-anomaly': 'ticket',
  'depth-high': 'ticket',
  // The router took a canary's candidate off (the manifest's event alarm): read why, decide again.
  'canary-rollback': 'ticket',
  // A tenant's budget is breached (the scheduler's event alarm): its mode applies; raise it or let it.
  'budget-breach': 'ticket',
  // An expert's rewards left the band its model predicted (the router's event alarm): look at the expert.
  'reward-drift': 'ticket',
  // An evaluation run found an expert regressed beyond its suite's tolerance (the eval pillar's event alarm).
  'eval-regression': 'ticket',
  // A runbook did not match its signature (the runbooks pillar's event alarm): someone may be
  // tampering with procedures, now.
  'unsigned-runbook': 'page',
  // A runbook execution failed (the runbooks pillar's event alarm, from its status-change function):
  // its steps or the flow failed; rejections and approval timeouts are outcomes, not failures.
  'runbook-execution-failed': 'ticket',
  'runbook-key-rotation-due': 'ticket',
  // Edge nodes wrote a manual field concurrently (the edge-sync pillar's event alarm): a person decides.
  'edge-conflicts-open': 'ticket',
  'compliance-control-failed': 'ticket',
  'compliance-evidence-stale': 'ticket',
  // A workflow's execution timed out, or was aborted, which nothing in Conductor does (WORKFLOW_ENDS).
  'executions-timed-out': 'ticket',
  'executions-aborted': 'ticket',
  // A workflow's state transitions or starts are throttled (the account's Step Functions quotas).
  'executions-throttled': 'ticket',
} as const satisfies Readonly<Record<string, AlertSeverity>>;

/** Where one topic delivers, besides whatever is subscribed to it by hand. */
export interface AlertSubscriptions {
  /** One email address (AWS sends a confirmation email first). */
  readonly email?: string;
  /**
   * One HTTPS endpoint: a pager's SNS integration URL (PagerDuty, Opsgenie...) or a chat webhook
   * that confirms SNS subscriptions. It lands in the template: it may hold an integration key.
   */
  readonly url?: string;
}

export interface ConductorStatefulStackProps extends StackProps {
  /** Deployment stage; names the event bus and the KMS alias. */
  readonly stage: string;
  /**
   * What happens to tables, queues, buckets and the data key when they leave the stack. The
   * evidence key is always retained (it encrypts objects that may be locked), and so is the runbook
   * signing key (its signatures must stay verifiable).
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Default Object Lock retention of every evidence object; evidence expires when it ends.
   *
   * @default about 13 months (396 days)
   */
  readonly evidenceRetention?: Duration;
  /**
   * The mode of that default retention. COMPLIANCE: nobody, the root user included, can shorten it
   * or delete a locked version before it ends. GOVERNANCE: a principal with
   * `s3:BypassGovernanceRetention` can, so a test stage can be emptied.
   *
   * @default ObjectLockMode.COMPLIANCE
   */
  readonly evidenceLockMode?: ObjectLockMode;
  /**
   * The IAM role that alone may disable the evidence key, schedule its deletion or change its key
   * policy (an ARN). The key policy is fixed at creation: CloudFormation cannot change it later.
   *
   * @default - nobody can, ever: the key lives (and is billed) as long as the account
   */
  readonly evidenceBreakGlassRoleArn?: string;
  /**
   * IAM roles (ARNs) that may sign runbooks with the runbook signing key: its key policy lets them
   * `kms:Sign` (RSASSA_PSS_SHA_256 only) and read the key (`kms:DescribeKey`, `kms:GetPublicKey`),
   * a person's or a CI pipeline's role, never a function's. The roles must exist when the policy is
   * written (KMS refuses unknown principals); unlike the evidence key's, this policy may change later.
   *
   * @default - none: only principals the account's IAM policies allow `kms:Sign` (its administrators)
   */
  readonly runbookSigners?: readonly string[];
  /**
   * The pillar tables to create.
   *
   * @default the tables of the catalog's pillars (functions/catalog.ts)
   */
  readonly tables?: readonly TableSpec[];
  /**
   * The queues to create, each with its dead-letter queue.
   *
   * @default the queues of the catalog's pillars (functions/catalog.ts)
   */
  readonly queues?: readonly QueueSpec[];
  /**
   * Subscriptions of the page topic (`conductor-<stage>-alarms`).
   *
   * @default - none: subscribe to the topic yourself
   */
  readonly pageSubscriptions?: AlertSubscriptions;
  /**
   * Subscriptions of the ticket topic (`conductor-<stage>-tickets`).
   *
   * @default - none: subscribe to the topic yourself
   */
  readonly ticketSubscriptions?: AlertSubscriptions;
}

/** The alarms of one queue (and its DLQ), all notifying the ticket topic. */
export interface QueueAlarms {
  /** Its DLQ holds a message. */
  readonly dlqNotEmpty: IAlarm;
  /** A message has waited in its DLQ for DLQ_MAX_AGE: SQS drops it a week later. */
  readonly dlqOldestMessageAge: IAlarm;
  /** Its oldest message is older than the spec's `maxAgeSeconds`. */
  readonly oldestMessageAge: IAlarm;
  /** Its depth is above its anomaly detection band. */
  readonly depthAnomaly: IAlarm;
  /** Its depth is above DEPTH_HIGH_MESSAGES: the anomaly alarm's static backup. */
  readonly depthHigh: IAlarm;
}

/**
 * Everything that holds data: one DynamoDB table per pillar, the data key, the evidence (WORM) and
 * artifacts buckets and their key, the runbook signing key, the SQS queues (each with a DLQ) and
 * their alarms, the two alert topics and the event bus. Kept apart from compute so a service stack
 * can be destroyed and redeployed without touching data; termination protection guards the stack.
 */
export class ConductorStatefulStack extends Stack {
  /** Customer-managed key encrypting the tables and the queues. */
  readonly dataKey: IKey;
  /**
   * Customer-managed key of the buckets whose objects may be locked (evidence, artifacts). Always
   * retained; its key policy refuses disabling it, deleting it and changing the policy itself to
   * everybody but the break-glass role, so no account administrator can make locked objects unreadable.
   */
  readonly evidenceKey: IKey;
  /**
   * The asymmetric key (RSA_2048, SIGN_VERIFY) that signs runbooks (RSASSA_PSS_SHA_256). The API only
   * reads its public key (`grantRunbookVerify`); the `runbookSigners` roles, or whom the account's
   * IAM allows, sign with `kms:Sign` under their own credentials. Always retained, never rotated by
   * KMS (it rotates no asymmetric key): a rotation is a new key (`runbooks/key-rotation.json`).
   */
  readonly runbookSigningKey: IKey;
  /**
   * The HMAC key (HMAC_256, GENERATE_VERIFY_MAC) with which data subject requests hash a person's id
   * before it is logged (`grantDsrSubjectHash`): the hash is stable for one person, and nobody can
   * test a guess without `kms:GenerateMac` on it. Always retained (a new key would make the log's
   * hashes unmatchable); KMS rotates no HMAC key.
   */
  readonly dsrSubjectKey: IKey;
  /**
   * The name of the runbook signing key ARN's export (`conductor-<stage>-runbook-signing-key-arn`):
   * other stacks read the ARN by this name, as they read the evidence bucket's.
   */
  readonly runbookSigningKeyArnExportName: string;
  /** The pillar tables, keyed by table id (the manifests' `tables`). */
  readonly tables: Readonly<Record<string, ITable>>;
  /** The table specs the tables were built from. */
  readonly tableSpecs: readonly TableSpec[];
  /**
   * WORM evidence and audit trail: Object Lock with a default retention (COMPLIANCE in production
   * stages), a cold tier after 90 days, and expiry when the retention ends.
   */
  readonly evidenceBucket: IBucket;
  /**
   * The name of the evidence bucket ARN's export (`conductor-<stage>-evidence-bucket-arn`). Grants
   * in other stacks import it by this name, so their policies (and cdk-nag's findings on them) read
   * the same in every synth instead of naming a generated export.
   */
  readonly evidenceBucketArnExportName: string;
  /**
   * Eval outputs, reports and other artifacts: warm after 90 days, cold until 13 months, then gone.
   * Object Lock is enabled without a default retention, so an object can be put under legal hold.
   */
  readonly artifactsBucket: IBucket;
  /** The name of the artifacts bucket ARN's export (`conductor-<stage>-artifacts-bucket-arn`), as for evidence. */
  readonly artifactsBucketArnExportName: string;
  /** Destination of the S3 server access logs of the other buckets. */
  readonly accessLogsBucket: IBucket;
  /** The one Conductor event bus (DESIGN §7). */
  readonly eventBus: IEventBus;
  /** The queue specs the queues were built from (the manifests' `queues`). */
  readonly queueSpecs: readonly QueueSpec[];
  /** The queues, keyed by queue id. */
  readonly queues: Readonly<Record<string, IQueue>>;
  /** The dead-letter queue of each queue, keyed by queue id. */
  readonly deadLetterQueues: Readonly<Record<string, IQueue>>;
  /**
   * What pages (`conductor-<stage>-alarms`: the alarm topic of earlier versions, same logical id,
   * so subscriptions made by hand stay). Encrypted with the alarm topic key, TLS only.
   */
  readonly pageTopic: ITopic;
  /** What opens a ticket (`conductor-<stage>-tickets`), encrypted and guarded like the page topic. */
  readonly ticketTopic: ITopic;
  /** The alarms of each queue, keyed by queue id. */
  readonly queueAlarms: Readonly<Record<string, QueueAlarms>>;
  readonly #evidenceBucketArnImport: string;
  readonly #artifactsBucketArnImport: string;
  readonly #runbookSigningKeyArnImport: string;

  /** @deprecated the page topic (the one alarm topic of earlier versions); use pageTopic or ticketTopic. */
  get alarmTopic(): ITopic {
    return this.pageTopic;
  }

  constructor(scope: Construct, id: string, props: ConductorStatefulStackProps) {
    super(scope, id, { terminationProtection: true, ...props });
    // Server access logs are delivered through a bucket policy, never ACLs (the access-log bucket
    // enforces bucket-owner ownership). cdk.json sets this flag too; pinning it here keeps the
    // stack correct in an app that lacks it.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const retain = removalPolicy === RemovalPolicy.RETAIN;

    const dataKey = new Key(this, 'DataKey', {
      description: `Conductor ${props.stage}: encrypts pillar tables and queues`,
      alias: `alias/conductor-${props.stage}-data`,
      enableKeyRotation: true,
      removalPolicy,
    });
    this.dataKey = dataKey;
    const evidenceKey = this.createEvidenceKey(props.stage, props.evidenceBreakGlassRoleArn);
    this.evidenceKey = evidenceKey;
    this.runbookSigningKey = this.createRunbookSigningKey(props.stage, props.runbookSigners ?? []);
    this.dsrSubjectKey = new Key(this, 'DsrSubjectKey', {
      description: `Conductor ${props.stage}: hashes a data subject's id (HMAC_SHA_256) before a data subject request logs it; never leaves KMS`,
      alias: `alias/conductor-${props.stage}-dsr-subject`,
      keySpec: KeySpec.HMAC_256,
      keyUsage: KeyUsage.GENERATE_VERIFY_MAC,
      enableKeyRotation: false,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.runbookSigningKeyArnExportName = `conductor-${props.stage}-runbook-signing-key-arn`;
    this.#runbookSigningKeyArnImport = this.exportValue(this.runbookSigningKey.keyArn, {
      name: this.runbookSigningKeyArnExportName,
    });

    const tables: Record<string, ITable> = {};
    this.tableSpecs = props.tables ?? TABLES;
    for (const spec of this.tableSpecs) {
      // Table, not TableV2: a global table cannot take a customer-managed key in a region-agnostic stack.
      tables[spec.id] = new Table(this, tableConstructId(spec.id), {
        partitionKey: { name: TABLE_KEY.partitionKey, type: AttributeType.STRING },
        sortKey: { name: TABLE_KEY.sortKey, type: AttributeType.STRING },
        billingMode: BillingMode.PAY_PER_REQUEST,
        encryption: TableEncryption.CUSTOMER_MANAGED,
        encryptionKey: dataKey,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        timeToLiveAttribute: TABLE_KEY.ttlAttribute,
        deletionProtection: retain,
        removalPolicy,
      });
    }
    this.tables = tables;

    const accessLogsBucket = new Bucket(this, 'AccessLogsBucket', {
      // S3 server access logging can only deliver to a bucket encrypted with SSE-S3.
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: true,
      lifecycleRules: lifecycleRulesOf(ACCESS_LOGS_LIFECYCLE_RULES),
      removalPolicy,
    });
    Validations.of(accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This is the server access log destination of the other buckets; logging it into itself would loop and another log bucket would only move the finding.',
    });
    this.accessLogsBucket = accessLogsBucket;

    // What every bucket of locked objects is: versioned, under the evidence key, private, TLS only,
    // access-logged, Object Lock on.
    const lockableBucket = {
      versioned: true,
      objectLockEnabled: true,
      encryption: BucketEncryption.KMS,
      encryptionKey: evidenceKey,
      bucketKeyEnabled: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      serverAccessLogsBucket: accessLogsBucket,
    } as const;

    const retention = props.evidenceRetention ?? THIRTEEN_MONTHS;
    this.evidenceBucket = new Bucket(this, 'EvidenceBucket', {
      objectLockDefaultRetention:
        (props.evidenceLockMode ?? ObjectLockMode.COMPLIANCE) === ObjectLockMode.COMPLIANCE
          ? ObjectLockRetention.compliance(retention)
          : ObjectLockRetention.governance(retention),
      ...lockableBucket,
      serverAccessLogsPrefix: 'evidence/',
      lifecycleRules: lifecycleRulesOf(evidenceLifecycleRules(retention.toDays())),
      removalPolicy,
    });

    this.evidenceBucketArnExportName = `conductor-${props.stage}-evidence-bucket-arn`;
    this.#evidenceBucketArnImport = this.exportValue(this.evidenceBucket.bucketArn, {
      name: this.evidenceBucketArnExportName,
    });

    // Object Lock with no default retention: nothing is locked unless someone puts a legal hold (or
    // a retention) on an object, and a held object outlives the lifecycle below until it is released.
    this.artifactsBucket = new Bucket(this, 'ArtifactsBucket', {
      ...lockableBucket,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: lifecycleRulesOf(ARTIFACTS_LIFECYCLE_RULES),
      removalPolicy,
    });

    this.artifactsBucketArnExportName = `conductor-${props.stage}-artifacts-bucket-arn`;
    this.#artifactsBucketArnImport = this.exportValue(this.artifactsBucket.bucketArn, {
      name: this.artifactsBucketArnExportName,
    });

    const alarmTopicKey = this.createAlarmTopicKey(props.stage, removalPolicy);
    this.pageTopic = this.createAlertTopic('page', alarmTopicKey, props.stage, props.pageSubscriptions);
    this.ticketTopic = this.createAlertTopic('ticket', alarmTopicKey, props.stage, props.ticketSubscriptions);

    // Queues hold accepted work (the decision archive's hand-off, later jobs and rewards): encrypted
    // with the data key, TLS only, kept as long as SQS allows, with a DLQ after maxReceiveCount.
    this.queueSpecs = props.queues ?? QUEUES;
    const queues: Record<string, IQueue> = {};
    const deadLetterQueues: Record<string, IQueue> = {};
    const queueAlarms: Record<string, QueueAlarms> = {};
    for (const spec of this.queueSpecs) {
      const deadLetterQueue = new Queue(this, `${constructIdOf(spec.id)}DeadLetterQueue`, {
        encryption: QueueEncryption.KMS,
        encryptionMasterKey: dataKey,
        enforceSSL: true,
        retentionPeriod: QUEUE_RETENTION,
        removalPolicy,
      });
      Validations.of(deadLetterQueue).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: `This is the dead-letter queue of the ${spec.id} queue: messages that failed ${spec.maxReceiveCount} deliveries wait here for an operator; a DLQ of the DLQ would only move the finding.`,
      });
      const queue = new Queue(this, `${constructIdOf(spec.id)}Queue`, {
        encryption: QueueEncryption.KMS,
        encryptionMasterKey: dataKey,
        enforceSSL: true,
        retentionPeriod: QUEUE_RETENTION,
        visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSeconds),
        deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: spec.maxReceiveCount },
        removalPolicy,
      });
      queues[spec.id] = queue;
      deadLetterQueues[spec.id] = deadLetterQueue;
      queueAlarms[spec.id] = this.createQueueAlarms(props.stage, spec, queue, deadLetterQueue);
    }
    this.queues = queues;
    this.deadLetterQueues = deadLetterQueues;
    this.queueAlarms = queueAlarms;

    this.eventBus = new EventBus(this, 'EventBus', {
      eventBusName: `conductor-${props.stage}`,
      description: `Conductor ${props.stage}: domain events of every pillar`,
    });
  }

  /**
   * Makes `alarm` notify the topic of its severity, on ALARM and on OK (so the page or ticket can
   * close itself). For alarms of any stack of the app; named `conductor-<stage>-*`, as the topic
   * policies require.
   */
  notify(alarm: AlarmBase, severity: AlertSeverity): void {
    const action = new SnsAction(severity === 'page' ? this.pageTopic : this.ticketTopic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
  }

  /**
   * The key of the buckets whose objects may be locked. Retained whatever the stage's removal
   * policy: deleting it would make locked objects unreadable while S3 still refuses to delete them.
   * Its policy keeps the default statement (IAM policies of the account decide who uses it) and adds
   * one Deny for every principal, the account's administrators and root included (a Deny in a key
   * policy beats any Allow): no DisableKey, no ScheduleKeyDeletion, and no PutKeyPolicy, without
   * which an administrator could first remove the Deny. Only `breakGlassRoleArn`, when given, is
   * exempt. KMS cannot tell a harmless policy change from one that removes the Deny, so the policy
   * is frozen: CloudFormation cannot update it either (a later change fails the stack update), and
   * KMS's lockout check must be bypassed to create it.
   */
  private createEvidenceKey(stage: string, breakGlassRoleArn: string | undefined): IKey {
    if (breakGlassRoleArn !== undefined) assertBreakGlassRoleArn(breakGlassRoleArn);
    const key = new Key(this, 'EvidenceKey', {
      description: `Conductor ${stage}: encrypts the evidence and artifacts buckets (objects under Object Lock)`,
      alias: `alias/conductor-${stage}-evidence`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: breakGlassRoleArn
          ? 'DenyDisableDeleteOrRepolicyButBreakGlass'
          : 'DenyDisableDeleteOrRepolicyToEverybody',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: [...EVIDENCE_KEY_GUARDED_ACTIONS],
        resources: ['*'],
        ...(breakGlassRoleArn
          ? { conditions: { ArnNotEquals: { 'aws:PrincipalArn': breakGlassRoleArn } } }
          : {}),
      }),
    );
    (key.node.defaultChild as CfnKey).bypassPolicyLockoutSafetyCheck = true;
    return key;
  }

  /**
   * The key that signs runbooks. Retained whatever the stage's removal policy, as the evidence key:
   * every signature it made must stay verifiable while its runbooks are in use, and verifying needs
   * the key (enabled: `kms:GetPublicKey` refuses a disabled one). Key rotation stays off because KMS
   * rotates no asymmetric key. The policy keeps the default statement (the account's IAM policies
   * decide who else uses it) and lets `signers` sign with RSASSA_PSS_SHA_256 and read the key
   * (`KmsSigner.forKey` resolves the alias with DescribeKey; checking a signature needs the public key).
   */
  private createRunbookSigningKey(stage: string, signers: readonly string[]): IKey {
    for (const arn of signers) assertRoleArn('runbookSigners', arn);
    const key = new Key(this, 'RunbookSigningKey', {
      description: `Conductor ${stage}: signs runbooks (RSASSA_PSS_SHA_256). Signers: the runbookSigners roles of the key policy and whom the account's IAM allows kms:Sign; the API only reads the public key. Never rotated by KMS: a rotation is a new key (runbooks/key-rotation.json)`,
      alias: `alias/conductor-${stage}-runbook-signing`,
      keySpec: KeySpec.RSA_2048,
      keyUsage: KeyUsage.SIGN_VERIFY,
      enableKeyRotation: false,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const principals = [...new Set(signers)].map((arn) => new ArnPrincipal(arn));
    if (principals.length === 0) return key;
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowRunbookSignersToSign',
        principals,
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: { StringEquals: { 'kms:SigningAlgorithm': RUNBOOK_SIGNING_ALGORITHM } },
      }),
    );
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowRunbookSignersToReadTheKey',
        principals,
        actions: [...RUNBOOK_KEY_READ_ACTIONS],
        resources: ['*'],
      }),
    );
    return key;
  }

  /**
   * The key of both alert topics. CloudWatch alarms cannot publish to a topic under the AWS-managed
   * `alias/aws/sns` key (its policy cannot grant cloudwatch.amazonaws.com), and granting CloudWatch
   * the data key would widen who may use it.
   */
  private createAlarmTopicKey(stage: string, removalPolicy: RemovalPolicy): IKey {
    const key = new Key(this, 'AlarmTopicKey', {
      description: `Conductor ${stage}: encrypts the alert topics (page and ticket)`,
      alias: `alias/conductor-${stage}-alarms`,
      enableKeyRotation: true,
      removalPolicy,
    });
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublishEncrypted',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    return key;
  }

  /**
   * One alert topic: the page topic keeps the construct id (`AlarmTopic`) and the name
   * (`conductor-<stage>-alarms`) of the single alarm topic of earlier versions, so deployed stages
   * keep it and its subscriptions; the ticket topic is `conductor-<stage>-tickets`. Encrypted with
   * the alarm topic key, TLS only; CloudWatch may publish for this stage's alarms
   * (`conductor-<stage>-*`) only.
   */
  private createAlertTopic(
    severity: AlertSeverity,
    key: IKey,
    stage: string,
    subscriptions: AlertSubscriptions = {},
  ): ITopic {
    const topic =
      severity === 'page'
        ? new Topic(this, 'AlarmTopic', {
            topicName: `conductor-${stage}-alarms`,
            displayName: `Conductor ${stage} alarms`,
            masterKey: key,
            enforceSSL: true,
          })
        : new Topic(this, 'TicketTopic', {
            topicName: `conductor-${stage}-tickets`,
            displayName: `Conductor ${stage} tickets`,
            masterKey: key,
            enforceSSL: true,
          });
    topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:conductor-${stage}-*`,
          },
        },
      }),
    );
    if (subscriptions.email !== undefined) {
      if (!EMAIL_PATTERN.test(subscriptions.email)) {
        throw new Error(`${severity}Email '${subscriptions.email}' is not one email address`);
      }
      topic.addSubscription(new EmailSubscription(subscriptions.email));
    }
    if (subscriptions.url !== undefined) {
      // The URL is not repeated: a pager's integration URL holds its key.
      if (!isHttpsUrl(subscriptions.url)) throw new Error(`${severity}Url must be an https URL`);
      topic.addSubscription(new UrlSubscription(subscriptions.url));
    }
    return topic;
  }

  /**
   * The alarms of one queue, all tickets (work waits; nothing is lost for days):
   * - its DLQ holds a message: work that failed maxReceiveCount times waits for an operator;
   * - a DLQ message is a week old: the alarm above fired once and stays in ALARM, so a forgotten
   *   DLQ gets a second notification a week before SQS drops the message;
   * - its oldest message is older than the spec's `maxAgeSeconds`: the consumer is not keeping up,
   *   or keeps failing;
   * - its depth is anomalously high for the time of day and week (DESIGN §9 "queue depth anomaly"):
   *   a producer floods it, or the consumer slows down before the age alarm fires. CloudWatch
   *   creates and trains the band's model from up to two weeks of history; until then the alarm
   *   stays in INSUFFICIENT_DATA, so a static threshold backs it up.
   * An idle, empty queue may send no data points: that is not breaching (SQS stops sending the
   * metrics of a queue idle for six hours).
   */
  private createQueueAlarms(stage: string, spec: QueueSpec, queue: IQueue, dlq: IQueue): QueueAlarms {
    const id = constructIdOf(spec.id);
    const name = `conductor-${stage}-${spec.id}`;
    const maximum = (period: Duration) => ({ period, statistic: Stats.MAXIMUM });
    const dlqNotEmpty = new Alarm(this, `${id}DeadLetterQueueNotEmptyAlarm`, {
      alarmName: `${name}-dlq-not-empty`,
      alarmDescription: `The ${spec.id} DLQ holds messages that failed ${spec.maxReceiveCount} deliveries: inspect them, fix the cause, then redrive them to the ${spec.id} queue.`,
      metric: dlq.metricApproximateNumberOfMessagesVisible(maximum(ALARM_PERIOD)),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    const dlqOldestMessageAge = new Alarm(this, `${id}DeadLetterQueueOldestMessageAgeAlarm`, {
      alarmName: `${name}-dlq-oldest-message-age`,
      alarmDescription: `A message has waited in the ${spec.id} DLQ for ${DLQ_MAX_AGE.toDays()} days: SQS drops it ${QUEUE_RETENTION.toDays()} days after it was first sent. Redrive or discard it now.`,
      metric: dlq.metricApproximateAgeOfOldestMessage(maximum(ALARM_PERIOD)),
      threshold: DLQ_MAX_AGE.toSeconds(),
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    const oldestMessageAge = new Alarm(this, `${id}OldestMessageAgeAlarm`, {
      alarmName: `${name}-oldest-message-age`,
      alarmDescription: `A message of the ${spec.id} queue has waited more than ${spec.maxAgeSeconds} s: its consumer '${spec.consumer}' is not keeping up or keeps failing.`,
      metric: queue.metricApproximateAgeOfOldestMessage(maximum(ALARM_PERIOD)),
      threshold: spec.maxAgeSeconds,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    const depth = queue.metricApproximateNumberOfMessagesVisible(maximum(DEPTH_ANOMALY_PERIOD));
    const depthAnomaly = new AnomalyDetectionAlarm(this, `${id}QueueDepthAnomalyAlarm`, {
      alarmName: `${name}-depth-anomaly`,
      alarmDescription: `The ${spec.id} queue holds more visible messages than usual for this time (above ${DEPTH_ANOMALY_STD_DEVS} standard deviations for ${DEPTH_ANOMALY_PERIODS} x 5 min): a producer floods it, or its consumer '${spec.consumer}' slowed down or stopped.`,
      metric: depth,
      stdDevs: DEPTH_ANOMALY_STD_DEVS,
      comparisonOperator: ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
      evaluationPeriods: DEPTH_ANOMALY_PERIODS,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    const depthHigh = new Alarm(this, `${id}QueueDepthHighAlarm`, {
      alarmName: `${name}-depth-high`,
      alarmDescription: `The ${spec.id} queue has held more than ${DEPTH_HIGH_MESSAGES} visible messages for ${DEPTH_ANOMALY_PERIODS} x 5 min (the static backup of the depth anomaly alarm): a producer floods it, or its consumer '${spec.consumer}' stopped.`,
      metric: depth,
      threshold: DEPTH_HIGH_MESSAGES,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: DEPTH_ANOMALY_PERIODS,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    const alarms = { dlqNotEmpty, dlqOldestMessageAge, oldestMessageAge, depthAnomaly, depthHigh };
    for (const alarm of Object.values(alarms)) this.notify(alarm, 'ticket');
    return alarms;
  }

  /** The queue of one queue id; throws early, naming the known ids, for an id not in the list. */
  queue(id: string): IQueue {
    const queue = this.queues[id];
    if (!queue) {
      throw new Error(
        `Unknown queue id '${id}'; the stateful stack has: ${Object.keys(this.queues).join(', ') || '(none)'}`,
      );
    }
    return queue;
  }

  /**
   * Lets `grantee` write objects once and read them under one prefix of the evidence bucket, and
   * nothing else there: `s3:PutObject` and `s3:GetObject` on `<prefix>*` (plus the data key's
   * `kms:GenerateDataKey` and `kms:Decrypt` that SSE-KMS needs). No delete, no retention or legal
   * hold changes, no listing: Object Lock's default retention applies to every object written.
   * The key rights name the evidence key and hold only for requests S3 makes on the grantee's behalf.
   * For grantees in other stacks (the bucket ARN is imported by its export name).
   */
  grantEvidenceWriteOnce(grantee: IGrantable, prefix: string): Grant {
    return this.grantWriteOnce(grantee, prefix, 'Evidence', this.#evidenceBucketArnImport);
  }

  /**
   * The same rights as `grantEvidenceWriteOnce` (put, get, the key through S3 only) under one prefix
   * of the artifacts bucket: eval reports and suite documents, which are never rewritten either.
   */
  grantArtifactsWriteOnce(grantee: IGrantable, prefix: string): Grant {
    return this.grantWriteOnce(grantee, prefix, 'Artifacts', this.#artifactsBucketArnImport);
  }

  /**
   * Lets `grantee` verify runbook signatures: `kms:GetPublicKey` and `kms:DescribeKey` on the runbook
   * signing key, named by its imported ARN (so the grant reads the same in every synth), and nothing
   * else: no `kms:Sign`, no other key. A direct KMS call, as `kms:ViaService` has no service to name.
   * Neither action reveals a secret or changes the key.
   */
  /** `kms:GenerateMac` (HMAC_SHA_256 only) on the DSR subject key: nothing else of it. */
  grantDsrSubjectHash(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: ['kms:GenerateMac'],
      resourceArns: [this.dsrSubjectKey.keyArn],
      conditions: { StringEquals: { 'kms:MacAlgorithm': 'HMAC_SHA_256' } },
    });
  }

  grantRunbookVerify(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: [...RUNBOOK_KEY_READ_ACTIONS],
      resourceArns: [this.#runbookSigningKeyArnImport],
    });
  }

  /**
   * Read-only under one prefix of the evidence bucket (another pillar's WORM records a check reads,
   * e.g. the runbooks' trail mirror): `s3:GetObject` there, and the key's Decrypt through S3 only.
   */
  grantEvidenceRead(grantee: IGrantable, prefix: string): Grant {
    if (!EVIDENCE_PREFIX.test(prefix)) {
      throw new Error(
        `Evidence prefix '${prefix}' must be one lower-case folder ending in '/', e.g. 'runbooks/'`,
      );
    }
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [this.evidenceKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      }),
    );
    // Listing the folder (a check finds the objects of a day): ListBucket narrowed to the prefix.
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.#evidenceBucketArnImport],
        conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } },
      }),
    );
    return Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: [`${this.#evidenceBucketArnImport}/${prefix}*`],
    });
  }

  private grantWriteOnce(grantee: IGrantable, prefix: string, what: string, bucketArn: string): Grant {
    if (!EVIDENCE_PREFIX.test(prefix)) {
      throw new Error(
        `${what} prefix '${prefix}' must be one lower-case folder ending in '/', e.g. 'decisions/'`,
      );
    }
    // Through S3 only (kms:ViaService): the role cannot call KMS with the key itself.
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [this.evidenceKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      }),
    );
    return Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObject', 's3:GetObject'],
      resourceArns: [`${bucketArn}/${prefix}*`],
    });
  }

  /** The spec of one table (its environment variable); throws early for an unknown id. */
  tableSpec(id: string): TableSpec {
    this.table(id);
    return this.tableSpecs.find((spec) => spec.id === id) as TableSpec;
  }

  /** The table of one pillar; throws early, naming the known ids, for an id not in the list. */
  table(id: string): ITable {
    const table = this.tables[id];
    if (!table) {
      throw new Error(
        `Unknown table id '${id}'; the stateful stack has: ${Object.keys(this.tables).join(', ')}`,
      );
    }
    return table;
  }
}

/** `decision-archive` -> `DecisionArchive`: stable construct ids, so logical ids never change. */
const constructIdOf = (id: string): string =>
  id
    .split(/[^A-Za-z0-9]+/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');

/** `router` -> `RouterTable`. */
const tableConstructId = (id: string): string => `${constructIdOf(id)}Table`;

/** Throws, naming the context key `key`, unless `arn` is an IAM role ARN. */
export const assertRoleArn = (key: string, arn: string): void => {
  if (!ROLE_ARN_PATTERN.test(arn)) {
    throw new Error(`${key} '${arn}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)`);
  }
};

/** Throws, naming the context key, unless `arn` is an IAM role ARN. */
export const assertBreakGlassRoleArn = (arn: string): void => assertRoleArn('evidenceBreakGlassRoleArn', arn);

/** `https://…` and nothing else: SNS sends HTTP subscriptions' notifications in clear text. */
const isHttpsUrl = (text: string): boolean => {
  try {
    return new URL(text).protocol === 'https:' && !/\s/.test(text);
  } catch {
    return false;
  }
};

const STORAGE_CLASSES: Readonly<Record<TransitionStorageClass, StorageClass>> = {
  STANDARD_IA: StorageClass.INFREQUENT_ACCESS,
  GLACIER_IR: StorageClass.GLACIER_INSTANT_RETRIEVAL,
  GLACIER: StorageClass.GLACIER,
};

/**
 * A bucket's lifecycle rules of the retention policy (infra/retention-policy.ts, which says why each
 * is what it is), as CDK takes them.
 */
const lifecycleRulesOf = (rules: readonly LifecycleRuleSpec[]): LifecycleRule[] =>
  rules.map((rule) => ({
    id: rule.id,
    ...(rule.prefix === undefined ? {} : { prefix: rule.prefix }),
    ...(rule.transitions === undefined || rule.transitions.length === 0
      ? {}
      : {
          transitions: rule.transitions.map((transition) => ({
            storageClass: STORAGE_CLASSES[transition.storageClass],
            transitionAfter: Duration.days(transition.days),
          })),
        }),
    ...(rule.expirationDays === undefined ? {} : { expiration: Duration.days(rule.expirationDays) }),
    ...(rule.noncurrentVersionExpirationDays === undefined
      ? {}
      : { noncurrentVersionExpiration: Duration.days(rule.noncurrentVersionExpirationDays) }),
    ...(rule.abortIncompleteMultipartUploadDays === undefined
      ? {}
      : { abortIncompleteMultipartUploadAfter: Duration.days(rule.abortIncompleteMultipartUploadDays) }),
    ...(rule.expiredObjectDeleteMarker === undefined
      ? {}
      : { expiredObjectDeleteMarker: rule.expiredObjectDeleteMarker }),
  }));
