import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { LastAttemptDeadLetters } from '#shared/adapters/sqs-batch.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { type EventPublisher, eventOf } from '#shared/ports/events.js';
import type { Clock } from '#shared/ports/system.js';
import { TtlCache } from '#shared/ports/ttl-cache.js';
import { routerDrift } from './events.js';
import { JOB_OUTCOME_KIND } from './messages.js';
import { DynamoArmCounters } from './src/adapters/dynamo-arm-counters.js';
import { dynamoModelStore } from './src/adapters/dynamo-model-store.js';
import { RouteDecisionStore } from './src/adapters/route-decision-store.js';
import { CanaryWatch } from './src/domain/canary-watch.js';
import { type DriftFinding, detectDrift } from './src/domain/drift.js';
import { type OutcomeRecord, OutcomeService } from './src/domain/outcomes.js';
import { RewardConsumer, type RewardMarker, type RewardRejection } from './src/domain/reward-learning.js';
import { DEFAULT_REWARD_MAPPING } from './src/domain/reward-mapping.js';
import { ROUTER_CONFIG_ID, type RouterConfig, RouterConfigService } from './src/domain/router-config.js';
import { DECISION_TTL_SECONDS } from './src/domain/routing.js';
import { makeOutcomeBatchHandler } from './src/outcome-consumer.js';
import { makeRewardBatchHandler } from './src/reward-consumer.js';

/**
 * What the router pillar exports for its second entry point, the reward function
 * (`functions/reward/src/handler.ts`): the rewards queue's batch handler, wired to the router table.
 * The protocol and its domain stay the router's; the reward function's composition root supplies its
 * environment, clients and telemetry and imports nothing else of the router but its manifest.
 */
export interface RewardEntryDeps {
  readonly doc: DynamoDBDocumentClient;
  /** The router table (ROUTER_TABLE_NAME). */
  readonly tableName: string;
  readonly logger: Logger;
  /** Where `reward_ingested` goes; undefined: no events. */
  readonly events: EventPublisher | undefined;
  readonly clock: Clock;
  /** How long a tenant's reward mapping is used before its router config is read again. */
  readonly mappingCacheMs: number;
  /** Puts a reward failing its last delivery on the rewards DLQ with its error (CONSUMED_QUEUES_ENV). */
  readonly deadLetters?: LastAttemptDeadLetters | undefined;
  /** Told of every canary rollback the rewards caused (the handler emits the router's CanaryRollback metric). */
  readonly onRollback?: (tenantId: string, experiment: string, reason: string) => void;
  /** Told of every drift the rewards showed (the handler emits the router's RewardDrift metric). */
  readonly onDrift?: (tenantId: string, finding: DriftFinding) => void;
}

/**
 * The reward function's one handler for both queues it consumes: `rewards` (learnt) and
 * `job-outcomes` (the scheduler's routed jobs' outcomes, recorded). A batch holds one queue's
 * messages; records are told apart by their body's `kind`, so a mixed batch is handled too.
 */
export const makeRewardEntry = (deps: RewardEntryDeps): ((event: SQSEvent) => Promise<SQSBatchResponse>) => {
  const { doc, tableName: table, logger, events, clock } = deps;
  const configs = new TenantRecordStore<RouterConfig>(doc, table, 'ROUTER_CONFIG');
  // What the learning takes from the tenant's router configuration: its reward mapping and its
  // forgetting factor (the defaults until one is stored), re-read after mappingCacheMs.
  const learning = new TtlCache<{ mapping: RouterConfig['rewardMapping']; discount: number }>({
    ttlMs: deps.mappingCacheMs,
    clock,
  });
  const learningOf = (tenantId: string) =>
    learning.get(tenantId, async () => {
      const config = await configs.get(tenantId, ROUTER_CONFIG_ID);
      return {
        mapping: { ...DEFAULT_REWARD_MAPPING, ...config?.rewardMapping },
        discount: config?.discount ?? 1,
      };
    });
  // The canary watch's reward half: the rewards of canary decisions, counted per arm, judged here.
  const watch = new CanaryWatch({
    counters: new DynamoArmCounters(doc, table),
    configs: new RouterConfigService({
      repository: configs,
      experts: { get: async () => undefined },
      clock,
      cacheMs: deps.mappingCacheMs,
    }),
    clock,
    events,
    onPublishError: (error) =>
      logger.warn('router_canary_rollback event not published; the rollback stands', {
        error: String(error),
      }),
    onRollback: (tenantId, experiment, verdict) => deps.onRollback?.(tenantId, experiment, verdict.reason),
  });
  const outcomes = makeOutcomeBatchHandler({
    logger,
    deadLetters: deps.deadLetters,
    outcomes: new OutcomeService({
      decisions: new RouteDecisionStore(doc, table, DECISION_TTL_SECONDS),
      outcomes: new TenantRecordStore<OutcomeRecord>(doc, table, 'ROUTE_OUTCOME', DECISION_TTL_SECONDS),
      watch,
      clock,
    }),
  });
  const rewards = makeRewardBatchHandler({
    logger,
    deadLetters: deps.deadLetters,
    consumer: new RewardConsumer({
      decisions: new RouteDecisionStore(doc, table, DECISION_TTL_SECONDS),
      models: dynamoModelStore(doc, table),
      markers: new TenantRecordStore<RewardMarker>(doc, table, 'REWARD', DECISION_TTL_SECONDS),
      rejections: new TenantRecordStore<RewardRejection>(doc, table, 'REWARD_REJECTED', DECISION_TTL_SECONDS),
      clock,
      // The tenant's mapping as its router configuration sets it (the default until one is stored).
      mappingFor: async (tenantId) => (await learningOf(tenantId)).mapping,
      // The drift signal: an expert's rewards outside the band its model predicted (drift.ts).
      onLearnt: async (tenantId, modelKey, before, learnt) => {
        const findings = detectDrift(before, learnt);
        if (findings.length === 0) return;
        const occurredAt = clock.now().toISOString();
        for (const finding of findings) {
          logger.warn('expert drift', { tenantId, modelKey, ...finding });
          deps.onDrift?.(tenantId, finding);
        }
        await events?.publish(
          findings.map((finding) =>
            eventOf(routerDrift, { tenantId, traceId: randomUUID(), occurredAt, modelKey, ...finding }),
          ),
        );
      },
      discountFor: async (tenantId) => (await learningOf(tenantId)).discount,
      events,
      onPublishError: (error) =>
        logger.warn('reward_ingested event not published; the reward stands', { error: String(error) }),
      onApplied: async (applied) => {
        await watch.recordApplied(applied);
      },
      onAppliedError: (error) =>
        logger.warn('canary reward counts not updated; the rewards are learnt', { error: String(error) }),
    }),
  });
  return async (event) => {
    const [outcomeRecords, rewardRecords] = partition(event.Records, isJobOutcome);
    const answers = await Promise.all([
      outcomeRecords.length > 0 ? outcomes({ Records: outcomeRecords }) : { batchItemFailures: [] },
      rewardRecords.length > 0 ? rewards({ Records: rewardRecords }) : { batchItemFailures: [] },
    ]);
    return { batchItemFailures: answers.flatMap((answer) => answer.batchItemFailures) };
  };
};

/** A record whose body is a job outcome (anything else goes the rewards' way, and fails there if malformed). */
const isJobOutcome = (record: SQSRecord): boolean => {
  try {
    return (JSON.parse(record.body) as { kind?: unknown })?.kind === JOB_OUTCOME_KIND;
  } catch {
    return false;
  }
};

/** One pass: each record's body is parsed once to tell it apart. */
const partition = <T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] => {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
};
