import * as z from 'zod';
import { defineEvent } from '#shared/ports/events.js';

/** M7's events on the bus (DESIGN §7), fixed before the pillar is built so producers and consumers agree. */
export const controlFailed = defineEvent('control_failed', {
  /** SOC2, GDPR, or a custom framework's id. */
  framework: z.string(),
  controlId: z.string(),
  findingId: z.string(),
  reason: z.string(),
});

export const evidenceStale = defineEvent('evidence_stale', {
  framework: z.string(),
  controlId: z.string(),
  /** Hours since the last evidence; -1 when there is none. */
  ageHours: z.number(),
});

export const COMPLIANCE_EVENTS = [controlFailed, evidenceStale] as const;
