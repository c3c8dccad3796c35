import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { canonicalJson } from '#shared/ports/canonical-json.js';
import { EdgeDocument, FIELDS_MAP, InvalidUpdateError } from '../../src/domain/document.js';
import { type DocumentTypeRules, type FieldValue, incrementOf } from '../../src/domain/rules.js';

const RULES: DocumentTypeRules = {
  fields: { status: 'lww', hours: 'counter', tags: 'union', peak: 'max', low: 'min', signOff: 'manual' },
  defaultRule: 'manual',
};

/** A node's doc that records its own updates, as the edge client does. */
const node = (clientId: number, name: string) => {
  const doc = new Y.Doc();
  doc.clientID = clientId;
  const outbox: Uint8Array[] = [];
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin !== 'remote') outbox.push(update);
  });
  let tick = 0;
  const stamp = () => {
    tick += 1;
    return `${String(1_700_000_000_000 + clientId * 10 + tick).padStart(13, '0')}.000000.${name}`;
  };
  return {
    doc,
    outbox,
    set: (field: string, v: unknown, extra: Partial<FieldValue> = {}) =>
      doc.getMap(FIELDS_MAP).set(field, { v, t: stamp(), n: name, ...extra }),
    increment: (field: string, by: number) =>
      doc
        .getMap(FIELDS_MAP)
        .set(
          field,
          incrementOf(doc.getMap(FIELDS_MAP).get(field) as FieldValue | undefined, name, by, stamp()),
        ),
    get: (field: string) => (doc.getMap(FIELDS_MAP).get(field) as FieldValue | undefined)?.v,
    receive: (update: Uint8Array) => Y.applyUpdate(doc, update, 'remote'),
    take: () => outbox.splice(0),
  };
};

const server = () => new EdgeDocument(RULES);

/** Both nodes start from the server's state after `setup` ran on node a. */
const twoNodes = (setup: (a: ReturnType<typeof node>) => void) => {
  const s = server();
  const a = node(1, 'a');
  const b = node(2, 'b');
  setup(a);
  for (const u of a.take()) s.apply(u);
  b.receive(s.delta());
  return { s, a, b };
};

