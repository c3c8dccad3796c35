import { Aws, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import {
  Alarm,
  AnomalyDetectionAlarm,
  ComparisonOperator,
  type IAlarm,
  Stats,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, BillingMode, type ITable, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, type IEventBus } from 'aws-cdk-lib/aws-events';
import { Grant, type IGrantable, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type IBucket,
  ObjectLockRetention,
  ObjectOwnership,
  StorageClass,
} from 'aws-cdk-lib/aws-s3';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { type QueueSpec, queuesOf, TABLE_KEY, type TableSpec, tablesOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';

const QUEUES = queuesOf(PILLARS);
const TABLES = tablesOf(PILLARS);

/** About 13 months: the cold-retention horizon of the product requirements (§6.4). */
export const THIRTEEN_MONTHS = Duration.days(396);
/** The longest SQS keeps a message: a consumer outage of up to two weeks loses nothing. */
export const QUEUE_RETENTION = Duration.days(14);
/** Evidence prefixes a function may be granted: one lower-case folder, e.g. `decisions/`. */
const EVIDENCE_PREFIX = /^[a-z0-9][a-z0-9-]*\/$/;
/** The period of the queue alarms: SQS sends its metrics to CloudWatch once a minute. */
const ALARM_PERIOD = Duration.minutes(1);
/**
 * The queue depth anomaly alarm: 5-minute maxima of the visible messages, above a band of
 * DEPTH_ANOMALY_STD_DEVS standard deviations for DEPTH_ANOMALY_PERIODS periods in a row (15 min).
 * Five minutes smooths the decision-archive queue's batching saw-tooth; three in a row keeps a
 * burst the consumer drains at once from paging anybody.
 */
const DEPTH_ANOMALY_PERIOD = Duration.minutes(5);
const DEPTH_ANOMALY_PERIODS = 3;
const DEPTH_ANOMALY_STD_DEVS = 3;

export interface ConductorStatefulStackProps extends StackProps {
  /** Deployment stage; names the event bus and the KMS alias. */
  readonly stage: string;
  /**
   * What happens to tables, buckets and the data key when they leave the stack.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Default Object Lock retention (COMPLIANCE mode) of every evidence object. In COMPLIANCE mode
   * nobody, the root user included, can shorten it or delete a locked version before it ends.
   *
   * @default about 13 months (396 days)
   */
  readonly evidenceRetention?: Duration;
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
   * An email address subscribed to the alarm topic (the subscription must be confirmed from the
   * email AWS sends).
   *
   * @default - no subscription: subscribe to the `conductor-<stage>-alarms` topic yourself
   */
  readonly alarmEmail?: string;
}

/**
 * Everything that holds data: one DynamoDB table per pillar, the data key, the evidence (WORM) and
 * artifacts buckets, the SQS queues (each with a DLQ) and the event bus. Kept apart from compute so
 * a service stack can be destroyed and redeployed without touching data; termination protection
 * guards the stack itself.
 */
export class ConductorStatefulStack extends Stack {
  /** Customer-managed key encrypting the tables and the evidence and artifacts buckets. */
  readonly dataKey: IKey;
  /** The pillar tables, keyed by table id (the manifests' `tables`). */
  readonly tables: Readonly<Record<string, ITable>>;
  /** The table specs the tables were built from. */
  readonly tableSpecs: readonly TableSpec[];
  /** WORM evidence and audit trail: Object Lock in COMPLIANCE mode with a default retention. */
  readonly evidenceBucket: IBucket;
  /**
   * The name of the evidence bucket ARN's export (`conductor-<stage>-evidence-bucket-arn`). Grants
   * in other stacks import it by this name, so their policies (and cdk-nag's findings on them) read
   * the same in every synth instead of naming a generated export.
   */
  readonly evidenceBucketArnExportName: string;
  /** Eval outputs, reports and other artifacts: warm after 90 days, cold until 13 months, then gone. */
  readonly artifactsBucket: IBucket;
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
  /** Where every alarm of the stack notifies (`conductor-<stage>-alarms`, encrypted with its own key). */
  readonly alarmTopic: ITopic;
  /**
   * The alarms of each queue, keyed by queue id: its DLQ is not empty, its oldest message is too
   * old, its depth is above its anomaly detection band.
   */
  readonly queueAlarms: Readonly<
    Record<
      string,
      { readonly dlqNotEmpty: IAlarm; readonly oldestMessageAge: IAlarm; readonly depthAnomaly: IAlarm }
    >
  >;
  readonly #evidenceBucketArnImport: string;

  constructor(scope: Construct, id: string, props: ConductorStatefulStackProps) {
    super(scope, id, { terminationProtection: true, ...props });
    // Server access logs are delivered through a bucket policy, never ACLs (the access-log bucket
    // enforces bucket-owner ownership). cdk.json sets this flag too; pinning it here keeps the
    // stack correct in an app that lacks it.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const retain = removalPolicy === RemovalPolicy.RETAIN;

    const dataKey = new Key(this, 'DataKey', {
      description: `Conductor ${props.stage}: encrypts pillar tables, evidence and artifacts`,
      alias: `alias/conductor-${props.stage}-data`,
      enableKeyRotation: true,
      removalPolicy,
    });
    this.dataKey = dataKey;

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
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          expiration: THIRTEEN_MONTHS,
          noncurrentVersionExpiration: Duration.days(30),
        },
      ],
      removalPolicy,
    });
    Validations.of(accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This is the server access log destination of the other buckets; logging it into itself would loop and another log bucket would only move the finding.',
    });
    this.accessLogsBucket = accessLogsBucket;

    // What every data bucket is: versioned, under the data key, private, TLS only, access-logged.
    const dataBucket = {
      versioned: true,
      encryption: BucketEncryption.KMS,
      encryptionKey: dataKey,
      bucketKeyEnabled: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      serverAccessLogsBucket: accessLogsBucket,
    } as const;

    this.evidenceBucket = new Bucket(this, 'EvidenceBucket', {
      objectLockEnabled: true,
      objectLockDefaultRetention: ObjectLockRetention.compliance(props.evidenceRetention ?? THIRTEEN_MONTHS),
      ...dataBucket,
      serverAccessLogsPrefix: 'evidence/',
      lifecycleRules: [
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
      removalPolicy,
    });

    this.evidenceBucketArnExportName = `conductor-${props.stage}-evidence-bucket-arn`;
    this.#evidenceBucketArnImport = this.exportValue(this.evidenceBucket.bucketArn, {
      name: this.evidenceBucketArnExportName,
    });

    this.artifactsBucket = new Bucket(this, 'ArtifactsBucket', {
      ...dataBucket,
      serverAccessLogsPrefix: 'artifacts/',
      lifecycleRules: [
        {
          id: 'warm-cold-expire',
          transitions: [
            { storageClass: StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(90) },
            { storageClass: StorageClass.GLACIER, transitionAfter: Duration.days(180) },
          ],
          expiration: THIRTEEN_MONTHS,
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
      removalPolicy,
    });

    this.alarmTopic = this.createAlarmTopic(props.stage, removalPolicy, props.alarmEmail);
    const alarmAction = new SnsAction(this.alarmTopic);

    // Queues hold accepted work (the decision archive's hand-off, later jobs and rewards): encrypted
    // with the data key, TLS only, kept as long as SQS allows, with a DLQ after maxReceiveCount.
    // Each has three alarms: its DLQ holds a message (work that failed maxReceiveCount times and
    // waits for an operator), its oldest message is older than the spec's `maxAgeSeconds` (the
    // consumer is not keeping up, or keeps failing), and its depth is anomalously high for the time
    // of day and week (a producer floods it, or the consumer slows down before the age alarm fires).
    this.queueSpecs = props.queues ?? QUEUES;
    const queues: Record<string, IQueue> = {};
    const deadLetterQueues: Record<string, IQueue> = {};
    const queueAlarms: Record<
      string,
      { dlqNotEmpty: IAlarm; oldestMessageAge: IAlarm; depthAnomaly: IAlarm }
    > = {};
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

      const dlqNotEmpty = new Alarm(this, `${constructIdOf(spec.id)}DeadLetterQueueNotEmptyAlarm`, {
        alarmName: `conductor-${props.stage}-${spec.id}-dlq-not-empty`,
        alarmDescription: `The ${spec.id} DLQ holds messages that failed ${spec.maxReceiveCount} deliveries: inspect them, fix the cause, then redrive them to the ${spec.id} queue.`,
        metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: ALARM_PERIOD,
          statistic: Stats.MAXIMUM,
        }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        // An idle, empty queue may send no data points: that is not a problem.
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      const oldestMessageAge = new Alarm(this, `${constructIdOf(spec.id)}OldestMessageAgeAlarm`, {
        alarmName: `conductor-${props.stage}-${spec.id}-oldest-message-age`,
        alarmDescription: `A message of the ${spec.id} queue has waited more than ${spec.maxAgeSeconds} s: its consumer '${spec.consumer}' is not keeping up or keeps failing.`,
        metric: queue.metricApproximateAgeOfOldestMessage({
          period: ALARM_PERIOD,
          statistic: Stats.MAXIMUM,
        }),
        threshold: spec.maxAgeSeconds,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      // DESIGN §9 "queue depth anomaly": an anomaly detection band (ANOMALY_DETECTION_BAND). CloudWatch
      // creates and trains the model from the metric's history (up to two weeks of it); until it has
      // one the alarm stays in INSUFFICIENT_DATA. Upper side only: an empty queue is fine.
      const depthAnomaly = new AnomalyDetectionAlarm(
        this,
        `${constructIdOf(spec.id)}QueueDepthAnomalyAlarm`,
        {
          alarmName: `conductor-${props.stage}-${spec.id}-depth-anomaly`,
          alarmDescription: `The ${spec.id} queue holds more visible messages than usual for this time (above ${DEPTH_ANOMALY_STD_DEVS} standard deviations for ${DEPTH_ANOMALY_PERIODS} x 5 min): a producer floods it, or its consumer '${spec.consumer}' slowed down or stopped.`,
          metric: queue.metricApproximateNumberOfMessagesVisible({
            period: DEPTH_ANOMALY_PERIOD,
            statistic: Stats.MAXIMUM,
          }),
          stdDevs: DEPTH_ANOMALY_STD_DEVS,
          comparisonOperator: ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
          evaluationPeriods: DEPTH_ANOMALY_PERIODS,
          // SQS stops sending the metrics of a queue idle for six hours: that is not an anomaly.
          treatMissingData: TreatMissingData.NOT_BREACHING,
        },
      );
      for (const alarm of [dlqNotEmpty, oldestMessageAge, depthAnomaly]) {
        alarm.addAlarmAction(alarmAction);
        alarm.addOkAction(alarmAction);
      }
      queueAlarms[spec.id] = { dlqNotEmpty, oldestMessageAge, depthAnomaly };
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
   * The SNS topic every alarm notifies. Encrypted with a key of its own: CloudWatch alarms cannot
   * publish to a topic under the AWS-managed `alias/aws/sns` key (its policy cannot grant
   * cloudwatch.amazonaws.com), and granting CloudWatch the data key would widen who may use it.
   * TLS only; CloudWatch may publish for this stage's alarms (`conductor-<stage>-*`) only.
   */
  private createAlarmTopic(stage: string, removalPolicy: RemovalPolicy, email: string | undefined): ITopic {
    const cloudWatch = new ServicePrincipal('cloudwatch.amazonaws.com');
    const key = new Key(this, 'AlarmTopicKey', {
      description: `Conductor ${stage}: encrypts the alarm topic`,
      alias: `alias/conductor-${stage}-alarms`,
      enableKeyRotation: true,
      removalPolicy,
    });
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublishEncrypted',
        principals: [cloudWatch],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    const topic = new Topic(this, 'AlarmTopic', {
      topicName: `conductor-${stage}-alarms`,
      displayName: `Conductor ${stage} alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [cloudWatch],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:conductor-${stage}-*`,
          },
        },
      }),
    );
    if (email !== undefined) topic.addSubscription(new EmailSubscription(email));
    return topic;
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
   * For grantees in other stacks (the bucket ARN is imported by its export name).
   */
  grantEvidenceWriteOnce(grantee: IGrantable, prefix: string): Grant {
    if (!EVIDENCE_PREFIX.test(prefix)) {
      throw new Error(
        `Evidence prefix '${prefix}' must be one lower-case folder ending in '/', e.g. 'decisions/'`,
      );
    }
    Grant.addToPrincipal({
      grantee,
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resourceArns: [this.dataKey.keyArn],
    });
    return Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObject', 's3:GetObject'],
      resourceArns: [`${this.#evidenceBucketArnImport}/${prefix}*`],
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
