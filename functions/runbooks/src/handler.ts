import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { makeKmsClient } from '#shared/adapters/kms-client.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import type { HttpEvent, HttpResult } from '#shared/http/http.js';
import { standIns } from '#shared/ports/stand-ins.js';
import { systemClock } from '#shared/ports/system.js';
import { makeHttpService } from '#shared/service-kit.js';
import { tenantMetricsFor } from '#shared/telemetry.js';
import { runbooksPillar } from '../pillar.js';
import { KmsPublicKeys } from './adapters/kms-signer.js';
import { makeRunbooksApp } from './app.js';
import { type RunbookRecord, RunbookRegistry, type RunbookVersionRecord } from './domain/registry.js';

const list = z
  .string()
  .optional()
  .transform((text) =>
    (text ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  );

/** Composition root of the runbooks function (the registry API): environment, clients, adapters, app. */
const service = await makeHttpService('runbooks', runbooksPillar, {
  RUNBOOKS_TABLE_NAME: z.string().min(1),
  /** The deployment's runbook signing key (CDK): its public key verifies signatures. */
  RUNBOOK_SIGNING_KEY_ARN: z.string().min(1).optional(),
  /** Keys trusted besides it: the keys it replaced (rotation makes a new key) and tenants' own (BYOK). */
  RUNBOOK_TRUSTED_KEY_ARNS: list,
  /** What `lambda` and `aws-api` steps may name (comma-separated); unset: not checked at publish. */
  RUNBOOK_ALLOWED_LAMBDAS: list,
  RUNBOOK_ALLOWED_AWS_APIS: list,
});
const { env, logger } = service;
const metrics = tenantMetricsFor('runbooks');

/** The embedded runtime's local key folder, else the KMS keys the deployment trusts. */
const keys =
  standIns().runbookKeys ??
  new KmsPublicKeys(makeKmsClient({ region: env.AWS_REGION, instrument: service.instrument }), [
    ...(env.RUNBOOK_SIGNING_KEY_ARN ? [env.RUNBOOK_SIGNING_KEY_ARN] : []),
    ...env.RUNBOOK_TRUSTED_KEY_ARNS,
  ]);

if (!service.events)
  throw new Error('Invalid environment: EVENT_BUS_NAME: required (unsigned_runbook is published there)');

const http = makeRunbooksApp({
  logger,
  authorize: service.authorize,
  rateLimit: service.rateLimit,
  trace: service.traceOperation,
  registry: new RunbookRegistry({
    runbooks: new TenantRecordStore<RunbookRecord>(
      service.doc,
      env.RUNBOOKS_TABLE_NAME,
      'RUNBOOK',
      undefined,
      {
        resourceName: 'runbook',
      },
    ),
    versions: new TenantRecordStore<RunbookVersionRecord>(
      service.doc,
      env.RUNBOOKS_TABLE_NAME,
      'RUNBOOK_VERSION',
      undefined,
      { resourceName: 'runbook version' },
    ),
    keys,
    events: service.events,
    clock: systemClock,
    allowLists: {
      ...(env.RUNBOOK_ALLOWED_LAMBDAS.length > 0 ? { allowedLambdas: env.RUNBOOK_ALLOWED_LAMBDAS } : {}),
      ...(env.RUNBOOK_ALLOWED_AWS_APIS.length > 0 ? { allowedAwsApis: env.RUNBOOK_ALLOWED_AWS_APIS } : {}),
    },
    // Per tenant and by service: UnsignedRunbook (the unsigned-runbook alarm pages on it).
    onUnsigned: (tenantId, runbookId, reason) => {
      logger.warn('runbook signature refused', { tenantId, runbookId, reason });
      metrics.count(tenantId, 'UnsignedRunbook', MetricUnit.Count, 1);
    },
    onPublishError: (error, runbookId) =>
      logger.warn('unsigned_runbook not published; the refusal stands', { runbookId, error: String(error) }),
  }),
});

export const handler = (event: HttpEvent, context: Context): Promise<HttpResult> => http(event, context);
