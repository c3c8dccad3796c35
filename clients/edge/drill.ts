import * as Y from 'yjs';
import { canonicalJson } from '../../layers/shared/src/ports/canonical-json.js';
import { EdgeClient } from './client.js';
import { type EdgeState, type EdgeStorage, MemoryStorage } from './storage.js';

/**
 * The edge drill: N nodes of one document edit through offline periods, partitions, lost and
 * duplicated requests, reordering and restarts against a running Conductor (the embedded runtime,
 * or a deployment), then sync fully; the report says whether every node and the server converged,
 * how many writes were lost (must be 0), the conflicts, and the share the document type's rules
 * settled. `conductor edge drill` prints it; bench:edge and the tests run it.
 */

export interface DrillOptions {
  readonly apiUrl: string;
  /** A token of an administrator of the tenant (registers the nodes, declares the type). */
  readonly adminToken: string;
  readonly nodes?: number;
  readonly rounds?: number;
  /** Edits per node per round. */
  readonly edits?: number;
  readonly seed?: number;
  /** Probability a node is offline in a round (it keeps editing). */
  readonly offline?: number;
  /** Probability of each fault per request: lost before the server, answered but the answer lost, sent twice. */
  readonly faults?: { readonly drop?: number; readonly lostReply?: number; readonly duplicate?: number };
  /** Probability a node restarts (reopens from its storage) between rounds. */
  readonly restart?: number;
  readonly progress?: (text: string) => void;
}

export interface DrillReport {
  readonly documentId: string;
  readonly nodes: number;
  readonly rounds: number;
  readonly edits: number;
  readonly converged: boolean;
  /** Node writes the server does not hold after the full sync (must be 0). */
  readonly opsLost: number;
  readonly conflicts: { readonly total: number; readonly autoResolved: number; readonly open: number };
  /** autoResolved / total (1 when there was no conflict). */
  readonly autoResolvedShare: number;
  readonly byRule: Readonly<Record<string, number>>;
  readonly faults: {
    readonly offlineRequests: number;
    readonly dropped: number;
    readonly lostReplies: number;
    readonly duplicated: number;
    readonly restarts: number;
    readonly failedSyncs: number;
  };
  readonly seconds: number;
}

/**
 * A field team's work order (the demo's `work-order` type, the drill's `drill-order`): one rule per
 * field, one field a person must settle.
 */
export const WORK_ORDER_TYPE = {
  fields: {
    status: 'lww',
    notes: 'lww',
    assignee: 'lww',
    hoursLogged: 'counter',
    partsUsed: 'union',
    peakTemperature: 'max',
    lowestPressure: 'min',
    signOff: 'manual',
  },
  defaultRule: 'manual',
} as const;

/** How often each field is edited (a sign-off is rare; a status is not). */
export const FIELD_WEIGHTS: readonly [keyof typeof WORK_ORDER_TYPE.fields, number][] = [
  ['status', 25],
  ['notes', 15],
  ['assignee', 10],
  ['hoursLogged', 20],
  ['partsUsed', 15],
  ['peakTemperature', 5],
  ['lowestPressure', 5],
  ['signOff', 5],
];

