/**
 * Invoke: Conductor routes each task **and calls the expert itself** (POST /router/invoke), falls back
 * to another candidate when the chosen one fails on infrastructure, and records the outcome and the
 * signals incident_free, latency_ms and cost on its own. The service only checks the answer and sends
 * the quality reward to the task that answered (`answeredTaskId`). Plain `fetch`, no SDK.
 *
 *   npm start -- --allow-private-endpoints          # terminal 1 (the experts below listen on 127.0.0.1)
 *   source .conductor/tokens.env                     # terminal 2: API and the demo tokens
 *   npx tsx examples/invoke/invoke.ts
 *
 * Three experts multiply two numbers: `premium` is always right and costs $0.02 a call, `budget`
 * computes in 16 bits (right on small numbers, wrong on large ones) for $0.001, `flaky` is right
 * and cheap but answers 503 every other call. After a warm-up, the router answers the same questions
 * twice: on quality alone, then with the cost-aware objective `{ qualityTolerance: 0.01 }` (the
 * cheapest expert within about 1 point of the best quality).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

export interface InvokeExampleOptions {
  /** Tasks per epoch (default 20); the rewards are learnt between epochs. */
  readonly tasksPerEpoch?: number;
  /** Epochs of the warm-up, quality only, where every expert is tried (default 2). */
  readonly warmUpEpochs?: number;
  /** Epochs of each measured phase (default 3): quality only, then cost-aware, on the same questions. */
  readonly epochsPerPhase?: number;
  /** Seed of the tasks, so that two runs (and the two measured phases) ask the same questions (default 11). */
  readonly seed?: number;
  /** LinUCB's exploration width α in the warm-up (default 1; see the configuration below). */
  readonly warmUpAlpha?: number;
  /** LinUCB's exploration width α in the two measured phases (default 0.5, the router's default). */
  readonly alpha?: number;
  /** The cost-aware phase's objective tolerance (default 0.01: one point of quality). */
  readonly qualityTolerance?: number;
  /**
   * Called between epochs so that the rewards sent are learnt before the next decisions. Default: wait
   * 6 s, more than the router's 5 s model cache plus the reward queue's delay on `npm start`.
   */
  readonly settle?: () => Promise<void>;
  readonly log?: (line: string) => void;
}

export type Phase = 'warm-up' | 'quality-only' | 'cost-aware';
export type ExpertName = 'premium' | 'budget' | 'flaky';
export const EXPERT_NAMES: readonly ExpertName[] = ['premium', 'budget', 'flaky'];

/** What one epoch's (or one phase's) invokes did. */
export interface Tally {
  readonly tasks: number;
  /** Tasks whose first pick (the routing decision, before any fallback) was each expert. */
  readonly routed: Readonly<Record<ExpertName, number>>;
  /** Easy tasks, how many of them were first routed to `budget`, answered right, and what they cost. */
  readonly easy: number;
  readonly easyToBudget: number;
  readonly easyRight: number;
  readonly easyCostUsd: number;
  /** Answers that were right. */
  readonly right: number;
  /** What the answering calls cost (as Conductor reports it: the expert's costUsd, else its declared cost). */
  readonly costUsd: number;
  /** Tasks another candidate answered after the first pick failed. */
  readonly fallbacks: number;
  /** Tasks no expert answered (Conductor's 502 `expert_failed`). */
  readonly failed: number;
}

export interface EpochReport extends Tally {
  readonly phase: Phase;
  readonly epoch: number;
}

export interface PhaseReport extends Tally {
  readonly phase: Phase;
  readonly successRate: number;
  /** Cost of all answers / right answers (Infinity when nothing was right). */
  readonly costPerRightAnswerUsd: number;
}

/** The rationale's `objective` block (GET /router/rationale/{id}). */
export interface RationaleObjective {
  readonly lambda: number;
  readonly latencyWeight: number;
  readonly chosen: ObjectiveScore;
  readonly runnerUp?: ObjectiveScore;
}
export interface ObjectiveScore {
  readonly expertId: string;
  readonly quality: number;
  readonly costUsd: number;
  readonly latencyMs?: number;
  readonly costTerm: number;
  readonly latencyTerm: number;
  readonly score: number;
}

