import { GetRoutesCommand } from '@aws-sdk/client-apigatewayv2';
import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import {
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { DescribeKeyCommand, GetKeyRotationStatusCommand } from '@aws-sdk/client-kms';
import {
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketPolicyCommand,
  GetBucketVersioningCommand,
  GetObjectLockConfigurationCommand,
  GetPublicAccessBlockCommand,
} from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { ControlTest, TestOutcome } from '../domain/assess.js';

/**
 * Control tests against the deployment's own AWS resources, through the SDK (each answer kept as the
 * evidence's observations). Read-only calls on the resources the deployment names; an AccessDenied
 * or any other SDK error makes the test an `error` result, recorded like a failure.
 */

type Sender = { send(command: object): Promise<unknown> };
const send = <T>(client: Sender, command: object): Promise<T> => client.send(command) as Promise<T>;

/** The outcome of a list of named checks: pass when all hold, the failing ones named in the summary. */
const outcomeOf = (
  what: string,
  checks: readonly { readonly name: string; readonly ok: boolean }[],
  observations: unknown,
): TestOutcome => {
  const failed = checks.filter((check) => !check.ok).map((check) => check.name);
  return {
    status: failed.length === 0 ? 'pass' : 'fail',
    summary: failed.length === 0 ? `${what}: ${checks.length} checks hold` : `${what}: ${failed.join('; ')}`,
    observations,
  };
};

/** Storage classes colder than Standard: what "infrequent access by 90 days" may move objects to. */
const COLDER_CLASSES = new Set([
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
  'GLACIER',
  'DEEP_ARCHIVE',
]);

/** A missing configuration is an answer (e.g. no lifecycle): the SDK's "not found" error codes. */
const orAbsent = async <T>(call: Promise<T>, codes: readonly string[]): Promise<T | undefined> => {
  try {
    return await call;
  } catch (error) {
    if (codes.includes((error as { name?: string }).name ?? '')) return undefined;
    throw error;
  }
};

/**
 * `aws.evidence-bucket-lock`: the evidence bucket has Object Lock with a default retention (COMPLIANCE
 * in production stages), versioning, KMS encryption, all public access blocked, and a policy denying
 * requests without TLS.
 */
export const evidenceBucketLock = (s3: Sender, bucket: string, production: boolean): ControlTest => ({
  id: 'aws.evidence-bucket-lock',
  run: async () => {
    const lock = await send<{
      ObjectLockConfiguration?: {
        ObjectLockEnabled?: string;
        Rule?: { DefaultRetention?: { Mode?: string; Days?: number; Years?: number } };
      };
    }>(s3, new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    const versioning = await send<{ Status?: string }>(
      s3,
      new GetBucketVersioningCommand({ Bucket: bucket }),
    );
    const encryption = await send<{
      ServerSideEncryptionConfiguration?: {
        Rules?: { ApplyServerSideEncryptionByDefault?: { SSEAlgorithm?: string } }[];
      };
    }>(s3, new GetBucketEncryptionCommand({ Bucket: bucket }));
    const publicAccess = await send<{ PublicAccessBlockConfiguration?: Record<string, boolean> }>(
      s3,
      new GetPublicAccessBlockCommand({ Bucket: bucket }),
    );
    const policy = await orAbsent(
      send<{ Policy?: string }>(s3, new GetBucketPolicyCommand({ Bucket: bucket })),
      ['NoSuchBucketPolicy'],
    );
    const retention = lock.ObjectLockConfiguration?.Rule?.DefaultRetention;
    const block = publicAccess.PublicAccessBlockConfiguration ?? {};
    const statements = (JSON.parse(policy?.Policy ?? '{"Statement":[]}') as { Statement: unknown[] })
      .Statement;
    const tlsOnly = statements.some((statement) => {
      const text = JSON.stringify(statement);
      return text.includes('"Deny"') && text.includes('aws:SecureTransport') && text.includes('false');
    });
    return outcomeOf(
      `evidence bucket ${bucket}`,
      [
        { name: 'Object Lock enabled', ok: lock.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled' },
        {
          name: `a default retention${production ? ' in COMPLIANCE mode' : ''}`,
          ok:
            retention !== undefined &&
            ((retention.Days ?? 0) > 0 || (retention.Years ?? 0) > 0) &&
            (!production || retention.Mode === 'COMPLIANCE'),
        },
        { name: 'versioning enabled', ok: versioning.Status === 'Enabled' },
        {
          name: 'KMS encryption by default',
          ok: (encryption.ServerSideEncryptionConfiguration?.Rules ?? []).some((rule) =>
            (rule.ApplyServerSideEncryptionByDefault?.SSEAlgorithm ?? '').startsWith('aws:kms'),
          ),
        },
        {
          name: 'all public access blocked',
          ok:
            block.BlockPublicAcls === true &&
            block.BlockPublicPolicy === true &&
            block.IgnorePublicAcls === true &&
            block.RestrictPublicBuckets === true,
        },
        { name: 'TLS-only bucket policy', ok: tlsOnly },
      ],
      { bucket, lock, versioning, encryption, publicAccess, policyStatements: statements.length, tlsOnly },
    );
  },
});

/**
 * `aws.kms-rotation`: every symmetric customer-managed key of the deployment rotates automatically
 * and is enabled; an asymmetric key (the runbook signing key, which KMS cannot rotate) is enabled and
 * younger than `maxAsymmetricAgeDays` (its rotation is a ceremony, ticketed at 90 days).
 */
export const kmsRotation = (
  kms: Sender,
  keyArns: readonly string[],
  maxAsymmetricAgeDays = 365,
): ControlTest => ({
  id: 'aws.kms-rotation',
  run: async ({ now }) => {
    const keys = [];
    for (const keyId of keyArns) {
      const { KeyMetadata: meta } = await send<{
        KeyMetadata?: { KeyState?: string; KeySpec?: string; CreationDate?: Date; KeyManager?: string };
      }>(kms, new DescribeKeyCommand({ KeyId: keyId }));
      const symmetric = (meta?.KeySpec ?? 'SYMMETRIC_DEFAULT') === 'SYMMETRIC_DEFAULT';
      const rotation = symmetric
        ? await send<{ KeyRotationEnabled?: boolean }>(kms, new GetKeyRotationStatusCommand({ KeyId: keyId }))
        : undefined;
      const ageDays =
        meta?.CreationDate === undefined
          ? undefined
          : (now.getTime() - new Date(meta.CreationDate).getTime()) / 86_400_000;
      keys.push({
        keyId,
        state: meta?.KeyState,
        spec: meta?.KeySpec,
        symmetric,
        rotation: rotation?.KeyRotationEnabled,
        ageDays,
      });
    }
    return outcomeOf(
      `${keys.length} KMS keys`,
      keys.flatMap((key) => [
        { name: `${key.keyId} enabled`, ok: key.state === 'Enabled' },
        key.symmetric
          ? { name: `${key.keyId} rotates automatically`, ok: key.rotation === true }
          : {
              name: `${key.keyId} (asymmetric) younger than ${maxAsymmetricAgeDays} days`,
              ok: key.ageDays !== undefined && key.ageDays < maxAsymmetricAgeDays,
            },
      ]),
      { keys },
    );
  },
});

/** `aws.dynamodb-pitr-encryption`: every table of the deployment has point-in-time recovery and KMS encryption. */
export const dynamoPitrEncryption = (dynamodb: Sender, tables: readonly string[]): ControlTest => ({
  id: 'aws.dynamodb-pitr-encryption',
  run: async () => {
    const observed = [];
    for (const table of tables) {
      const backups = await send<{
        ContinuousBackupsDescription?: {
          PointInTimeRecoveryDescription?: { PointInTimeRecoveryStatus?: string };
        };
      }>(dynamodb, new DescribeContinuousBackupsCommand({ TableName: table }));
      const described = await send<{ Table?: { SSEDescription?: { Status?: string; SSEType?: string } } }>(
        dynamodb,
        new DescribeTableCommand({ TableName: table }),
      );
      observed.push({
        table,
        pitr: backups.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus,
        sse: described.Table?.SSEDescription,
      });
    }
    return outcomeOf(
      `${observed.length} tables`,
      observed.flatMap((t) => [
        { name: `${t.table} point-in-time recovery`, ok: t.pitr === 'ENABLED' },
        { name: `${t.table} KMS encryption`, ok: t.sse?.Status === 'ENABLED' && t.sse.SSEType === 'KMS' },
      ]),
      { tables: observed },
    );
  },
});

/**
 * `aws.retention-lifecycle`: the requirements' retention. Every table's TTL is on (`expiresAt`: hot
 * records expire, 30 days for the decision log); the archive buckets move objects to a colder class
 * (infrequent access, Glacier) by 90 days and expire them, not before 13 months (396 days).
 */
export const retentionLifecycle = (
  s3: Sender,
  dynamodb: Sender,
  resources: { readonly tables: readonly string[]; readonly buckets: readonly string[] },
): ControlTest => ({
  id: 'aws.retention-lifecycle',
  run: async () => {
    const tables = [];
    for (const table of resources.tables) {
      const ttl = await send<{
        TimeToLiveDescription?: { TimeToLiveStatus?: string; AttributeName?: string };
      }>(dynamodb, new DescribeTimeToLiveCommand({ TableName: table }));
      tables.push({ table, ttl: ttl.TimeToLiveDescription });
    }
    const buckets = [];
    for (const bucket of resources.buckets) {
      const lifecycle = await orAbsent(
        send<{
          Rules?: {
            Status?: string;
            Transitions?: { Days?: number; StorageClass?: string }[];
            Expiration?: { Days?: number };
          }[];
        }>(s3, new GetBucketLifecycleConfigurationCommand({ Bucket: bucket })),
        ['NoSuchLifecycleConfiguration'],
      );
      const rules = (lifecycle?.Rules ?? []).filter((rule) => rule.Status === 'Enabled');
      buckets.push({
        bucket,
        toInfrequentAccessDays: Math.min(
          ...rules.flatMap((rule) =>
            (rule.Transitions ?? [])
              .filter((t) => COLDER_CLASSES.has(t.StorageClass ?? ''))
              .map((t) => t.Days ?? 0),
          ),
        ),
        expirationDays: Math.min(...rules.map((rule) => rule.Expiration?.Days ?? Number.POSITIVE_INFINITY)),
      });
    }
    return outcomeOf(
      `${tables.length} tables, ${buckets.length} buckets`,
      [
        ...tables.map((t) => ({
          name: `${t.table} TTL on expiresAt`,
          ok:
            (t.ttl?.TimeToLiveStatus === 'ENABLED' || t.ttl?.TimeToLiveStatus === 'ENABLING') &&
            t.ttl.AttributeName === 'expiresAt',
        })),
        ...buckets.flatMap((b) => [
          { name: `${b.bucket} to a colder class by 90 days`, ok: b.toInfrequentAccessDays <= 90 },
          {
            name: `${b.bucket} expires, not before 13 months (396 days)`,
            ok: b.expirationDays >= 396 && Number.isFinite(b.expirationDays),
          },
        ]),
      ],
      {
        tables,
        buckets: buckets.map((b) => ({
          ...b,
          toInfrequentAccessDays: Number.isFinite(b.toInfrequentAccessDays) ? b.toInfrequentAccessDays : null,
          expirationDays: Number.isFinite(b.expirationDays) ? b.expirationDays : null,
        })),
      },
    );
  },
});

/**
 * `aws.log-retention`: every log group of the deployment (by name prefix: the functions', the API's
 * access logs, the workflows') keeps its logs for at least `minDays` and not forever (a group that
 * never expires keeps personal data without end). At least one group must be found.
 */
export const logRetention = (logs: Sender, prefixes: readonly string[], minDays = 30): ControlTest => ({
  id: 'aws.log-retention',
  run: async () => {
    const groups: { name: string; retentionInDays: number | null }[] = [];
    for (const prefix of prefixes) {
      let nextToken: string | undefined;
      do {
        const page = await send<{
          logGroups?: { logGroupName?: string; retentionInDays?: number }[];
          nextToken?: string;
        }>(
          logs,
          new DescribeLogGroupsCommand({ logGroupNamePrefix: prefix, ...(nextToken ? { nextToken } : {}) }),
        );
        for (const group of page.logGroups ?? []) {
          groups.push({ name: group.logGroupName ?? '?', retentionInDays: group.retentionInDays ?? null });
        }
        nextToken = page.nextToken;
      } while (nextToken);
    }
    return outcomeOf(
      `${groups.length} log groups`,
      [
        { name: `log groups found under ${prefixes.join(', ')}`, ok: groups.length > 0 },
        ...groups.map((group) => ({
          name: `${group.name} keeps logs ${minDays} days or more, not forever`,
          ok: group.retentionInDays !== null && group.retentionInDays >= minDays,
        })),
      ],
      { minDays, groups },
    );
  },
});

/**
 * `aws.api-routes-authorized`: every route of the HTTP API is behind the JWT authorizer, except the
 * route keys the catalog declares public (health, the OpenAPI document, `$default`'s uniform 404).
 */
export const apiRoutesAuthorized = (
  apigateway: Sender,
  apiId: string,
  publicRouteKeys: readonly string[],
): ControlTest => ({
  id: 'aws.api-routes-authorized',
  run: async () => {
    const routes: { routeKey: string; authorizationType: string }[] = [];
    let nextToken: string | undefined;
    do {
      const page = await send<{
        Items?: { RouteKey?: string; AuthorizationType?: string }[];
        NextToken?: string;
      }>(apigateway, new GetRoutesCommand({ ApiId: apiId, ...(nextToken ? { NextToken: nextToken } : {}) }));
      for (const route of page.Items ?? []) {
        routes.push({
          routeKey: route.RouteKey ?? '?',
          authorizationType: route.AuthorizationType ?? 'NONE',
        });
      }
      nextToken = page.NextToken;
    } while (nextToken);
    const open = routes.filter(
      (route) => route.authorizationType !== 'JWT' && !publicRouteKeys.includes(route.routeKey),
    );
    return outcomeOf(
      `${routes.length} routes of API ${apiId}`,
      [
        { name: 'routes found', ok: routes.length > 0 },
        ...open.map((route) => ({ name: `${route.routeKey} is not behind the JWT authorizer`, ok: false })),
      ],
      { apiId, publicRouteKeys, routes },
    );
  },
});

/**
 * `aws.dlq-alarmed`: every dead-letter queue has an enabled CloudWatch alarm with actions on its
 * visible messages, and its depth is reported (a message there is a failure someone must look at).
 */
export const dlqAlarmed = (
  cloudwatch: Sender,
  sqs: Sender,
  deadLetterQueues: readonly { readonly name: string; readonly url: string }[],
): ControlTest => ({
  id: 'aws.dlq-alarmed',
  run: async () => {
    const alarms: {
      AlarmName?: string;
      MetricName?: string;
      Dimensions?: { Name?: string; Value?: string }[];
      ActionsEnabled?: boolean;
      AlarmActions?: string[];
    }[] = [];
    let nextToken: string | undefined;
    do {
      const page = await send<{ MetricAlarms?: typeof alarms; NextToken?: string }>(
        cloudwatch,
        new DescribeAlarmsCommand({
          AlarmTypes: ['MetricAlarm'],
          ...(nextToken ? { NextToken: nextToken } : {}),
        }),
      );
      alarms.push(...(page.MetricAlarms ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
    const queues = [];
    for (const dlq of deadLetterQueues) {
      const attributes = await send<{ Attributes?: Record<string, string> }>(
        sqs,
        new GetQueueAttributesCommand({ QueueUrl: dlq.url, AttributeNames: ['ApproximateNumberOfMessages'] }),
      );
      const alarm = alarms.find(
        (a) =>
          a.MetricName === 'ApproximateNumberOfMessagesVisible' &&
          (a.Dimensions ?? []).some((d) => d.Name === 'QueueName' && d.Value === dlq.name) &&
          a.ActionsEnabled === true &&
          (a.AlarmActions ?? []).length > 0,
      );
      queues.push({
        name: dlq.name,
        depth: Number(attributes.Attributes?.ApproximateNumberOfMessages ?? '0'),
        alarm: alarm?.AlarmName ?? null,
      });
    }
    return outcomeOf(
      `${queues.length} dead-letter queues`,
      queues.map((queue) => ({ name: `${queue.name} has an alarm that notifies`, ok: queue.alarm !== null })),
      { queues },
    );
  },
});
