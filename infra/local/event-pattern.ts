/**
 * The EventBridge event-pattern language, less `cidr`: `validateEventPattern` refuses what PutRule
 * refuses (with `InvalidEventPatternException`), `matchesEventPattern` decides delivery. Hand-written
 * because no maintained npm library implements it; see infra/local/README.md.
 */
import { EventBridgeError } from './eventbridge-error.js';

export type EventPattern = Record<string, unknown>;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const CONDITIONS = new Set([
  'prefix',
  'suffix',
  'anything-but',
  'exists',
  'numeric',
  'equals-ignore-case',
  'wildcard',
]);
const NUMERIC_OPERATORS = new Set(['=', '<', '<=', '>', '>=']);

const patternError = (reason: string): EventBridgeError =>
  new EventBridgeError('InvalidEventPatternException', `Event pattern is not valid. Reason: ${reason}`);

const isIgnoreCase = (value: unknown): value is { 'equals-ignore-case': string } =>
  isObject(value) && Object.keys(value).length === 1 && typeof value['equals-ignore-case'] === 'string';

const validateNumeric = (path: string, operand: unknown): void => {
  if (!Array.isArray(operand) || (operand.length !== 2 && operand.length !== 4)) {
    throw patternError(`${path}: numeric takes one or two operator/value pairs.`);
  }
  for (let i = 0; i < operand.length; i += 2) {
    const op = operand[i];
    const value = operand[i + 1];
    if (typeof op !== 'string' || !NUMERIC_OPERATORS.has(op))
      throw patternError(`${path}: unknown operator ${op}.`);
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw patternError(`${path}: ${op} needs a number.`);
  }
  if (operand.length === 4) {
    const [low, lowValue, high, highValue] = operand as [string, number, string, number];
    if (!(low === '>' || low === '>=') || !(high === '<' || high === '<=') || lowValue >= highValue) {
      throw patternError(
        `${path}: a numeric range is a lower bound (> or >=) then a greater upper bound (< or <=).`,
      );
    }
  }
};

