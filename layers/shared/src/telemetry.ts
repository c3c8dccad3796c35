import { Logger } from '@aws-lambda-powertools/logger';
import type { MetricUnit } from '@aws-lambda-powertools/metrics';
import { Metrics } from '@aws-lambda-powertools/metrics';

type MetricUnitValue = (typeof MetricUnit)[keyof typeof MetricUnit];

export interface Telemetry {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** Wraps an AWS SDK client for tracing, or hands it back unchanged when tracing is off. */
export type ClientInstrument = <T>(client: T) => T;

/** Runs an operation in its own trace segment (`conductor.<service>.<operation>`), or just runs it. */
export type OperationTracer = <T>(operation: string, work: () => Promise<T>) => Promise<T>;

const untraced: ClientInstrument = (client) => client;
const untracedOperation: OperationTracer = (_operation, work) => work();

export interface Tracing {
  readonly instrument: ClientInstrument;
  readonly traceOperation: OperationTracer;
}

/**
 * X-Ray tracing of a service (DESIGN §9): AWS SDK clients captured, and each operation in a subsegment
 * named `conductor.<service>.<operation>` (e.g. `conductor.router.routeTask`). The Powertools Tracer
 * is loaded only when tracing is on: importing the X-Ray SDK installs cls-hooked's async hooks on
 * every promise of the process even when the Tracer then disables itself, about 8% of the embedded
 * runtime's CPU per request. The embedded runtime sets POWERTOOLS_TRACE_ENABLED=false, so it never
 * loads it (both are then pass-throughs); on Lambda (active tracing in ServiceFunction) the Tracer is
 * loaded and decides for itself.
 */
export const tracingFor = async (serviceName: string): Promise<Tracing> => {
  if (process.env.POWERTOOLS_TRACE_ENABLED?.trim().toLowerCase() === 'false') {
    return { instrument: untraced, traceOperation: untracedOperation };
  }
  const { Tracer } = await import('@aws-lambda-powertools/tracer');
  const tracer = new Tracer({ serviceName });
  return {
    instrument: (client) => tracer.captureAWSv3Client(client),
    traceOperation: async (operation, work) => {
      const parent = tracer.isTracingEnabled() ? tracer.getSegment() : undefined;
      if (!parent) return work();
      const segment = parent.addNewSubsegment(`conductor.${serviceName}.${operation}`);
      tracer.setSegment(segment);
      try {
        return await work();
      } catch (error) {
        tracer.addErrorAsMetadata(error as Error);
        throw error;
      } finally {
        segment.close();
        tracer.setSegment(parent);
      }
    },
  };
};

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
 * One Logger/Metrics set per service, built once per process. Namespace `Conductor`. Metrics are
 * disabled by POWERTOOLS_METRICS_DISABLED, which the embedded runtime sets so the console is not
 * flooded with EMF blobs. (Tracing: `clientInstrumentFor`.)
 */
export const telemetryFor = (serviceName: string): Telemetry => {
  const existing = cache.get(serviceName);
  if (existing) return existing;
  const telemetry: Telemetry = {
    logger: new Logger({ serviceName }),
    metrics: new Metrics({ namespace: 'Conductor', serviceName }),
  };
  cache.set(serviceName, telemetry);
  return telemetry;
};

/** The most tenants whose metrics objects a process keeps (the oldest is dropped past it). */
const MAX_TENANT_METRICS = 1_000;

/**
 * EMF metrics of one service per tenant (dimensions `service` and `tenant`: the dashboards' per-tenant
 * lines through SEARCH) and by service alone (what an alarm can watch: alarms cannot SEARCH).
 * `count(tenantId, name, value)` writes both at once.
 */
export const tenantMetricsFor = (serviceName: string) => {
  const byService = new Metrics({ namespace: 'Conductor', serviceName });
  const byTenant = new Map<string, Metrics>();
  const of = (tenantId: string): Metrics => {
    let metrics = byTenant.get(tenantId);
    if (!metrics) {
      if (byTenant.size >= MAX_TENANT_METRICS) byTenant.delete(byTenant.keys().next().value as string);
      metrics = new Metrics({ namespace: 'Conductor', serviceName, defaultDimensions: { tenant: tenantId } });
      byTenant.set(tenantId, metrics);
    }
    return metrics;
  };
  return {
    /** The tenant's own metrics object (publish it yourself). */
    of,
    byService,
    /** One value under both dimension sets, published at once. */
    count: (tenantId: string, name: string, unit: MetricUnitValue, value: number): void => {
      for (const metrics of [of(tenantId), byService]) {
        metrics.addMetric(name, unit, value);
        metrics.publishStoredMetrics();
      }
    },
  };
};
