/**
 * A JSON document's problems as `<source>: <path>: <reason>` lines: JSON text with line and column,
 * zod issues with paths such as `tasks[3].scorer.pattern`, values JSON cannot hold. What a pillar
 * that reads a user-written document (a golden suite, a runbook, a trail file) needs, so each says
 * its problems the same way.
 */
import * as z from 'zod';
import type { FieldIssue } from '../errors.js';

export type Path = readonly PropertyKey[];
export interface Problem {
  readonly path: Path;
  readonly message: string;
}

/** An error lists at most this many problems (the rest are counted). */
export const MAX_REPORTED_ISSUES = 20;
/** Values deeper than this are refused (and a digest never recurses further). */
export const MAX_JSON_DEPTH = 64;

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The message lines of a document error, and the issues they report. */
export const reportOf = (
  source: string,
  issues: readonly FieldIssue[],
): { readonly message: string; readonly reported: readonly FieldIssue[] } => {
  const reported = issues.slice(0, MAX_REPORTED_ISSUES);
  const lines = reported.map((issue) => `${source}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`);
  const more = issues.length - reported.length;
  if (more > 0) lines.push(`${source}: …and ${more} more problem${more === 1 ? '' : 's'}`);
  return { message: lines.join('\n'), reported };
};

/** `steps[2].url`; a key that is not an identifier is quoted: `headers["x-trace"]`. */
export const formatPath = (path: Path): string =>
  path
    .map((key, i) => {
      if (typeof key === 'number') return `[${key}]`;
      const name = String(key);
      if (!/^[A-Za-z_$][\w$]*$/.test(name)) return `[${JSON.stringify(name)}]`;
      return i === 0 ? name : `.${name}`;
    })
    .join('');

export interface SortOptions {
  /**
   * Read a problem of a list itself (`tasks: must have at least 1 item`) with the document's own
   * fields, as found, rather than ahead of its list's items.
   * @default false
   */
  readonly listsAsFields?: boolean;
}

/**
 * Problems sorted for reading: those of the document's own fields first, as found; then those in the
 * `lists` (top-level arrays), list by list, item by item, each item's as found.
 */
export const sortProblems = (
  problems: readonly Problem[],
  lists: readonly string[],
  options: SortOptions = {},
): Problem[] => {
  const rank = (problem: Problem): [number, number] => {
    const at = lists.indexOf(String(problem.path[0] ?? ''));
    const index = problem.path[1];
    if (at === -1) return [-1, -1];
    if (typeof index === 'number') return [at, index];
    return [options.listsAsFields ? -1 : at, -1];
  };
  return problems
    .map((problem, i) => ({ problem, i, rank: rank(problem) }))
    .sort((a, b) => a.rank[0] - b.rank[0] || a.rank[1] - b.rank[1] || a.i - b.i)
    .map(({ problem }) => problem);
};

export const toFieldIssues = (problems: readonly Problem[]): FieldIssue[] =>
  problems.map((problem) => ({ path: formatPath(problem.path), message: problem.message }));

/** A value in a message: short, quoted when a string, never a whole object. */
export const described = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
};

export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

// --- JSON values -------------------------------------------------------------------------------

/** The first thing in a value that JSON cannot hold, with its path inside the value. */
export const nonJson = (value: unknown, path: PropertyKey[] = [], depth = 0): Problem | undefined => {
  if (depth > MAX_JSON_DEPTH) return { path, message: `nested deeper than ${MAX_JSON_DEPTH} levels` };
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') {
    return Number.isFinite(value) ? undefined : { path, message: `${value} is not a JSON number` };
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = nonJson(item, [...path, i], depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  const prototype = isRecord(value) ? Object.getPrototypeOf(value) : undefined;
  if (prototype === Object.prototype || prototype === null) {
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      const found = item === undefined ? undefined : nonJson(item, [...path, key], depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  return { path, message: `${value === undefined ? 'undefined' : `a ${typeof value}`} is not a JSON value` };
};

/** Any JSON value, kept as it is (not copied). */
export const jsonValue = z.unknown().superRefine((value, ctx) => {
  const found = value === undefined ? { path: [], message: 'is required' } : nonJson(value);
  if (found) ctx.addIssue({ code: 'custom', path: [...found.path], message: found.message });
});

// --- zod issues --------------------------------------------------------------------------------

const EXPECTED_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  record: 'an object',
  array: 'a list',
};

export interface IssueWording {
  /**
   * What a discriminated union's variant is called, for an unknown one: with `'scorer type'`,
   * `unknown scorer type "fuzzy" (one of exact, …)`.
   * @default none: `unknown "fuzzy" (one of exact, …)`
   */
  readonly variant?: string;
}

/**
 * Zod issues as problems a person can act on (an unknown field each, "is required", sizes), worded
 * as `wording` says: `result.error.issues.flatMap(issueProblems({ variant: 'step type' }))`.
 */
export const issueProblems =
  (wording: IssueWording = {}) =>
  (issue: z.core.$ZodIssue): Problem[] => {
    const path = issue.path;
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => ({ path: [...path, key], message: 'unknown field' }));
      case 'invalid_type':
        if (issue.input === undefined) return [{ path, message: 'is required' }];
        return [
          {
            path,
            message: `expected ${EXPECTED_NAMES[issue.expected] ?? issue.expected}, got ${described(issue.input)}`,
          },
        ];
      case 'too_small':
      case 'too_big':
        return [{ path, message: sizeReason(issue) }];
      case 'invalid_key':
        // A record's key: its own issue says what is wrong with it.
        return [{ path, message: issue.issues[0]?.message ?? issue.message }];
      case 'invalid_value': {
        const allowed = issue.values.map((v) => JSON.stringify(v)).join(' or ');
        if (issue.input === undefined) return [{ path, message: `is required (${allowed})` }];
        return [{ path, message: `must be ${allowed}, got ${described(issue.input)}` }];
      }
      case 'invalid_union': {
        // zod 4 marks an unknown discriminator with fields its issue type does not declare.
        const unknown = issue as { note?: unknown; discriminator?: unknown; options?: unknown };
        if (unknown.note === 'No matching discriminator' && Array.isArray(unknown.options)) {
          const known = `one of ${unknown.options.join(', ')}`;
          const given = isRecord(issue.input) ? issue.input[String(unknown.discriminator)] : undefined;
          const variant = wording.variant === undefined ? '' : `${wording.variant} `;
          const message =
            given === undefined
              ? `is required (${known})`
              : `unknown ${variant}${described(given)} (${known})`;
          return [{ path, message }];
        }
        return [{ path, message: issue.message }];
      }
      default:
        return [{ path, message: issue.message }];
    }
  };

