/**
 * Route, call, reward: a service that lets Conductor pick one of two experts for each task, calls the
 * chosen expert itself, scores the answer and tells Conductor how it went. Plain `fetch`, no SDK.
 *
 *   npm start -- --allow-private-endpoints          # terminal 1 (the experts below listen on 127.0.0.1)
 *   source .conductor/tokens.env                     # terminal 2: API and the demo tokens
 *   npx tsx examples/route-and-reward/route-and-reward.ts
 *
 * Conductor decides which expert should take a task and the caller calls it, as here (or Conductor
 * calls it: POST /router/invoke, examples/invoke).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

export interface ExampleOptions {
  /** Tasks routed in all (default 60). */
  readonly rounds?: number;
  /** Tasks routed between two pauses for learning (default 15). */
  readonly roundsPerEpoch?: number;
  /** Seed of the tasks' operands, so that two runs ask the same questions (default 7). */
  readonly seed?: number;
  /**
   * Called between epochs so that the rewards sent are learnt before the next decisions. Default: wait
   * 6 s, more than the router's 5 s model cache plus the reward queue's delay on `npm start`.
   */
  readonly settle?: () => Promise<void>;
  readonly log?: (line: string) => void;
}

export interface ExampleResult {
  readonly experts: { readonly better: string; readonly worse: string };
  /** For each epoch, how many of its tasks went to the better expert, out of `roundsPerEpoch`. */
  readonly betterPerEpoch: readonly number[];
  readonly routed: number;
  readonly rewarded: number;
  /** The model version the last decision was taken on (0: nothing learnt yet). */
  readonly modelVersion: number;
}

interface Task {
  readonly a: number;
  readonly b: number;
}

