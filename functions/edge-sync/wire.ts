/**
 * What an edge client needs of the pillar, with no server code behind it (it runs in browsers too):
 * the wire constants, the field envelope and the counter write, the HLC.
 */
export { FIELDS_MAP } from './src/domain/fields.js';
export { compareHlc, formatHlc, HybridLogicalClock, parseHlc } from './src/domain/hlc.js';
export { incrementOf } from './src/domain/rules.js';

/** The header a node sends its credential in (issued once at registration), besides the bearer token. */
export const NODE_TOKEN_HEADER = 'x-conductor-node-token';
/** Ops in one push, and base64 characters in one op (the routes' limits). */
export const MAX_OPS_PER_PUSH = 100;
export const MAX_OP_BASE64 = 64 * 1024;
/** A push body at most (the route's limit). */
export const MAX_PUSH_BODY_BYTES = 192 * 1024;

/**
 * A field's value as stored in the `fields` map: the value, the writer's HLC stamp (`t`), the node
 * (`n`), a counter's increments and decrements per node (`c`, `m`), the conflict a server write
 * settles (`r`).
 */
export type { FieldValue as FieldEnvelope } from './src/domain/rules.js';
