import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiGatewayV2Client } from '@aws-sdk/client-apigatewayv2';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { type ClientOptions, instrumented, sdkConfig } from '#shared/adapters/clients.js';
import { makeDynamoDbClient } from '#shared/adapters/dynamodb-client.js';
import { makeKmsClient } from '#shared/adapters/kms-client.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import type { PersonalEvidenceSpec, TableSpec } from '#shared/pillar.js';
import type { TenantRecords } from '#shared/ports/records.js';
import { isWormListing, type WormStore } from '#shared/ports/worm.js';
import controls from '../catalog/controls.json' with { type: 'json' };
import gdpr from '../catalog/gdpr.json' with { type: 'json' };
import soc2 from '../catalog/soc2.json' with { type: 'json' };
import {
  apiRoutesAuthorized,
  dlqAlarmed,
  dynamoPitrEncryption,
  evidenceBucketLock,
  kmsRotation,
  logRetention,
  retentionLifecycle,
} from './adapters/aws-checks.js';
import { DynamoLoggedDecisions } from './adapters/decision-log.js';
import { DynamoBudgetReader, DynamoEvalRunReader } from './adapters/tenant-activity.js';
import { budgetsConfigured, evalGatesRun, grantsReviewed } from './domain/activity-checks.js';
import type {
  AssessmentRecord,
  ControlState,
  ControlTest,
  FindingRecord,
  SeenEventRecord,
} from './domain/assess.js';
import { type CatalogFile, parseCatalog } from './domain/catalog.js';
import { decisionArchive, decisionsLogged } from './domain/decision-checks.js';
import type { DsrRecord, PersonalDataEntry, RetainedData } from './domain/dsr.js';
import { dsrLog, type ProcessingTable, processingRecords } from './domain/gdpr-checks.js';
import { evidenceStoreWorm, runbooksSignedApproved } from './domain/platform-checks.js';

/** The compliance table's record stores: control states, findings (never archived), assessments, change events seen. */
export const complianceStores = (doc: Pick<DynamoDBDocumentClient, 'send'>, table: string) => ({
  controls: new TenantRecordStore<ControlState>(doc, table, 'CONTROL', undefined, {
    resourceName: 'control',
  }),
  findings: new TenantRecordStore<FindingRecord>(doc, table, 'FINDING', undefined, {
    resourceName: 'finding',
  }),
  assessments: new TenantRecordStore<AssessmentRecord>(doc, table, 'ASSESSMENT', undefined, {
    resourceName: 'assessment',
  }),
  seen: new TenantRecordStore<SeenEventRecord>(doc, table, 'SEEN_EVENT', undefined, {
    resourceName: 'event',
  }),
  dsr: new TenantRecordStore<DsrRecord>(doc, table, 'DSR', undefined, {
    resourceName: 'data subject request',
  }),
});

/**
 * The catalog's record of processing (functions/compliance/generated/processing-register.json, which
 * `npm run openapi` writes from the pillars' manifests): every table with its `personalData`, and the
 * WORM evidence that names people. Bundled as data: the compliance function imports no pillar.
 */
export interface ProcessingRegister {
  readonly tables: readonly (Pick<TableSpec, 'id' | 'envVar' | 'description' | 'personalData'> & {
    readonly pillar: string;
  })[];
  readonly evidence: readonly (PersonalEvidenceSpec & { readonly pillar: string })[];
}

/**
 * What data subject requests and the records-of-processing check use of the register: every
 * declared entity, the WORM evidence that names people, the table names the entities live in (each
 * table's `envVar`, which the runtime or CDK sets), and the record of processing per table.
 */
export const personalDataRegister = (
  register: ProcessingRegister,
  env: Readonly<Record<string, string | undefined>>,
): {
  register: PersonalDataEntry[];
  retained: RetainedData[];
  tableNames: Record<string, string>;
  processing: ProcessingTable[];
} => {
  const tableNames: Record<string, string> = {};
  for (const table of register.tables) {
    if (!(table.personalData ?? []).some((spec) => spec.notSearched === undefined)) continue;
    const name = env[table.envVar];
    if (!name)
      throw new Error(`Invalid environment: ${table.envVar}: required (data subject requests read it)`);
    tableNames[table.id] = name;
  }
  const entries = register.tables.flatMap((table) =>
    (table.personalData ?? []).map((spec) => ({ ...spec, pillar: table.pillar, table: table.id })),
  );
  const retained = register.evidence.map((spec) => ({
    pillar: spec.pillar,
    where: `evidence:${spec.prefix}`,
    purpose: spec.purpose,
    retention: spec.retention,
    reason:
      spec.storedAs === 'keyed-hash'
        ? `WORM evidence (Object Lock), unchangeable until its retention ends; it holds the person only as their keyed hash (this request's subjectHash) in ${spec.subjectFields.join(', ')}`
        : `WORM evidence (Object Lock), unchangeable until its retention ends; it holds the id in clear in ${spec.subjectFields.join(', ')} (a known gap: platform.dsr-log fails on it)`,
  }));
  const processing = register.tables.map((table) => ({
    pillar: table.pillar,
    table: table.id,
    description: table.description,
    personalData:
      table.personalData === undefined ? undefined : entries.filter((entry) => entry.table === table.id),
  }));
  return { register: entries, retained, tableNames, processing };
};

