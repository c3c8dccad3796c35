import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { type Summary, summarize } from './stats.js';

export interface Target {
  readonly url: string;
  readonly headers: Record<string, string>;
  /** Expected body length; any other length counts as an error. */
  readonly expectBytes?: number;
}

export interface FixedRateResult {
  readonly rate: number;
  readonly durationMs: number;
  readonly scheduled: number;
  readonly ok: number;
  readonly errors: number;
  readonly errorKinds: Record<string, number>;
  /** Milliseconds from the moment each request was dispatched to the last byte of its response. */
  readonly latencyMs: Summary;
  /** How late the generator dispatched requests against their schedule (ms): shows it kept pace. */
  readonly lagMs: Summary;
  readonly achievedRps: number;
  readonly elapsedMs: number;
  readonly maxSockets: number;
  /** Raw samples (ms), kept so chunks measured apart can be merged; never written to results. */
  readonly latencies: readonly number[];
  readonly lags: readonly number[];
}

const NS_PER_MS = 1_000_000;

/**
 * Open-loop fixed-rate load: request i is due at start + i/rate and is sent when due, whether or not
 * earlier requests have answered (no coordinated omission from waiting on the previous reply).
 * Bounded: exactly rate × duration requests, each with a timeout, and a hard deadline for the drain.
 */
export const fixedRate = async (
  target: Target,
  options: { rate: number; durationMs: number; timeoutMs?: number; drainMs?: number; maxSockets?: number },
): Promise<FixedRateResult> => {
  const total = Math.round((options.rate * options.durationMs) / 1000);
  const intervalNs = 1_000_000_000 / options.rate;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const maxSockets = options.maxSockets ?? 64;
  const agent = new Agent({ keepAlive: true, maxSockets });
  const url = new URL(target.url);
  const latencies: number[] = [];
  const lags: number[] = [];
  const errorKinds: Record<string, number> = {};
  let sent = 0;
  let settled = 0;
  const fail = (kind: string) => {
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  };

  const start = process.hrtime.bigint() + 5n * BigInt(NS_PER_MS);
  const dueAt = (i: number) => start + BigInt(Math.round(i * intervalNs));

  const done = new Promise<void>((resolve) => {
    const hardDeadline = setTimeout(resolve, options.durationMs + (options.drainMs ?? timeoutMs + 5_000));
    const settle = () => {
      settled += 1;
      if (settled === total) {
        clearTimeout(hardDeadline);
        resolve();
      }
    };
    const fire = (i: number) => {
      const now = process.hrtime.bigint();
      lags.push(Number(now - dueAt(i)) / NS_PER_MS);
      const t0 = process.hrtime.bigint();
      let finished = false;
      const finish = (error?: string) => {
        if (finished) return;
        finished = true;
        if (error) fail(error);
        else latencies.push(Number(process.hrtime.bigint() - t0) / NS_PER_MS);
        settle();
      };
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: `${url.pathname}${url.search}`,
          headers: target.headers,
          agent,
        },
        (res) => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
          });
          res.on('end', () => {
            if (res.statusCode !== 200) finish(`status ${res.statusCode}`);
            else if (target.expectBytes !== undefined && bytes !== target.expectBytes) finish('short body');
            else finish();
          });
          res.on('error', () => finish('response error'));
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
      req.on('error', (error) => finish(error.message === 'timeout' ? 'timeout' : 'socket error'));
      req.end();
    };
    const tick = () => {
      const now = process.hrtime.bigint();
      while (sent < total && dueAt(sent) <= now) fire(sent++);
      if (sent < total) {
        const waitMs = Number(dueAt(sent) - process.hrtime.bigint()) / NS_PER_MS;
        setTimeout(tick, Math.max(0, waitMs));
      }
    };
    if (total === 0) resolve();
    else setTimeout(tick, 5);
  });

  await done;
  const elapsedMs = Number(process.hrtime.bigint() - start) / NS_PER_MS;
  agent.destroy();
  const unfinished = total - settled;
  if (unfinished > 0) errorKinds.unfinished = unfinished;
  const errors = Object.values(errorKinds).reduce((sum, n) => sum + n, 0);
  return {
    rate: options.rate,
    durationMs: options.durationMs,
    scheduled: total,
    ok: latencies.length,
    errors,
    errorKinds,
    latencyMs: summarize(latencies),
    lagMs: summarize(lags),
    achievedRps: latencies.length / (elapsedMs / 1000),
    elapsedMs,
    maxSockets,
    latencies,
    lags,
  };
};

