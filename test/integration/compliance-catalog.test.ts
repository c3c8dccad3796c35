import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Custom catalog files, as a user adds them: a folder of `*.json` named by
 * CONDUCTOR_COMPLIANCE_CATALOG_DIR, read by `npm start` after the built-in catalog. A valid framework
 * file shows in GET /compliance/frameworks; a malformed controls file stops the start, naming the
 * file, the path and the reason.
 */
const root = resolve(import.meta.dirname, '../..');
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const folderWith = (files: Record<string, unknown>): string => {
  const dir = mkdtempSync(join(tmpdir(), 'conductor-catalog-'));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
};

/** `npm start` (memory, a free port) with the catalog folder; resolves with its output once it is up or has exited. */
const startWith = (catalogDir: string) =>
  new Promise<{ output: string; exitCode: number | null; stop: () => Promise<void> }>((done, fail) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'infra/local/main.ts', '--port', '0', '--memory'],
      {
        cwd: root,
        env: { ...process.env, NODE_NO_WARNINGS: '1', CONDUCTOR_COMPLIANCE_CATALOG_DIR: catalogDir },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    const stop = () =>
      new Promise<void>((stopped) => {
        if (child.exitCode !== null) return stopped();
        child.once('exit', () => stopped());
        child.kill('SIGINT');
      });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`npm start neither came up nor exited:\n${output}`));
    }, 60_000);
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Press Ctrl-C to stop.')) {
        clearTimeout(timer);
        done({ output, exitCode: null, stop });
      }
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.once('exit', (code) => {
      clearTimeout(timer);
      done({ output, exitCode: code, stop });
    });
  });

describe('custom compliance catalog files', () => {
  it('adds a framework from a file, mapped to the built-in controls', async () => {
    const dir = folderWith({
      'iso27001.json': {
        apiVersion: 'conductor.framework/v1',
        id: 'ISO27001',
        name: 'ISO/IEC 27001:2022 Annex A (excerpt)',
        criteria: [{ id: 'A.8.15', title: 'Logging', controls: ['log-retention', 'monitoring'] }],
      },
    });
    const started = await startWith(dir);
    try {
      expect(started.exitCode, started.output).toBeNull();
      const api = /API\s+(http:\/\/\S+)/.exec(started.output)?.[1];
      const token = /export ORG_ADMIN_TOKEN='([^']+)'/.exec(started.output)?.[1];
      const reply = await fetch(`${api}/compliance/frameworks`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const body = (await reply.json()) as { items: { id: string; criteria: { controls: string[] }[] }[] };
      expect(reply.status).toBe(200);
      expect(body.items.map((f) => f.id).sort()).toEqual(['GDPR', 'ISO27001', 'SOC2']);
      expect(body.items.find((f) => f.id === 'ISO27001')?.criteria[0]?.controls).toEqual([
        'log-retention',
        'monitoring',
      ]);
    } finally {
      await started.stop();
    }
  });

  it('refuses to start on a malformed controls file, naming the file, the path and the reason', async () => {
    const dir = folderWith({
      'extra-controls.json': {
        apiVersion: 'conductor.controls/v1',
        controls: [
          {
            id: 'vendor-review',
            title: 'Vendors reviewed',
            description: 'Every vendor reviewed yearly.',
            owner: 'grc',
            tests: ['platform.evidence-store-worm'],
            frequency: 'yearly',
            severity: 'low',
            likelihood: 2,
            impact: 9,
          },
        ],
      },
    });
    const started = await startWith(dir);
    await started.stop();
    expect(started.exitCode).not.toBe(0);
    expect(started.exitCode).not.toBeNull();
    expect(started.output).toContain(`${join(dir, 'extra-controls.json')}: controls[0].frequency`);
    expect(started.output).toContain(`${join(dir, 'extra-controls.json')}: controls[0].impact`);
  });
});
