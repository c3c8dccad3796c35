import { Agent, request as httpRequest } from 'node:http';
import { summarize } from './stats.js';

export interface PostTarget {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  /**
   * Reads a success's body (only then is it kept): what is wrong with it, or undefined. A success
   * whose check finds a problem still counts as a success; the problems are counted by reason.
   */
  readonly check?: (body: string) => string | undefined;
}

/**
 * Open-loop POST load: request i is sent at start + i/rate whatever earlier ones are doing (no
 * coordinated omission). Bounded: rate x seconds requests, each with a 5 s timeout. A reply with
 * `okStatus` (default 200) counts as a success; anything else (or a socket error) as an error.
 */
export const openLoopPost = async (next: () => PostTarget, rate: number, seconds: number, okStatus = 200) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const total = Math.round(rate * seconds);
  const latencies: number[] = [];
  let errors = 0;
  const statuses: Record<string, number> = {};
  const problems: Record<string, number> = {};
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i += 1) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const target = next();
    const sentAt = process.hrtime.bigint();
    pending.push(
      new Promise<void>((resolve) => {
        const req = httpRequest(
          target.url,
          { method: 'POST', agent, headers: target.headers, timeout: 5000 },
          (res) => {
            const chunks: Buffer[] = [];
            if (target.check) res.on('data', (chunk: Buffer) => chunks.push(chunk));
            else res.resume();
            res.on('end', () => {
              const status = String(res.statusCode);
              statuses[status] = (statuses[status] ?? 0) + 1;
              if (res.statusCode === okStatus) {
                latencies.push(Number(process.hrtime.bigint() - sentAt) / 1e6);
                const problem = target.check?.(Buffer.concat(chunks).toString());
                if (problem) problems[problem] = (problems[problem] ?? 0) + 1;
              } else errors += 1;
              resolve();
            });
          },
        );
        req.on('error', () => {
          errors += 1;
          statuses.error = (statuses.error ?? 0) + 1;
          resolve();
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.end(target.body);
      }),
    );
  }
  const sendSeconds = (performance.now() - started) / 1000;
  await Promise.all(pending);
  agent.destroy();
  return {
    sent: total,
    ok: latencies.length,
    errors,
    statuses,
    /** Successes whose `check` found a problem, by reason. */
    problems,
    sendSeconds,
    latencyMs: summarize(latencies),
    /** Every success's latency, in completion order (to pool interleaved chunks into one distribution). */
    latencies,
  };
};
