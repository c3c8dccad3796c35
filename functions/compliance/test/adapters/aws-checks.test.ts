import {
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { DescribeKeyCommand, GetKeyRotationStatusCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetObjectLockConfigurationCommand,
  GetPublicAccessBlockCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  dynamoPitrEncryption,
  evidenceBucketLock,
  kmsRotation,
  retentionLifecycle,
} from '../../src/adapters/aws-checks.js';

const s3 = mockClient(S3Client);
const kms = mockClient(KMSClient);
const dynamodb = mockClient(DynamoDBClient);
const now = new Date('2026-12-07T00:00:00Z');

beforeEach(() => {
  s3.reset();
  kms.reset();
  dynamodb.reset();
});

const TLS_ONLY = JSON.stringify({
  Statement: [
    {
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    },
  ],
});

const lockedBucket = (mode = 'COMPLIANCE') => {
  s3.on(GetObjectLockConfigurationCommand).resolves({
    ObjectLockConfiguration: {
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: mode as 'COMPLIANCE', Days: 396 } },
    },
  });
  s3.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });
  s3.on(GetBucketEncryptionCommand).resolves({
    ServerSideEncryptionConfiguration: {
      Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' } }],
    },
  });
  s3.on(GetPublicAccessBlockCommand).resolves({
    PublicAccessBlockConfiguration: {
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    },
  });
  s3.on(GetBucketPolicyCommand).resolves({ Policy: TLS_ONLY });
};

describe('aws.evidence-bucket-lock', () => {
  it('passes a locked, versioned, encrypted, private, TLS-only bucket, asking about that bucket only', async () => {
    lockedBucket();
    const outcome = await evidenceBucketLock(s3 as never, 'ev-bucket', true).run({ now });
    expect(outcome).toMatchObject({ status: 'pass', summary: 'evidence bucket ev-bucket: 6 checks hold' });
    expect(s3.commandCalls(GetObjectLockConfigurationCommand)[0]?.args[0].input).toEqual({
      Bucket: 'ev-bucket',
    });
  });

  it('fails GOVERNANCE retention in production, and a bucket without a policy, naming both', async () => {
    lockedBucket('GOVERNANCE');
    s3.on(GetBucketPolicyCommand).rejects(
      new S3ServiceException({
        name: 'NoSuchBucketPolicy',
        $fault: 'client',
        $metadata: {},
        message: 'none',
      }),
    );
    const outcome = await evidenceBucketLock(s3 as never, 'ev-bucket', true).run({ now });
    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toContain('a default retention in COMPLIANCE mode');
    expect(outcome.summary).toContain('TLS-only bucket policy');
    // GOVERNANCE is fine outside production.
    lockedBucket('GOVERNANCE');
    expect((await evidenceBucketLock(s3 as never, 'ev-bucket', false).run({ now })).status).toBe('pass');
  });

  it('lets an AccessDenied through (the assessment records it as an error)', async () => {
    s3.on(GetObjectLockConfigurationCommand).rejects(
      new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: {}, message: 'denied' }),
    );
    await expect(evidenceBucketLock(s3 as never, 'ev-bucket', true).run({ now })).rejects.toThrow('denied');
  });
});

describe('aws.kms-rotation', () => {
  it('needs rotation on symmetric keys and a young enough asymmetric key, all enabled', async () => {
    kms.on(DescribeKeyCommand, { KeyId: 'data' }).resolves({
      KeyMetadata: { KeyId: 'data', KeyState: 'Enabled', KeySpec: 'SYMMETRIC_DEFAULT' },
    });
    kms.on(DescribeKeyCommand, { KeyId: 'signing' }).resolves({
      KeyMetadata: {
        KeyId: 'signing',
        KeyState: 'Enabled',
        KeySpec: 'RSA_3072',
        CreationDate: new Date('2026-01-01'),
      },
    });
    kms.on(GetKeyRotationStatusCommand, { KeyId: 'data' }).resolves({ KeyRotationEnabled: false });

    const outcome = await kmsRotation(kms as never, ['data', 'signing'], 300).run({ now });

    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toBe(
      '2 KMS keys: data rotates automatically; signing (asymmetric) younger than 300 days',
    );
    expect(kms.commandCalls(GetKeyRotationStatusCommand)).toHaveLength(1);
  });
});

describe('aws.dynamodb-pitr-encryption', () => {
  it('checks every table for point-in-time recovery and KMS encryption', async () => {
    dynamodb.on(DescribeContinuousBackupsCommand).resolves({
      ContinuousBackupsDescription: {
        ContinuousBackupsStatus: 'ENABLED',
        PointInTimeRecoveryDescription: { PointInTimeRecoveryStatus: 'ENABLED' },
      },
    });
    dynamodb
      .on(DescribeTableCommand, { TableName: 'a' })
      .resolves({ Table: { SSEDescription: { Status: 'ENABLED', SSEType: 'KMS' } } });
    dynamodb.on(DescribeTableCommand, { TableName: 'b' }).resolves({ Table: {} });

    const outcome = await dynamoPitrEncryption(dynamodb as never, ['a', 'b']).run({ now });

    expect(outcome).toMatchObject({ status: 'fail', summary: '2 tables: b KMS encryption' });
  });
});

describe('aws.retention-lifecycle', () => {
  it('needs TTL on expiresAt, a colder class by 90 days, and expiry no earlier than 13 months', async () => {
    dynamodb.on(DescribeTimeToLiveCommand).resolves({
      TimeToLiveDescription: { TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' },
    });
    s3.on(GetBucketLifecycleConfigurationCommand, { Bucket: 'evidence' }).resolves({
      Rules: [
        {
          Status: 'Enabled',
          Expiration: { Days: 396 },
          Transitions: [{ Days: 90, StorageClass: 'GLACIER_IR' }],
        },
      ],
    });
    s3.on(GetBucketLifecycleConfigurationCommand, { Bucket: 'short' }).resolves({
      Rules: [{ Status: 'Enabled', Expiration: { Days: 30 } }],
    });

    const ok = await retentionLifecycle(s3 as never, dynamodb as never, {
      tables: ['t'],
      buckets: ['evidence'],
    }).run({ now });
    const short = await retentionLifecycle(s3 as never, dynamodb as never, {
      tables: ['t'],
      buckets: ['short'],
    }).run({
      now,
    });

    expect(ok.status).toBe('pass');
    expect(short.summary).toBe(
      '1 tables, 1 buckets: short to a colder class by 90 days; short expires, not before 13 months (396 days)',
    );
  });
});
