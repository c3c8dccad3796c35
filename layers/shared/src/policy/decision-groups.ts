import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { DecisionRecord } from '../ports/policy.js';

/**
 * The hot decision log's item format: the decisions one request commits to one tenant's log are one
 * item (a *group*), not one item each. A route with 4 candidates makes 5 decisions of one principal,
 * trace, engine and policy version; stored apart they cost 5 write units, grouped 1 (DynamoDB bills
 * 1 KiB per unit per item, so small items waste most of theirs). The fields every record of a group
 * shares are stored once (`c`, and `ic` for the request's `input`), each record keeps the rest
 * (`d`), and the three are stored deflated in one binary attribute `z` (decision and expert ids
 * dominate what is left: 1.5 KB of JSON becomes about 0.6). Reading expands a group back into the
 * very records written. The API (GET /policy/decisions) and the archive (plain JSON Lines) are how
 * people read decisions; the items are not meant to be read in the console.
 *
 * Item: pk `T#<tenant>#DECISION`, sk `<at>#<decisionId>` of the group's first record, `expiresAt`,
 * `n` (records), `z`. An item without `z` is a single record as an earlier version wrote it, and is
 * still read.
 */
export interface DecisionGroupFields {
  readonly n: number;
  /** Deflate (raw) of the JSON `{c, ic, d}`. */
  readonly z: Uint8Array;
}

interface Packed {
  readonly c: Readonly<Record<string, unknown>>;
  readonly ic: Readonly<Record<string, unknown>>;
  readonly d: readonly Readonly<Record<string, unknown>>[];
}

/** At most this many records in one group (a batch's records past it start another item). */
export const DECISION_GROUP_MAX = 50;

type Fields = Record<string, unknown>;

/** Splits objects into the fields all of them hold with equal values, and what is left of each. */
const factor = (objects: readonly Fields[]): { common: Fields; rest: Fields[] } => {
  const [first, ...others] = objects;
  const common: Fields = {};
  if (first && others.length > 0) {
    for (const [key, value] of Object.entries(first)) {
      if (value === undefined) continue;
      const json = JSON.stringify(value);
      if (others.every((other) => key in other && JSON.stringify(other[key]) === json)) common[key] = value;
    }
  }
  const rest = objects.map((object) => {
    const own: Fields = {};
    for (const [key, value] of Object.entries(object)) if (!(key in common)) own[key] = value;
    return own;
  });
  return { common, rest };
};

/** The group fields of records of one tenant's log (at least one, at most DECISION_GROUP_MAX). */
export const packDecisions = (records: readonly DecisionRecord[]): DecisionGroupFields => {
  if (records.length === 0 || records.length > DECISION_GROUP_MAX) {
    throw new RangeError(`a decision group holds 1-${DECISION_GROUP_MAX} records, got ${records.length}`);
  }
  const tops = records.map(({ input: _input, ...top }) => top as Fields);
  const inputs = records.map((record) => record.input as unknown as Fields);
  const top = factor(tops);
  const input = factor(inputs);
  const packed: Packed = {
    c: top.common,
    ic: input.common,
    d: top.rest.map((own, index) => ({ ...own, i: input.rest[index] ?? {} })),
  };
  return { n: records.length, z: deflateRawSync(JSON.stringify(packed)) };
};

const packedOf = (item: Readonly<Record<string, unknown>>): Packed | undefined => {
  if (item.z instanceof Uint8Array) return JSON.parse(inflateRawSync(item.z).toString('utf8')) as Packed;
  return undefined;
};

/** The records of a stored item: a group's, expanded in the order written, or an older single record. */
export const unpackDecisions = (item: Readonly<Record<string, unknown>>): DecisionRecord[] => {
  const packed = packedOf(item);
  if (!packed) {
    const { pk: _pk, sk: _sk, expiresAt: _expiresAt, ...single } = item;
    return [single as unknown as DecisionRecord];
  }
  return (packed.d as Fields[]).map(({ i, ...own }) => {
    const input = { ...(packed.ic as Fields), ...(i as Fields) };
    return { ...(packed.c as Fields), ...own, input } as unknown as DecisionRecord;
  });
};
