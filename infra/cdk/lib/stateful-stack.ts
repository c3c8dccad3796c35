import { Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type ITable, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, type IEventBus } from 'aws-cdk-lib/aws-events';
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
import type { Construct } from 'constructs';
import { TABLE_KEY, TABLES, type TableSpec } from '../../tables.js';

/** About 13 months: the cold-retention horizon of the product requirements (§6.4). */
export const THIRTEEN_MONTHS = Duration.days(396);

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
   * @default TABLES from infra/tables.ts
   */
  readonly tables?: readonly TableSpec[];
}

/**
 * Everything that holds data: one DynamoDB table per pillar, the data key, the evidence (WORM) and
 * artifacts buckets, and the event bus. Kept apart from compute so a service stack can be destroyed
 * and redeployed without touching data; termination protection guards the stack itself.
 */
export class ConductorStatefulStack extends Stack {
  /** Customer-managed key encrypting the tables and the evidence and artifacts buckets. */
  readonly dataKey: IKey;
  /** The pillar tables, keyed by table id (see infra/tables.ts). */
  readonly tables: Readonly<Record<string, ITable>>;
  /** WORM evidence and audit trail: Object Lock in COMPLIANCE mode with a default retention. */
  readonly evidenceBucket: IBucket;
  /** Eval outputs, reports and other artifacts: warm after 90 days, cold until 13 months, then gone. */
  readonly artifactsBucket: IBucket;
  /** Destination of the S3 server access logs of the other buckets. */
  readonly accessLogsBucket: IBucket;
  /** The one Conductor event bus (DESIGN §7). */
  readonly eventBus: IEventBus;

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
    for (const spec of props.tables ?? TABLES) {
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

    this.evidenceBucket = new Bucket(this, 'EvidenceBucket', {
      objectLockEnabled: true,
      objectLockDefaultRetention: ObjectLockRetention.compliance(props.evidenceRetention ?? THIRTEEN_MONTHS),
      versioned: true,
      encryption: BucketEncryption.KMS,
      encryptionKey: dataKey,
      bucketKeyEnabled: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      serverAccessLogsBucket: accessLogsBucket,
      serverAccessLogsPrefix: 'evidence/',
      lifecycleRules: [
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
      removalPolicy,
    });

    this.artifactsBucket = new Bucket(this, 'ArtifactsBucket', {
      versioned: true,
      encryption: BucketEncryption.KMS,
      encryptionKey: dataKey,
      bucketKeyEnabled: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      serverAccessLogsBucket: accessLogsBucket,
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

    this.eventBus = new EventBus(this, 'EventBus', {
      eventBusName: `conductor-${props.stage}`,
      description: `Conductor ${props.stage}: domain events of every pillar`,
    });
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

/** `router` -> `RouterTable`: stable construct ids, so logical ids never change under a table. */
const tableConstructId = (id: string): string =>
  `${id
    .split(/[^A-Za-z0-9]+/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('')}Table`;
