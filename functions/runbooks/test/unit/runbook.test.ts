// biome-ignore-all lint/suspicious/noTemplateCurlyInString: runbook placeholders (${params.x}, ${steps.x.output}) are the subject of these strings, not JS templates.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError } from '#shared/errors.js';
import {
  parseRunbook,
  parseRunbookValue,
  type RunbookAllowLists,
  RunbookError,
  RunbookParametersError,
  validateParams,
} from '../../src/domain/runbook.js';

const EXAMPLES = resolve(import.meta.dirname, '../../../../runbooks');
const readExample = (name: string) => readFileSync(resolve(EXAMPLES, name), 'utf8');
const SHIPPED_ALLOW_LISTS: RunbookAllowLists = {
  allowedLambdas: ['conductor-cache-flush'],
  allowedAwsApis: ['kms:CreateKey', 'kms:UpdateAlias', 'ecs:UpdateService'],
};

type Json = Record<string, unknown>;
const runbookOf = (overrides: Json = {}): Json => ({
  apiVersion: 'conductor.runbook/v1',
  id: 'scale-service',
  version: 2,
  description: 'Scale a service.',
  parameters: {
    type: 'object',
    required: ['service'],
    additionalProperties: false,
    properties: {
      service: { type: 'string', enum: ['billing', 'search'] },
      replicas: { type: 'integer', minimum: 1, maximum: 10, default: 2 },
    },
  },
  approvals: [{ name: 'on-call', roles: ['operator'], minApprovers: 1, timeoutSeconds: 3600 }],
  steps: [{ id: 'tell', name: 'Tell', type: 'notify', channel: 'slack:#ops', message: 'Scaling a service' }],
  ...overrides,
});
/** A valid runbook whose second step (steps[1]) is `step`. */
const runbookWithStep = (step: Json, overrides: Json = {}): Json =>
  runbookOf({
    steps: [
      { id: 'first', name: 'First', type: 'aws-api', service: 'ecs', action: 'ecs:UpdateService' },
      step,
    ],
    ...overrides,
  });
const step = (fields: Json): Json => ({ id: 'bad', name: 'Bad step', ...fields });

/** The RunbookError that parsing `value` throws. */
const refusalOf = (value: unknown, allowLists: RunbookAllowLists = {}): RunbookError => {
  try {
    parseRunbookValue(value, 'runbook.json', allowLists);
  } catch (error) {
    if (error instanceof RunbookError) return error;
    throw error;
  }
  throw new Error('the runbook parsed');
};
const problemLines = (value: unknown, allowLists: RunbookAllowLists = {}): string[] =>
  refusalOf(value, allowLists).message.split('\n');

