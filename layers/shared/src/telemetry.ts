import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

export interface Telemetry {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
}

/** Keys that must never reach a log line, wherever they appear in a logged object. */
const SECRET_KEYS =
  /^(authorization|cookie|set-cookie|password|secret|token|access_?token|id_?token|refresh_?token|api_?key|x-api-key|private_?key|client_?secret)$/i;

/** Replaces secret-looking values before anything is logged (used by the HTTP kernel). */
export const redactSecrets = (value: unknown, depth = 0): unknown => {
  if (value === null || typeof value !== 'object') return value;
  // Past the depth cap nothing is inspected, so nothing is passed through either.
  if (depth > 8) return '[truncated]';
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = SECRET_KEYS.test(key) ? '[redacted]' : redactSecrets(inner, depth + 1);
  }
  return out;
};

const cache = new Map<string, Telemetry>();

/**
 * One Logger/Metrics/Tracer set per service, built once per process. Namespace `Conductor`.
 * Outside Lambda the Tracer disables itself; metrics are disabled by POWERTOOLS_METRICS_DISABLED,
 * which the embedded runtime sets so the console is not flooded with EMF blobs.
 */
export const telemetryFor = (serviceName: string): Telemetry => {
  const existing = cache.get(serviceName);
  if (existing) return existing;
  const telemetry: Telemetry = {
    logger: new Logger({ serviceName }),
    metrics: new Metrics({ namespace: 'Conductor', serviceName }),
    tracer: new Tracer({ serviceName }),
  };
  cache.set(serviceName, telemetry);
  return telemetry;
};
