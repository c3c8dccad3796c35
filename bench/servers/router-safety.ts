import { createInterface } from 'node:readline';
import { seedBenchExperts, startBenchConductor } from '../lib/conductor.js';
import { serveUntilStopped } from '../lib/probe.js';

/**
 * Child process of `bench/router-safety.ts`: the embedded runtime (memory, port 0) with the stage
 * throttle and per-tenant limits out of the way, 4 experts seeded for tenant `acme` through the API,
 * an operator token and an admin token with step-up (amr mfa: PUT /router/config needs it, so this
 * is not bench/servers/router.ts, which hands out an operator token only). Prints
 * `{ ready: { url, admin, operator, expertIds } }`, then answers on stdin:
 * - `clock <ms>`: moves the handlers' clock forward by ms (`advanceClock`) and answers
 *   `{ "clock <ms>": { advancedMs } }`, advancedMs the total moved so far.
 * Serves until stdin closes or SIGTERM.
 */
const TENANT = 'acme';
const EXPERTS = 4;

const conductor = await startBenchConductor();

const admin = await conductor.issuer.mint({
  subject: `${TENANT}-admin`,
  tenant: TENANT,
  roles: ['tenant-admin'],
  amr: ['pwd', 'mfa'],
});
const operator = await conductor.issuer.mint({
  subject: `${TENANT}-operator`,
  tenant: TENANT,
  roles: ['operator'],
});
const expertIds = await seedBenchExperts(conductor.apiUrl, admin, EXPERTS, 'bench');

let advancedMs = 0;
const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  const [word, argument] = line.trim().split(/\s+/);
  if (word !== 'clock') return;
  const ms = Number(argument);
  if (Number.isFinite(ms) && ms > 0) {
    conductor.advanceClock(ms);
    advancedMs += ms;
  }
  // Keyed by the whole command line, as ServerChild.command expects.
  process.stdout.write(`${JSON.stringify({ [`clock ${argument}`]: { advancedMs } })}\n`);
});

process.stdout.write(`${JSON.stringify({ ready: { url: conductor.apiUrl, admin, operator, expertIds } })}\n`);

serveUntilStopped(conductor);
