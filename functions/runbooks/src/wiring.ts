import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { evidenceStore } from '#shared/adapters/artifacts-store.js';
import { makeKmsClient } from '#shared/adapters/kms-client.js';
import { makeSfnClient } from '#shared/adapters/sfn-client.js';
import { subjectHasherFor } from '#shared/adapters/subject-hasher.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { DSR_SUBJECT_KEY_ENV } from '#shared/pillar.js';
import type { EventPublisher } from '#shared/ports/events.js';
import { standIns } from '#shared/ports/stand-ins.js';
import { type Clock, randomIds, systemClock } from '#shared/ports/system.js';
import { KmsPublicKeys } from './adapters/kms-signer.js';
import { SfnApprovalFlow } from './adapters/sfn-flow.js';
import { type ExecutionRecord, Executions, type ExecutionsDeps } from './domain/executions.js';
import {
  type RegistryDeps,
  type RunbookRecord,
  RunbookRegistry,
  type RunbookVersionRecord,
} from './domain/registry.js';
import type { PublicKeys } from './domain/signing.js';
import { type TenantKeyRecord, TenantKeys } from './domain/tenant-keys.js';
import { TRAIL_ENTITY, TrailLog, type TrailRecord } from './domain/trail-log.js';
import type { ApprovalFlowInput, TaskCallbacks } from './workflow/flow-contract.js';

/**
 * What every runbooks function builds the same way: its records in the runbooks table, the trusted
 * keys, the registry, the execution trail (records + the WORM evidence store) and the executions
 * service, from the environment CDK gives it (or the embedded runtime's stand-ins).
 */

/** A comma-separated list; unset stays undefined (locally: not checked), set but empty is [] (none allowed). */
const list = z
  .string()
  .optional()
  .transform((text) =>
    text === undefined
      ? undefined
      : text
          .split(',')
          .map((item) => item.trim())
          .filter((item) => item !== ''),
  );

export const runbooksEnv = {
  RUNBOOKS_TABLE_NAME: z.string().min(1),
  /** The deployment's runbook signing key (CDK): its public key verifies signatures. */
  RUNBOOK_SIGNING_KEY_ARN: z.string().min(1).optional(),
  /** Keys trusted besides it: the keys it replaced (rotation makes a new key) and tenants' own (BYOK). */
  RUNBOOK_TRUSTED_KEY_ARNS: list,
  /**
   * What `lambda` and `aws-api` steps may name (comma-separated). CDK always sets them (empty: none
   * allowed); unset (the embedded runtime): not checked at publish.
   */
  RUNBOOK_ALLOWED_LAMBDAS: list,
  RUNBOOK_ALLOWED_AWS_APIS: list,
  /** The evidence (Object Lock) bucket: the execution trail's WORM mirror, under runbooks/. */
  EVIDENCE_BUCKET_NAME: z.string().min(1).optional(),
  AWS_ENDPOINT_URL_S3: z.string().optional(),
  /** The approval flow (Step Functions) for the functions that start executions and settle stages. */
  APPROVAL_FLOW_ARN: z.string().min(1).optional(),
  /** The HMAC key the trail names people with (CDK sets it); locally, a key file instead. */
  [DSR_SUBJECT_KEY_ENV]: z.string().min(1).optional(),
};

export type RunbooksEnv = z.output<z.ZodObject<typeof runbooksEnv>> & { readonly AWS_REGION: string };

type Instrument = Parameters<typeof makeKmsClient>[0]['instrument'];

export interface RunbooksWiring {
  readonly doc: Pick<DynamoDBDocumentClient, 'send'>;
  readonly env: RunbooksEnv;
  readonly events: EventPublisher;
  readonly instrument: Instrument;
  readonly clock?: Clock;
}

export const runbookRecords = (doc: Pick<DynamoDBDocumentClient, 'send'>, tableName: string) => ({
  runbooks: new TenantRecordStore<RunbookRecord>(doc, tableName, 'RUNBOOK', undefined, {
    resourceName: 'runbook',
  }),
  versions: new TenantRecordStore<RunbookVersionRecord>(doc, tableName, 'RUNBOOK_VERSION', undefined, {
    resourceName: 'runbook version',
  }),
  executions: new TenantRecordStore<ExecutionRecord>(doc, tableName, 'RUNBOOK_EXECUTION', undefined, {
    resourceName: 'execution',
  }),
  trail: new TenantRecordStore<TrailRecord>(doc, tableName, TRAIL_ENTITY, undefined, {
    resourceName: 'trail entry',
  }),
  tenantKeys: new TenantRecordStore<TenantKeyRecord>(doc, tableName, 'RUNBOOK_KEY', undefined, {
    resourceName: 'key',
  }),
});

