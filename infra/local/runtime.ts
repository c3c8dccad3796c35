import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serveInProcess } from '#shared/adapters/clients.js';
import { API_SETTINGS } from '#shared/api-settings.js';
import { MACHINE_CLIENTS_ENV } from '#shared/http/claims.js';
import { API_BASE } from '#shared/http/http.js';
import {
  assertCatalog,
  CONSUMED_QUEUES_ENV,
  DEAD_LETTER_QUEUES_ENV,
  type DeadLetterQueueRef,
  functionsOf,
  type PillarManifest,
  queuesOf,
  schedulesOf,
  subscriptionPatternOf,
  subscriptionsOf,
  tablesOf,
} from '#shared/pillar.js';
import { DEFAULT_POLICY_ENGINE, type PolicyEngineName } from '#shared/policy/source.js';
import { provideStandIns } from '#shared/ports/stand-ins.js';
import { advanceSystemClock } from '#shared/ports/system.js';
import { PILLARS } from '../../functions/catalog.js';
import { LocalPublicKeys } from '../../functions/runbooks/offline.js';
import { ApiWorkerPool, autoApiWorkers } from './api-workers.js';
import { ApprovalFlowHost } from './approval-flow-host.js';
import { startAwsEndpoint } from './aws-endpoint.js';
import { LocalEventBus } from './bus.js';
import { ensureTables, localTableName, startLocalDynamo } from './dynamodb.js';
import {
  EventSourceMapping,
  eventSourceMappingOptionsOf,
  type SqsBatchHandler,
} from './event-source-mapping.js';
import { createGateway, type GatewayRoute, type LambdaHandler } from './gateway.js';
import { InProcessHttpHandler } from './in-process-transport.js';
import { invokeAsLambda } from './lambda-context.js';
import {
  bindingOf,
  LocalIssuer,
  loadMachineClients,
  makeJwtVerifier,
  serveTokenRequest,
  TOKEN_PATH,
} from './oidc.js';
import { LocalQueue } from './queue.js';
import { FileWormStore } from './worm-store.js';

export const LOCAL_BUS_NAME = 'conductor';

/**
 * The embedded runtime: one Node process serving the Conductor API on localhost with the same
 * handlers the Lambdas run, backed by local stand-ins (dynalite for DynamoDB, local SQS queues with
 * their event source mappings, a filesystem WORM store for S3 Object Lock, a local OIDC issuer for
 * Cognito). `npm start` runs it; the integration tests start it in-process.
 */
export interface ConductorOptions {
  /** Where data and the issuer key live (default `.conductor/` in the working directory). */
  readonly dataDir?: string;
  /** Keep nothing: DynamoDB in memory, a fresh issuer key. */
  readonly memory?: boolean;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly host?: string;
  /** Allow expert endpoints on private/loopback addresses (local development only). */
  readonly allowPrivateEndpoints?: boolean;
  /** Powertools log level of the handlers (default WARN, so the console stays readable). */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * The most API requests the gateway serves at once; beyond it, 503 `overloaded` with Retry-After.
   * @default DEFAULT_MAX_IN_FLIGHT (infra/local/gateway.ts)
   */
  readonly maxInFlight?: number;
  /**
   * Call accounting per API request: each answer carries `X-Conductor-Calls`, the AWS calls the
   * request made before it with their billed units (`npm start -- --debug-calls`). Log bytes are
   * counted too (they are in the meters, not the header).
   */
  readonly meterCalls?: boolean;
  /** Per-tenant limit overrides by family (requests per minute), for tests and benchmarks. */
  readonly rateLimits?: Readonly<Record<string, number>>;
  readonly logRequest?: (line: { method: string; path: string; status: number; ms: number }) => void;
  /**
   * Extra environment for the handlers, as a function's environment in CDK would carry it (e.g.
   * `ROUTER_MODEL_CACHE_MS`); set before any handler is imported.
   */
  readonly functionEnv?: Readonly<Record<string, string>>;
  /**
   * Multiplies every runbook approval stage's timeout (at least 1 s), so a test sees a stage time
   * out without waiting its minute. @default 1
   */
  readonly approvalTimeoutScale?: number;
  /** The policy engine every function runs (POLICY_ENGINE). @default DEFAULT_POLICY_ENGINE */
  readonly policyEngine?: PolicyEngineName;
  /** The pillars to run (default: the catalog's, `functions/catalog.ts`); tests add their own. */
  readonly pillars?: readonly PillarManifest[];
  /**
   * How the handlers' AWS SDK clients reach the local stand-ins (dynalite, the SQS and EventBridge
   * endpoint): `in-process` hands each signed request to the stand-in's request listener without a
   * socket (infra/local/in-process-transport.ts); `http` goes over loopback TCP as any other process
   * does. Either way the SDK serializes, signs and parses every call as against AWS.
   * @default 'in-process'
   */
  readonly transport?: 'in-process' | 'http';
  /**
   * Worker threads for the API functions (infra/local/api-workers.ts): 0 runs every handler in the
   * main thread; n > 0 gives each API invocation to one of n threads, each with its own instance of
   * the API functions, while the stand-ins and the queue consumers stay in the main thread; `auto`
   * is one per core but one. Needs the in-process transport. With `meterCalls`, each worker meters
   * the invocations it runs and hands the calls back with the answer. @default 0
   */
  readonly apiWorkers?: number | 'auto';
}

