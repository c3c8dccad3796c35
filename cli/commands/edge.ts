import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EdgeClient } from '../../clients/edge/client.js';
import { runDrill } from '../../clients/edge/drill.js';
import { FileStorage } from '../../clients/edge/file-storage.js';
import { unwrap } from '../../clients/typescript/index.js';
import { type Command, type Invocation, UsageError } from '../command.js';
import { stringOption } from '../input.js';
import { table } from '../output.js';

/**
 * `conductor edge`: be an edge node from the command line (register it, edit a document offline,
 * sync, see its status), the conflict center, and the drill. A node's credential and state live in
 * `--dir` (default `.conductor/edge`): `<node>.credential.json` (mode 600) and `<node>.state.json`.
 */

const DIR_OPTION = {
  dir: {
    type: 'string' as const,
    placeholder: '<dir>',
    description:
      "where nodes' credentials and state are kept (default CONDUCTOR_EDGE_DIR, else .conductor/edge)",
  },
};

const dirOf = (invocation: Invocation): string =>
  resolve(
    invocation.context.io.cwd,
    stringOption(invocation, 'dir') ??
      invocation.context.io.env.CONDUCTOR_EDGE_DIR ??
      join('.conductor', 'edge'),
  );

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const nodeArgument = (invocation: Invocation, position = 0): string => {
  const nodeId = invocation.positionals[position];
  if (!nodeId || !NODE_ID.test(nodeId)) throw new UsageError('name the node (1 to 128 of A-Z a-z 0-9 . _ -)');
  return nodeId;
};

interface Credential {
  readonly nodeId: string;
  readonly token: string;
}

const readCredential = (invocation: Invocation, nodeId: string): Credential => {
  const file = join(dirOf(invocation), `${nodeId}.credential.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Credential;
  } catch {
    throw new UsageError(
      `no credential for node ${nodeId} in ${dirOf(invocation)}: run 'conductor edge register ${nodeId}' first`,
    );
  }
};

/** The node's edge client on its state file, keeping `documents` besides those it already has. */
const openNode = async (invocation: Invocation, nodeId: string, documents: readonly string[] = []) => {
  const credential = readCredential(invocation, nodeId);
  const token = invocation.context.token();
  if (!token)
    throw new UsageError('no token: pass --as <label> or --token (the node syncs as that identity)');
  return EdgeClient.open({
    apiUrl: invocation.context.apiUrl().url,
    nodeId,
    nodeToken: credential.token,
    bearerToken: () => token.token,
    storage: new FileStorage(join(dirOf(invocation), `${nodeId}.state.json`)),
    documents,
  });
};

const register: Command = {
  name: 'register',
  summary: 'register an edge node (administrator); its credential is saved for the other commands',
  arguments: '<nodeId>',
  options: {
    ...DIR_OPTION,
    meta: {
      type: 'string',
      multiple: true,
      placeholder: '<key=value>',
      description: 'what the node is (repeatable)',
    },
  },
  examples: ['conductor edge register truck-17 --meta site=depot-north --as acme-admin'],
  run: async (invocation) => {
    const nodeId = nodeArgument(invocation);
    const meta = Object.fromEntries(
      ((invocation.options.meta as string[] | undefined) ?? []).map((entry) => {
        const at = entry.indexOf('=');
        if (at < 1) throw new UsageError(`--meta '${entry}' must be key=value`);
        return [entry.slice(0, at), entry.slice(at + 1)];
      }),
    );
    const node = await unwrap(
      invocation.context.client().POST('/api/conductor/v1/edge/nodes', { body: { nodeId, meta } }),
    );
    const dir = dirOf(invocation);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${nodeId}.credential.json`);
    writeFileSync(file, JSON.stringify({ nodeId, token: node.token }), { mode: 0o600 });
    chmodSync(file, 0o600);
    const { token: _secret, ...shown } = node;
    invocation.context.print(
      { ...shown, credentialFile: file },
      () => `node ${nodeId} registered; its credential is in ${file}`,
    );
  },
};

const parseValue = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text; // a bare word is a string
  }
};

