import { dirname, join } from 'node:path';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { isSqsEvent } from '#shared/adapters/sqs-batch.js';
import { deadLetterQueueRefsSchema, SqsLastAttemptDeadLetters } from '#shared/adapters/sqs-last-attempt.js';
import { subjectHasherFor } from '#shared/adapters/subject-hasher.js';
import { ConfigurationError } from '#shared/env.js';
import type { HttpEvent, HttpResult } from '#shared/http/http.js';
import { CONSUMED_QUEUES_ENV, DSR_SUBJECT_KEY_ENV } from '#shared/pillar.js';
import { policyVersionOf } from '#shared/policy/cedar.js';
import { defaultPolicyDir, readPolicySources, readValidatedManifest } from '#shared/policy/source.js';
import { standIns } from '#shared/ports/stand-ins.js';
import { randomIds, systemClock } from '#shared/ports/system.js';
import type { WormStore } from '#shared/ports/worm.js';
import { makeHttpService } from '#shared/service-kit.js';
import { authorizePillar } from '../pillar.js';
import { CedarPolicyCompiler, declaredActions } from './adapters/cedar-candidates.js';
import { DynamoDecisionLogReader } from './adapters/dynamo-decision-log-reader.js';
import { DynamoGrantStore, DynamoPendingGrantSlots } from './adapters/dynamo-grant-store.js';
import { makeAuthorizeApp } from './app.js';
import { makeArchiveConsumer } from './archive-consumer.js';
import { DecisionArchiver } from './domain/archive.js';
import { AuthorizeService } from './domain/authorize.js';
import { DecisionLogService } from './domain/decisions.js';
import { DryRunService } from './domain/dry-run.js';
import { GrantService } from './domain/grants.js';

/** Composition root of the authorize function: environment, clients, adapters, app and archiver. */
const service = await makeHttpService('authorize', authorizePillar, {
  /** The evidence (Object Lock) bucket the decision archiver writes to, on AWS. */
  EVIDENCE_BUCKET_NAME: z.string().min(1).optional(),
  /** The decision-archive queue and its DLQ: a last delivery that fails goes there with its error. */
  [CONSUMED_QUEUES_ENV]: deadLetterQueueRefsSchema,
  /** The HMAC key the archive names people with (CDK sets it); locally, a key file instead. */
  [DSR_SUBJECT_KEY_ENV]: z.string().min(1).optional(),
});
const { env, logger, enforcer, engine } = service;

/**
 * The deployed Cedar schema (the policy layer's on Lambda): the actions a question may name, and the
 * schema every dry-run candidate is validated against. With POLICY_ENGINE=opa the layer keeps the
 * Cedar files beside the compiled Rego (`/opt/policies/cedar` next to `/opt/policies/opa`). If the
 * schema cannot be read, the enforcer has failed closed too (every route answers 403), so an empty
 * schema here changes nothing for callers.
 */
const policyDir = env.POLICY_DIR ?? defaultPolicyDir();
const cedarDir = env.POLICY_ENGINE === 'opa' ? join(dirname(policyDir), 'cedar') : policyDir;
const sources = (() => {
  try {
    return readPolicySources(cedarDir);
  } catch (error) {
    logger.error('policy schema unreadable; the authorize API denies everything', error as Error);
    return undefined;
  }
})();
const schema = sources?.schema ?? '';
/** The deployed Cedar policies' version: what a dry-run candidate replaces, whichever engine runs. */
const cedarVersion = sources ? policyVersionOf(sources) : 'unavailable';
const actions = (() => {
  try {
    // The policy layer lists them in its validated manifest (no schema parse at cold start).
    const manifest = sources ? readValidatedManifest(cedarDir, sources) : undefined;
    return new Set(manifest?.actions ?? declaredActions(schema));
  } catch (error) {
    logger.error('policy schema invalid; no action can be asked about', error as Error);
    return new Set<string>();
  }
})();

const decisionReader = new DynamoDecisionLogReader(service.doc, env.POLICY_TABLE_NAME);

