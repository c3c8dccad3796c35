import type { PillarManifest } from '#shared/pillar.js';
import { authorizeRoutes } from './contract.js';

/**
 * M4, tenant isolation: policy decisions for other services, cross-tenant grants, the decision log
 * and its WORM archive, dry-run. Its table and queue are the kernel's too: every policy-enforcing
 * function writes its decisions, grants lookups and rate windows to the policy table and hands each
 * decision to the decision-archive queue, which this pillar's function consumes.
 */
export const authorizePillar = {
  name: 'authorize',
  description: 'Policy decisions, cross-tenant grants, the decision log and its WORM archive, dry-run',
  functions: [
    {
      name: 'authorize',
      description:
        'Policy decisions for other services (single and batch), cross-tenant grants, the decision log and its WORM archiver (SQS), policy dry-run',
      entry: 'functions/authorize/src/handler.ts',
      routes: authorizeRoutes,
      tables: ['policy'],
      // The decision-archive queue's consumer writes the decision log's WORM archive here.
      evidence: ['decisions/'],
    },
  ],
  tables: [
    {
      id: 'policy',
      envVar: 'POLICY_TABLE_NAME',
      description: 'Policy decision log (30-day TTL), cross-tenant grants, per-tenant rate-limit windows',
    },
  ],
  queues: [
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
  ],
  rateFamilies: { 'policy.authorize': 900, 'policy.admin': 120 },
  observability: { dashboard: 'policy', policyDecisions: true },
} as const satisfies PillarManifest;
