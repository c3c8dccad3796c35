import { type Schemas, unwrap } from '../../clients/typescript/index.js';
import { type Command, type Invocation, UsageError } from '../command.js';
import {
  booleanOption,
  integerOption,
  jsonObjectOption,
  keyValues,
  listOption,
  numberOption,
  positional,
  stringOption,
} from '../input.js';
import { fields, table } from '../output.js';

type Expert = Schemas['Expert'];
const EXPERT_TYPES = ['model', 'agent', 'tool'] as const;

const expertRows = (experts: readonly Expert[]) =>
  table(
    ['id', 'name', 'type', 'cost/call', 'enabled', 'health'],
    experts.map((expert) => [
      expert.id,
      expert.name,
      expert.type,
      `$${expert.costPerCallUsd}`,
      expert.enabled ? 'yes' : 'no',
      expert.health?.status ?? '-',
    ]),
  );

const expertFields = (expert: Expert) =>
  fields([
    ['id', expert.id],
    ['name', expert.name],
    ['type', expert.type],
    ['cost/call', `$${expert.costPerCallUsd}`],
    ['endpoint', expert.endpoint],
    ['enabled', expert.enabled ? 'yes' : 'no'],
    [
      'health',
      expert.health
        ? `${expert.health.status}${expert.health.reason ? ` (${expert.health.reason})` : ''}`
        : undefined,
    ],
    ['metadata', Object.keys(expert.metadata).length > 0 ? JSON.stringify(expert.metadata) : undefined],
    ['version', String(expert.version)],
    ['updated', expert.updatedAt],
  ]);

/** Every expert of the caller's tenant, page after page (shared with `route`, which needs candidates). */
export const listAllExperts = async (invocation: Invocation): Promise<Expert[]> => {
  const client = invocation.context.client();
  const experts: Expert[] = [];
  let cursor: string | undefined;
  do {
    const page = await unwrap(
      client.GET('/api/conductor/v1/experts', {
        params: { query: { limit: 100, ...(cursor ? { cursor } : {}) } },
      }),
    );
    experts.push(...page.items);
    cursor = page.nextCursor;
    if (cursor) invocation.context.progress(`${experts.length} experts so far`);
  } while (cursor);
  return experts;
};

const list: Command = {
  name: 'list',
  summary: `list your tenant's experts, a page at a time (--all for every page)`,
  options: {
    limit: { type: 'string', placeholder: '<n>', description: 'page size (the API caps it)' },
    cursor: { type: 'string', placeholder: '<cursor>', description: 'the nextCursor of a previous page' },
    all: { type: 'boolean', description: 'follow nextCursor to the last page' },
  },
  examples: ['conductor experts list --as acme-viewer', 'conductor experts list --all --json'],
  run: async (invocation) => {
    if (booleanOption(invocation, 'all')) {
      const items = await listAllExperts(invocation);
      invocation.context.print({ items }, () => expertRows(items));
      return;
    }
    const limit = integerOption(invocation, 'limit');
    const cursor = stringOption(invocation, 'cursor');
    const page = await unwrap(
      invocation.context.client().GET('/api/conductor/v1/experts', {
        params: { query: { ...(limit !== undefined ? { limit } : {}), ...(cursor ? { cursor } : {}) } },
      }),
    );
    invocation.context.print(page, () =>
      page.nextCursor
        ? `${expertRows(page.items)}\n\nmore: --cursor ${page.nextCursor}`
        : expertRows(page.items),
    );
  },
};

const get: Command = {
  name: 'get',
  summary: 'show one expert',
  arguments: '<expertId>',
  examples: ['conductor experts get exp_0123 --as acme-viewer'],
  run: async (invocation) => {
    const expertId = positional(invocation, 0, '<expertId>');
    const expert = await unwrap(
      invocation.context
        .client()
        .GET('/api/conductor/v1/experts/{expertId}', { params: { path: { expertId } } }),
    );
    invocation.context.print(expert, () => expertFields(expert));
  },
};

const create: Command = {
  name: 'create',
  summary: 'register an expert backend (a routing candidate) for your tenant',
  details:
    'Flags override the fields of --data. Private, link-local and metadata endpoints are refused (422).',
  options: {
    name: { type: 'string', placeholder: '<name>', description: 'its name, unique in the tenant' },
    type: { type: 'string', placeholder: '<type>', description: `one of ${EXPERT_TYPES.join(', ')}` },
    cost: { type: 'string', placeholder: '<usd>', description: 'cost per call in USD' },
    endpoint: { type: 'string', placeholder: '<url>', description: 'where it is called' },
    metadata: { type: 'string', multiple: true, placeholder: '<key=value>', description: 'a metadata entry' },
    disabled: { type: 'boolean', description: 'register it disabled (never routed to)' },
    data: {
      type: 'string',
      placeholder: '<json|@file>',
      description: 'the whole body (ExpertInput) as JSON',
    },
  },
  examples: [
    'conductor experts create --as acme-admin --name summarizer --type model --cost 0.02 --endpoint https://summarizer.example.com/v1',
  ],
  run: async (invocation) => {
    const type = stringOption(invocation, 'type');
    if (type !== undefined && !(EXPERT_TYPES as readonly string[]).includes(type))
      throw new UsageError(`--type must be one of ${EXPERT_TYPES.join(', ')}, got '${type}'`);
    const name = stringOption(invocation, 'name');
    const cost = numberOption(invocation, 'cost');
    const endpoint = stringOption(invocation, 'endpoint');
    const metadata = listOption(invocation, 'metadata');
    const body = {
      ...jsonObjectOption(invocation, 'data'),
      ...(name !== undefined ? { name } : {}),
      ...(type !== undefined ? { type } : {}),
      ...(cost !== undefined ? { costPerCallUsd: cost } : {}),
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(metadata.length > 0 ? { metadata: keyValues(metadata, 'metadata') } : {}),
      ...(booleanOption(invocation, 'disabled') ? { enabled: false } : {}),
    };
    for (const field of ['name', 'type', 'costPerCallUsd', 'endpoint'])
      if (!(field in body))
        throw new UsageError(`missing ${field}: pass --name, --type, --cost and --endpoint (or --data)`);
    const expert = await unwrap(
      invocation.context.client().POST('/api/conductor/v1/experts', { body: body as Schemas['ExpertInput'] }),
    );
    invocation.context.print(expert, () => `created\n${expertFields(expert)}`);
  },
};

const remove: Command = {
  name: 'delete',
  summary: 'delete an expert',
  arguments: '<expertId>',
  run: async (invocation) => {
    const expertId = positional(invocation, 0, '<expertId>');
    await unwrap(
      invocation.context
        .client()
        .DELETE('/api/conductor/v1/experts/{expertId}', { params: { path: { expertId } } }),
    );
    invocation.context.print({ deleted: expertId }, () => `deleted ${expertId}`);
  },
};

export const expertsCommand: Command = {
  name: 'experts',
  summary: 'the experts registry: list, get, create, delete',
  subcommands: [list, get, create, remove],
};
