import fc from 'fast-check';
import { RecordingPublisher } from '#shared/ports/events.js';
import { type Clock, ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import {
  type ArmCounterRepository,
  type ArmCounts,
  addCounts,
  CanaryWatch,
  EMPTY_COUNTS,
  type WindowCounts,
} from '../../src/domain/canary-watch.js';
import type { Expert } from '../../src/domain/experts.js';
import type { ExpertInvoker, InvokeCall } from '../../src/domain/invoke.js';
import { type OutcomeRecord, OutcomeService } from '../../src/domain/outcomes.js';
import {
  type DecisionLog,
  type LatestReplay,
  type LoggedRouteDecision,
  type ReplayJob,
  ReplayJobService,
  type ReplayMessage,
} from '../../src/domain/replay-jobs.js';
import { RewardIntake, type RewardMessage } from '../../src/domain/reward-intake.js';
import {
  RewardConsumer,
  type RewardConsumerDeps,
  type RewardMarker,
  type RewardRejection,
  type RewardSignal,
} from '../../src/domain/reward-learning.js';
import { RejectedRewards } from '../../src/domain/reward-rejections.js';
import { type RouterConfig, RouterConfigService } from '../../src/domain/router-config.js';
import {
  type ExperimentArm,
  type ModelRecord,
  type RouteDecision,
  RoutingService,
  type RoutingServiceDeps,
} from '../../src/domain/routing.js';
import { WarmStartService } from '../../src/domain/warm-start.js';

/** An expert record as the table holds it (tests seed the repository with these). */
export const expertRecord = (tenantId: string, id: string, enabled = true): Expert => ({
  tenantId,
  id,
  name: id,
  type: 'model',
  costPerCallUsd: 0,
  endpoint: `https://${id}.example.com/v1`,
  metadata: {},
  enabled,
  version: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});

/** Per-minute canary counters in memory (the DynamoDB adapter's contract, without the table). */
export class InMemoryArmCounters implements ArmCounterRepository {
  readonly #minutes = new Map<string, Record<ExperimentArm, ArmCounts>>();

  async add(tenantId: string, experiment: string, minute: number, arm: ExperimentArm, counts: ArmCounts) {
    const key = `${tenantId}\u0000${experiment}\u0000${minute}`;
    const current = this.#minutes.get(key) ?? { baseline: EMPTY_COUNTS, candidate: EMPTY_COUNTS };
    this.#minutes.set(key, { ...current, [arm]: addCounts(current[arm], counts) });
  }

  async sum(tenantId: string, experiment: string, from: number, to: number): Promise<WindowCounts> {
    let total: WindowCounts = { baseline: EMPTY_COUNTS, candidate: EMPTY_COUNTS };
    for (let minute = from; minute <= to; minute += 1) {
      const counts = this.#minutes.get(`${tenantId}\u0000${experiment}\u0000${minute}`);
      if (counts) {
        total = {
          baseline: addCounts(total.baseline, counts.baseline),
          candidate: addCounts(total.candidate, counts.candidate),
        };
      }
    }
    return total;
  }
}

/** The decision log over in-memory decisions, with rewards set by the test (taskId -> reward). */
export const inMemoryDecisionLog = (
  decisions: InMemoryTenantRecords<RouteDecision>,
  rewards: ReadonlyMap<string, number>,
): DecisionLog => {
  const between = async (tenantId: string, from: string, to: string): Promise<LoggedRouteDecision[]> => {
    const all: RouteDecision[] = [];
    let cursor: string | undefined;
    do {
      const page = await decisions.list(tenantId, { limit: 100, cursor });
      all.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return all
      .filter((d) => d.createdAt >= from && d.createdAt < to)
      .map((decision) => {
        const reward = rewards.get(decision.taskId);
        return reward === undefined ? { decision } : { decision, reward };
      });
  };
  return {
    decisionsBetween: between,
    anyBetween: async (tenantId, from, to) => (await between(tenantId, from, to)).length > 0,
  };
};

/**
 * The routing use cases over in-memory records, a manual clock, sequential ids, a fixed seed and a
 * recording publisher: what unit and app tests inject instead of DynamoDB and EventBridge.
 */
export const inMemoryRouting = (
  experts: Pick<InMemoryTenantRecords<Expert>, 'get' | 'getMany'> = new InMemoryTenantRecords<Expert>(
    'EXPERT',
  ),
  overrides: Partial<RoutingServiceDeps> & { clock?: Clock } = {},
) => {
  const clock = overrides.clock ?? new ManualClock('2026-01-01T00:00:00.000Z');
  const configs = new InMemoryTenantRecords<RouterConfig>('ROUTER_CONFIG');
  const decisions = new InMemoryTenantRecords<RouteDecision>('ROUTE');
  const models = new InMemoryTenantRecords<ModelRecord>('MODEL');
  const events = new RecordingPublisher();
  const routerConfig = new RouterConfigService({ repository: configs, experts, clock });
  const rejections = new InMemoryTenantRecords<RewardRejection>('REWARD_REJECTED');
  const rejectedRewards = new RejectedRewards(rejections);
  const routing = new RoutingService({
    experts,
    configs: routerConfig,
    decisions,
    models,
    clock,
    ids: new SequentialIds(),
    seed: () => 42,
    events,
    ...overrides,
  });
  const counters = new InMemoryArmCounters();
  const canaryWatch = new CanaryWatch({
    counters,
    configs: routerConfig,
    clock,
    events,
    latestReplay: (tenantId, experiment) => replayJobs.latestOf(tenantId, experiment),
  });
  const outcomeRecords = new InMemoryTenantRecords<OutcomeRecord>('ROUTE_OUTCOME');
  const outcomes = new OutcomeService({ decisions, outcomes: outcomeRecords, watch: canaryWatch, clock });
  const replayRewards = new Map<string, number>();
  const replayQueue: ReplayMessage[] = [];
  const replayJobRecords = new InMemoryTenantRecords<ReplayJob>('REPLAY_JOB');
  const replayJobs = new ReplayJobService({
    jobs: replayJobRecords,
    latest: new InMemoryTenantRecords<LatestReplay>('REPLAY_LATEST'),
    log: inMemoryDecisionLog(decisions, replayRewards),
    models,
    queue: {
      send: async (message) => {
        replayQueue.push(message);
      },
    },
    configs: routerConfig,
    clock,
    ids: new SequentialIds(),
  });
  const queued: RewardMessage[] = [];
  const rewards = new RewardIntake({
    queue: {
      send: async (message) => {
        queued.push(message);
      },
    },
    clock,
  });
  // Invoke mode's expert calls: scripted per endpoint (default: a 200 echo of the input), recorded.
  const invokeCalls: { endpoint: string; input: unknown; taskId: string; timeoutMs: number }[] = [];
  const invokeScript = new Map<string, InvokeCall>();
  const invoker: ExpertInvoker = {
    call: async (request) => {
      invokeCalls.push({
        endpoint: request.endpoint,
        input: request.input,
        taskId: request.taskId,
        timeoutMs: request.timeoutMs,
      });
      return (
        invokeScript.get(request.endpoint) ?? {
          kind: 'answer',
          status: 200,
          body: { echo: request.input },
          latencyMs: 12,
        }
      );
    },
  };
  return {
    routing,
    rewards,
    queued,
    invokeCalls,
    invokeScript,
    routerConfig,
    configs,
    decisions,
    models,
    events,
    clock,
    rejections,
    counters,
    canaryWatch,
    outcomes,
    outcomeRecords,
    replayJobs,
    replayRewards,
    replayQueue,
    appDeps: {
      routing,
      routerConfig,
      rewards,
      rejectedRewards,
      outcomes,
      canaryWatch,
      replayJobs,
      invoke: { invoker, experts },
      warmStart: new WarmStartService({ models, configs: routerConfig, experts, clock }),
    },
  };
};

/** The reward consumer over in-memory records (share `decisions` and `models` with inMemoryRouting). */
export const inMemoryRewardConsumer = (
  deps: Pick<RewardConsumerDeps, 'decisions' | 'models' | 'clock'> & Partial<RewardConsumerDeps>,
) => {
  const markers = new InMemoryTenantRecords<RewardMarker>('REWARD');
  const rejections = new InMemoryTenantRecords<RewardRejection>('REWARD_REJECTED');
  const events = new RecordingPublisher();
  const consumer = new RewardConsumer({
    markers,
    rejections,
    events,
    sleep: async () => undefined,
    ...deps,
  });
  return { consumer, markers, rejections, events };
};

/** A model store that counts the version-condition conflicts its writers run into. */
export const conflictCounting = (models: InMemoryTenantRecords<ModelRecord>) => {
  let conflicts = 0;
  const counted = <T>(write: Promise<T>) =>
    write.catch((error: unknown) => {
      conflicts += 1;
      throw error;
    });
  return {
    store: {
      get: (tenantId: string, id: string) => models.get(tenantId, id),
      create: (record: ModelRecord) => counted(models.create(record)),
      replace: (record: ModelRecord, expected: number) => counted(models.replace(record, expected)),
    },
    get conflicts() {
      return conflicts;
    },
  };
};

/**
 * A random reward (for property tests): a task among `tasks`, a learnable signal, a value every one
 * of them takes (SIGNAL_RANGES: [0, 1]; no non-zero magnitude below MIN_REWARD_MAGNITUDE).
 */
export const rewardFields = (tasks: number) => ({
  task: fc.nat(tasks - 1),
  signal: fc.constantFrom<RewardSignal>('success_at_k', 'human_thumbs', 'incident_free'),
  value: fc.double({ min: 0, max: 1, noNaN: true }).map((v) => (v < 1e-100 ? 0 : v)),
});

/**
 * The value each (task, signal) first had: a duplicate is a redelivery, which carries the same value
 * as the first delivery.
 */
export const firstValueOf = (rewards: readonly { task: number; signal: RewardSignal; value: number }[]) => {
  const first = new Map<string, number>();
  for (const r of rewards)
    if (!first.has(`${r.task}#${r.signal}`)) first.set(`${r.task}#${r.signal}`, r.value);
  return (r: { task: number; signal: RewardSignal }) => first.get(`${r.task}#${r.signal}`) as number;
};
