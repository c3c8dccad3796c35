import type { RouteSpec } from './http/http.js';
import { EVENT_SOURCE, type EventDefinition } from './ports/events.js';

/**
 * A pillar declares itself in one manifest (`functions/<pillar>/pillar.ts`): its functions and the
 * routes, tables, queues, events, policy actions, rate-limit families, evidence prefixes and
 * observability they need. The catalog (`functions/catalog.ts`) lists the manifests; the CDK app
 * builds one construct per pillar from them, the embedded runtime serves and wires the same
 * functions, and the OpenAPI document is generated from their routes. Nothing else names a pillar.
 */
export interface PillarManifest {
  /** Stable, lower-case: construct ids, dashboards (`conductor-<stage>-<dashboard>`) derive from it. */
  readonly name: string;
  readonly description: string;
  readonly functions: readonly FunctionSpec[];
  /** The pillar's own DynamoDB tables (DESIGN §8: one per pillar, tenant-first keys, TTL). */
  readonly tables?: readonly TableSpec[];
  /** WORM evidence of the pillar that names people (reported by data subject requests, never erased). */
  readonly personalEvidence?: readonly PersonalEvidenceSpec[];
  /** The pillar's SQS queues, each with its DLQ and its consumer (one of this pillar's functions). */
  readonly queues?: readonly QueueSpec[];
  /** EventBridge schedules that invoke one of the pillar's functions (control tests, sweeps). */
  readonly schedules?: readonly ScheduleSpec[];
  /** The event types the pillar's functions publish on the bus (defined in its contract). */
  readonly events?: readonly EventDefinition[];
  /** Event types of other pillars (or its own) delivered to one of its functions (EventBridge rules). */
  readonly subscriptions?: readonly SubscriptionSpec[];
  /**
   * Policy actions the pillar asks about besides its routes' own (e.g. `router:route-to`, asked per
   * candidate): with the routes' actions, they must be exactly the actions the policy schema declares
   * for the pillar.
   */
  readonly policyActions?: readonly string[];
  /** Per-tenant limits (requests per minute) of the rate-limit families its routes name. */
  readonly rateFamilies?: Readonly<Record<string, number>>;
  /**
   * Step Functions state machines of the pillar, each defined once (infra/workflows.ts) for CDK and
   * the embedded runtime.
   */
  readonly workflows?: readonly WorkflowSpec[];
  readonly observability?: PillarObservability;
}

/**
 * One Step Functions state machine (STANDARD) of a pillar. Its definition lives once, in
 * `infra/workflows.ts` under `<pillar>/<id>`: CDK builds the state machine from its chain, the
 * embedded runtime interprets the ASL of the same chain. On AWS it logs ALL (without execution data:
 * task payloads carry task tokens) to its own log group, traces with X-Ray, and has alarms on its
 * timed-out, aborted and throttled executions (infra/cdk/README.md, "Workflows").
 */
export interface WorkflowSpec {
  /**
   * Stable, lower-case: the construct id and the state machine name `conductor-<stage>-<pillar>-<id>`
   * derive from it (never rename: running executions, which may wait for days, die with the machine).
   */
  readonly id: string;
  readonly description: string;
  /** The state machine ARN reaches the functions of `startedBy` through it, e.g. `APPROVAL_FLOW_ARN`. */
  readonly envVar: string;
  /**
   * The definition's task functions by the role the definition gives them, e.g.
   * `{ approvalRequest: 'runbooks-approval-request', runSteps: 'runbooks-run-steps' }`: functions of
   * this pillar, invoked by the state machine (their `live` alias) and by nothing else.
   */
  readonly tasks: Readonly<Record<string, string>>;
  /**
   * Functions (of this pillar) that start executions, describe them and settle task tokens: they get
   * `envVar` and exactly `states:StartExecution` on the machine, `states:DescribeExecution` on its
   * executions, and `states:SendTaskSuccess`/`states:SendTaskFailure` (on `*`: those two actions
   * support no resource-level permission).
   */
  readonly startedBy: readonly string[];
  /**
   * The function (of this pillar) an EventBridge rule hands the state machine's "Step Functions
   * Execution Status Change" events (SUCCEEDED, FAILED, TIMED_OUT, ABORTED), with retries and a
   * dead-letter queue.
   */
  readonly statusChangesTo?: string;
}

/** The environment variable through which a `runbookStepRole` function receives the step role's ARN. */
export const RUNBOOK_STEP_ROLE_ENV = 'RUNBOOK_STEP_ROLE_ARN';

