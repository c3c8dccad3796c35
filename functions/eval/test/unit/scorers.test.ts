import { describe, expect, it } from 'vitest';
import type { GoldenTask, ScorerSpec } from '../../src/domain/model.js';
import {
  type CustomScoreFn,
  type JudgeRequest,
  outputOf,
  passes,
  REGEX_TEXT_CAP,
  ScorerError,
  scoreOutput,
} from '../../src/domain/scorers.js';

const taskOf = (scorer: ScorerSpec, expected?: unknown, extra: Partial<GoldenTask> = {}): GoldenTask => ({
  id: 't1',
  input: { question: '6*7' },
  ...(expected === undefined ? {} : { expected }),
  scorer,
  tolerance: 0,
  weight: 1,
  trials: 1,
  ...extra,
});
const NO_DEPS = {};
const score = (scorer: ScorerSpec, expected: unknown, output: unknown) =>
  scoreOutput(taskOf(scorer, expected), output, NO_DEPS);

describe('passes', () => {
  it('passes a score of at least 1 − tolerance, floating point noise included', () => {
    // Assess
    expect(passes(1, 0)).toBe(true);
    expect(passes(0.999_999, 0)).toBe(false);
    expect(passes(0.8, 0.2)).toBe(true);
    expect(passes(0.7 + 0.1, 0.2)).toBe(true); // 0.7999999999999999
    expect(passes(0.79, 0.2)).toBe(false);
    expect(passes(0, 1)).toBe(true);
  });
});

describe('outputOf', () => {
  it('follows a dotted path through objects and array indices', () => {
    // Prepare
    const answer = { choices: [{ text: 'a' }, { text: 'b' }], answer: { text: 'hi' } };

    // Act / Assess
    expect(outputOf(answer, 'answer.text')).toBe('hi');
    expect(outputOf(answer, 'choices.1.text')).toBe('b');
    expect(outputOf(answer, 'choices.0')).toEqual({ text: 'a' });
  });

  it('gives undefined for a path that leads nowhere', () => {
    // Prepare
    const answer = { choices: [{ text: 'a' }], n: 4 };

    // Act / Assess
    expect(outputOf(answer, 'choices.5.text')).toBeUndefined();
    expect(outputOf(answer, 'choices.first')).toBeUndefined();
    expect(outputOf(answer, 'n.value')).toBeUndefined();
    expect(outputOf(answer, 'missing')).toBeUndefined();
    expect(outputOf(answer, 'constructor')).toBeUndefined();
  });

  it('takes `output` from an object answer that has it, else the whole answer', () => {
    // Act / Assess
    expect(outputOf({ output: 42, latencyMs: 3 })).toBe(42);
    expect(outputOf({ output: null })).toBeNull();
    expect(outputOf({ answer: 42 })).toEqual({ answer: 42 });
    expect(outputOf([{ output: 1 }])).toEqual([{ output: 1 }]);
    expect(outputOf('forty-two')).toBe('forty-two');
  });
});

describe('the exact scorer', () => {
  it('scores equal JSON values 1, whatever the key order', async () => {
    // Act
    const result = await score(
      { type: 'exact' },
      { a: 1, b: [1, { c: null }] },
      { b: [1, { c: null }], a: 1 },
    );

    // Assess
    expect(result).toEqual({ score: 1 });
  });

  it('scores a different value 0 and says what it expected', async () => {
    // Act
    const result = await score({ type: 'exact' }, 42, 41);

    // Assess
    expect(result).toEqual({ score: 0, detail: 'expected 42, got 41' });
  });

  it('does not take a numeric string for a number', async () => {
    // Act
    const result = await score({ type: 'exact' }, 4, '4');

    // Assess
    expect(result).toEqual({ score: 0, detail: 'expected 4, got "4"' });
  });

  it('trims strings by default, not when trim is false', async () => {
    // Act
    const trimmed = await score({ type: 'exact' }, 'four', '  four\n');
    const untrimmed = await score({ type: 'exact', trim: false }, 'four', '  four\n');

    // Assess
    expect(trimmed.score).toBe(1);
    expect(untrimmed.score).toBe(0);
  });

  it('is case-sensitive by default, and folds case at any depth when caseSensitive is false', async () => {
    // Act
    const sensitive = await score({ type: 'exact' }, 'Four', 'four');
    const folded = await score(
      { type: 'exact', caseSensitive: false },
      { label: 'Positive' },
      { label: 'POSITIVE ' },
    );

    // Assess
    expect(sensitive.score).toBe(0);
    expect(folded.score).toBe(1);
  });

  it('tells arrays, objects and extra keys apart', async () => {
    // Act
    const results = await Promise.all([
      score({ type: 'exact' }, [1, 2], [1, 2, 3]),
      score({ type: 'exact' }, { a: 1 }, { a: 1, b: 2 }),
      score({ type: 'exact' }, {}, []),
      score({ type: 'exact' }, null, {}),
    ]);

    // Assess
    expect(results.map((r) => r.score)).toEqual([0, 0, 0, 0]);
  });

  it('scores a missing output 0, naming the path it looked at', async () => {
    // Act
    const result = await scoreOutput(
      taskOf({ type: 'exact' }, 4, { outputPath: 'answer' }),
      undefined,
      NO_DEPS,
    );

    // Assess
    expect(result).toEqual({ score: 0, detail: 'no output at answer' });
  });
});

