import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { EdgeClient, EdgeSyncRefused } from '../../clients/edge/client.js';
import { WORK_ORDER_TYPE } from '../../clients/edge/drill.js';
import { MemoryStorage } from '../../clients/edge/storage.js';
import { NODE_TOKEN_HEADER } from '../../functions/edge-sync/contract.js';
import { expectUniformError, type Harness, startHarness } from './harness.js';

/**
 * The edge-sync pillar over real HTTP on the embedded runtime: nodes and their credentials, push and
 * pull through the edge client, the product's acceptance scenario (two nodes edit the same keys
 * offline), the conflict center, bad input and another tenant. Snapshots every 5 log entries, so
 * compaction runs here too.
 */
let h: Harness;
let admin: string;
let operator: string;
let globexAdmin: string;

const registerNode = async (nodeId: string, token = admin) => {
  const reply = await h.call('POST', '/edge/nodes', { token, body: { nodeId, meta: { site: 'test' } } });
  expect(reply.status, reply.text).toBe(201);
  return reply.json.token as string;
};

const createDocument = async (documentId: string, token = operator) => {
  const reply = await h.call('POST', '/edge/documents', { token, body: { documentId, type: 'work-order' } });
  expect(reply.status, reply.text).toBe(201);
};

const client = async (nodeId: string, nodeToken: string, documents: string[], bearer = operator) =>
  EdgeClient.open({
    apiUrl: h.conductor.apiUrl,
    nodeId,
    nodeToken,
    bearerToken: () => bearer,
    storage: new MemoryStorage(),
    documents,
    retries: 0,
  });

const head = async (documentId: string, token = operator) => {
  const reply = await h.call('GET', `/edge/documents/${documentId}`, { token });
  expect(reply.status, reply.text).toBe(200);
  return reply.json as {
    head: number;
    fields: Record<string, unknown>;
    compactedThrough: number;
    snapshotSeq: number;
  };
};

/** A one-field Yjs update, base64, as a node of client id `clientId` would push it. */
const update = (clientId: number, field: string, value: unknown): string => {
  const doc = new Y.Doc();
  doc.clientID = clientId;
  doc.getMap('fields').set(field, { v: value, t: '1765100000000.000000.raw', n: 'raw' });
  return Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64');
};

const push = (nodeId: string, nodeToken: string, ops: unknown[], token = operator) =>
  h.call('POST', '/edge/operations', {
    token,
    body: { nodeId, ops },
    headers: { [NODE_TOKEN_HEADER]: nodeToken },
  });

const pull = (nodeId: string, nodeToken: string, body: Record<string, unknown>, token = operator) =>
  h.call('POST', '/edge/sync', {
    token,
    body: { nodeId, ...body },
    headers: { [NODE_TOKEN_HEADER]: nodeToken },
  });

beforeAll(async () => {
  h = await startHarness({ functionEnv: { EDGE_SNAPSHOT_EVERY: '5' } });
  admin = h.tokens.acmeAdmin as string;
  operator = h.tokens.acmeOperator as string;
  globexAdmin = h.tokens.globexAdmin as string;
  for (const token of [admin, globexAdmin]) {
    const reply = await h.call('PUT', '/edge/document-types/work-order', { token, body: WORK_ORDER_TYPE });
    expect(reply.status, reply.text).toBe(200);
  }
});
afterAll(async () => {
  await h.conductor.stop();
});

describe('edge nodes', () => {
  it('registers a node once (its credential shown once), lists it, and refuses a second registration with 409', async () => {
    // Act
    const first = await h.call('POST', '/edge/nodes', {
      token: admin,
      body: { nodeId: 'reg-1', meta: { site: 'north' } },
    });
    const again = await h.call('POST', '/edge/nodes', { token: admin, body: { nodeId: 'reg-1' } });
    const read = await h.call('GET', '/edge/nodes/reg-1', { token: h.tokens.acmeViewer });
    const viewer = await h.call('POST', '/edge/nodes', {
      token: h.tokens.acmeViewer,
      body: { nodeId: 'reg-2' },
    });

    // Assess
    expect(first.status, first.text).toBe(201);
    expect(first.json).toMatchObject({ nodeId: 'reg-1', status: 'stale', meta: { site: 'north' } });
    expect(first.json.token).toMatch(/^cen_/);
    expectUniformError(again, 409, 'node_exists');
    expect(read.json).not.toHaveProperty('token');
    expect(JSON.stringify(read.json)).not.toContain(first.json.token);
    expectUniformError(viewer, 403);
  });

  it('a heartbeat with the credential makes the node online; revocation cuts it off at once', async () => {
    // Prepare
    const token = await registerNode('beat-1');
    await createDocument('beat-doc');

    // Act
    const beat = await h.call('POST', '/edge/nodes/beat-1/heartbeat', {
      token: operator,
      headers: { [NODE_TOKEN_HEADER]: token },
    });
    const revoke = await h.call('POST', '/edge/nodes/beat-1/revoke', {
      token: admin,
      body: { reason: 'stolen' },
    });
    const afterPush = await push('beat-1', token, [
      { documentId: 'beat-doc', opId: 'o1', update: update(77, 'status', 'x') },
    ]);
    const afterPull = await pull('beat-1', token, { documentId: 'beat-doc' });

    // Assess
    expect(beat.json).toMatchObject({ nodeId: 'beat-1', status: 'online' });
    expect(revoke.json).toMatchObject({ status: 'revoked', revokeReason: 'stolen' });
    expectUniformError(afterPush, 403, 'node_revoked');
    expectUniformError(afterPull, 403, 'node_revoked');
    expect((await head('beat-doc')).head).toBe(0);
  });
});

