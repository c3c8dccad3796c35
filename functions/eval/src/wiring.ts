import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { makeS3Client } from '#shared/adapters/s3-client.js';
import { S3WormStore } from '#shared/adapters/s3-worm-store.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { standIns } from '#shared/ports/stand-ins.js';
import type { WormStore } from '#shared/ports/worm.js';
import {
  type BaselineRecord,
  type EvalServiceDeps,
  type QuarantineRecord,
  RUN_TTL_SECONDS,
  type RunRecord,
  type SuiteRecord,
  type SuiteVersionRecord,
} from './domain/runs.js';

/** The eval table's record stores: suites, versions, baselines and quarantines kept; runs 30 days. */
export const evalRecords = (doc: Pick<DynamoDBDocumentClient, 'send'>, table: string) => ({
  suites: new TenantRecordStore<SuiteRecord>(doc, table, 'EVAL_SUITE', undefined, { resourceName: 'suite' }),
  suiteVersions: new TenantRecordStore<SuiteVersionRecord>(doc, table, 'EVAL_SUITE_VERSION', undefined, {
    resourceName: 'suite version',
  }),
  runs: new TenantRecordStore<RunRecord>(doc, table, 'EVAL_RUN', RUN_TTL_SECONDS, { resourceName: 'run' }),
  baselines: new TenantRecordStore<BaselineRecord>(doc, table, 'EVAL_BASELINE', undefined, {
    resourceName: 'baseline',
  }),
  quarantines: new TenantRecordStore<QuarantineRecord>(doc, table, 'EVAL_QUARANTINE', undefined, {
    resourceName: 'quarantine',
  }),
});

/**
 * The artifacts store: the embedded runtime's stand-in when it gave one, else the artifacts bucket
 * (write-once puts, as the evidence store; the bucket has Object Lock enabled without a default retention).
 */
export const artifactsStore = async (
  env: {
    readonly AWS_REGION: string;
    readonly AWS_ENDPOINT_URL_S3?: string | undefined;
    readonly ARTIFACTS_BUCKET_NAME?: string | undefined;
  },
  instrument: Parameters<typeof makeS3Client>[0]['instrument'],
): Promise<WormStore> => {
  const local = standIns().artifacts;
  if (local) return local;
  if (!env.ARTIFACTS_BUCKET_NAME) {
    throw new Error('Invalid environment: ARTIFACTS_BUCKET_NAME: required (eval reports are written there)');
  }
  const s3 = await makeS3Client({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL_S3, instrument });
  return new S3WormStore(s3, env.ARTIFACTS_BUCKET_NAME);
};

export type EvalRecords = Pick<
  EvalServiceDeps,
  'suites' | 'suiteVersions' | 'runs' | 'baselines' | 'quarantines'
>;
