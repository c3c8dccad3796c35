/**
 * Retention that holds (issue 14): evidence expires after its retention period and moves to a cold
 * tier, artifacts can take legal holds, the lock mode follows the stage, and the key under locked
 * objects can be neither disabled nor deleted, nor its policy rewritten, outside the break-glass role.
 * The runbook signing key outlives every stage too (issue 20), and signs for the roles named only.
 */
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functionsOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { propsFromContext } from '../lib/app.js';
import {
  actionsOf,
  allPolicyStatements,
  type PolicyStatement,
  type Synthesized,
  synthConductor,
} from './synth.js';

type Resource = {
  Type: string;
  Properties: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};

const BREAK_GLASS = 'arn:aws:iam::123456789012:role/conductor-break-glass';
const SIGNERS = [
  'arn:aws:iam::123456789012:role/runbook-signer',
  'arn:aws:iam::210987654321:role/ci/conductor-release',
];
const ACCOUNT_ROOT = {
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']],
};
const GUARDED_ACTIONS = ['kms:DisableKey', 'kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion'];

const resourcesOf = (synth: Synthesized) =>
  synth.statefulTemplate.toJSON().Resources as Record<string, Resource>;

const bucketOf = (synth: Synthesized, idPrefix: string): Resource => {
  const found = Object.entries(resourcesOf(synth)).filter(
    ([id, r]) => r.Type === 'AWS::S3::Bucket' && id.startsWith(idPrefix),
  );
  expect(found).toHaveLength(1);
  return found[0]?.[1] as Resource;
};