describe('push and pull through the edge client', () => {
  it('two nodes editing the same keys offline converge; rules settle most conflicts, the manual one waits in the conflict center', async () => {
    // Prepare: both nodes start from the same document.
    await createDocument('wo-1');
    const a = await client('field-a', await registerNode('field-a'), ['wo-1']);
    const b = await client('field-b', await registerNode('field-b'), ['wo-1']);
    await a.set('wo-1', 'status', 'open');
    await a.increment('wo-1', 'hoursLogged', 2);
    await a.addToSet('wo-1', 'partsUsed', 'filter');
    await a.set('wo-1', 'peakTemperature', 60);
    await a.set('wo-1', 'lowestPressure', 3);
    await a.set('wo-1', 'signOff', 'pending');
    await a.sync();
    await b.sync();

    // Act: offline, both edit every field; then both sync, and sync again.
    await a.set('wo-1', 'status', 'in-progress');
    await a.increment('wo-1', 'hoursLogged', 3);
    await a.addToSet('wo-1', 'partsUsed', 'gasket');
    await a.set('wo-1', 'peakTemperature', 71);
    await a.set('wo-1', 'lowestPressure', 2.5);
    await a.set('wo-1', 'signOff', 'alice');
    await b.set('wo-1', 'status', 'blocked');
    await b.increment('wo-1', 'hoursLogged', 4);
    await b.addToSet('wo-1', 'partsUsed', 'valve');
    await b.set('wo-1', 'peakTemperature', 65);
    await b.set('wo-1', 'lowestPressure', 2.8);
    await b.set('wo-1', 'signOff', 'bob');
    const first = await a.sync();
    const second = await b.sync();
    await a.sync();

    // Assess: one conflict per field, found on the second push; 5 of 6 settled by their rule.
    expect(first.conflicts).toBe(0);
    expect(second.conflicts).toBe(6);
    const server = await head('wo-1');
    expect(server.fields).toMatchObject({
      status: 'blocked', // b wrote later (HLC)
      hoursLogged: 9, // 2 + 3 + 4
      partsUsed: ['filter', 'gasket', 'valve'],
      peakTemperature: 71,
      lowestPressure: 2.5,
    });
    expect(a.fields('wo-1')).toEqual(server.fields);
    expect(b.fields('wo-1')).toEqual(server.fields);
    const all = await h.call('GET', '/edge/conflicts?documentId=wo-1&limit=100', {
      token: h.tokens.acmeViewer,
    });
    const statuses = (all.json.items as { status: string; field: string }[])
      .map((c) => `${c.field}:${c.status}`)
      .sort();
    expect(statuses).toEqual([
      'hoursLogged:auto-resolved',
      'lowestPressure:auto-resolved',
      'partsUsed:auto-resolved',
      'peakTemperature:auto-resolved',
      'signOff:open',
      'status:auto-resolved',
    ]);
    const events = h.conductor.bus
      .history(500)
      .map((entry) => entry.event)
      .filter(
        (event) =>
          event['detail-type'] === 'edge_conflict' &&
          (event.detail as { documentId?: string }).documentId === 'wo-1',
      );
    expect(
      events
        .map((event) => (event.detail as { autoResolved?: boolean }).autoResolved)
        .filter((x) => x === true),
    ).toHaveLength(5);

    // The open conflict shows both sides, their writers, vector clocks and history.
    const open = await h.call('GET', '/edge/conflicts?status=open&documentId=wo-1', {
      token: h.tokens.acmeViewer,
    });
    const conflict = open.json.items[0] as {
      conflictId: string;
      current: unknown;
      incoming: { vectorClock: Record<string, number> };
    };
    expect(conflict.current).toMatchObject({
      value: 'alice',
      writer: 'field-a',
      viaNode: 'field-a',
      history: [{ value: 'pending' }],
    });
    expect(conflict.incoming).toMatchObject({
      value: 'bob',
      writer: 'field-b',
      viaNode: 'field-b',
      history: [{ value: 'pending' }],
    });
    expect(Object.keys(conflict.incoming.vectorClock).length).toBeGreaterThanOrEqual(2);

    // A person resolves it; the value reaches both nodes.
    const resolved = await h.call('POST', `/edge/conflicts/${conflict.conflictId}/resolve`, {
      token: operator,
      body: { value: 'alice and bob', note: 'both signed' },
    });
    const twice = await h.call('POST', `/edge/conflicts/${conflict.conflictId}/resolve`, {
      token: operator,
      body: { choose: 'current' },
    });
    await a.sync();
    await b.sync();
    expect(resolved.json).toMatchObject({ status: 'resolved', resolvedValue: 'alice and bob' });
    expectUniformError(twice, 409, 'conflict_not_open');
    expect(a.get('wo-1', 'signOff')).toBe('alice and bob');
    expect(b.get('wo-1', 'signOff')).toBe('alice and bob');
    expect(a.status().pendingOps).toBe(0);
  });

  it('accepts a re-sent op once, and a state vector gets exactly the missing delta', async () => {
    // Prepare
    await createDocument('wo-dup');
    const token = await registerNode('dup-1');
    const op = { documentId: 'wo-dup', opId: 'dup-1:1', update: update(4242, 'notes', 'first') };

    // Act
    const first = await push('dup-1', token, [op]);
    const again = await push('dup-1', token, [op]);
    const sameContentNewId = await push('dup-1', token, [{ ...op, opId: 'dup-1:2' }]);
    const full = await pull('dup-1', token, { documentId: 'wo-dup' });
    const doc = new Y.Doc();
    Y.applyUpdate(doc, Buffer.from(op.update, 'base64'));
    const delta = await pull('dup-1', token, {
      documentId: 'wo-dup',
      stateVector: Buffer.from(Y.encodeStateVector(doc)).toString('base64'),
    });

    // Assess
    expect(first.json).toMatchObject({ accepted: 1, duplicates: 0 });
    expect(again.json).toMatchObject({ accepted: 0, duplicates: 1 });
    expect(sameContentNewId.json).toMatchObject({ accepted: 0, duplicates: 1 });
    expect((await head('wo-dup')).head).toBe(1);
    expect(full.json.ops).toHaveLength(1);
    expect(delta.json.ops).toHaveLength(1);
    expect(delta.json.ops[0].kind).toBe('delta');
    expect(Buffer.from(delta.json.ops[0].update, 'base64').length).toBeLessThan(10);
  });

  it('compacts the log into a snapshot, keeps what a node has not acknowledged, and a new node starts from the snapshot', async () => {
    // Prepare: one node syncs after every write; another acknowledged only the start.
    await createDocument('wo-long');
    const a = await client('long-a', await registerNode('long-a'), ['wo-long']);
    const lagging = await client('long-lag', await registerNode('long-lag'), ['wo-long']);
    await a.set('wo-long', 'notes', 'v0');
    await a.sync();
    await lagging.sync();
    await lagging.sync(); // its cursor (seq 1) is now acknowledged

    // Act
    for (let i = 1; i <= 12; i += 1) {
      await a.increment('wo-long', 'hoursLogged', 1);
      await a.sync();
    }
    const state = await head('wo-long');
    const fresh = await client('long-new', await registerNode('long-new'), ['wo-long']);
    await fresh.sync();
    await lagging.sync();

    // Assess: snapshots were taken; nothing the lagging node lacked was dropped.
    expect(state.snapshotSeq).toBeGreaterThanOrEqual(10);
    expect(state.compactedThrough).toBeLessThanOrEqual(1);
    expect(fresh.fields('wo-long')).toEqual(state.fields);
    expect(lagging.fields('wo-long')).toEqual(state.fields);
    expect(state.fields.hoursLogged).toBe(12);
  });
});

