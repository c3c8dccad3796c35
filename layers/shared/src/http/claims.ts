import { type Principal, type Role, roleSchema, tenantIdSchema } from '../ports/identity.js';

/**
 * What API Gateway HTTP API does to a token's claims before the Lambda sees them: an array becomes
 * "[a b]", a number or boolean its text, an object its JSON; null and undefined claims are dropped.
 * The embedded gateway and the test event builder both use it, so a handler sees locally what it
 * will see on AWS.
 */
export const flattenClaims = (claims: Readonly<Record<string, unknown>>): Record<string, string> => {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(claims)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) flat[name] = `[${value.map(String).join(' ')}]`;
    else if (typeof value === 'object') flat[name] = JSON.stringify(value);
    else flat[name] = String(value);
  }
  return flat;
};

/**
 * Reads a list claim in the form `flattenClaims` leaves it ("[a b c]"), and as a real array or a
 * comma-separated string.
 */
export const claimList = (value: unknown): string[] => {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.map(String);
  const text = String(value).trim();
  if (text === '') return [];
  const inner = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  return inner.split(/[\s,]+/).filter((part) => part.length > 0);
};

/** Claim names differ between issuers (Cognito puts custom claims under `custom:`). */
const TENANT_CLAIMS = ['tenant', 'custom:tenant'] as const;
const ROLE_CLAIMS = ['roles', 'cognito:groups', 'custom:roles'] as const;

/**
 * Builds the principal from gateway claims, or returns a reason it cannot. Unknown role names are
 * dropped, not trusted; a token without a tenant is no identity at all.
 */
export const principalFromClaims = (
  claims: Readonly<Record<string, unknown>> | undefined,
): { ok: true; principal: Principal } | { ok: false; reason: string } => {
  if (!claims) return { ok: false, reason: 'no verified claims' };
  const subject = typeof claims.sub === 'string' ? claims.sub : '';
  if (subject === '') return { ok: false, reason: 'token has no subject' };
  const tenantRaw = TENANT_CLAIMS.map((name) => claims[name]).find((value) => typeof value === 'string');
  const tenant = tenantIdSchema.safeParse(tenantRaw);
  if (!tenant.success) return { ok: false, reason: 'token has no valid tenant claim' };
  const roleNames = ROLE_CLAIMS.flatMap((name) => claimList(claims[name]));
  const roles = [...new Set(roleNames)].filter((name): name is Role => roleSchema.safeParse(name).success);
  return {
    ok: true,
    principal: {
      subject,
      tenantId: tenant.data,
      roles,
      amr: claimList(claims.amr),
      ...(typeof claims.acr === 'string' && claims.acr !== '' ? { acr: claims.acr } : {}),
    },
  };
};
