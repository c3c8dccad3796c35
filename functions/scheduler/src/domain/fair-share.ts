import { createHash } from 'node:crypto';
import * as z from 'zod';
import { TENANT_ID_PATTERN } from '#shared/ports/identity.js';

/**
 * Weighted fair share across tenants of one priority (M3, "fairness"). Each job message carries a
 * `MessageGroupId`, which makes the standard queue an SQS *fair queue*: under a backlog, SQS serves
 * the message groups with the fewest messages in flight first, so each group gets an equal share of
 * the workers. SQS has no weights; a tenant's weight is the number of groups its jobs are spread
 * over (`<tenant>`, `<tenant>#1`, … `<tenant>#w-1`, by the job id), so a tenant of weight 3 gets
 * three shares against one of weight 1 when both have a backlog, and no more than its demand when it
 * has none. The platform team sets the weights at deploy time (CDK context
 * `schedulerTenantWeights`, the environment variable SCHEDULER_TENANT_WEIGHTS): a tenant's own admin
 * cannot raise its share.
 */

/** The largest weight: each weight unit is one more message group of the tenant. */
export const MAX_TENANT_WEIGHT = 10;

export type TenantWeights = Readonly<Record<string, number>>;

export const tenantWeightsSchema = z.record(
  z.string().regex(TENANT_ID_PATTERN, 'a tenant id'),
  z.number().int().min(1).max(MAX_TENANT_WEIGHT),
);

/** SCHEDULER_TENANT_WEIGHTS as JSON (`{"acme":3}`); absent or empty: every tenant weighs 1. */
export const parseTenantWeights = (text: string | undefined): TenantWeights => {
  if (text === undefined || text.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('SCHEDULER_TENANT_WEIGHTS must be a JSON object of tenant ids to weights');
  }
  const parsed = tenantWeightsSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      `SCHEDULER_TENANT_WEIGHTS: each tenant's weight is a whole number from 1 to ${MAX_TENANT_WEIGHT} (${parsed.error.issues[0]?.message})`,
    );
  }
  return parsed.data;
};

/** The message group of a job: its tenant, or one of its tenant's `weight` groups. */
export const messageGroupOf = (tenantId: string, jobId: string, weights: TenantWeights): string => {
  const weight = weights[tenantId] ?? 1;
  if (weight <= 1) return tenantId;
  const slot = createHash('sha256').update(jobId).digest().readUInt32BE(0) % weight;
  return slot === 0 ? tenantId : `${tenantId}#${slot}`;
};
