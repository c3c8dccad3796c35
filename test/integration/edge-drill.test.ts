import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDrill } from '../../clients/edge/drill.js';
import { type Harness, startHarness } from './harness.js';

/**
 * The product's acceptance scenario for M6 and the drill, on the embedded runtime over HTTP: edge
 * nodes edit the same keys of a work order while offline, through lost, repeated and reordered
 * requests and restarts, then sync. Every node ends with what the server holds, no write is lost,
 * at least 85 % of the conflicts are settled by the document type's rules, and the rest wait in the
 * conflict center.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ functionEnv: { EDGE_SNAPSHOT_EVERY: '25' } });
});
afterAll(async () => {
  await h.conductor.stop();
});

describe('conductor edge drill', () => {
  it('two nodes editing the same keys offline: converged, nothing lost, >= 85 % auto-resolved, the rest open in the conflict center', async () => {
    // Act
    const report = await runDrill({
      apiUrl: h.conductor.apiUrl,
      adminToken: h.tokens.acmeAdmin as string,
      nodes: 2,
      rounds: 25,
      edits: 3,
      seed: 11,
      offline: 0.5,
    });
    const open = await h.call(
      'GET',
      `/edge/conflicts?status=open&documentId=${report.documentId}&limit=100`,
      {
        token: h.tokens.acmeViewer,
      },
    );

    // Assess
    expect(report.converged).toBe(true);
    expect(report.opsLost).toBe(0);
    expect(report.conflicts.total).toBeGreaterThan(10);
    expect(report.autoResolvedShare).toBeGreaterThanOrEqual(0.85);
    expect(open.json.items).toHaveLength(report.conflicts.open);
  });

  it('five nodes through partitions, lost and duplicated requests and restarts converge with no write lost', async () => {
    // Act
    const report = await runDrill({
      apiUrl: h.conductor.apiUrl,
      adminToken: h.tokens.acmeAdmin as string,
      nodes: 5,
      rounds: 12,
      edits: 2,
      seed: 5,
      faults: { drop: 0.1, lostReply: 0.1, duplicate: 0.1 },
      restart: 0.2,
    });

    // Assess
    expect(report).toMatchObject({ converged: true, opsLost: 0 });
    expect(report.faults.lostReplies + report.faults.duplicated).toBeGreaterThan(0);
    expect(report.faults.restarts).toBeGreaterThan(0);
  });
});
