import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Call accounting: what AWS calls a piece of work makes, by service and operation, with the units
 * AWS bills them in (DynamoDB read and write units, SQS requests per 64 KiB chunk, EventBridge
 * entries, log bytes). Every SDK client of the kernel records into the meters active where the call
 * is made (`meterCalls`, an AsyncLocalStorage scope, e.g. one API request on the embedded runtime,
 * and the process's ambient meter, e.g. a benchmark phase). With no meter active the middleware
 * costs one `getStore()` per call and changes nothing.
 *
 * Units are named in `UNITS`; prices live in `bench/prices.ts`, never here.
 */
export const UNITS = {
  /** DynamoDB read request units (4 KiB per unit, half for eventually consistent reads). */
  rru: 'rru',
  /** DynamoDB write request units (1 KiB per unit). */
  wru: 'wru',
  /** Billed requests: SQS per 64 KiB chunk, EventBridge entries per 64 KiB chunk, API Gateway per 512 KiB. */
  requests: 'requests',
  /** Log bytes written (CloudWatch Logs ingestion on AWS). */
  bytes: 'bytes',
  /** Lambda duration in milliseconds, and the function's memory in MB (for GB-seconds). */
  ms: 'ms',
  mbMs: 'mbMs',
} as const;

export type Units = Readonly<Record<string, number>>;

export interface CallLine {
  readonly service: string;
  readonly operation: string;
  /** Attempts made (SDK retries included: each one is billed). */
  readonly calls: number;
  readonly units: Units;
}

/** One account of calls; `record` adds to it, `lines` reads it in a stable order. */
export class CallMeter {
  readonly #lines = new Map<
    string,
    { service: string; operation: string; calls: number; units: Record<string, number> }
  >();

  record(service: string, operation: string, units: Units = {}, calls = 1): void {
    const key = `${service}.${operation}`;
    let line = this.#lines.get(key);
    if (!line) {
      line = { service, operation, calls: 0, units: {} };
      this.#lines.set(key, line);
    }
    line.calls += calls;
    for (const [unit, value] of Object.entries(units)) line.units[unit] = (line.units[unit] ?? 0) + value;
  }

  lines(): CallLine[] {
    return [...this.#lines.values()]
      .map((line) => ({ ...line, units: { ...line.units } }))
      .sort((a, b) => `${a.service}.${a.operation}`.localeCompare(`${b.service}.${b.operation}`));
  }

  /** Calls of one `service.operation` (0 when none). */
  calls(key: string): number {
    return this.#lines.get(key)?.calls ?? 0;
  }

  /** The sum of one unit over every line, or over the lines of one service. */
  total(unit: string, service?: string): number {
    let sum = 0;
    for (const line of this.#lines.values()) {
      if (service === undefined || line.service === service) sum += line.units[unit] ?? 0;
    }
    return sum;
  }

  /**
   * `service.Operation=calls` joined by `;`, units in brackets where the call has any (the form of
   * the embedded runtime's `X-Conductor-Calls` header): `dynamodb.GetItem=2[rru=1];sqs.SendMessage=1[requests=1]`.
   * Log bytes are left out: they depend on the log level, not on the code path.
   */
  summary(): string {
    return this.lines()
      .filter((line) => line.service !== 'logs')
      .map((line) => {
        const units = Object.entries(line.units)
          .map(([unit, value]) => `${unit}=${Number(value.toFixed(3))}`)
          .join(',');
        return `${line.service}.${line.operation}=${line.calls}${units ? `[${units}]` : ''}`;
      })
      .join(';');
  }

  reset(): void {
    this.#lines.clear();
  }
}

/** Reads a summary back (`X-Conductor-Calls`) as calls per `service.Operation`. */
export const parseCallSummary = (summary: string): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const part of summary.split(';')) {
    const match = /^([a-z0-9-]+\.[A-Za-z0-9]+)=(\d+)/.exec(part);
    if (match?.[1] && match[2]) counts[match[1]] = Number(match[2]);
  }
  return counts;
};

const scope = new AsyncLocalStorage<CallMeter>();
let ambient: CallMeter | undefined;

/** Runs `work` with `meter` recording every call made in it (and in what it starts). */
export const meterCalls = <T>(meter: CallMeter, work: () => T): T => scope.run(meter, work);

/** A process-wide meter that records every call, in or out of a scope (undefined to stop). */
export const setAmbientCallMeter = (meter: CallMeter | undefined): void => {
  ambient = meter;
};

