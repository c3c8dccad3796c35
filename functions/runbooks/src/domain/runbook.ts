/**
 * The runbook file, `conductor.runbook/v1` (JSON), its parser and the check of an execution's
 * parameters. Examples: `runbooks/restart-service.json`, `runbooks/key-rotation.json`.
 *
 * ```json
 * { "apiVersion": "conductor.runbook/v1", "id": "restart-service", "version": 3,
 *   "description": "Restart one service through its admin endpoint.",
 *   "parameters": { "type": "object", "required": ["service"], "additionalProperties": false,
 *                   "properties": { "service": { "type": "string", "enum": ["billing", "search"] },
 *                                   "drain": { "type": "boolean", "default": true } } },
 *   "approvals": [{ "name": "on-call", "roles": ["operator", "admin"], "minApprovers": 1, "timeoutSeconds": 3600,
 *                   "escalation": { "afterSeconds": 900, "notify": ["pager:platform"] } }],
 *   "steps": [
 *     { "id": "restart", "name": "Restart", "type": "http", "privileged": true, "method": "POST",
 *       "url": "https://admin.example.com/services/${params.service}/restart", "body": { "drain": "${params.drain}" } },
 *     { "id": "check", "name": "Check the dashboard", "type": "manual", "instructions": "Is ${params.service} green?" }] }
 * ```
 *
 * - `id` and step ids, stage names: 1-128 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit;
 *   step ids and stage names are unique. `version` is a positive integer. An unknown field anywhere
 *   is an error; `$schema` is allowed (for editors) and dropped.
 * - `parameters`: a JSON Schema (draft 2020-12) of `type: "object"` that compiles (no `format`,
 *   unknown keywords are errors). Its `default`s fill in an execution's parameters.
 * - `steps` (1-50), each `{ id, name, type, privileged (default false), timeoutSeconds? }` and by type:
 *   `http` `{ method: GET|POST|PUT, url (absolute http(s)), headers?, body? (not with GET) }`, sent
 *   through the kernel's guarded outbound client; `lambda` `{ functionName, payload? }`; `aws-api`
 *   `{ service: "ecs", action: "ecs:UpdateService", input? }`; `wait` `{ seconds: 1-86400 }`;
 *   `notify` `{ channel, message }`; `manual` `{ instructions }` (a person confirms).
 *   Lambda names and AWS actions are checked against the allow-lists the caller passes.
 * - `approvals` (0-10 stages, at least one when a step is privileged): `{ name, roles, minApprovers
 *   1-10 (distinct people), timeoutSeconds 60-604800, escalation?: { afterSeconds (below the
 *   timeout), notify: channels } }`.
 * - Placeholders in a step's strings: `${params.<name>}` names a property of `parameters`;
 *   `${steps.<id>.output}` or `${steps.<id>.output.<a.b>}` names an earlier http, lambda or aws-api
 *   step; `$${` is a literal `${`. Anything else between `${` and `}` is an error.
 */
import * as z from 'zod';
import { AppError, type FieldIssue } from '#shared/errors.js';
import { ROLES } from '#shared/ports/identity.js';
import {
  described,
  isRecord,
  jsonValue,
  messageOf,
  nonJson,
  type Path,
  type Problem,
  parseJsonText,
  problemsOf,
  reportOf,
  sortProblems,
  toFieldIssues,
} from '#shared/ports/json-document.js';
import { compileJsonSchema, type JsonSchemaOptions } from '#shared/ports/json-schema.js';

export const RUNBOOK_API_VERSION = 'conductor.runbook/v1';
export const MAX_RUNBOOK_STEPS = 50;
export const MAX_APPROVAL_STAGES = 10;
const WEEK_SECONDS = 7 * 86_400;
/**
 * A parameter schema fills in its `default`s (validateParams validates a copy) and reports every
 * error; strict, so an unknown keyword, a `format` or an ignored default is refused, not a no-op.
 */
const PARAMETER_SCHEMA: JsonSchemaOptions = { useDefaults: true, allErrors: true, strict: true };

/** A runbook file that does not parse or validate: one line per problem, `<source>: <path>: <reason>`. */
export class RunbookError extends AppError {
  readonly issues: readonly FieldIssue[];

