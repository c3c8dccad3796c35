import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { canonicalJson } from '#shared/ports/canonical-json.js';
import { FIELDS_MAP } from '../../src/domain/document.js';
import type { PushOp } from '../../src/domain/sync.js';
import { makeSync, pullAll, SimNode } from '../support/fakes.js';

/**
 * The sync service under any schedule: nodes edit, push (packets the network delivers late, out of
 * order, twice), pull a page at a time and restart; after a full sync every node and the server
 * hold the same state, no node's write is missing, and re-sending any op changes nothing.
 */
const step = fc.oneof(
  fc.record({
    kind: fc.constant('edit' as const),
    node: fc.nat(3),
    field: fc.constantFrom('status', 'hours', 'parts', 'peak', 'low', 'signOff', 'notes'),
    value: fc.integer({ min: 0, max: 9 }),
  }),
  fc.record({ kind: fc.constant('push' as const), node: fc.nat(3) }),
  fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat(), twice: fc.boolean() }),
  fc.record({ kind: fc.constant('pull' as const), node: fc.nat(3) }),
  fc.record({ kind: fc.constant('restart' as const), node: fc.nat(3) }),
);

const fieldsOf = (doc: Y.Doc) =>
  Object.fromEntries(
    [...doc.getMap(FIELDS_MAP).entries()].map(([key, value]) => [key, (value as { v: unknown }).v]),
  );

describe('EdgeSync (fast-check)', () => {
  it('converges whatever the delivery schedule, loses no write, and a replayed op changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 4 }),
        fc.array(step, { maxLength: 40 }),
        async (count, steps) => {
          const ctx = await makeSync({ snapshotEvery: 3 });
          const nodes: SimNode[] = [];
          for (let i = 0; i < count; i += 1) {
            const node = new SimNode(`n${i}`, 100 + i);
            const { node: record } = await ctx.sync.registerNode('acme', node.id, {}, 'admin');
            node.node = record;
            nodes.push(node);
          }
          const inFlight: { node: SimNode; ops: PushOp[] }[] = [];
          const sent: { node: SimNode; ops: PushOp[] }[] = [];
          const pull = (node: SimNode) => pullAll(ctx, node, 2);
          for (const s of steps) {
            if (s.kind === 'deliver') {
              if (inFlight.length === 0) continue;
              const i = s.pick % inFlight.length;
              const packet = inFlight[i] as (typeof inFlight)[number];
              if (!s.twice) inFlight.splice(i, 1);
              await ctx.sync.push('acme', packet.node.node, packet.ops, 't');
              continue;
            }
            const node = nodes[s.node % count] as SimNode;
            if (s.kind === 'edit') {
              if (s.field === 'hours') node.increment(s.field, s.value);
              else node.set(s.field, s.field === 'parts' ? [s.value] : s.value);
            } else if (s.kind === 'push' && node.outbox.length > 0) {
              const packet = { node, ops: node.outbox.splice(0) };
              inFlight.push(packet);
              sent.push(packet);
            } else if (s.kind === 'pull') await pull(node);
            else if (s.kind === 'restart') node.restart();
          }
          // A full sync: the network delivers what it holds, every node pushes and pulls, twice (the
          // server's rule writes for the last pushes arrive on the second pull).
          for (const packet of inFlight.splice(0))
            await ctx.sync.push('acme', packet.node.node, packet.ops, 't');
          for (let round = 0; round < 2; round += 1) {
            for (const node of nodes) {
              const ops = node.outbox.splice(0);
              if (ops.length > 0) {
                sent.push({ node, ops });
                await ctx.sync.push('acme', node.node, ops, 't');
              }
            }
            for (const node of nodes) await pull(node);
          }

          const server = await ctx.sync.readDocument('acme', 'doc-1');
          const serverVector = Y.decodeStateVector(Buffer.from(server.stateVector, 'base64'));
          for (const node of nodes) {
            expect(canonicalJson(fieldsOf(node.doc))).toBe(canonicalJson(server.fields));
            // Nothing the node wrote is missing on the server.
            expect(serverVector.get(node.clientId) ?? 0).toBe(Y.getState(node.doc.store, node.clientId));
          }
          for (const packet of sent) {
            expect((await ctx.sync.push('acme', packet.node.node, packet.ops, 't')).accepted).toBe(0);
          }
          expect(canonicalJson((await ctx.sync.readDocument('acme', 'doc-1')).fields)).toBe(
            canonicalJson(server.fields),
          );
        },
      ),
      { numRuns: 100 },
    );
  });
});
