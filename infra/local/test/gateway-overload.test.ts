import { describe, expect, it } from 'vitest';
import { jsonResult } from '#shared/http/http.js';
import { InFlightLimit } from '../gateway.js';
import { oneRouteGateway, publicRoute } from './support/one-route-gateway.js';

describe('InFlightLimit', () => {
  it('admits exactly its bound at once, then refuses until a slot is left', () => {
    // Prepare
    const limit = new InFlightLimit(2);

    // Act
    const first = [limit.tryEnter(), limit.tryEnter(), limit.tryEnter()];
    limit.leave();
    const afterLeave = [limit.tryEnter(), limit.tryEnter()];

    // Assess
    expect(first).toEqual([true, true, false]);
    expect(afterLeave).toEqual([true, false]);
    expect(limit.inFlight).toBe(2);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses a bound of %s when it is built', (max) => {
    // Act
    const build = () => new InFlightLimit(max);

    // Assess
    expect(build).toThrow(/maxInFlight must be a positive integer/);
  });
});

describe('the embedded gateway’s in-flight bound', () => {
  const slow = publicRoute('slow');
  const start = oneRouteGateway();

  /**
   * A gateway whose one route holds every request until the test releases it, and tells the test
   * when a given number of requests are inside the handler: "in flight" is then a fact, not a race.
   */
  const startHeld = async (maxInFlight: number) => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered = 0;
    const waiters: { count: number; resolve: () => void }[] = [];
    const call = await start(
      slow,
      async (event) => {
        entered += 1;
        for (const waiter of waiters) if (entered >= waiter.count) waiter.resolve();
        await released;
        return jsonResult(200, { status: 'ok' }, event.requestContext.requestId);
      },
      { throttle: { rateLimit: 1_000, burstLimit: 1_000 }, maxInFlight },
    );
    const inside = (count: number) =>
      new Promise<void>((resolve) => {
        if (entered >= count) resolve();
        else waiters.push({ count, resolve });
      });
    return { call, inside, release, entered: () => entered };
  };

  it('answers the request beyond the bound 503 overloaded with Retry-After, in the uniform shape, at once', async () => {
    // Prepare
    const { call, inside, release, entered } = await startHeld(2);
    const held = [call(), call()];
    await inside(2);

    // Act
    const shed = await call();

    // Assess
    expect(shed.status).toBe(503);
    expect(shed.body).toEqual({
      code: 'overloaded',
      message: expect.any(String),
      traceId: shed.headers.get('x-conductor-trace-id'),
    });
    expect(shed.headers.get('retry-after')).toBe('1');
    expect(shed.headers.get('x-conductor-api-version')).toBe('v1');
    expect(entered()).toBe(2);
    release();
    expect((await Promise.all(held)).map((reply) => reply.status)).toEqual([200, 200]);
  });

  it('serves again as soon as the requests in flight have answered', async () => {
    // Prepare
    const { call, inside, release } = await startHeld(1);
    const held = call();
    await inside(1);
    const shed = await call();

    // Act
    release();
    await held;
    const after = await call();

    // Assess
    expect(shed.status).toBe(503);
    expect(after.status).toBe(200);
  });
});