/** The built-in catalog (functions/compliance/catalog), bundled with the function. */
export const BUILT_IN_CATALOG: readonly CatalogFile[] = [
  { source: 'controls.json', text: JSON.stringify(controls) },
  { source: 'soc2.json', text: JSON.stringify(soc2) },
  { source: 'gdpr.json', text: JSON.stringify(gdpr) },
];

/**
 * Custom catalog files: every `*.json` of `dir` (a framework, or more controls), read after the
 * built-in ones; a malformed one stops the function with its path and reason (`CatalogError`).
 */
export const catalogFilesIn = (dir: string | undefined): CatalogFile[] =>
  dir === undefined
    ? []
    : readdirSync(dir)
        .filter((name) => name.endsWith('.json'))
        .sort()
        .map((name) => ({ source: join(dir, name), text: readFileSync(join(dir, name), 'utf8') }));

/**
 * What the AWS checks test, as CDK writes it into COMPLIANCE_RESOURCES: the deployment's own
 * resources, by name. Absent (the embedded runtime), the AWS checks are `not_applicable`.
 */
export const complianceResourcesSchema = z.object({
  /** A production stage: the evidence bucket's default retention must be COMPLIANCE mode. */
  production: z.boolean(),
  evidenceBucket: z.string().min(1),
  /** The buckets whose lifecycle must keep the retention policy (evidence, artifacts). */
  buckets: z.array(z.string().min(1)),
  keyArns: z.array(z.string().min(1)),
  tables: z.array(z.string().min(1)),
  logGroupPrefixes: z.array(z.string().min(1)).min(1),
  apiId: z.string().min(1),
  /** Route keys served without the authorizer on purpose (the catalog's public routes). */
  publicRouteKeys: z.array(z.string()),
  deadLetterQueues: z.array(z.object({ name: z.string().min(1), url: z.string().min(1) })),
});
export type ComplianceResources = z.output<typeof complianceResourcesSchema>;

export const AWS_TEST_IDS = [
  'aws.evidence-bucket-lock',
  'aws.kms-rotation',
  'aws.dynamodb-pitr-encryption',
  'aws.retention-lifecycle',
  'aws.log-retention',
  'aws.api-routes-authorized',
  'aws.dlq-alarmed',
] as const;

/** The platform checks: every one has a collector (the decision and activity checks need a store that lists). */
export const PLATFORM_TEST_IDS = [
  'platform.evidence-store-worm',
  'platform.decision-archive',
  'platform.decisions-logged',
  'platform.grants-reviewed',
  'platform.runbooks-signed-approved',
  'platform.eval-gates-run',
  'platform.budgets-configured',
  'platform.dsr-log',
  'platform.processing-records',
] as const;

/** A test that cannot run in this deployment: its evidence says why; it neither passes nor fails. */
const notApplicable = (id: string, why: string): ControlTest => ({
  id,
  run: async () => ({ status: 'not_applicable', summary: `${id}: ${why}`, observations: { reason: why } }),
});

/**
 * A catalog test this version has no collector for: an `error` result (the control is not tested,
 * and its finding says so) rather than a pass nobody checked.
 */
const notBuilt = (id: string): ControlTest => ({
  id,
  run: async () => ({
    status: 'error',
    summary: `${id}: no collector in this version of Conductor (functions/compliance/README.md lists what is tested)`,
    observations: { collector: 'none' },
  }),
});

