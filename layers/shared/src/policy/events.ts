import * as z from 'zod';
import { defineEvent } from '../ports/events.js';

/** Published by every enforcement point on a deny (DESIGN §7): the kernel's own event type. */
export const policyDenied = defineEvent('policy_denied', {
  decisionId: z.string(),
  subject: z.string(),
  action: z.string(),
  resourceTenantId: z.string().optional(),
  obligations: z.array(z.string()),
  policyVersion: z.string(),
});

/** The event types every policy-enforcing function may publish, besides its pillar's. */
export const POLICY_EVENTS = [policyDenied] as const;