export interface InvokeExampleResult {
  readonly experts: Readonly<Record<ExpertName, string>>;
  readonly epochs: readonly EpochReport[];
  readonly phases: {
    readonly warmUp: PhaseReport;
    readonly qualityOnly: PhaseReport;
    readonly costAware: PhaseReport;
  };
  readonly invoked: number;
  /** Quality rewards sent, and how many Conductor accepted (202). */
  readonly rewardsSent: number;
  readonly rewardsAccepted: number;
  /** The objective block of the cost-aware phase's last easy and last hard decision. */
  readonly objective: { readonly easy?: RationaleObjective; readonly hard?: RationaleObjective };
  /** The router configuration's version before the example and the version it was restored as. */
  readonly config: { readonly found: number; readonly restored?: number };
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

/** What each expert costs per call: declared at registration and reported in each answer. */
export const COST_USD: Readonly<Record<ExpertName, number>> = { premium: 0.02, budget: 0.001, flaky: 0.0005 };
const DELAY_MS: Readonly<Record<ExpertName, number>> = { premium: 30, budget: 5, flaky: 5 };

/**
 * Three experts on one local HTTP server, answering `{a, b}` with `{answer, costUsd}`: `premium`
 * multiplies, `budget` multiplies in 16 bits (exact below 65,536, wrong on the hard tasks, whose
 * products are all larger), `flaky` multiplies but answers 503 on every other call (the first one
 * included).
 */
export const startExperts = async (): Promise<{ readonly url: string; readonly server: Server }> => {
  let flakyCalls = 0;
  const answers: Record<string, { name: ExpertName; answer: (task: Task) => number | undefined }> = {
    '/premium': { name: 'premium', answer: ({ a, b }) => a * b },
    '/budget': { name: 'budget', answer: ({ a, b }) => (a * b) & 0xffff },
    '/flaky': {
      name: 'flaky',
      answer: ({ a, b }) => {
        flakyCalls += 1;
        return flakyCalls % 2 === 1 ? undefined : a * b;
      },
    },
  };
  const server = createServer((request, response) => {
    const expert = answers[request.url ?? ''];
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      if (request.method !== 'POST' || !expert) {
        response.writeHead(404).end();
        return;
      }
      const answer = expert.answer(JSON.parse(body) as Task);
      setTimeout(() => {
        if (answer === undefined) {
          response
            .writeHead(503, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: 'overloaded' }));
          return;
        }
        response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ answer, costUsd: COST_USD[expert.name] }));
      }, DELAY_MS[expert.name]);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
};

interface Reply<T> {
  readonly status: number;
  readonly json: T;
  readonly text: string;
}