/** mulberry32: a small seeded generator, so a drill (and the benchmark's ops) can be made again. */
export const seededRandom = (seed: number) => {
  let a = seed >>> 0;
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** Storage that survives a restart of the client object (the drill's disk). */
class DiskStorage implements EdgeStorage {
  readonly #inner = new MemoryStorage();
  load(): Promise<EdgeState | undefined> {
    return this.#inner.load();
  }
  save(state: EdgeState): Promise<void> {
    return this.#inner.save(state);
  }
}

export const runDrill = async (options: DrillOptions): Promise<DrillReport> => {
  const started = performance.now();
  const count = options.nodes ?? 5;
  const rounds = options.rounds ?? 20;
  const editsPerRound = options.edits ?? 3;
  const seed = options.seed ?? 1;
  const rng = seededRandom(seed);
  const faults = { drop: 0.05, lostReply: 0.05, duplicate: 0.05, ...options.faults };
  const pOffline = options.offline ?? 0.3;
  const pRestart = options.restart ?? 0.1;
  const stats = {
    offlineRequests: 0,
    dropped: 0,
    lostReplies: 0,
    duplicated: 0,
    restarts: 0,
    failedSyncs: 0,
  };
  const run = `${Date.now().toString(36)}${Math.floor(rng() * 1e6).toString(36)}`;
  const documentId = `drill-${run}`;
  const admin = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${options.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${options.adminToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as Record<string, unknown>;
  };

  await admin('PUT', '/edge/document-types/drill-order', WORK_ORDER_TYPE);
  await admin('POST', '/edge/documents', { documentId, type: 'drill-order' });
  const online = new Map<number, boolean>();
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const faultyFetch =
    (index: number): typeof fetch =>
    async (input, init) => {
      if (online.get(index) === false) {
        stats.offlineRequests += 1;
        throw new TypeError('fetch failed: the node is offline (drill)');
      }
      await wait(Math.floor(rng() * 4)); // reordering between nodes
      const roll = rng();
      if (roll < faults.drop) {
        stats.dropped += 1;
        throw new TypeError('fetch failed: request lost (drill)');
      }
      if (roll < faults.drop + faults.lostReply) {
        stats.lostReplies += 1;
        await fetch(input, init);
        throw new TypeError('fetch failed: connection reset after the request was sent (drill)');
      }
      if (roll < faults.drop + faults.lostReply + faults.duplicate) {
        stats.duplicated += 1;
        const [first] = await Promise.all([
          fetch(input, init),
          wait(Math.floor(rng() * 3)).then(() => fetch(input, init)),
        ]);
        return first;
      }
      return fetch(input, init);
    };

  const disks: DiskStorage[] = [];
  const clients: EdgeClient[] = [];
  const credentials: string[] = [];
  /** Every Yjs client id a node wrote with, and how far (a restart starts a new one). */
  const written = new Map<number, number>();
  const open = (index: number) =>
    EdgeClient.open({
      apiUrl: options.apiUrl,
      nodeId: `${documentId}-n${index}`,
      nodeToken: credentials[index] as string,
      bearerToken: () => options.adminToken,
      storage: disks[index] as DiskStorage,
      documents: [documentId],
      fetch: faultyFetch(index),
      retries: 5,
      backoffMs: 2,
    });
  for (let i = 0; i < count; i += 1) {
    const node = await admin('POST', '/edge/nodes', { nodeId: `${documentId}-n${i}`, meta: { drill: run } });
    credentials.push(node.token as string);
    disks.push(new DiskStorage());
    clients.push(await open(i));
  }
  const remember = (client: EdgeClient) => {
    const doc = client.doc(documentId);
    written.set(doc.clientID, Math.max(written.get(doc.clientID) ?? 0, Y.getState(doc.store, doc.clientID)));
  };
  const pick = (): keyof typeof WORK_ORDER_TYPE.fields => {
    let roll = rng() * FIELD_WEIGHTS.reduce((sum, [, w]) => sum + w, 0);
    for (const [field, weight] of FIELD_WEIGHTS) {
      roll -= weight;
      if (roll < 0) return field;
    }
    return 'status';
  };
  let edits = 0;
  const edit = async (client: EdgeClient, index: number) => {
    const field = pick();
    edits += 1;
    const tag = `n${index}-${edits}`;
    if (field === 'hoursLogged') await client.increment(documentId, field, 1 + Math.floor(rng() * 3));
    else if (field === 'partsUsed') await client.addToSet(documentId, field, `part-${tag}`);
    else if (field === 'peakTemperature' || field === 'lowestPressure')
      await client.set(documentId, field, Math.floor(rng() * 1000));
    else await client.set(documentId, field, `${field}-${tag}`);
  };

  for (let round = 1; round <= rounds; round += 1) {
    for (let i = 0; i < count; i += 1) online.set(i, rng() >= pOffline);
    for (let i = 0; i < count; i += 1) {
      for (let e = 0; e < editsPerRound; e += 1) await edit(clients[i] as EdgeClient, i);
    }
    await Promise.all(
      clients.map(async (client) => {
        try {
          await client.sync();
        } catch {
          stats.failedSyncs += 1; // offline, or every retry failed: the outbox waits for the next round
        }
      }),
    );
    for (let i = 0; i < count; i += 1) {
      if (rng() < pRestart) {
        const client = clients[i] as EdgeClient;
        remember(client);
        await client.flush();
        clients[i] = await open(i);
        stats.restarts += 1;
      }
    }
    options.progress?.(
      `round ${round}/${rounds}: ${[...online.values()].filter(Boolean).length}/${count} online`,
    );
  }

  // The full sync: everyone online, no faults; twice, so the rules' writes of the last pushes arrive.
  faults.drop = 0;
  faults.lostReply = 0;
  faults.duplicate = 0;
  for (let i = 0; i < count; i += 1) online.set(i, true);
  for (let pass = 0; pass < 2; pass += 1) {
    for (const client of clients) await client.sync();
  }
  for (const client of clients) remember(client);

  const server = await admin('GET', `/edge/documents/${documentId}`);
  const serverVector = Y.decodeStateVector(
    Uint8Array.from(atob(server.stateVector as string), (c) => c.charCodeAt(0)),
  );
  let opsLost = 0;
  for (const [clientId, clock] of written) opsLost += Math.max(0, clock - (serverVector.get(clientId) ?? 0));
  const expected = canonicalJson(server.fields);
  const converged = clients.every((client) => canonicalJson(client.fields(documentId)) === expected);

  const conflicts: { status: string; rule: string }[] = [];
  let cursor: string | undefined;
  do {
    const page = await admin(
      'GET',
      `/edge/conflicts?documentId=${documentId}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    conflicts.push(...(page.items as { status: string; rule: string }[]));
    cursor = page.nextCursor as string | undefined;
  } while (cursor !== undefined);
  const autoResolved = conflicts.filter((c) => c.status === 'auto-resolved').length;
  const byRule: Record<string, number> = {};
  for (const c of conflicts) byRule[c.rule] = (byRule[c.rule] ?? 0) + 1;
  return {
    documentId,
    nodes: count,
    rounds,
    edits,
    converged,
    opsLost,
    conflicts: { total: conflicts.length, autoResolved, open: conflicts.length - autoResolved },
    autoResolvedShare: conflicts.length === 0 ? 1 : autoResolved / conflicts.length,
    byRule,
    faults: stats,
    seconds: (performance.now() - started) / 1000,
  };
};
