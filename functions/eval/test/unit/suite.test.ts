import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { AppError } from '#shared/errors.js';
import { parseSuite, parseSuiteValue, SuiteError, suiteJsonSchema } from '../../src/domain/suite.js';

const SUITES = resolve(import.meta.dirname, '../../../../examples/eval/suites');
const readExample = (name: string) => readFileSync(resolve(SUITES, name), 'utf8');

type Json = Record<string, unknown>;
const suiteOf = (overrides: Json = {}): Json => ({
  apiVersion: 'conductor.suite/v1',
  id: 'arithmetic',
  version: '3',
  tasks: [{ id: 'add-1', input: { question: '2+2' }, expected: 4, scorer: { type: 'exact' } }],
  ...overrides,
});
/** A valid suite whose second task (tasks[1]) is `task`. */
const suiteWithTask = (task: Json, overrides: Json = {}): Json =>
  suiteOf({
    tasks: [{ id: 'ok', input: { question: '1+1' }, expected: 2, scorer: { type: 'exact' } }, task],
    ...overrides,
  });
const task = (fields: Json): Json => ({ id: 'bad', input: { question: '2+2' }, ...fields });

/** The lines of the SuiteError that parsing `value` throws. */
const problemLines = (value: unknown): string[] => {
  try {
    parseSuiteValue(value, 'suite.json');
  } catch (error) {
    if (error instanceof SuiteError) return error.message.split('\n');
    throw error;
  }
  throw new Error('the suite parsed');
};
/** Rebuilds a value with every object's keys in reverse order. */
const reversedKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([key, item]) => [key, reversedKeys(item)]),
  );
};