/** One call to Conductor's API, whatever its status. */
const conductorCall = async <T>(
  apiUrl: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply<T>> => {
  const reply = await fetch(`${apiUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await reply.text();
  return { status: reply.status, json: (text ? JSON.parse(text) : undefined) as T, text };
};

/** The same, throwing Conductor's own message unless the answer is a success. */
const conductorMust = async <T>(...args: Parameters<typeof conductorCall>): Promise<Reply<T>> => {
  const reply = await conductorCall<T>(...args);
  if (reply.status < 200 || reply.status > 299)
    throw new Error(`${args[2]} ${args[3]} answered ${reply.status}: ${reply.text}`);
  return reply;
};

interface InvokeAnswer {
  readonly taskId: string;
  readonly answeredTaskId: string;
  readonly expertId: string;
  readonly rationaleId: string;
  readonly fallbackUsed: boolean;
  readonly output: { readonly answer?: unknown };
  readonly costUsd?: number;
  readonly attempts: readonly {
    readonly taskId: string;
    readonly expertId: string;
    readonly outcome: string;
  }[];
}

/** The router configuration as GET answers it: the input fields plus server-owned ones. */
type StoredConfig = Record<string, unknown> & { readonly version: number };

/**
 * The body that puts a configuration read by GET back: without its server-owned fields (the
 * experiment's `stepStartedAt` and `rolledBack` included, which the router sets again).
 */
export const configInputOf = (stored: StoredConfig): Record<string, unknown> => {
  const { tenantId, version, createdAt, updatedAt, updatedBy, experiment, ...input } = stored;
  if (experiment && typeof experiment === 'object') {
    const { stepStartedAt, rolledBack, ...rest } = experiment as Record<string, unknown>;
    return { ...input, experiment: rest };
  }
  return input;
};

const emptyTally = (): Tally => ({
  tasks: 0,
  routed: { premium: 0, budget: 0, flaky: 0 },
  easy: 0,
  easyToBudget: 0,
  easyRight: 0,
  easyCostUsd: 0,
  right: 0,
  costUsd: 0,
  fallbacks: 0,
  failed: 0,
});

const add = (a: Tally, b: Tally): Tally => ({
  tasks: a.tasks + b.tasks,
  routed: {
    premium: a.routed.premium + b.routed.premium,
    budget: a.routed.budget + b.routed.budget,
    flaky: a.routed.flaky + b.routed.flaky,
  },
  easy: a.easy + b.easy,
  easyToBudget: a.easyToBudget + b.easyToBudget,
  easyRight: a.easyRight + b.easyRight,
  easyCostUsd: a.easyCostUsd + b.easyCostUsd,
  right: a.right + b.right,
  costUsd: a.costUsd + b.costUsd,
  fallbacks: a.fallbacks + b.fallbacks,
  failed: a.failed + b.failed,
});

const usd = (value: number) => (Number.isFinite(value) ? `$${value.toFixed(4)}` : 'n/a');
const percent = (part: number, whole: number) => `${whole === 0 ? 0 : Math.round((100 * part) / whole)}%`;

const describeTally = (tally: Tally): string => {
  const routed = EXPERT_NAMES.map((name) => `${name} ${percent(tally.routed[name], tally.tasks)}`).join(', ');
  return (
    `routed ${routed} (easy tasks to budget: ${tally.easyToBudget}/${tally.easy}) | ` +
    `right ${tally.right}/${tally.tasks} | ${usd(tally.right === 0 ? Number.POSITIVE_INFINITY : tally.costUsd / tally.right)} per right answer | ` +
    `fallbacks ${tally.fallbacks}, failed ${tally.failed}`
  );
};

/** Fisher–Yates with the seeded generator. */
const shuffled = <T>(items: readonly T[], random: () => number): T[] => {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Registers the three experts in the token's tenant, sets the router configuration (LinUCB on the
 * numeric feature `difficulty`), invokes multiplication tasks through Conductor (`tasksPerEpoch` per
 * epoch: a warm-up, then the same questions on quality alone and with the objective), rewards each
 * answer 1 if exact and 0 otherwise, and then removes the experts and puts the configuration it
 * found back. `token` must be allowed to write experts and the router configuration, with step-up
 * (`$ACME_ADMIN_TOKEN`).
 */
export const main = async (
  apiUrl: string,
  token: string,
  options: InvokeExampleOptions = {},
): Promise<InvokeExampleResult> => {
  const perEpoch = options.tasksPerEpoch ?? 20;
  const epochsPerPhase = options.epochsPerPhase ?? 3;
  const warmUpEpochs = options.warmUpEpochs ?? 2;
  const tolerance = options.qualityTolerance ?? 0.01;
  const warmUpAlpha = options.warmUpAlpha ?? 1;
  const alpha = options.alpha ?? 0.5;
  const settle = options.settle ?? (() => sleep(6_000));
  const log = options.log ?? ((line: string) => console.log(line));
  const seed = options.seed ?? 11;
  // Task ids are idempotency keys: an invoke retried with the same id is routed as before. Fresh ids.
  const run = `invoke-example-${Date.now().toString(36)}`;

  // The configuration we found, to put back at the end (a full replacement, like every PUT).
  const found = await conductorMust<StoredConfig>(apiUrl, token, 'GET', '/router/config');
  let version = found.json.version;
  const putConfig = async (alpha: number, objective: Record<string, number> | undefined) => {
    const put = await conductorMust<StoredConfig>(
      apiUrl,
      token,
      'PUT',
      '/router/config',
      {
        // LinUCB learns one linear model per expert on the encoded context; `difficulty` gets a
        // slot of its own, (difficulty − 2) / 1: −1 for the easy tasks, +1 for the hard ones. An
        // expert never tried in a context is bounded by α·‖x‖ = α·√2: with the default α 0.5 (0.71)
        // that is below what premium soon earns (~1), so budget might never be tried on easy tasks
        // and the objective would have nothing to prefer it for. The warm-up's α 1 (1.41) tries
        // every expert; the measured phases then explore at the default α (with α 1 they swing
        // a whole epoch's easy tasks between premium and budget on `npm start`, whose router
        // decides for 5 s on one model).
        strategy: 'linucb',
        alpha,
        dimension: 8,
        numericFeatures: [{ key: 'difficulty', mean: 2, std: 1 }],
        ...(objective ? { objective } : {}),
      },
      // Not over someone else's change made meanwhile: 409 instead.
      { 'if-match': `"${version}"` },
    );
    version = put.json.version;
  };

  const experts = await startExperts();
  const registered = new Map<ExpertName, string>();
  let configChanged = false;
  let restored: number | undefined;
  let outcome: Omit<InvokeExampleResult, 'config'>;
  try {
    for (const name of EXPERT_NAMES) {
      const created = await conductorMust<{ id: string }>(apiUrl, token, 'POST', '/experts', {
        name: `${name}-${run}`,
        type: 'model',
        costPerCallUsd: COST_USD[name],
        endpoint: `${experts.url}/${name}`,
      }).catch((error: Error) => {
        throw error.message.includes('endpoint_private_address')
          ? new Error(
              `${error.message}\nThe example's experts listen on 127.0.0.1: start Conductor with --allow-private-endpoints.`,
            )
          : error;
      });
      registered.set(name, created.json.id);
    }
    const ids = EXPERT_NAMES.map((name) => registered.get(name) as string);
    const nameOf = (expertId: string): ExpertName | undefined =>
      EXPERT_NAMES.find((name) => registered.get(name) === expertId);
    log(
      `registered ${EXPERT_NAMES.map((name) => `${name} ($${COST_USD[name]}/call) as ${registered.get(name)}`).join(', ')}`,
    );
    log(`router config found: version ${found.json.version}, strategy ${String(found.json.strategy)}`);

    const epochs: EpochReport[] = [];
    let rewardsSent = 0;
    let rewardsAccepted = 0;
    let invoked = 0;
    const lastRationale: { easy?: string; hard?: string } = {};
    let epoch = 0;
    for (const phase of ['warm-up', 'quality-only', 'cost-aware'] as const) {
      // The two measured phases ask the same questions in the same order (as fresh tasks): the same
      // workload, on a model that has learnt from the warm-up's (other) questions.
      const random = seeded(phase === 'warm-up' ? seed + 1 : seed);
      if (epoch > 0) await settle();
      if (phase === 'warm-up') {
        await putConfig(warmUpAlpha, undefined);
        configChanged = true;
        log(
          `phase warm-up: linucb (α ${warmUpAlpha}) on context {difficulty}, no objective (config version ${version})`,
        );
      } else if (phase === 'quality-only') {
        await putConfig(alpha, undefined);
        log(`phase quality-only: the same model, α ${alpha}, no objective (config version ${version})`);
      } else {
        await putConfig(alpha, { qualityTolerance: tolerance });
        log(
          `phase cost-aware: the same model, α ${alpha}, objective {qualityTolerance: ${tolerance}} (config version ${version}); the same questions`,
        );
      }
      for (let e = 0; e < (phase === 'warm-up' ? warmUpEpochs : epochsPerPhase); e += 1) {
        if (e > 0) await settle();
        epoch += 1;
        let tally = emptyTally();
        for (let i = 0; i < perEpoch; i += 1) {
          const hard = random() < 0.5;
          // Easy: one-digit factors; hard: three digits, products above 65,535.
          const task: Task = hard
            ? { a: 300 + Math.floor(random() * 700), b: 300 + Math.floor(random() * 700) }
            : { a: 2 + Math.floor(random() * 8), b: 2 + Math.floor(random() * 8) };
          const taskId = `${run}-${epoch}-${i}`;
          const reply = await conductorCall<InvokeAnswer>(apiUrl, token, 'POST', '/router/invoke', {
            taskId,
            context: { difficulty: hard ? 3 : 1 },
            // In any order: with nothing learnt yet, the order must not favour one of them.
            candidates: shuffled(ids, random),
            input: task,
            timeoutMs: 2_000,
            maxFallbacks: 2,
          });
          invoked += 1;
          if (reply.status !== 200) {
            // 502 expert_failed: no candidate answered. Say so and go on.
            log(`  ${taskId}: ${reply.status} ${reply.text}`);
            tally = add(tally, { ...emptyTally(), tasks: 1, failed: 1, easy: hard ? 0 : 1 });
            continue;
          }
          const answer = reply.json;
          const first = nameOf(answer.attempts[0]?.expertId ?? answer.expertId);
          const right = answer.output.answer === task.a * task.b;
          const routed = { premium: 0, budget: 0, flaky: 0 };
          if (first) routed[first] = 1;
          tally = add(tally, {
            tasks: 1,
            routed,
            easy: hard ? 0 : 1,
            easyToBudget: !hard && first === 'budget' ? 1 : 0,
            easyRight: !hard && right ? 1 : 0,
            easyCostUsd: hard ? 0 : (answer.costUsd ?? 0),
            right: right ? 1 : 0,
            costUsd: answer.costUsd ?? 0,
            fallbacks: answer.fallbackUsed ? 1 : 0,
            failed: 0,
          });
          if (phase === 'cost-aware') lastRationale[hard ? 'hard' : 'easy'] = answer.rationaleId;

          // Conductor recorded incident_free, latency_ms and cost for every attempt; the quality of
          // the answer is ours to say, to the task that answered (a fallback's own task).
          const reward = await conductorCall<{ accepted: boolean }>(apiUrl, token, 'POST', '/router/reward', {
            taskId: answer.answeredTaskId,
            signal: 'success_at_k',
            value: right ? 1 : 0,
          });
          rewardsSent += 1;
          if (reward.status === 202 && reward.json.accepted) rewardsAccepted += 1;
          else log(`  reward for ${answer.answeredTaskId}: ${reward.status} ${reward.text}`);
        }
        epochs.push({ phase, epoch, ...tally });
        log(`epoch ${epoch} [${phase}]: ${describeTally(tally)}`);
      }
    }

    const phaseReport = (phase: Phase): PhaseReport => {
      const tally = epochs.filter((e) => e.phase === phase).reduce<Tally>(add, emptyTally());
      return {
        phase,
        ...tally,
        successRate: tally.tasks === 0 ? 0 : tally.right / tally.tasks,
        costPerRightAnswerUsd: tally.right === 0 ? Number.POSITIVE_INFINITY : tally.costUsd / tally.right,
      };
    };
    const phases = {
      warmUp: phaseReport('warm-up'),
      qualityOnly: phaseReport('quality-only'),
      costAware: phaseReport('cost-aware'),
    };
    for (const report of [phases.qualityOnly, phases.costAware])
      log(`${report.phase} overall: ${describeTally(report)}`);
    const { qualityOnly, costAware } = phases;
    const perRight = (cost: number, right: number) =>
      usd(right === 0 ? Number.POSITIVE_INFINITY : cost / right);
    const change = costAware.costPerRightAnswerUsd / qualityOnly.costPerRightAnswerUsd - 1;
    log(
      `on the same ${costAware.tasks} questions, the objective changed the cost per right answer ` +
        `${usd(qualityOnly.costPerRightAnswerUsd)} → ${usd(costAware.costPerRightAnswerUsd)} ` +
        `(${Number.isFinite(change) ? `${change > 0 ? '+' : ''}${Math.round(100 * change)} %` : 'n/a'}) ` +
        `and the right answers ${qualityOnly.right} → ${costAware.right}; ` +
        `easy tasks ${perRight(qualityOnly.easyCostUsd, qualityOnly.easyRight)} → ${perRight(costAware.easyCostUsd, costAware.easyRight)}, ` +
        `hard tasks ${perRight(qualityOnly.costUsd - qualityOnly.easyCostUsd, qualityOnly.right - qualityOnly.easyRight)} → ` +
        `${perRight(costAware.costUsd - costAware.easyCostUsd, costAware.right - costAware.easyRight)} per right answer`,
    );

    // Why the last easy and the last hard task went where they went: the rationale's objective block
    // has λ and, for the pick and the runner-up, quality − cost term = score. LinUCB ranks by score
    // plus its exploration bonus (in the rationale's candidates), which can outweigh a 1-point lead.
    const objective: { easy?: RationaleObjective; hard?: RationaleObjective } = {};
    for (const kind of ['easy', 'hard'] as const) {
      const rationaleId = lastRationale[kind];
      if (!rationaleId) continue;
      const rationale = await conductorMust<{
        objective?: RationaleObjective;
        candidates: { expertId: string; bonus?: number }[];
      }>(apiUrl, token, 'GET', `/router/rationale/${rationaleId}`);
      const block = rationale.json.objective;
      if (!block) {
        log(`the last ${kind} task's rationale has no objective block`);
        continue;
      }
      objective[kind] = block;
      const score = (s: ObjectiveScore) => {
        const bonus = rationale.json.candidates.find((c) => c.expertId === s.expertId)?.bonus ?? 0;
        return `${nameOf(s.expertId) ?? s.expertId} ${s.quality.toFixed(3)} − ${s.costTerm.toFixed(4)} = ${s.score.toFixed(3)} (bonus +${bonus.toFixed(3)})`;
      };
      log(
        `the last ${kind} task went to ${nameOf(block.chosen.expertId)}: λ = ${block.lambda}/USD; quality − λ·cost = score: ` +
          `${score(block.chosen)}${block.runnerUp ? `; runner-up ${score(block.runnerUp)}` : ''}`,
      );
    }
    if (objective.easy) log(`its objective block: ${JSON.stringify(objective.easy)}`);

    outcome = {
      experts: Object.fromEntries(registered) as Record<ExpertName, string>,
      epochs,
      phases,
      invoked,
      rewardsSent,
      rewardsAccepted,
      objective,
    };
  } finally {
    for (const [name, id] of registered) {
      const deleted = await conductorCall(apiUrl, token, 'DELETE', `/experts/${id}`);
      if (deleted.status !== 204 && deleted.status !== 200)
        log(`could not remove ${name} (${id}): ${deleted.status} ${deleted.text}`);
    }
    if (registered.size > 0) log(`removed the ${registered.size} experts`);
    if (configChanged) {
      const put = await conductorCall<StoredConfig>(
        apiUrl,
        token,
        'PUT',
        '/router/config',
        configInputOf(found.json),
        { 'if-match': `"${version}"` },
      );
      if (put.status === 200) {
        restored = put.json.version;
        log(`router config restored as found (now version ${restored})`);
      } else log(`router config NOT restored: ${put.status} ${put.text}`);
    }
    experts.server.closeAllConnections();
    experts.server.close();
  }
  return {
    ...outcome,
    config: { found: found.json.version, ...(restored === undefined ? {} : { restored }) },
  };
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
