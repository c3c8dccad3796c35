import * as z from 'zod';
import { defineEvent } from '#shared/ports/events.js';

/** The router pillar's events on the bus (DESIGN §7); part of its contract. */
export const routeDecision = defineEvent('route_decision', {
  taskId: z.string(),
  decisionId: z.string(),
  expertId: z.string(),
  strategy: z.string(),
  confidence: z.number(),
  propensity: z.number().min(0).max(1),
  shadow: z.boolean().default(false),
});

export const rewardIngested = defineEvent('reward_ingested', {
  taskId: z.string(),
  signal: z.string(),
  value: z.number(),
  ingestionLatencyMs: z.number().nonnegative(),
});

export const routerCanaryRollback = defineEvent('router_canary_rollback', {
  canaryId: z.string(),
  reason: z.string(),
  errorRate: z.number(),
});

/**
 * An expert's recent rewards fell outside the band its model predicted for them (issue 18's drift
 * signal, src/domain/drift.ts): its quality may have changed. Published by the reward function.
 */
export const routerDrift = defineEvent('router_drift', {
  expertId: z.string(),
  modelKey: z.string(),
  rewards: z.number().int().positive(),
  observedMean: z.number(),
  expectedMean: z.number(),
  band: z.number().nonnegative(),
});

/** Published by the router (route_decision, router_canary_rollback) and reward (reward_ingested, router_drift) functions. */
export const ROUTER_EVENTS = [routeDecision, rewardIngested, routerCanaryRollback, routerDrift] as const;
