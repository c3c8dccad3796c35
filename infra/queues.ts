/**
 * The SQS queues (each with a DLQ) and the function that consumes each through an event source
 * mapping. The CDK app (queues, DLQs, mappings and their CloudWatch alarms) and the embedded runtime
 * both build them from this list. Pillars add their queues here as they land (rewards, scheduler
 * jobs, ...).
 */
export interface QueueSpec {
  /** Stable id: construct id and local queue name derive from it. */
  readonly id: string;
  /** Environment variable through which producers receive the queue URL. */
  readonly envVar: string;
  /** Catalog name of the consuming function; its module exports `handler` for SQS batches. */
  readonly consumer: string;
  /** Records per invocation: 1-10, or up to 10000 with `maxBatchingWindowSeconds` (as Lambda's ESM). */
  readonly batchSize: number;
  /**
   * How long the event source mapping gathers records before invoking with a partial batch (1-300 s);
   * a full batch (or a 6 MB payload) is delivered at once. Omitted: no window, records go out as soon
   * as they are received (then `batchSize` is at most 10).
   */
  readonly maxBatchingWindowSeconds?: number;
  /** Lambda ESM maximum concurrency (2-1000): the knob that stands in for KEDA. */
  readonly maximumConcurrency: number;
  readonly visibilityTimeoutSeconds: number;
  /** Deliveries before a message moves to the DLQ. */
  readonly maxReceiveCount: number;
  /**
   * The queue's freshness bound: a CloudWatch alarm fires when its oldest message
   * (`ApproximateAgeOfOldestMessage`) is older than this, i.e. the consumer is not keeping up.
   */
  readonly maxAgeSeconds: number;
  /**
   * Functions that send to the queue (they get `envVar` and the send permission in CDK): catalog
   * names, or `policy-enforcers` for every function with token routes.
   */
  readonly producers: 'policy-enforcers' | readonly string[];
}

export const QUEUES: readonly QueueSpec[] = [
  {
    // Every policy decision, handed off by the kernel's enforcer before it answers; the authorize
    // function writes each batch as ONE object to the WORM store
    // (decisions/<yyyy>/<mm>/<dd>/<earliest at>-<hash of the message ids>.jsonl). Batches of up to 100
    // gathered for up to 5 s: at 150 decisions/s, ~1.5 PutObject a second with full batches instead
    // of 150. The archive is on no request's path, so the window costs nothing; its age alarm allows
    // 15 min of lag.
    id: 'decision-archive',
    envVar: 'DECISION_ARCHIVE_QUEUE_URL',
    consumer: 'authorize',
    batchSize: 100,
    maxBatchingWindowSeconds: 5,
    maximumConcurrency: 2,
    visibilityTimeoutSeconds: 60,
    maxReceiveCount: 5,
    maxAgeSeconds: 15 * 60,
    producers: 'policy-enforcers',
  },
  {
    // Reward signals accepted by POST router/reward; the reward function joins each to its decision
    // and learns it into the tenant's model state (functions/router/src/domain/rewards.ts). No batching
    // window: a reward must change decisions within 60 s (the product's freshness bound), which is
    // also the age its alarm fires at.
    id: 'rewards',
    envVar: 'REWARDS_QUEUE_URL',
    consumer: 'reward',
    batchSize: 10,
    maximumConcurrency: 2,
    visibilityTimeoutSeconds: 60,
    maxReceiveCount: 5,
    maxAgeSeconds: 60,
    producers: ['router'],
  },
];
