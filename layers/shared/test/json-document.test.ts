import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  described,
  formatPath,
  issueProblems,
  jsonValue,
  MAX_REPORTED_ISSUES,
  nonJson,
  type Problem,
  parseJsonText,
  problemsOf,
  reportOf,
  sortProblems,
  toFieldIssues,
} from '#shared/ports/json-document.js';

/** The problems zod finds in `value`, as a person reads them: `path: reason`. */
const problems = (
  schema: z.ZodType,
  value: unknown,
  toProblems: (issue: z.core.$ZodIssue) => Problem[] = problemsOf,
): string[] => {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return [];
  return toFieldIssues(result.error.issues.flatMap(toProblems)).map(({ path, message }) =>
    path ? `${path}: ${message}` : message,
  );
};

describe('formatPath', () => {
  it('writes keys with dots and list indices in brackets', () => {
    expect(formatPath(['tasks', 3, 'scorer', 'pattern'])).toBe('tasks[3].scorer.pattern');
  });

  it('quotes a key that is not an identifier', () => {
    expect(formatPath(['headers', 'x-trace'])).toBe('headers["x-trace"]');
    expect(formatPath(['a b', 0])).toBe('["a b"][0]');
  });

  it('writes the document itself as nothing', () => {
    expect(formatPath([])).toBe('');
  });
});

describe('reportOf', () => {
  it('writes one line per issue, naming the source and the path when there is one', () => {
    // Act
    const { message, reported } = reportOf('suite.json', [
      { path: '', message: 'invalid JSON at line 1, column 1: Unexpected end of input' },
      { path: 'tasks[0].id', message: 'is required' },
    ]);

    // Assess
    expect(message).toBe(
      [
        'suite.json: invalid JSON at line 1, column 1: Unexpected end of input',
        'suite.json: tasks[0].id: is required',
      ].join('\n'),
    );
    expect(reported).toHaveLength(2);
  });

  it.each([
    [MAX_REPORTED_ISSUES + 1, '…and 1 more problem'],
    [MAX_REPORTED_ISSUES + 5, '…and 5 more problems'],
  ])('reports at most 20 of %i issues and counts the rest', (count, counted) => {
    // Prepare
    const issues = Array.from({ length: count }, (_, i) => ({ path: `steps[${i}]`, message: 'is wrong' }));

    // Act
    const { message, reported } = reportOf('a.json', issues);

    // Assess
    const lines = message.split('\n');
    expect(reported).toEqual(issues.slice(0, MAX_REPORTED_ISSUES));
    expect(lines).toHaveLength(MAX_REPORTED_ISSUES + 1);
    expect(lines.at(-1)).toBe(`a.json: ${counted}`);
  });
});

describe('sortProblems', () => {
  const found: Problem[] = [
    { path: ['steps', 1, 'url'], message: 'a' },
    { path: ['approvals', 0], message: 'b' },
    { path: ['steps'], message: 'c' },
    { path: ['steps', 0, 'id'], message: 'd' },
    { path: ['id'], message: 'e' },
    { path: ['steps', 0, 'type'], message: 'f' },
    { path: ['extra'], message: 'g' },
  ];

  it("puts the document's own fields first, then the lists in order, item by item, each as found", () => {
    expect(sortProblems(found, ['approvals', 'steps']).map((p) => p.message)).toEqual([
      'e',
      'g',
      'b',
      'c',
      'd',
      'f',
      'a',
    ]);
  });

  it('reads a problem of a list itself with the own fields, as found, when lists are fields', () => {
    expect(
      sortProblems(found, ['approvals', 'steps'], { listsAsFields: true }).map((p) => p.message),
    ).toEqual(['c', 'e', 'g', 'b', 'd', 'f', 'a']);
  });
});

describe('described', () => {
  it.each([
    [undefined, 'nothing'],
    [null, 'null'],
    [[1], 'a list'],
    [{ a: 1 }, 'an object'],
    ['x', '"x"'],
    [4.5, '4.5'],
    [false, 'false'],
    ['y'.repeat(50), `"${'y'.repeat(38)}…`],
  ])('describes %j as %s', (value, expected) => {
    expect(described(value)).toBe(expected);
  });
});

describe('nonJson', () => {
  it('accepts JSON values, also objects without a prototype, and skips undefined members', () => {
    expect(nonJson({ a: [1, 'x', null, true, { b: undefined }], c: Object.create(null) })).toBeUndefined();
  });

  it.each<[string, unknown, string, string]>([
    ['a non-finite number', { a: [1, Number.NaN] }, 'a[1]', 'NaN is not a JSON number'],
    ['an infinity', { a: Number.POSITIVE_INFINITY }, 'a', 'Infinity is not a JSON number'],
    ['undefined in a list', [undefined], '[0]', 'undefined is not a JSON value'],
    ['a function', { f: () => 1 }, 'f', 'a function is not a JSON value'],
    ['a class instance', { at: new Date(0) }, 'at', 'a object is not a JSON value'],
  ])('names the path of %s', (_name, value, path, message) => {
    // Act
    const found = nonJson(value);

    // Assess
    expect(found && { path: formatPath(found.path), message: found.message }).toEqual({ path, message });
  });

  it('refuses a value nested deeper than 64 levels', () => {
    // Prepare
    let deep: unknown = 1;
    for (let i = 0; i < 66; i += 1) deep = [deep];

    // Act
    const found = nonJson(deep);

    // Assess
    expect(found?.message).toBe('nested deeper than 64 levels');
    expect(found?.path).toHaveLength(65);
  });
});