/** A small seeded generator (mulberry32): the same seed, the same tasks. */
const seeded = (seed: number) => {
  let state = seed >>> 0;
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/**
 * Two experts on one local HTTP server, answering `{a, b}` with `{answer}`: `calculator` multiplies,
 * `estimator` answers fast and rounds to the nearest hundred (right only by luck).
 */
export const startExperts = async (): Promise<{ readonly url: string; readonly server: Server }> => {
  const answers: Record<string, (task: Task) => number> = {
    '/calculator': ({ a, b }) => a * b,
    '/estimator': ({ a, b }) => Math.round((a * b) / 100) * 100,
  };
  const server = createServer((request, response) => {
    const answer = answers[request.url ?? ''];
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      if (request.method !== 'POST' || !answer) {
        response.writeHead(404).end();
        return;
      }
      const task = JSON.parse(body) as Task;
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ answer: answer(task) }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
};

/** One call to Conductor's API; a refusal throws with Conductor's own message. */
const conductorCall = async <T>(
  apiUrl: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
) => {
  const reply = await fetch(`${apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await reply.text();
  if (!reply.ok) throw new Error(`${method} ${path} answered ${reply.status}: ${text}`);
  return { status: reply.status, json: (text ? JSON.parse(text) : undefined) as T };
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Registers the two experts in the token's tenant, routes `rounds` multiplication tasks between them,
 * calls the chosen one, rewards 1 for an exact answer and 0 otherwise, and removes the experts again.
 * `token` must be allowed to write experts and route (tenant-admin: `$ACME_ADMIN_TOKEN`).
 */
export const main = async (
  apiUrl: string,
  token: string,
  options: ExampleOptions = {},
): Promise<ExampleResult> => {
  const rounds = options.rounds ?? 60;
  const perEpoch = options.roundsPerEpoch ?? 15;
  const settle = options.settle ?? (() => sleep(6_000));
  const log = options.log ?? ((line: string) => console.log(line));
  const random = seeded(options.seed ?? 7);
  // Task ids are idempotency keys: a retried route gets the same decision. One run, fresh ids.
  const run = `example-${Date.now().toString(36)}`;

  const experts = await startExperts();
  const registered: { id: string; name: string; endpoint: string }[] = [];
  try {
    for (const name of ['calculator', 'estimator']) {
      const created = await conductorCall<{ id: string }>(apiUrl, token, 'POST', '/experts', {
        name: `${name}-${run}`,
        type: 'tool',
        costPerCallUsd: 0,
        endpoint: `${experts.url}/${name}`,
      }).catch((error: Error) => {
        throw error.message.includes('endpoint_private_address')
          ? new Error(
              `${error.message}\nThe example's experts listen on 127.0.0.1: start Conductor with --allow-private-endpoints.`,
            )
          : error;
      });
      registered.push({ id: created.json.id, name, endpoint: `${experts.url}/${name}` });
      log(`registered ${name} as ${created.json.id}`);
    }
    const [better, worse] = registered as [(typeof registered)[number], (typeof registered)[number]];
    const ids = registered.map((expert) => expert.id);

    const betterPerEpoch: number[] = [];
    let routed = 0;
    let rewarded = 0;
    let lastRationale = '';
    for (let start = 0; start < rounds; start += perEpoch) {
      if (start > 0) await settle();
      let toBetter = 0;
      for (let i = start; i < Math.min(start + perEpoch, rounds); i += 1) {
        const task: Task = { a: 11 + Math.floor(random() * 89), b: 11 + Math.floor(random() * 89) };
        const taskId = `${run}-${i}`;
        const decision = await conductorCall<{ expertId: string; rationaleId: string }>(
          apiUrl,
          token,
          'POST',
          '/router/route',
          {
            taskId,
            context: { operation: 'multiply', digits: String(task.a * task.b).length },
            // In either order: with nothing learnt yet, the order must not favour one of them.
            candidates: random() < 0.5 ? ids : [...ids].reverse(),
          },
        );
        routed += 1;
        lastRationale = decision.json.rationaleId;
        const chosen = registered.find((expert) => expert.id === decision.json.expertId);
        if (!chosen) throw new Error(`Conductor chose ${decision.json.expertId}, which is not a candidate`);
        if (chosen === better) toBetter += 1;

        // Conductor does not call the expert: the service does, then says how good the answer was.
        const reply = await fetch(chosen.endpoint, { method: 'POST', body: JSON.stringify(task) });
        const { answer } = (await reply.json()) as { answer: number };
        const value = answer === task.a * task.b ? 1 : 0;
        const accepted = await conductorCall<{ accepted: boolean }>(apiUrl, token, 'POST', '/router/reward', {
          taskId,
          signal: 'success_at_k',
          value,
        });
        if (accepted.status === 202 && accepted.json.accepted) rewarded += 1;
      }
      betterPerEpoch.push(toBetter);
      log(
        `epoch ${betterPerEpoch.length}: ${toBetter} of ${Math.min(perEpoch, rounds - start)} tasks to ${better.name}`,
      );
    }

    const rationale = await conductorCall<{
      modelVersion: number;
      candidates: { expertId: string; estimate: number }[];
    }>(apiUrl, token, 'GET', `/router/rationale/${lastRationale}`);
    for (const candidate of rationale.json.candidates) {
      const name = registered.find((expert) => expert.id === candidate.expertId)?.name ?? candidate.expertId;
      log(
        `learnt: ${name} estimated at ${candidate.estimate.toFixed(2)} (model version ${rationale.json.modelVersion})`,
      );
    }
    return {
      experts: { better: better.id, worse: worse.id },
      betterPerEpoch,
      routed,
      rewarded,
      modelVersion: rationale.json.modelVersion,
    };
  } finally {
    for (const expert of registered)
      await conductorCall(apiUrl, token, 'DELETE', `/experts/${expert.id}`).catch(() => undefined);
    experts.server.close();
  }
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const apiUrl = process.env.API ?? 'http://127.0.0.1:4000/api/conductor/v1';
  const token = process.env.ACME_ADMIN_TOKEN;
  if (!token) {
    console.error('ACME_ADMIN_TOKEN is not set: run `source .conductor/tokens.env` after `npm start` first.');
    process.exit(2);
  }
  await main(apiUrl, token);
}