export interface RunningConductor {
  /** Base URL of the server, e.g. http://127.0.0.1:4000 */
  readonly url: string;
  /** Base URL of the API: url + /api/conductor/v1 */
  readonly apiUrl: string;
  readonly issuer: LocalIssuer;
  readonly dataDir: string | undefined;
  /** The in-process EventBridge bus (add rules in tests; `history()` shows what was published). */
  readonly bus: LocalEventBus;
  readonly queues: ReadonlyMap<string, LocalQueue>;
  /** The event source mapping of each queue of the manifests, by queue name (`drain()` in tests). */
  readonly mappings: ReadonlyMap<string, EventSourceMapping>;
  /**
   * The WORM store (S3 Object Lock's stand-in) under `<dataDir>/worm`, or a temporary folder removed
   * on stop in memory mode. The archiver writes the decision log here (given to it as a stand-in, behind the WormStore port).
   */
  readonly worm: FileWormStore;
  /**
   * The runbook signing key's folder (the stand-in for the KMS key): `<dataDir>/runbook-signing`,
   * which `conductor runbook sign` uses from the project's root, or a temporary folder in memory mode.
   */
  readonly runbookKeyDir: string;
  /** The runbook approval flow on the local Step Functions interpreter (`settled()` in tests). */
  readonly approvalFlow: ApprovalFlowHost;
  /**
   * Moves the handlers' clock forward by `ms` (a canary window, a soak) without waiting: every
   * function's `systemClock` reads the wall clock plus what was added. Put back on stop.
   */
  advanceClock(ms: number): void;
  /** The worker threads the API functions run in (0: the main thread; ConductorOptions.apiWorkers). */
  readonly apiWorkers: number;
  stop(): Promise<void>;
}

let started: string | undefined;

