import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { type Schemas, unwrap } from '../../clients/typescript/index.js';
import { type Command, ExitCodeError, type Invocation, UsageError } from '../command.js';
import {
  booleanOption,
  integerOption,
  jsonObjectOption,
  listOption,
  requiredString,
  stringOption,
} from '../input.js';
import { fields, list, table } from '../output.js';
import { claimsOf, NO_TOKEN_HELP } from '../settings.js';

/** The exit code of `policy dry-run --fail-on-change` when the candidate changes a decision. */
export const EXIT_DECISIONS_CHANGED = 3;

const authorize: Command = {
  name: 'authorize',
  summary: 'ask the policy engine whether a subject may act on a resource (a deny is an answer)',
  details: `The subject defaults to the caller (the token's subject, tenant and roles) and the resource's
tenant to the caller's tenant. Live cross-tenant grants are looked up by the service.`,
  options: {
    action: { type: 'string', placeholder: '<action>', description: 'e.g. experts:get, router:route' },
    'resource-kind': { type: 'string', placeholder: '<kind>', description: 'e.g. experts' },
    'resource-tenant': { type: 'string', placeholder: '<tenant>', description: `the resource's tenant` },
    'resource-id': { type: 'string', placeholder: '<id>', description: 'one resource' },
    classification: {
      type: 'string',
      placeholder: '<label>',
      description: `the resource's data classification`,
    },
    'subject-id': { type: 'string', placeholder: '<id>', description: 'the subject (default: the caller)' },
    'subject-tenant': { type: 'string', placeholder: '<tenant>', description: `the subject's tenant` },
    roles: { type: 'string', multiple: true, placeholder: '<role,role>', description: `the subject's roles` },
    mfa: { type: 'boolean', description: 'the subject signed in with MFA' },
    data: { type: 'string', placeholder: '<json|@file>', description: 'the whole AuthorizeRequest as JSON' },
  },
  examples: [
    'conductor policy authorize --as acme-admin --action experts:get --resource-kind experts --resource-tenant globex --mfa',
  ],
  run: async (invocation) => {
    const { context } = invocation;
    const token = context.token();
    if (!token) throw new UsageError(NO_TOKEN_HELP);
    const body = jsonObjectOption(invocation, 'data') ?? defaultRequest(invocation, claimsOf(token.token));
    const decision = await unwrap(
      context
        .client()
        .POST('/api/conductor/v1/policy/authorize', { body: body as Schemas['AuthorizeRequest'] }),
    );
    context.print(decision, () =>
      fields([
        ['allow', String(decision.allow)],
        ['obligations', list(decision.obligations)],
        ['reasons', list(decision.reasons)],
        ['decision', decision.decisionId],
        ['policy', decision.policyVersion],
      ]),
    );
  },
};

const defaultRequest = (invocation: Invocation, caller: ReturnType<typeof claimsOf>) => {
  const roles = listOption(invocation, 'roles');
  const subjectTenant = stringOption(invocation, 'subject-tenant') ?? caller.tenant;
  const resourceTenant = stringOption(invocation, 'resource-tenant') ?? caller.tenant;
  if (!subjectTenant || !resourceTenant)
    throw new UsageError('the token names no tenant: pass --subject-tenant and --resource-tenant');
  const resourceId = stringOption(invocation, 'resource-id');
  const classification = stringOption(invocation, 'classification');
  return {
    subject: {
      id: stringOption(invocation, 'subject-id') ?? caller.subject,
      tenantId: subjectTenant,
      roles: roles.length > 0 ? roles : caller.roles,
    },
    action: requiredString(invocation, 'action'),
    resource: {
      tenantId: resourceTenant,
      kind: requiredString(invocation, 'resource-kind'),
      ...(resourceId ? { id: resourceId } : {}),
      ...(classification ? { classification } : {}),
    },
    context: { mfa: booleanOption(invocation, 'mfa') },
  };
};

type Decision = Schemas['PolicyDecision'];
const decisionRows = (decisions: readonly Decision[]) =>
  table(
    ['at', 'decision', 'action', 'subject', 'resource', 'allow', 'obligations'],
    decisions.map((decision) => [
      decision.at,
      decision.decisionId,
      decision.input.action,
      `${decision.input.principal.subject}@${decision.input.principal.tenant}`,
      `${decision.input.resource.kind}@${decision.input.resource.tenant}`,
      String(decision.allow),
      list(decision.obligations),
    ]),
  );