/** The meter of the scope this runs in (not the ambient one), if any. */
export const scopedCallMeter = (): CallMeter | undefined => scope.getStore();

/** Whether any meter would record a call made here. */
export const callMeteringActive = (): boolean => ambient !== undefined || scope.getStore() !== undefined;

/** Records one call (or `calls` attempts) into every active meter. */
export const recordCall = (service: string, operation: string, units: Units = {}, calls = 1): void => {
  const scoped = scope.getStore();
  scoped?.record(service, operation, units, calls);
  if (ambient && ambient !== scoped) ambient.record(service, operation, units, calls);
};

/** What a service bills for one call, from its input and output (or the error when it failed). */
export type UnitsOf = (
  operation: string,
  input: Record<string, unknown>,
  output: unknown,
  failed: boolean,
) => Units;

/**
 * Adjusts a call's input before it is sent while it is metered: e.g. DynamoDB's
 * `ReturnConsumedCapacity`, so the units recorded are those the service reports.
 */
export type MeteredInput = (operation: string, input: Record<string, unknown>) => Record<string, unknown>;

interface MiddlewareArgs {
  input: Record<string, unknown>;
}
interface MiddlewareContext {
  commandName?: string;
}
type Next = (args: MiddlewareArgs) => Promise<{ output: unknown }>;
interface Stack {
  add(
    middleware: (
      next: Next,
      context: MiddlewareContext,
    ) => (args: MiddlewareArgs) => Promise<{ output: unknown }>,
    options: { step: 'initialize'; name: string; override: boolean },
  ): void;
}

/** The SDK's `$metadata.attempts` of an output or an error (1 when it says nothing). */
const attemptsOf = (value: unknown): number => {
  const attempts = (value as { $metadata?: { attempts?: number } } | undefined)?.$metadata?.attempts;
  return typeof attempts === 'number' && attempts > 0 ? attempts : 1;
};

/**
 * Installs the metering middleware on an SDK v3 client (every client factory of the kernel does):
 * at the initialize step, so one logical call is one record, with the attempts the retry strategy
 * made below it.
 */
export const meterClient = <T>(
  client: T,
  service: string,
  unitsOf?: UnitsOf,
  meteredInput?: MeteredInput,
): T => {
  const stack = (client as { middlewareStack?: Stack }).middlewareStack;
  if (!stack) return client;
  stack.add(
    (next, context) => async (args) => {
      if (!callMeteringActive()) return next(args);
      const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      const input = meteredInput ? meteredInput(operation, args.input) : args.input;
      try {
        const result = await next(input === args.input ? args : { ...args, input });
        recordCall(
          service,
          operation,
          unitsOf?.(operation, input, result.output, false) ?? {},
          attemptsOf(result.output),
        );
        return result;
      } catch (error) {
        recordCall(service, operation, unitsOf?.(operation, input, error, true) ?? {}, attemptsOf(error));
        throw error;
      }
    },
    { step: 'initialize', name: 'conductorCallMeter', override: true },
  );
  return client;
};

let logHook: { discard: boolean } | undefined;

/**
 * Counts the bytes the process writes to stdout and stderr (structured logs and EMF metrics, which
 * CloudWatch Logs ingests on AWS) into the active meters, as `logs.Ingest` bytes. Installed once, by
 * whoever meters (the embedded runtime with call metering on, a benchmark). With `discard`, metered
 * writes are counted and not printed (a benchmark that wants the deployed log level without the
 * noise); calling it again changes only that.
 */
export const meterLogWrites = (options: { readonly discard?: boolean } = {}): void => {
  if (logHook) {
    logHook.discard = options.discard === true;
    return;
  }
  const hook = { discard: options.discard === true };
  logHook = hook;
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (callMeteringActive()) {
        const bytes =
          typeof chunk === 'string'
            ? Buffer.byteLength(chunk)
            : chunk instanceof Uint8Array
              ? chunk.byteLength
              : 0;
        if (bytes > 0) recordCall('logs', 'Ingest', { [UNITS.bytes]: bytes }, 0);
        if (hook.discard) {
          const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
          callback?.();
          return true;
        }
      }
      return write(chunk, ...rest);
    }) as typeof stream.write;
  }
};

/** Billed chunks of a payload: at least one, one more per `chunk` bytes begun. */
export const chunksOf = (bytes: number, chunk: number): number => Math.max(1, Math.ceil(bytes / chunk));
