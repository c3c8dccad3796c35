import type { MeteredInput, Units, UnitsOf } from './call-meter.js';

/**
 * What DynamoDB bills a call in: read request units (4 KiB, half for eventually consistent reads)
 * and write request units (1 KiB). A metered call asks for `ReturnConsumedCapacity: TOTAL` and
 * records what the service reports (AWS always, dynalite for single-item and batch operations);
 * where nothing is reported (a Query on dynalite, a write refused by its condition, which AWS bills
 * too) the units are computed from the item sizes by DynamoDB's documented rules.
 */
const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

const utf8 = (text: string): number => Buffer.byteLength(text, 'utf8');

/** A number's size: about one byte per two significant digits, plus one. */
const numberBytes = (text: string): number => {
  const digits = text
    .replace(/^-/, '')
    .replace(/e.*$/i, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
};

const AV_TYPES = new Set(['S', 'N', 'B', 'BOOL', 'NULL', 'M', 'L', 'SS', 'NS', 'BS']);
const avTypeOf = (value: unknown): string | undefined => {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    return undefined;
  }
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] !== undefined && AV_TYPES.has(keys[0]) ? keys[0] : undefined;
};

const entriesBytes = (entries: [string, unknown][]): number =>
  entries.reduce((sum, [name, value]) => sum + utf8(name) + 1 + valueBytes(value), 3);

/** The size of one attribute value, marshalled (`{S: "x"}`) or plain (the document client's input). */
const valueBytes = (value: unknown): number => {
  const type = avTypeOf(value);
  if (type !== undefined) {
    const inner = (value as Record<string, unknown>)[type];
    switch (type) {
      case 'S':
        return utf8(String(inner));
      case 'N':
        return numberBytes(String(inner));
      case 'B':
        return (inner as Uint8Array).byteLength ?? 0;
      case 'BOOL':
      case 'NULL':
        return 1;
      case 'M':
        return entriesBytes(Object.entries(inner as Record<string, unknown>));
      case 'L':
        return (inner as unknown[]).reduce<number>((sum, item) => sum + 1 + valueBytes(item), 3);
      case 'SS':
        return (inner as string[]).reduce((sum, item) => sum + utf8(item), 0);
      case 'NS':
        return (inner as string[]).reduce((sum, item) => sum + numberBytes(item), 0);
      default:
        return (inner as Uint8Array[]).reduce((sum, item) => sum + item.byteLength, 0);
    }
  }
  if (typeof value === 'string') return utf8(value);
  if (typeof value === 'number' || typeof value === 'bigint') return numberBytes(String(value));
  if (value === null || value === undefined || typeof value === 'boolean') return 1;
  if (value instanceof Uint8Array) return value.byteLength;
  if (value instanceof Set) return [...value].reduce<number>((sum, item) => sum + valueBytes(item), 0);
  if (Array.isArray(value)) return value.reduce<number>((sum, item) => sum + 1 + valueBytes(item), 3);
  if (typeof value === 'object') return entriesBytes(Object.entries(value));
  return 0;
};

/** An item's size as DynamoDB counts it: each attribute's name plus its value. */
export const dynamoItemBytes = (item: object): number =>
  Object.entries(item).reduce((sum, [name, value]) => sum + utf8(name) + valueBytes(value), 0);

/** The capacity a response reports (one object, or one per table for batch operations). */
const reportedCapacity = (output: unknown): number | undefined => {
  const consumed = (output as { ConsumedCapacity?: unknown } | undefined)?.ConsumedCapacity;
  if (consumed === undefined) return undefined;
  const list = (Array.isArray(consumed) ? consumed : [consumed]) as { CapacityUnits?: number }[];
  if (list.some((c) => typeof c.CapacityUnits !== 'number')) return undefined;
  return list.reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
};

export const dynamoMeteredInput: MeteredInput = (operation, input) =>
  (READS.has(operation) || WRITES.has(operation)) && input.ReturnConsumedCapacity === undefined
    ? { ...input, ReturnConsumedCapacity: 'TOTAL' }
    : input;

export const dynamoUnits: UnitsOf = (operation, input, output, failed): Units => {
  const isRead = READS.has(operation);
  if (!isRead && !WRITES.has(operation)) return {};
  const reported = failed ? undefined : reportedCapacity(output);
  if (reported !== undefined) return isRead ? { rru: reported } : { wru: reported };
  if (isRead) {
    const out = (failed ? {} : (output ?? {})) as {
      Items?: Record<string, unknown>[];
      Item?: Record<string, unknown>;
    };
    const items = out.Items ?? (out.Item ? [out.Item] : []);
    const bytes = items.reduce((sum, item) => sum + dynamoItemBytes(item), 0);
    const units = Math.max(1, Math.ceil(bytes / 4096));
    return { rru: input.ConsistentRead === true ? units : units / 2 };
  }
  const item = input.Item as Record<string, unknown> | undefined;
  return { wru: Math.max(1, Math.ceil((item ? dynamoItemBytes(item) : 0) / 1024)) };
};
