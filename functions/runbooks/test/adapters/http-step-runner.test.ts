import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GuardedHttpClient } from '#shared/outbound/outbound.js';
import {
  type HttpStep,
  HttpStepRunner,
  MAX_HTTP_OUTPUT_BYTES,
  NotifyStepRunner,
  type StepNotification,
} from '../../src/adapters/step-runners.js';
import { StepFailedError } from '../../src/domain/steps.js';
import { stepContext } from './step-fixtures.js';

const context = stepContext({ runbookId: 'restart-service' });

interface Received {
  method: string | undefined;
  url: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A local endpoint: each test sets how it answers; it records what it received. */
let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void;
const received: Received[] = [];
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    received.push({
      method: req.method,
      url: req.url,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    });
    answer(req, res);
  });
});
let base: string;
const outbound = new GuardedHttpClient({ allowPrivate: true });

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(() => {
  received.length = 0;
});
afterAll(async () => {
  outbound.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
  return (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
};

const httpStep = (fields: Partial<HttpStep> = {}): HttpStep => ({
  id: 'restart',
  name: 'Restart',
  type: 'http',
  privileged: true,
  method: 'POST',
  url: `${base}/services/billing/restart?token=s3cret`,
  ...fields,
});

describe('HttpStepRunner', () => {
  it('sends the step’s method, headers and JSON body, and answers the status and the parsed JSON body', async () => {
    // Prepare
    answer = json(202, { restarted: 'billing', pods: 3 });
    const runner = new HttpStepRunner(outbound);

    // Act
    const output = await runner.run(
      httpStep({ headers: { 'X-Change-Ticket': 'CHG-42' }, body: { drain: true } }),
      context,
    );

    // Assess
    expect(output).toEqual({ status: 202, body: { restarted: 'billing', pods: 3 } });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      method: 'POST',
      url: '/services/billing/restart?token=s3cret',
      body: '{"drain":true}',
    });
    expect(received[0]?.headers['x-change-ticket']).toBe('CHG-42');
    expect(received[0]?.headers['content-type']).toBe('application/json');
  });

  it('answers a response that is not JSON as its text', async () => {
    // Prepare
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('OK, restarted');
    };

    // Act
    const output = await new HttpStepRunner(outbound).run(httpStep({ method: 'GET' }), context);

    // Assess
    expect(output).toEqual({ status: 200, body: 'OK, restarted' });
    expect(received[0]?.method).toBe('GET');
  });

  it('keeps at most 64 KiB of the body, without splitting a character, and says it was cut', async () => {
    // Prepare: a 3-byte character straddles the limit
    const text = `${'a'.repeat(MAX_HTTP_OUTPUT_BYTES - 1)}€${'b'.repeat(1000)}`;
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(text);
    };

    // Act
    const output = await new HttpStepRunner(outbound).run(httpStep(), context);

    // Assess
    expect(output).toEqual({ status: 200, body: 'a'.repeat(MAX_HTTP_OUTPUT_BYTES - 1), truncated: true });
  });

  it('keeps a JSON body larger than 64 KiB as its text, cut', async () => {
    // Prepare
    answer = json(200, { log: 'x'.repeat(MAX_HTTP_OUTPUT_BYTES) });

    // Act
    const output = await new HttpStepRunner(outbound).run(httpStep(), context);

    // Assess
    expect(output.truncated).toBe(true);
    expect(typeof output.body).toBe('string');
    expect(Buffer.byteLength(output.body as string)).toBe(MAX_HTTP_OUTPUT_BYTES);
    expect(output.body).toMatch(/^\{"log":"xxx/);
  });

  it('fails the step on a non-2xx status, naming the status and nothing of the response', async () => {
    // Prepare
    answer = json(503, { error: 'db password hunter2 rejected' }, { 'set-cookie': 'session=abc' });

    // Act
    const running = new HttpStepRunner(outbound).run(httpStep(), context);

    // Assess
    const error = await running.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepFailedError);
    expect(error).toMatchObject({ stepId: 'restart', reason: 'HTTP 503' });
    expect((error as Error).message).not.toMatch(/hunter2|session|s3cret/);
  });

  it('does not follow a redirect: a 3xx fails the step', async () => {
    // Prepare
    answer = (_req, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
      res.end();
    };

    // Act
    const running = new HttpStepRunner(outbound).run(httpStep(), context);

    // Assess
    await expect(running).rejects.toMatchObject({ reason: 'HTTP 302 (redirects are not followed)' });
    expect(received).toHaveLength(1);
  });

  it('fails the step when the endpoint does not answer within the step’s timeout', async () => {
    // Prepare: the endpoint never answers
    answer = () => undefined;

    // Act
    const running = new HttpStepRunner(outbound).run(httpStep(), { ...context, timeoutMs: 150 });

    // Assess
    await expect(running).rejects.toMatchObject({ stepId: 'restart', reason: 'timed out after 150 ms' });
  });

  it('fails the step when nothing listens, without naming the path or query', async () => {
    // Prepare: a port that was open a moment ago
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));

    // Act
    const running = new HttpStepRunner(outbound).run(
      httpStep({ url: `http://127.0.0.1:${port}/x?token=s3cret` }),
      context,
    );

    // Assess
    const error = await running.catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'unreachable (no connection, or the name does not resolve)' });
    expect((error as Error).message).not.toContain('s3cret');
  });

  it('is refused a loopback address by the default guarded client: nothing is sent', async () => {
    // Prepare
    answer = json(200, {});
    const guarded = new GuardedHttpClient();

    // Act
    const running = new HttpStepRunner(guarded).run(httpStep(), context);

    // Assess
    await expect(running).rejects.toMatchObject({ reason: 'refused: endpoint_private_address' });
    expect(received).toHaveLength(0);
    guarded.destroy();
  });

  it('is refused the metadata address even by a client that allows private addresses', async () => {
    // Act
    const running = new HttpStepRunner(outbound).run(
      httpStep({ url: 'http://169.254.169.254/latest/meta-data/iam/' }),
      context,
    );

    // Assess
    await expect(running).rejects.toMatchObject({ reason: 'refused: endpoint_metadata_address' });
  });
});

describe('NotifyStepRunner', () => {
  it('publishes the channel and message with the tenant, execution, runbook and step, and has no output', async () => {
    // Prepare
    const published: StepNotification[] = [];
    const runner = new NotifyStepRunner(async (message) => {
      published.push(message);
    });

    // Act
    const output = await runner.run(
      {
        id: 'announce',
        name: 'Announce',
        type: 'notify',
        privileged: false,
        channel: 'slack:#security',
        message: 'Rotating alias/conductor-runbook-signing (SEC-7)',
      },
      context,
    );

    // Assess
    expect(output).toBeUndefined();
    expect(published).toEqual([
      {
        tenantId: 'acme',
        channel: 'slack:#security',
        message: 'Rotating alias/conductor-runbook-signing (SEC-7)',
        executionId: 'exec-1',
        runbookId: 'restart-service',
        stepId: 'announce',
      },
    ]);
  });
});