describe('parseRunbook', () => {
  it('parses the shipped examples with their allow-lists', () => {
    // Act
    const restart = parseRunbook(
      readExample('restart-service.json'),
      'restart-service.json',
      SHIPPED_ALLOW_LISTS,
    );
    const rotation = parseRunbook(readExample('key-rotation.json'), 'key-rotation.json', SHIPPED_ALLOW_LISTS);

    // Assess
    expect(restart.steps.map((s) => s.type)).toEqual(['http', 'manual']);
    expect(restart.approvals).toHaveLength(1);
    expect(rotation.steps.filter((s) => s.privileged).map((s) => s.type === 'aws-api' && s.action)).toEqual([
      'kms:CreateKey',
      'kms:UpdateAlias',
    ]);
    expect(rotation.steps.some((s) => s.type === 'notify')).toBe(true);
    expect(rotation.approvals).toEqual([expect.objectContaining({ minApprovers: 2 })]);
  });

  it('applies the defaults and drops $schema, which is for editors', () => {
    // Prepare
    const value = runbookOf({ $schema: './runbook.schema.json', approvals: undefined });

    // Act
    const runbook = parseRunbookValue(value, 'runbook.json');

    // Assess
    expect(runbook).not.toHaveProperty('$schema');
    expect(runbook.approvals).toEqual([]);
    expect(runbook.steps[0]?.privileged).toBe(false);
  });

  it('says where invalid JSON stops, by line and column', () => {
    // Act
    const error = (() => {
      try {
        parseRunbook('{\n  "id": "x",\n  "version": 1,,\n}', 'broken.json');
      } catch (caught) {
        return caught;
      }
    })();

    // Assess
    expect(error).toBeInstanceOf(RunbookError);
    expect((error as Error).message).toMatch(/^broken\.json: invalid JSON at line 3, column 16: /);
  });

  it('is a 400 invalid_runbook AppError listing every problem, one line each, with the issues as details', () => {
    // Prepare
    const value = runbookOf({ version: 0, colour: 'red', steps: [step({ type: 'wait', seconds: 0 })] });

    // Act
    const error = refusalOf(value);

    // Assess
    expect(error).toBeInstanceOf(AppError);
    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('invalid_runbook');
    expect(error.message.split('\n')).toEqual([
      'runbook.json: version: must be at least 1, got 0',
      'runbook.json: colour: unknown field',
      'runbook.json: steps[0].seconds: must be at least 1, got 0',
    ]);
    expect(error.details).toEqual({
      issues: [
        { path: 'version', message: 'must be at least 1, got 0' },
        { path: 'colour', message: 'unknown field' },
        { path: 'steps[0].seconds', message: 'must be at least 1, got 0' },
      ],
    });
  });

  it('reports at most 20 problems and counts the rest', () => {
    // Prepare
    const steps = Array.from({ length: 25 }, (_, i) => step({ id: `w${i}`, type: 'wait', seconds: 0 }));

    // Act
    const lines = problemLines(runbookOf({ steps }));

    // Assess
    expect(lines).toHaveLength(21);
    expect(lines.at(-1)).toBe('runbook.json: …and 5 more problems');
  });

  it('names the path of a value JSON cannot hold', () => {
    // Act
    const lines = problemLines(
      runbookWithStep(step({ type: 'lambda', functionName: 'f', payload: { ratio: Number.NaN } })),
    );

    // Assess
    expect(lines).toEqual(['runbook.json: steps[1].payload.ratio: NaN is not a JSON number']);
  });

  describe('refuses, naming the path', () => {
    const cases: readonly (readonly [string, Json, string, RunbookAllowLists?])[] = [
      ['an unknown field', runbookOf({ owner: 'me' }), 'owner: unknown field'],
      [
        'another apiVersion',
        runbookOf({ apiVersion: 'conductor.runbook/v2' }),
        'apiVersion: must be "conductor.runbook/v1"',
      ],
      ['a bad id', runbookOf({ id: '-scale' }), 'id: must be 1-128 letters'],
      [
        'a version that is not an integer',
        runbookOf({ version: 1.5 }),
        'version: expected an integer, got 1.5',
      ],
      ['a missing description', runbookOf({ description: undefined }), 'description: is required'],
      ['a blank description', runbookOf({ description: '  ' }), 'description: must not be empty'],
      [
        'a parameter schema that is not of type object',
        runbookOf({ parameters: { type: 'string' } }),
        'parameters.type: must be "object", got "string"',
      ],
      [
        'a parameter schema that does not compile',
        runbookOf({ parameters: { type: 'object', properties: { n: { type: 'integr' } } } }),
        'parameters: is not a valid JSON Schema',
      ],
      [
        'a parameter schema with an unknown keyword',
        runbookOf({ parameters: { type: 'object', properties: { n: { type: 'integer', minimun: 1 } } } }),
        'parameters: is not a valid JSON Schema: strict mode: unknown keyword: "minimun"',
      ],
      [
        'an approval stage name used twice',
        runbookOf({
          approvals: [
            { name: 'on-call', roles: ['operator'], minApprovers: 1, timeoutSeconds: 3600 },
            { name: 'on-call', roles: ['admin'], minApprovers: 1, timeoutSeconds: 3600 },
          ],
        }),
        'approvals[1].name: duplicate name "on-call", also approvals[0].name',
      ],
      [
        'an unknown role',
        runbookOf({ approvals: [{ name: 'a', roles: ['root'], minApprovers: 1, timeoutSeconds: 3600 }] }),
        'approvals[0].roles[0]: must be "viewer" or "operator" or "admin" or "tenant-admin" or "org-admin", got "root"',
      ],
      [
        'a role listed twice',
        runbookOf({
          approvals: [{ name: 'a', roles: ['admin', 'admin'], minApprovers: 1, timeoutSeconds: 3600 }],
        }),
        'approvals[0].roles[1]: duplicate role "admin"',
      ],
      [
        'more than 10 approvers',
        runbookOf({ approvals: [{ name: 'a', roles: ['admin'], minApprovers: 11, timeoutSeconds: 3600 }] }),
        'approvals[0].minApprovers: must be at most 10, got 11',
      ],
      [
        'an approval timeout under a minute',
        runbookOf({ approvals: [{ name: 'a', roles: ['admin'], minApprovers: 1, timeoutSeconds: 59 }] }),
        'approvals[0].timeoutSeconds: must be at least 60, got 59',
      ],
      [
        'an approval timeout over a week',
        runbookOf({ approvals: [{ name: 'a', roles: ['admin'], minApprovers: 1, timeoutSeconds: 604_801 }] }),
        'approvals[0].timeoutSeconds: must be at most 604800, got 604801',
      ],
      [
        'an escalation that comes after the timeout',
        runbookOf({
          approvals: [
            {
              name: 'a',
              roles: ['admin'],
              minApprovers: 1,
              timeoutSeconds: 3600,
              escalation: { afterSeconds: 3600, notify: ['pager:x'] },
            },
          ],
        }),
        "approvals[0].escalation.afterSeconds: must be less than the stage's timeoutSeconds (3600)",
      ],
      [
        'an escalation that notifies no one',
        runbookOf({
          approvals: [
            {
              name: 'a',
              roles: ['admin'],
              minApprovers: 1,
              timeoutSeconds: 3600,
              escalation: { afterSeconds: 600, notify: [] },
            },
          ],
        }),
        'approvals[0].escalation.notify: must have at least 1 item, got 0',
      ],
      [
        'a privileged step with no approval stage',
        runbookWithStep(step({ type: 'wait', seconds: 5, privileged: true }), { approvals: [] }),
        'approvals: steps[1] is privileged: at least one approval stage is required',
      ],
      ['no steps', runbookOf({ steps: [] }), 'steps: must have at least 1 item, got 0'],
      [
        'more than 50 steps',
        runbookOf({
          steps: Array.from({ length: 51 }, (_, i) => step({ id: `w${i}`, type: 'wait', seconds: 1 })),
        }),
        'steps: must have at most 50 items, got 51',
      ],
      [
        'a step id used twice',
        runbookWithStep(step({ id: 'first', type: 'wait', seconds: 1 })),
        'steps[1].id: duplicate id "first", also steps[0].id',
      ],
      [
        'an unknown step type',
        runbookWithStep(step({ type: 'shell', command: 'rm -rf /' })),
        'steps[1].type: unknown "shell" (one of http, lambda, aws-api, wait, notify, manual)',
      ],
      [
        'a step with no type',
        runbookWithStep(step({ seconds: 1 })),
        'steps[1].type: is required (one of http, lambda, aws-api, wait, notify, manual)',
      ],
      [
        'a field of another step type',
        runbookWithStep(step({ type: 'wait', seconds: 1, url: 'https://example.com' })),
        'steps[1].url: unknown field',
      ],
      [
        'a step timeout of zero',
        runbookWithStep(step({ type: 'wait', seconds: 1, timeoutSeconds: 0 })),
        'steps[1].timeoutSeconds: must be at least 1, got 0',
      ],
      [
        'an HTTP method the outbound client does not send',
        runbookWithStep(step({ type: 'http', method: 'DELETE', url: 'https://example.com' })),
        'steps[1].method: must be "GET" or "POST" or "PUT", got "DELETE"',
      ],
      [
        'a relative URL',
        runbookWithStep(step({ type: 'http', method: 'GET', url: '/restart' })),
        'steps[1].url: must be an absolute http(s) URL',
      ],
      [
        'a URL that is only a placeholder',
        runbookWithStep(step({ type: 'http', method: 'GET', url: '${params.service}' })),
        'steps[1].url: must be an absolute http(s) URL (placeholders may fill in parts of it, not all of it)',
      ],
      [
        'a URL of another scheme',
        runbookWithStep(step({ type: 'http', method: 'GET', url: 'file:///etc/passwd' })),
        'steps[1].url: must use https: or http:, not file:',
      ],
      [
        'a URL with credentials',
        runbookWithStep(step({ type: 'http', method: 'GET', url: 'https://user:secret@example.com/' })),
        'steps[1].url: must not embed credentials (send them in a header)',
      ],
      [
        'a GET with a body',
        runbookWithStep(step({ type: 'http', method: 'GET', url: 'https://example.com', body: { a: 1 } })),
        'steps[1].body: a GET request has no body',
      ],
      [
        'a header name that is not a token',
        runbookWithStep(
          step({ type: 'http', method: 'GET', url: 'https://example.com', headers: { 'a b': 'x' } }),
        ),
        'steps[1].headers["a b"]: is not a header name',
      ],
      [
        'a Lambda function that is not on the allow-list',
        runbookWithStep(step({ type: 'lambda', functionName: 'delete-everything' })),
        'steps[1].functionName: "delete-everything" is not an allowed Lambda function (allowed: conductor-cache-flush)',
        { allowedLambdas: ['conductor-cache-flush'] },
      ],
      [
        'a Lambda function when the allow-list is empty',
        runbookWithStep(step({ type: 'lambda', functionName: 'anything' })),
        'steps[1].functionName: "anything" is not an allowed Lambda function (none is allowed here)',
        { allowedLambdas: [] },
      ],
      [
        'a Lambda ARN instead of a name',
        runbookWithStep(
          step({ type: 'lambda', functionName: 'arn:aws:lambda:us-east-1:123456789012:function:f' }),
        ),
        'steps[1].functionName: must be a function name (1-64 of A-Z a-z 0-9 _ -)',
      ],
      [
        'an AWS action that is not on the allow-list',
        runbookWithStep(step({ type: 'aws-api', service: 'iam', action: 'iam:CreateUser' })),
        'steps[1].action: "iam:CreateUser" is not an allowed AWS API action (allowed: ecs:UpdateService, iam:ListUsers)',
        { allowedAwsApis: ['ecs:UpdateService', 'iam:ListUsers'] },
      ],
      [
        'an AWS action of another service',
        runbookWithStep(step({ type: 'aws-api', service: 'ecs', action: 'iam:CreateUser' })),
        'steps[1].action: must start with "ecs:"',
      ],
      [
        'an AWS action with no service prefix',
        runbookWithStep(step({ type: 'aws-api', service: 'ecs', action: 'UpdateService' })),
        'steps[1].action: must be "<service>:<Operation>"',
      ],
      [
        'a wait of more than a day',
        runbookWithStep(step({ type: 'wait', seconds: 86_401 })),
        'steps[1].seconds: must be at most 86400, got 86401',
      ],
      [
        'a notification with no message',
        runbookWithStep(step({ type: 'notify', channel: 'slack:#ops' })),
        'steps[1].message: is required',
      ],
      [
        'a manual step with blank instructions',
        runbookWithStep(step({ type: 'manual', instructions: '\n' })),
        'steps[1].instructions: must not be empty',
      ],
      [
        'a placeholder naming no parameter',
        runbookWithStep(step({ type: 'http', method: 'POST', url: 'https://example.com/${params.servce}' })),
        'steps[1].url: ${params.servce} names no parameter (parameters: service, replicas)',
      ],
      [
        'a placeholder deep in a body',
        runbookWithStep(
          step({
            type: 'http',
            method: 'POST',
            url: 'https://example.com',
            body: { items: [{ n: '${params.replicas}' }, { n: '${params.count}' }] },
          }),
        ),
        'steps[1].body.items[1].n: ${params.count} names no parameter (parameters: service, replicas)',
      ],
      [
        'a placeholder of an unknown kind',
        runbookWithStep(step({ type: 'manual', instructions: 'Run it as ${env.USER}' })),
        'steps[1].instructions: unknown placeholder ${env.USER} (use ${params.<name>} or ${steps.<id>.output…})',
      ],
      [
        'an unclosed placeholder',
        runbookWithStep(step({ type: 'notify', channel: 'slack:#ops', message: 'Scaling ${params.service' })),
        'steps[1].message: unclosed "${" (write "$${" for a literal "${")',
      ],
      [
        'the output of a later step',
        runbookWithStep(step({ type: 'manual', instructions: 'See ${steps.bad.output}' })),
        'steps[1].instructions: ${steps.bad.output} names no earlier step',
      ],
      [
        'the output of a step that has none',
        runbookOf({
          steps: [
            step({ id: 'pause', type: 'wait', seconds: 5 }),
            step({ type: 'manual', instructions: '${steps.pause.output}' }),
          ],
        }),
        'steps[1].instructions: ${steps.pause.output}: a wait step has no output',
      ],
    ];

    it.each(cases.map(([name, value, expected, allowLists]) => ({ name, value, expected, allowLists })))(
      '$name',
      ({ value, expected, allowLists }) => {
        // Act
        const lines = problemLines(value, allowLists);

        // Assess
        expect(lines).toHaveLength(1);
        expect(lines[0]).toContain(`runbook.json: ${expected}`);
      },
    );
  });

  it('accepts $${ as a literal ${ and the output of an earlier step, down to a field', () => {
    // Prepare
    const value = runbookWithStep(
      step({
        type: 'manual',
        instructions: 'echo $${HOME}; the service is ${steps.first.output.service.status}',
      }),
    );

    // Act
    const runbook = parseRunbookValue(value, 'runbook.json');

    // Assess
    expect(runbook.steps[1]).toMatchObject({ type: 'manual' });
  });

  it('checks allow-lists only when given', () => {
    // Prepare
    const value = runbookWithStep(step({ type: 'lambda', functionName: 'any-function' }));

    // Act
    const runbook = parseRunbookValue(value, 'runbook.json');

    // Assess
    expect(runbook.steps[1]).toMatchObject({ functionName: 'any-function' });
  });
});

