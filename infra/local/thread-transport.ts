import type { MessagePort } from 'node:worker_threads';
import { HttpResponse } from '@smithy/core/protocols';
import { bodyBytes, type InProcessHttpHandler, type SdkHttpRequest } from './in-process-transport.js';

/**
 * The AWS SDK's requests of a worker thread, served by the stand-ins of the main thread: a handler
 * in a worker (infra/local/api-worker.ts) builds, signs and parses each call exactly as against AWS
 * and posts the signed request to the main thread, which gives it to the stand-in's request listener
 * (`InProcessHttpHandler`) and posts the answer back. No socket, no HTTP parser; the request and the
 * answer cross the thread boundary as bytes.
 */
export interface ThreadSdkRequest {
  readonly type: 'sdk';
  readonly id: number;
  readonly origin: string;
  readonly request: {
    readonly method: string;
    readonly path: string;
    readonly query?: Record<string, string | string[] | null> | undefined;
    readonly headers: Record<string, string>;
    /** A string as the SDK gave it (JSON protocols), else the bytes in an ArrayBuffer of their own. */
    readonly body: string | Uint8Array;
  };
}

export interface ThreadSdkAnswer {
  readonly type: 'sdk-answer';
  readonly id: number;
  readonly statusCode?: number;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array;
  /** The stand-in failed to answer at all (the SDK sees a network error and retries as it would). */
  readonly error?: string;
}

/** Worker side: an SDK request handler posting each request to the main thread. */
export class ThreadHttpHandler {
  readonly metadata = { handlerProtocol: 'http/1.1' };
  readonly #pending: Map<number, { resolve: (answer: ThreadSdkAnswer) => void }>;

  constructor(
    private readonly port: MessagePort,
    private readonly origin: string,
    pending: Map<number, { resolve: (answer: ThreadSdkAnswer) => void }>,
  ) {
    this.#pending = pending;
  }

  async handle(request: SdkHttpRequest): Promise<{ response: HttpResponse }> {
    // A string crosses as it is; bytes are copied out of whatever buffer holds them (often Node's
    // shared pool, which structured clone would copy whole and which must never be transferred).
    const body =
      typeof request.body === 'string' ? request.body : new Uint8Array(await bodyBytes(request.body));
    const id = nextId();
    const answer = await new Promise<ThreadSdkAnswer>((resolve) => {
      this.#pending.set(id, { resolve });
      const message: ThreadSdkRequest = {
        type: 'sdk',
        id,
        origin: this.origin,
        request: {
          method: request.method,
          path: request.path,
          query: request.query ?? undefined,
          headers: request.headers,
          body,
        },
      };
      this.port.postMessage(message);
    });
    if (answer.error !== undefined || answer.statusCode === undefined) {
      throw Object.assign(new Error(`local stand-in ${this.origin}: ${answer.error ?? 'no answer'}`), {
        name: 'TimeoutError',
      });
    }
    return {
      response: new HttpResponse({
        statusCode: answer.statusCode,
        headers: answer.headers ?? {},
        body: answer.body ?? new Uint8Array(0),
      }),
    };
  }

  updateHttpClientConfig(): void {}
  httpHandlerConfigs(): Record<string, never> {
    return {};
  }
  destroy(): void {}
}

let lastId = 0;
const nextId = (): number => {
  lastId = lastId >= Number.MAX_SAFE_INTEGER ? 1 : lastId + 1;
  return lastId;
};

/** Main side: answers a worker's SDK request with the stand-in serving its origin. */
export const answerSdkRequest = async (
  message: ThreadSdkRequest,
  standIns: ReadonlyMap<string, InProcessHttpHandler>,
): Promise<ThreadSdkAnswer> => {
  const standIn = standIns.get(message.origin);
  if (!standIn) return { type: 'sdk-answer', id: message.id, error: `no stand-in serves ${message.origin}` };
  try {
    const { response } = await standIn.handle(message.request);
    return {
      type: 'sdk-answer',
      id: message.id,
      statusCode: response.statusCode,
      headers: response.headers,
      // Its own ArrayBuffer of the exact size, so the caller can transfer it instead of copying.
      body: new Uint8Array(response.body as Uint8Array),
    };
  } catch (error) {
    return { type: 'sdk-answer', id: message.id, error: (error as Error).message };
  }
};