/**
 * The deployment's allow-list of the Lambda functions a runbook's `lambda` steps may invoke (names in
 * the deployment's account and region, comma-separated; empty: none), given to every function that
 * checks runbooks or runs their steps (`receivesRunbookAllowLists`).
 */
export const RUNBOOK_ALLOWED_LAMBDAS_ENV = 'RUNBOOK_ALLOWED_LAMBDAS';

/** The same for the IAM actions (`service:Action`) a runbook's `aws-api` steps may call. */
export const RUNBOOK_ALLOWED_AWS_APIS_ENV = 'RUNBOOK_ALLOWED_AWS_APIS';

/** One Lambda function of a pillar: an API entry, a queue consumer, or both. */
export interface FunctionSpec {
  /** Stable name: construct ids, log groups and the EMF `service` dimension derive from it. */
  readonly name: string;
  readonly description: string;
  /** Handler module, relative to the repository root; exports `handler`. */
  readonly entry: string;
  readonly routes?: readonly RouteSpec[];
  /**
   * Tables (ids, of any pillar) the function reads and writes. A function with token routes also
   * gets the policy table (decision log, grants, rate windows) without naming it.
   */
  readonly tables?: readonly string[];
  /**
   * Folders of the evidence (Object Lock) bucket this function writes once and reads, e.g.
   * `decisions/`; it gets EVIDENCE_BUCKET_NAME and no other right on the bucket.
   */
  readonly evidence?: readonly string[];
  /**
   * Folders of the evidence bucket this function only reads (another pillar's WORM records a check
   * reads, e.g. `runbooks/`): `s3:GetObject` there, `s3:ListBucket` narrowed to the folder
   * (`s3:prefix`), and nothing else; it gets EVIDENCE_BUCKET_NAME.
   */
  readonly evidenceReads?: readonly string[];
  /**
   * Folders of the artifacts bucket (reports, suite documents; lifecycle to cold storage, then
   * expiry) this function writes once and reads, e.g. `eval/`; it gets ARTIFACTS_BUCKET_NAME and
   * no other right on the bucket. Locally: files under `<dataDir>/artifacts`.
   */
  readonly artifacts?: readonly string[];
  /** Serves API Gateway's `$default` route: uniform 404/405 for anything unmatched. */
  readonly servesDefaultRoute?: boolean;
  /**
   * Publishes on the event bus without serving token routes (those that do always may): it gets
   * EVENT_BUS_NAME and events:PutEvents on the bus.
   */
  readonly publishesEvents?: boolean;
  /**
   * Inspects and redrives the dead-letter queues of every queue of the catalog (the ops pillar): it
   * gets DEAD_LETTER_QUEUES_ENV (JSON, queue id -> `DeadLetterQueueRef`), receive, delete, change
   * visibility and message-move-task rights on every DLQ, and send rights on every queue. Not
   * tenant-scoped: a DLQ holds every tenant's messages.
   */
  readonly deadLetterAccess?: boolean;
  /**
   * The function verifies runbook signatures with the deployment's runbook signing key (an
   * asymmetric KMS key of the stateful stack): it gets RUNBOOK_SIGNING_KEY_ENV (the key's ARN) and
   * `kms:GetPublicKey` and `kms:DescribeKey` on that key only, never `kms:Sign` (people and CI sign
   * with their own credentials). Locally: nothing here, the runtime uses a local key.
   *
   * A function that checks runbooks also checks their steps against the deployment's allow-lists (a
   * publish refuses a `lambda` or `aws-api` step they do not name): it gets RUNBOOK_ALLOWED_LAMBDAS_ENV
   * and RUNBOOK_ALLOWED_AWS_APIS_ENV too (`receivesRunbookAllowLists`).
   */
  readonly runbookSigningKey?: 'verify';
  /**
   * The function runs runbook steps. CDK creates one step role for it, assumable by this function's
   * role only, whose policy allows exactly the deployment's allow-lists: `lambda:InvokeFunction` on the
   * functions of `runbookAllowedLambdas` (by name, in the deployment's account and region), and the
   * IAM actions of `runbookAllowedAwsApis` on `*`. With neither, the role has no policy at all and can
   * do nothing (cdk-nag asks nothing of an empty role: no placeholder statement is needed). The
   * function gets RUNBOOK_STEP_ROLE_ENV (the role's ARN), RUNBOOK_ALLOWED_LAMBDAS_ENV and
   * RUNBOOK_ALLOWED_AWS_APIS_ENV (comma-separated), and `sts:AssumeRole` on that role only (no
   * `sts:TagSession`: a session is named after its execution and step instead). The executor assumes
   * the role per step with an inline session policy narrowing it to that one step's action.
   * Locally: nothing here, the runtime runs steps with its stand-ins.
   */
  readonly runbookStepRole?: boolean;
  /**
   * The function tests the deployment's own AWS resources (the compliance pillar's collectors): it
   * gets COMPLIANCE_RESOURCES_ENV (JSON: the evidence and artifacts buckets, the KMS keys, every
   * table, the log groups' prefix, the API's id and public routes, every dead-letter queue) and
   * read-only describe rights on exactly those (bucket configuration reads, DescribeKey and
   * GetKeyRotationStatus, DescribeTable/TimeToLive/ContinuousBackups, the API's routes, alarm
   * descriptions, the DLQs' attributes, the log groups of the deployment). Locally: nothing here,
   * the AWS checks are `not_applicable`.
   */
  readonly complianceCollector?: boolean;
  /**
   * The function answers data subject requests (the compliance pillar): it gets the name of every
   * table that declares searched `personalData` (through the tables' own `envVar`s) and, fenced by
   * `dynamodb:LeadingKeys` to the declared entities' partitions, `dynamodb:Query` on those searched,
   * `dynamodb:PutItem` on those an erasure redacts (a conditional rewrite) and `dynamodb:DeleteItem`
   * on those it deletes. Locally: every table is there. (It hashes the person's id before logging:
   * `hashesSubjects`.)
   */
  readonly dataSubjectRequests?: boolean;
  /**
   * The function writes evidence that names people, and names them by a keyed hash (the decision
   * archive, a data subject request's log): it gets DSR_SUBJECT_KEY_ENV (the deployment's HMAC key)
   * and `kms:GenerateMac` with HMAC_SHA_256 on that key only. Locally: a key file of the data
   * directory stands in for KMS (`#shared/adapters/subject-hasher.js`).
   */
  readonly hashesSubjects?: boolean;
  /**
   * Lambda timeout in seconds (1-900) for a function that works longer than a request (a replay job
   * reading a month of decisions); its queue's visibility timeout must be at least as long.
   * @default 10
   */
  readonly timeoutSeconds?: number;
  /**
   * Record types of another pillar's table (or the kernel's) the function reads by Query and nothing
   * else, fenced by `dynamodb:LeadingKeys` to the partitions of that entity (e.g. the compliance
   * checks reading the policy table's decision log, `DECISION`); it gets the table's `envVar`.
   */
  readonly recordReads?: readonly {
    readonly table: string;
    readonly entity: string;
    readonly purpose: string;
  }[];
  /**
   * Counters the function adds to with UpdateItem ADD in one of its tables, fenced by
   * `dynamodb:LeadingKeys` to the partitions of one entity (pillar tables grant no UpdateItem
   * otherwise), e.g. the router's per-minute canary counts.
   */
  readonly counters?: readonly {
    readonly table: string;
    readonly entity: string;
    readonly purpose: string;
  }[];
}