/** The logical id of the KMS key a bucket's default encryption names. */
const keyIdOf = (bucket: Resource): string => {
  const encryption = bucket.Properties.BucketEncryption as {
    ServerSideEncryptionConfiguration: { ServerSideEncryptionByDefault: { KMSMasterKeyID: unknown } }[];
  };
  const keyRef =
    encryption.ServerSideEncryptionConfiguration[0]?.ServerSideEncryptionByDefault.KMSMasterKeyID;
  const id = (keyRef as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt']?.[0];
  if (!id) throw new Error(`bucket key is not a key of the stack: ${JSON.stringify(keyRef)}`);
  return id;
};

const rulesOf = (bucket: Resource) =>
  (bucket.Properties.LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;

const denyStatementsOf = (key: Resource): PolicyStatement[] =>
  (key.Properties.KeyPolicy as { Statement: PolicyStatement[] }).Statement.filter((s) => s.Effect === 'Deny');

describe('Retention that holds', () => {
  /** A throwaway stage: destroy, a short retention. */
  let dev: Synthesized;
  /** A production stage with a break-glass role and runbook signers, the default retention. */
  let prod: Synthesized;

  beforeAll(() => {
    dev = synthConductor({
      props: { stage: 'dev', removalPolicy: RemovalPolicy.DESTROY, evidenceRetentionDays: 120 },
    });
    prod = synthConductor({
      props: { stage: 'prod-eu', evidenceBreakGlassRoleArn: BREAK_GLASS, runbookSigners: SIGNERS },
    });
  });
  afterAll(() => {
    dev?.dispose();
    prod?.dispose();
  });

  describe('evidence lifecycle', () => {
    it('expires evidence at the end of its retention, deletes old versions 30 days later and moves it to Glacier Instant Retrieval at 90 days', () => {
      const rules = rulesOf(bucketOf(prod, 'EvidenceBucket'));
      expect(rules).toContainEqual(
        expect.objectContaining({
          Id: 'expire-after-retention',
          Status: 'Enabled',
          ExpirationInDays: 396,
          NoncurrentVersionExpiration: { NoncurrentDays: 30 },
          Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 90 }],
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
        }),
      );
      // Delete markers left once every version is gone are removed too.
      expect(rules).toContainEqual(
        expect.objectContaining({ Status: 'Enabled', ExpiredObjectDeleteMarker: true }),
      );
    });

    it('follows evidenceRetentionDays, and skips the cold tier when evidence would not stay there 90 days', () => {
      const bucket = bucketOf(dev, 'EvidenceBucket');
      expect(bucket.Properties.ObjectLockConfiguration).toMatchObject({
        Rule: { DefaultRetention: { Days: 120 } },
      });
      const [rule] = rulesOf(bucket).filter((r) => r.Id === 'expire-after-retention');
      expect(rule).toMatchObject({
        ExpirationInDays: 120,
        NoncurrentVersionExpiration: { NoncurrentDays: 30 },
      });
      expect(rule?.Transitions).toBeUndefined();
    });
  });

  describe('Object Lock', () => {
    it('locks evidence in GOVERNANCE mode outside production stages', () => {
      expect(bucketOf(dev, 'EvidenceBucket').Properties.ObjectLockConfiguration).toEqual({
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 120 } },
      });
    });

    it('locks evidence in COMPLIANCE mode in production stages (prod, prod-*)', () => {
      expect(bucketOf(prod, 'EvidenceBucket').Properties.ObjectLockConfiguration).toEqual({
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 396 } },
      });
    });

    it('enables Object Lock on the artifacts bucket, with no default retention, so legal holds are possible', () => {
      for (const synth of [dev, prod]) {
        const artifacts = bucketOf(synth, 'ArtifactsBucket');
        expect(artifacts.Properties.ObjectLockEnabled).toBe(true);
        expect(artifacts.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
        expect(JSON.stringify(artifacts.Properties.ObjectLockConfiguration ?? {})).not.toContain(
          'DefaultRetention',
        );
      }
    });
  });

  describe('the evidence key', () => {
    it('encrypts the evidence and artifacts buckets, and nothing of the data key’s', () => {
      const resources = resourcesOf(prod);
      const keyId = prod.stateful.getLogicalId(prod.stateful.evidenceKey.node.defaultChild as never);
      const dataKeyId = prod.stateful.getLogicalId(prod.stateful.dataKey.node.defaultChild as never);
      expect(keyId).not.toBe(dataKeyId);
      expect(keyIdOf(bucketOf(prod, 'EvidenceBucket'))).toBe(keyId);
      expect(keyIdOf(bucketOf(prod, 'ArtifactsBucket'))).toBe(keyId);
      expect(resources[keyId]?.Properties.EnableKeyRotation).toBe(true);
      prod.statefulTemplate.hasResourceProperties('AWS::KMS::Alias', {
        AliasName: 'alias/conductor-prod-eu-evidence',
        TargetKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
      });
      // Tables and queues stay on the data key.
      const tables = Object.values(resources).filter((r) => r.Type === 'AWS::DynamoDB::Table');
      expect(tables.length).toBeGreaterThan(0);
      for (const table of tables)
        expect(JSON.stringify(table.Properties.SSESpecification)).toContain(dataKeyId);
    });

    it('refuses disabling, deleting and re-policying it to everybody when no break-glass role is given', () => {
      const keyId = dev.stateful.getLogicalId(dev.stateful.evidenceKey.node.defaultChild as never);
      const key = resourcesOf(dev)[keyId] as Resource;
      const denies = denyStatementsOf(key);
      expect(denies).toHaveLength(1);
      expect([...actionsOf(denies[0] as PolicyStatement)].sort()).toEqual(GUARDED_ACTIONS);
      expect(denies[0]).toMatchObject({ Principal: { AWS: '*' }, Resource: '*' });
      expect(denies[0]).not.toHaveProperty('Condition');
      // KMS refuses to create a key whose policy locks its creator out of PutKeyPolicy unless told to.
      expect(key.Properties.BypassPolicyLockoutSafetyCheck).toBe(true);
    });

    it('lets the break-glass role, and only it, disable, delete or re-policy it', () => {
      const keyId = prod.stateful.getLogicalId(prod.stateful.evidenceKey.node.defaultChild as never);
      const denies = denyStatementsOf(resourcesOf(prod)[keyId] as Resource);
      expect(denies).toHaveLength(1);
      expect([...actionsOf(denies[0] as PolicyStatement)].sort()).toEqual(GUARDED_ACTIONS);
      expect(denies[0]).toMatchObject({
        Principal: { AWS: '*' },
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': BREAK_GLASS } },
      });
    });

    it('is never scheduled for deletion in a removalPolicy=destroy stage, nor is any key under a lockable bucket', () => {
      const resources = resourcesOf(dev);
      const lockable = Object.values(resources).filter(
        (r) => r.Type === 'AWS::S3::Bucket' && r.Properties.ObjectLockEnabled === true,
      );
      // Evidence and artifacts.
      expect(lockable).toHaveLength(2);
      for (const bucket of lockable) {
        const key = resources[keyIdOf(bucket)] as Resource;
        expect(key.DeletionPolicy).toBe('Retain');
        expect(key.UpdateReplacePolicy).toBe('Retain');
        expect(denyStatementsOf(key).flatMap(actionsOf)).toContain('kms:ScheduleKeyDeletion');
      }
      // The rest of the stage is throwaway: the data key under its tables and queues is destroyed.
      const dataKeyId = dev.stateful.getLogicalId(dev.stateful.dataKey.node.defaultChild as never);
      expect(resources[dataKeyId]?.DeletionPolicy).toBe('Delete');
    });

    it('is what the evidence and artifacts writers get: GenerateDataKey and Decrypt on it, through S3 only', () => {
      const statements = allPolicyStatements(prod.flatApiTemplate)
        .map(({ statement }) => statement)
        .filter((s) => JSON.stringify(s.Resource).includes('EvidenceKey'))
        // The compliance collector's DescribeKey and GetKeyRotationStatus read the key's settings, no data.
        .filter(
          (s) => JSON.stringify(s.Action) !== JSON.stringify(['kms:DescribeKey', 'kms:GetKeyRotationStatus']),
        );
      // One per function with evidence or artifacts prefixes: the decision archive's writer (authorize),
      // the eval functions (reports in the artifacts bucket), the runbooks functions (the trail's mirror),
      // the edge-sync function (document snapshots in the artifacts bucket), the compliance function
      // (its evidence).
      const writers = functionsOf(PILLARS).filter(
        (fn) => (fn.evidence ?? []).length > 0 || (fn.artifacts ?? []).length > 0,
      );
      expect(writers).toHaveLength(9);
      expect(statements).toHaveLength(writers.length);
      for (const statement of statements) {
        expect([...actionsOf(statement as PolicyStatement)].sort()).toEqual([
          'kms:Decrypt',
          'kms:GenerateDataKey',
        ]);
        expect(statement).toMatchObject({
          Effect: 'Allow',
          Condition: {
            StringEquals: {
              'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
            },
          },
        });
      }
    });
  });

  describe('the runbook signing key', () => {
    const keyOf = (synth: Synthesized): Resource => {
      const id = synth.stateful.getLogicalId(synth.stateful.runbookSigningKey.node.defaultChild as never);
      return resourcesOf(synth)[id] as Resource;
    };
    const allowsOf = (synth: Synthesized) =>
      (keyOf(synth).Properties.KeyPolicy as { Statement: (PolicyStatement & Record<string, unknown>)[] })
        .Statement;

    it('is retained in a removalPolicy=destroy stage: the signatures it made must stay verifiable', () => {
      expect(keyOf(dev)).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      expect(keyOf(dev).Properties).toMatchObject({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' });
      dev.statefulTemplate.hasResourceProperties('AWS::KMS::Alias', {
        AliasName: 'alias/conductor-dev-runbook-signing',
      });
    });

    it('lets the runbookSigners roles sign with RSASSA_PSS_SHA_256 only and read the key, and nobody else but the account’s IAM', () => {
      const statements = allowsOf(prod);
      expect(statements.every((s) => s.Effect === 'Allow')).toBe(true);
      const principals = (s: Record<string, unknown>) =>
        [(s.Principal as { AWS: unknown }).AWS]
          .flat()
          .map((p) => JSON.stringify(p))
          .sort();
      expect(statements.map((s) => ({ ...s, Principal: principals(s) }))).toEqual([
        { Effect: 'Allow', Action: 'kms:*', Principal: [JSON.stringify(ACCOUNT_ROOT)], Resource: '*' },
        {
          Sid: 'AllowRunbookSignersToSign',
          Effect: 'Allow',
          Action: 'kms:Sign',
          Principal: SIGNERS.map((arn) => JSON.stringify(arn)).sort(),
          Resource: '*',
          Condition: { StringEquals: { 'kms:SigningAlgorithm': 'RSASSA_PSS_SHA_256' } },
        },
        {
          Sid: 'AllowRunbookSignersToReadTheKey',
          Effect: 'Allow',
          Action: ['kms:DescribeKey', 'kms:GetPublicKey'],
          Principal: SIGNERS.map((arn) => JSON.stringify(arn)).sort(),
          Resource: '*',
        },
      ]);
      // Without signers, the default statement alone: the account's IAM policies decide.
      expect(allowsOf(dev)).toEqual([
        { Effect: 'Allow', Action: 'kms:*', Principal: { AWS: ACCOUNT_ROOT }, Resource: '*' },
      ]);
    });
  });
});

