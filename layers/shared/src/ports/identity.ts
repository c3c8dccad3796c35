import * as z from 'zod';

export const ROLES = ['viewer', 'operator', 'admin', 'tenant-admin', 'org-admin'] as const;
export const roleSchema = z.enum(ROLES);
export type Role = z.infer<typeof roleSchema>;

/** Who is calling, as established by the gateway's JWT authorizer. Never taken from a request body. */
export interface Principal {
  readonly subject: string;
  readonly tenantId: string;
  readonly roles: readonly Role[];
  /** Authentication methods (`amr`), used for step-up checks. */
  readonly amr: readonly string[];
  /** Authentication context class (`acr`), e.g. Cognito's `urn:cognito:loa:3`, for step-up checks. */
  readonly acr?: string;
  /**
   * When the person last authenticated (`auth_time`, epoch seconds): a token refreshed hours after
   * the sign-in keeps it, so step-up counts only while it is recent.
   */
  readonly authTime?: number;
}

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;
export const tenantIdSchema = z
  .string()
  .regex(TENANT_ID_PATTERN, 'tenant ids are 2-63 chars of a-z, 0-9 and -');

/** Role ladder for route-level checks: each role includes the ones before it. */
const RANK: Readonly<Record<Role, number>> = {
  viewer: 1,
  operator: 2,
  admin: 3,
  'tenant-admin': 4,
  'org-admin': 5,
};

export const hasAtLeast = (principal: Principal, minimum: Role): boolean =>
  principal.roles.some((role) => RANK[role] >= RANK[minimum]);
