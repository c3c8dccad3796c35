import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

/**
 * Installed by both benchmark servers (so it costs both the same): on a `stats` line on stdin the
 * server prints one JSON line `{ "stats": … }` with what it spent since the previous `stats` — CPU
 * time, event-loop delay and GC pauses — and starts a new window. Stdin closing calls `onEnd`.
 */
export interface ProbeStats {
  readonly cpuMs: number;
  readonly eventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly gc: { readonly count: number; readonly totalMs: number; readonly maxMs: number };
}

// 10 ms (Node's default): finer sampling wakes an idle server often enough to skew CPU per request.
const RESOLUTION_MS = 10;

export const installProbe = (onEnd: () => void): void => {
  // The histogram records whole timer intervals; the resolution is subtracted below.
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  let gc = { count: 0, totalMs: 0, maxMs: 0 };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc = {
        count: gc.count + 1,
        totalMs: gc.totalMs + entry.duration,
        maxMs: Math.max(gc.maxMs, entry.duration),
      };
    }
  }).observe({ entryTypes: ['gc'] });
  let cpu = process.cpuUsage();
  const late = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);

  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line.trim() !== 'stats') return;
    const used = process.cpuUsage(cpu);
    const stats: ProbeStats = {
      cpuMs: (used.user + used.system) / 1000,
      eventLoopDelayMs: {
        p50: late(delay.percentile(50)),
        p99: late(delay.percentile(99)),
        max: late(delay.max),
      },
      gc,
    };
    process.stdout.write(`${JSON.stringify({ stats })}\n`);
    cpu = process.cpuUsage();
    delay.reset();
    gc = { count: 0, totalMs: 0, maxMs: 0 };
  });
  lines.on('close', onEnd);
};

/** Sums chunks of one server's stats; loop-delay percentiles become the worst chunk's (conservative). */
export const mergeProbeStats = (chunks: readonly ProbeStats[]): ProbeStats => ({
  cpuMs: chunks.reduce((sum, c) => sum + c.cpuMs, 0),
  eventLoopDelayMs: {
    p50: Math.max(0, ...chunks.map((c) => c.eventLoopDelayMs.p50)),
    p99: Math.max(0, ...chunks.map((c) => c.eventLoopDelayMs.p99)),
    max: Math.max(0, ...chunks.map((c) => c.eventLoopDelayMs.max)),
  },
  gc: {
    count: chunks.reduce((sum, c) => sum + c.gc.count, 0),
    totalMs: chunks.reduce((sum, c) => sum + c.gc.totalMs, 0),
    maxMs: Math.max(0, ...chunks.map((c) => c.gc.maxMs)),
  },
});

/**
 * The end of every runtime server child: stop the embedded runtime once, on SIGTERM or when the
 * parent closes stdin (through the probe), then exit.
 */
export const serveUntilStopped = (server: { stop(): Promise<void> }): void => {
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  installProbe(() => void stop());
};
