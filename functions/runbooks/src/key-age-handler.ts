import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { makeKmsClient } from '#shared/adapters/kms-client.js';
import { baseEnvSchema, parseEnv } from '#shared/env.js';
import { standIns } from '#shared/ports/stand-ins.js';
import { systemClock } from '#shared/ports/system.js';
import { makeServiceBasics } from '#shared/service-kit.js';
import { tenantMetricsFor } from '#shared/telemetry.js';
import { RUNBOOK_EVENTS } from '../events.js';
import { kmsSigningKeyInfo } from './adapters/kms-signer.js';
import { localSigningKeyInfo } from './adapters/local-signer.js';
import { type KeyAge, keyAgeOf, ROTATE_AFTER_DAYS, type SigningKeyInfo } from './domain/key-age.js';

/**
 * Composition root of runbooks-key-age: a daily EventBridge schedule. It reads how old the
 * deployment's runbook signing key is (KMS DescribeKey's CreationDate; locally the newest version
 * of the local key) and, from 90 days on, counts RunbookKeyRotationDue (its alarm opens a ticket:
 * run `runbooks/key-rotation.json`, two distinct approvers).
 */
const env = parseEnv(
  baseEnvSchema.extend({
    RUNBOOK_SIGNING_KEY_ARN: z.string().min(1).optional(),
    RUNBOOK_ROTATE_AFTER_DAYS: z.coerce.number().int().min(1).max(3650).default(ROTATE_AFTER_DAYS),
  }),
);
const { logger, instrument, traceOperation } = await makeServiceBasics(
  'runbooks-key-age',
  env,
  RUNBOOK_EVENTS,
);
const metrics = tenantMetricsFor('runbooks-key-age');

const localDir = standIns().runbookKeyDir;
const keys: SigningKeyInfo | undefined = localDir
  ? localSigningKeyInfo(localDir)
  : env.RUNBOOK_SIGNING_KEY_ARN
    ? kmsSigningKeyInfo(makeKmsClient({ region: env.AWS_REGION, instrument }), env.RUNBOOK_SIGNING_KEY_ARN)
    : undefined;

export const handler = (): Promise<KeyAge | undefined> =>
  traceOperation('runbooks-key-age', async () => {
    const key = await keys?.current();
    if (!key) {
      logger.info('no runbook signing key yet: nothing to age');
      return undefined;
    }
    const age = keyAgeOf(key, systemClock.now(), env.RUNBOOK_ROTATE_AFTER_DAYS);
    if (age.due) {
      logger.warn('runbook signing key rotation due', { ...age });
      metrics.byService.addMetric('RunbookKeyRotationDue', MetricUnit.Count, 1);
      metrics.byService.publishStoredMetrics();
    } else logger.info('runbook signing key age', { ...age });
    return age;
  });
