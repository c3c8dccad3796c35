import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Invocation, UsageError } from './command.js';

/** Option readers: each names the flag it complains about. */
export const stringOption = (invocation: Invocation, name: string): string | undefined => {
  const value = invocation.options[name];
  return typeof value === 'string' ? value : undefined;
};

export const requiredString = (invocation: Invocation, name: string): string => {
  const value = stringOption(invocation, name);
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
};

export const listOption = (invocation: Invocation, name: string): string[] => {
  const value = invocation.options[name];
  if (value === undefined || typeof value === 'boolean') return [];
  return (Array.isArray(value) ? value : [value]).flatMap((item) =>
    item
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== ''),
  );
};

export const numberOption = (invocation: Invocation, name: string): number | undefined => {
  const text = stringOption(invocation, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value))
    throw new UsageError(`--${name} must be a number, got '${text}'`);
  return value;
};

export const integerOption = (invocation: Invocation, name: string): number | undefined => {
  const value = numberOption(invocation, name);
  if (value !== undefined && !Number.isInteger(value))
    throw new UsageError(`--${name} must be a whole number, got '${value}'`);
  return value;
};

/** A flag that takes one of a few words (`--window daily|weekly|monthly`). */
export const choiceOption = <Choice extends string>(
  invocation: Invocation,
  name: string,
  choices: readonly Choice[],
): Choice | undefined => {
  const value = stringOption(invocation, name);
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value))
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${value}'`);
  return value as Choice;
};

export const booleanOption = (invocation: Invocation, name: string): boolean =>
  invocation.options[name] === true;

export const positional = (invocation: Invocation, index: number, name: string): string => {
  const value = invocation.positionals[index];
  if (value === undefined || value === '') throw new UsageError(`missing ${name}`);
  return value;
};

/** `--data` takes JSON inline or `@file` with JSON in it. */
export const jsonObjectOption = (
  invocation: Invocation,
  name: string,
): Record<string, unknown> | undefined => {
  const text = stringOption(invocation, name);
  if (text === undefined) return undefined;
  const source = text.startsWith('@')
    ? readFileSync(resolve(invocation.context.io.cwd, text.slice(1)), 'utf8')
    : text;
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch (error) {
    throw new UsageError(`--${name} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError(`--${name} must be a JSON object`);
  return value as Record<string, unknown>;
};

/** `key=value` pairs, with numbers and booleans read as such (`tokens=900`, `urgent=true`). */
export const keyValues = (
  pairs: readonly string[],
  flag: string,
): Record<string, string | number | boolean> => {
  const result: Record<string, string | number | boolean> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--${flag} takes key=value, got '${pair}'`);
    const key = pair.slice(0, at);
    const raw = pair.slice(at + 1);
    const number = Number(raw);
    result[key] =
      raw === 'true'
        ? true
        : raw === 'false'
          ? false
          : raw.trim() !== '' && Number.isFinite(number)
            ? number
            : raw;
  }
  return result;
};
