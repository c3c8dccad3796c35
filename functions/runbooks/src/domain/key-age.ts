/**
 * The key ceremony's cadence: the deployment's runbook signing key is rotated every 90 days (by
 * the shipped `runbooks/key-rotation.json`, two distinct approvers). A daily check reads how old the
 * key in use is and says when the rotation is due; its alarm opens a ticket for the key's owners.
 * KMS cannot rotate an asymmetric key: the check reads the age of the key itself (its creation), so
 * a rotation (a new key, the alias moved, the deployment redeployed with it) resets it.
 */
export const ROTATE_AFTER_DAYS = 90;

const DAY_MS = 86_400_000;

export interface KeyAge {
  readonly keyId: string;
  readonly createdAt: string;
  readonly ageDays: number;
  readonly rotateAfterDays: number;
  /** The key is at least `rotateAfterDays` old: run the key rotation. */
  readonly due: boolean;
}

/** Where the signing key in use comes from: its id and when it was created (KMS DescribeKey; locally its newest version's file). */
export interface SigningKeyInfo {
  current(): Promise<{ readonly keyId: string; readonly createdAt: Date } | undefined>;
}

export const keyAgeOf = (
  key: { readonly keyId: string; readonly createdAt: Date },
  now: Date,
  rotateAfterDays = ROTATE_AFTER_DAYS,
): KeyAge => {
  const ageDays = Math.max(0, Math.floor((now.getTime() - key.createdAt.getTime()) / DAY_MS));
  return {
    keyId: key.keyId,
    createdAt: key.createdAt.toISOString(),
    ageDays,
    rotateAfterDays,
    due: ageDays >= rotateAfterDays,
  };
};