describe('validateParams', () => {
  const runbook = parseRunbookValue(runbookOf(), 'runbook.json');

  it('fills in the defaults on a copy', () => {
    // Prepare
    const params = { service: 'billing' };

    // Act
    const valid = validateParams(runbook, params);

    // Assess
    expect(valid).toEqual({ service: 'billing', replicas: 2 });
    expect(params).toEqual({ service: 'billing' });
  });

  it('refuses with a 400 invalid_parameters listing every problem with its path', () => {
    // Act
    const error = (() => {
      try {
        validateParams(runbook, { replicas: 11, extra: true });
      } catch (caught) {
        return caught;
      }
    })();

    // Assess
    expect(error).toBeInstanceOf(RunbookParametersError);
    const refused = error as RunbookParametersError;
    expect(refused.statusCode).toBe(400);
    expect(refused.code).toBe('invalid_parameters');
    expect(refused.issues).toEqual(
      expect.arrayContaining([
        { path: 'params.service', message: 'is required' },
        { path: 'params.extra', message: 'unknown parameter' },
        { path: 'params.replicas', message: 'must be <= 10' },
      ]),
    );
    expect(refused.message.split('\n')).toContain('runbook scale-service v2: params.service: is required');
  });

  it('takes no parameters as an empty object', () => {
    // Prepare
    const optional = parseRunbookValue(
      runbookOf({
        parameters: { type: 'object', properties: { dryRun: { type: 'boolean', default: true } } },
      }),
      'runbook.json',
    );

    // Act
    const valid = validateParams(optional);

    // Assess
    expect(valid).toEqual({ dryRun: true });
  });

  it('refuses parameters that are not an object, and values JSON cannot hold', () => {
    // Act
    const notObject = (() => {
      try {
        validateParams(runbook, ['billing']);
      } catch (caught) {
        return caught as RunbookParametersError;
      }
    })();
    const notJson = (() => {
      try {
        validateParams(runbook, { service: 'billing', replicas: Number.POSITIVE_INFINITY });
      } catch (caught) {
        return caught as RunbookParametersError;
      }
    })();

    // Assess
    expect(notObject?.issues).toEqual([{ path: 'params', message: 'must be object' }]);
    expect(notJson?.issues).toEqual([{ path: 'params.replicas', message: 'Infinity is not a JSON number' }]);
  });
});
