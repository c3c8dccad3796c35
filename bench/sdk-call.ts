/**
 * `npm run bench:sdk-call` — what one AWS SDK call costs the embedded runtime's CPU, by transport.
 *
 * The kernel's DynamoDB document client (`#shared/adapters/dynamodb-client.js`, as every handler
 * makes it) sends PutItem (a 0.2 KB item, a fresh key each time) and GetItem one after another,
 * N times each (BENCH_SDK_CALLS, default 3,000, after 500 of warm-up), three ways in this process:
 * - **the SDK alone (baseline)**: a request handler that answers `{}` at once: what the SDK itself
 *   spends on a call (middleware stack, endpoint, serialization, SigV4 signing, retry bookkeeping,
 *   parsing), which no transport and no stand-in can save;
 * - **in process**: dynalite's request listener without a socket (infra/local/in-process-transport.ts,
 *   how the embedded runtime's handlers reach it);
 * - **loopback HTTP**: dynalite on 127.0.0.1 (how it was before, and how another process reaches it).
 * CPU is this process's user + system time (`process.cpuUsage`) over the measured calls. Writes
 * bench/results/sdk-call.json.
 */

import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { serveInProcess } from '#shared/adapters/clients.js';
import { makeDocumentClient } from '#shared/adapters/dynamodb-client.js';
import { tablesOf } from '#shared/pillar.js';
import { PILLARS } from '../functions/catalog.js';
import { ensureTables, localTableName, startLocalDynamo } from '../infra/local/dynamodb.js';
import { InProcessHttpHandler } from '../infra/local/in-process-transport.js';
import { checkQuiet, machine } from './lib/machine.js';
import { writeResult } from './lib/results.js';
import { fixed, round, table } from './lib/stats.js';

const CALLS = Number(process.env.BENCH_SDK_CALLS ?? 3000);
if (!Number.isInteger(CALLS) || CALLS < 100) throw new Error('BENCH_SDK_CALLS must be an integer ≥ 100');
const WARM_UP = 500;

const lines: string[] = [];
const log = (line = '') => {
  lines.push(line);
  console.log(line);
};

const host = machine();
log('bench:sdk-call — CPU of one AWS SDK DynamoDB call in this process, by transport');
log(`machine: ${host.cpus} cores (${host.cpuModel}), ${host.memoryGiB} GiB, Node ${host.node}`);
const busyBefore = await checkQuiet(log);

const dynamo = await startLocalDynamo({});
const [spec] = tablesOf(PILLARS);
if (!spec) throw new Error('no table in the catalog');
await ensureTables(dynamo.endpoint, [spec]);
const TableName = localTableName(spec);

/** A stand-in that answers every call with an empty JSON object: the SDK's own work only. */
const answersAtOnce = {
  listeners: () => [
    (req: NodeJS.ReadableStream, res: { setHeader(n: string, v: string): void; end(b: string): void }) => {
      req.on('data', () => {});
      req.on('end', () => {
        res.setHeader('content-type', 'application/x-amz-json-1.0');
        res.end('{}');
      });
    },
  ],
};

type Way = 'sdk-alone' | 'in-process' | 'loopback-http';
const WAYS: readonly [Way, string][] = [
  ['sdk-alone', 'the SDK alone, a transport answering {} (baseline)'],
  ['in-process', 'in process to dynalite (the embedded runtime)'],
  ['loopback-http', 'loopback HTTP to dynalite'],
];

const measure = async (way: Way) => {
  const stop =
    way === 'sdk-alone'
      ? serveInProcess(dynamo.endpoint, new InProcessHttpHandler(answersAtOnce as never))
      : way === 'in-process'
        ? serveInProcess(dynamo.endpoint, new InProcessHttpHandler(dynamo.server))
        : () => {};
  try {
    const client = makeDocumentClient({ region: 'us-east-1', endpoint: dynamo.endpoint });
    const item = (i: number) => ({
      pk: `bench#SDK`,
      sk: `${way}-${i}`,
      text: 'a decision of a route',
      n: i,
      list: [1, 2, 3],
      map: { strategy: 'linucb', confidence: 0.82 },
    });
    for (let i = 0; i < WARM_UP; i += 1) {
      await client.send(new PutCommand({ TableName, Item: item(-i - 1) }));
      await client.send(new GetCommand({ TableName, Key: { pk: 'bench#SDK', sk: `${way}--1` } }));
    }
    const result: Record<string, { cpuMs: number; wallMs: number }> = {};
    for (const operation of ['PutItem', 'GetItem'] as const) {
      const started = performance.now();
      const before = process.cpuUsage();
      for (let i = 0; i < CALLS; i += 1) {
        if (operation === 'PutItem') await client.send(new PutCommand({ TableName, Item: item(i) }));
        else await client.send(new GetCommand({ TableName, Key: { pk: 'bench#SDK', sk: `${way}-${i}` } }));
      }
      const used = process.cpuUsage(before);
      result[operation] = {
        cpuMs: (used.user + used.system) / 1000 / CALLS,
        wallMs: (performance.now() - started) / CALLS,
      };
    }
    client.destroy();
    return result;
  } finally {
    stop();
  }
};

const results: Record<string, Record<string, { cpuMs: number; wallMs: number }>> = {};
// Twice through, interleaved, so drift hits every way alike; the second pass is reported.
for (const pass of [1, 2]) {
  for (const [way] of WAYS) {
    const got = await measure(way);
    if (pass === 2) results[way] = got;
  }
}
await dynamo.close();

const base = results['sdk-alone'];
log();
log(`${CALLS} calls of each operation per way, one after another (second of two interleaved passes)`);
log(
  table(
    [
      ['way', 'PutItem CPU ms', 'GetItem CPU ms', 'PutItem / SDK alone', 'GetItem / SDK alone'],
      ...WAYS.map(([way, label]) => {
        const r = results[way];
        return [
          label,
          fixed(r?.PutItem?.cpuMs ?? 0, 3),
          fixed(r?.GetItem?.cpuMs ?? 0, 3),
          `${fixed((r?.PutItem?.cpuMs ?? 0) / (base?.PutItem?.cpuMs ?? 1), 2)}x`,
          `${fixed((r?.GetItem?.cpuMs ?? 0) / (base?.GetItem?.cpuMs ?? 1), 2)}x`,
        ];
      }),
    ],
    'lrrrr',
  ),
);

const file = writeResult('sdk-call', {
  machine: host,
  date: new Date().toISOString(),
  otherCpuBusyBefore: round(busyBefore, 2),
  callsPerOperation: CALLS,
  cpuMsPerCall: Object.fromEntries(
    WAYS.map(([way]) => [
      way,
      Object.fromEntries(
        Object.entries(results[way] ?? {}).map(([op, r]) => [
          op,
          { cpu: round(r.cpuMs, 4), wall: round(r.wallMs, 4) },
        ]),
      ),
    ]),
  ),
});
log(`wrote ${file}`);
