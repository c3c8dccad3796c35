/**
 * Port: a keyed hash of a person's id (HMAC-SHA-256 with the deployment's DSR key): the same person
 * always gives the same value, and nobody can reverse it or test a guess without the key. Evidence
 * that must name people (the decision archive, a data subject request's log) holds this instead of
 * the id: `hmac-sha256:<64 hex>`.
 */
export interface SubjectHasher {
  hash(subject: string): Promise<string>;
}

/** What a keyed hash of a subject looks like. */
export const SUBJECT_HASH_PATTERN = /^hmac-sha256:[0-9a-f]{64}$/;