  constructor(source: string, issues: readonly FieldIssue[]) {
    const { message, reported } = reportOf(source, issues);
    super(400, 'invalid_runbook', message, { details: { issues: reported } });
    this.issues = reported;
  }
}

/** An execution's parameters that the runbook's parameter schema refuses; paths start at `params`. */
export class RunbookParametersError extends AppError {
  readonly issues: readonly FieldIssue[];

  constructor(runbook: Pick<Runbook, 'id' | 'version'>, issues: readonly FieldIssue[]) {
    const { message, reported } = reportOf(`runbook ${runbook.id} v${runbook.version}`, issues);
    super(400, 'invalid_parameters', message, { details: { issues: reported } });
    this.issues = reported;
  }
}

/** What only the deployment knows: which Lambda functions and AWS actions runbooks may call. */
export interface RunbookAllowLists {
  /** Function names a `lambda` step may invoke; absent: not checked. */
  readonly allowedLambdas?: readonly string[];
  /** `service:Action` names an `aws-api` step may call (exact match); absent: not checked. */
  readonly allowedAwsApis?: readonly string[];
}

// --- The schema --------------------------------------------------------------------------------

const idSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, {
  error: 'must be 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit',
});
const channelSchema = z.string().min(1).max(256).describe('Where a message goes, e.g. `slack:#ops`.');
const prose = (max: number) =>
  z
    .string()
    .max(max)
    .refine((value) => value.trim() !== '', { error: 'must not be empty' });

const parametersSchema = z
  .record(z.string(), jsonValue)
  .superRefine((schema, ctx) => {
    if (schema.type !== 'object') {
      ctx.addIssue({
        code: 'custom',
        path: ['type'],
        message: `must be "object", got ${described(schema.type)}`,
      });
      return;
    }
    if (nonJson(schema)) return; // reported on its own
    try {
      compileJsonSchema(schema, PARAMETER_SCHEMA);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `is not a valid JSON Schema: ${messageOf(error)}` });
    }
  })
  .describe('A JSON Schema (draft 2020-12) of the parameters, `type: "object"`.');

const approvalStageSchema = z.strictObject({
  name: idSchema,
  roles: z.array(z.enum(ROLES)).min(1).describe('Who may approve: anyone with one of these roles.'),
  minApprovers: z.int().min(1).max(10).describe('How many distinct people must approve.'),
  timeoutSeconds: z.int().min(60).max(WEEK_SECONDS).describe('Unapproved after this long: rejected.'),
  escalation: z
    .strictObject({
      afterSeconds: z.int().min(60).max(WEEK_SECONDS),
      notify: z.array(channelSchema).min(1).max(10),
    })
    .optional()
    .describe('Who is told when the stage is still waiting after `afterSeconds`.'),
});

const stepBase = z.strictObject({
  id: idSchema,
  name: prose(200),
  privileged: z.boolean().default(false).describe('Runs only once every approval stage has passed.'),
  timeoutSeconds: z.int().min(1).max(WEEK_SECONDS).optional(),
});

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/;
const URL_PLACEHOLDER = /\$\{[^}]*\}/g;

const httpStep = stepBase
  .extend({
    type: z.literal('http'),
    method: z.enum(['GET', 'POST', 'PUT']),
    url: z
      .string()
      .max(2048)
      .superRefine((url, ctx) => {
        const reason = urlProblem(url);
        if (reason) ctx.addIssue({ code: 'custom', message: reason });
      }),
    headers: z
      .record(z.string().regex(HEADER_NAME, { error: 'is not a header name' }), z.string().max(8192))
      .optional(),
    body: jsonValue.optional(),
  })
  .superRefine((step, ctx) => {
    if (step.method === 'GET' && step.body !== undefined)
      ctx.addIssue({ code: 'custom', path: ['body'], message: 'a GET request has no body' });
  });

const lambdaStep = stepBase.extend({
  type: z.literal('lambda'),
  functionName: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'must be a function name (1-64 of A-Z a-z 0-9 _ -)' }),
  payload: jsonValue.optional(),
});

