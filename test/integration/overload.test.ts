import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningConductor, startConductor } from '../../infra/local/runtime.js';

const MAX_IN_FLIGHT = 2;
let conductor: RunningConductor;

beforeAll(async () => {
  conductor = await startConductor({ memory: true, port: 0, maxInFlight: MAX_IN_FLIGHT });
});
afterAll(async () => {
  await conductor.stop();
});

/**
 * A request held in flight by its client: it asks `Expect: 100-continue` and sends its body only
 * when told. Node's server answers `100 Continue` in the same turn in which it hands the request to
 * the gateway, so once `inside` resolves the gateway has counted it: no race to wait out.
 */
const heldRequest = (url: string) => {
  const headers = { expect: '100-continue', 'content-type': 'application/json', 'content-length': '2' };
  let signalInside: () => void = () => {};
  const inside = new Promise<void>((resolve) => {
    signalInside = resolve;
  });
  let held: ReturnType<typeof request> | undefined;
  const answered = new Promise<number>((resolve, reject) => {
    held = request(url, { method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    held.on('error', reject);
    held.on('continue', signalInside);
    held.flushHeaders();
  });
  return { inside, answered, finish: () => held?.end('{}') };
};

describe('the in-flight bound of the embedded gateway', () => {
  it('sheds the request beyond the bound with 503 overloaded and Retry-After, then serves once the others answer', async () => {
    // Prepare: as many requests in flight as the bound, on a path no route serves ($default's 404).
    const held = Array.from({ length: MAX_IN_FLIGHT }, () => heldRequest(`${conductor.apiUrl}/held`));
    await Promise.all(held.map((one) => one.inside));

    // Act
    const shed = await fetch(`${conductor.apiUrl}/health`);
    for (const one of held) one.finish();
    const heldStatuses = await Promise.all(held.map((one) => one.answered));
    const after = await fetch(`${conductor.apiUrl}/health`);

    // Assess
    expect(shed.status).toBe(503);
    expect(shed.headers.get('retry-after')).toBe('1');
    expect(await shed.json()).toEqual({
      code: 'overloaded',
      message: expect.any(String),
      traceId: shed.headers.get('x-conductor-trace-id'),
    });
    expect(heldStatuses).toEqual(Array.from({ length: MAX_IN_FLIGHT }, () => 404));
    expect(after.status).toBe(200);
  });
});