describe('EdgeDocument', () => {
  it('sees no conflict when a write builds on the value the server holds', () => {
    const { s, a, b } = twoNodes((a) => a.set('status', 'open'));
    b.set('status', 'in-progress');
    const result = s.apply(b.take()[0] as Uint8Array);
    expect(result.conflicts).toEqual([]);
    expect(result.changed).toBe(true);
    a.receive(s.delta(Y.encodeStateVector(a.doc)));
    expect(a.get('status')).toBe('in-progress');
  });

  it('detects concurrent writes of a key whichever of them Yjs shows, and lww keeps the later stamp', () => {
    for (const order of ['a-first', 'b-first'] as const) {
      const { s, a, b } = twoNodes((a) => a.set('status', 'open'));
      a.set('status', 'done'); // earlier stamp (client 1)
      b.set('status', 'blocked'); // later stamp (client 2)
      const [first, second] = order === 'a-first' ? [a, b] : [b, a];
      expect(s.apply(first.take()[0] as Uint8Array).conflicts).toEqual([]);
      const result = s.apply(second.take()[0] as Uint8Array);
      expect(result.conflicts).toHaveLength(1);
      expect(result.conflicts[0]).toMatchObject({
        field: 'status',
        rule: 'lww',
        resolution: { kind: 'auto' },
      });
      expect(s.fieldsJson().status).toBe('blocked');
    }
  });

  it('writes back the rule’s value when Yjs’s tie-break picked the other write', () => {
    const { s, a, b } = twoNodes((a) => a.set('status', 'open'));
    b.set('status', 'blocked'); // client 2 wins Yjs's tie-break…
    a.set('status', 'done', { t: '9999999999999.000000.a' }); // …but a's stamp is later
    s.apply(b.take()[0] as Uint8Array);
    const result = s.apply(a.take()[0] as Uint8Array);
    expect(result.derived).toBeDefined();
    expect(s.fieldsJson().status).toBe('done');
    for (const n of [a, b]) n.receive(s.delta(Y.encodeStateVector(n.doc)));
    expect([a.get('status'), b.get('status')]).toEqual(['done', 'done']);
  });

  it('keeps every node’s increments, several on one side included, whatever the order they arrive in', () => {
    const { s, a, b } = twoNodes((a) => a.increment('hours', 5));
    a.increment('hours', 1);
    a.increment('hours', 1);
    b.increment('hours', 3);
    s.apply(b.take()[0] as Uint8Array);
    for (const u of a.take()) s.apply(u); // a's two pushes each find the server's value concurrent
    expect(s.fieldsJson().hours).toBe(10);
  });

  it('never counts an increment twice once a rule’s value has merged it', () => {
    // b's +1 reaches the server first; a's +1 and +1 arrive in two pushes, each concurrent with it.
    const { s, a, b } = twoNodes((a) => a.increment('hours', 5));
    b.increment('hours', 1);
    s.apply(b.take()[0] as Uint8Array);
    a.increment('hours', 1);
    s.apply(a.take()[0] as Uint8Array);
    a.increment('hours', 1);
    s.apply(a.take()[0] as Uint8Array);
    expect(s.fieldsJson().hours).toBe(8);
  });

  it('unions sets, keeps the max and min, and leaves manual fields to a person', () => {
    const { s, a, b } = twoNodes((a) => {
      a.set('tags', ['x']);
      a.set('peak', 10);
      a.set('low', 3);
      a.set('signOff', 'nobody');
    });
    a.set('tags', ['x', 'a']);
    a.set('peak', 12);
    a.set('low', 2);
    a.set('signOff', 'alice');
    b.set('tags', ['x', 'b']);
    b.set('peak', 11);
    b.set('low', 1);
    b.set('signOff', 'bob');
    for (const u of a.take()) s.apply(u);
    const conflicts = b.take().flatMap((u) => s.apply(u).conflicts);
    expect(conflicts.map((c) => [c.field, c.resolution.kind])).toEqual([
      ['tags', 'auto'],
      ['peak', 'auto'],
      ['low', 'auto'],
      ['signOff', 'manual'],
    ]);
    expect(s.fieldsJson()).toMatchObject({ tags: ['x', 'a', 'b'], peak: 12, low: 1 });
    const manual = conflicts[3];
    expect(manual?.current).toMatchObject({ value: 'alice', writer: 'a', history: [{ value: 'nobody' }] });
    expect(manual?.incoming).toMatchObject({ value: 'bob', writer: 'b' });
  });

  it('treats an update it already holds as a duplicate, and refuses bytes that are not an update', () => {
    const s = server();
    const a = node(1, 'a');
    a.set('status', 'open');
    const [update] = a.take();
    expect(s.apply(update as Uint8Array).changed).toBe(true);
    expect(s.apply(update as Uint8Array)).toEqual({ changed: false, conflicts: [] });
    expect(() => s.apply(new Uint8Array([104, 101, 108, 108, 111]))).toThrow(InvalidUpdateError);
    expect(() => s.apply(new Uint8Array([0, 0]))).toThrow(/empty/);
    expect(s.fieldsJson()).toEqual({ status: 'open' });
  });

  it('property: whatever the writes and delivery order, nodes and server converge and replays change nothing', () => {
    const write = fc.record({
      node: fc.integer({ min: 0, max: 2 }),
      field: fc.constantFrom('status', 'hours', 'tags', 'peak', 'signOff'),
      value: fc.integer({ min: 0, max: 20 }),
    });
    fc.assert(
      fc.property(
        fc.array(write, { maxLength: 25 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (writes, shuffle) => {
          const s = server();
          const nodes = [node(11, 'n0'), node(12, 'n1'), node(13, 'n2')];
          for (const w of writes) {
            const n = nodes[w.node] as ReturnType<typeof node>;
            const v = w.field === 'tags' ? [w.value] : w.value;
            if (w.field === 'hours') n.increment(w.field, w.value);
            else n.set(w.field, v);
          }
          // Delivery: every update, some twice, in an order the shuffle picks.
          const updates = nodes.flatMap((n) => n.take());
          const deliveries = [...updates, ...updates.filter((_, i) => i % 3 === 0)];
          for (const pick of deliveries.length > 1 ? shuffle : []) {
            const i = pick % deliveries.length;
            const j = (pick * 7) % deliveries.length;
            [deliveries[i], deliveries[j]] = [deliveries[j] as Uint8Array, deliveries[i] as Uint8Array];
          }
          for (const u of deliveries) s.apply(u);
          for (const n of nodes) n.receive(s.delta(Y.encodeStateVector(n.doc)));
          // The nodes' own writes reached the server already; one more round brings the server's.
          for (const n of nodes) for (const u of n.take()) s.apply(u);
          for (const n of nodes) n.receive(s.delta(Y.encodeStateVector(n.doc)));
          const expected = canonicalJson(s.doc.getMap(FIELDS_MAP).toJSON());
          for (const n of nodes) expect(canonicalJson(n.doc.getMap(FIELDS_MAP).toJSON())).toBe(expected);
          for (const u of updates) expect(s.apply(u).changed).toBe(false);
          expect(canonicalJson(s.doc.getMap(FIELDS_MAP).toJSON())).toBe(expected);
        },
      ),
      { numRuns: 150 },
    );
  });
});