const awsApiStep = stepBase
  .extend({
    type: z.literal('aws-api'),
    service: z.string().regex(/^[a-z0-9-]{1,64}$/, { error: 'must be a service prefix such as "ecs"' }),
    action: z
      .string()
      .regex(/^[a-z0-9-]{1,64}:[A-Za-z0-9]{1,128}$/, { error: 'must be "<service>:<Operation>"' }),
    input: z.record(z.string(), jsonValue).optional(),
  })
  .superRefine((step, ctx) => {
    const [prefix, operation] = step.action.split(':');
    if (operation !== undefined && prefix !== step.service)
      // else reported by the pattern
      ctx.addIssue({ code: 'custom', path: ['action'], message: `must start with "${step.service}:"` });
  });

const waitStep = stepBase.extend({ type: z.literal('wait'), seconds: z.int().min(1).max(86_400) });
const notifyStep = stepBase.extend({
  type: z.literal('notify'),
  channel: channelSchema,
  message: prose(4000),
});
const manualStep = stepBase.extend({ type: z.literal('manual'), instructions: prose(10_000) });

const stepSchema = z.discriminatedUnion('type', [
  httpStep,
  lambdaStep,
  awsApiStep,
  waitStep,
  notifyStep,
  manualStep,
]);

const runbookSchema = z.strictObject({
  apiVersion: z.literal(RUNBOOK_API_VERSION),
  id: idSchema,
  version: z.int().min(1).describe('Goes up with every change; signed with the rest.'),
  description: prose(2000),
  parameters: parametersSchema,
  approvals: z.array(approvalStageSchema).max(MAX_APPROVAL_STAGES).default([]),
  steps: z.array(stepSchema).min(1).max(MAX_RUNBOOK_STEPS),
});
const runbookFileSchema = runbookSchema
  .extend({ $schema: z.string().optional().describe('For editors; dropped.') })
  .meta({ title: `Conductor runbook (${RUNBOOK_API_VERSION})` });

/** The top-level fields of a runbook document (what the API's body may hold; their checks are parseRunbookValue's). */
export const RUNBOOK_FIELDS = Object.keys(runbookFileSchema.shape) as readonly string[];

/** A valid runbook with its defaults applied: what is signed and what runs. */
export type Runbook = z.output<typeof runbookSchema>;
export type RunbookStep = Runbook['steps'][number];
export type RunbookStepType = RunbookStep['type'];
export type ApprovalStage = Runbook['approvals'][number];

/** Steps whose result a later step may use as `${steps.<id>.output…}`. */
const HAS_OUTPUT: ReadonlySet<unknown> = new Set<RunbookStepType>(['http', 'lambda', 'aws-api']);
/** Problems of list items are shown by list, then by item; the rest as found. */
const LISTS = ['approvals', 'steps'];

// --- Parsing -----------------------------------------------------------------------------------

/** Parses a runbook file's text. Throws RunbookError naming `source` (the file) on every problem found. */
export const parseRunbook = (text: string, source: string, allowLists: RunbookAllowLists = {}): Runbook => {
  const parsed = parseJsonText(text);
  if (!parsed.ok) throw new RunbookError(source, [{ path: '', message: parsed.message }]);
  return parseRunbookValue(parsed.value, source, allowLists);
};

/** Validates an already-parsed runbook (an API body). Throws RunbookError naming `source`. */
export const parseRunbookValue = (
  value: unknown,
  source: string,
  allowLists: RunbookAllowLists = {},
): Runbook => {
  const result = runbookFileSchema.safeParse(value, { reportInput: true });
  const problems = [
    ...(result.success ? [] : result.error.issues.flatMap(problemsOf)),
    ...crossChecks(value, allowLists),
  ];
  if (!result.success || problems.length > 0) {
    throw new RunbookError(source, toFieldIssues(sortProblems(problems, LISTS)));
  }
  const { $schema: _editorsOnly, ...runbook } = result.data;
  return runbook;
};

/**
 * What the schema alone cannot see, read from the raw value so it is reported alongside the
 * schema's problems: duplicates, allow-lists, placeholders, approvals for privileged steps.
 */