/** The embedded runtime's local key folder, else the KMS keys the deployment trusts. */
export const trustedKeys = (env: RunbooksEnv, instrument: Instrument): PublicKeys =>
  standIns().runbookKeys ??
  new KmsPublicKeys(makeKmsClient({ region: env.AWS_REGION, instrument }), [
    ...(env.RUNBOOK_SIGNING_KEY_ARN ? [env.RUNBOOK_SIGNING_KEY_ARN] : []),
    ...(env.RUNBOOK_TRUSTED_KEY_ARNS ?? []),
  ]);

/** The approval flow: the local interpreter's stand-in, else Step Functions (when this function has the ARN). */
export const approvalFlow = (
  env: RunbooksEnv,
  instrument: Instrument,
): (ExecutionsDeps['flow'] & TaskCallbacks) | undefined => {
  const local = standIns().approvalFlow;
  if (local) {
    return {
      start: (input: ApprovalFlowInput, name: string) => local.start(input, name),
      sendTaskSuccess: (input) => local.sendTaskSuccess(input),
      sendTaskFailure: (input) => local.sendTaskFailure(input),
    };
  }
  if (!env.APPROVAL_FLOW_ARN) return undefined;
  return new SfnApprovalFlow(makeSfnClient({ region: env.AWS_REGION, instrument }), env.APPROVAL_FLOW_ARN);
};

/** BYOK: each tenant's own keys (records), trusted for its runbooks besides the deployment's. */
export const tenantKeysOf = (
  wiring: RunbooksWiring,
  records: ReturnType<typeof runbookRecords>,
  deploymentKeys: PublicKeys,
): TenantKeys =>
  new TenantKeys({ records: records.tenantKeys, clock: wiring.clock ?? systemClock, deploymentKeys });

export const makeRegistry = (
  wiring: RunbooksWiring,
  records: ReturnType<typeof runbookRecords>,
  hooks: Pick<RegistryDeps, 'onUnsigned' | 'onPublishError'>,
  keys: PublicKeys = trustedKeys(wiring.env, wiring.instrument),
  tenantKeys: TenantKeys = tenantKeysOf(wiring, records, keys),
): RunbookRegistry => {
  const { env } = wiring;
  return new RunbookRegistry({
    runbooks: records.runbooks,
    versions: records.versions,
    keys,
    tenantKeys,
    events: wiring.events,
    clock: wiring.clock ?? systemClock,
    allowLists: {
      ...(env.RUNBOOK_ALLOWED_LAMBDAS ? { allowedLambdas: env.RUNBOOK_ALLOWED_LAMBDAS } : {}),
      ...(env.RUNBOOK_ALLOWED_AWS_APIS ? { allowedAwsApis: env.RUNBOOK_ALLOWED_AWS_APIS } : {}),
    },
    ...hooks,
  });
};

/** The registry and the executions service, wired on the table, the keys, the trail and the flow. */
export const makeRunbooks = async (
  wiring: RunbooksWiring,
  options: Pick<RegistryDeps, 'onUnsigned' | 'onPublishError'> &
    Pick<ExecutionsDeps, 'runners' | 'onEnded' | 'onPublishError'>,
) => {
  const records = runbookRecords(wiring.doc, wiring.env.RUNBOOKS_TABLE_NAME);
  const clock = wiring.clock ?? systemClock;
  // One set of trusted keys (one KMS client and cache) and one BYOK service, for the registry and the API.
  const keys = trustedKeys(wiring.env, wiring.instrument);
  const tenantKeys = tenantKeysOf(wiring, records, keys);
  const registry = makeRegistry(
    wiring,
    records,
    {
      ...(options.onUnsigned ? { onUnsigned: options.onUnsigned } : {}),
      ...(options.onPublishError ? { onPublishError: options.onPublishError } : {}),
    },
    keys,
    tenantKeys,
  );
  const trail = new TrailLog({
    records: records.trail,
    worm: await evidenceStore(wiring.env, wiring.instrument, 'execution trails'),
    clock,
    hasher: subjectHasherFor(
      wiring.env[DSR_SUBJECT_KEY_ENV],
      { region: wiring.env.AWS_REGION, instrument: wiring.instrument },
      'the execution trail names people by their keyed hash',
    ),
  });
  const flow = approvalFlow(wiring.env, wiring.instrument);
  const executions = new Executions({
    executions: records.executions,
    registry,
    trail,
    events: wiring.events,
    clock,
    ids: randomIds,
    ...(flow ? { flow, callbacks: flow } : {}),
    ...(options.runners ? { runners: options.runners } : {}),
    ...(options.onEnded ? { onEnded: options.onEnded } : {}),
    ...(options.onPublishError
      ? { onPublishError: (error: unknown, type: string) => options.onPublishError?.(error, type) }
      : {}),
  });
  return { registry, executions, records, tenantKeys };
};