/** The environment variable through which a `complianceCollector` function receives what it tests. */
export const COMPLIANCE_RESOURCES_ENV = 'COMPLIANCE_RESOURCES';

/** The environment variable through which a `dataSubjectRequests` function receives the DSR HMAC key's ARN. */
export const DSR_SUBJECT_KEY_ENV = 'DSR_SUBJECT_KEY_ARN';

/** The environment variable through which a `runbookSigningKey: 'verify'` function receives the key's ARN. */
export const RUNBOOK_SIGNING_KEY_ENV = 'RUNBOOK_SIGNING_KEY_ARN';

/** The environment variable through which a `deadLetterAccess` function receives every queue. */
export const DEAD_LETTER_QUEUES_ENV = 'CONDUCTOR_QUEUES';

/** One queue of the catalog and its DLQ, as a `deadLetterAccess` function or the queue's consumer receives it. */
export interface DeadLetterQueueRef {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly dlqUrl: string;
  readonly dlqArn: string;
  /** Deliveries before a message moves to the DLQ (the manifest's). */
  readonly maxReceiveCount: number;
}

/**
 * The environment variable through which a queue consumer receives the queues it consumes (JSON,
 * queue id -> `DeadLetterQueueRef`, the same shape as DEAD_LETTER_QUEUES_ENV): on a record's last
 * delivery it puts the record on that queue's DLQ itself, with the error that failed it
 * (`layers/shared/src/adapters/sqs-last-attempt.ts`). On AWS a consumer gets only its own queues and
 * may send to their DLQs only; the embedded runtime, one process for every function, gives every
 * queue (a consumer picks its queue by the record's `eventSourceARN`).
 */
export const CONSUMED_QUEUES_ENV = 'CONDUCTOR_CONSUMED_QUEUES';

