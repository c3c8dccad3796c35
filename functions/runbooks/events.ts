import * as z from 'zod';
import { defineEvent } from '#shared/ports/events.js';

/** M5's events on the bus (DESIGN §7), fixed before the pillar is built so producers and consumers agree. */
export const runbookExecuted = defineEvent('runbook_executed', {
  runbookId: z.string(),
  executionId: z.string(),
  status: z.enum(['started', 'succeeded', 'failed', 'rejected', 'timed_out']),
});

export const unsignedRunbook = defineEvent('unsigned_runbook', {
  runbookId: z.string(),
  reason: z.string(),
});