const set: Command = {
  name: 'set',
  summary: "write a field of a document on the node (offline: nothing is sent until 'edge sync')",
  arguments: '<nodeId> <documentId> <field> <value>',
  options: {
    ...DIR_OPTION,
    increment: { type: 'boolean', description: 'add the (number) value to a counter field' },
    add: { type: 'boolean', description: 'add the value to a set field' },
  },
  details: 'The value is JSON when it parses as JSON (42, true, ["a"]), else a string.',
  examples: [
    'conductor edge set truck-17 wo-1042 status on-site --as acme-operator',
    'conductor edge set truck-17 wo-1042 hoursLogged 2 --increment --as acme-operator',
  ],
  run: async (invocation) => {
    const nodeId = nodeArgument(invocation);
    const [, documentId, field, raw] = invocation.positionals;
    if (!documentId || !field || raw === undefined)
      throw new UsageError('give <nodeId> <documentId> <field> <value>');
    const client = await openNode(invocation, nodeId, [documentId]);
    const value = parseValue(raw);
    if (invocation.options.increment) {
      if (typeof value !== 'number') throw new UsageError('--increment takes a number');
      await client.increment(documentId, field, value);
    } else if (invocation.options.add) await client.addToSet(documentId, field, value);
    else await client.set(documentId, field, value);
    const status = client.status();
    invocation.context.print(
      { documentId, field, value: client.get(documentId, field), pendingOps: status.pendingOps },
      () =>
        `${documentId}.${field} = ${JSON.stringify(client.get(documentId, field))} (${status.pendingOps} ops waiting to sync)`,
    );
  },
};

const sync: Command = {
  name: 'sync',
  summary: 'push the node’s waiting ops and pull what it lacks (the documents it keeps, and any named)',
  arguments: '<nodeId> [documentId...]',
  options: DIR_OPTION,
  examples: ['conductor edge sync truck-17 --as acme-operator'],
  run: async (invocation) => {
    const nodeId = nodeArgument(invocation);
    const client = await openNode(invocation, nodeId, invocation.positionals.slice(1));
    const report = await client.sync();
    const status = client.status();
    invocation.context.print({ ...report, status }, () =>
      [
        `pushed ${report.pushed} ops (${report.duplicates} already known), pulled ${report.pulled}, ${report.conflicts} conflicts found`,
        ...Object.entries(status.documents).map(([id, d]) => `  ${id}: at log entry ${d.lastSeq}`),
      ].join('\n'),
    );
  },
};

const show: Command = {
  name: 'show',
  summary: 'a document as the node holds it (no network)',
  arguments: '<nodeId> <documentId>',
  options: DIR_OPTION,
  run: async (invocation) => {
    const nodeId = nodeArgument(invocation);
    const documentId = invocation.positionals[1];
    if (!documentId) throw new UsageError('name the document');
    const client = await openNode(invocation, nodeId, [documentId]);
    const fields = client.fields(documentId);
    invocation.context.print(fields, () =>
      table(
        ['field', 'value'],
        Object.entries(fields).map(([key, value]) => [key, JSON.stringify(value)]),
      ),
    );
  },
};

const status: Command = {
  name: 'status',
  summary: 'the node’s sync status: ops waiting, the last log entry it has of each document',
  arguments: '<nodeId>',
  options: DIR_OPTION,
  run: async (invocation) => {
    const client = await openNode(invocation, nodeArgument(invocation));
    const s = client.status();
    invocation.context.print(s, () =>
      [
        `node ${s.nodeId}: ${s.pendingOps} ops waiting to sync`,
        ...Object.entries(s.documents).map(([id, d]) => `  ${id}: at log entry ${d.lastSeq}`),
      ].join('\n'),
    );
  },
};

const conflicts: Command = {
  name: 'conflicts',
  summary: 'the conflict center: conflicts found (open ones wait for a person)',
  options: {
    status: { type: 'string', placeholder: '<open|auto-resolved|resolved>', description: 'only these' },
    document: { type: 'string', placeholder: '<documentId>', description: 'only this document’s' },
  },
  examples: ['conductor edge conflicts --status open --as acme-operator'],
  run: async (invocation) => {
    const filter = stringOption(invocation, 'status');
    if (filter !== undefined && !['open', 'auto-resolved', 'resolved'].includes(filter)) {
      throw new UsageError('--status is open, auto-resolved or resolved');
    }
    const documentId = stringOption(invocation, 'document');
    const page = await unwrap(
      invocation.context.client().GET('/api/conductor/v1/edge/conflicts', {
        params: {
          query: {
            limit: 100,
            ...(filter ? { status: filter as 'open' } : {}),
            ...(documentId ? { documentId } : {}),
          },
        },
      }),
    );
    invocation.context.print(page, () =>
      table(
        ['conflict', 'document', 'field', 'rule', 'status', 'current', 'incoming'],
        page.items.map((c) => [
          c.conflictId,
          c.documentId,
          c.field,
          c.rule,
          c.status,
          `${JSON.stringify(c.current.value)} (${c.current.writer})`,
          `${JSON.stringify(c.incoming.value)} (${c.incoming.writer})`,
        ]),
      ),
    );
  },
};