describe('the contains scorer', () => {
  it('finds a string in a text output', async () => {
    // Act
    const result = await score({ type: 'contains' }, 'precedence', 'By precedence, 3*4 comes first: 14.');

    // Assess
    expect(result).toEqual({ score: 1 });
  });

  it('reads a non-string output as its JSON', async () => {
    // Act
    const result = await score({ type: 'contains' }, '"answer":14', { answer: 14 });

    // Assess
    expect(result.score).toBe(1);
  });

  it('scores the share of a list found, and names what is missing', async () => {
    // Act
    const result = await score(
      { type: 'contains' },
      ['14', 'precedence', 'multiply', 'add'],
      'It is 14: multiply first.',
    );

    // Assess
    expect(result.score).toBe(0.5);
    expect(result.detail).toMatch(/^missing "precedence", "add" in/);
  });

  it('is case-sensitive unless told otherwise', async () => {
    // Act
    const sensitive = await score({ type: 'contains' }, 'Fourteen', 'fourteen');
    const insensitive = await score({ type: 'contains', caseSensitive: false }, 'Fourteen', 'FOURTEEN');

    // Assess
    expect(sensitive.score).toBe(0);
    expect(insensitive.score).toBe(1);
  });

  it('fails as a scorer when expected is not text', async () => {
    // Act
    const act = score({ type: 'contains' }, 14, '14');

    // Assess
    await expect(act).rejects.toThrow(ScorerError);
  });
});

describe('the regex scorer', () => {
  it('matches the output as text, with its flags', async () => {
    // Act
    const digits = await score({ type: 'regex', pattern: '^\\d+$' }, undefined, 42);
    const flagged = await score({ type: 'regex', pattern: '^forty', flags: 'i' }, undefined, 'Forty-two');

    // Assess
    expect(digits).toEqual({ score: 1 });
    expect(flagged).toEqual({ score: 1 });
  });

  it('scores no match 0, naming the pattern', async () => {
    // Act
    const result = await score({ type: 'regex', pattern: '^\\d+$' }, undefined, 'forty-two');

    // Assess
    expect(result).toEqual({ score: 0, detail: 'no match for /^\\d+$/ of "forty-two"' });
  });

  it('gives the same answer on every call with the g flag (no state left between calls)', async () => {
    // Prepare
    const task = taskOf({ type: 'regex', pattern: 'a', flags: 'g' });

    // Act
    const results = await Promise.all([1, 2, 3].map(() => scoreOutput(task, 'a', NO_DEPS)));

    // Assess
    expect(results.map((r) => r.score)).toEqual([1, 1, 1]);
  });

  it('tests only the first 100,000 characters of the output', async () => {
    // Prepare
    const output = `${'a'.repeat(REGEX_TEXT_CAP)}needle`;

    // Act
    const result = await score({ type: 'regex', pattern: 'needle' }, undefined, output);

    // Assess
    expect(REGEX_TEXT_CAP).toBe(100_000);
    expect(result.score).toBe(0);
    expect(result.detail).toContain('in the first 100000 characters');
  });

  it('fails as a scorer when the pattern does not compile', async () => {
    // Act
    const act = score({ type: 'regex', pattern: '(' }, undefined, 'x');

    // Assess
    await expect(act).rejects.toThrow(ScorerError);
    await expect(act).rejects.toThrow(/Unterminated group/);
  });
});

