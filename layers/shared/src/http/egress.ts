export const MASKED = '[masked]';

/** Raised when a response would carry a record of a tenant other than the one the request acts in. */
export class TenantTagMismatchError extends Error {}

/**
 * The last line of tenant isolation, on the way out: every object in a response that carries a
 * `tenantId` must carry the request's tenant (tag propagation), and masked fields are replaced.
 */
export const guardEgress = (
  body: unknown,
  tenantId: string,
  masks: readonly string[],
  depth = 0,
): unknown => {
  if (depth > 32 || body === null || typeof body !== 'object') return body;
  if (Array.isArray(body)) return body.map((item) => guardEgress(item, tenantId, masks, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === 'tenantId' && typeof value === 'string' && value !== tenantId) {
      throw new TenantTagMismatchError(`response carries a record of another tenant (${value})`);
    }
    out[key] =
      masks.includes(key) && value !== undefined ? MASKED : guardEgress(value, tenantId, masks, depth + 1);
  }
  return out;
};
