/**
 * The one place AWS SDK clients are configured. Each factory takes the same options, so an adapter
 * cannot tell a local stand-in that speaks the AWS API from AWS itself: only the endpoint differs.
 * Clients are created at init (handler.ts), never per invocation. Service clients live in their own
 * modules below so a function's bundle only carries the SDKs it uses.
 */
export interface ClientOptions {
  readonly region: string;
  /** Endpoint override for a local stand-in; undefined on AWS. */
  readonly endpoint?: string | undefined;
  /** Wraps a client for tracing (Powertools `tracer.captureAWSv3Client`). */
  readonly instrument?: (<T>(client: T) => T) | undefined;
}

export interface SdkClientConfig {
  region: string;
  endpoint?: string;
  maxAttempts: number;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  requestHandler?: never;
}

/**
 * Request handlers for endpoints served in this process (the embedded runtime's stand-ins): a client
 * created for such an endpoint hands its requests over without a socket. Empty on AWS.
 */
const inProcessHandlers = new Map<string, unknown>();

/** Serves `endpoint` (an origin such as `http://127.0.0.1:4566`) in process until the returned function runs. */
export const serveInProcess = (endpoint: string, handler: unknown): (() => void) => {
  const origin = new URL(endpoint).origin;
  inProcessHandlers.set(origin, handler);
  return () => {
    if (inProcessHandlers.get(origin) === handler) inProcessHandlers.delete(origin);
  };
};

/** Shared SDK settings; a local endpoint gets dummy credentials so no credential chain is searched. */
export const sdkConfig = (options: ClientOptions): SdkClientConfig => {
  const config: SdkClientConfig = { region: options.region, maxAttempts: 3 };
  if (options.endpoint) {
    config.endpoint = options.endpoint;
    const handler =
      inProcessHandlers.size > 0 ? inProcessHandlers.get(new URL(options.endpoint).origin) : undefined;
    if (handler) config.requestHandler = handler as never;
    const isLoopback = /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?/.test(options.endpoint);
    if (isLoopback && !process.env.AWS_ACCESS_KEY_ID) {
      config.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    }
  }
  return config;
};

export const instrumented = <T>(options: ClientOptions, client: T): T =>
  options.instrument ? options.instrument(client) : client;
