import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ProbeStats } from './probe.js';

/**
 * A benchmark server in its own Node process, so the load generator never shares an event loop with
 * the server it measures. The child prints one JSON line `{ "ready": … }` on stdout when it serves;
 * closing its stdin (or SIGTERM) stops it.
 */
export interface ServerChild<T> {
  readonly ready: T;
  readonly pid: number;
  /** What the server spent since the previous call (see probe.ts). */
  stats(): Promise<ProbeStats>;
  /**
   * Sends a bare word on stdin and resolves with the value of the child's next `{ "<word>": … }`
   * line (for children that answer extra commands, e.g. bench/servers/router.ts).
   */
  command<R>(word: string, timeoutMs?: number): Promise<R>;
  stop(): Promise<void>;
}

export const startServerChild = async <T>(
  script: string,
  options: { env?: NodeJS.ProcessEnv; nodeArgs?: readonly string[]; readyTimeoutMs?: number } = {},
): Promise<ServerChild<T>> => {
  const child: ChildProcess = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--import', 'tsx', script],
    {
      env: { ...process.env, NODE_NO_WARNINGS: '1', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 20_000) stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  let pendingStats: ((stats: ProbeStats) => void) | undefined;
  const pendingCommands = new Map<string, (value: unknown) => void>();
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  lines.on('line', (line) => {
    for (const [word, resolveCommand] of pendingCommands) {
      if (!line.startsWith(`{"${word}"`)) continue;
      pendingCommands.delete(word);
      resolveCommand((JSON.parse(line) as Record<string, unknown>)[word]);
      return;
    }
    if (!line.startsWith('{"stats"')) return;
    const resolveStats = pendingStats;
    pendingStats = undefined;
    resolveStats?.((JSON.parse(line) as { stats: ProbeStats }).stats);
  });

  const ready = await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not become ready in time.\n${stderr}`));
    }, options.readyTimeoutMs ?? 60_000);
    lines.on('line', (line) => {
      if (!line.startsWith('{"ready"')) return;
      try {
        const parsed = JSON.parse(line) as { ready?: T };
        if (parsed.ready) {
          clearTimeout(timer);
          resolve(parsed.ready);
        }
      } catch {
        // not our line
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before it was ready.\n${stderr}`));
    });
  });

  return {
    ready,
    pid: child.pid ?? -1,
    stats: () =>
      new Promise<ProbeStats>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${script} sent no stats`)), 5_000);
        pendingStats = (stats) => {
          clearTimeout(timer);
          resolve(stats);
        };
        child.stdin?.write('stats\n');
      }),
    command: <R>(word: string, timeoutMs = 5_000) =>
      new Promise<R>((resolve, reject) => {
        const timer = setTimeout(() => {
          pendingCommands.delete(word);
          reject(new Error(`${script} did not answer ${word}`));
        }, timeoutMs);
        pendingCommands.set(word, (value) => {
          clearTimeout(timer);
          resolve(value as R);
        });
        child.stdin?.write(`${word}\n`);
      }),
    stop: async () => {
      if (child.exitCode !== null) return;
      child.stdin?.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    },
  };
};

/**
 * The server children of one benchmark: stopped in reverse order of start (a runtime before the
 * expert it calls), each awaited, also on Ctrl-C or SIGTERM (then the benchmark exits 130).
 */
export const childRegistry = () => {
  const children: ServerChild<unknown>[] = [];
  const stopAll = async () => {
    for (const child of [...children].reverse()) await child.stop().catch(() => undefined);
    children.length = 0;
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      void stopAll().finally(() => process.exit(130));
    });
  return { add: <T>(child: ServerChild<T>) => children.push(child as ServerChild<unknown>), stopAll };
};