describe('the numeric scorer', () => {
  it('passes a number within the absolute tolerance, bounds included', async () => {
    // Act
    const results = await Promise.all([
      score({ type: 'numeric', tolerance: 0.5 }, 42, 41.5),
      score({ type: 'numeric', tolerance: 0.5 }, 42, 42.5),
      score({ type: 'numeric', tolerance: 0 }, 0.3, 0.1 + 0.2),
    ]);

    // Assess
    expect(results).toEqual([{ score: 1 }, { score: 1 }, { score: 1 }]);
  });

  it('fails a number outside the tolerance, saying by how much it may differ', async () => {
    // Act
    const result = await score({ type: 'numeric', tolerance: 0.5 }, 42, 41.2);

    // Assess
    expect(result).toEqual({ score: 0, detail: 'expected 42 ± 0.5, got 41.2' });
  });

  it('scales a relative tolerance by |expected|', async () => {
    // Act
    const inside = await score({ type: 'numeric', tolerance: 0.05, relative: true }, -200, -209);
    const outside = await score({ type: 'numeric', tolerance: 0.05, relative: true }, -200, -211);

    // Assess
    expect(inside.score).toBe(1);
    expect(outside).toEqual({ score: 0, detail: 'expected -200 ± 10 (5 %), got -211' });
  });

  it('reads a numeric string, but not a word, an empty string or hex', async () => {
    // Act
    const results = await Promise.all(
      [' 42.0 ', '4.2e1', 'forty-two', '', '0x2A', 'Infinity'].map((output) =>
        score({ type: 'numeric', tolerance: 0 }, 42, output),
      ),
    );

    // Assess
    expect(results.map((r) => r.score)).toEqual([1, 1, 0, 0, 0, 0]);
    expect(results[2]?.detail).toBe('expected 42 ± 0, got "forty-two", not a number');
  });

  it('fails as a scorer when expected is not a number', async () => {
    // Act
    const act = score({ type: 'numeric', tolerance: 0 }, '42', 42);

    // Assess
    await expect(act).rejects.toThrow(ScorerError);
  });
});

describe('the json-subset scorer', () => {
  it('scores 1 when every expected key and value is in the output, extra keys and items allowed', async () => {
    // Prepare
    const expected = { answer: 9, steps: [{ op: 'add' }, { op: 'multiply' }] };
    const output = {
      answer: 9,
      steps: [{ op: 'add', result: 3 }, { op: 'multiply', result: 9 }, { op: 'done' }],
      ms: 3,
    };

    // Act
    const result = await score({ type: 'json-subset' }, expected, output);

    // Assess
    expect(result).toEqual({ score: 1 });
  });

  it('scores the share of expected leaves found, and names the first one missing', async () => {
    // Prepare
    const expected = {
      answer: 9,
      steps: [
        { op: 'add', result: 3 },
        { op: 'multiply', result: 9 },
      ],
    };
    const output = { answer: 9, steps: [{ op: 'add', result: 4 }] };

    // Act
    const result = await score({ type: 'json-subset' }, expected, output);

    // Assess
    expect(result.score).toBe(2 / 5);
    expect(result.detail).toBe(
      '2 of 5 expected values found; first missing: steps[0].result: expected 3, got 4',
    );
  });

  it('matches arrays by index, not anywhere', async () => {
    // Act
    const result = await score({ type: 'json-subset' }, [1, 2], [2, 1]);

    // Assess
    expect(result.score).toBe(0);
  });

  it('counts an empty object or array as one value, found when the output has one there', async () => {
    // Act
    const found = await score(
      { type: 'json-subset' },
      { meta: {}, tags: [] },
      { meta: { a: 1 }, tags: ['x'] },
    );
    const missing = await score({ type: 'json-subset' }, { meta: {}, tags: [] }, { meta: [], tags: {} });

    // Assess
    expect(found.score).toBe(1);
    expect(missing.score).toBe(0);
  });

  it('does not take a numeric string for a number', async () => {
    // Act
    const result = await score({ type: 'json-subset' }, { answer: 4 }, { answer: '4' });

    // Assess
    expect(result.score).toBe(0);
  });
});

