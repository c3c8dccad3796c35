import * as z from 'zod';
import { defineEvent } from '#shared/ports/events.js';

/** M5's events on the bus (DESIGN §7), fixed before the pillar is built so producers and consumers agree. */
export const runbookExecuted = defineEvent('runbook_executed', {
  runbookId: z.string(),
  executionId: z.string(),
  status: z.enum(['started', 'succeeded', 'failed', 'rejected', 'timed_out']),
});

/**
 * A runbook did not match its signature: refused at publish, or found changed before a run (then
 * its version is quarantined). `reason`: digest_mismatch, unknown_key, bad_signature, algorithm.
 */
export const unsignedRunbook = defineEvent('unsigned_runbook', {
  runbookId: z.string(),
  version: z.number().int().optional(),
  at: z.enum(['publish', 'execute']),
  reason: z.string(),
});

export const RUNBOOK_EVENTS = [runbookExecuted, unsignedRunbook] as const;
