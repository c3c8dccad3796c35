import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, EventBridgeEvent, ScheduledEvent } from 'aws-lambda';
import * as z from 'zod';
import { evidenceStore } from '#shared/adapters/artifacts-store.js';
import { isSqsEvent } from '#shared/adapters/sqs-batch.js';
import { subjectHasherFor } from '#shared/adapters/subject-hasher.js';
import type { HttpEvent, HttpResult } from '#shared/http/http.js';
import { DSR_SUBJECT_KEY_ENV } from '#shared/pillar.js';
import { EVENT_SOURCE, type EventPublisher } from '#shared/ports/events.js';
import { randomIds, systemClock } from '#shared/ports/system.js';
import { makeHttpService } from '#shared/service-kit.js';
import { tenantMetricsFor } from '#shared/telemetry.js';
import register from '../generated/processing-register.json' with { type: 'json' };
import { compliancePillar } from '../pillar.js';
import { DynamoPersonalRecords } from './adapters/personal-records.js';
import { makeComplianceApp } from './app.js';
import { Compliance, PLATFORM } from './domain/assess.js';
import { DataSubjectRequests } from './domain/dsr.js';
import {
  complianceCatalog,
  complianceResourcesSchema,
  complianceStores,
  controlTests,
  type ProcessingRegister,
  personalDataRegister,
} from './wiring.js';

/** Composition root of the compliance function: the catalog, the tests, the stores, the app, the sweep. */
const service = await makeHttpService('compliance', compliancePillar, {
  COMPLIANCE_TABLE_NAME: z.string().min(1),
  EVIDENCE_BUCKET_NAME: z.string().min(1).optional(),
  AWS_ENDPOINT_URL_S3: z.string().optional(),
  /** Custom catalog files (frameworks, controls): a folder of `*.json` read after the built-in ones. */
  CONDUCTOR_COMPLIANCE_CATALOG_DIR: z.string().min(1).optional(),
  /** What the AWS checks test (CDK sets it); absent, they are `not_applicable`. */
  COMPLIANCE_RESOURCES: z
    .string()
    .transform((text, ctx) => {
      try {
        return complianceResourcesSchema.parse(JSON.parse(text));
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `not the resources CDK writes: ${String(error)}` });
        return z.NEVER;
      }
    })
    .optional(),
  /** The kernel's policy table: its decision log is compared with the WORM archive. */
  POLICY_TABLE_NAME: z.string().min(1),
  /** The scheduler's and eval's tables: budgets and gate runs of the active tenants (record reads). */
  SCHEDULER_TABLE_NAME: z.string().min(1),
  EVAL_TABLE_NAME: z.string().min(1),
  /** The deployment's stage, named in each evidence record's collector. */
  CONDUCTOR_STAGE: z.string().min(1).default('local'),
  /** The KMS HMAC key that hashes a data subject's id (CDK sets it); locally, a key file instead. */
  [DSR_SUBJECT_KEY_ENV]: z.string().min(1).optional(),
});
const { env, logger } = service;
if (!service.events)
  throw new Error(
    'Invalid environment: EVENT_BUS_NAME: required (control_failed and evidence_stale go there)',
  );

// ControlFailed and EvidenceStale, one per event published: their alarms open tickets.
const metrics = tenantMetricsFor('compliance');
const METRIC_OF: Readonly<Record<string, string>> = {
  control_failed: 'ControlFailed',
  evidence_stale: 'EvidenceStale',
};
const bus = service.events;
const events: EventPublisher = {
  publish: async (batch) => {
    await bus.publish(batch);
    for (const event of batch) {
      const metric = METRIC_OF[event.type];
      if (metric) metrics.count(PLATFORM, metric, MetricUnit.Count, 1);
    }
  },
};