export const startConductor = async (options: ConductorOptions = {}): Promise<RunningConductor> => {
  const pillars = options.pillars ?? PILLARS;
  // The same checks as the CDK app: a broken manifest fails here, naming the pillar, not mid-request.
  assertCatalog(pillars);
  const FUNCTIONS = functionsOf(pillars);
  const QUEUES = queuesOf(pillars);
  const TABLES = tablesOf(pillars);
  const apiWorkers = options.apiWorkers === 'auto' ? autoApiWorkers() : (options.apiWorkers ?? 0);
  if (apiWorkers > 0 && options.transport === 'http')
    throw new Error('apiWorkers needs the in-process transport.');
  const dataDir = options.memory ? undefined : resolve(options.dataDir ?? '.conductor');
  if (dataDir) mkdirSync(dataDir, { recursive: true });

  const dynamo = await startLocalDynamo({ path: dataDir ? join(dataDir, 'dynamodb') : undefined });
  await ensureTables(dynamo.endpoint, TABLES);

  // Handlers read their environment once, at import, exactly as in Lambda. One runtime per process.
  if (started !== undefined && started !== dynamo.endpoint) {
    await dynamo.close();
    throw new Error('The embedded runtime can be started once per process (handlers read env at import).');
  }
  started = dynamo.endpoint;

  const bus = new LocalEventBus({ name: LOCAL_BUS_NAME, historyLimit: 500 });
  const queues = new Map<string, LocalQueue>();
  for (const spec of QUEUES) {
    const persistDir = dataDir ? join(dataDir, 'queues') : undefined;
    const deadLetterQueue = new LocalQueue({
      name: `conductor-${spec.id}-dlq`,
      ...(persistDir ? { persistDir } : {}),
    });
    const queue = new LocalQueue({
      name: `conductor-${spec.id}`,
      visibilityTimeoutSeconds: spec.visibilityTimeoutSeconds,
      maxReceiveCount: spec.maxReceiveCount,
      deadLetterQueue,
      ...(persistDir ? { persistDir } : {}),
    });
    queues.set(queue.name, queue);
    queues.set(deadLetterQueue.name, deadLetterQueue);
  }
  const aws = await startAwsEndpoint({ bus, queues });
  // The handlers' SDK clients reach the stand-ins without a socket; the ports stay open for the CLI.
  const standInHandlers = new Map([
    [new URL(dynamo.endpoint).origin, new InProcessHttpHandler(dynamo.server)],
    [new URL(aws.url).origin, new InProcessHttpHandler(aws.server)],
  ]);
  const inProcess =
    (options.transport ?? 'in-process') === 'in-process'
      ? [...standInHandlers].map(([origin, handler]) => serveInProcess(origin, handler))
      : [];
  const wormDir = dataDir ? join(dataDir, 'worm') : mkdtempSync(join(tmpdir(), 'conductor-worm-'));
  const worm = new FileWormStore(wormDir);
  // The artifacts bucket's stand-in: write-once like S3 with If-None-Match, no retention to wait for.
  const artifactsDir = dataDir
    ? join(dataDir, 'artifacts')
    : mkdtempSync(join(tmpdir(), 'conductor-artifacts-'));
  const artifacts = new FileWormStore(artifactsDir, { retentionDays: 0 });
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: aws.url,
    AWS_ENDPOINT_URL_SQS: aws.url,
    EVENT_BUS_NAME: LOCAL_BUS_NAME,
    CONDUCTOR_STAGE: 'local',
    CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS: options.allowPrivateEndpoints ? 'true' : 'false',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'WARN',
  });
  if (options.rateLimits) process.env.CONDUCTOR_RATE_LIMITS = JSON.stringify(options.rateLimits);
  process.env.POLICY_ENGINE = options.policyEngine ?? DEFAULT_POLICY_ENGINE;
  Object.assign(process.env, options.functionEnv);
  // Behind the WormStore port, the authorize function's archiver writes here instead of S3.
  // The runbook signing key's public half, in place of KMS GetPublicKey: publish verifies with it.
  const runbookKeyDir = dataDir
    ? join(dataDir, 'runbook-signing')
    : mkdtempSync(join(tmpdir(), 'conductor-runbook-keys-'));
  const approvalFlow = new ApprovalFlowHost(options.approvalTimeoutScale ?? 1);
  const dsrSubjectKeyFile = join(
    dataDir ?? mkdtempSync(join(tmpdir(), 'conductor-dsr-key-')),
    'dsr-subject.key',
  );
  provideStandIns({
    worm,
    artifacts,
    runbookKeys: new LocalPublicKeys(runbookKeyDir),
    runbookKeyDir,
    approvalFlow: approvalFlow.standIn,
    // KMS has no emulator: the DSR subject hash's key is a file of the data directory.
    dsrSubjectKeyFile,
  });
  for (const table of TABLES) process.env[table.envVar] = localTableName(table);
  for (const spec of QUEUES) process.env[spec.envVar] = aws.queueUrl(`conductor-${spec.id}`);
  // The local issuer's services, bound to their tenant and roles as CDK binds Cognito's clients.
  const machineClients = loadMachineClients(dataDir ? join(dataDir, 'oidc-clients.json') : undefined);
  process.env[MACHINE_CLIENTS_ENV] = JSON.stringify(machineClients.map(bindingOf));
  // Every queue with its DLQ. Functions share one process environment here, so every consumer gets
  // every queue (on AWS only its own): it picks the one a record came from by its eventSourceARN.
  const refs: Record<string, DeadLetterQueueRef> = {};
  for (const spec of QUEUES) {
    const queue = queues.get(`conductor-${spec.id}`);
    const dlq = queue?.deadLetterQueue;
    if (!queue || !dlq) throw new Error(`Queue ${spec.id}: no local queue or DLQ.`);
    refs[spec.id] = {
      queueUrl: aws.queueUrl(queue.name),
      queueArn: queue.arn,
      dlqUrl: aws.queueUrl(dlq.name),
      dlqArn: dlq.arn,
      maxReceiveCount: spec.maxReceiveCount,
    };
  }
  process.env[CONSUMED_QUEUES_ENV] = JSON.stringify(refs);
  // Set when any function of the catalog needs it.
  if (FUNCTIONS.some((fn) => fn.deadLetterAccess)) process.env[DEAD_LETTER_QUEUES_ENV] = JSON.stringify(refs);

  const routes: GatewayRoute[] = [];
  let defaultRoute: { functionName: string; handler: LambdaHandler } | undefined;
  const root = resolve(import.meta.dirname, '../..');
  const modules = new Map<string, { handler: unknown }>();
  /** A function's handler as the asynchronous sources invoke it (schedules, rules, the flow's tasks). */
  type AsyncHandler = (event: unknown, context: unknown) => Promise<unknown>;
  for (const fn of FUNCTIONS) {
    const module = (await import(pathToFileURL(join(root, fn.entry)).href)) as { handler: LambdaHandler };
    modules.set(fn.name, module);
    for (const spec of fn.routes ?? []) routes.push({ spec, functionName: fn.name, handler: module.handler });
    if (fn.servesDefaultRoute) defaultRoute = { functionName: fn.name, handler: module.handler };
  }
  if (!defaultRoute) throw new Error('No function serves the $default route.');
  // The manifests' workflows: the runbook approval flow's tasks invoke the same handlers as on AWS.
  for (const pillar of pillars) {
    for (const workflow of pillar.workflows ?? []) {
      // One local interpreter host exists: the runbook approval flow's (a new workflow brings its own).
      if (`${pillar.name}/${workflow.id}` !== 'runbooks/approval-flow')
        throw new Error(`Workflow ${pillar.name}/${workflow.id}: the embedded runtime cannot run it.`);
      const fn = (name: string | undefined) => {
        const module = name === undefined ? undefined : modules.get(name);
        if (!name || !module) throw new Error(`Workflow ${workflow.id}: no function '${name}'.`);
        return {
          name: `conductor-${name}`,
          handler: module.handler as AsyncHandler,
        };
      };
      approvalFlow.bind({
        approvalRequest: fn(workflow.tasks.approvalRequest),
        runSteps: fn(workflow.tasks.runSteps),
        ...(workflow.statusChangesTo ? { statusChanges: fn(workflow.statusChangesTo) } : {}),
      });
    }
  }

  const mappings = new Map<string, EventSourceMapping>();
  for (const spec of QUEUES) {
    const consumer = modules.get(spec.consumer);
    const queue = queues.get(`conductor-${spec.id}`);
    if (!consumer || !queue) throw new Error(`Queue ${spec.id}: no consumer function '${spec.consumer}'.`);
    const consumerSpec = FUNCTIONS.find((fn) => fn.name === spec.consumer);
    const mapping = new EventSourceMapping(queue, consumer.handler as SqsBatchHandler, {
      ...eventSourceMappingOptionsOf(spec),
      functionName: `conductor-${spec.consumer}`,
      // The consumer's timeout from its manifest, as Lambda applies it (the eval worker's 15
      // minutes); the mapping's 30 s otherwise.
      ...(consumerSpec?.timeoutSeconds === undefined ? {} : { timeoutSeconds: consumerSpec.timeoutSeconds }),
    });
    mapping.start();
    mappings.set(queue.name, mapping);
  }
  // The manifests' schedules: the same expressions, invoking the same handlers with a Scheduled Event.
  for (const schedule of schedulesOf(pillars)) {
    const target = modules.get(schedule.function);
    if (!target) throw new Error(`Schedule ${schedule.id}: no function '${schedule.function}'.`);
    bus.addSchedule({
      name: `conductor-${schedule.id}`,
      expression: schedule.expression,
      target: async (event) => {
        await invokeAsLambda(
          { name: `conductor-${schedule.function}`, handler: target.handler as AsyncHandler },
          event,
          60_000,
        );
      },
    });
  }
  // The manifests' subscriptions: rules on the local bus with the pattern CDK gives the EventBridge rule.
  for (const subscription of subscriptionsOf(pillars)) {
    const target = modules.get(subscription.function);
    if (!target) throw new Error(`Subscription ${subscription.id}: no function '${subscription.function}'.`);
    bus.addRule({
      name: `conductor-${subscription.id}`,
      eventPattern: subscriptionPatternOf(subscription),
      target: async (event) => {
        await invokeAsLambda(
          { name: `conductor-${subscription.function}`, handler: target.handler as AsyncHandler },
          event,
          60_000,
        );
      },
    });
  }
  const stopMappings = () => Promise.all([...mappings.values()].map((mapping) => mapping.stop()));
  const removeWorm = () => {
    if (!dataDir) {
      rmSync(wormDir, { recursive: true, force: true });
      rmSync(artifactsDir, { recursive: true, force: true });
      rmSync(runbookKeyDir, { recursive: true, force: true });
    }
  };
  bus.start();
  // What started so far, stopped in reverse order when the start fails further on.
  const abandon = async () => {
    await stopMappings();
    await bus.stop();
    for (const stopServing of inProcess) stopServing();
    await aws.close();
    await dynamo.close();
    removeWorm();
    started = undefined;
  };

  let apiPool: ApiWorkerPool | undefined;
  if (apiWorkers > 0) {
    try {
      apiPool = await ApiWorkerPool.start({
        size: apiWorkers,
        functions: FUNCTIONS.filter((fn) => (fn.routes ?? []).length > 0 || fn.servesDefaultRoute).map(
          (fn) => ({ name: fn.name, url: pathToFileURL(join(root, fn.entry)).href }),
        ),
        standIns: standInHandlers,
        standInDirs: { wormDir, artifactsDir, runbookKeyDir, dsrSubjectKeyFile },
        approvalFlow: approvalFlow.standIn,
      });
    } catch (error) {
      await abandon();
      throw error;
    }
    const pool = apiPool;
    for (const [at, route] of routes.entries())
      routes[at] = { ...route, handler: pool.handlerOf(route.functionName) };
    defaultRoute = { ...defaultRoute, handler: pool.handlerOf(defaultRoute.functionName) };
  }

  let verify: ((token: string) => ReturnType<ReturnType<typeof makeJwtVerifier>>) | undefined;
  let issuer: LocalIssuer | undefined;
  const gateway = createGateway({
    routes,
    defaultRoute,
    throttle: options.throttle ?? API_SETTINGS.stageThrottle,
    ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
    ...(options.meterCalls ? { meterCalls: true } : {}),
    verifyToken: (token) => {
      if (!verify) throw new Error('issuer not ready');
      return verify(token);
    },
    extras: (path, request) => {
      if (!issuer) return undefined;
      if (path === '/local-oidc/.well-known/openid-configuration') return issuer.openIdConfiguration;
      if (path === '/local-oidc/.well-known/jwks.json') return issuer.jwks;
      // Local only: the last events published on the bus, newest first (not part of the API). They
      // are every tenant's, so only the developer on this machine reads them, token or not.
      if (path === '/_local/events') {
        request.requireLoopback();
        return bus.history(100);
      }
      return undefined;
    },
    ...(options.logRequest ? { logRequest: options.logRequest } : {}),
  });

  // The token endpoint takes a form POST, which `extras` (JSON answers to GETs) cannot serve.
  const [gatewayListener] = gateway.server.listeners('request') as ((...args: unknown[]) => void)[];
  gateway.server.removeAllListeners('request');
  gateway.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (issuer && req.method === 'POST' && req.url?.split('?')[0] === TOKEN_PATH) {
      serveTokenRequest(issuer, req, res).catch(() => res.destroy());
    } else gatewayListener?.(req, res);
  });

  const host = options.host ?? '127.0.0.1';
  let listening: Awaited<ReturnType<typeof gateway.listen>>;
  try {
    listening = await gateway.listen(options.port ?? 4000, host);
    // The scheduler reaches the router's API through it (on AWS: the request context's domain).
    process.env.CONDUCTOR_API_URL = `${listening.url}${API_BASE}`;
  } catch (error) {
    await apiPool?.close();
    await abandon();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new Error(`Port ${options.port ?? 4000} is in use: start with --port <n> or PORT=<n>.`);
    }
    throw error;
  }

  issuer = await LocalIssuer.create(
    `${listening.url}/local-oidc`,
    dataDir ? join(dataDir, 'oidc-signing-key.json') : undefined,
    machineClients,
  );
  verify = makeJwtVerifier({ issuer: issuer.issuer, audience: issuer.audiences, jwks: issuer.jwks });

  return {
    url: listening.url,
    apiUrl: `${listening.url}${API_BASE}`,
    issuer,
    dataDir,
    bus,
    queues,
    mappings,
    worm,
    runbookKeyDir,
    approvalFlow,
    apiWorkers: apiPool?.size ?? 0,
    advanceClock: (ms) => {
      advanceSystemClock(ms);
      apiPool?.advanceClock(ms);
    },
    stop: async () => {
      advanceSystemClock('reset');
      await listening.close();
      await apiPool?.close();
      await stopMappings();
      await bus.stop();
      for (const queue of queues.values()) queue.close();
      for (const stopServing of inProcess) stopServing();
      await aws.close();
      await dynamo.close();
      removeWorm();
    },
  };
};
