import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
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

export type EvalRecords = Pick<
  EvalServiceDeps,
  'suites' | 'suiteVersions' | 'runs' | 'baselines' | 'quarantines'
>;
