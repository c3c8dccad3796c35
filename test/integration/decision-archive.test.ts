import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WormViolationError } from '#shared/ports/worm.js';
import { QueueError } from '../../infra/local/queue.js';
import { FileWormStore } from '../../infra/local/worm-store.js';
import {
  expectUniformError,
  type Harness,
  hotDecisionIdsOf,
  readDecisionArchive,
  startHarness,
} from './harness.js';

/**
 * The decision log's append-only archive over real HTTP: every decision the enforcer answers is in
 * the hot table and, through the decision-archive queue (batches gathered for up to 5 s) and the
 * authorize function's archiver (one object per batch), in the WORM store; the archive refuses
 * overwrite and early delete; a request whose decision cannot be handed to the archive is not
 * answered.
 */
const QUEUE = 'conductor-decision-archive';
/** decisions/<yyyy>/<mm>/<dd>/<earliest at, compact>-<hash of the batch's message ids>.jsonl */
const KEY = /^decisions\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{8}T\d{9}Z)-[0-9a-f]{32}\.jsonl$/;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.conductor.stop();
});

const drainArchiveQueue = async (): Promise<void> => {
  const mapping = h.conductor.mappings.get(QUEUE);
  if (!mapping) throw new Error(`no event source mapping for ${QUEUE}`);
  await mapping.drain();
};

const readArchive = () => readDecisionArchive(h);
const hotDecisionIds = (token: string | undefined) => hotDecisionIdsOf(h, token);

describe('the decision archive', () => {
  it('holds every decision of the hot log, one JSON Lines object per queue batch, keyed by earliest record and batch', async () => {
    // Prepare: allows, a deny across tenants (logged in both tenants), and a question through the API
    const { acmeViewer, globexViewer, acmeOperator, acmeAdmin, globexAdmin } = h.tokens;
    expect((await h.call('GET', '/experts', { token: acmeViewer })).status).toBe(200);
    expect((await h.call('GET', '/experts', { token: globexViewer })).status).toBe(200);
    const crossing = await h.call('GET', '/experts', {
      token: acmeViewer,
      headers: { 'X-Conductor-Tenant': 'globex' },
    });
    expect(crossing.status).toBe(403);
    const asked = await h.call('POST', '/policy/authorize', {
      token: acmeOperator,
      body: {
        subject: { id: 'svc-1', tenantId: 'acme', roles: ['viewer'] },
        action: 'experts:list',
        resource: { tenantId: 'acme', kind: 'experts' },
      },
    });
    expect(asked.status, asked.text).toBe(200);

    // Act
    const hot = [...(await hotDecisionIds(acmeAdmin)), ...(await hotDecisionIds(globexAdmin))];
    await drainArchiveQueue();
    const archive = await readArchive();

    // Assess
    const archivedIds = new Set(archive.flatMap(({ records }) => records.map((r) => r.decisionId)));
    expect(hot.length).toBeGreaterThanOrEqual(6);
    expect(hot.filter((id) => !archivedIds.has(id))).toEqual([]);
    expect(archivedIds.has(asked.json.decisionId)).toBe(true);
    for (const { key, records } of archive) {
      expect(key).toMatch(KEY);
      const [, year, month, day, time] = KEY.exec(key) ?? [];
      const earliest = new Date(Math.min(...records.map((r) => Date.parse(r.at)))).toISOString();
      expect(`${year}-${month}-${day}`).toBe(earliest.slice(0, 10));
      expect(time).toBe(earliest.replaceAll(/[-:.]/g, ''));
    }
    // WORM evidence no erasure can reach: the callers (and the subject the question named) are keyed
    // hashes there, never their ids; the hot log, kept 30 days, names them.
    const subjects = archive.flatMap(({ records }) =>
      records.map(
        (r) => (r as unknown as { input: { principal: { subject: string } } }).input.principal.subject,
      ),
    );
    expect(subjects.length).toBeGreaterThan(0);
    for (const subject of subjects) expect(subject).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    const text = JSON.stringify(archive);
    for (const id of ['test-acme-viewer', 'test-globex-viewer', 'test-acme-operator', 'svc-1'])
      expect(text).not.toContain(`"${id}"`);
    const askedRecord = archive
      .flatMap(({ records }) => records)
      .find((r) => r.decisionId === asked.json.decisionId);
    expect(
      (askedRecord as unknown as { input: { principal: { subject: string } } }).input.principal.subject,
    ).toMatch(/^hmac-sha256:/);
    // Batches, not one object per decision: the requests above came within one batching window or two.
    expect(archive.length).toBeLessThan(archivedIds.size);
    // The cross-tenant deny is one hand-off: both tenants' copies, side by side in one object.
    const deny = archive
      .flatMap(({ records }) => records)
      .find((r) => !r.allow && r.tenantId === 'globex' && r.input.action === 'experts:list');
    const holding = archive.filter(({ records }) => records.some((r) => r.decisionId === deny?.decisionId));
    expect(holding.length).toBeGreaterThanOrEqual(1);
    for (const { records } of holding) {
      expect(records.filter((r) => r.decisionId === deny?.decisionId).map((r) => r.tenantId)).toEqual([
        'globex',
        'acme',
      ]);
    }
  });

  it('refuses to overwrite or delete an archived object, through any store on the same folder', async () => {
    // Prepare
    const [first] = await readArchive();
    if (!first) throw new Error('nothing archived');
    const original = (await h.conductor.worm.get(first.key)) ?? '';
    const another = new FileWormStore(h.conductor.worm.root);

    // Act + Assess
    await expect(
      h.conductor.worm.putOnce(first.key, original.replace('"allow":', '"allow" :')),
    ).rejects.toBeInstanceOf(WormViolationError);
    await expect(another.delete(first.key)).rejects.toBeInstanceOf(WormViolationError);
    expect(await another.putOnce(first.key, original)).toBe('exists');
    expect(await h.conductor.worm.get(first.key)).toBe(original);
    expect(statSync(join(h.conductor.worm.root, ...first.key.split('/'))).mode & 0o777).toBe(0o444);
  });
});

describe('back-pressure', () => {
  it('answers 503 with Retry-After, not the decision, while the archive queue refuses messages', async () => {
    // Prepare
    const queue = h.conductor.queues.get(QUEUE);
    if (!queue) throw new Error(`no queue ${QUEUE}`);
    const refuse = vi.spyOn(queue, 'send').mockImplementation(() => {
      throw new QueueError('KmsThrottled', 'the queue is unavailable');
    });

    // Act
    let refused: Awaited<ReturnType<Harness['call']>>;
    try {
      refused = await h.call('GET', '/experts', { token: h.tokens.acmeViewer });
    } finally {
      refuse.mockRestore();
    }
    const afterwards = await h.call('GET', '/experts', { token: h.tokens.acmeViewer });

    // Assess
    expectUniformError(refused, 503, 'decision_not_recorded');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.text).not.toMatch(/queue|KmsThrottled|sqs/i);
    expect(afterwards.status).toBe(200);
  });
});