describe('bad input changes nothing', () => {
  let token: string;
  beforeAll(async () => {
    await createDocument('wo-bad');
    await createDocument('wo-other');
    token = await registerNode('bad-1');
    expect(
      (await push('bad-1', token, [{ documentId: 'wo-bad', opId: 'ok', update: update(99, 'notes', 'x') }]))
        .status,
    ).toBe(200);
  });

  it.each([
    ['corrupt base64', 'not*base64!', 400, undefined],
    ['base64 that is not a Yjs update', Buffer.from('hello world').toString('base64'), 400, 'invalid_update'],
    ['an empty Yjs update', 'AAA=', 400, 'invalid_update'],
  ])('%s', async (_, bytes, status, code) => {
    const reply = await push('bad-1', token, [
      { documentId: 'wo-bad', opId: 'good', update: update(100, 'notes', 'y') },
      { documentId: 'wo-bad', opId: 'bad', update: bytes },
    ]);
    expectUniformError(reply, status, code);
    expect((await head('wo-bad')).head).toBe(1);
  });

  it('an unregistered node, a wrong credential and a missing one are refused', async () => {
    const op = [{ documentId: 'wo-bad', opId: 'x1', update: update(101, 'notes', 'z') }];
    expectUniformError(await push('ghost', token, op), 404, 'node_not_found');
    expectUniformError(await push('bad-1', 'cen_wrong', op), 403, 'node_credential_invalid');
    expectUniformError(
      await h.call('POST', '/edge/operations', { token: operator, body: { nodeId: 'bad-1', ops: op } }),
      403,
      'node_credential_invalid',
    );
    expect((await head('wo-bad')).head).toBe(1);
  });

  it('a cursor of another document, a cursor past the log and a garbage cursor are 400s', async () => {
    const other = await pull('bad-1', token, { documentId: 'wo-other' });
    expectUniformError(
      await pull('bad-1', token, { documentId: 'wo-bad', cursor: other.json.nextCursor }),
      400,
      'cursor_mismatch',
    );
    const ahead = Buffer.from('wo-bad:99').toString('base64url');
    expectUniformError(
      await pull('bad-1', token, { documentId: 'wo-bad', cursor: ahead }),
      400,
      'cursor_unknown',
    );
    expectUniformError(
      await pull('bad-1', token, { documentId: 'wo-bad', cursor: 'garbage' }),
      400,
      'invalid_cursor',
    );
    expectUniformError(
      await pull('bad-1', token, { documentId: 'wo-bad', stateVector: 'AQ==' }),
      400,
      'invalid_state_vector',
    );
  });

  it('too many ops or too large a body is 413; an op for an unknown document is 404', async () => {
    const many = Array.from({ length: 101 }, (_, i) => ({
      documentId: 'wo-bad',
      opId: `m${i}`,
      update: update(200 + i, 'n', i),
    }));
    expectUniformError(await push('bad-1', token, many), 400);
    const huge = [{ documentId: 'wo-bad', opId: 'huge', update: 'A'.repeat(200 * 1024) }];
    expectUniformError(await push('bad-1', token, huge), 413);
    expectUniformError(
      await push('bad-1', token, [{ documentId: 'nope', opId: 'n1', update: update(300, 'x', 1) }]),
      404,
      'document_not_found',
    );
    expect((await head('wo-bad')).head).toBe(1);
  });
});