describe('jsonValue', () => {
  const schema = z.strictObject({ input: jsonValue });

  it('keeps a JSON value as it is', () => {
    const input = { a: [1, { b: 'c' }] };
    expect(schema.parse({ input }).input).toBe(input);
  });

  it('requires a value and names the path of what JSON cannot hold', () => {
    expect(problems(schema, {})).toEqual(['input: is required']);
    expect(problems(schema, { input: { a: [Number.NaN] } })).toEqual([
      'input.a[0]: NaN is not a JSON number',
    ]);
  });
});

describe('problemsOf', () => {
  it('reports each unknown field on its own', () => {
    const schema = z.strictObject({ id: z.string() });
    expect(problems(schema, { id: 'a', colour: 1, size: 2 })).toEqual([
      'colour: unknown field',
      'size: unknown field',
    ]);
  });

  it('says what was expected and what was given, or that a field is required', () => {
    const schema = z.strictObject({
      name: z.string(),
      count: z.int(),
      on: z.boolean(),
      tags: z.array(z.string()),
    });
    expect(problems(schema, { count: 1.5, on: 'yes', tags: {} })).toEqual([
      'name: is required',
      'count: expected an integer, got 1.5',
      'on: expected true or false, got "yes"',
      'tags: expected a list, got an object',
    ]);
  });

  it('states sizes of lists, strings and numbers', () => {
    const schema = z.strictObject({
      items: z.array(z.number()).min(1),
      few: z.array(z.number()).max(1),
      name: z.string().min(1),
      code: z.string().max(3),
      weight: z.number().gt(0).max(10),
      ratio: z.number().lt(1),
    });
    expect(problems(schema, { items: [], few: [1, 2], name: '', code: 'abcd', weight: 0, ratio: 1 })).toEqual(
      [
        'items: must have at least 1 item, got 0',
        'few: must have at most 1 item, got 2',
        'name: must not be empty',
        'code: must be at most 3 characters',
        'weight: must be greater than 0, got 0',
        'ratio: must be less than 1, got 1',
      ],
    );
  });

  it("says what is wrong with a record's key", () => {
    const schema = z.record(z.string().regex(/^[a-z]+$/, { error: 'must be lower case' }), z.number());
    expect(problems(schema, { Name: 1 })).toEqual(['Name: must be lower case']);
  });

  it('names the allowed values of a literal or an enum', () => {
    const schema = z.strictObject({ apiVersion: z.literal('v1'), mode: z.enum(['a', 'b']) });
    expect(problems(schema, { mode: 'c' })).toEqual([
      'apiVersion: is required ("v1")',
      'mode: must be "a" or "b", got "c"',
    ]);
  });

  describe('for a discriminated union', () => {
    const schema = z.strictObject({
      step: z.discriminatedUnion('type', [
        z.strictObject({ type: z.literal('http'), url: z.string() }),
        z.strictObject({ type: z.literal('wait'), seconds: z.number() }),
      ]),
    });

    it('names the known variants of an unknown or missing discriminator', () => {
      expect(problems(schema, { step: { type: 'shell' } })).toEqual([
        'step.type: unknown "shell" (one of http, wait)',
      ]);
      expect(problems(schema, { step: {} })).toEqual(['step.type: is required (one of http, wait)']);
    });

    it('calls the variant what the wording says', () => {
      const stepProblems = issueProblems({ variant: 'step type' });
      expect(problems(schema, { step: { type: 'shell' } }, stepProblems)).toEqual([
        'step.type: unknown step type "shell" (one of http, wait)',
      ]);
      expect(problems(schema, { step: {} }, stepProblems)).toEqual([
        'step.type: is required (one of http, wait)',
      ]);
    });

    it("reports the problems of the variant given, at the variant's paths", () => {
      expect(problems(schema, { step: { type: 'wait', seconds: 'x' } })).toEqual([
        'step.seconds: expected a number, got "x"',
      ]);
    });
  });

  it("keeps a refinement's own message", () => {
    const schema = z.strictObject({
      text: z.string().refine((t) => t.trim() !== '', { error: 'must not be blank' }),
    });
    expect(problems(schema, { text: '  ' })).toEqual(['text: must not be blank']);
  });
});

describe('parseJsonText', () => {
  it('parses JSON text, skipping a leading byte order mark', () => {
    expect(parseJsonText('{"a": [1, 2]}')).toEqual({ ok: true, value: { a: [1, 2] } });
    expect(parseJsonText('\uFEFF{"a": 1}')).toEqual({ ok: true, value: { a: 1 } });
  });

  it.each([
    [
      'a missing comma',
      '{\n  "id": "a",\n  "version": "1"\n  "tasks": []\n}',
      'line 4, column 3',
      "Expected ',' or '}' after property value",
    ],
    ['a bare word', '{\n  "id": "a",\n  "ok": tru\n}', 'line 3, column 9', 'Unexpected "t"'],
    ['a trailing comma', '{\n  "id": "a",\n}', 'line 3, column 1', 'Expected double-quoted property name'],
    ['an early end', '{\n  "id": "a",\n  "tasks": [', 'line 3, column 13', 'Unexpected end of input'],
    ['an empty text', '', 'line 1, column 1', 'Unexpected end of input'],
    ['a bad escape', '["a\\x"]', 'line 1, column 5', 'Bad escaped character'],
  ])('says where %s stops the parse, by line and column', (_name, text, where, reason) => {
    // Act
    const result = parseJsonText(text);

    // Assess
    expect(result).toEqual({ ok: false, message: expect.stringMatching(/^invalid JSON at /) });
    expect(result.ok || result.message).toBe(`invalid JSON at ${where}: ${reason}`);
  });

  it('counts lines and columns after a byte order mark from the text that follows it', () => {
    expect(parseJsonText('\uFEFF{\n  "a": tru\n}')).toEqual({
      ok: false,
      message: 'invalid JSON at line 2, column 8: Unexpected "t"',
    });
  });
});
