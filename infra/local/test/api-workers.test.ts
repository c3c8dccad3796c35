import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallMeter, meterCalls, setAmbientCallMeter } from '#shared/adapters/call-meter.js';
import type { HttpEvent } from '#shared/http/http.js';
import { type TableSpec, tablesOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { ApiWorkerPool, type ApiWorkerPoolOptions } from '../api-workers.js';
import { ensureTables, type LocalDynamo, localTableName, startLocalDynamo } from '../dynamodb.js';
import { InProcessHttpHandler } from '../in-process-transport.js';
import { lambdaContext } from '../lambda-context.js';

const TABLE = tablesOf(PILLARS)[0] as TableSpec;
const dirs = mkdtempSync(join(tmpdir(), 'conductor-api-workers-'));
const flowStarts: { input: unknown; name: string }[] = [];
let dynamo: LocalDynamo;
let pool: ApiWorkerPool;

const context = (timeoutMs = 10_000): Context => lambdaContext('conductor-fixture', timeoutMs);
/** The fixture takes its own events; the pool passes any event through as the gateway's. */
const call = (action: string, extra: Record<string, unknown> = {}, timeoutMs?: number) =>
  pool.handlerOf('fixture')({ action, ...extra } as unknown as HttpEvent, context(timeoutMs)) as Promise<
    Record<string, unknown>
  >;

/** The pool's options with this file's folders and an approval flow that records what it starts. */
const poolOptions = (
  size: number,
  functions: { name: string; file: string }[],
  standIns: ApiWorkerPoolOptions['standIns'] = new Map(),
): ApiWorkerPoolOptions => ({
  size,
  functions: functions.map(({ name, file }) => ({ name, url: new URL(file, import.meta.url).href })),
  standIns,
  standInDirs: {
    wormDir: join(dirs, 'worm'),
    artifactsDir: join(dirs, 'artifacts'),
    runbookKeyDir: join(dirs, 'keys'),
    dsrSubjectKeyFile: join(dirs, 'dsr.key'),
  },
  approvalFlow: {
    start: async (input, name) => {
      flowStarts.push({ input, name });
      if (name === 'exec-refused') throw new Error('ExecutionAlreadyExists');
      return { executionArn: `arn:local:${name}` };
    },
    sendTaskSuccess: async () => undefined,
    sendTaskFailure: async () => undefined,
  },
});

beforeAll(async () => {
  dynamo = await startLocalDynamo({});
  await ensureTables(dynamo.endpoint, [TABLE]);
  pool = await ApiWorkerPool.start(
    poolOptions(
      2,
      [{ name: 'fixture', file: './support/worker-fixture.ts' }],
      new Map([[new URL(dynamo.endpoint).origin, new InProcessHttpHandler(dynamo.server)]]),
    ),
  );
}, 60_000);
afterAll(async () => {
  await pool?.close();
  await dynamo?.close();
  rmSync(dirs, { recursive: true, force: true });
});

describe('ApiWorkerPool', () => {
  it('invokes the function in a worker with the event and a Lambda context of its name', async () => {
    const answer = await call('echo', { path: '/x' });
    expect(answer).toEqual({ event: { action: 'echo', path: '/x' }, functionName: 'conductor-fixture' });
  });

  it('spreads invocations over its workers, each with its own instance of the module', async () => {
    const seen = await Promise.all(Array.from({ length: 8 }, () => call('thread')));
    expect(new Set(seen.map((answer) => answer.instance)).size).toBe(2);
  });

  it("gives a worker's DynamoDB calls to the main thread's dynalite, typed errors included", async () => {
    const answer = await call('dynamo', {
      endpoint: dynamo.endpoint,
      table: localTableName(TABLE),
      id: 'a',
    });
    expect(answer).toEqual({
      item: { pk: 'fixture#a', sk: 'item', value: 42 },
      conditionFailed: true,
    });
  });

  it("counts a metered invocation's calls, made in the worker, in the invoking request's meter", async () => {
    const meter = new CallMeter();
    await meterCalls(meter, () =>
      call('dynamo', { endpoint: dynamo.endpoint, table: localTableName(TABLE), id: 'metered' }),
    );
    // Two puts (the second refused by its condition: still a call) and a read.
    expect(meter.calls('dynamodb.PutItem')).toBe(2);
    expect(meter.calls('dynamodb.GetItem')).toBe(1);
    const outside = new CallMeter();
    setAmbientCallMeter(outside);
    try {
      await meterCalls(new CallMeter(), () =>
        call('dynamo', { endpoint: dynamo.endpoint, table: localTableName(TABLE), id: 'ambient' }),
      );
      expect(outside.calls('dynamodb.PutItem')).toBe(2);
    } finally {
      setAmbientCallMeter(undefined);
    }
  });

  it("asks the main thread's approval flow, errors included", async () => {
    await expect(call('flow', { id: 'one' })).resolves.toEqual({ executionArn: 'arn:local:exec-one' });
    expect(flowStarts).toContainEqual({ input: { runbook: 'r1' }, name: 'exec-one' });
    await expect(call('flow', { id: 'refused' })).rejects.toThrow('ExecutionAlreadyExists');
  });

  it('moves every worker’s clock with the runtime’s, and back', async () => {
    const before = Date.now();
    pool.advanceClock(86_400_000);
    const moved = await Promise.all(Array.from({ length: 4 }, () => call('now')));
    for (const answer of moved) expect(answer.now as number).toBeGreaterThanOrEqual(before + 86_400_000);
    pool.advanceClock('reset');
    const back = await Promise.all(Array.from({ length: 4 }, () => call('now')));
    for (const answer of back) expect(answer.now as number).toBeLessThan(before + 86_400_000);
  });

  it('rejects an invocation whose handler throws, and serves the next', async () => {
    await expect(call('throw')).rejects.toThrow('the fixture failed');
    await expect(call('echo')).resolves.toMatchObject({ functionName: 'conductor-fixture' });
  });

  it('gives up an invocation past its deadline and keeps serving', async () => {
    await expect(call('hang', {}, 200)).rejects.toThrow('Task timed out after');
    await expect(call('echo')).resolves.toMatchObject({ functionName: 'conductor-fixture' });
  });

  it('rejects the invocations of a worker that dies and starts another in its place', async () => {
    await expect(call('exit')).rejects.toThrow('The API worker exited.');
    await expect.poll(() => pool.size, { timeout: 30_000 }).toBe(2);
    const seen = await Promise.all(Array.from({ length: 8 }, () => call('thread')));
    expect(new Set(seen.map((answer) => answer.instance)).size).toBe(2);
  });

  it('starts a replacement with the clock as moved so far', async () => {
    pool.advanceClock(3_600_000);
    await expect(call('exit')).rejects.toThrow();
    await expect.poll(() => pool.size, { timeout: 30_000 }).toBe(2);
    const answers = await Promise.all(Array.from({ length: 6 }, () => call('now')));
    for (const answer of answers) expect(answer.now as number).toBeGreaterThanOrEqual(Date.now() + 3_500_000);
    pool.advanceClock('reset');
  });

  it('fails to start, without waiting, when a function cannot load in a worker', async () => {
    const failing = (how: string) => {
      process.env.CONDUCTOR_FIXTURE_IMPORT = how;
      return ApiWorkerPool.start(
        poolOptions(1, [{ name: 'broken', file: './support/worker-import-fails.ts' }]),
      );
    };
    try {
      await expect(failing('throw')).rejects.toThrow('the fixture cannot load');
      await expect(failing('exit')).rejects.toThrow('exited with code 4 before it was ready');
    } finally {
      delete process.env.CONDUCTOR_FIXTURE_IMPORT;
    }
  });

  it('refuses a size that is not a whole number from 1 to 64', async () => {
    await expect(ApiWorkerPool.start(poolOptions(0, []))).rejects.toThrow(RangeError);
    await expect(ApiWorkerPool.start(poolOptions(65, []))).rejects.toThrow(RangeError);
    await expect(ApiWorkerPool.start(poolOptions(1.5, []))).rejects.toThrow(RangeError);
  });
});
