import * as z from 'zod';
import { defineEvent } from '#shared/ports/events.js';

/** M7's events on the bus (DESIGN §7), fixed before the pillar is built so producers and consumers agree. */
export const controlFailed = defineEvent('control_failed', {
  framework: z.enum(['SOC2', 'GDPR']),
  controlId: z.string(),
  findingId: z.string(),
  reason: z.string(),
});

export const evidenceStale = defineEvent('evidence_stale', {
  framework: z.enum(['SOC2', 'GDPR']),
  controlId: z.string(),
  ageHours: z.number(),
});