describe('the json-schema scorer', () => {
  const schema = {
    type: 'object',
    properties: { answer: { type: 'integer' }, steps: { type: 'array', items: { type: 'string' } } },
    required: ['answer'],
  };

  it('scores an output valid against the schema 1', async () => {
    // Act
    const result = await score({ type: 'json-schema', schema }, undefined, { answer: 4, steps: ['2+2'] });

    // Assess
    expect(result).toEqual({ score: 1 });
  });

  it('scores an invalid output 0, with the first error and where it is', async () => {
    // Act
    const wrongType = await score({ type: 'json-schema', schema }, undefined, { answer: 4, steps: [1] });
    const missing = await score({ type: 'json-schema', schema }, undefined, {});

    // Assess
    expect(wrongType).toEqual({ score: 0, detail: '/steps/0 must be string' });
    expect(missing).toEqual({ score: 0, detail: "/ must have required property 'answer'" });
  });

  it('supports draft 2020-12 keywords', async () => {
    // Prepare
    const tuple = { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false };

    // Act
    const good = await score({ type: 'json-schema', schema: tuple }, undefined, ['a', 1]);
    const long = await score({ type: 'json-schema', schema: tuple }, undefined, ['a', 1, 2]);

    // Assess
    expect(good.score).toBe(1);
    expect(long.score).toBe(0);
  });

  it('lets two schemas share an $id', async () => {
    // Act
    const first = await score(
      { type: 'json-schema', schema: { $id: 'https://example.com/answer.json', type: 'number' } },
      undefined,
      1,
    );
    const second = await score(
      { type: 'json-schema', schema: { $id: 'https://example.com/answer.json', type: 'string' } },
      undefined,
      'a',
    );

    // Assess
    expect([first.score, second.score]).toEqual([1, 1]);
  });

  it('keeps a schema that claims the meta-schema’s $id from breaking the schemas after it', async () => {
    // Prepare
    const impostor = { $id: 'https://json-schema.org/draft/2020-12/schema', type: 'string' };

    // Act
    const claimed = await score({ type: 'json-schema', schema: impostor }, undefined, 'a');
    const after = await score({ type: 'json-schema', schema: { type: 'integer' } }, undefined, 1.5);
    const invalidAfter = score({ type: 'json-schema', schema: { type: 'strin' } }, undefined, 1);

    // Assess
    expect(claimed.score).toBe(1);
    expect(after).toEqual({ score: 0, detail: '/ must be integer' });
    await expect(invalidAfter).rejects.toThrow(/schema is invalid/);
  });

  it('fails as a scorer when a schema that names itself is invalid', async () => {
    // Act
    const act = score(
      { type: 'json-schema', schema: { $id: 'https://example.com/x', minimum: 'a' } },
      undefined,
      1,
    );

    // Assess
    await expect(act).rejects.toThrow(
      "the json-schema scorer's schema does not compile: schema is invalid: data/minimum must be number",
    );
  });

  it('fails as a scorer when the schema does not compile', async () => {
    // Act
    const act = score({ type: 'json-schema', schema: { type: 'strin' } }, undefined, 1);

    // Assess
    await expect(act).rejects.toThrow(ScorerError);
    await expect(act).rejects.toThrow(/schema is invalid/);
  });
});

