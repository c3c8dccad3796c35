import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonResult } from '#shared/http/http.js';
import { ManualClock } from '#shared/ports/system.js';
import { TokenBucket } from '../gateway.js';
import { oneRouteGateway, publicRoute } from './support/one-route-gateway.js';

describe('TokenBucket', () => {
  it('admits exactly the burst at one instant, then says how long until the next token', () => {
    // Prepare
    const bucket = new TokenBucket(2, 3, new ManualClock());

    // Act
    const answers = Array.from({ length: 5 }, () => bucket.take());

    // Assess
    expect(answers.map((answer) => answer.ok)).toEqual([true, true, true, false, false]);
    expect(answers[3]).toEqual({ ok: false, retryAfterSeconds: 0.5 });
  });

  it('refills at its rate: one token per 1/rate seconds', () => {
    // Prepare
    const clock = new ManualClock();
    const bucket = new TokenBucket(2, 3, clock);
    for (let i = 0; i < 3; i += 1) bucket.take();

    // Act
    clock.advance(250);
    const halfToken = bucket.take();
    clock.advance(250);
    const oneToken = [bucket.take(), bucket.take()];

    // Assess
    expect(halfToken).toEqual({ ok: false, retryAfterSeconds: 0.25 });
    expect(oneToken.map((answer) => answer.ok)).toEqual([true, false]);
  });

  it('holds no more than the burst, however long it was idle', () => {
    // Prepare
    const clock = new ManualClock();
    const bucket = new TokenBucket(2, 3, clock);
    bucket.take();

    // Act
    clock.advance(3_600_000);
    const answers = Array.from({ length: 4 }, () => bucket.take().ok);

    // Assess
    expect(answers).toEqual([true, true, true, false]);
  });

  it('refills nothing when its clock is set back', () => {
    // Prepare
    const clock = new ManualClock();
    const bucket = new TokenBucket(1, 1, clock);
    bucket.take();

    // Act
    clock.advance(-60_000);
    const backwards = bucket.take();
    clock.advance(60_000);
    const caughtUp = bucket.take();

    // Assess
    expect(backwards.ok).toBe(false);
    expect(caughtUp.ok).toBe(false);
  });

  it('never admits more than burst + rate × elapsed time, whatever the arrival pattern', () => {
    const step = fc.record({ waitMs: fc.integer({ min: 0, max: 2_000 }), requests: fc.nat(5) });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 10 }),
        fc.array(step, { maxLength: 40 }),
        (rate, burst, steps) => {
          // Prepare
          const clock = new ManualClock();
          const bucket = new TokenBucket(rate, burst, clock);
          let elapsedMs = 0;
          let admitted = 0;

          // Act
          for (const { waitMs, requests } of steps) {
            clock.advance(waitMs);
            elapsedMs += waitMs;
            for (let i = 0; i < requests; i += 1) if (bucket.take().ok) admitted += 1;

            // Assess
            expect(admitted).toBeLessThanOrEqual(burst + (rate * elapsedMs) / 1000 + 1e-9);
          }
        },
      ),
    );
  });
});

describe('the embedded gateway’s stage throttle', () => {
  const health = publicRoute('health');
  const start = oneRouteGateway();

  /** A gateway with one route and a throttle of 1 request/s, burst 2, on a clock the test moves. */
  const startThrottled = async () => {
    const clock = new ManualClock();
    let served = 0;
    const call = await start(
      health,
      async (event) => {
        served += 1;
        return jsonResult(200, { status: 'ok' }, event.requestContext.requestId);
      },
      { throttle: { rateLimit: 1, burstLimit: 2 }, clock },
    );
    return { clock, call, served: () => served };
  };

  it('refuses the request after the burst with 429 in the uniform shape, before the handler runs', async () => {
    // Prepare
    const { call, served } = await startThrottled();

    // Act
    const replies = [await call(), await call(), await call()];

    // Assess
    expect(replies.map((reply) => reply.status)).toEqual([200, 200, 429]);
    const limited = replies[2];
    expect(limited?.body).toEqual({
      code: 'rate_limited',
      message: expect.any(String),
      traceId: limited?.headers.get('x-conductor-trace-id'),
    });
    expect(limited?.headers.get('retry-after')).toBe('1');
    expect(limited?.headers.get('x-conductor-api-version')).toBe('v1');
    expect(served()).toBe(2);
  });

  it('admits one more request per second of refill, at exactly the times the rate allows', async () => {
    // Prepare
    const { clock, call } = await startThrottled();
    await call();
    await call();

    // Act
    clock.advance(500);
    const early = await call();
    clock.advance(500);
    const onTime = [await call(), await call()];

    // Assess
    expect(early.status).toBe(429);
    expect(onTime.map((reply) => reply.status)).toEqual([200, 429]);
  });
});
