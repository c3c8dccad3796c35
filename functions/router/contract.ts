import * as z from 'zod';
import { pageQuerySchema, pageSchemaOf, type RouteSpec, storableNumberSchema } from '#shared/http/http.js';
import { recordKey } from '#shared/record-keys.js';
import { NUMERIC_TRANSFORMS } from './src/domain/bandits/context-encoder.js';
import { MIN_DISCOUNT } from './src/domain/bandits/linucb.js';
import { STICKY_KEY_KINDS } from './src/domain/canary.js';
import { EXPERT_TYPES } from './src/domain/experts.js';
import { OUTCOME_STATUSES } from './src/domain/outcomes.js';
import { REPLAY_SOURCES, REPLAY_STATUSES } from './src/domain/replay-jobs.js';
import {
  DEFAULT_REWARD_MAPPING,
  MIN_REWARD_MAGNITUDE,
  NAMED_SIGNAL_RULES,
  REWARD_SIGNALS,
  rewardValueProblem,
  SIGNAL_RANGES,
} from './src/domain/reward-mapping.js';
import { REJECTION_REASONS } from './src/domain/reward-rejections.js';
import {
  CANARY_STEPS,
  DEFAULT_POSTERIOR_SCALE,
  DEFAULT_ROLLBACK_RULE,
  EXPERIMENT_MODES,
  ROUTER_STRATEGIES,
  THOMPSON_LIKELIHOODS,
} from './src/domain/router-config.js';
import { CONSTRAINED_BUDGET_STATES, REMOVAL_REASONS } from './src/domain/routing.js';
import { MAX_PRIOR_WEIGHT, PRIORS_FORMAT } from './src/domain/warm-start.js';

/**
 * The router pillar's HTTP contract. This module is pure data and schemas: the CDK app, the embedded
 * runtime and the OpenAPI document read it; the handler binds it to the domain.
 */
/** A number the router table can hold (the kernel's storable number). */
const storableNumber = storableNumberSchema;

const metadataValue = z.union([z.string().max(1024), storableNumber, z.boolean()]);

export const expertInputSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    type: z.enum(EXPERT_TYPES),
    costPerCallUsd: storableNumber.min(0).max(1000),
    endpoint: z.url({ protocol: /^https?$/ }).max(2048),
    metadata: z
      .record(recordKey(64), metadataValue)
      .refine((value) => Object.keys(value).length <= 50, 'at most 50 metadata keys')
      .default({}),
    enabled: z.boolean().default(true),
  })
  .meta({ id: 'ExpertInput', description: 'The client-owned fields of an expert.' });

