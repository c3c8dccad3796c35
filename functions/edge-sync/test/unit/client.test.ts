import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import { EdgeClient, EdgeSyncRefused } from '../../../../clients/edge/client.js';
import { FileStorage } from '../../../../clients/edge/file-storage.js';
import { MemoryStorage } from '../../../../clients/edge/storage.js';

/** The edge client without a server: durability across restarts, retries, refusals, the browser build. */
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const offline: typeof fetch = async () => {
  throw new TypeError('fetch failed');
};

const options = (storage: FileStorage | MemoryStorage, fetchImpl: typeof fetch = offline) => ({
  apiUrl: 'http://edge.invalid/api/conductor/v1',
  nodeId: 'truck-17',
  nodeToken: 'cen_test',
  bearerToken: () => 'jwt',
  storage,
  documents: ['wo-1'],
  fetch: fetchImpl,
  retries: 2,
  backoffMs: 1,
  sleep: async () => undefined,
});

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('EdgeClient', () => {
  it('keeps working offline and loses nothing across a restart (file storage)', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'edge-client-'));
    dirs.push(dir);
    const file = join(dir, 'truck-17.state.json');
    const first = await EdgeClient.open(options(new FileStorage(file)));

    // Act
    await first.set('wo-1', 'status', 'on-site');
    await first.increment('wo-1', 'hours', 2);
    await first.addToSet('wo-1', 'parts', 'gasket');
    await expect(first.sync()).rejects.toThrow('fetch failed');
    const second = await EdgeClient.open(options(new FileStorage(file)));

    // Assess
    expect(second.fields('wo-1')).toEqual({ status: 'on-site', hours: 2, parts: ['gasket'] });
    expect(second.status()).toMatchObject({ pendingOps: 3, cutOff: false });
    expect(second.status()).not.toHaveProperty('lastError');
    expect(first.status().lastError).toContain('fetch failed');
    expect(JSON.parse(readFileSync(file, 'utf8')).outbox).toHaveLength(3);
  });

  it('retries a 503 with backoff and sends the same ops again; a 400 is not retried', async () => {
    // Prepare
    const sent: unknown[] = [];
    let calls = 0;
    const flaky: typeof fetch = async (_url, init) => {
      calls += 1;
      sent.push(JSON.parse(String(init?.body)));
      if (calls === 1) return json(503, { code: 'overloaded', message: 'busy', traceId: 't' });
      if (String(_url).endsWith('/edge/operations'))
        return json(200, { accepted: 1, duplicates: 0, results: [], conflicts: [] });
      return json(200, { documentId: 'wo-1', ops: [], nextCursor: 'c1', hasMore: false });
    };
    const client = await EdgeClient.open(options(new MemoryStorage(), flaky));
    await client.set('wo-1', 'status', 'done');

    // Act
    const report = await client.sync();
    const refusing = await EdgeClient.open(
      options(new MemoryStorage(), async () =>
        json(400, { code: 'invalid_update', message: 'bad', traceId: 't' }),
      ),
    );
    await refusing.set('wo-1', 'status', 'x');
    const refused = await refusing.sync().catch((error: unknown) => error);

    // Assess
    expect(report.pushed).toBe(1);
    expect(sent[0]).toEqual(sent[1]);
    expect(client.status()).toMatchObject({ pendingOps: 0, documents: { 'wo-1': { cursor: 'c1' } } });
    expect(refused).toBeInstanceOf(EdgeSyncRefused);
    expect(refusing.status().pendingOps).toBe(1);
  });

  it('bundles for a browser: no Node built-in reaches it', async () => {
    const result = await build({
      entryPoints: [join(import.meta.dirname, '../../../../clients/edge/index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    expect(result.outputFiles[0]?.text).not.toMatch(/from "node:|require\("(fs|path|crypto)"\)/);
  });
});