/** A pillar table: keys `pk`/`sk` (TABLE_KEY), TTL on `expiresAt`. */
export interface TableSpec {
  /** Stable id: construct id and the local table name derive from it (never rename: data). */
  readonly id: string;
  /** Environment variable through which functions receive the table name. */
  readonly envVar: string;
  readonly description: string;
  /**
   * The entities of this table whose records name a person (GDPR): the record of processing
   * (Art. 30) and what a data subject request searches and erases (Art. 15-20). `[]`: no record of
   * the table names a person. Every table of the catalog declares it (the compliance pillar's
   * `platform.processing-records` check fails on a table that does not).
   */
  readonly personalData?: readonly PersonalDataSpec[];
}

/**
 * One entity of a table whose records hold a person's id (a principal's subject). A data subject
 * request reads each tenant's partition of it (`T#<tenant>#<entity>`, a Query) and matches the
 * fields; an erasure then does what `onErasure` says.
 */
export interface PersonalDataSpec {
  /** The entity as stored: the sort-key partition `T#<tenant>#<entity>` (e.g. `RUNBOOK_EXECUTION`). */
  readonly entity: string;
  /**
   * Attribute paths holding a person's id: `requestedBy`, `principal.subject`, `history[].by` (each
   * element of an array). A person's id in the sort key alone is not matched: name an attribute.
   */
  readonly subjectFields: readonly string[];
  /** Why the record names the person (Art. 30 purpose). */
  readonly purpose: string;
  /** How long the record is kept, as a person reads it: `30 days (TTL)`, `until the runbook is deleted`. */
  readonly retention: string;
  /**
   * What an erasure (a `delete` request) does: `delete` the record; `redact` the person's id in it
   * (the record stays, e.g. who approved what, with the id replaced by the request's marker); `keep`
   * it unchanged for the reason in `keepReason` (a legal obligation, Art. 17(3)).
   */
  readonly onErasure: 'delete' | 'redact' | 'keep';
  readonly keepReason?: string;
  /**
   * Why a request does not read this entity (its records are compressed, or the person's id is in
   * the key only): it is reported as retained, with its retention, and `onErasure` must be `keep`.
   */
  readonly notSearched?: string;
}

/**
 * WORM evidence a pillar writes that names people (the decision archive): it cannot be changed
 * before its retention ends, so a data subject request reports it as retained, with its retention.
 */
export interface PersonalEvidenceSpec {
  /** Folder of the evidence bucket, e.g. `decisions/`. */
  readonly prefix: string;
  readonly subjectFields: readonly string[];
  readonly purpose: string;
  readonly retention: string;
  /**
   * How those fields hold the person: `keyed-hash` (HMAC with the DSR key: pseudonymous, the
   * requirement for evidence) or `clear` (a gap the `platform.dsr-log` check reports as failing).
   */
  readonly storedAs: 'keyed-hash' | 'clear';
}

/** Every function's memory (MB) unless its stack says otherwise: CDK's ServiceFunction and the embedded runtime's call accounting. */
export const DEFAULT_FUNCTION_MEMORY_MB = 512;