const validateAnythingBut = (path: string, operand: unknown): void => {
  const scalar = (value: unknown): boolean => typeof value === 'string' || typeof value === 'number';
  if (scalar(operand)) return;
  if (Array.isArray(operand)) {
    if (operand.length === 0 || !operand.every(scalar))
      throw patternError(`${path}: anything-but takes strings or numbers.`);
    return;
  }
  if (isObject(operand) && Object.keys(operand).length === 1) {
    const [key, value] = Object.entries(operand)[0] as [string, unknown];
    if ((key === 'prefix' || key === 'suffix' || key === 'wildcard') && typeof value === 'string') return;
    if (
      key === 'equals-ignore-case' &&
      (typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string')))
    ) {
      return;
    }
  }
  throw patternError(
    `${path}: anything-but takes a value, a list, or one of prefix, suffix, equals-ignore-case, wildcard.`,
  );
};

const validateCondition = (path: string, condition: unknown): void => {
  if (condition === null || ['string', 'number', 'boolean'].includes(typeof condition)) return;
  if (!isObject(condition))
    throw patternError(`${path}: a match is a value or an object such as {"prefix": "..."}.`);
  const keys = Object.keys(condition);
  const key = keys[0];
  if (keys.length !== 1 || key === undefined)
    throw patternError(`${path}: a match object has exactly one key.`);
  const operand = condition[key];
  if (key === 'cidr') throw patternError(`${path}: cidr matching is not supported by the local bus.`);
  if (!CONDITIONS.has(key)) throw patternError(`${path}: unknown match "${key}".`);
  switch (key) {
    case 'exists':
      if (typeof operand !== 'boolean') throw patternError(`${path}: exists takes true or false.`);
      return;
    case 'prefix':
    case 'suffix':
      if (typeof operand !== 'string' && !isIgnoreCase(operand)) {
        throw patternError(`${path}: ${key} takes a string or {"equals-ignore-case": "..."}.`);
      }
      return;
    case 'equals-ignore-case':
    case 'wildcard':
      if (typeof operand !== 'string') throw patternError(`${path}: ${key} takes a string.`);
      return;
    case 'numeric':
      validateNumeric(path, operand);
      return;
    case 'anything-but':
      validateAnythingBut(path, operand);
      return;
  }
};

const validateObject = (path: string, pattern: unknown): void => {
  if (!isObject(pattern)) throw patternError(`${path || 'the pattern'} must be a JSON object.`);
  if (Object.keys(pattern).length === 0) throw patternError(`${path || 'the pattern'} is empty.`);
  for (const [key, value] of Object.entries(pattern)) {
    const at = path ? `${path}.${key}` : key;
    if (key === '$or') {
      if (!Array.isArray(value) || value.length < 2) throw patternError(`${at} takes at least two patterns.`);
      value.forEach((alternative, i) => {
        validateObject(`${at}[${i}]`, alternative);
      });
    } else if (Array.isArray(value)) {
      if (value.length === 0) throw patternError(`${at}: empty arrays are not allowed.`);
      value.forEach((condition, i) => {
        validateCondition(`${at}[${i}]`, condition);
      });
    } else if (isObject(value)) {
      validateObject(at, value);
    } else {
      throw patternError(`${at}: match values must be in an array, e.g. ["${String(value)}"].`);
    }
  }
};

/** Throws an `InvalidEventPatternException` unless `pattern` is a valid event pattern (of the supported subset). */
export function validateEventPattern(pattern: unknown): asserts pattern is EventPattern {
  validateObject('', pattern);
}

const wildcardRegex = (glob: string): RegExp =>
  new RegExp(
    `^${glob
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );

const stringMatch = (kind: string, operand: unknown, value: unknown): boolean => {
  if (typeof value !== 'string') return false;
  switch (kind) {
    case 'prefix':
      return isIgnoreCase(operand)
        ? value.toLowerCase().startsWith(operand['equals-ignore-case'].toLowerCase())
        : value.startsWith(operand as string);
    case 'suffix':
      return isIgnoreCase(operand)
        ? value.toLowerCase().endsWith(operand['equals-ignore-case'].toLowerCase())
        : value.endsWith(operand as string);
    case 'equals-ignore-case':
      return Array.isArray(operand)
        ? operand.some((o) => String(o).toLowerCase() === value.toLowerCase())
        : String(operand).toLowerCase() === value.toLowerCase();
    case 'wildcard':
      return wildcardRegex(operand as string).test(value);
    default:
      return false;
  }
};

const numericMatch = (operand: unknown[], value: unknown): boolean => {
  if (typeof value !== 'number') return false;
  for (let i = 0; i < operand.length; i += 2) {
    const bound = operand[i + 1] as number;
    const ok =
      operand[i] === '='
        ? value === bound
        : operand[i] === '<'
          ? value < bound
          : operand[i] === '<='
            ? value <= bound
            : operand[i] === '>'
              ? value > bound
              : value >= bound;
    if (!ok) return false;
  }
  return true;
};

const anythingButMatch = (operand: unknown, value: unknown): boolean => {
  if (Array.isArray(operand)) return !operand.includes(value);
  if (isObject(operand)) {
    const [kind, inner] = Object.entries(operand)[0] as [string, unknown];
    return typeof value === 'string' && !stringMatch(kind, inner, value);
  }
  return value !== operand;
};

const conditionMatch = (condition: unknown, values: unknown[], field: unknown): boolean => {
  if (!isObject(condition)) return values.some((value) => value === condition);
  const [kind, operand] = Object.entries(condition)[0] as [string, unknown];
  switch (kind) {
    case 'exists': {
      // Only leaves exist for EventBridge: an object or an empty list does not.
      const exists = values.length > 0 && !isObject(field);
      return operand === true ? exists : !exists;
    }
    case 'numeric':
      return values.some((value) => numericMatch(operand as unknown[], value));
    case 'anything-but':
      return values.some((value) => anythingButMatch(operand, value));
    default:
      return values.some((value) => stringMatch(kind, operand, value));
  }
};

const matchObject = (pattern: EventPattern, value: unknown): boolean => {
  for (const [key, sub] of Object.entries(pattern)) {
    if (key === '$or') {
      if (!(sub as EventPattern[]).some((alternative) => matchObject(alternative, value))) return false;
      continue;
    }
    const field = isObject(value) ? value[key] : undefined;
    if (Array.isArray(sub)) {
      const values = field === undefined ? [] : Array.isArray(field) ? field : [field];
      if (!sub.some((condition) => conditionMatch(condition, values, field))) return false;
    } else if (Array.isArray(field)) {
      // A list of objects matches when one of its elements does.
      if (!field.some((element) => matchObject(sub as EventPattern, element))) return false;
    } else if (!matchObject(sub as EventPattern, field)) {
      return false;
    }
  }
  return true;
};

/** Whether `event` matches a (validated) EventBridge event pattern. */
export const matchesEventPattern = (pattern: EventPattern, event: unknown): boolean =>
  matchObject(pattern, event);