const crossChecks = (value: unknown, allowLists: RunbookAllowLists): Problem[] => {
  if (!isRecord(value)) return [];
  const problems: Problem[] = [];
  const stages = Array.isArray(value.approvals) ? value.approvals : [];
  const steps = Array.isArray(value.steps) ? value.steps : [];

  duplicates(stages, 'name', 'approvals', problems);
  for (const [i, stage] of stages.entries()) {
    if (!isRecord(stage)) continue;
    if (Array.isArray(stage.roles)) {
      for (const [j, role] of stage.roles.entries()) {
        if (stage.roles.indexOf(role) < j)
          problems.push({ path: ['approvals', i, 'roles', j], message: `duplicate role ${described(role)}` });
      }
    }
    const after = isRecord(stage.escalation) ? stage.escalation.afterSeconds : undefined;
    if (
      typeof after === 'number' &&
      typeof stage.timeoutSeconds === 'number' &&
      after >= stage.timeoutSeconds
    )
      problems.push({
        path: ['approvals', i, 'escalation', 'afterSeconds'],
        message: `must be less than the stage's timeoutSeconds (${stage.timeoutSeconds})`,
      });
  }

  duplicates(steps, 'id', 'steps', problems);
  const firstPrivileged = steps.findIndex((step) => isRecord(step) && step.privileged === true);
  if (
    firstPrivileged !== -1 &&
    (value.approvals === undefined || (Array.isArray(value.approvals) && stages.length === 0))
  )
    problems.push({
      path: ['approvals'],
      message: `steps[${firstPrivileged}] is privileged: at least one approval stage is required`,
    });

  const parameterNames = parameterNamesOf(value.parameters);
  for (const [i, step] of steps.entries()) {
    if (!isRecord(step)) continue;
    if (step.type === 'lambda' && typeof step.functionName === 'string')
      notAllowed(
        step.functionName,
        allowLists.allowedLambdas,
        'Lambda function',
        ['steps', i, 'functionName'],
        problems,
      );
    if (step.type === 'aws-api' && typeof step.action === 'string')
      notAllowed(step.action, allowLists.allowedAwsApis, 'AWS API action', ['steps', i, 'action'], problems);
    const earlier = new Map(steps.slice(0, i).flatMap((s) => (isRecord(s) ? [[s.id, s.type] as const] : [])));
    for (const [key, field] of Object.entries(step)) {
      if (key === 'id' || key === 'type') continue;
      placeholderProblems(field, ['steps', i, key], { parameterNames, earlier }, problems);
    }
  }
  return problems;
};

const duplicates = (items: readonly unknown[], key: string, list: string, problems: Problem[]): void => {
  const firstIndex = new Map<unknown, number>();
  for (const [i, item] of items.entries()) {
    if (!isRecord(item) || typeof item[key] !== 'string') continue;
    const first = firstIndex.get(item[key]);
    if (first === undefined) firstIndex.set(item[key], i);
    else
      problems.push({
        path: [list, i, key],
        message: `duplicate ${key} "${item[key]}", also ${list}[${first}].${key}`,
      });
  }
};

const ALLOWED_SHOWN = 10;

const notAllowed = (
  name: string,
  allowed: readonly string[] | undefined,
  what: string,
  path: Path,
  problems: Problem[],
): void => {
  if (allowed === undefined || allowed.includes(name)) return;
  const shown = allowed.slice(0, ALLOWED_SHOWN).join(', ');
  const more = allowed.length > ALLOWED_SHOWN ? `, …${allowed.length - ALLOWED_SHOWN} more` : '';
  const list = allowed.length === 0 ? 'none is allowed here' : `allowed: ${shown}${more}`;
  problems.push({ path, message: `${described(name)} is not an allowed ${what} (${list})` });
};

const parameterNamesOf = (schema: unknown): ReadonlySet<string> =>
  new Set(isRecord(schema) && isRecord(schema.properties) ? Object.keys(schema.properties) : []);

// --- Placeholders ------------------------------------------------------------------------------

/** `$${` (a literal `${`), or a placeholder `${…}`, or an unclosed `${`. */
const PLACEHOLDER = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const PARAM_REF = /^params\.([A-Za-z_][A-Za-z0-9_]*)$/;
const STEP_REF = /^steps\.([A-Za-z0-9][A-Za-z0-9._-]{0,127}?)\.output(?:\.[A-Za-z0-9_-]+)*$/;

interface PlaceholderScope {
  readonly parameterNames: ReadonlySet<string>;
  /** Ids of the steps before this one, with their types. */
  readonly earlier: ReadonlyMap<unknown, unknown>;
}

