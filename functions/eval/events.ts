import * as z from 'zod';
import { defineEvent } from '#shared/ports/events.js';

/** M2's event on the bus (DESIGN §7), fixed before the pillar is built so producers and consumers agree. */
export const evalRegression = defineEvent('eval_regression', {
  runId: z.string(),
  expertId: z.string(),
  metric: z.string(),
  baseline: z.number(),
  observed: z.number(),
  tolerance: z.number(),
});