const resolveConflict: Command = {
  name: 'resolve',
  summary: 'settle an open conflict: keep one side, or write a value; it reaches every node',
  arguments: '<conflictId>',
  options: {
    choose: { type: 'string', placeholder: '<current|incoming>', description: 'keep this side’s value' },
    value: { type: 'string', placeholder: '<json>', description: 'or write this value' },
    note: { type: 'string', placeholder: '<text>', description: 'why (kept with the conflict)' },
  },
  run: async (invocation) => {
    const conflictId = invocation.positionals[0];
    if (!conflictId) throw new UsageError('name the conflict');
    const choose = stringOption(invocation, 'choose');
    const value = stringOption(invocation, 'value');
    if ((choose === undefined) === (value === undefined))
      throw new UsageError('give exactly one of --choose and --value');
    if (choose !== undefined && choose !== 'current' && choose !== 'incoming') {
      throw new UsageError('--choose is current or incoming');
    }
    const note = stringOption(invocation, 'note');
    const resolved = await unwrap(
      invocation.context.client().POST('/api/conductor/v1/edge/conflicts/{conflictId}/resolve', {
        params: { path: { conflictId } },
        body: {
          ...(choose === undefined
            ? { value: parseValue(value as string) }
            : { choose: choose as 'current' }),
          ...(note === undefined ? {} : { note }),
        },
      }),
    );
    invocation.context.print(
      resolved,
      () => `${conflictId}: ${resolved.field} = ${JSON.stringify(resolved.resolvedValue)}`,
    );
  },
};

const wholeNumber = (invocation: Invocation, name: string, fallback: number, max: number): number => {
  const text = stringOption(invocation, name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new UsageError(`--${name} is a whole number from 1 to ${max}`);
  return n;
};

const drill: Command = {
  name: 'drill',
  summary:
    'N nodes through offline periods, partitions, lost and duplicated requests and restarts; then a report',
  options: {
    nodes: { type: 'string', placeholder: '<n>', description: 'edge nodes (default 5)' },
    rounds: { type: 'string', placeholder: '<n>', description: 'rounds of edits and syncs (default 20)' },
    edits: { type: 'string', placeholder: '<n>', description: 'edits per node per round (default 3)' },
    seed: {
      type: 'string',
      placeholder: '<n>',
      description: 'the random seed (default 1): the same seed, the same drill',
    },
  },
  details:
    "Registers the nodes, a drill-order document type and a new document in your tenant (an administrator's token), runs the rounds, syncs everyone and checks: every node holds what the server holds, no write is missing (ops lost: must be 0), and the share of conflicts the type's rules settled.",
  examples: ['conductor edge drill --nodes 5 --rounds 20 --as acme-admin'],
  run: async (invocation) => {
    const token = invocation.context.token();
    if (!token)
      throw new UsageError('no token: the drill needs an administrator of your tenant (--as acme-admin)');
    const report = await runDrill({
      apiUrl: invocation.context.apiUrl().url,
      adminToken: token.token,
      nodes: wholeNumber(invocation, 'nodes', 5, 50),
      rounds: wholeNumber(invocation, 'rounds', 20, 1000),
      edits: wholeNumber(invocation, 'edits', 3, 100),
      seed: wholeNumber(invocation, 'seed', 1, 2 ** 31),
      progress: (text) => invocation.context.progress(text),
    });
    invocation.context.print(report, () =>
      [
        `document ${report.documentId}: ${report.nodes} nodes, ${report.rounds} rounds, ${report.edits} edits in ${report.seconds.toFixed(1)} s`,
        `converged:      ${report.converged ? 'yes' : 'NO'}`,
        `ops lost:       ${report.opsLost}`,
        `conflicts:      ${report.conflicts.total} (${report.conflicts.autoResolved} settled by their rule, ${report.conflicts.open} open in the conflict center)`,
        `auto-resolved:  ${(report.autoResolvedShare * 100).toFixed(1)} %`,
        `by rule:        ${Object.entries(report.byRule)
          .map(([rule, n]) => `${rule} ${n}`)
          .join(', ')}`,
        `faults:         ${report.faults.offlineRequests} requests while offline, ${report.faults.dropped} lost, ${report.faults.lostReplies} answers lost, ${report.faults.duplicated} sent twice, ${report.faults.restarts} restarts, ${report.faults.failedSyncs} failed syncs`,
      ].join('\n'),
    );
    if (!report.converged || report.opsLost > 0) process.exitCode = 1;
  },
};

export const edgeCommand: Command = {
  name: 'edge',
  summary: 'edge nodes: register, edit offline, sync, status; the conflict center; the drill',
  subcommands: [register, set, sync, show, status, conflicts, resolveConflict, drill],
};