describe('propsFromContext: retention', () => {
  const probe = (context: Record<string, unknown>) =>
    propsFromContext(new Stack(new App({ context }), 'Probe').node);

  it('reads evidenceRetentionDays (from -c text or a cdk.json number) and the break-glass role ARN', () => {
    expect(probe({ evidenceRetentionDays: '30' }).evidenceRetentionDays).toBe(30);
    expect(probe({ evidenceRetentionDays: 3650 }).evidenceRetentionDays).toBe(3650);
    expect(probe({}).evidenceRetentionDays).toBeUndefined();
    expect(probe({ evidenceBreakGlassRoleArn: ` ${BREAK_GLASS} ` }).evidenceBreakGlassRoleArn).toBe(
      BREAK_GLASS,
    );
  });

  it('refuses a retention that is not a whole number of days between 1 and 36500, naming it', () => {
    for (const value of ['0', '-5', '1.5', 'a year', '36501']) {
      expect(() => probe({ evidenceRetentionDays: value }), value).toThrow(/evidenceRetentionDays/);
    }
  });

  it('refuses a break-glass ARN that is not an IAM role', () => {
    for (const value of [
      'conductor-break-glass',
      'arn:aws:iam::123456789012:user/ana',
      'arn:aws:iam::12345:role/x',
    ]) {
      expect(() => probe({ evidenceBreakGlassRoleArn: value }), value).toThrow(/evidenceBreakGlassRoleArn/);
    }
  });
});
