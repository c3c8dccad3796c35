import { MetricUnit } from '@aws-lambda-powertools/metrics';
import * as z from 'zod';
import { makeDocumentClient } from './adapters/dynamodb-client.js';
import { EventBridgePublisher, makeEventBridgeClient } from './adapters/eventbridge.js';
import {
  DEFAULT_RATE_FAMILIES,
  DynamoRateLimiter,
  enforceRateLimit,
  type RateLimiter,
  rateLimitHeaders,
} from './adapters/rate-limit.js';
import { makeSqsClient } from './adapters/sqs-client.js';
import { type BaseEnv, baseEnvSchema, parseEnv } from './env.js';
import type { RouteRateLimiter } from './http/http.js';
import type { PillarManifest } from './pillar.js';
import { SqsDecisionArchive } from './policy/archive.js';
import { makeEnforcement } from './policy/enforcement.js';
import { POLICY_EVENTS } from './policy/events.js';
import { OpaPolicyEngine } from './policy/opa.js';
import {
  DEFAULT_POLICY_ENGINE,
  defaultOpaBundleDir,
  loadPolicyEngine,
  POLICY_ENGINES,
  UnavailableEngine,
} from './policy/source.js';
import { type EventDefinition, EventTypes } from './ports/events.js';
import type { PolicyEngine } from './ports/policy.js';
import { telemetryFor, tracingFor } from './telemetry.js';

/**
 * What every HTTP function needs besides its own env: the policy table (decisions, grants, rate
 * windows) and the queue that hands every decision to the append-only archive.
 */
export const httpServiceEnvSchema = baseEnvSchema.extend({
  POLICY_TABLE_NAME: z.string().min(1),
  /** The decision-archive queue (the authorize manifest's `decision-archive` queue): no decision is answered before it is accepted here. */
  DECISION_ARCHIVE_QUEUE_URL: z.url(),
  POLICY_DIR: z.string().min(1).optional(),
  /**
   * Step-up: `acr` values that count as stepped up, comma-separated (e.g. Cognito's
   * `urn:cognito:loa:2`), besides an `amr` containing `mfa`.
   */
  CONDUCTOR_STEP_UP_ACR: z
    .string()
    .optional()
    .transform((text) =>
      (text ?? '')
        .split(',')
        .map((value) => value.trim())
        .filter(Boolean),
    ),
  /** The JWT issuer requires MFA at every sign-in, so every token counts as stepped up (while recent). */
  CONDUCTOR_ISSUER_ENFORCES_MFA: z.stringbool().default(false),
  /** Seconds after the sign-in (`auth_time`) during which a token counts as stepped up (default 3600). */
  CONDUCTOR_STEP_UP_MAX_AGE_SECONDS: z.coerce.number().int().min(60).max(86_400).optional(),
  /** `cedar` (default) or `opa` (POLICY_DIR then holds the bundle: policy.wasm and bundle.json). */
  POLICY_ENGINE: z.enum(POLICY_ENGINES).default(DEFAULT_POLICY_ENGINE),
  /** JSON object of per-family limit overrides (requests per minute), e.g. {"experts.read":6000}. */
  CONDUCTOR_RATE_LIMITS: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (!text) return {};
      try {
        return z.record(z.string(), z.number().int().positive()).parse(JSON.parse(text));
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object of positive integers' });
        return z.NEVER;
      }
    }),
});

/**
 * Loads the OPA engine from a bundle folder (policy.wasm checked against its bundle.json); any
 * failure, a tampered bundle included, yields an engine that denies everything.
 */
export const loadOpaEngine = async (
  bundleDir: string,
  onError: (error: unknown) => void,
): Promise<PolicyEngine> => {
  try {
    return await OpaPolicyEngine.loadBundle(bundleDir);
  } catch (error) {
    onError(error);
    return new UnavailableEngine(error instanceof Error ? error.message : String(error));
  }
};

/** Adapts a limiter to the HTTP app's hook: 429 when limited, X-RateLimit-* headers when not. */
export const rateLimiterHook =
  (limiter: RateLimiter, families: Readonly<Record<string, number>>): RouteRateLimiter =>
  async (tenantId, family, caller) => {
    const known = Object.hasOwn(families, family) ? family : 'default';
    return rateLimitHeaders(await enforceRateLimit(limiter, tenantId, known, caller));
  };

