import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { installProbe } from '../lib/probe.js';

/**
 * Child process of `bench/api.ts`: the baseline. A bare `node:http` server that answers every request
 * with the bytes the embedded runtime answered `GET /experts` with (captured once, passed in the file
 * named by BENCH_RESPONSE_FILE), and the same response headers. Node adds `date`, `connection` and
 * `keep-alive` itself, as it does for the runtime's gateway, so both send the same header count.
 */
interface Captured {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

const file = process.env.BENCH_RESPONSE_FILE;
if (!file) throw new Error('BENCH_RESPONSE_FILE is required');
const captured = JSON.parse(readFileSync(file, 'utf8')) as Captured;
const NODE_ADDS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding']);
const body = Buffer.from(captured.body, 'utf8');
const headers: Record<string, string> = {};
for (const [key, value] of Object.entries(captured.headers)) if (!NODE_ADDS.has(key)) headers[key] = value;
headers['content-length'] = String(body.length);

const server = createServer((req, res) => {
  // Drain the (empty) request body exactly as the gateway does before answering.
  req.resume();
  req.on('end', () => {
    res.writeHead(captured.status, headers);
    res.end(body);
  });
});
server.keepAliveTimeout = 5_000; // as the embedded gateway

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: { url: `http://127.0.0.1:${port}` } })}\n`);
});

const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
installProbe(stop);