export const TABLE_KEY = { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt' } as const;

/** An SQS queue (with a DLQ) and the function that consumes it through an event source mapping. */
export interface QueueSpec {
  /** Stable id: construct id and local queue name derive from it (never rename: data). */
  readonly id: string;
  /** Environment variable through which producers receive the queue URL. */
  readonly envVar: string;
  /** Name of the consuming function; its module exports `handler` for SQS batches. */
  readonly consumer: string;
  /** Records per invocation: 1-10, or up to 10000 with `maxBatchingWindowSeconds` (as Lambda's ESM). */
  readonly batchSize: number;
  /**
   * How long the event source mapping gathers records before invoking with a partial batch (1-300 s);
   * a full batch (or a 6 MB payload) is delivered at once. Omitted: no window, records go out as soon
   * as they are received (then `batchSize` is at most 10).
   */
  readonly maxBatchingWindowSeconds?: number;
  /** Lambda ESM maximum concurrency (2-1000): the knob that stands in for KEDA. */
  readonly maximumConcurrency: number;
  readonly visibilityTimeoutSeconds: number;
  /** Deliveries before a message moves to the DLQ. */
  readonly maxReceiveCount: number;
  /**
   * The queue's freshness bound: a CloudWatch alarm fires when its oldest message
   * (`ApproximateAgeOfOldestMessage`) is older than this, i.e. the consumer is not keeping up.
   */
  readonly maxAgeSeconds: number;
  /**
   * Functions that send to the queue (they get `envVar` and the send permission): function names,
   * or `policy-enforcers` for every function with token routes.
   */
  readonly producers: 'policy-enforcers' | readonly string[];
}

/**
 * A subscription: an EventBridge rule on Conductor's bus delivering the events of the listed types
 * (source `conductor`) to one of the pillar's functions, asynchronously, with retries and a DLQ
 * (alarmed); locally, a rule on the embedded bus. The function receives the EventBridge event
 * (`detail-type`, `detail`) and must be idempotent: delivery is at least once.
 */
export interface SubscriptionSpec {
  /** Stable id: construct ids, the alarms' and the local rule's names derive from it. */
  readonly id: string;
  readonly description: string;
  /** Event types published by the catalog's pillars (their `events`). */
  readonly events: readonly string[];
  /** Name of the function the events go to (one of this pillar's functions). */
  readonly function: string;
}

/** A schedule (an EventBridge rule on the default bus, as on AWS) that invokes a function of the pillar. */
export interface ScheduleSpec {
  /** Stable id: construct id and the local rule name derive from it. */
  readonly id: string;
  /** `rate(5 minutes)` or an EventBridge `cron(min hour day-of-month month day-of-week year)`. */
  readonly expression: `rate(${string})` | `cron(${string})`;
  /** Name of the function it invokes, with a `Scheduled Event` (one of this pillar's functions). */
  readonly function: string;
  readonly description: string;
}

/** Alarms and dashboard of a pillar beyond what every pillar gets (API, Lambda and queue graphs). */
export interface PillarObservability {
  /**
   * Dashboard name suffix (`conductor-<stage>-<dashboard>`), or `false` for none.
   *
   * @default the pillar name
   */
  readonly dashboard?: string | false;
  /** Availability SLOs with multi-window burn-rate alerts (fast: page, slow: ticket). */
  readonly slos?: readonly RouteSlo[];
  /** Graphs of EMF metrics the pillar emits, one line per tenant (CloudWatch SEARCH). */
  readonly tenantMetrics?: readonly TenantMetricGraph[];
  /** Graph every policy-enforcing function's decisions, denies and cache hits, and the deny spike alarms. */
  readonly policyDecisions?: boolean;
  /** Alarms that fire when an EMF count of one function (dimension `service` alone) is 1 or more. */
  readonly eventAlarms?: readonly EventAlarm[];
}

/** A count the platform emits when something an operator must know happened (a canary rollback). */
export interface EventAlarm {
  /** Alarm name suffix: `conductor-<stage>-<pillar>-<name>`. */
  readonly name: string;
  /** EMF metric name (namespace Conductor, dimension service only). */
  readonly metric: string;
  /** The function whose `service` dimension carries it. */
  readonly service: string;
  readonly severity: 'page' | 'ticket';
  /** What happened and what to read: the alarm's description. */
  readonly description: string;
}

/** `objective` of a route's answers are not 5xx (30-day window). */
export interface RouteSlo {
  /** Short name used in alarm names, e.g. `route` gives `conductor-<stage>-<pillar>-route-...`. */
  readonly name: string;
  readonly route: RouteSpec;
  readonly objective: number;
}

export interface TenantMetricGraph {
  readonly title: string;
  /** EMF metric name (namespace Conductor, dimensions service and tenant). */
  readonly metric: string;
  /** The function whose `service` dimension carries it. */
  readonly service: string;
  readonly statistic: 'Average' | 'Sum' | 'Maximum';
  readonly yMax?: number;
}

/** Every function of the catalog with the pillar it belongs to. */
export const functionsOf = (
  pillars: readonly PillarManifest[],
): (FunctionSpec & { readonly pillar: string })[] =>
  pillars.flatMap((pillar) => pillar.functions.map((fn) => ({ ...fn, pillar: pillar.name })));

export const routesOf = (pillars: readonly PillarManifest[]): RouteSpec[] =>
  pillars.flatMap((pillar) => pillar.functions.flatMap((fn) => fn.routes ?? []));

export const tablesOf = (pillars: readonly PillarManifest[]): TableSpec[] =>
  pillars.flatMap((pillar) => pillar.tables ?? []);

export const subscriptionsOf = (pillars: readonly PillarManifest[]): SubscriptionSpec[] =>
  pillars.flatMap((pillar) => pillar.subscriptions ?? []);

/** The EventBridge event pattern of a subscription: Conductor's source, its event types. */
export const subscriptionPatternOf = (subscription: SubscriptionSpec) => ({
  source: [EVENT_SOURCE],
  'detail-type': [...subscription.events],
});

export const schedulesOf = (pillars: readonly PillarManifest[]): ScheduleSpec[] =>
  pillars.flatMap((pillar) => pillar.schedules ?? []);

export const queuesOf = (pillars: readonly PillarManifest[]): QueueSpec[] =>
  pillars.flatMap((pillar) => pillar.queues ?? []);

export const eventsOf = (pillars: readonly PillarManifest[]): EventDefinition[] =>
  pillars.flatMap((pillar) => pillar.events ?? []);

/** Every workflow of the catalog with its pillar. */
export const workflowsOf = (
  pillars: readonly PillarManifest[],
): (WorkflowSpec & { readonly pillar: string })[] =>
  pillars.flatMap((pillar) => (pillar.workflows ?? []).map((spec) => ({ ...spec, pillar: pillar.name })));

/** `<pillar>/<workflow id>`: the key of a workflow's definition in `infra/workflows.ts`. */
export const workflowKeyOf = (pillar: Pick<PillarManifest, 'name'>, spec: Pick<WorkflowSpec, 'id'>): string =>
  `${pillar.name}/${spec.id}`;

/**
 * Whether a function gets the deployment's runbook allow-lists (RUNBOOK_ALLOWED_LAMBDAS_ENV and
 * RUNBOOK_ALLOWED_AWS_APIS_ENV): it checks runbooks (`runbookSigningKey`: a publish refuses a step
 * the lists do not name) or runs their steps (`runbookStepRole`).
 */
export const receivesRunbookAllowLists = (
  fn: Pick<FunctionSpec, 'runbookSigningKey' | 'runbookStepRole' | 'routes'>,
): boolean =>
  (fn.runbookSigningKey !== undefined && (fn.routes ?? []).length > 0) || fn.runbookStepRole === true;

/** The policy actions a pillar uses: its token routes' actions and the ones it declares. */
export const policyActionsOf = (pillar: PillarManifest): string[] => [
  ...new Set([
    ...pillar.functions.flatMap((fn) =>
      (fn.routes ?? []).filter((r) => r.auth === 'jwt').map((r) => r.action),
    ),
    ...(pillar.policyActions ?? []),
  ]),
];

/** A function enforces policies (and emits the Policy* metrics) when any of its routes takes a token. */
export const enforcesPolicies = (fn: Pick<FunctionSpec, 'routes'>): boolean =>
  (fn.routes ?? []).some((spec) => spec.auth === 'jwt');

/** The tables a function is given: the ones it names, plus the policy table when it enforces policies. */
export const tablesOfFunction = (fn: FunctionSpec): string[] => [
  ...new Set([...(fn.tables ?? []), ...(enforcesPolicies(fn) ? [POLICY_TABLE_ID] : [])]),
];

/** The kernel's policy table (decision log, grants, rate windows), declared by the authorize pillar. */
export const POLICY_TABLE_ID = 'policy';

/** Whether a function sends to a queue: it is named as a producer, or enforces policies and the queue takes every enforcer. */
export const producesTo = (spec: QueueSpec, fn: FunctionSpec): boolean =>
  spec.producers === 'policy-enforcers' ? enforcesPolicies(fn) : spec.producers.includes(fn.name);

/**
 * Checks a catalog before anything is built from it, naming the pillar at fault: unique pillar,
 * function, table, queue and event names; every table a function names exists; every queue has a
 * consumer of its own pillar and known producers; every route key once; at most one default route;
 * every rate family a route names is declared by its pillar (or is `default`); every workflow names
 * only its pillar's functions (`assertWorkflows`).
 */
export const assertCatalog = (pillars: readonly PillarManifest[]): void => {
  const unique = (kind: string, names: readonly string[]) => {
    const seen = new Set<string>();
    for (const name of names) {
      if (seen.has(name)) throw new Error(`${kind} '${name}' is declared twice in the catalog`);
      seen.add(name);
    }
  };
  unique(
    'Pillar',
    pillars.map((p) => p.name),
  );
  const functions = functionsOf(pillars);
  unique(
    'Function',
    functions.map((fn) => fn.name),
  );
  const tables = tablesOf(pillars);
  unique(
    'Table',
    tables.map((t) => t.id),
  );
  unique(
    'Queue',
    queuesOf(pillars).map((q) => q.id),
  );
  unique(
    'Event type',
    eventsOf(pillars).map((e) => e.type),
  );
  unique(
    'Rate family',
    pillars.flatMap((p) => Object.keys(p.rateFamilies ?? {})),
  );
  for (const pillar of pillars) {
    for (const family of Object.keys(pillar.rateFamilies ?? {})) {
      if (Object.hasOwn(KERNEL_RATE_FAMILIES, family)) {
        throw new Error(
          `Pillar '${pillar.name}' declares rate family '${family}', which is the kernel's own`,
        );
      }
    }
  }
  const tableIds = new Set(tables.map((t) => t.id));
  const fnNames = new Set(functions.map((fn) => fn.name));
  const routeKeys = new Map<string, string>();
  let defaults = 0;
  for (const pillar of pillars) {
    if (!/^[a-z][a-z0-9-]*$/.test(pillar.name)) {
      throw new Error(`Pillar name '${pillar.name}' must be lower-case letters, digits and dashes`);
    }
    const own = new Set(pillar.functions.map((fn) => fn.name));
    for (const fn of pillar.functions) {
      if (!/^[a-z][a-z0-9-]*$/.test(fn.name)) {
        throw new Error(`Function name '${fn.name}' must be lower-case letters, digits and dashes`);
      }
      for (const id of [...tablesOfFunction(fn), ...(fn.recordReads ?? []).map((read) => read.table)]) {
        if (!tableIds.has(id))
          throw new Error(`Function '${fn.name}' names table '${id}', which no pillar declares`);
      }
      for (const spec of fn.routes ?? []) {
        if (!spec.path.startsWith('/')) {
          throw new Error(
            `Route ${spec.operationId} of '${fn.name}': path '${spec.path}' must start with '/'`,
          );
        }
        const key = `${spec.method} ${spec.path}`;
        const owner = routeKeys.get(key);
        if (owner) throw new Error(`Route '${key}' is served by both '${owner}' and '${fn.name}'`);
        routeKeys.set(key, fn.name);
        const family = spec.rateFamily ?? 'default';
        if (family !== 'default' && pillar.rateFamilies?.[family] === undefined) {
          throw new Error(
            `Route ${spec.operationId} of pillar '${pillar.name}' names rate family '${family}', which the pillar does not declare`,
          );
        }
      }
      if (fn.servesDefaultRoute) defaults += 1;
    }
    for (const spec of pillar.queues ?? []) {
      // A queue nobody consumes would keep accepting work until its messages expire.
      if (!own.has(spec.consumer)) {
        throw new Error(
          `Queue '${spec.id}' of pillar '${pillar.name}' is consumed by '${spec.consumer}', which is not one of its functions`,
        );
      }
      for (const producer of spec.producers === 'policy-enforcers' ? [] : spec.producers) {
        if (!fnNames.has(producer))
          throw new Error(`Queue '${spec.id}' names producer '${producer}', which is not in the catalog`);
      }
    }
  }
  unique(
    'Schedule',
    schedulesOf(pillars).map((s) => s.id),
  );
  for (const pillar of pillars) {
    for (const schedule of pillar.schedules ?? []) {
      if (!pillar.functions.some((fn) => fn.name === schedule.function)) {
        throw new Error(
          `Schedule '${schedule.id}' of pillar '${pillar.name}' invokes '${schedule.function}', which is not one of its functions`,
        );
      }
    }
  }
  unique(
    'Subscription',
    subscriptionsOf(pillars).map((s) => s.id),
  );
  const published = new Set(eventsOf(pillars).map((event) => event.type));
  for (const pillar of pillars) {
    for (const subscription of pillar.subscriptions ?? []) {
      const where = `Subscription '${subscription.id}' of pillar '${pillar.name}'`;
      if (!/^[a-z][a-z0-9-]*$/.test(subscription.id))
        throw new Error(`${where}: the id must be lower-case letters, digits and dashes`);
      if (!pillar.functions.some((fn) => fn.name === subscription.function))
        throw new Error(`${where} delivers to '${subscription.function}', which is not one of its functions`);
      if (subscription.events.length === 0) throw new Error(`${where} names no event type`);
      for (const type of subscription.events) {
        if (!published.has(type))
          throw new Error(`${where} names event type '${type}', which no pillar of the catalog publishes`);
      }
    }
  }
  if (defaults > 1) throw new Error(`Only one function may serve the $default route; ${defaults} do`);
  for (const pillar of pillars) assertWorkflows(pillar);
  assertPersonalData(pillars);
};

/**
 * The tables' `personalData`: each entity once in the catalog (a data subject request's grants
 * rely on it), fields named, a reason for every `keep`.
 */
const assertPersonalData = (pillars: readonly PillarManifest[]): void => {
  const entities = new Set<string>();
  for (const pillar of pillars)
    for (const table of pillar.tables ?? []) {
      for (const spec of table.personalData ?? []) {
        const where = `Personal data '${spec.entity}' of table '${table.id}' (pillar '${pillar.name}')`;
        if (!/^[A-Z][A-Z0-9_]*$/.test(spec.entity))
          throw new Error(`${where}: the entity must be upper-case letters, digits and underscores`);
        if (entities.has(spec.entity)) throw new Error(`${where} is declared twice`);
        entities.add(spec.entity);
        if (spec.subjectFields.length === 0) throw new Error(`${where} names no subject field`);
        for (const field of spec.subjectFields) {
          if (!/^[A-Za-z_][A-Za-z0-9_]*(\[\])?(\.[A-Za-z_][A-Za-z0-9_]*(\[\])?)*$/.test(field))
            throw new Error(`${where}: '${field}' is not an attribute path (a.b, list[].field)`);
        }
        if (spec.purpose.trim() === '' || spec.retention.trim() === '')
          throw new Error(`${where} must say its purpose and retention`);
        if (spec.onErasure === 'keep' && !spec.keepReason?.trim())
          throw new Error(`${where} is kept on erasure without a keepReason`);
        if (spec.notSearched !== undefined && spec.onErasure !== 'keep')
          throw new Error(`${where} is not searched, so an erasure can only keep it`);
      }
    }
};

const ENV_VAR_NAME = /^[A-Z][A-Z0-9_]*$/;

/**
 * A pillar's workflows: ids unique and lower-case, env var names as Lambda takes them, and every
 * function they name (tasks, starters, the status-change consumer) one of the pillar's own, so one
 * pillar construct wires the machine and its grants. A function may not be both a task and a
 * starter: the state machine alone invokes a task function.
 */
const assertWorkflows = (pillar: PillarManifest): void => {
  const own = new Set(pillar.functions.map((fn) => fn.name));
  const ids = new Set<string>();
  for (const spec of pillar.workflows ?? []) {
    const where = `Workflow '${spec.id}' of pillar '${pillar.name}'`;
    if (!/^[a-z][a-z0-9-]*$/.test(spec.id))
      throw new Error(`${where}: the id must be lower-case letters, digits and dashes`);
    if (ids.has(spec.id)) throw new Error(`${where} is declared twice`);
    ids.add(spec.id);
    if (!ENV_VAR_NAME.test(spec.envVar))
      throw new Error(`${where}: envVar '${spec.envVar}' must be upper-case letters, digits and _`);
    const named = [
      ...Object.entries(spec.tasks).map(([role, name]) => [`task '${role}'`, name] as const),
      ...spec.startedBy.map((name) => ['startedBy', name] as const),
      ...(spec.statusChangesTo === undefined ? [] : [['statusChangesTo', spec.statusChangesTo] as const]),
    ];
    if (Object.keys(spec.tasks).length === 0) throw new Error(`${where} has no task function`);
    for (const [what, name] of named) {
      if (!own.has(name))
        throw new Error(`${where}: ${what} names '${name}', which is not one of its pillar's functions`);
    }
    const tasks = new Set(Object.values(spec.tasks));
    for (const name of spec.startedBy) {
      if (tasks.has(name))
        throw new Error(
          `${where}: '${name}' is both a task and a starter; the state machine alone invokes a task`,
        );
    }
  }
};

/** The spec of one table of the catalog, by id. */
export const tableSpecOf = (pillars: readonly PillarManifest[], id: string): TableSpec => {
  const spec = tablesOf(pillars).find((table) => table.id === id);
  if (!spec)
    throw new Error(
      `Unknown table '${id}'; known: ${tablesOf(pillars)
        .map((t) => t.id)
        .join(', ')}`,
    );
  return spec;
};

/** Every rate-limit family of the catalog with its limit, `default` included. */
/** The family of requests the kernel refused before their tenant's count: counted per caller. */
export const REFUSED_RATE_FAMILY = 'refused';

/**
 * The kernel's own rate families (requests per minute): `default` for routes that name none, and
 * `refused` per caller (tenant and subject) for the requests the kernel refused before they reached
 * their tenant's count (403 of the policy, 400/413/415 of the input), so a caller's refusals never
 * spend its tenant's budget; 60 a minute is a client retrying a mistake every second, far from any
 * honest use. A pillar may not declare either name.
 */
export const KERNEL_RATE_FAMILIES: Readonly<Record<string, number>> = {
  default: 600,
  [REFUSED_RATE_FAMILY]: 60,
};

export const rateFamiliesOf = (pillars: readonly PillarManifest[]): Record<string, number> =>
  Object.assign({ ...KERNEL_RATE_FAMILIES }, ...pillars.map((pillar) => pillar.rateFamilies ?? {}));
