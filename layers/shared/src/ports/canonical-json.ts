import { createHash } from 'node:crypto';

/**
 * RFC 8785 (JSON Canonicalization Scheme) for JSON values: object keys sorted by their UTF-16 code
 * units at every depth, no whitespace, numbers and strings as ECMAScript's JSON.stringify writes them
 * (which is what RFC 8785 prescribes); `undefined` members are left out, `undefined` in an array is
 * `null`. What a digest or a signature is taken over (suite digests, runbook signatures), so the same
 * content in another key order is the same bytes. Not for non-finite numbers (JSON has none).
 */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
};

/** SHA-256 of the UTF-8 bytes, lower-case hex. */
export const sha256Hex = (text: string | Uint8Array): string =>
  createHash('sha256').update(text).digest('hex');
