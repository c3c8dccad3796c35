import { availableParallelism } from 'node:os';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import { type CallLine, callMeteringActive, recordCall } from '#shared/adapters/call-meter.js';
import type { HttpEvent, HttpResult } from '#shared/http/http.js';
import type { StandIns } from '#shared/ports/stand-ins.js';
import type { LambdaHandler } from './gateway.js';
import type { InProcessHttpHandler } from './in-process-transport.js';
import { answerSdkRequest, type ThreadSdkAnswer, type ThreadSdkRequest } from './thread-transport.js';

/**
 * The API functions in worker threads: on AWS each request runs in a Lambda instance of its own,
 * as many at once as the traffic needs; here `apiWorkers` threads each import the API functions'
 * handlers (their own module state, as an instance has) and the gateway gives each invocation to
 * the least busy one. The stand-ins (dynalite, the queues, the bus, the approval flow's interpreter)
 * and the queue consumers, schedules and subscriptions stay in the main thread: a worker's AWS
 * calls reach them through thread-transport.ts. So the runtime uses more than one core, as the
 * requirements' 150 routes/s plus their rewards need on a 2-core machine.
 */
export interface ApiWorkerData {
  readonly entry: string;
  readonly functions: readonly { readonly name: string; readonly url: string }[];
  /** The stand-ins' origins the worker's SDK clients reach through the main thread. */
  readonly origins: readonly string[];
  readonly standIns: {
    readonly wormDir: string;
    readonly artifactsDir: string;
    readonly runbookKeyDir: string;
    readonly dsrSubjectKeyFile: string;
  };
  /** What the runtime's clock had been moved forward by when the worker started. */
  readonly clockOffsetMs: number;
}

type FlowMethod = 'start' | 'sendTaskSuccess' | 'sendTaskFailure';

export type ToWorker =
  | {
      type: 'invoke';
      id: number;
      functionName: string;
      event: unknown;
      timeoutMs: number;
      /** A call meter is active where the gateway invokes: the worker meters the invocation too. */
      meter?: boolean;
    }
  | { type: 'clock'; ms: number | 'reset' }
  | ThreadSdkAnswer
  | { type: 'flow-answer'; id: number; value?: unknown; error?: string };

export type ToMain =
  | { type: 'ready' }
  | ResultMessage
  | ThreadSdkRequest
  | { type: 'flow'; id: number; method: FlowMethod; args: unknown[] };

export interface ResultMessage {
  readonly type: 'result';
  readonly id: number;
  readonly value?: unknown;
  readonly error?: string;
  /** The AWS calls the invocation made in the worker, when it was metered. */
  readonly calls?: readonly CallLine[];
}

/** The most worker threads `apiWorkers: 'auto'` starts: one per core but the main thread's, at least 1. */
export const autoApiWorkers = (): number => Math.max(1, availableParallelism() - 1);

interface Pending {
  resolve: (answer: ResultMessage) => void;
  reject: (error: Error) => void;
}

interface Thread {
  worker: Worker;
  inFlight: number;
  pending: Map<number, Pending>;
}

export interface ApiWorkerPoolOptions {
  readonly size: number;
  readonly functions: ApiWorkerData['functions'];
  readonly standIns: ReadonlyMap<string, InProcessHttpHandler>;
  readonly standInDirs: ApiWorkerData['standIns'];
  readonly approvalFlow: NonNullable<StandIns['approvalFlow']>;
}

export class ApiWorkerPool {
  readonly #options: ApiWorkerPoolOptions;
  readonly #threads: Thread[] = [];
  #ids = 0;
  #skewMs = 0;
  #closing = false;

  private constructor(options: ApiWorkerPoolOptions) {
    this.#options = options;
  }

