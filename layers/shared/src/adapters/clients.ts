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
}

/** Shared SDK settings; a local endpoint gets dummy credentials so no credential chain is searched. */
export const sdkConfig = (options: ClientOptions): SdkClientConfig => {
  const config: SdkClientConfig = { region: options.region, maxAttempts: 3 };
  if (options.endpoint) {
    config.endpoint = options.endpoint;
    const isLoopback = /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?/.test(options.endpoint);
    if (isLoopback && !process.env.AWS_ACCESS_KEY_ID) {
      config.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    }
  }
  return config;
};

export const instrumented = <T>(options: ClientOptions, client: T): T =>
  options.instrument ? options.instrument(client) : client;
