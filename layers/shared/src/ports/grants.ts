/**
 * Cross-tenant grants: the record shape the authorize pillar writes and every enforcement point
 * reads. A grant lives in the TARGET tenant's partition (its admins approve it) and opens that
 * tenant to one subject of another tenant until `expiresAt`.
 */
export const GRANT_ENTITY = 'GRANT';
export const GRANT_STATUSES = ['pending', 'approved', 'revoked'] as const;
export type GrantStatus = (typeof GRANT_STATUSES)[number];

export interface Grant {
  readonly tenantId: string;
  readonly id: string;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly requesterSubject: string;
  readonly requesterTenant: string;
  readonly reason: string;
  readonly durationMinutes: number;
  readonly status: GrantStatus;
  readonly approvedBy?: string;
  readonly approvedAt?: string;
  readonly revokedBy?: string;
  readonly revokedAt?: string;
  /** Epoch seconds: a pending request lapses, an approved grant ends (also the DynamoDB TTL attribute). */
  readonly expiresAt: number;
}

/** Is this grant open to `subject` of `tenant` at `at`? */
export const grantIsLive = (grant: Grant, subject: string, tenant: string, at: Date): boolean =>
  grant.status === 'approved' &&
  grant.requesterSubject === subject &&
  grant.requesterTenant === tenant &&
  grant.expiresAt * 1000 > at.getTime();
