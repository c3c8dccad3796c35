import { describe, expect, it } from 'vitest';
import { compileJsonSchema } from '#shared/ports/json-schema.js';

const ALL = { useDefaults: true, allErrors: true, strict: true } as const;

describe('compileJsonSchema', () => {
  it('compiles a schema once per schema (object or the same text parsed again) and options', () => {
    // Prepare
    const schema = { type: 'object', properties: { n: { type: 'integer' } } };

    // Act
    const first = compileJsonSchema(schema);
    const again = compileJsonSchema(schema, {});
    const withAll = compileJsonSchema(schema, ALL);
    const withAllAgain = compileJsonSchema(schema, { ...ALL });

    // Assess
    expect(again).toBe(first);
    expect(withAll).not.toBe(first);
    expect(withAllAgain).toBe(withAll);
    // The same schema parsed again (a stored runbook read per request) is not compiled again.
    expect(compileJsonSchema(JSON.parse(JSON.stringify(schema)))).toBe(first);
    expect(compileJsonSchema({ ...schema, required: ['n'] })).not.toBe(first);
  });

  it('by default reports the first error, leaves defaults out and ignores what it does not know', () => {
    // Prepare
    const validate = compileJsonSchema({
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'string' }, c: { type: 'string', default: 'x' } },
      colour: 'red',
    });
    const data: Record<string, unknown> = { a: 1, b: 2 };

    // Act
    const valid = validate(data);

    // Assess
    expect(valid).toBe(false);
    expect(validate.errors).toHaveLength(1);
    expect(data).toEqual({ a: 1, b: 2 });
    expect(() => compileJsonSchema({ type: 'string', format: 'email' })).not.toThrow();
  });

  it('fills in defaults and reports every error when asked', () => {
    // Prepare
    const schema = {
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'string' }, c: { type: 'string', default: 'x' } },
    };
    const validate = compileJsonSchema(schema, ALL);
    const wrong: Record<string, unknown> = { a: 1, b: 2 };
    const right: Record<string, unknown> = { a: 'y' };

    // Act
    const results = [validate(wrong), validate.errors?.map((error) => error.instancePath), validate(right)];

    // Assess
    expect(results).toEqual([false, ['/a', '/b'], true]);
    expect(right).toEqual({ a: 'y', c: 'x' });
  });

  it.each([
    ['an unknown keyword', { type: 'object', colour: 'red' }, /unknown keyword: "colour"/],
    ['a format, none being loaded', { type: 'string', format: 'email' }, /unknown format "email"/],
    [
      'a default ajv would ignore',
      { type: 'object', default: {}, anyOf: [{ default: 1 }] },
      /default is ignored/,
    ],
  ])('refuses %s when strict', (_name, schema, error) => {
    expect(() => compileJsonSchema(schema, ALL)).toThrow(error);
  });

  it('throws when a schema is invalid, also one that names itself', () => {
    expect(() => compileJsonSchema({ type: 'nope' })).toThrow(/schema is invalid/);
    expect(() => compileJsonSchema({ $id: 'urn:x:invalid', type: 'nope' })).toThrow(/schema is invalid/);
  });

  it('refuses an asynchronous schema', () => {
    expect(() => compileJsonSchema({ $async: true, type: 'object' })).toThrow(
      'asynchronous schemas ($async) are not supported',
    );
  });

  it('lets two schemas use the same $id, each validating by its own rules', () => {
    // Act
    const strings = compileJsonSchema({ $id: 'urn:conductor:same', type: 'string' });
    const numbers = compileJsonSchema({ $id: 'urn:conductor:same', type: 'number' });

    // Assess
    expect([strings('a'), strings(1), numbers('a'), numbers(1)]).toEqual([true, false, false, true]);
  });

  it('lets no schema shadow the meta-schema for those compiled after it', () => {
    // Prepare
    compileJsonSchema({ $id: 'https://json-schema.org/draft/2020-12/schema', type: 'boolean' });

    // Act
    const validate = compileJsonSchema({ type: 'object', required: ['a'] });

    // Assess
    expect([validate({ a: 1 }), validate({})]).toEqual([true, false]);
    expect(() => compileJsonSchema({ type: 'nope' })).toThrow(/schema is invalid/);
  });

  it('keeps no schema in the shared registry, so the same content compiles again as a new object', () => {
    // Prepare
    const schema = () => ({ type: 'array', items: { type: 'integer' } });

    // Act
    const validators = Array.from({ length: 3 }, () => compileJsonSchema(schema(), ALL));

    // Assess
    expect(validators.map((validate) => validate([1, 2]))).toEqual([true, true, true]);
  });
});