/** Every test of the catalog, by id: the AWS checks (or not_applicable without AWS), the platform checks. */
export const controlTests = (options: {
  readonly evidence: WormStore;
  /** The change events the subscription recorded (runbook executions, refusals); sound trails are marked on them. */
  readonly seen: Pick<TenantRecords<SeenEventRecord>, 'list' | 'replace'>;
  /** The data subject request log, for platform.dsr-log. */
  readonly dsr: Pick<TenantRecords<DsrRecord>, 'list'>;
  /** The catalog's record of processing, for platform.processing-records. */
  readonly processing: {
    readonly tables: readonly ProcessingTable[];
    readonly retained: readonly RetainedData[];
  };
  /** The WORM evidence that names people, and how (for platform.dsr-log). */
  readonly personalEvidence?: ProcessingRegister['evidence'] | undefined;
  readonly probeId: () => string;
  /** The kernel's decision log (the policy table), compared with the archive the evidence store lists. */
  readonly decisionLog?:
    | { readonly doc: Pick<DynamoDBDocumentClient, 'send'>; readonly tableName: string }
    | undefined;
  /** The scheduler's and eval's tables (record reads of BUDGET, EVAL_RUN). */
  readonly tenantActivity?:
    | {
        readonly doc: Pick<DynamoDBDocumentClient, 'send'>;
        readonly schedulerTable: string;
        readonly evalTable: string;
      }
    | undefined;
  readonly resources?: ComplianceResources | undefined;
  readonly aws?: ClientOptions | undefined;
}): Map<string, ControlTest> => {
  const tests = new Map<string, ControlTest>();
  const { resources, aws } = options;
  if (resources && aws) {
    const s3 = instrumented(aws, new S3Client(sdkConfig(aws)));
    const dynamodb = makeDynamoDbClient(aws);
    const add = (test: ControlTest) => tests.set(test.id, test);
    add(evidenceBucketLock(s3, resources.evidenceBucket, resources.production));
    add(kmsRotation(makeKmsClient(aws), resources.keyArns));
    add(dynamoPitrEncryption(dynamodb, resources.tables));
    add(retentionLifecycle(s3, dynamodb, { tables: resources.tables, buckets: resources.buckets }));
    add(
      logRetention(instrumented(aws, new CloudWatchLogsClient(sdkConfig(aws))), resources.logGroupPrefixes),
    );
    add(
      apiRoutesAuthorized(
        instrumented(aws, new ApiGatewayV2Client(sdkConfig(aws))),
        resources.apiId,
        resources.publicRouteKeys,
      ),
    );
    add(
      dlqAlarmed(
        instrumented(aws, new CloudWatchClient(sdkConfig(aws))),
        instrumented(aws, new SQSClient(sdkConfig(aws))),
        resources.deadLetterQueues,
      ),
    );
  } else {
    for (const id of AWS_TEST_IDS) {
      tests.set(id, notApplicable(id, 'runs on AWS only: the embedded runtime has no such resource to test'));
    }
  }
  for (const id of PLATFORM_TEST_IDS) tests.set(id, notBuilt(id));
  tests.set('platform.evidence-store-worm', evidenceStoreWorm(options.evidence, options.probeId));
  tests.set('platform.runbooks-signed-approved', runbooksSignedApproved(options.seen, options.evidence));
  tests.set('platform.dsr-log', dsrLog(options.dsr, options.evidence, options.personalEvidence ?? []));
  if (options.decisionLog && isWormListing(options.evidence)) {
    const sources = {
      archive: options.evidence,
      log: new DynamoLoggedDecisions(options.decisionLog.doc, options.decisionLog.tableName),
    };
    tests.set('platform.decision-archive', decisionArchive(sources));
    tests.set('platform.decisions-logged', decisionsLogged(sources));
  }
  if (isWormListing(options.evidence)) {
    const archived = { archive: options.evidence };
    tests.set('platform.grants-reviewed', grantsReviewed(archived));
    if (options.tenantActivity) {
      const { doc, schedulerTable, evalTable } = options.tenantActivity;
      tests.set(
        'platform.budgets-configured',
        budgetsConfigured({ ...archived, budgets: new DynamoBudgetReader(doc, schedulerTable) }),
      );
      tests.set(
        'platform.eval-gates-run',
        evalGatesRun({ ...archived, runs: new DynamoEvalRunReader(doc, evalTable) }),
      );
    }
  }
  tests.set(
    'platform.processing-records',
    processingRecords(options.processing.tables, options.processing.retained),
  );
  return tests;
};

/** The catalog: built-in files and the custom ones of `dir`, checked against the tests there are. */
export const complianceCatalog = (dir: string | undefined) =>
  parseCatalog(
    [...BUILT_IN_CATALOG, ...catalogFilesIn(dir)],
    new Set([...AWS_TEST_IDS, ...PLATFORM_TEST_IDS]),
  );