const placeholderProblems = (
  value: unknown,
  path: PropertyKey[],
  scope: PlaceholderScope,
  problems: Problem[],
  depth = 0,
): void => {
  if (depth > 64) return; // nonJson reports it
  if (typeof value === 'string') {
    const reason = placeholderReason(value, scope);
    if (reason) problems.push({ path, message: reason });
  } else if (Array.isArray(value)) {
    for (const [i, item] of value.entries())
      placeholderProblems(item, [...path, i], scope, problems, depth + 1);
  } else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value))
      placeholderProblems(item, [...path, key], scope, problems, depth + 1);
  }
};

/** The first thing wrong with the placeholders of one string, if any. */
const placeholderReason = (text: string, scope: PlaceholderScope): string | undefined => {
  for (const match of text.matchAll(PLACEHOLDER)) {
    if (match[0] === '$${') continue;
    const inner = match[1];
    if (inner === undefined) return 'unclosed "${" (write "$${" for a literal "${")';
    const param = PARAM_REF.exec(inner);
    if (param) {
      if (scope.parameterNames.has(param[1] ?? '')) continue;
      const known = [...scope.parameterNames].join(', ') || 'none';
      return `\${${inner}} names no parameter (parameters: ${known})`;
    }
    const step = STEP_REF.exec(inner);
    if (step) {
      const type = scope.earlier.get(step[1]);
      if (type === undefined) return `\${${inner}} names no earlier step`;
      if (!HAS_OUTPUT.has(type)) return `\${${inner}}: a ${String(type)} step has no output`;
      continue;
    }
    return `unknown placeholder \${${inner}} (use \${params.<name>} or \${steps.<id>.output…})`;
  }
  return undefined;
};

/** Why a step's URL is unusable: placeholders aside, it must be an absolute http(s) URL without credentials. */
const urlProblem = (url: string): string | undefined => {
  let parsed: URL;
  try {
    parsed = new URL(url.replace(URL_PLACEHOLDER, 'x'));
  } catch {
    return 'must be an absolute http(s) URL (placeholders may fill in parts of it, not all of it)';
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    return `must use https: or http:, not ${parsed.protocol}`;
  if (parsed.username !== '' || parsed.password !== '')
    return 'must not embed credentials (send them in a header)';
  return undefined;
};

// --- Parameters --------------------------------------------------------------------------------

/**
 * An execution's parameters checked against the runbook's parameter schema, with its defaults
 * filled in (on a copy; `params` is left as it was). No parameters at all is `{}`. Throws
 * RunbookParametersError listing every problem, with paths such as `params.replicas`.
 */
export const validateParams = (runbook: Runbook, params: unknown = {}): Record<string, unknown> => {
  const notJson = nonJson(params);
  if (notJson) {
    throw new RunbookParametersError(
      runbook,
      toFieldIssues([{ ...notJson, path: ['params', ...notJson.path] }]),
    );
  }
  const copy: unknown = structuredClone(params);
  const validate = compileJsonSchema(runbook.parameters, PARAMETER_SCHEMA);
  if (validate(copy)) return copy as Record<string, unknown>;
  const problems = (validate.errors ?? []).map((error): Problem => {
    const at = ['params', ...pointerPath(error.instancePath)];
    const p = error.params as Record<string, unknown>;
    if (error.keyword === 'required')
      return { path: [...at, String(p.missingProperty)], message: 'is required' };
    if (error.keyword === 'additionalProperties' || error.keyword === 'unevaluatedProperties') {
      const name = String(p.additionalProperty ?? p.unevaluatedProperty);
      return { path: [...at, name], message: 'unknown parameter' };
    }
    return { path: at, message: error.message ?? `fails ${error.keyword}` };
  });
  throw new RunbookParametersError(runbook, toFieldIssues(problems));
};

/** `/targets/0/host` as path segments (ajv's instancePath; all-digit segments are list indices). */
const pointerPath = (pointer: string): PropertyKey[] =>
  pointer === ''
    ? []
    : pointer
        .slice(1)
        .split('/')
        .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'))
        .map((segment) => (/^(?:0|[1-9]\d*)$/.test(segment) ? Number(segment) : segment));
