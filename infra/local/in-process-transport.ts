import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { HttpResponse } from '@smithy/core/protocols';

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface SdkHttpRequest {
  readonly method: string;
  readonly path: string;
  readonly query?: Record<string, string | string[] | null> | undefined;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}

const queryOf = (query: SdkHttpRequest['query']): string => {
  if (!query) return '';
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    if (value === null || value === undefined) parts.push(encodeURIComponent(key));
    else
      for (const one of Array.isArray(value) ? value : [value])
        parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(one)}`);
  }
  return parts.length > 0 ? `?${parts.join('&')}` : '';
};

export const bodyBytes = async (body: unknown): Promise<Buffer> => {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof Readable) {
    const chunks: Buffer[] = [];
    for await (const chunk of body)
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
    return Buffer.concat(chunks);
  }
  throw new TypeError('in-process transport: unsupported request body');
};

/** The part of `ServerResponse` the local stand-ins use, collecting the answer in memory. */
class CollectedResponse {
  statusCode = 200;
  readonly headers: Record<string, string> = {};
  readonly #chunks: Buffer[] = [];
  constructor(private readonly done: (response: CollectedResponse, body: Buffer) => void) {}
  setHeader(name: string, value: string | number | readonly string[]): this {
    this.headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    return this;
  }
  getHeader(name: string): string | undefined {
    return this.headers[name.toLowerCase()];
  }
  writeHead(status: number, headers?: Record<string, string | number>): this {
    this.statusCode = status;
    for (const [name, value] of Object.entries(headers ?? {})) this.setHeader(name, value);
    return this;
  }
  write(chunk: string | Uint8Array): boolean {
    this.#chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk));
    return true;
  }
  end(chunk?: string | Uint8Array): this {
    if (chunk !== undefined) this.write(chunk);
    this.done(this, Buffer.concat(this.#chunks));
    return this;
  }
}

/**
 * An AWS SDK request handler that hands each request to a local stand-in's request listener in this
 * process, without a socket: the SDK still builds, signs and parses every call exactly as it does
 * against AWS; only the loopback TCP connection and the two HTTP parsers around it are skipped.
 */
export class InProcessHttpHandler {
  readonly metadata = { handlerProtocol: 'http/1.1' };
  readonly #listener: RequestListener;

  /** `server`: a stand-in's `node:http` server (dynalite, the local AWS endpoint); its one request listener serves. */
  constructor(server: Server) {
    const [listener] = server.listeners('request') as RequestListener[];
    if (!listener) throw new Error('in-process transport: the server has no request listener');
    this.#listener = listener;
  }

  async handle(request: SdkHttpRequest): Promise<{ response: HttpResponse }> {
    const payload = await bodyBytes(request.body);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
    const req = new Readable({ read() {} }) as Readable & Record<string, unknown>;
    if (payload.length > 0) req.push(payload);
    req.push(null);
    req.headers = headers;
    req.method = request.method;
    req.url = `${request.path}${queryOf(request.query)}`;
    return new Promise((resolve) => {
      const res = new CollectedResponse((done, body) =>
        resolve({
          response: new HttpResponse({
            statusCode: done.statusCode,
            headers: done.headers,
            // Bytes, not a stream: the SDK reads a Uint8Array body as it is (collectBody).
            body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
          }),
        }),
      );
      this.#listener(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    });
  }

  updateHttpClientConfig(): void {}
  httpHandlerConfigs(): Record<string, never> {
    return {};
  }
  destroy(): void {}
}
