import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuardedHttpClient } from '#shared/outbound/outbound.js';
import { EndpointExperts } from '../../src/adapters/expert-endpoint.js';
import type { Suite } from '../../src/domain/model.js';
import { type RunOptions, runSuite } from '../../src/domain/runner.js';

// The runner end to end over real HTTP: fake experts on 127.0.0.1 (nothing else is contacted),
// each way an expert can misbehave classified as the gate needs it, and the run always ending.

interface FakeExpert {
  readonly url: string;
  readonly requests: { headers: http.IncomingHttpHeaders; body: string }[];
  readonly server: http.Server;
}

const startExpert = async (
  respond: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void,
): Promise<FakeExpert> => {
  const requests: FakeExpert['requests'] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      requests.push({ headers: req.headers, body });
      respond(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/answer`, requests, server };
};

const json = (res: http.ServerResponse, status: number, body: string): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body);
};

const suite: Suite = {
  id: 'arithmetic',
  version: '1',
  timeoutMs: 300,
  gate: { tolerance: 0.05, confidence: 0.99 },
  tasks: [
    {
      id: 'multiply',
      input: { question: '6 × 7' },
      expected: 42,
      scorer: { type: 'exact' },
      outputPath: 'answer',
      tolerance: 0,
      weight: 1,
      trials: 2,
    },
  ],
  digest: 'a'.repeat(64),
};

const options: RunOptions = {
  concurrency: 8,
  retries: 1,
  backoffMs: () => 5,
  scorerDeps: {},
};

type Behaviour = 'right' | 'hung' | 'garbage' | 'busy' | 'declines';
const experts = {} as Record<Behaviour, FakeExpert>;
let closedUrl = '';
const local = new GuardedHttpClient({ allowPrivate: true });
const guarded = new GuardedHttpClient();

beforeAll(async () => {
  experts.right = await startExpert((_req, res) => json(res, 200, JSON.stringify({ answer: 42 })));
  experts.hung = await startExpert(() => {}); // never answers
  experts.garbage = await startExpert((_req, res) => json(res, 200, '{"answer": 4'));
  experts.busy = await startExpert((_req, res) => json(res, 503, '{}'));
  experts.declines = await startExpert((_req, res) => json(res, 400, JSON.stringify({ error: 'no' })));
  // A port that was listening a moment ago: connections to it are refused.
  const closed = await startExpert(() => {});
  closedUrl = closed.url;
  await new Promise((resolve) => closed.server.close(resolve));
});

afterAll(async () => {
  local.destroy();
  guarded.destroy();
  for (const { server } of Object.values(experts)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const endpointsOf = (entries: Record<string, string>) => new Map(Object.entries(entries));
const targets = (ids: readonly string[]) =>
  ids.map((expertId) => ({ expertId, fingerprint: `${expertId}@1` }));
const byExpert = (results: Awaited<ReturnType<typeof runSuite>>) =>
  Object.fromEntries(results.map((r) => [r.expertId, r.trials]));

describe('EndpointExperts through runSuite', () => {
  it('classifies a right, a hung, a garbage, a 5xx, a 4xx and a refusing expert, and the run ends', async () => {
    // Prepare
    const endpoints = endpointsOf({
      right: experts.right.url,
      hung: experts.hung.url,
      garbage: experts.garbage.url,
      busy: experts.busy.url,
      declines: experts.declines.url,
      closed: closedUrl,
    });
    const port = new EndpointExperts({ client: local, endpoints });

    // Act
    const results = await runSuite(suite, targets([...endpoints.keys()]), port, options);

    // Assess
    const trials = byExpert(results);
    expect(results.map((r) => r.expertId)).toEqual([
      'busy',
      'closed',
      'declines',
      'garbage',
      'hung',
      'right',
    ]);
    for (const outcome of trials.right ?? [])
      expect(outcome).toMatchObject({ kind: 'scored', score: 1, pass: true, attempts: 1 });
    for (const outcome of trials.hung ?? [])
      expect(outcome).toMatchObject({ kind: 'error', error: 'timeout', attempts: 2 });
    for (const outcome of trials.garbage ?? [])
      expect(outcome).toMatchObject({
        kind: 'scored',
        pass: false,
        attempts: 1,
        detail: 'unusable answer: upstream_invalid_json',
      });
    for (const outcome of trials.busy ?? [])
      expect(outcome).toMatchObject({ kind: 'error', error: 'unavailable', attempts: 2 });
    for (const outcome of trials.declines ?? [])
      expect(outcome).toMatchObject({ kind: 'scored', pass: false, attempts: 1, detail: 'answered 400' });
    for (const outcome of trials.closed ?? [])
      expect(outcome).toMatchObject({ kind: 'error', error: 'unavailable', attempts: 2 });
    expect(results.every((r) => r.trials.length === 2)).toBe(true);
    // Retried: the 5xx and the hung expert; not retried: the garbage and the 4xx.
    expect(experts.busy.requests).toHaveLength(4);
    expect(experts.hung.requests).toHaveLength(4);
    expect(experts.garbage.requests).toHaveLength(2);
    expect(experts.declines.requests).toHaveLength(2);
  });

  it('sends the task’s input as JSON with the eval headers and the caller’s own', async () => {
    // Prepare
    const before = experts.right.requests.length;
    const port = new EndpointExperts({
      client: local,
      endpoints: endpointsOf({ right: experts.right.url }),
      headers: (expertId) => ({ authorization: `Bearer token-of-${expertId}` }),
    });

    // Act
    await runSuite(suite, targets(['right']), port, options);

    // Assess
    const sent = experts.right.requests.slice(before);
    expect(sent.map((r) => JSON.parse(r.body))).toEqual([{ question: '6 × 7' }, { question: '6 × 7' }]);
    expect(sent.map((r) => r.headers['x-conductor-eval-trial']).sort()).toEqual(['1', '2']);
    for (const { headers } of sent)
      expect(headers).toMatchObject({
        'x-conductor-eval-task': 'multiply',
        authorization: 'Bearer token-of-right',
        'content-type': 'application/json',
      });
  });

  it('without allowPrivate, refuses loopback and metadata endpoints with no connection made', async () => {
    // Prepare
    const before = experts.right.requests.length;
    const port = new EndpointExperts({
      client: guarded,
      endpoints: endpointsOf({
        loopback: experts.right.url,
        metadata: 'http://169.254.169.254/latest/meta-data/',
      }),
    });

    // Act
    const results = await runSuite(suite, targets(['loopback', 'metadata']), port, options);

    // Assess
    for (const outcome of results.flatMap((r) => r.trials))
      expect(outcome).toMatchObject({ kind: 'error', error: 'refused', attempts: 1 });
    expect(experts.right.requests.length).toBe(before);
  });

  it('refuses an expert it has no endpoint for, with no call', async () => {
    // Prepare
    const port = new EndpointExperts({ client: local, endpoints: new Map() });

    // Act
    const attempt = await port.call(
      'ghost',
      {},
      {
        timeoutMs: 100,
        signal: new AbortController().signal,
        taskId: 'multiply',
        trial: 1,
      },
    );

    // Assess
    expect(attempt).toMatchObject({ kind: 'refused', code: 'unknown_expert' });
  });
});