const http = makeAuthorizeApp({
  logger,
  authorize: service.authorize,
  rateLimit: service.rateLimit,
  trace: service.traceOperation,
  decisions: new AuthorizeService({
    decide: ({ inputs, recordIn }) => enforcer.decideMany(inputs, { recordIn }),
    declaredActions: actions,
  }),
  grants: new GrantService({
    repository: new DynamoGrantStore(service.doc, env.POLICY_TABLE_NAME),
    pending: new DynamoPendingGrantSlots(service.doc, env.POLICY_TABLE_NAME),
    clock: systemClock,
    ids: randomIds,
  }),
  decisionLog: new DecisionLogService(decisionReader),
  dryRun: new DryRunService({
    reader: decisionReader,
    compiler: new CedarPolicyCompiler(schema),
    // Candidates are Cedar: they replace the deployed Cedar policies (which the OPA bundle mirrors).
    currentVersion: () => (env.POLICY_ENGINE === 'cedar' ? engine.policyVersion : cedarVersion),
    running: () => ({ engine: engine.name, policyVersion: engine.policyVersion }),
  }),
  engineStatus: () => ({
    engine: engine.name,
    policyVersion: engine.policyVersion,
    cache: { ...engine.stats, hitRate: engine.hitRate },
  }),
});

/** The embedded runtime's WORM store (its stand-in for the Object Lock bucket); never set on AWS. */
const localWorm = standIns().worm;

if (!localWorm && !env.EVIDENCE_BUCKET_NAME) {
  throw new ConfigurationError(
    'Invalid environment: EVIDENCE_BUCKET_NAME: required (the decision archiver writes to the evidence bucket)',
  );
}

/**
 * Where the archiver writes: the evidence bucket on AWS, the local stand-in in the embedded runtime.
 * Loaded on the first archive batch, not at cold start: the S3 client is a fifth of this function's
 * import time, and API requests never need it.
 */
const openWormStore = async (): Promise<WormStore> => {
  if (localWorm) return localWorm;
  const [{ makeS3Client }, { S3WormStore }] = await Promise.all([
    import('#shared/adapters/s3-client.js'),
    import('#shared/adapters/s3-worm-store.js'),
  ]);
  const s3 = await makeS3Client({
    region: env.AWS_REGION,
    endpoint: env.AWS_ENDPOINT_URL_S3,
    instrument: service.instrument,
  });
  return new S3WormStore(s3, env.EVIDENCE_BUCKET_NAME ?? '');
};

let archiveConsumer: Promise<(event: SQSEvent) => Promise<SQSBatchResponse>> | undefined;
const archive = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  archiveConsumer ??= openWormStore().then((store) =>
    makeArchiveConsumer({
      archiver: new DecisionArchiver(
        store,
        subjectHasherFor(
          env[DSR_SUBJECT_KEY_ENV],
          { region: env.AWS_REGION, instrument: service.instrument },
          'the decision archive names people by their keyed hash',
        ),
      ),
      logger,
      deadLetters: SqsLastAttemptDeadLetters.of(env[CONSUMED_QUEUES_ENV], {
        region: env.AWS_REGION,
        endpoint: env.AWS_ENDPOINT_URL_SQS,
        instrument: service.instrument,
      }),
    }),
  );
  // A failed load is not kept: the batch fails (and comes back), the next one tries again.
  archiveConsumer.catch(() => {
    archiveConsumer = undefined;
  });
  return (await archiveConsumer)(event);
};

/**
 * One function, two triggers: API Gateway requests go to the HTTP app; batches of the
 * decision-archive queue (its event source mapping) go to the archiver.
 */
export function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse>;
export function handler(event: HttpEvent, context: Context): Promise<HttpResult>;
export function handler(
  event: SQSEvent | HttpEvent,
  context: Context,
): Promise<SQSBatchResponse | HttpResult> {
  return isSqsEvent(event) ? archive(event) : http(event, context);
}