/** A zod issue as problems, with the default wording: `issues.flatMap(problemsOf)`. */
export const problemsOf = issueProblems();

const sizeReason = (issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string => {
  const small = issue.code === 'too_small';
  const limit = Number(small ? issue.minimum : issue.maximum);
  if (issue.origin === 'array') {
    const count = Array.isArray(issue.input) ? issue.input.length : undefined;
    const counted = count === undefined ? '' : `, got ${count}`;
    return `must have ${small ? 'at least' : 'at most'} ${limit} item${limit === 1 ? '' : 's'}${counted}`;
  }
  if (issue.origin === 'string') {
    return small && limit === 1
      ? 'must not be empty'
      : `must be ${small ? 'at least' : 'at most'} ${limit} characters`;
  }
  const bound = small
    ? issue.inclusive === false
      ? 'greater than'
      : 'at least'
    : issue.inclusive === false
      ? 'less than'
      : 'at most';
  return `must be ${bound} ${limit}, got ${described(issue.input)}`;
};

// --- JSON text ---------------------------------------------------------------------------------

/** Parses JSON text (a leading BOM is skipped); a failure says where: `invalid JSON at line 3, column 7: …`. */
export const parseJsonText = (
  raw: string,
): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly message: string } => {
  const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    const thrown = messageOf(error);
    // V8 states the position for most errors, not for "Unexpected token" nor the end of input.
    const stated = / at position (\d+)/.exec(thrown);
    const position = stated
      ? Number(stated[1])
      : thrown.includes('end of JSON input')
        ? text.length
        : jsonErrorOffset(text);
    let reason: string;
    if (stated) reason = thrown.replace(/ in JSON at position \d+.*$/s, '');
    else if (position !== undefined && position < text.length)
      reason = `Unexpected ${JSON.stringify(text[position])}`;
    else if (position === text.length) reason = 'Unexpected end of input';
    else reason = thrown.split('\n')[0] ?? thrown;
    const where = position === undefined ? '' : ` at ${lineAndColumn(text, position)}`;
    return { ok: false, message: `invalid JSON${where}: ${reason}` };
  }
};

const lineAndColumn = (text: string, position: number): string => {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  return `line ${line}, column ${position - before.lastIndexOf('\n')}`;
};

const JSON_LITERAL = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
const JSON_ESCAPE = /["\\/bfnrt]|u[0-9a-fA-F]{4}/y;

/** Where JSON.parse would stop on `text`, for the messages that do not say; undefined if unsure. */
const jsonErrorOffset = (text: string): number | undefined => {
  let at = 0;
  const stopUnless = (ok: boolean): void => {
    if (!ok) throw at;
  };
  const skipSpace = (): void => {
    while (at < text.length && ' \t\n\r'.includes(text.charAt(at))) at += 1;
  };
  const token = (pattern: RegExp): void => {
    pattern.lastIndex = at;
    stopUnless(pattern.test(text));
    at = pattern.lastIndex;
  };
  const string = (): void => {
    stopUnless(text.charAt(at) === '"');
    at += 1;
    for (;;) {
      const code = text.charCodeAt(at);
      stopUnless(at < text.length && code >= 0x20);
      at += 1;
      if (code === 0x22) return;
      if (code === 0x5c) token(JSON_ESCAPE);
    }
  };
  const value = (): void => {
    skipSpace();
    const open = text.charAt(at);
    if (open !== '{' && open !== '[') {
      if (open === '"') string();
      else token(JSON_LITERAL);
      return;
    }
    const close = open === '{' ? '}' : ']';
    at += 1;
    skipSpace();
    if (text.charAt(at) === close) {
      at += 1;
      return;
    }
    for (;;) {
      if (open === '{') {
        skipSpace();
        string();
        skipSpace();
        stopUnless(text.charAt(at) === ':');
        at += 1;
      }
      value();
      skipSpace();
      const next = text.charAt(at);
      stopUnless(next === ',' || next === close);
      at += 1;
      if (next === close) return;
    }
  };
  try {
    value();
    skipSpace();
    return at < text.length ? at : undefined;
  } catch (stop) {
    return typeof stop === 'number' ? stop : undefined;
  }
};