const evidence = await evidenceStore(env, service.instrument, 'compliance evidence records');
const stores = complianceStores(service.doc, env.COMPLIANCE_TABLE_NAME);
// Data subject requests: the catalog's record of processing, over the pillars' tables.
const personalData = personalDataRegister(register as ProcessingRegister, process.env);
const hasher = subjectHasherFor(
  env[DSR_SUBJECT_KEY_ENV],
  { region: env.AWS_REGION, instrument: service.instrument },
  "a data subject's id is hashed with it",
);
const compliance = new Compliance({
  catalog: complianceCatalog(env.CONDUCTOR_COMPLIANCE_CATALOG_DIR),
  tests: controlTests({
    evidence,
    seen: stores.seen,
    dsr: stores.dsr,
    processing: { tables: personalData.processing, retained: personalData.retained },
    personalEvidence: (register as ProcessingRegister).evidence,
    decisionLog: { doc: service.doc, tableName: env.POLICY_TABLE_NAME },
    tenantActivity: {
      doc: service.doc,
      schedulerTable: env.SCHEDULER_TABLE_NAME,
      evalTable: env.EVAL_TABLE_NAME,
    },
    probeId: () => randomIds.next('probe'),
    resources: env.COMPLIANCE_RESOURCES,
    aws: { region: env.AWS_REGION, instrument: service.instrument },
  }),
  evidence,
  ...stores,
  events,
  clock: systemClock,
  ids: randomIds,
  environment: env.CONDUCTOR_STAGE,
  onEventError: (error) =>
    logger.warn('compliance event not published; the result is recorded', { error: String(error) }),
});
const dsr = new DataSubjectRequests({
  register: personalData.register,
  retained: personalData.retained,
  records: new DynamoPersonalRecords(service.doc, personalData.tableNames),
  hasher,
  log: stores.dsr,
  evidence,
  clock: systemClock,
  ids: randomIds,
});

const http = makeComplianceApp({
  logger,
  authorize: service.authorize,
  rateLimit: service.rateLimit,
  trace: service.traceOperation,
  compliance,
  dsr,
  clock: systemClock,
});

/** An event of Conductor's bus, delivered by the manifest's subscription. */
const isBusEvent = (event: unknown): event is EventBridgeEvent<string, unknown> =>
  typeof event === 'object' &&
  event !== null &&
  (event as EventBridgeEvent<string, unknown>).source === EVENT_SOURCE &&
  typeof (event as EventBridgeEvent<string, unknown>)['detail-type'] === 'string';

const isScheduledEvent = (event: unknown): event is ScheduledEvent =>
  typeof event === 'object' &&
  event !== null &&
  (event as ScheduledEvent)['detail-type'] === 'Scheduled Event';

/**
 * API Gateway requests, and the hourly schedule: announce stale evidence, collect what is due. A
 * sweep that throws fails the invocation, so EventBridge retries it (a collected control is not
 * due again: the retry collects only what is left).
 */
export const handler = async (
  event: HttpEvent | ScheduledEvent | EventBridgeEvent<string, unknown>,
  context: Context,
): Promise<HttpResult | undefined> => {
  if (isSqsEvent(event as never))
    throw new Error('The compliance function consumes no queue: SQS batch refused.');
  if (isBusEvent(event)) {
    const detail = (event.detail ?? {}) as { tenantId?: unknown; traceId?: unknown; occurredAt?: unknown };
    const { tenantId: _tenant, traceId: _trace, occurredAt: _at, ...own } = detail as Record<string, unknown>;
    const runs = await compliance.onEvent({
      id: event.id,
      type: event['detail-type'],
      tenantId: typeof detail.tenantId === 'string' ? detail.tenantId : undefined,
      traceId: typeof detail.traceId === 'string' ? detail.traceId : undefined,
      detail: own,
    });
    logger.info('compliance change event', {
      type: event['detail-type'],
      eventId: event.id,
      assessments: runs.map((a) => ({ id: a.assessmentId, framework: a.framework, controls: a.controls })),
    });
    return undefined;
  }
  if (isScheduledEvent(event)) {
    const result = await compliance.sweep(`schedule-${event.id}`);
    // Freshness, exported: per framework, the share fresh (all, critical) and the oldest evidence.
    for (const row of await compliance.freshnessSummary()) {
      const byFramework = new Metrics({ namespace: 'Conductor', serviceName: 'compliance' });
      byFramework.addDimension('framework', row.framework);
      byFramework.addMetric('EvidenceFreshPercent', MetricUnit.Percent, row.freshPercent);
      byFramework.addMetric('CriticalEvidenceFreshPercent', MetricUnit.Percent, row.criticalFreshPercent);
      byFramework.addMetric('EvidenceMaxAgeHours', MetricUnit.Count, row.maxAgeHours);
      byFramework.publishStoredMetrics();
    }
    logger.info('compliance sweep', {
      stale: result.stale,
      assessments: result.assessments.map((a) => ({
        id: a.assessmentId,
        framework: a.framework,
        controls: a.controls.length,
      })),
    });
    return undefined;
  }
  return http(event, context);
};