  /** Starts `size` workers and resolves once each has imported its handlers. */
  static async start(options: ApiWorkerPoolOptions): Promise<ApiWorkerPool> {
    if (!(Number.isInteger(options.size) && options.size >= 1 && options.size <= 64))
      throw new RangeError(`apiWorkers must be a whole number from 1 to 64 (got ${options.size})`);
    const pool = new ApiWorkerPool(options);
    try {
      await Promise.all(Array.from({ length: options.size }, () => pool.#spawn()));
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  /** The gateway's handler of `functionName`: the invocation runs in the least busy worker. */
  handlerOf(functionName: string): LambdaHandler {
    return async (event: HttpEvent, context) => {
      const thread = this.#leastBusy();
      this.#ids = this.#ids >= Number.MAX_SAFE_INTEGER ? 1 : this.#ids + 1;
      const id = this.#ids;
      thread.inFlight += 1;
      const timeoutMs = context.getRemainingTimeInMillis();
      const meter = callMeteringActive();
      let timer: NodeJS.Timeout | undefined;
      try {
        const answer = await new Promise<ResultMessage>((resolve, reject) => {
          thread.pending.set(id, { resolve, reject });
          // Past its deadline an invocation is given up here, as Lambda ends one that times out (the
          // gateway answers 503 first); a late answer finds nothing waiting.
          timer = setTimeout(() => {
            thread.pending.delete(id);
            reject(new Error(`Task timed out after ${timeoutMs} ms`));
          }, timeoutMs);
          thread.worker.postMessage({
            type: 'invoke',
            id,
            functionName,
            event,
            timeoutMs,
            ...(meter ? { meter } : {}),
          } satisfies ToWorker);
        });
        // The worker's calls count where the invocation was made (the request's meter, the ambient one).
        for (const line of answer.calls ?? [])
          recordCall(line.service, line.operation, line.units, line.calls);
        if (answer.error !== undefined) throw new Error(answer.error);
        return answer.value as HttpResult;
      } finally {
        clearTimeout(timer);
        thread.inFlight -= 1;
      }
    };
  }

  /** Moves every worker's clock as the main thread's (RunningConductor.advanceClock). */
  advanceClock(ms: number | 'reset'): void {
    this.#skewMs = ms === 'reset' ? 0 : this.#skewMs + ms;
    for (const thread of this.#threads) thread.worker.postMessage({ type: 'clock', ms } satisfies ToWorker);
  }

  get size(): number {
    return this.#threads.length;
  }

  async close(): Promise<void> {
    this.#closing = true;
    const threads = this.#threads.splice(0);
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
  }

  #leastBusy(): Thread {
    let best = this.#threads[0];
    for (const thread of this.#threads)
      if (best === undefined || thread.inFlight < best.inFlight) best = thread;
    if (!best) throw new Error('The API worker pool is closed.');
    // The next invocation of equal load goes to another thread.
    this.#threads.push(...this.#threads.splice(this.#threads.indexOf(best), 1));
    return best;
  }

  #spawn(): Promise<void> {
    const data: ApiWorkerData = {
      entry: new URL('./api-worker.ts', import.meta.url).href,
      functions: this.#options.functions,
      origins: [...this.#options.standIns.keys()],
      standIns: this.#options.standInDirs,
      clockOffsetMs: this.#skewMs,
    };
    const worker = new Worker(new URL('./thread-bootstrap.mjs', import.meta.url), {
      workerData: data,
      env: SHARE_ENV,
    });
    const thread: Thread = { worker, inFlight: 0, pending: new Map() };
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: ToMain) => {
        switch (message.type) {
          case 'ready':
            ready = true;
            this.#threads.push(thread);
            resolve();
            return;
          case 'result':
            thread.pending.get(message.id)?.resolve(message);
            thread.pending.delete(message.id);
            return;
          case 'sdk':
            void answerSdkRequest(message, this.#options.standIns).then((answer) =>
              worker.postMessage(answer, answer.body ? [answer.body.buffer as ArrayBuffer] : []),
            );
            return;
          case 'flow':
            void this.#askFlow(message.method, message.args).then(
              (value) =>
                worker.postMessage({ type: 'flow-answer', id: message.id, value } satisfies ToWorker),
              (error: unknown) =>
                worker.postMessage({
                  type: 'flow-answer',
                  id: message.id,
                  error: (error as Error).message ?? String(error),
                } satisfies ToWorker),
            );
            return;
        }
      });
      worker.on('error', (error) => {
        if (!ready) reject(error);
      });
      worker.on('exit', (code) => {
        // Before it was ready (an import that exits): the start fails instead of waiting forever.
        if (!ready) reject(new Error(`An API worker exited with code ${code} before it was ready.`));
        // An invocation whose worker died fails as a crashed Lambda's does (a 500 at the gateway);
        // the pool starts another worker in its place.
        for (const pending of thread.pending.values()) pending.reject(new Error('The API worker exited.'));
        thread.pending.clear();
        const at = this.#threads.indexOf(thread);
        if (at >= 0) this.#threads.splice(at, 1);
        if (ready && !this.#closing) void this.#spawn().catch(() => undefined);
      });
    });
  }

  #askFlow(method: FlowMethod, args: unknown[]): Promise<unknown> {
    const flow = this.#options.approvalFlow;
    switch (method) {
      case 'start':
        return flow.start(args[0] as Record<string, unknown>, args[1] as string);
      case 'sendTaskSuccess':
        return flow.sendTaskSuccess(args[0] as { taskToken: string; output: string });
      case 'sendTaskFailure':
        return flow.sendTaskFailure(args[0] as { taskToken: string; error?: string; cause?: string });
    }
  }
}
