import type { RouteSpec } from '#shared/http/http.js';
import type { PillarManifest, QueueSpec } from '#shared/pillar.js';

/**
 * A pillar no code knows, for the tests that hold a new pillar to the app's rules: one function with
 * one token route (in its own rate family), one table, one queue the function feeds and consumes.
 * The manifest is all there is: nothing else in the app names it.
 */
export const LEDGER_ROUTE: RouteSpec = {
  operationId: 'listEntries',
  method: 'GET',
  path: '/ledger/entries',
  summary: 'List ledger entries',
  tag: 'ledger',
  auth: 'jwt',
  action: 'ledger:list-entries',
  success: { status: 200, description: 'The entries' },
  rateFamily: 'ledger.read',
  errors: [],
};

export const LEDGER_QUEUE: QueueSpec = {
  id: 'ledger-entries',
  envVar: 'LEDGER_ENTRIES_QUEUE_URL',
  consumer: 'ledger',
  batchSize: 10,
  maximumConcurrency: 2,
  visibilityTimeoutSeconds: 30,
  maxReceiveCount: 3,
  maxAgeSeconds: 300,
  producers: ['ledger'],
};

export const LEDGER: PillarManifest = {
  name: 'ledger',
  description: 'test: a pillar no code knows',
  functions: [
    {
      name: 'ledger',
      description: 'Ledger entries API and the entries queue consumer',
      entry: 'functions/meta/src/handler.ts',
      routes: [LEDGER_ROUTE],
      tables: ['ledger'],
    },
  ],
  tables: [{ id: 'ledger', envVar: 'LEDGER_TABLE_NAME', description: 'Ledger entries' }],
  queues: [LEDGER_QUEUE],
  rateFamilies: { 'ledger.read': 300 },
};