describe('the custom scorer', () => {
  const spec: ScorerSpec = { type: 'custom', module: './scorers/close.js' };
  const depsWith = (fn: CustomScoreFn) => {
    const loaded: string[] = [];
    return {
      loaded,
      deps: {
        custom: async (module: string, exportName: string) => {
          loaded.push(`${module}#${exportName}`);
          return fn;
        },
      },
    };
  };

  it('loads the module’s `score` export and hands it the output, expected, input and task', async () => {
    // Prepare
    const seen: unknown[] = [];
    const { deps, loaded } = depsWith((args) => {
      seen.push(args);
      return 0.75;
    });
    const task = taskOf(spec, 42);

    // Act
    const result = await scoreOutput(task, 41, deps);

    // Assess
    expect(result).toEqual({ score: 0.75 });
    expect(loaded).toEqual(['./scorers/close.js#score']);
    expect(seen).toEqual([{ output: 41, expected: 42, input: { question: '6*7' }, task }]);
  });

  it('uses the named export, and keeps a detail it returns', async () => {
    // Prepare
    const { deps, loaded } = depsWith(async () => ({ score: 0, detail: 'off by one' }));

    // Act
    const result = await scoreOutput(taskOf({ ...spec, export: 'close' }, 42), 41, deps);

    // Assess
    expect(result).toEqual({ score: 0, detail: 'off by one' });
    expect(loaded).toEqual(['./scorers/close.js#close']);
  });

  it.each<[string, CustomScoreFn]>([
    ['a score above 1', () => 1.5],
    ['a negative score', () => -0.1],
    ['NaN', () => Number.NaN],
    ['an object without a score', () => ({ detail: 'hm' }) as never],
    ['a string', () => '1' as never],
  ])('fails as a scorer when the module returns %s', async (_name, fn) => {
    // Act
    const act = scoreOutput(taskOf(spec, 42), 41, depsWith(fn).deps);

    // Assess
    await expect(act).rejects.toThrow(ScorerError);
    await expect(act).rejects.toThrow(/a score is a number in \[0, 1\]/);
  });

  it('turns what the module throws into a ScorerError that keeps the cause', async () => {
    // Prepare
    const boom = new TypeError('output.map is not a function');
    const { deps } = depsWith(() => {
      throw boom;
    });

    // Act
    const error = await scoreOutput(taskOf(spec, 42), 41, deps).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(ScorerError);
    expect(error).toMatchObject({
      name: 'ScorerError',
      message: 'custom scorer ./scorers/close.js#score failed: output.map is not a function',
      cause: boom,
    });
  });

  it('fails as a scorer when the module cannot be loaded', async () => {
    // Prepare
    const deps = {
      custom: async () => {
        throw new Error('Cannot find module');
      },
    };

    // Act
    const act = scoreOutput(taskOf(spec, 42), 41, deps);

    // Assess
    await expect(act).rejects.toThrow(ScorerError);
  });

  it('runs only in standalone mode', async () => {
    // Act
    const act = scoreOutput(taskOf(spec, 42), 41, NO_DEPS);

    // Assess
    await expect(act).rejects.toThrow(
      new ScorerError('custom scorers run only in standalone mode (conductor-eval run)'),
    );
  });
});

describe('the rubric scorer', () => {
  const spec: ScorerSpec = {
    type: 'rubric',
    judgeExpertId: 'judge-1',
    rubric: 'Is the explanation correct?',
  };

  it('asks the judge and takes its score', async () => {
    // Prepare
    const requests: JudgeRequest[] = [];
    const judge = async (request: JudgeRequest) => {
      requests.push(request);
      return 0.8;
    };

    // Act
    const result = await scoreOutput(taskOf(spec, 'fourteen'), 'It is 14.', { judge });

    // Assess
    expect(result).toEqual({ score: 0.8 });
    expect(requests).toEqual([
      {
        judgeExpertId: 'judge-1',
        rubric: 'Is the explanation correct?',
        input: { question: '6*7' },
        output: 'It is 14.',
        expected: 'fourteen',
      },
    ]);
  });

  it('leaves expected out of the request when the task has none', async () => {
    // Prepare
    const requests: JudgeRequest[] = [];

    const judge = async (request: JudgeRequest) => {
      requests.push(request);
      return 1;
    };

    // Act
    await scoreOutput(taskOf(spec), 'x', { judge });

    // Assess
    expect(requests[0]).not.toHaveProperty('expected');
  });

  it.each([1.2, -1, Number.NaN, Number.POSITIVE_INFINITY])(
    'fails as a scorer when the judge answers %s',
    async (answer) => {
      // Act
      const act = scoreOutput(taskOf(spec), 'x', { judge: async () => answer });

      // Assess
      await expect(act).rejects.toThrow(ScorerError);
    },
  );

  it('fails as a scorer when the judge throws, or when there is no judge', async () => {
    // Act
    const thrown = scoreOutput(taskOf(spec), 'x', {
      judge: async () => {
        throw new Error('judge-1 answered 503');
      },
    });
    const absent = scoreOutput(taskOf(spec), 'x', NO_DEPS);

    // Assess
    await expect(thrown).rejects.toThrow(new ScorerError('judge judge-1 failed: judge-1 answered 503'));
    await expect(absent).rejects.toThrow(ScorerError);
  });
});