export const expertSchema = z
  .object({
    id: z.string(),
    tenantId: z.string(),
    name: z.string(),
    type: z.enum(EXPERT_TYPES),
    costPerCallUsd: z.number(),
    endpoint: z.string(),
    metadata: z.record(z.string(), metadataValue),
    enabled: z.boolean(),
    health: z
      .object({
        status: z.enum(['healthy', 'unhealthy']),
        reason: z.string().optional(),
        setAt: z.string(),
        setBy: z.string(),
        until: z.string().optional(),
      })
      .optional()
      .meta({ description: 'The last health mark (PUT experts/{expertId}/health); absent: never marked.' }),
    version: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({
    id: 'Expert',
    description: 'A routing candidate: an expert backend (model, agent or tool) of one tenant.',
  });

export const expertPageSchema = pageSchemaOf(expertSchema, 'ExpertPage');

const expertParams = z.strictObject({
  expertId: z.string().regex(/^exp_[A-Za-z0-9-]{1,64}$/, 'not an expert id'),
});

export const listExpertsQuery = pageQuerySchema;

export const createExpert = {
  operationId: 'createExpert',
  rateFamily: 'experts.write',
  method: 'POST',
  path: '/experts',
  summary: 'Register an expert backend (routing candidate) for the caller’s tenant',
  tag: 'experts',
  auth: 'jwt',
  minRole: 'admin',
  action: 'experts:create',
  etag: true,
  body: expertInputSchema,
  success: { status: 201, description: 'The created expert', schema: expertSchema },
  errors: [400, 413, 415, 422],
} as const satisfies RouteSpec;

export const listExperts = {
  operationId: 'listExperts',
  rateFamily: 'experts.read',
  method: 'GET',
  path: '/experts',
  summary: 'List the caller’s tenant’s experts, a page at a time',
  tag: 'experts',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'experts:list',
  query: listExpertsQuery,
  success: { status: 200, description: 'A page of experts', schema: expertPageSchema },
  errors: [400],
} as const satisfies RouteSpec;

export const getExpert = {
  operationId: 'getExpert',
  rateFamily: 'experts.read',
  method: 'GET',
  path: '/experts/{expertId}',
  summary: 'Read one expert',
  tag: 'experts',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'experts:get',
  etag: true,
  params: expertParams,
  success: { status: 200, description: 'The expert', schema: expertSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const updateExpert = {
  operationId: 'updateExpert',
  rateFamily: 'experts.write',
  method: 'PUT',
  path: '/experts/{expertId}',
  summary: 'Replace an expert’s client-owned fields (send If-Match with its version to avoid lost updates)',
  tag: 'experts',
  auth: 'jwt',
  minRole: 'admin',
  action: 'experts:update',
  ifMatch: true,
  etag: true,
  params: expertParams,
  body: expertInputSchema,
  success: { status: 200, description: 'The updated expert', schema: expertSchema },
  errors: [400, 404, 409, 413, 415, 422],
} as const satisfies RouteSpec;

export const expertHealthInputSchema = z
  .strictObject({
    status: z.enum(['healthy', 'unhealthy']),
    reason: z.string().min(1).max(256).optional(),
    ttlSeconds: z
      .int()
      .min(60)
      .max(7 * 24 * 3600)
      .optional()
      .meta({ description: 'For `unhealthy`: the mark lapses after this many seconds.' }),
  })
  .refine((input) => input.status === 'unhealthy' || input.ttlSeconds === undefined, {
    message: 'ttlSeconds applies to status unhealthy only',
    path: ['ttlSeconds'],
  })
  .meta({ id: 'ExpertHealthInput' });

export const setExpertHealth = {
  operationId: 'setExpertHealth',
  rateFamily: 'experts.write',
  method: 'PUT',
  path: '/experts/{expertId}/health',
  summary: 'Mark an expert healthy or unhealthy (routes skip an unhealthy expert with reason `unhealthy`)',
  tag: 'experts',
  auth: 'jwt',
  minRole: 'operator',
  action: 'experts:health:set',
  ifMatch: true,
  etag: true,
  params: expertParams,
  body: expertHealthInputSchema,
  success: { status: 200, description: 'The expert with its new health mark', schema: expertSchema },
  errors: [400, 404, 409, 413, 415],
} as const satisfies RouteSpec;

export const deleteExpert = {
  operationId: 'deleteExpert',
  rateFamily: 'experts.write',
  method: 'DELETE',
  path: '/experts/{expertId}',
  summary: 'Delete an expert',
  tag: 'experts',
  auth: 'jwt',
  minRole: 'admin',
  action: 'experts:delete',
  ifMatch: true,
  params: expertParams,
  success: { status: 204, description: 'Deleted' },
  errors: [400, 404, 409],
} as const satisfies RouteSpec;

// ---------------------------------------------------------------------------------------------
// Routing, rationale and the tenant's router configuration.

const finiteNumber = z.number().refine(Number.isFinite, 'must be a finite number');
const contextKey = z.string().min(1).max(64);
const contextValue = z.union([
  z.string().max(256),
  finiteNumber,
  z.boolean(),
  z.array(z.string().max(256)).max(32),
]);
export const MAX_CONTEXT_KEYS = 64;
/** Bodies of route requests are small: a larger one is a 413 before it is parsed. */
export const MAX_ROUTE_BODY_BYTES = 16 * 1024;

export const routeContextSchema = z
  .record(contextKey, contextValue)
  .refine(
    (value) => Object.keys(value).length <= MAX_CONTEXT_KEYS,
    `at most ${MAX_CONTEXT_KEYS} context keys`,
  )
  .meta({
    id: 'RouteContext',
    description:
      'Task features: strings, finite numbers, booleans or lists of strings (encoded by the router’s context encoder).',
  });

const candidateId = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'not an expert id');

export const routeRequestSchema = z
  .strictObject({
    taskId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, '1 to 128 of A-Z a-z 0-9 . _ : -'),
    /** Accepted for the PRD's shape; must name the tenant the request acts in. */
    tenantId: z.string().optional(),
    context: routeContextSchema,
    candidates: z.array(candidateId).min(1).max(32),
    sessionId: z.string().min(1).max(256).optional().meta({
      description: 'Keeps a canary sticky by session: the same session, the same arm.',
    }),
    userId: z.string().min(1).max(256).optional().meta({
      description: 'Keeps a canary sticky by user (default: the caller’s subject).',
    }),
  })
  .meta({
    id: 'RouteRequest',
    description:
      'A task to route among candidate experts. Idempotent per taskId: a retry gets the same decision.',
  });

const decisionStrategy = z.enum([...ROUTER_STRATEGIES, 'naive-linucb', 'kill_switch']);

export const routeAnswerSchema = z
  .object({
    expertId: z.string(),
    confidence: z.number().min(0).max(1).meta({
      description: 'The strategy’s estimate of the probability that expertId is the best candidate.',
    }),
    rationaleId: z.string(),
    strategy: decisionStrategy,
    decisionId: z.string(),
  })
  .meta({ id: 'RouteAnswer' });

const objectiveScoreSchema = z
  .object({
    expertId: z.string(),
    quality: z.number(),
    costUsd: z.number(),
    latencyMs: z.number().optional(),
    costTerm: z.number(),
    latencyTerm: z.number(),
    score: z.number(),
  })
  .meta({ id: 'ObjectiveScore' });

export const rationaleSchema = z
  .object({
    rationaleId: z.string(),
    decisionId: z.string(),
    taskId: z.string(),
    tenantId: z.string(),
    expertId: z.string(),
    strategy: decisionStrategy,
    killSwitch: z.boolean(),
    exploration: z.boolean(),
    exploitExpertId: z.string(),
    propensity: z.number(),
    confidence: z.number(),
    candidates: z.array(
      z.object({
        expertId: z.string(),
        estimate: z.number(),
        uncertainty: z.number(),
        probability: z.number(),
        sampled: z.number().optional(),
        bonus: z.number().optional(),
        penalty: z.number().optional().meta({
          description:
            'The cost-aware objective’s λ·cost + μ·latency subtracted from this candidate’s score.',
        }),
      }),
    ),
    topFeatures: z.array(
      z.object({
        index: z.number().int(),
        names: z.array(z.string()),
        value: z.number(),
        weight: z.number(),
        contribution: z.number(),
      }),
    ),
    attribution: z
      .object({
        runnerUpExpertId: z.string(),
        estimateMargin: z.number(),
        penaltyMargin: z.number().optional().meta({
          description:
            'With the cost-aware objective: the runner-up’s penalty less the pick’s (its cost and latency terms’ part of the lead).',
        }),
        features: z.array(
          z.object({
            index: z.number().int(),
            names: z.array(z.string()),
            value: z.number(),
            weight: z.number(),
            runnerUpWeight: z.number(),
            contribution: z.number(),
            marginContribution: z.number(),
          }),
        ),
      })
      .optional()
      .meta({
        description:
          'Linear strategies (linucb, linear-thompson): the pick against the runner-up the strategy ranked second. Per feature of the context (the largest |marginContribution| first, at most 5): its value, both experts’ weights, its part of the pick’s estimate (contribution = weight·value) and of its lead over the runner-up (marginContribution = (weight − runnerUpWeight)·value); estimateMargin is the lead over all features. The exploration term (LinUCB’s bonus, Thompson’s draw) is not a feature’s and is in candidates.',
      }),
    removed: z.array(
      z.object({ expertId: z.string(), reason: z.enum(REMOVAL_REASONS) }).meta({
        description:
          'A candidate not considered: `unknown` (not an expert of the tenant), `disabled`, `unhealthy` (an operator’s health mark), `policy` (the policy engine denied it to the caller), `budget` (demoted under a degraded or throttled budget: see budgetState).',
      }),
    ),
    budgetState: z.enum(CONSTRAINED_BUDGET_STATES).optional().meta({
      description:
        'The tenant’s budget state (the scheduler’s) when it demoted expensive candidates: the route kept the cheaper half of the eligible candidates by declared cost per call and removed the others with reason `budget`.',
    }),
    objective: z
      .object({
        lambda: z.number(),
        latencyWeight: z.number(),
        chosen: objectiveScoreSchema,
        runnerUp: objectiveScoreSchema.optional(),
      })
      .optional()
      .meta({
        description:
          'The cost-aware objective (router configuration `objective`): λ and μ as this decision used them, and for the pick and the best other candidate: quality (the strategy’s estimate), costUsd and latencyMs (observed, else declared cost), costTerm = λ·cost, latencyTerm = μ·latency in seconds, score = quality − costTerm − latencyTerm. The strategy ranked by its own score (bound or draw) less the same terms.',
      }),
    modelVersion: z.number().int(),
    configVersion: z.number().int(),
    policyVersion: z
      .string()
      .optional()
      .meta({ description: 'The policy set that filtered the candidates (Cedar or OPA version).' }),
    experiment: z
      .object({
        name: z.string(),
        mode: z.enum(EXPERIMENT_MODES),
        arm: z.enum(['baseline', 'candidate']).optional(),
        shadow: z
          .object({
            expertId: z.string(),
            strategy: decisionStrategy,
            propensity: z.number(),
            confidence: z.number(),
            servedProbability: z.number(),
            servedEstimate: z.number(),
            expectedEstimate: z.number(),
            modelKey: z.string(),
            modelVersion: z.number().int(),
          })
          .optional()
          .meta({ description: 'What the shadow candidate decided (logged, never served).' }),
      })
      .optional()
      .meta({
        description:
          'The experiment the decision was part of: the canary arm that served, or the shadow’s pick.',
      }),
    decidedAt: z.string(),
  })
  .meta({ id: 'Rationale', description: 'Why the router picked an expert for a task.' });

const rationaleParams = z.strictObject({
  rationaleId: z.string().regex(/^rat_[A-Za-z0-9_-]{1,200}$/, 'not a rationale id'),
});

const threshold = storableNumber;
const signalRuleSchema = z
  .union([
    z.enum(NAMED_SIGNAL_RULES),
    z.strictObject({ atMost: threshold }),
    z.strictObject({ atLeast: threshold }),
  ])
  .meta({
    id: 'SignalRule',
    description:
      '`clamp01` (value clamped to [0, 1]), `positive` (value > 0 -> 1, else 0), `ignore` (recorded, not learnt from), `{"atMost": t}` (value <= t -> 1, else 0) or `{"atLeast": t}` (value >= t -> 1, else 0).',
  });
const rewardMappingInputSchema = z
  .strictObject(Object.fromEntries(REWARD_SIGNALS.map((signal) => [signal, signalRuleSchema.optional()])))
  .meta({
    id: 'RewardMappingInput',
    description: `How each signal becomes the reward learnt from; unnamed signals keep their default (${Object.entries(
      DEFAULT_REWARD_MAPPING,
    )
      .map(([signal, rule]) => `${signal}: ${String(rule)}`)
      .join(', ')}).`,
  });
const numericFeatureSchema = z
  .strictObject({
    key: contextKey,
    transform: z.enum(NUMERIC_TRANSFORMS).optional(),
    mean: storableNumber.optional(),
    std: storableNumber.refine((v) => v > 0, 'must be > 0').optional(),
  })
  .meta({
    id: 'NumericFeature',
    description:
      'A context key with a slot of its own: (transform(v) − mean) / std, clipped to ±clip; `signed-log1p` suits heavy-tailed values such as sizes.',
  });

const strategyParameters = {
  strategy: z.enum(ROUTER_STRATEGIES).meta({
    description:
      'The bandit strategy. `linucb` and `linear-thompson` use the context (a ridge regression per expert on the encoded features); `static`, `greedy`, `epsilon-greedy` and `thompson` learn one number per expert and ignore it.',
  }),
  alpha: z.number().min(0).max(100).default(0.5).meta({
    description: 'LinUCB’s exploration width: its confidence bonus is α·√(xᵀA⁻¹x).',
  }),
  posteriorScale: z.number().gt(0).max(100).default(DEFAULT_POSTERIOR_SCALE).meta({
    description:
      'Linear Thompson’s posterior scale v: scores are drawn from N(xᵀθ̂, v²·xᵀA⁻¹x). Lower explores less.',
  }),
  epsilon: z.number().min(0).max(1).default(0.1),
  likelihood: z.enum(THOMPSON_LIKELIHOODS).default('bernoulli'),
};

const rollbackRuleSchema = z
  .strictObject({
    errorRate: z.number().min(0).max(1).default(DEFAULT_ROLLBACK_RULE.errorRate),
    baselineErrorRate: z.number().min(0).max(1).default(DEFAULT_ROLLBACK_RULE.baselineErrorRate),
    windowSeconds: z.int().min(60).max(86_400).default(DEFAULT_ROLLBACK_RULE.windowSeconds),
    minOutcomes: z.int().min(1).max(100_000).default(DEFAULT_ROLLBACK_RULE.minOutcomes),
    rewardTolerance: z.number().min(0).max(1_000_000).default(DEFAULT_ROLLBACK_RULE.rewardTolerance),
    rewardConfidence: z.number().min(0.5).max(0.999).default(DEFAULT_ROLLBACK_RULE.rewardConfidence),
  })
  .meta({
    id: 'RollbackRule',
    description:
      'The canary is rolled back (share 0, audited, `router_canary_rollback` published) when, over the last `windowSeconds`, the candidate has at least `minOutcomes` outcomes and an error rate (error + timeout) above `errorRate` while the baseline’s stays below `baselineErrorRate`; or when both arms have at least `minOutcomes` learnt rewards and the candidate’s mean reward is below the baseline’s by more than `rewardTolerance` with `rewardConfidence` (one-sided).',
  });

const rampRuleSchema = z
  .strictObject({
    auto: z.boolean().default(false),
    soakMinutes: z.int().min(1).max(10_080).default(30),
  })
  .meta({
    id: 'RampRule',
    description: `Canary steps ${CANARY_STEPS.join(' -> ')} %: manual (an admin raises \`percent\`) or, with \`auto\`, the next step once the current one has soaked \`soakMinutes\` with enough outcomes and no rollback condition.`,
  });

const experimentName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, '1 to 63 of a-z 0-9 -, not starting with -');

export const experimentInputSchema = z
  .strictObject({
    name: experimentName.meta({
      description: 'Seeds the sticky assignment: a new name reshuffles the keys.',
    }),
    candidate: z.strictObject(strategyParameters).meta({
      id: 'CandidateStrategy',
      description: 'The strategy tried next to the baseline; it uses the tenant’s feature spec.',
    }),
    mode: z.enum(EXPERIMENT_MODES),
    percent: z.number().min(0).max(100).meta({
      description:
        'shadow: the share of routes the candidate also decides (logged, never served); canary: the share of sticky keys it serves.',
    }),
    stickyBy: z.enum(STICKY_KEY_KINDS).default('user').meta({
      description:
        'canary: the key that keeps a caller on one arm: the route’s `sessionId`, its `userId` (else the caller’s subject), or the whole tenant.',
    }),
    rollback: rollbackRuleSchema.default(DEFAULT_ROLLBACK_RULE),
    ramp: rampRuleSchema.default({ auto: false, soakMinutes: 30 }),
    replayJobId: z
      .string()
      .regex(/^rpl_[A-Za-z0-9-]{1,64}$/, 'not a replay job id')
      .optional(),
  })
  .meta({ id: 'ExperimentInput', description: 'A candidate strategy next to the baseline.' });

const rollbackRecordSchema = z
  .object({
    at: z.string(),
    reason: z.string(),
    candidateErrorRate: z.number(),
    baselineErrorRate: z.number(),
    candidateOutcomes: z.number().int(),
  })
  .meta({ id: 'RollbackRecord' });

const experimentSchema = z
  .object({
    name: z.string(),
    candidate: z.object({
      strategy: z.enum(ROUTER_STRATEGIES),
      alpha: z.number(),
      posteriorScale: z.number().optional(),
      epsilon: z.number(),
      likelihood: z.enum(THOMPSON_LIKELIHOODS),
    }),
    mode: z.enum(EXPERIMENT_MODES),
    percent: z.number(),
    stickyBy: z.enum(STICKY_KEY_KINDS),
    rollback: z.object({
      errorRate: z.number(),
      baselineErrorRate: z.number(),
      windowSeconds: z.number().int(),
      minOutcomes: z.number().int(),
      rewardTolerance: z.number(),
      rewardConfidence: z.number(),
    }),
    ramp: z.object({ auto: z.boolean(), soakMinutes: z.number().int() }),
    replayJobId: z.string().optional(),
    stepStartedAt: z
      .string()
      .optional()
      .meta({ description: 'When the current mode and share took effect.' }),
    rolledBack: rollbackRecordSchema.optional(),
  })
  .meta({ id: 'Experiment' });

export const objectiveInputSchema = z
  .strictObject({
    costWeight: z.number().min(0).max(1e6).optional().meta({
      description: 'λ directly: reward units (1 point of quality = 0.01) given up per US dollar of cost.',
    }),
    costTarget: z
      .strictObject({
        usdPer1000Tasks: z.number().min(1e-6).max(1e6).meta({
          description: 'The average cost the tenant’s routes should have, per 1,000 tasks.',
        }),
      })
      .optional()
      .meta({
        description:
          'λ steered after each decision so the routes cost this on average (a per-instance controller; λ starts at 0).',
      }),
    qualityTolerance: z.number().min(0).max(1).optional().meta({
      description:
        '“The cheapest expert within this much of the best quality” (0.01 = 1 point), on average: λ = θ / the spread of the candidates’ costs, θ steered so that the quality estimate given up averages the tolerance.',
    }),
    latencyWeight: z.number().min(0).max(1e3).optional().meta({
      description: 'μ: reward units given up per second of the expert’s observed latency.',
    }),
  })
  .refine(
    (o) =>
      [o.costWeight, o.costTarget, o.qualityTolerance].filter((value) => value !== undefined).length <= 1,
    'set at most one of costWeight, costTarget and qualityTolerance',
  )
  .meta({
    id: 'RouterObjective',
    description:
      'The cost-aware objective: routes rank candidates by quality − λ·cost − μ·latency. Quality is what the strategy learnt; cost is what the expert reported to invoke mode, else its declared cost per call; latency what the router observed. λ is set directly (costWeight) or derived from a target (costTarget, qualityTolerance).',
  });

export const routerConfigInputSchema = z
  .strictObject({
    ...strategyParameters,
    dimension: z.int().min(8).max(256).default(32),
    numericFeatures: z.array(numericFeatureSchema).max(64).default([]),
    clip: storableNumber.refine((v) => v > 0, 'must be > 0').default(5),
    rewardMapping: rewardMappingInputSchema.default({}),
    discount: z.number().min(MIN_DISCOUNT).max(1).default(1).meta({
      description:
        'Forgetting factor γ for experts whose quality changes: before each reward an expert’s evidence is discounted by γ (0.99 ≈ its last 100 rewards count); 1 forgets nothing. Ridge models (linucb, linear-thompson) and Beta Thompson; greedy and Gaussian Thompson keep everything.',
    }),
    explorationCap: z.number().min(0).max(1).default(1).meta({
      description:
        'Largest fraction of exploring (non-greedy) picks among the tenant’s latest decisions; 1 = no cap.',
    }),
    defaultExpertId: z
      .string()
      .regex(/^exp_[A-Za-z0-9-]{1,64}$/, 'not an expert id')
      .optional(),
    killSwitch: z.boolean().default(false),
    objective: objectiveInputSchema.optional(),
    experiment: experimentInputSchema.optional(),
    requireReplayGate: z.boolean().default(false).meta({
      description:
        'A canary may serve traffic only with a replay job that found its candidate not worse than the baseline (experiment.replayJobId).',
    }),
  })
  .meta({
    id: 'RouterConfigInput',
    description:
      'The tenant’s router configuration (a full replacement; omitted fields take their defaults).',
  });

export const routerConfigSchema = z
  .object({
    tenantId: z.string(),
    strategy: z.enum(ROUTER_STRATEGIES),
    alpha: z.number(),
    posteriorScale: z.number().optional(),
    epsilon: z.number(),
    likelihood: z.enum(THOMPSON_LIKELIHOODS),
    dimension: z.number().int(),
    numericFeatures: z.array(numericFeatureSchema),
    clip: z.number(),
    rewardMapping: z
      .object(Object.fromEntries(REWARD_SIGNALS.map((signal) => [signal, signalRuleSchema])))
      .meta({ id: 'RewardMapping' }),
    discount: z.number().optional(),
    explorationCap: z.number(),
    defaultExpertId: z.string().optional(),
    killSwitch: z.boolean(),
    objective: objectiveInputSchema.optional(),
    experiment: experimentSchema.optional(),
    requireReplayGate: z.boolean().optional(),
    version: z.number().int().meta({ description: '0 while the tenant runs on the defaults.' }),
    createdAt: z.string().optional(),
    updatedAt: z.string().optional(),
    updatedBy: z.string().optional().meta({ description: 'The subject of the last change.' }),
  })
  .meta({ id: 'RouterConfig' });

export const routerConfigHistorySchema = z
  .object({
    items: z.array(
      z.object({
        version: z.number().int(),
        changedAt: z.string(),
        changedBy: z.string(),
        config: routerConfigInputSchema.extend({ experiment: experimentSchema.optional() }),
        reason: z
          .string()
          .optional()
          .meta({ description: 'Why, when the platform made the change (canary rollback, ramp step).' }),
      }),
    ),
  })
  .meta({
    id: 'RouterConfigHistory',
    description: 'The last 50 changes of the tenant’s router configuration, newest first.',
  });

export const routeTask = {
  operationId: 'routeTask',
  rateFamily: 'router.route',
  method: 'POST',
  path: '/router/route',
  summary: 'Pick the expert for a task among candidates (idempotent per taskId)',
  tag: 'router',
  auth: 'jwt',
  minRole: 'operator',
  action: 'router:route',
  // The route-level record goes out with the candidates' policy decisions, in one write.
  deferDecisionLog: true,
  body: routeRequestSchema,
  maxBodyBytes: MAX_ROUTE_BODY_BYTES,
  success: { status: 200, description: 'The decision', schema: routeAnswerSchema },
  errors: [400, 413, 415, 422],
} as const satisfies RouteSpec;

// ---------------------------------------------------------------------------------------------
// Invoke mode (M1 part 3): route, call the chosen expert, record the outcome.

/** The longest invoke taskId: room for the `:fallback-N` suffix of a fallback's own task. */
export const MAX_INVOKE_TASK_ID = 116;
export const INVOKE_TIMEOUT_MS = { min: 100, default: 8_000, max: 12_000 } as const;
export const MAX_INVOKE_FALLBACKS = 2;
/** The body of an invoke request: the route's fields and the expert's input (64 KiB in all). */
export const MAX_INVOKE_BODY_BYTES = 64 * 1024;

/** Any JSON value (an expert's input or answer). */
const jsonValue = z.json().meta({ id: 'JsonValue', description: 'Any JSON value.' });

export const invokeRequestSchema = routeRequestSchema
  .extend({
    taskId: z
      .string()
      .regex(
        new RegExp(`^[A-Za-z0-9._:-]{1,${MAX_INVOKE_TASK_ID}}$`),
        `1 to ${MAX_INVOKE_TASK_ID} of A-Z a-z 0-9 . _ : -`,
      ),
    input: jsonValue,
    timeoutMs: z
      .number()
      .int()
      .min(INVOKE_TIMEOUT_MS.min)
      .max(INVOKE_TIMEOUT_MS.max)
      .default(INVOKE_TIMEOUT_MS.default)
      .meta({ description: 'Per expert call: no answer within it is a timeout (and a fallback).' }),
    maxFallbacks: z.number().int().min(0).max(MAX_INVOKE_FALLBACKS).default(1).meta({
      description:
        'How many other candidates may answer when the chosen one fails on infrastructure (timeout, unreachable, 5xx, 429, an unusable answer, a refused address). 0: none.',
    }),
  })
  .meta({
    id: 'InvokeRequest',
    description:
      'A task to route and run: the router picks an expert, calls it through the guarded outbound client and returns its answer.',
  });

const attemptOutcome = z.enum(['ok', 'refused_by_expert', 'timeout', 'unavailable', 'unusable', 'refused']);

export const invokeAttemptSchema = z
  .object({
    taskId: z.string().meta({ description: 'The task this attempt was routed as (its own decision).' }),
    expertId: z.string(),
    decisionId: z.string(),
    outcome: attemptOutcome.meta({
      description:
        'ok: a 2xx answer; refused_by_expert: a 4xx answer (not retried); timeout; unavailable: unreachable, 5xx, 408 or 429; unusable: too large or invalid JSON; refused: the endpoint’s address or port is not allowed (no call made).',
    }),
    httpStatus: z.number().int().optional(),
    code: z.string().optional(),
    latencyMs: z.number(),
  })
  .meta({ id: 'InvokeAttempt' });

export const invokeAnswerSchema = z
  .object({
    taskId: z.string(),
    answeredTaskId: z.string().meta({
      description:
        'The task the answer was routed as: taskId, or a fallback’s `<taskId>:fallback-N`. Quality rewards (POST /router/reward) go to this id.',
    }),
    expertId: z.string(),
    decisionId: z.string(),
    rationaleId: z.string(),
    strategy: decisionStrategy,
    confidence: z.number().min(0).max(1),
    fallbackUsed: z.boolean(),
    output: jsonValue,
    httpStatus: z.number().int(),
    latencyMs: z.number(),
    costUsd: z.number().optional().meta({
      description: 'What the call cost: the cost the expert reported, else its declared cost per call.',
    }),
    attempts: z.array(invokeAttemptSchema),
    signalsRecorded: z.boolean().meta({
      description:
        'Whether the automatic outcome and reward signals (incident_free, latency_ms, cost) were recorded; false only when the rewards queue refused them (the answer stands).',
    }),
  })
  .meta({ id: 'InvokeAnswer' });

export const invokeTask = {
  operationId: 'invokeTask',
  rateFamily: 'router.route',
  method: 'POST',
  path: '/router/invoke',
  summary:
    'Route a task and call the chosen expert (fallback to another candidate on infrastructure errors); the outcome is recorded as reward signals',
  tag: 'router',
  auth: 'jwt',
  minRole: 'operator',
  action: 'router:invoke',
  deferDecisionLog: true,
  body: invokeRequestSchema,
  maxBodyBytes: MAX_INVOKE_BODY_BYTES,
  exampleBody: {
    taskId: 'task-42',
    context: { lang: 'en', tokens: 900 },
    candidates: ['exp_1', 'exp_2'],
    input: { question: 'Summarise the incident report.' },
    timeoutMs: 8000,
  },
  success: { status: 200, description: 'The expert’s answer', schema: invokeAnswerSchema },
  errors: [400, 413, 415, 422, 502],
} as const satisfies RouteSpec;

// ---------------------------------------------------------------------------------------------
// Warm start (M1 part 3): priors for experts a model has no evidence of.

const priorSchema = z
  .strictObject({
    expertId: z.string().regex(/^exp_[A-Za-z0-9-]{1,64}$/, 'not an expert id'),
    meanReward: z.number().min(0).max(1).meta({
      description: 'The reward the expert is expected to earn, in [0, 1] (an evaluation’s pass rate).',
    }),
    weight: z
      .number()
      .int()
      .min(1)
      .max(MAX_PRIOR_WEIGHT)
      .meta({ description: 'How many observations the belief is worth (an evaluation’s graded trials).' }),
    name: z
      .string()
      .max(128)
      .optional()
      .meta({ description: 'Informational: the expert’s name at the source.' }),
  })
  .meta({ id: 'ExpertPrior' });

export const priorsDocumentSchema = z
  .strictObject({
    format: z.literal(PRIORS_FORMAT),
    source: z.string().max(256).optional().meta({
      description: 'Where the priors come from, e.g. `evaluation:<suite>@<run>` or a tenant export.',
    }),
    experts: z.array(priorSchema).min(1).max(256),
  })
  .meta({
    id: 'PriorsDocument',
    description:
      'Warm-start priors (conductor.priors/v1): per expert a mean reward and its weight, learnt as that many observations of that reward on the intercept, for experts the tenant’s model has no evidence of.',
  });

export const priorsAppliedSchema = z
  .object({
    modelKey: z.string(),
    modelVersion: z.number().int(),
    applied: z.array(z.object({ expertId: z.string(), meanReward: z.number(), weight: z.number().int() })),
    skipped: z.array(
      z.object({
        expertId: z.string(),
        reason: z.enum(['unknown_expert', 'has_evidence']).meta({
          description:
            'unknown_expert: not an expert of this tenant; has_evidence: the model has learnt about it (a prior never overrides that).',
        }),
      }),
    ),
  })
  .meta({ id: 'PriorsApplied' });

export const putRouterPriors = {
  operationId: 'putRouterPriors',
  rateFamily: 'router.admin',
  method: 'PUT',
  path: '/router/priors',
  summary:
    'Warm-start experts the tenant’s current model has no evidence of, from priors (an evaluation’s results, another tenant’s export)',
  tag: 'router',
  auth: 'jwt',
  minRole: 'admin',
  action: 'router:priors:put',
  body: priorsDocumentSchema,
  maxBodyBytes: 64 * 1024,
  exampleBody: {
    format: PRIORS_FORMAT,
    source: 'evaluation:summaries@2026-12-01',
    experts: [{ expertId: 'exp_1', meanReward: 0.82, weight: 20 }],
  },
  success: { status: 200, description: 'What was applied and what was skipped', schema: priorsAppliedSchema },
  errors: [400, 413, 415],
} as const satisfies RouteSpec;

export const exportRouterPriors = {
  operationId: 'exportRouterPriors',
  rateFamily: 'router.admin',
  method: 'GET',
  path: '/router/priors/export',
  summary:
    'The tenant’s current model summarised per expert as a priors document (to warm-start another tenant, which its admin then puts)',
  tag: 'router',
  auth: 'jwt',
  minRole: 'admin',
  action: 'router:priors:export',
  success: {
    status: 200,
    description: 'A priors document',
    schema: z
      .object({
        format: z.literal(PRIORS_FORMAT),
        source: z.string(),
        modelKey: z.string(),
        experts: z.array(priorSchema).meta({
          description: 'Every expert the model has evidence of (none for a model that has learnt nothing).',
        }),
      })
      .meta({ id: 'PriorsExport' }),
  },
  errors: [],
} as const satisfies RouteSpec;

export const getRationale = {
  operationId: 'getRationale',
  rateFamily: 'router.read',
  method: 'GET',
  path: '/router/rationale/{rationaleId}',
  summary: 'Read why the router picked an expert for a task',
  tag: 'router',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'router:rationale:get',
  params: rationaleParams,
  success: { status: 200, description: 'The rationale', schema: rationaleSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const getRouterConfig = {
  etag: true,
  operationId: 'getRouterConfig',
  rateFamily: 'router.read',
  method: 'GET',
  path: '/router/config',
  summary: 'Read the tenant’s router configuration (the defaults until one is stored)',
  tag: 'router',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'router:config:get',
  success: { status: 200, description: 'The configuration', schema: routerConfigSchema },
  errors: [],
} as const satisfies RouteSpec;

export const getRouterConfigHistory = {
  operationId: 'getRouterConfigHistory',
  rateFamily: 'router.read',
  method: 'GET',
  path: '/router/config/history',
  summary: 'Who changed the tenant’s router configuration, when, and to what (the last 50 changes)',
  tag: 'router',
  auth: 'jwt',
  minRole: 'admin',
  action: 'router:config:history',
  success: { status: 200, description: 'The changes, newest first', schema: routerConfigHistorySchema },
  errors: [],
} as const satisfies RouteSpec;

export const updateRouterConfig = {
  ifMatch: true,
  etag: true,
  operationId: 'updateRouterConfig',
  rateFamily: 'router.admin',
  method: 'PUT',
  path: '/router/config',
  summary:
    'Replace the tenant’s router configuration (strategy, α, ε, feature spec, reward mapping, exploration cap, default expert, kill-switch)',
  tag: 'router',
  auth: 'jwt',
  minRole: 'admin',
  action: 'router:config:update',
  body: routerConfigInputSchema,
  success: { status: 200, description: 'The stored configuration', schema: routerConfigSchema },
  errors: [400, 409, 413, 415, 422],
} as const satisfies RouteSpec;

const signalRanges = Object.entries(SIGNAL_RANGES)
  .map(([signal, range]) => `${signal} ${range.min}..${range.max}`)
  .join(', ');

export const rewardRequestSchema = z
  .strictObject({
    taskId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, '1 to 128 of A-Z a-z 0-9 . _ : -'),
    /** Accepted like route's; must name the tenant the request acts in. */
    tenantId: z.string().optional(),
    signal: z.enum(REWARD_SIGNALS),
    value: finiteNumber.meta({
      description: `Within the signal's range (${signalRanges}); 0 or at least ${MIN_REWARD_MAGNITUDE} in magnitude.`,
    }),
    ts: z.iso.datetime({ offset: true }).optional(),
  })
  .superRefine((body, ctx) => {
    const problem = rewardValueProblem(body.signal, body.value);
    if (problem) ctx.addIssue({ code: 'custom', path: ['value'], message: problem, input: body.value });
  })
  .meta({
    id: 'RewardRequest',
    description:
      'An outcome signal for a routed task. Learnt from asynchronously; the effect is exactly once per (taskId, signal).',
  });

export const rewardAcceptedSchema = z
  .object({ accepted: z.literal(true), taskId: z.string() })
  .meta({ id: 'RewardAccepted' });

export const postReward = {
  operationId: 'postReward',
  rateFamily: 'router.reward',
  method: 'POST',
  path: '/router/reward',
  summary:
    'Report a reward signal for a routed task (queued; a value outside its signal’s range is a 400; an unknown task is recorded as rejected, see GET /router/rewards/rejected)',
  tag: 'router',
  auth: 'jwt',
  minRole: 'operator',
  action: 'router:reward',
  body: rewardRequestSchema,
  maxBodyBytes: 4 * 1024,
  success: { status: 202, description: 'Accepted by the rewards queue', schema: rewardAcceptedSchema },
  errors: [400, 413, 415],
} as const satisfies RouteSpec;

export const rejectedRewardSchema = z
  .object({
    taskId: z.string(),
    signal: z.enum(REWARD_SIGNALS),
    value: z.number().optional().meta({ description: 'The value sent (reason `unknown_task`).' }),
    valueText: z
      .string()
      .optional()
      .meta({ description: 'The value sent, as text (reason `value_out_of_range`).' }),
    reason: z.enum(REJECTION_REASONS).meta({
      description:
        '`unknown_task`: no decision for the task in this tenant (never routed, another tenant’s, older than 30 days, or sent before its decision: send it again once routed). `value_out_of_range`: the value is outside its signal’s range.',
    }),
    detail: z.string().optional(),
    ts: z.string(),
    receivedAt: z.string(),
    rejectedAt: z.string(),
    traceId: z.string(),
  })
  .meta({ id: 'RejectedReward', description: 'A reward the router did not learn from, and why.' });

export const rejectedRewardPageSchema = pageSchemaOf(rejectedRewardSchema, 'RejectedRewardPage');

export const listRejectedRewards = {
  operationId: 'listRejectedRewards',
  rateFamily: 'router.read',
  method: 'GET',
  path: '/router/rewards/rejected',
  summary:
    'List the rewards of the caller’s tenant that were not learnt from, with the reason (kept 30 days), a page at a time',
  tag: 'router',
  auth: 'jwt',
  minRole: 'admin',
  action: 'router:rewards:rejected:list',
  query: listExpertsQuery,
  success: { status: 200, description: 'A page of rejected rewards', schema: rejectedRewardPageSchema },
  errors: [400],
} as const satisfies RouteSpec;

// ---------------------------------------------------------------------------------------------
// Off-policy replay (M1 part 2): jobs on the replay queue, run by the replay function.

const isoInstant = z.iso.datetime({ offset: true });

export const replayRequestSchema = z
  .strictObject({
    from: isoInstant.meta({ description: 'Start of the range of logged decisions (inclusive).' }),
    to: isoInstant.meta({ description: 'End of the range (exclusive); at most 31 days after `from`.' }),
    source: z.enum(REPLAY_SOURCES).default('strategies').meta({
      description:
        '`strategies`: both strategies decide every logged decision again, on their current model states. `shadow`: the shadow experiment’s own logged probabilities and predictions (no hindsight).',
    }),
    candidate: z.strictObject(strategyParameters).optional().meta({
      description: 'Default: the experiment’s candidate.',
    }),
    baseline: z.strictObject(strategyParameters).optional().meta({
      description: 'Default: the configuration’s own strategy and parameters.',
    }),
    margin: z.number().min(0).max(1).default(0.01).meta({
      description:
        'Non-inferiority margin: the candidate passes when the interval of (candidate − baseline) lies above −margin.',
    }),
    confidence: z.number().min(0.5).max(0.999).default(0.95),
  })
  .meta({ id: 'ReplayRequest', description: 'What to replay, on which logged decisions.' });

const intervalSchema = z
  .object({ value: z.number(), standardError: z.number(), low: z.number(), high: z.number() })
  .meta({ id: 'IntervalEstimate' });

const estimatesSchema = z
  .object({
    n: z.number().int(),
    effectiveSampleSize: z.number(),
    maxWeight: z.number(),
    ips: intervalSchema,
    snips: intervalSchema,
    doublyRobust: intervalSchema.optional(),
  })
  .meta({ id: 'OffPolicyEstimates', description: 'IPS, self-normalised IPS and doubly-robust estimates.' });

const parametersSchema = z.object({
  strategy: z.enum(ROUTER_STRATEGIES),
  alpha: z.number(),
  posteriorScale: z.number().optional(),
  epsilon: z.number(),
  likelihood: z.enum(THOMPSON_LIKELIHOODS),
});

export const replayJobSchema = z
  .object({
    jobId: z.string(),
    status: z.enum(REPLAY_STATUSES),
    request: z.object({
      from: z.string(),
      to: z.string(),
      source: z.enum(REPLAY_SOURCES),
      margin: z.number(),
      confidence: z.number(),
    }),
    baseline: parametersSchema,
    candidate: parametersSchema,
    experiment: z.string().optional(),
    requestedBy: z.string(),
    createdAt: z.string(),
    finishedAt: z.string().optional(),
    result: z
      .object({
        decisions: z.number().int(),
        rewarded: z.number().int(),
        baseline: estimatesSchema,
        candidate: estimatesSchema,
        estimator: z.enum(['doubly-robust', 'ips']),
        difference: intervalSchema,
        passed: z.boolean(),
        evaluatedPerSecond: z.number(),
        durationMs: z.number(),
        modelVersions: z.object({ baseline: z.number().int(), candidate: z.number().int() }).optional(),
      })
      .optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  })
  .meta({ id: 'ReplayJob', description: 'An off-policy replay and, once it ran, its estimates.' });

export const startReplay = {
  operationId: 'startReplay',
  rateFamily: 'router.admin',
  method: 'POST',
  path: '/router/replay',
  summary:
    'Estimate a candidate strategy against the baseline on the logged decisions of a range (IPS, SNIPS, DR; asynchronous)',
  tag: 'router',
  auth: 'jwt',
  minRole: 'admin',
  action: 'router:replay:start',
  body: replayRequestSchema,
  exampleBody: {
    from: '2026-12-01T00:00:00Z',
    to: '2026-12-06T00:00:00Z',
    candidate: { strategy: 'thompson' },
  },
  maxBodyBytes: 4 * 1024,
  success: { status: 202, description: 'Queued; GET the job for its result', schema: replayJobSchema },
  errors: [400, 413, 415, 422],
} as const satisfies RouteSpec;

export const getReplay = {
  operationId: 'getReplay',
  rateFamily: 'router.read',
  method: 'GET',
  path: '/router/replay/{jobId}',
  summary: 'Read a replay job: its status and, once it ran, its estimates and verdict',
  tag: 'router',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'router:replay:get',
  params: z.strictObject({ jobId: z.string().regex(/^rpl_[A-Za-z0-9-]{1,64}$/, 'not a replay job id') }),
  success: { status: 200, description: 'The job', schema: replayJobSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

// ---------------------------------------------------------------------------------------------
// Outcomes and the experiment's status (M1 part 2).

export const outcomeRequestSchema = z
  .strictObject({
    taskId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, '1 to 128 of A-Z a-z 0-9 . _ : -'),
    /** Accepted like route's; must name the tenant the request acts in. */
    tenantId: z.string().optional(),
    status: z.enum(OUTCOME_STATUSES).meta({ description: 'How the call to the chosen expert went.' }),
    latencyMs: z.number().min(0).max(3_600_000).meta({ description: 'How long the call took, in ms.' }),
    costUsd: z.number().min(0).max(1_000_000).optional().meta({
      description:
        'What the call cost, if the expert reported it: the cost-aware objective uses it instead of the declared cost per call.',
    }),
  })
  .meta({
    id: 'OutcomeRequest',
    description:
      'The outcome of the call the client made to the expert the router chose; the first report of a task stands.',
  });

const armSchema = z.enum(['baseline', 'candidate']);

export const outcomeAnswerSchema = z
  .object({
    taskId: z.string(),
    decisionId: z.string(),
    expertId: z.string(),
    status: z.enum(OUTCOME_STATUSES),
    latencyMs: z.number(),
    experiment: z.string().optional(),
    arm: armSchema.optional().meta({ description: 'The canary arm that served the task.' }),
    duplicate: z
      .boolean()
      .meta({ description: 'The task’s outcome was reported before; the first report stands.' }),
    canary: z
      .enum(['none', 'rolled_back', 'ramped'])
      .optional()
      .meta({ description: 'What the canary watch did after this outcome.' }),
  })
  .meta({ id: 'OutcomeAnswer' });

export const postOutcome = {
  operationId: 'postOutcome',
  rateFamily: 'router.reward',
  method: 'POST',
  path: '/router/outcome',
  summary:
    'Report how the call to the chosen expert went (ok, error, timeout; latency), joined to the decision and its canary arm',
  tag: 'router',
  auth: 'jwt',
  minRole: 'operator',
  action: 'router:outcome',
  body: outcomeRequestSchema,
  maxBodyBytes: 4 * 1024,
  success: { status: 200, description: 'Recorded (or recorded before)', schema: outcomeAnswerSchema },
  errors: [400, 404, 413, 415],
} as const satisfies RouteSpec;

const armWindowSchema = z.object({
  outcomes: z.number().int(),
  errors: z.number().int(),
  errorRate: z.number(),
  meanLatencyMs: z.number().optional(),
  rewards: z.number().int().meta({ description: 'Rewards learnt from the arm’s decisions in the window.' }),
  meanReward: z.number().optional(),
});

export const experimentStatusSchema = z
  .object({
    experiment: experimentSchema.optional().meta({ description: 'Absent when the tenant runs none.' }),
    window: z
      .object({
        from: z.string(),
        to: z.string(),
        baseline: armWindowSchema,
        candidate: armWindowSchema,
      })
      .optional()
      .meta({ description: 'canary: each arm’s outcomes over the rollback window (whole minutes).' }),
    verdict: z
      .object({ rollback: z.boolean(), reason: z.string() })
      .optional()
      .meta({ description: 'canary: the rollback rule as it stands now.' }),
    nextStep: z.number().optional().meta({ description: 'canary: the next ramp step, if any.' }),
    replay: replayJobSchema.optional().meta({
      description:
        'The experiment’s last succeeded replay: the candidate’s estimated value against the baseline (for a shadow, POST /router/replay with source `shadow`).',
    }),
  })
  .meta({ id: 'ExperimentStatus' });

export const getExperimentStatus = {
  operationId: 'getExperimentStatus',
  rateFamily: 'router.read',
  method: 'GET',
  path: '/router/experiment',
  summary:
    'The tenant’s experiment: its configuration, each canary arm’s outcomes over the window, the rollback verdict',
  tag: 'router',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'router:experiment:get',
  success: { status: 200, description: 'The status', schema: experimentStatusSchema },
  errors: [],
} as const satisfies RouteSpec;

export const routerRoutes = [
  createExpert,
  listExperts,
  getExpert,
  updateExpert,
  setExpertHealth,
  deleteExpert,
  routeTask,
  invokeTask,
  putRouterPriors,
  exportRouterPriors,
  postReward,
  listRejectedRewards,
  getRationale,
  getRouterConfig,
  getRouterConfigHistory,
  updateRouterConfig,
  postOutcome,
  getExperimentStatus,
  startReplay,
  getReplay,
] as const;

export { ROUTER_EVENTS, rewardIngested, routeDecision, routerCanaryRollback, routerDrift } from './events.js';

export { JOB_OUTCOME_KIND, type JobOutcomeMessage, jobOutcomeMessageSchema } from './messages.js';
