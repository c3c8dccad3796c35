/**
 * The SQS queues (each with a DLQ) and the function that consumes each through an event source
 * mapping. The CDK app and the embedded runtime both build them from this list. Pillars add their
 * queues here as they land (rewards, scheduler jobs, ...).
 */
export interface QueueSpec {
  /** Stable id: construct id and local queue name derive from it. */
  readonly id: string;
  /** Environment variable through which producers receive the queue URL. */
  readonly envVar: string;
  /** Catalog name of the consuming function; its module exports `handler` for SQS batches. */
  readonly consumer: string;
  readonly batchSize: number;
  /** Lambda ESM maximum concurrency (2-1000): the knob that stands in for KEDA. */
  readonly maximumConcurrency: number;
  readonly visibilityTimeoutSeconds: number;
  /** Deliveries before a message moves to the DLQ. */
  readonly maxReceiveCount: number;
  /**
   * Functions that send to the queue (they get `envVar` and the send permission in CDK): catalog
   * names, or `policy-enforcers` for every function with token routes.
   */
  readonly producers: 'policy-enforcers' | readonly string[];
}

export const QUEUES: readonly QueueSpec[] = [
  {
    // Every policy decision, handed off by the kernel's enforcer before it answers; the authorize
    // function writes each message to the WORM store (decisions/<yyyy>/<mm>/<dd>/<messageId>.jsonl).
    id: 'decision-archive',
    envVar: 'DECISION_ARCHIVE_QUEUE_URL',
    consumer: 'authorize',
    batchSize: 10,
    maximumConcurrency: 2,
    visibilityTimeoutSeconds: 60,
    maxReceiveCount: 5,
    producers: 'policy-enforcers',
  },
  {
    // Reward signals accepted by POST router/reward; the router function joins each to its decision
    // and learns it into the tenant's model state (functions/router/src/domain/rewards.ts).
    id: 'rewards',
    envVar: 'REWARDS_QUEUE_URL',
    consumer: 'router',
    batchSize: 10,
    maximumConcurrency: 2,
    visibilityTimeoutSeconds: 60,
    maxReceiveCount: 5,
    producers: ['router'],
  },
];
