import type { PillarManifest } from '#shared/pillar.js';
import { opsRoutes } from './contract.js';

/**
 * Platform operations: the dead letters of every queue of the catalog, listed, redriven (SQS's own
 * redrive, or one by one) and discarded with an audit record. For org-admins only, and not
 * tenant-scoped: a DLQ holds every tenant's messages (functions/ops/README.md).
 */
export const opsPillar = {
  name: 'ops',
  description: 'Dead letters of every queue: list, redrive, discard with an audit record (org-admin)',
  functions: [
    {
      name: 'ops',
      description:
        'Dead-letter queues of every queue: list, redrive (all or one), discard with an audit record',
      entry: 'functions/ops/src/handler.ts',
      routes: opsRoutes,
      tables: ['ops'],
      deadLetterAccess: true,
    },
  ],
  tables: [
    {
      id: 'ops',
      envVar: 'OPS_TABLE_NAME',
      description: 'Audit records of discarded dead letters',
      personalData: [
        {
          entity: 'DLQ_DISCARD',
          subjectFields: ['discardedBy'],
          purpose: 'who discarded a dead letter (its 200-character preview is not searched)',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
      ],
    },
  ],
  // Its routes take the default rate family; it publishes no events of its own (policy_denied is the kernel's).
  events: [],
} as const satisfies PillarManifest;
