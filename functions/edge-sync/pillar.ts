import type { PillarManifest } from '#shared/pillar.js';
import { EDGE_EVENTS, edgeRoutes } from './contract.js';

/**
 * M6, edge and offline sync. One function serves every route: nodes and their credentials,
 * document types and documents, push and pull of Yjs updates over an append-only op log per
 * document (one table), snapshots written once to the artifacts bucket (`edge/`), and the conflict
 * center. It keeps the documents it serves in memory, caught up from the log on each request.
 */
export const edgeSyncPillar = {
  name: 'edge-sync',
  description: 'Edge nodes, Yjs op push/pull with cursors, per-field conflict rules and the conflict center',
  functions: [
    {
      name: 'edge-sync',
      description:
        'The edge API: nodes (register, heartbeat, revoke), document types and documents, push and pull of ops, conflicts',
      entry: 'functions/edge-sync/src/handler.ts',
      routes: edgeRoutes,
      tables: ['edge'],
      artifacts: ['edge/'],
      // Catching a cold copy of a long document up from its snapshot and log takes a few seconds.
      timeoutSeconds: 30,
    },
  ],
  tables: [
    {
      id: 'edge',
      envVar: 'EDGE_TABLE_NAME',
      description: 'Edge nodes, document types, documents, the op log, acknowledgements, conflicts',
      personalData: [
        {
          entity: 'EDGE_NODE',
          subjectFields: ['registeredBy', 'revokedBy'],
          purpose: 'who registered or revoked an edge node',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
        {
          entity: 'EDGE_TYPE',
          subjectFields: ['updatedBy'],
          purpose: 'who last changed a document type',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
        {
          entity: 'EDGE_DOC',
          subjectFields: ['createdBy'],
          purpose: 'who created a document',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
        {
          entity: 'EDGE_CONFLICT',
          subjectFields: ['resolvedBy'],
          purpose: 'who resolved a sync conflict (writers inside the conflicting values are not matched)',
          retention: 'kept until deleted',
          onErasure: 'redact',
        },
        {
          entity: 'EDGE_LOG',
          subjectFields: ['conflicts[].current.writer'],
          purpose: 'the documents’ operation log (CRDT updates carry their writer)',
          retention: 'until compacted into a snapshot',
          onErasure: 'keep',
          keepReason: 'every node’s copy of the document is built from it: rewriting it would fork them',
          notSearched: 'the writer is inside binary CRDT updates',
        },
      ],
    },
  ],
  events: EDGE_EVENTS,
  observability: {
    eventAlarms: [
      {
        name: 'edge-conflicts-open',
        metric: 'EdgeConflictOpen',
        service: 'edge-sync',
        severity: 'ticket',
        description:
          'Edge nodes wrote a manual field concurrently: a person must pick the value in the conflict center (GET /edge/conflicts?status=open, then POST /edge/conflicts/{id}/resolve).',
      },
    ],
  },
  // The PRD's (§6.2): registering nodes 60, pushes 1,200, pulls (and heartbeats) 600 a minute per tenant.
  rateFamilies: {
    'edge.nodes': 60,
    'edge.operations': 1200,
    'edge.sync': 600,
    'edge.read': 600,
    'edge.admin': 120,
  },
} as const satisfies PillarManifest;
