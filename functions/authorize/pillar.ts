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
      // The decision-archive queue's consumer writes the decision log's WORM archive here,
      // with the people it names as their keyed hash.
      evidence: ['decisions/'],
      hashesSubjects: true,
    },
  ],
  personalEvidence: [
    {
      prefix: 'decisions/',
      subjectFields: ['input.principal.subject', 'input.resource.requestedBy'],
      purpose: 'the decision log’s WORM archive (security audit)',
      retention: 'the evidence bucket’s retention (13 months by default), then expiry',
      storedAs: 'keyed-hash',
    },
  ],
  tables: [
    {
      id: 'policy',
      envVar: 'POLICY_TABLE_NAME',
      description: 'Policy decision log (30-day TTL), cross-tenant grants, per-tenant rate-limit windows',
      personalData: [
        {
          entity: 'DECISION',
          subjectFields: ['input.principal.subject', 'input.resource.requestedBy'],
          purpose: 'security audit: who was allowed or refused what',
          retention: '30 days (TTL)',
          onErasure: 'keep',
          keepReason: 'a security audit log (Art. 17(3)(b), 32); it expires after 30 days',
          notSearched: 'records are stored compressed and one item can hold many people’s decisions',
        },
        {
          entity: 'GRANT',
          subjectFields: ['requesterSubject', 'approvedBy', 'revokedBy'],
          purpose: 'cross-tenant access: who asked, who approved or revoked',
          retention: 'until the grant ends (at most 24 h pending, 24 h approved)',
          onErasure: 'keep',
          keepReason: 'it expires within a day, well inside a request’s one-month deadline',
          // The kernel's rule: only the authorize pillar reads or writes grants (a write is access).
          notSearched: 'only the authorize pillar may read or write grants',
        },
        {
          entity: 'GRANT_LIVE',
          subjectFields: ['requesterSubject'],
          purpose: 'the index of live grants, keyed by the requester',
          retention: 'until its grant ends (at most 24 h)',
          onErasure: 'keep',
          keepReason: 'it expires with its grant',
          notSearched: 'the person’s id is in the sort key only',
        },
      ],
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
