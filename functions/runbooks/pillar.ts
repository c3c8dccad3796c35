import type { PillarManifest } from '#shared/pillar.js';
import { RUNBOOK_EVENTS, runbooksRoutes } from './contract.js';

/**
 * M5, signed runbooks (first part: the registry). One function: publish verifies a runbook's
 * signature with the deployment's runbook signing key (KMS GetPublicKey; locally the key folder
 * `conductor runbook sign` uses) before storing the version; the registry lists and reads them.
 * Execution, approvals in Step Functions and the execution trail come next (issue 20).
 */
export const runbooksPillar = {
  name: 'runbooks',
  description: 'Signed runbook registry: publish (signature verified), list, read, versions',
  functions: [
    {
      name: 'runbooks',
      description: 'The runbook registry: POST publishes a signed version after verifying it; GETs read it',
      entry: 'functions/runbooks/src/handler.ts',
      routes: runbooksRoutes,
      tables: ['runbooks'],
      runbookSigningKey: 'verify',
    },
  ],
  tables: [
    {
      id: 'runbooks',
      envVar: 'RUNBOOKS_TABLE_NAME',
      description: 'Runbooks and their signed versions (kept)',
    },
  ],
  events: RUNBOOK_EVENTS,
  observability: {
    eventAlarms: [
      {
        name: 'unsigned-runbook',
        metric: 'UnsignedRunbook',
        service: 'runbooks',
        severity: 'page',
        description:
          'A runbook did not match its signature: a publish was refused, or a stored version was found changed and quarantined. Someone may be tampering with procedures: read the unsigned_runbook event (tenant, runbook, version, reason) and the decision log of the request.',
      },
    ],
  },
  rateFamilies: { 'runbooks.registry': 300, 'runbooks.publish': 60, 'runbooks.read': 600 },
} as const satisfies PillarManifest;