describe('parseSuite', () => {
  it('applies the defaults to every task, the task’s own fields winning, and the scorers’ own defaults', () => {
    // Prepare
    const text = JSON.stringify({
      apiVersion: 'conductor.suite/v1',
      id: 'arithmetic',
      version: '3',
      description: 'Sums.',
      expertType: 'calculator',
      defaults: { scorer: { type: 'exact' }, tolerance: 0.1, weight: 2, trials: 3, outputPath: 'answer' },
      tasks: [
        { id: 'add-1', input: { question: '2+2' }, expected: 4 },
        {
          id: 'add-2',
          input: { question: '2+3' },
          expected: 5,
          scorer: { type: 'numeric', tolerance: 0.5 },
          tolerance: 0.2,
          weight: 1,
          trials: 1,
          outputPath: 'result.value',
        },
      ],
    });

    // Act
    const suite = parseSuite(text, 'arithmetic.json');

    // Assess
    expect(suite).toMatchObject({
      id: 'arithmetic',
      version: '3',
      description: 'Sums.',
      expertType: 'calculator',
      timeoutMs: 10_000,
      gate: { tolerance: 0.05, confidence: 0.99 },
    });
    expect(suite.tasks).toEqual([
      {
        id: 'add-1',
        input: { question: '2+2' },
        expected: 4,
        scorer: { type: 'exact', caseSensitive: true, trim: true },
        outputPath: 'answer',
        tolerance: 0.1,
        weight: 2,
        trials: 3,
      },
      {
        id: 'add-2',
        input: { question: '2+3' },
        expected: 5,
        scorer: { type: 'numeric', tolerance: 0.5, relative: false },
        outputPath: 'result.value',
        tolerance: 0.2,
        weight: 1,
        trials: 1,
      },
    ]);
    expect(suite.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives a task no outputPath and no expected when neither it nor the defaults have one', () => {
    // Prepare
    const value = suiteOf({
      tasks: [{ id: 'shape', input: {}, scorer: { type: 'json-schema', schema: { type: 'object' } } }],
    });

    // Act
    const [only] = parseSuiteValue(value, 'suite.json').tasks;

    // Assess
    expect(only).toEqual({
      id: 'shape',
      input: {},
      scorer: { type: 'json-schema', schema: { type: 'object' } },
      tolerance: 0,
      weight: 1,
      trials: 1,
    });
  });

  it('parses the arithmetic example, which uses every built-in scorer', () => {
    // Act
    const suite = parseSuite(readExample('arithmetic.json'), 'arithmetic.json');

    // Assess
    expect(suite.id).toBe('arithmetic');
    expect(new Set(suite.tasks.map((t) => t.scorer.type))).toEqual(
      new Set(['exact', 'contains', 'regex', 'numeric', 'json-subset', 'json-schema']),
    );
    expect(suite.timeoutMs).toBe(5000);
  });

  it('refuses the invalid example with one line naming the file, the path and the reason', () => {
    // Act
    const act = () => parseSuite(readExample('invalid.json'), 'invalid.json');

    // Assess
    expect(act).toThrow(SuiteError);
    expect(act).toThrow(
      'invalid.json: tasks[1].scorer.pattern: does not compile: Invalid regular expression: /^(\\d+$/: Unterminated group',
    );
  });

  it('throws an AppError of status 400 and code invalid_suite that carries the issues as details', () => {
    // Act
    let caught: unknown;
    try {
      parseSuiteValue(suiteOf({ id: 'no spaces', timeoutMs: 50 }), 'suite.json');
    } catch (error) {
      caught = error;
    }

    // Assess
    expect(caught).toBeInstanceOf(AppError);
    expect(caught).toMatchObject({
      name: 'SuiteError',
      statusCode: 400,
      code: 'invalid_suite',
      details: {
        issues: [
          { path: 'id', message: expect.stringContaining('letters, digits') },
          { path: 'timeoutMs', message: 'must be at least 100, got 50' },
        ],
      },
    });
    expect((caught as SuiteError).issues).toHaveLength(2);
  });

  it.each<[string, Json, string]>([
    [
      'a wrong apiVersion',
      suiteOf({ apiVersion: 'conductor.suite/v2' }),
      'apiVersion: must be "conductor.suite/v1"',
    ],
    ['an id with a space', suiteOf({ id: 'my suite' }), 'id: must be 1-128 letters, digits'],
    ['an id of 129 characters', suiteOf({ id: 'a'.repeat(129) }), 'id: must be 1-128 letters'],
    ['a version that is a number', suiteOf({ version: 3 }), 'version: expected a string, got 3'],
    ['an unknown field', suiteOf({ owner: 'me' }), 'owner: unknown field'],
    ['no tasks', suiteOf({ tasks: [] }), 'tasks: must have at least 1 item, got 0'],
    [
      'more than 5,000 tasks',
      suiteOf({
        tasks: Array.from({ length: 5001 }, (_, i) => ({
          id: `t${i}`,
          input: i,
          expected: i,
          scorer: { type: 'exact' },
        })),
      }),
      'tasks: must have at most 5000 items, got 5001',
    ],
    ['a timeout under 100 ms', suiteOf({ timeoutMs: 99 }), 'timeoutMs: must be at least 100, got 99'],
    [
      'a timeout over 120 s',
      suiteOf({ timeoutMs: 120_001 }),
      'timeoutMs: must be at most 120000, got 120001',
    ],
    [
      'a gate tolerance of 0',
      suiteOf({ gate: { tolerance: 0 } }),
      'gate.tolerance: must be greater than 0, got 0',
    ],
    [
      'a gate tolerance of 1',
      suiteOf({ gate: { tolerance: 1 } }),
      'gate.tolerance: must be less than 1, got 1',
    ],
    [
      'a gate confidence under 0.8',
      suiteOf({ gate: { confidence: 0.79 } }),
      'gate.confidence: must be at least 0.8, got 0.79',
    ],
    [
      'a gate confidence over 0.999',
      suiteOf({ gate: { confidence: 1 } }),
      'gate.confidence: must be at most 0.999, got 1',
    ],
    [
      'a task id with a slash',
      suiteWithTask(task({ id: 'a/b', expected: 1, scorer: { type: 'exact' } })),
      'tasks[1].id: must be 1-128',
    ],
    [
      'a duplicate task id',
      suiteWithTask(task({ id: 'ok', expected: 1, scorer: { type: 'exact' } })),
      'tasks[1].id: duplicate id "ok", also tasks[0].id',
    ],
    [
      'a task without input',
      suiteWithTask({ id: 'bad', expected: 1, scorer: { type: 'exact' } }),
      'tasks[1].input: is required',
    ],
    [
      'an unknown task field',
      suiteWithTask(task({ expected: 1, scorer: { type: 'exact' }, note: 'x' })),
      'tasks[1].note: unknown field',
    ],
    [
      '0 trials',
      suiteWithTask(task({ expected: 1, scorer: { type: 'exact' }, trials: 0 })),
      'tasks[1].trials: must be at least 1, got 0',
    ],
    [
      '21 trials',
      suiteWithTask(task({ expected: 1, scorer: { type: 'exact' }, trials: 21 })),
      'tasks[1].trials: must be at most 20, got 21',
    ],
    [
      'a fractional number of trials',
      suiteWithTask(task({ expected: 1, scorer: { type: 'exact' }, trials: 1.5 })),
      'tasks[1].trials: expected an integer, got 1.5',
    ],
    [
      'a weight of 0',
      suiteWithTask(task({ expected: 1, scorer: { type: 'exact' }, weight: 0 })),
      'tasks[1].weight: must be greater than 0, got 0',
    ],
    [
      'a weight over 1000',
      suiteWithTask(task({ expected: 1, scorer: { type: 'exact' }, weight: 1001 })),
      'tasks[1].weight: must be at most 1000, got 1001',
    ],
    [
      'a negative tolerance',
      suiteWithTask(task({ expected: 1, scorer: { type: 'exact' }, tolerance: -0.1 })),
      'tasks[1].tolerance: must be at least 0, got -0.1',
    ],
    [
      'a tolerance over 1',
      suiteWithTask(task({ expected: 1, scorer: { type: 'exact' }, tolerance: 1.5 })),
      'tasks[1].tolerance: must be at most 1, got 1.5',
    ],
    [
      'a default of 0 trials',
      suiteOf({ defaults: { trials: 0 } }),
      'defaults.trials: must be at least 1, got 0',
    ],
    [
      'an outputPath with an empty segment',
      suiteWithTask(task({ expected: 1, scorer: { type: 'exact' }, outputPath: 'a..b' })),
      'tasks[1].outputPath: must be a dotted path',
    ],
    ['no scorer and no default scorer', suiteWithTask(task({ expected: 1 })), 'tasks[1]: no scorer'],
    [
      'an unknown scorer type',
      suiteWithTask(task({ expected: 1, scorer: { type: 'fuzzy' } })),
      'tasks[1].scorer.type: unknown scorer type "fuzzy" (one of exact, contains',
    ],
    [
      'a scorer without a type',
      suiteWithTask(task({ expected: 1, scorer: {} })),
      'tasks[1].scorer.type: is required (one of exact',
    ],
    [
      'an unknown scorer field',
      suiteWithTask(task({ expected: 1, scorer: { type: 'exact', fuzzy: true } })),
      'tasks[1].scorer.fuzzy: unknown field',
    ],
    [
      'a regex that does not compile',
      suiteWithTask(task({ scorer: { type: 'regex', pattern: '[a-' } })),
      'tasks[1].scorer.pattern: does not compile: Invalid regular expression: /[a-/: Unterminated character class',
    ],
    [
      'unknown regex flags',
      suiteWithTask(task({ scorer: { type: 'regex', pattern: 'a', flags: 'x' } })),
      'tasks[1].scorer.flags: must be distinct letters among d g i m s u v y',
    ],
    [
      'a negative numeric tolerance',
      suiteWithTask(task({ expected: 1, scorer: { type: 'numeric', tolerance: -1 } })),
      'tasks[1].scorer.tolerance: must be at least 0, got -1',
    ],
    [
      'a JSON Schema that does not compile',
      suiteWithTask(task({ scorer: { type: 'json-schema', schema: { type: 'strin' } } })),
      'tasks[1].scorer.schema: is not a valid JSON Schema: schema is invalid: data/type must be equal to one of the allowed values',
    ],
    [
      'a JSON Schema with a dangling reference',
      suiteWithTask(task({ scorer: { type: 'json-schema', schema: { $ref: '#/$defs/missing' } } })),
      "tasks[1].scorer.schema: is not a valid JSON Schema: can't resolve reference #/$defs/missing",
    ],
    [
      'a custom scorer without a module',
      suiteWithTask(task({ scorer: { type: 'custom', module: '' } })),
      'tasks[1].scorer.module: must not be empty',
    ],
    [
      'a rubric without a judge',
      suiteWithTask(task({ scorer: { type: 'rubric', rubric: 'Is it right?' } })),
      'tasks[1].scorer.judgeExpertId: is required',
    ],
    [
      'an empty rubric',
      suiteWithTask(task({ scorer: { type: 'rubric', judgeExpertId: 'judge-1', rubric: '  ' } })),
      'tasks[1].scorer.rubric: must not be empty',
    ],
    [
      'exact without expected',
      suiteWithTask(task({ scorer: { type: 'exact' } })),
      'tasks[1]: the exact scorer needs "expected"',
    ],
    [
      'contains without expected',
      suiteWithTask(task({ scorer: { type: 'contains' } })),
      'tasks[1]: the contains scorer needs "expected"',
    ],
    [
      'numeric without expected',
      suiteWithTask(task({ scorer: { type: 'numeric', tolerance: 0 } })),
      'tasks[1]: the numeric scorer needs "expected"',
    ],
    [
      'json-subset without expected',
      suiteWithTask(task({ scorer: { type: 'json-subset' } })),
      'tasks[1]: the json-subset scorer needs "expected"',
    ],
    [
      'the default scorer without expected',
      suiteWithTask(task({}), { defaults: { scorer: { type: 'exact' } } }),
      'tasks[1]: the exact scorer needs "expected"',
    ],
    [
      'contains expecting a number',
      suiteWithTask(task({ expected: 4, scorer: { type: 'contains' } })),
      'tasks[1].expected: the contains scorer needs a string or a non-empty list of strings',
    ],
    [
      'contains expecting an empty list',
      suiteWithTask(task({ expected: [], scorer: { type: 'contains' } })),
      'tasks[1].expected: the contains scorer needs a string or a non-empty list of strings',
    ],
    [
      'numeric expecting a string',
      suiteWithTask(task({ expected: '4', scorer: { type: 'numeric', tolerance: 0 } })),
      'tasks[1].expected: the numeric scorer needs a number, got "4"',
    ],
    [
      'an input that is not JSON',
      suiteWithTask(task({ input: { n: Number.POSITIVE_INFINITY }, expected: 1, scorer: { type: 'exact' } })),
      'tasks[1].input.n: Infinity is not a JSON number',
    ],
  ])('refuses %s, naming the path', (_name, value, expected) => {
    // Act
    const lines = problemLines(value);

    // Assess
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`suite.json: ${expected}`);
  });

  it('reports every problem, in document order, one line each', () => {
    // Prepare
    const value = suiteOf({
      id: '',
      gate: { confidence: 2 },
      tasks: [
        { id: 'a', input: 1, scorer: { type: 'regex', pattern: '(' } },
        { id: 'a', input: 1, expected: 'x', scorer: { type: 'numeric', tolerance: -1 } },
      ],
    });

    // Act
    const lines = problemLines(value);

    // Assess
    expect(lines).toEqual([
      expect.stringMatching(/^suite\.json: id: must be 1-128/),
      'suite.json: gate.confidence: must be at most 0.999, got 2',
      'suite.json: tasks[0].scorer.pattern: does not compile: Invalid regular expression: /(/: Unterminated group',
      'suite.json: tasks[1].scorer.tolerance: must be at least 0, got -1',
      'suite.json: tasks[1].id: duplicate id "a", also tasks[0].id',
      'suite.json: tasks[1].expected: the numeric scorer needs a number, got "x"',
    ]);
  });

  it('lists at most 20 problems and counts the rest', () => {
    // Prepare
    const tasks = Array.from({ length: 25 }, (_, i) => ({ id: `t${i}`, input: i, expected: i, trials: 0 }));

    // Act
    let caught: SuiteError | undefined;
    try {
      parseSuiteValue(suiteOf({ defaults: { scorer: { type: 'exact' } }, tasks }), 'suite.json');
    } catch (error) {
      caught = error as SuiteError;
    }

    // Assess
    const lines = caught?.message.split('\n') ?? [];
    expect(lines).toHaveLength(21);
    expect(lines[19]).toBe('suite.json: tasks[19].trials: must be at least 1, got 0');
    expect(lines[20]).toBe('suite.json: …and 5 more problems');
    expect(caught?.details?.issues).toHaveLength(20);
  });

  it('reports invalid JSON with its line and column, naming the file', () => {
    // Act
    const act = () => parseSuite('{\n  "id": "a",\n  "version": "1"\n  "tasks": []\n}', 'broken.json');

    // Assess
    expect(act).toThrow(SuiteError);
    expect(act).toThrow(
      "broken.json: invalid JSON at line 4, column 3: Expected ',' or '}' after property value",
    );
  });

  it('accepts a file that starts with a byte order mark', () => {
    // Act
    const suite = parseSuite(`\uFEFF${JSON.stringify(suiteOf())}`, 'suite.json');

    // Assess
    expect(suite.id).toBe('arithmetic');
  });
});