/**
 * What every function's composition root starts with, HTTP or not: telemetry, the client
 * instrument (X-Ray only when tracing is on), the DynamoDB document client and the event publisher
 * (undefined when no bus is configured).
 */
export const makeServiceBasics = async (
  serviceName: string,
  env: BaseEnv,
  publishes: readonly EventDefinition[],
) => {
  const { logger, metrics } = telemetryFor(serviceName);
  const { instrument, traceOperation } = await tracingFor(serviceName);
  const doc = makeDocumentClient({
    region: env.AWS_REGION,
    endpoint: env.AWS_ENDPOINT_URL_DYNAMODB,
    instrument,
  });
  const events = env.EVENT_BUS_NAME
    ? new EventBridgePublisher(
        makeEventBridgeClient({
          region: env.AWS_REGION,
          endpoint: env.AWS_ENDPOINT_URL_EVENTBRIDGE,
          instrument,
        }),
        env.EVENT_BUS_NAME,
        new EventTypes(publishes),
      )
    : undefined;
  return { logger, metrics, instrument, traceOperation, doc, events };
};

/**
 * The shared part of an HTTP function's composition root: env parsed once, telemetry, the DynamoDB
 * document client, the event publisher and the policy enforcement point (with its decision log and
 * the SQS hand-off to the decision archive). A handler adds its own
 * adapters and binds its routes; it cannot skip enforcement because `httpApp` requires it.
 */
export const makeHttpService = async <E extends z.ZodRawShape>(
  serviceName: string,
  pillar: Pick<PillarManifest, 'events' | 'rateFamilies'>,
  extraEnv: E,
) => {
  const env: z.output<typeof httpServiceEnvSchema> & z.output<z.ZodObject<E>> = {
    ...parseEnv(httpServiceEnvSchema),
    ...parseEnv(z.object(extraEnv)),
  };
  const { logger, metrics, instrument, traceOperation, doc, events } = await makeServiceBasics(
    serviceName,
    env,
    [...(pillar.events ?? []), ...POLICY_EVENTS],
  );
  const onLoadError = (error: unknown) =>
    logger.error('policy engine failed to load; denying all', error as Error);
  const engine =
    env.POLICY_ENGINE === 'opa'
      ? await loadOpaEngine(env.POLICY_DIR ?? defaultOpaBundleDir(), onLoadError)
      : loadPolicyEngine(env.POLICY_DIR, onLoadError);
  const sqs = makeSqsClient({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL_SQS, instrument });
  const enforcement = makeEnforcement({
    doc,
    policyTableName: env.POLICY_TABLE_NAME,
    logger,
    events,
    archive: new SqsDecisionArchive(sqs, env.DECISION_ARCHIVE_QUEUE_URL),
    engine,
    stepUp: {
      acr: env.CONDUCTOR_STEP_UP_ACR,
      issuerEnforcesMfa: env.CONDUCTOR_ISSUER_ENFORCES_MFA,
      ...(env.CONDUCTOR_STEP_UP_MAX_AGE_SECONDS !== undefined
        ? { maxAgeSeconds: env.CONDUCTOR_STEP_UP_MAX_AGE_SECONDS }
        : {}),
    },
    metrics: {
      addMetric: (name, unit, value) => metrics.addMetric(name, MetricUnit[unit], value),
      publishStoredMetrics: () => metrics.publishStoredMetrics(),
    },
  });
  const limiter = new DynamoRateLimiter(doc, env.POLICY_TABLE_NAME, {
    families: pillar.rateFamilies ?? {},
    limits: env.CONDUCTOR_RATE_LIMITS,
    onError: (error) => logger.warn('rate limiter unavailable; request admitted', { error: String(error) }),
  });
  const rateLimit = rateLimiterHook(limiter, { ...DEFAULT_RATE_FAMILIES, ...pillar.rateFamilies });
  return { env, logger, metrics, instrument, traceOperation, doc, events, rateLimit, ...enforcement };
};
