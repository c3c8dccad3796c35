import { createServer } from 'node:http';
import { MessageChannel } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { InProcessHttpHandler } from '../in-process-transport.js';
import {
  answerSdkRequest,
  ThreadHttpHandler,
  type ThreadSdkAnswer,
  type ThreadSdkRequest,
} from '../thread-transport.js';

/** A stand-in that answers with what it was sent: method, path, query and body. */
const echo = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.writeHead(req.headers['x-status'] ? Number(req.headers['x-status']) : 200, { 'x-echo': 'yes' });
    res.end(`${req.method} ${req.url} ${body.toString('base64')}`);
  });
});
const ORIGIN = 'http://127.0.0.1:1';
const channel = new MessageChannel();
const standIns = new Map([[ORIGIN, new InProcessHttpHandler(echo)]]);
// The main thread's side of the channel: answers each SDK request with the stand-in of its origin.
channel.port1.on('message', (message: ThreadSdkRequest) => {
  void answerSdkRequest(message, standIns).then((answer) =>
    channel.port1.postMessage(answer, answer.body ? [answer.body.buffer as ArrayBuffer] : []),
  );
});
const pending = new Map<number, { resolve: (answer: ThreadSdkAnswer) => void }>();
channel.port2.on('message', (answer: ThreadSdkAnswer) => {
  pending.get(answer.id)?.resolve(answer);
  pending.delete(answer.id);
});
const handler = new ThreadHttpHandler(channel.port2, ORIGIN, pending);
afterAll(() => {
  channel.port1.close();
  channel.port2.close();
});

const text = async (body: unknown) => Buffer.from(body as Uint8Array).toString('utf8');

describe('the thread transport', () => {
  it('carries a string body, the query and the status across, and the answer back as bytes', async () => {
    const { response } = await handler.handle({
      method: 'POST',
      path: '/a',
      query: { q: 'x y', flag: null },
      headers: { 'X-Status': '201' },
      body: '{"k":1}',
    });
    expect(response.statusCode).toBe(201);
    expect(response.headers['x-echo']).toBe('yes');
    expect(await text(response.body)).toBe(
      `POST /a?q=x%20y&flag ${Buffer.from('{"k":1}').toString('base64')}`,
    );
  });

  it("copies bytes out of Node's shared buffer pool instead of transferring or cloning it whole", async () => {
    const pooled = Buffer.from('small bytes from the pool');
    const neighbour = Buffer.from('another buffer of the same pool');
    expect(pooled.buffer).toBe(neighbour.buffer);
    const { response } = await handler.handle({ method: 'PUT', path: '/b', headers: {}, body: pooled });
    expect(await text(response.body)).toBe(`PUT /b ${pooled.toString('base64')}`);
    // Nothing of the pool was detached on either side.
    expect(neighbour.toString()).toBe('another buffer of the same pool');
    expect(pooled.byteLength).toBe(25);
  });

  it('fails the call as a network error when no stand-in serves the origin', async () => {
    const stray = new ThreadHttpHandler(channel.port2, 'http://127.0.0.1:2', pending);
    await expect(stray.handle({ method: 'GET', path: '/', headers: {} })).rejects.toThrow(
      'no stand-in serves http://127.0.0.1:2',
    );
  });
});