describe('the suite digest', () => {
  it('is the same whatever the order of the keys, at any depth', () => {
    // Prepare
    const value = JSON.parse(readExample('arithmetic.json')) as Json;

    // Act
    const original = parseSuiteValue(value, 'a.json');
    const reordered = parseSuiteValue(reversedKeys(value), 'b.json');

    // Assess
    expect(Object.keys(reversedKeys(value) as Json)[0]).toBe('tasks');
    expect(reordered.digest).toBe(original.digest);
  });

  it('is the same whether a default is written out or left implicit', () => {
    // Prepare
    const implicit = suiteOf({
      defaults: { scorer: { type: 'exact' } },
      tasks: [{ id: 'add-1', input: { question: '2+2' }, expected: 4 }],
    });
    const explicit = suiteOf({
      timeoutMs: 10_000,
      gate: { tolerance: 0.05, confidence: 0.99 },
      tasks: [
        {
          id: 'add-1',
          input: { question: '2+2' },
          expected: 4,
          scorer: { type: 'exact', trim: true, caseSensitive: true },
          tolerance: 0,
          weight: 1,
          trials: 1,
        },
      ],
    });

    // Act
    const digests = [implicit, explicit].map((v) => parseSuiteValue(v, 'suite.json').digest);

    // Assess
    expect(digests[0]).toBe(digests[1]);
  });

  it('changes when a task changes', () => {
    // Prepare
    const before = suiteOf();
    const after = suiteOf({
      tasks: [{ id: 'add-1', input: { question: '2+2' }, expected: 5, scorer: { type: 'exact' } }],
    });

    // Act
    const digests = [before, after].map((v) => parseSuiteValue(v, 'suite.json').digest);

    // Assess
    expect(digests[0]).not.toBe(digests[1]);
  });
});

describe('suiteJsonSchema', () => {
  it('describes the file for editors: an object with the tasks among its properties', () => {
    // Assess
    expect(suiteJsonSchema).toMatchObject({ type: 'object', properties: { tasks: { type: 'array' } } });
  });

  it('agrees with the parser on the examples', () => {
    // Prepare
    const validate = new Ajv2020({ strict: false }).compile(suiteJsonSchema);

    // Act
    const good = validate(JSON.parse(readExample('arithmetic.json')));
    const unknownField = validate({ ...JSON.parse(readExample('arithmetic.json')), owner: 'me' });

    // Assess
    expect(good).toBe(true);
    expect(unknownField).toBe(false);
  });
});
