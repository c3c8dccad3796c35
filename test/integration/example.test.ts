import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../examples/route-and-reward/route-and-reward.js';
import { type RunningConductor, startConductor } from '../../infra/local/runtime.js';

/**
 * The example of examples/route-and-reward, run as a user would run it against `npm start -- --allow-private-endpoints`,
 * but in-process: between its epochs the rewards queue is drained and the model cache (50 ms here) has lapsed,
 * so every epoch decides on everything the previous ones taught.
 */
const MODEL_CACHE_MS = 50;
let conductor: RunningConductor;
let adminToken: string;

beforeAll(async () => {
  conductor = await startConductor({
    memory: true,
    port: 0,
    allowPrivateEndpoints: true,
    functionEnv: { ROUTER_MODEL_CACHE_MS: String(MODEL_CACHE_MS) },
  });
  const admin = (await conductor.issuer.demoTokens()).find((t) => t.label === 'acme-admin');
  if (!admin) throw new Error('no demo token acme-admin');
  adminToken = admin.token;
});
afterAll(async () => {
  await conductor.stop();
});

const settle = async (): Promise<void> => {
  const rewards = conductor.mappings.get('conductor-rewards');
  if (!rewards) throw new Error('no event source mapping for the rewards queue');
  await rewards.drain();
  await new Promise((resolve) => setTimeout(resolve, MODEL_CACHE_MS + 20));
};

describe('the route-and-reward example', () => {
  it('routes every task, has every reward accepted, and ends up sending most tasks to the expert that answers right', async () => {
    const lines: string[] = [];

    const result = await main(conductor.apiUrl, adminToken, {
      rounds: 60,
      roundsPerEpoch: 15,
      settle,
      log: (line) => lines.push(line),
    });

    expect(result.routed).toBe(60);
    expect(result.rewarded).toBe(60);
    expect(result.modelVersion).toBeGreaterThan(0);
    expect(result.betterPerEpoch).toHaveLength(4);
    // After 45 rewards (exact answers 1, estimates almost always 0) the calculator takes most tasks.
    expect(result.betterPerEpoch.at(-1)).toBeGreaterThanOrEqual(12);
    expect(lines.some((line) => line.startsWith('learnt: calculator'))).toBe(true);
  });

  it('removes the experts it registered', async () => {
    const reply = await fetch(`${conductor.apiUrl}/experts?limit=100`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    const page = (await reply.json()) as { items: { name: string }[] };

    expect(page.items.filter((expert) => expert.name.includes('example-'))).toEqual([]);
  });
});
