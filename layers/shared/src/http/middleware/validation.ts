import type * as z from 'zod';
import { type FieldIssue, ValidationError } from '../../errors.js';
import { type KernelMiddleware, routeOf, stateOf } from './request-state.js';

const issuesOf = (where: string, error: z.ZodError): FieldIssue[] =>
  error.issues.flatMap((issue) => {
    const base = [where, ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: `${base}.${key}`, message: 'unknown field' }));
    }
    return [{ path: base, message: issue.message }];
  });

const validate = (where: string, schema: z.ZodType | undefined, value: unknown): unknown => {
  if (!schema) return undefined;
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = issuesOf(where, result.error);
    const first = issues[0];
    throw new ValidationError(
      first ? `Invalid request: ${first.path}: ${first.message}` : 'Invalid request.',
      issues,
    );
  }
  return result.data;
};

/**
 * Path parameters, query string and body through the route's zod schemas (400 naming each field
 * by its path, e.g. `body.metadata.region`); the route reads only what they let through.
 */
export const validation = (): KernelMiddleware => ({
  name: 'conductorValidation',
  before: ({ event, context }) => {
    const state = stateOf(context);
    const { spec } = routeOf(state);
    state.input = {
      params: validate('params', spec.params, event.pathParameters ?? {}),
      query: validate('query', spec.query, event.queryStringParameters ?? {}),
      body: validate('body', spec.body, state.body),
    };
  },
});