/** One result from several chunks of the same fixed-rate load (measured in turn with other targets). */
export const mergeFixedRate = (chunks: readonly FixedRateResult[]): FixedRateResult => {
  const first = chunks[0];
  if (!first) throw new Error('nothing to merge');
  const errorKinds: Record<string, number> = {};
  for (const chunk of chunks)
    for (const [kind, n] of Object.entries(chunk.errorKinds)) errorKinds[kind] = (errorKinds[kind] ?? 0) + n;
  const latencies = chunks.flatMap((c) => c.latencies);
  const lags = chunks.flatMap((c) => c.lags);
  const elapsedMs = chunks.reduce((sum, c) => sum + c.elapsedMs, 0);
  return {
    rate: first.rate,
    durationMs: chunks.reduce((sum, c) => sum + c.durationMs, 0),
    scheduled: chunks.reduce((sum, c) => sum + c.scheduled, 0),
    ok: latencies.length,
    errors: chunks.reduce((sum, c) => sum + c.errors, 0),
    errorKinds,
    latencyMs: summarize(latencies),
    lagMs: summarize(lags),
    achievedRps: latencies.length / (elapsedMs / 1000),
    elapsedMs,
    maxSockets: first.maxSockets,
    latencies,
    lags,
  };
};

export interface AutocannonResult {
  readonly connections: number;
  readonly durationS: number;
  /** All responses per second, as autocannon averages them. */
  readonly requestsPerSec: number;
  /** 2xx responses per second over the run: the throughput that counts. */
  readonly okPerSec: number;
  readonly totalRequests: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  /** Response count by status code. */
  readonly statusCodes: Record<string, number>;
}

const autocannonBin = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

/**
 * Closed-loop maximum throughput with autocannon, run as its own process (its JSON report on stdout).
 * Killed if it outlives its duration by 30 s.
 */
export const autocannon = (
  target: Target,
  options: { connections: number; durationS: number },
): Promise<AutocannonResult> =>
  new Promise((resolve, reject) => {
    const headerArgs = Object.entries(target.headers).flatMap(([key, value]) => ['-H', `${key}=${value}`]);
    const child = spawn(
      process.execPath,
      [
        autocannonBin,
        '--json',
        '--no-progress',
        '-c',
        String(options.connections),
        '-d',
        String(options.durationS),
        '-t',
        '10',
        ...headerArgs,
        target.url,
      ],
      { env: { ...process.env, NODE_NO_WARNINGS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 20_000) stderr += chunk.toString();
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), (options.durationS + 30) * 1000);
    child.once('exit', (code) => {
      clearTimeout(killer);
      try {
        const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as {
          requests: { average: number; total: number };
          latency: { p50: number; p99: number; max: number };
          errors: number;
          timeouts: number;
          non2xx: number;
          '2xx': number;
          duration: number;
          statusCodeStats: Record<string, { count: number }>;
        };
        resolve({
          connections: options.connections,
          durationS: options.durationS,
          requestsPerSec: report.requests.average,
          okPerSec: report.duration > 0 ? report['2xx'] / report.duration : 0,
          totalRequests: report.requests.total,
          p50Ms: report.latency.p50,
          p99Ms: report.latency.p99,
          maxMs: report.latency.max,
          errors: report.errors,
          timeouts: report.timeouts,
          non2xx: report.non2xx,
          statusCodes: Object.fromEntries(
            Object.entries(report.statusCodeStats).map(([code, { count }]) => [code, count]),
          ),
        });
      } catch {
        reject(new Error(`autocannon exited with ${code} without a JSON report.\n${stderr}`));
      }
    });
  });
