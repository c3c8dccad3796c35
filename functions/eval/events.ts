import * as z from 'zod';
import { defineEvent } from '#shared/ports/events.js';

/**
 * `eval_regression` (DESIGN §7): a run's gate found an expert regressed against its baseline, with
 * the stated confidence. One event per regressed expert of a run; `delta` is current − baseline pass
 * rate (negative), `severity` by how many tolerances it fell (minor < 2, major < 4, critical beyond).
 */
export const evalRegression = defineEvent('eval_regression', {
  runId: z.string(),
  suiteId: z.string(),
  expertId: z.string(),
  baselineId: z.string(),
  metric: z.literal('pass_rate'),
  baseline: z.number(),
  observed: z.number(),
  delta: z.number(),
  tolerance: z.number(),
  severity: z.enum(['minor', 'major', 'critical']),
});

export const EVAL_EVENTS = [evalRegression] as const;