const decisions: Command = {
  name: 'decisions',
  summary: `the decision log of your tenant, newest first`,
  options: {
    limit: { type: 'string', placeholder: '<n>', description: 'page size' },
    cursor: { type: 'string', placeholder: '<cursor>', description: 'the nextCursor of a previous page' },
    decision: { type: 'string', placeholder: 'allow|deny', description: 'only allows or only denies' },
    action: { type: 'string', placeholder: '<action>', description: 'only this action' },
  },
  examples: [
    'conductor policy decisions --as acme-admin --limit 5',
    'conductor policy decisions --decision deny --json',
  ],
  run: async (invocation) => {
    const decision = stringOption(invocation, 'decision');
    if (decision !== undefined && decision !== 'allow' && decision !== 'deny')
      throw new UsageError(`--decision must be allow or deny, got '${decision}'`);
    const limit = integerOption(invocation, 'limit');
    const cursor = stringOption(invocation, 'cursor');
    const action = stringOption(invocation, 'action');
    const page = await unwrap(
      invocation.context.client().GET('/api/conductor/v1/policy/decisions', {
        params: {
          query: {
            ...(limit !== undefined ? { limit } : {}),
            ...(cursor ? { cursor } : {}),
            ...(decision ? { decision } : {}),
            ...(action ? { action } : {}),
          },
        },
      }),
    );
    invocation.context.print(page, () =>
      page.nextCursor
        ? `${decisionRows(page.items)}\n\nmore: --cursor ${page.nextCursor}`
        : decisionRows(page.items),
    );
  },
};

/** Cedar files named on the command line, or found in the folders named there. */
const readPolicies = (invocation: Invocation): Record<string, string> => {
  const policies: Record<string, string> = {};
  const add = (file: string) => {
    const name = basename(file);
    if (name in policies) throw new UsageError(`two policy files are named ${name}`);
    policies[name] = readFileSync(file, 'utf8');
  };
  for (const given of invocation.positionals) {
    const path = resolve(invocation.context.io.cwd, given);
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) {
      for (const entry of readdirSync(path).sort()) if (entry.endsWith('.cedar')) add(join(path, entry));
    } else if (path.endsWith('.cedar')) add(path);
    else throw new UsageError(`${given} is neither a .cedar file nor a folder`);
  }
  if (Object.keys(policies).length === 0) throw new UsageError('name .cedar files or a folder holding them');
  return policies;
};

const dryRun: Command = {
  name: 'dry-run',
  summary: 'decide the latest logged decisions again with candidate Cedar policies',
  arguments: '<file.cedar|folder>...',
  details: `Sends the candidate policy set (validated against the deployed schema) and prints the decisions it
would change. --fail-on-change exits ${EXIT_DECISIONS_CHANGED} when any would, for CI gates on policy changes.`,
  options: {
    limit: {
      type: 'string',
      placeholder: '<n>',
      description: 'how many of the latest decisions (default 200)',
    },
    'fail-on-change': {
      type: 'boolean',
      description: `exit ${EXIT_DECISIONS_CHANGED} when a decision would change`,
    },
  },
  examples: [
    'conductor policy dry-run policies/cedar --as acme-admin',
    'conductor policy dry-run my.cedar --fail-on-change',
  ],
  run: async (invocation) => {
    const policies = readPolicies(invocation);
    const limit = integerOption(invocation, 'limit');
    invocation.context.progress(
      `re-deciding up to ${limit ?? 200} logged decisions with ${Object.keys(policies).length} policy files`,
    );
    const result = await unwrap(
      invocation.context.client().POST('/api/conductor/v1/policy/dry-run', {
        body: { policies, ...(limit !== undefined ? { limit } : {}) },
      }),
    );
    invocation.context.print(result, () => {
      const head = `re-decided ${result.evaluated} logged decisions with candidate ${result.candidateVersion} (running ${result.running.engine} ${result.running.policyVersion})`;
      if (result.changed.length === 0) return `${head}\nno decision would change`;
      const verdict = (side: { allow: boolean; obligations: string[] }) =>
        `${side.allow ? 'allow' : 'deny'}${side.obligations.length > 0 ? ` [${side.obligations.join(', ')}]` : ''}`;
      return `${head}\n${result.changed.length} would change:\n${table(
        ['decision', 'at', 'action', 'before', 'after'],
        result.changed.map((change) => [
          change.decisionId,
          change.at,
          change.action,
          verdict(change.before),
          verdict(change.after),
        ]),
      )}`;
    });
    if (booleanOption(invocation, 'fail-on-change') && result.changed.length > 0)
      throw new ExitCodeError(EXIT_DECISIONS_CHANGED, `${result.changed.length} decisions would change`);
  },
};

export const policyCommand: Command = {
  name: 'policy',
  summary: 'the policy engine: authorize, dry-run, decisions',
  subcommands: [authorize, dryRun, decisions],
};