describe('another tenant', () => {
  it('a node of globex can neither push to nor pull from acme’s documents, nor can acme’s node act as globex', async () => {
    // Prepare
    await createDocument('wo-acme');
    const acmeNode = await registerNode('acme-node');
    const globexNode = await registerNode('globex-node', globexAdmin);
    const globexOperator = await h.conductor.issuer.mint({
      subject: 'g-op',
      tenant: 'globex',
      roles: ['operator'],
    });
    const op = [{ documentId: 'wo-acme', opId: 'g1', update: update(555, 'notes', 'from globex') }];

    // Act
    const globexPush = await push('globex-node', globexNode, op, globexOperator);
    const globexPull = await pull('globex-node', globexNode, { documentId: 'wo-acme' }, globexOperator);
    const acmeNodeAsGlobex = await push('acme-node', acmeNode, op, globexOperator);
    const viaHeader = await h.call('POST', '/edge/operations', {
      token: globexOperator,
      body: { nodeId: 'acme-node', ops: op },
      headers: { [NODE_TOKEN_HEADER]: acmeNode, 'x-conductor-tenant': 'acme' },
    });

    // Assess
    expectUniformError(globexPush, 404, 'document_not_found');
    expectUniformError(globexPull, 404, 'document_not_found');
    expectUniformError(acmeNodeAsGlobex, 404, 'node_not_found');
    expectUniformError(viaHeader, 403);
    expect((await head('wo-acme')).head).toBe(0);
    const conflicts = await h.call('GET', '/edge/conflicts?limit=100', { token: globexAdmin });
    expect(conflicts.json.items).toEqual([]);
  });

  it('the edge client stops syncing once its node is refused', async () => {
    await createDocument('wo-cut');
    const c = await client('cut-1', await registerNode('cut-1'), ['wo-cut']);
    await c.set('wo-cut', 'notes', 'before');
    await c.sync();
    await h.call('POST', '/edge/nodes/cut-1/revoke', { token: admin, body: {} });
    await c.set('wo-cut', 'notes', 'after');
    await expect(c.sync()).rejects.toBeInstanceOf(EdgeSyncRefused);
    expect(c.status()).toMatchObject({ cutOff: true, pendingOps: 1 });
  });
});
