import * as z from 'zod';
import { defineEvent } from '#shared/ports/events.js';

/** M5's events on the bus (DESIGN §7), fixed before the pillar is built so producers and consumers agree. */
export const runbookExecuted = defineEvent('runbook_executed', {
  runbookId: z.string(),
  executionId: z.string(),
  status: z.enum(['started', 'succeeded', 'failed', 'rejected', 'timed_out']),
  /** The runbook version that ran. */
  version: z.number().int().optional(),
  /** From the request to the end (absent on `started`). */
  durationMs: z.number().int().min(0).optional(),
});

/**
 * An approval stage waits for its approvers (the flow reached it, or someone asked again:
 * `reminder`). A later notification service delivers it to people of `roles`.
 */
export const approvalRequested = defineEvent('approval_requested', {
  runbookId: z.string(),
  executionId: z.string(),
  requestId: z.string(),
  stage: z.string(),
  roles: z.array(z.string()),
  minApprovers: z.number().int(),
  expiresAt: z.string(),
  requestedBy: z.string(),
  reminder: z.boolean().optional(),
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

/** A runbook's `notify` step: a message for a channel (`slack:#ops`), for a notification service to deliver. */
export const runbookNotification = defineEvent('runbook_notification', {
  runbookId: z.string(),
  executionId: z.string(),
  stepId: z.string(),
  channel: z.string(),
  message: z.string(),
});

export const RUNBOOK_EVENTS = [
  runbookExecuted,
  unsignedRunbook,
  approvalRequested,
  runbookNotification,
] as const;
