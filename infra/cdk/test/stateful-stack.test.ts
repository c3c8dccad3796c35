import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queuesOf, TABLE_KEY, tablesOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { type Synthesized, synthConductor } from './synth.js';

const QUEUES = queuesOf(PILLARS);
const TABLES = tablesOf(PILLARS);

type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string };

describe('ConductorStatefulStack', () => {
  let synth: Synthesized;
  let dataKeyId: string;
  let evidenceKeyId: string;
  let runbookKeyId: string;
  let dsrKeyId: string;

  beforeAll(() => {
    synth = synthConductor();
    const keys = Object.keys(synth.statefulTemplate.findResources('AWS::KMS::Key'));
    // The data key, the evidence key, the runbook signing key, the DSR subject key and the alert
    // topics' own key.
    expect(keys).toHaveLength(5);
    dataKeyId = synth.stateful.getLogicalId(synth.stateful.dataKey.node.defaultChild as never);
    evidenceKeyId = synth.stateful.getLogicalId(synth.stateful.evidenceKey.node.defaultChild as never);
    runbookKeyId = synth.stateful.getLogicalId(synth.stateful.runbookSigningKey.node.defaultChild as never);
    expect(keys).toContain(dataKeyId);
    expect(keys).toContain(evidenceKeyId);
    expect(keys).toContain(runbookKeyId);
    dsrKeyId = synth.stateful.getLogicalId(synth.stateful.dsrSubjectKey.node.defaultChild as never);
    expect(keys).toContain(dsrKeyId);
  });
  afterAll(() => synth?.dispose());

  it('is protected against termination', () => {
    expect(synth.stateful.terminationProtection).toBe(true);
  });

  it('is environment-agnostic unless account or region are given', () => {
    expect(synth.stateful.environment).toBe('aws://unknown-account/unknown-region');
    expect(synth.api.environment).toBe('aws://unknown-account/unknown-region');
  });

  it('has a rotating customer-managed data key that is retained', () => {
    synth.statefulTemplate.hasResource('AWS::KMS::Key', {
      Properties: { EnableKeyRotation: true },
      DeletionPolicy: 'Retain',
    });
    synth.statefulTemplate.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: 'alias/conductor-prod-data',
    });
  });

  it('has an HMAC_256 key for data subject requests, retained, its alias the stage’s, with no policy statement beyond the account default', () => {
    const resource = (synth.statefulTemplate.toJSON().Resources as Record<string, Resource>)[dsrKeyId];
    if (!resource) throw new Error(`no resource ${dsrKeyId}`);
    expect(resource).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: { KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC', EnableKeyRotation: false },
    });
    expect((resource.Properties.KeyPolicy as { Statement: unknown[] }).Statement).toHaveLength(1);
    synth.statefulTemplate.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: 'alias/conductor-prod-dsr-subject',
      TargetKeyId: { 'Fn::GetAtt': [dsrKeyId, 'Arn'] },
    });
  });

  describe('the runbook signing key', () => {
    const key = (): Resource & { UpdateReplacePolicy?: string } => {
      const resource = (synth.statefulTemplate.toJSON().Resources as Record<string, Resource>)[runbookKeyId];
      if (!resource) throw new Error(`no resource ${runbookKeyId}`);
      return resource;
    };

    it('is an RSA_2048 SIGN_VERIFY key with the alias of its stage, retained, and never rotated by KMS (which rotates no asymmetric key)', () => {
      expect(key()).toMatchObject({
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', EnableKeyRotation: false },
      });
      expect(String(key().Properties.Description)).toMatch(/runbookSigners/);
      synth.statefulTemplate.hasResourceProperties('AWS::KMS::Alias', {
        AliasName: 'alias/conductor-prod-runbook-signing',
        TargetKeyId: { 'Fn::GetAtt': [runbookKeyId, 'Arn'] },
      });
    });

    it("lets nobody sign with it but whom the account's IAM allows, when no runbookSigners are given", () => {
      const statements = (key().Properties.KeyPolicy as { Statement: Record<string, unknown>[] }).Statement;
      // The default statement only: the account's IAM policies decide.
      expect(statements).toEqual([
        {
          Effect: 'Allow',
          Action: 'kms:*',
          Principal: {
            AWS: {
              'Fn::Join': [
                '',
                ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root'],
              ],
            },
          },
          Resource: '*',
        },
      ]);
    });

    it('exports its ARN under a stable, stage-named export', () => {
      synth.statefulTemplate.hasOutput('*', {
        Value: { 'Fn::GetAtt': [runbookKeyId, 'Arn'] },
        Export: { Name: 'conductor-prod-runbook-signing-key-arn' },
      });
    });
  });

  describe('tables', () => {
    it('creates one table per entry of TABLES', () => {
      synth.statefulTemplate.resourceCountIs('AWS::DynamoDB::Table', TABLES.length);
      expect(Object.keys(synth.stateful.tables).sort()).toEqual(TABLES.map((t) => t.id).sort());
    });

    for (const spec of TABLES) {
      it(`gives the ${spec.id} table pk/sk keys, on-demand billing, PITR, KMS encryption, TTL on ${TABLE_KEY.ttlAttribute} and Retain`, () => {
        const table = synth.stateful.table(spec.id);
        const logicalId = synth.stateful.getLogicalId(table.node.defaultChild as never);
        const resource = (synth.statefulTemplate.toJSON().Resources as Record<string, Resource>)[logicalId];
        expect(resource?.Type).toBe('AWS::DynamoDB::Table');
        expect(resource?.DeletionPolicy).toBe('Retain');
        expect(resource?.Properties).toMatchObject({
          KeySchema: [
            { AttributeName: TABLE_KEY.partitionKey, KeyType: 'HASH' },
            { AttributeName: TABLE_KEY.sortKey, KeyType: 'RANGE' },
          ],
          AttributeDefinitions: [
            { AttributeName: TABLE_KEY.partitionKey, AttributeType: 'S' },
            { AttributeName: TABLE_KEY.sortKey, AttributeType: 'S' },
          ],
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: {
            SSEEnabled: true,
            SSEType: 'KMS',
            KMSMasterKeyId: { 'Fn::GetAtt': [dataKeyId, 'Arn'] },
          },
          TimeToLiveSpecification: { AttributeName: TABLE_KEY.ttlAttribute, Enabled: true },
          DeletionProtectionEnabled: true,
        });
      });
    }

    it('refuses an unknown table id, naming the known ones', () => {
      expect(() => synth.stateful.table('nope')).toThrow(/Unknown table id 'nope'.*router/);
    });

    it('keeps the specs it built the tables from: tableSpecs, and tableSpec(id) for the variable', () => {
      expect(synth.stateful.tableSpecs).toEqual(TABLES);
      for (const spec of TABLES) expect(synth.stateful.tableSpec(spec.id)).toEqual(spec);
      expect(() => synth.stateful.tableSpec('nope')).toThrow(/Unknown table id 'nope'.*router/);
    });
  });

  describe('buckets', () => {
    const bucketProps = (idPrefix: string): Record<string, unknown> => {
      const found = Object.entries(synth.statefulTemplate.findResources('AWS::S3::Bucket')).filter(([id]) =>
        id.startsWith(idPrefix),
      );
      expect(found).toHaveLength(1);
      const [, resource] = found[0] ?? [];
      return (resource as Resource | undefined)?.Properties ?? {};
    };
    const accessLogsRef = () => {
      const ids = Object.keys(synth.statefulTemplate.findResources('AWS::S3::Bucket')).filter((id) =>
        id.startsWith('AccessLogsBucket'),
      );
      return { Ref: ids[0] };
    };

    it('locks evidence in COMPLIANCE mode by default, versioned, encrypted with the evidence key, private and logged', () => {
      expect(bucketProps('EvidenceBucket')).toMatchObject({
        ObjectLockEnabled: true,
        ObjectLockConfiguration: {
          ObjectLockEnabled: 'Enabled',
          Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 396 } },
        },
        VersioningConfiguration: { Status: 'Enabled' },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            {
              BucketKeyEnabled: true,
              ServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: { 'Fn::GetAtt': [evidenceKeyId, 'Arn'] },
              },
            },
          ],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        LoggingConfiguration: { DestinationBucketName: accessLogsRef(), LogFilePrefix: 'evidence/' },
      });
    });

    it('moves artifacts to Infrequent Access at 90 days, Glacier at 180 and expires them at 13 months', () => {
      expect(bucketProps('ArtifactsBucket')).toMatchObject({
        LifecycleConfiguration: {
          Rules: [
            expect.objectContaining({
              Status: 'Enabled',
              Transitions: [
                { StorageClass: 'STANDARD_IA', TransitionInDays: 90 },
                { StorageClass: 'GLACIER', TransitionInDays: 180 },
              ],
              ExpirationInDays: 396,
            }),
          ],
        },
        LoggingConfiguration: { DestinationBucketName: accessLogsRef(), LogFilePrefix: 'artifacts/' },
      });
    });

    it('denies every request that is not over TLS, on every bucket', () => {
      const buckets = Object.keys(synth.statefulTemplate.findResources('AWS::S3::Bucket'));
      expect(buckets).toHaveLength(3);
      for (const bucket of buckets) {
        synth.statefulTemplate.hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: bucket },
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Deny',
                Action: 's3:*',
                Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              }),
            ]),
          },
        });
      }
    });
  });

  describe('queues', () => {
    const logicalIdOf = (construct: { node: { defaultChild?: unknown } }): string =>
      synth.stateful.getLogicalId(construct.node.defaultChild as never);

    it('creates one queue and one dead-letter queue per entry of QUEUES', () => {
      expect(QUEUES.map((spec) => spec.id)).toContain('decision-archive');
      expect(synth.stateful.queueSpecs).toEqual(QUEUES);
      synth.statefulTemplate.resourceCountIs('AWS::SQS::Queue', 2 * QUEUES.length);
    });

    for (const spec of QUEUES) {
      it(`gives the ${spec.id} queue a DLQ after ${spec.maxReceiveCount} receives, a ${spec.visibilityTimeoutSeconds} s visibility timeout, the data key and 14 days' retention`, () => {
        const queueId = logicalIdOf(synth.stateful.queue(spec.id));
        const dlq = synth.stateful.deadLetterQueues[spec.id];
        if (!dlq) throw new Error(`no DLQ for ${spec.id}`);
        const dlqId = logicalIdOf(dlq);
        const resources = synth.statefulTemplate.toJSON().Resources as Record<string, Resource>;
        expect(resources[queueId]).toMatchObject({
          Type: 'AWS::SQS::Queue',
          DeletionPolicy: 'Retain',
          Properties: {
            VisibilityTimeout: spec.visibilityTimeoutSeconds,
            MessageRetentionPeriod: 14 * 24 * 3600,
            KmsMasterKeyId: { 'Fn::GetAtt': [dataKeyId, 'Arn'] },
            RedrivePolicy: {
              deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
              maxReceiveCount: spec.maxReceiveCount,
            },
          },
        });
        expect(resources[dlqId]).toMatchObject({
          Type: 'AWS::SQS::Queue',
          DeletionPolicy: 'Retain',
          Properties: {
            MessageRetentionPeriod: 14 * 24 * 3600,
            KmsMasterKeyId: { 'Fn::GetAtt': [dataKeyId, 'Arn'] },
          },
        });
        expect(resources[dlqId]?.Properties.RedrivePolicy).toBeUndefined();
      });
    }

    it('denies every request that is not over TLS, on every queue', () => {
      const queues = Object.keys(synth.statefulTemplate.findResources('AWS::SQS::Queue'));
      for (const queue of queues) {
        synth.statefulTemplate.hasResourceProperties('AWS::SQS::QueuePolicy', {
          Queues: [{ Ref: queue }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Deny',
                Action: 'sqs:*',
                Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              }),
            ]),
          },
        });
      }
    });

    it('refuses an unknown queue id, naming the known ones', () => {
      expect(() => synth.stateful.queue('nope')).toThrow(/Unknown queue id 'nope'.*decision-archive/);
    });
  });

  describe('alarms', () => {
    type Alarm = { Type: string; Properties: Record<string, unknown> };
    const logicalIdOf = (construct: { node: { defaultChild?: unknown } }): string =>
      synth.stateful.getLogicalId(construct.node.defaultChild as never);
    /** Every queue alarm opens a ticket. */
    const topicRef = () => ({ Ref: logicalIdOf(synth.stateful.ticketTopic) });
    const alarms = (): Alarm[] =>
      Object.values(synth.statefulTemplate.findResources('AWS::CloudWatch::Alarm')) as Alarm[];
    /** The alarm on `metricName` of the queue whose logical id is `queueId`. */
    const alarmOn = (metricName: string, queueId: string): Alarm['Properties'] | undefined =>
      alarms().find(
        (alarm) =>
          alarm.Properties.MetricName === metricName &&
          JSON.stringify(alarm.Properties.Dimensions) ===
            JSON.stringify([{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }]),
      )?.Properties;

    it('has the page and ticket topics of the stage, TLS only, encrypted with their own rotating key that CloudWatch may use', () => {
      synth.statefulTemplate.resourceCountIs('AWS::SNS::Topic', 2);
      const keys = synth.statefulTemplate.findResources('AWS::KMS::Key');
      const [alarmKeyId, alarmKey] =
        Object.entries(keys).find(
          ([id]) => ![dataKeyId, evidenceKeyId, runbookKeyId, dsrKeyId].includes(id),
        ) ?? [];
      expect(alarmKey).toMatchObject({ Properties: { EnableKeyRotation: true } });
      expect(alarmKey?.Properties.KeyPolicy).toMatchObject({
        Statement: expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      });
      for (const [topic, name] of [
        [synth.stateful.pageTopic, 'conductor-prod-alarms'],
        [synth.stateful.ticketTopic, 'conductor-prod-tickets'],
      ] as const) {
        const topicId = logicalIdOf(topic);
        synth.statefulTemplate.hasResourceProperties('AWS::SNS::Topic', {
          TopicName: name,
          KmsMasterKeyId: { 'Fn::GetAtt': [alarmKeyId, 'Arn'] },
        });
        synth.statefulTemplate.hasResourceProperties('AWS::SNS::TopicPolicy', {
          Topics: [{ Ref: topicId }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Deny',
                Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              }),
              Match.objectLike({
                Effect: 'Allow',
                Principal: { Service: 'cloudwatch.amazonaws.com' },
                Action: 'sns:Publish',
                Resource: { Ref: topicId },
                Condition: {
                  ArnLike: {
                    'aws:SourceArn': {
                      'Fn::Join': [
                        '',
                        Match.arrayWith([Match.stringLikeRegexp(':alarm:conductor-prod-\\*$')]),
                      ],
                    },
                  },
                },
              }),
            ]),
          },
        });
      }
      // Without pageEmail, ticketEmail, their URLs or alarmEmail, nobody is subscribed.
      synth.statefulTemplate.resourceCountIs('AWS::SNS::Subscription', 0);
    });

    for (const spec of QUEUES) {
      it(`alarms when the ${spec.id} DLQ holds a message (ApproximateNumberOfMessagesVisible >= 1)`, () => {
        const dlq = synth.stateful.deadLetterQueues[spec.id];
        if (!dlq) throw new Error(`no DLQ for ${spec.id}`);
        expect(alarmOn('ApproximateNumberOfMessagesVisible', logicalIdOf(dlq))).toMatchObject({
          AlarmName: `conductor-prod-${spec.id}-dlq-not-empty`,
          Namespace: 'AWS/SQS',
          Statistic: 'Maximum',
          Period: 60,
          EvaluationPeriods: 1,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          TreatMissingData: 'notBreaching',
          AlarmActions: [topicRef()],
          OKActions: [topicRef()],
        });
      });

      it(`alarms when the oldest message of the ${spec.id} queue is older than ${spec.maxAgeSeconds} s`, () => {
        const queueId = logicalIdOf(synth.stateful.queue(spec.id));
        expect(alarmOn('ApproximateAgeOfOldestMessage', queueId)).toMatchObject({
          AlarmName: `conductor-prod-${spec.id}-oldest-message-age`,
          Namespace: 'AWS/SQS',
          Statistic: 'Maximum',
          Period: 60,
          EvaluationPeriods: 1,
          Threshold: spec.maxAgeSeconds,
          ComparisonOperator: 'GreaterThanThreshold',
          TreatMissingData: 'notBreaching',
          AlarmActions: [topicRef()],
          OKActions: [topicRef()],
        });
      });

      it(`alarms when the ${spec.id} queue's depth is above its anomaly detection band`, () => {
        const queueId = logicalIdOf(synth.stateful.queue(spec.id));
        const found = alarms().filter((alarm) =>
          JSON.stringify(alarm.Properties.Metrics ?? []).includes(`"${queueId}","QueueName"`),
        );
        expect(found).toHaveLength(1);
        expect(found[0]?.Properties).toMatchObject({
          AlarmName: `conductor-prod-${spec.id}-depth-anomaly`,
          ComparisonOperator: 'GreaterThanUpperThreshold',
          ThresholdMetricId: 'expr_1',
          EvaluationPeriods: 3,
          TreatMissingData: 'notBreaching',
          Metrics: [
            { Id: 'expr_1', Expression: 'ANOMALY_DETECTION_BAND(m0, 3)', ReturnData: true },
            {
              Id: 'm0',
              ReturnData: true,
              MetricStat: {
                Metric: {
                  Namespace: 'AWS/SQS',
                  MetricName: 'ApproximateNumberOfMessagesVisible',
                  Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
                },
                Period: 300,
                Stat: 'Maximum',
              },
            },
          ],
          AlarmActions: [topicRef()],
          OKActions: [topicRef()],
        });
        expect(found[0]?.Properties.Threshold).toBeUndefined();
        expect(synth.stateful.queueAlarms[spec.id]?.depthAnomaly).toBeDefined();
      });

      it(`backs the ${spec.id} depth anomaly alarm with a static threshold while its model trains`, () => {
        const queueId = logicalIdOf(synth.stateful.queue(spec.id));
        expect(alarmOn('ApproximateNumberOfMessagesVisible', queueId)).toMatchObject({
          AlarmName: `conductor-prod-${spec.id}-depth-high`,
          Statistic: 'Maximum',
          Period: 300,
          EvaluationPeriods: 3,
          Threshold: 10_000,
          ComparisonOperator: 'GreaterThanThreshold',
          TreatMissingData: 'notBreaching',
          AlarmActions: [topicRef()],
          OKActions: [topicRef()],
        });
      });

      it(`alarms when a message has waited a week in the ${spec.id} DLQ (SQS drops it at 14 days)`, () => {
        const dlq = synth.stateful.deadLetterQueues[spec.id];
        if (!dlq) throw new Error(`no DLQ for ${spec.id}`);
        expect(alarmOn('ApproximateAgeOfOldestMessage', logicalIdOf(dlq))).toMatchObject({
          AlarmName: `conductor-prod-${spec.id}-dlq-oldest-message-age`,
          Statistic: 'Maximum',
          Threshold: 7 * 24 * 3600,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          AlarmActions: [topicRef()],
          OKActions: [topicRef()],
        });
      });
    }

    it('fires the rewards age alarm at 60 s (a reward must change decisions within 60 s), the archive one at 15 min', () => {
      const ageOf = (queueId: string) =>
        alarmOn('ApproximateAgeOfOldestMessage', logicalIdOf(synth.stateful.queue(queueId)))?.Threshold;
      expect(ageOf('rewards')).toBe(60);
      expect(ageOf('decision-archive')).toBe(15 * 60);
    });

    it('has no other alarms, and every alarm notifies the ticket topic', () => {
      // DLQ not empty, DLQ oldest message age, oldest message age, depth anomaly and its static backup.
      expect(alarms()).toHaveLength(5 * QUEUES.length);
      for (const alarm of alarms()) {
        expect(alarm.Properties.AlarmActions).toEqual([topicRef()]);
        expect(alarm.Properties.OKActions).toEqual([topicRef()]);
        // The topic policy lets CloudWatch publish for alarms named conductor-<stage>-* only.
        expect(String(alarm.Properties.AlarmName)).toMatch(/^conductor-prod-/);
      }
    });
  });

  it('exports the evidence bucket ARN under a stable, stage-named export', () => {
    synth.statefulTemplate.hasOutput('*', {
      Export: { Name: 'conductor-prod-evidence-bucket-arn' },
    });
  });

  it('creates the conductor event bus of the stage', () => {
    synth.statefulTemplate.hasResourceProperties('AWS::Events::EventBus', { Name: 'conductor-prod' });
  });
});
