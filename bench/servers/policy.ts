import { startBenchConductor } from '../lib/conductor.js';
import { serveUntilStopped } from '../lib/probe.js';

/**
 * Child process of `bench/policy.ts`: the embedded runtime (memory, port 0) with the stage throttle
 * and per-tenant limits out of the way (still counted, never refusing), and one operator token per
 * tenant. Prints `{ ready: { url, tokens } }` and serves until stdin closes or SIGTERM.
 */
const TENANTS = Number(process.env.BENCH_TENANTS ?? 10);

// BENCH_POLICY_ENGINE: the engine the runtime decides with (cedar or opa).
const engine = process.env.BENCH_POLICY_ENGINE;
const conductor = await startBenchConductor(
  engine === 'opa' || engine === 'cedar' ? { policyEngine: engine } : {},
);
const tokens: Record<string, string> = {};
for (let i = 0; i < TENANTS; i += 1) {
  const tenant = `tenant-${i}`;
  tokens[tenant] = await conductor.issuer.mint({ subject: `${tenant}-caller`, tenant, roles: ['operator'] });
}
process.stdout.write(`${JSON.stringify({ ready: { url: conductor.apiUrl, tokens } })}\n`);

serveUntilStopped(conductor);
