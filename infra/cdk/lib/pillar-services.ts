import { Aws, Duration, Fn, Names, type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  type HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  HttpRoute,
  HttpRouteKey,
  type HttpStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import type { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { RATE_ENTITY } from '#shared/adapters/rate-limit.js';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import { API_BASE, routeKeyOf } from '#shared/http/http.js';
import {
  COMPLIANCE_RESOURCES_ENV,
  CONSUMED_QUEUES_ENV,
  DEAD_LETTER_QUEUES_ENV,
  type DeadLetterQueueRef,
  DSR_SUBJECT_KEY_ENV,
  enforcesPolicies,
  type FunctionSpec,
  type PillarManifest,
  POLICY_TABLE_ID,
  producesTo,
  type QueueSpec,
  RUNBOOK_ALLOWED_AWS_APIS_ENV,
  RUNBOOK_ALLOWED_LAMBDAS_ENV,
  RUNBOOK_SIGNING_KEY_ENV,
  RUNBOOK_STEP_ROLE_ENV,
  receivesRunbookAllowLists,
  type TableSpec,
  tablesOfFunction,
} from '#shared/pillar.js';
import { DECISION_ENTITY, LIVE_GRANT_ENTITY } from '#shared/policy/dynamo-policy-store.js';
import { EVENT_SOURCE } from '#shared/ports/events.js';
import { GRANT_ENTITY } from '#shared/ports/grants.js';
import { deliverEvents } from './event-delivery.js';
import { isProductionStage, pascal } from './names.js';
import { PillarObservability } from './observability.js';
import { LAYER_POLICY_DIRS, type PolicyLayer } from './policy-layer.js';
import { type FunctionTelemetry, ServiceFunction } from './service-function.js';
import type { ConductorStatefulStack } from './stateful-stack.js';
import { PillarWorkflow } from './workflow.js';

/**
 * The deployment's runbook allow-lists (context `runbookAllowedLambdas`, `runbookAllowedAwsApis`):
 * what a runbook's `lambda` and `aws-api` steps may call. Publish refuses a step they do not name;
 * the step role allows exactly them.
 */
export interface RunbookAllowLists {
  /** Lambda function names (of the deployment's account and region) `lambda` steps may invoke. */
  readonly lambdas: readonly string[];
  /** IAM actions (`service:Action`, no wildcard) `aws-api` steps may call, on any resource. */
  readonly awsApis: readonly string[];
}

/** A Lambda function name as `lambda:InvokeFunction` takes it in an ARN (no ARN, no qualifier). */
const LAMBDA_FUNCTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** One IAM action, spelled out: `service:Action`. */
const IAM_ACTION = /^[a-z0-9-]+:[A-Za-z0-9]+$/;

/**
 * Checks the allow-lists before anything is built: function names only (the step role names them in
 * the deployment's account and region), and IAM actions one by one (a wildcard would let every step
 * role session ask for a whole service, where the executor narrows each to one declared action).
 */
export const assertRunbookAllowLists = (lists: RunbookAllowLists): void => {
  for (const name of lists.lambdas) {
    if (!LAMBDA_FUNCTION_NAME.test(name)) {
      throw new Error(
        `runbookAllowedLambdas '${name}' is not a Lambda function name (1-64 of A-Z a-z 0-9 _ -; no ARN, no qualifier)`,
      );
    }
  }
  for (const action of lists.awsApis) {
    if (!IAM_ACTION.test(action)) {
      throw new Error(
        `runbookAllowedAwsApis '${action}' is not one IAM action (service:Action, e.g. ecs:UpdateService; no wildcard)`,
      );
    }
  }
};

export const NO_RUNBOOK_ALLOW_LISTS: RunbookAllowLists = { lambdas: [], awsApis: [] };

/**
 * What a function may do in a table its manifest names (`tables`): the operations of the record
 * stores every pillar adapter is built on (TenantRecordStore: get, getMany, list, create, replace,
 * delete; the pillars' own adapters add queries, puts and deletes). Every current function that
 * names a table also writes it; a manifest has no read-only form yet. No Scan (every read is one
 * tenant's partition), no stream reads (no consumer of DynamoDB Streams), no transactions (DESIGN
 * §8), no UpdateItem and BatchWriteItem (only the kernel's counters and decision log use them, on
 * the policy table: KERNEL_POLICY_TABLE_ACCESS; and a manifest's `counters`, fenced to one entity). An adapter that needs another operation adds it
 * here, with its reason: IAM is not enforced by the embedded runtime, so nothing else would notice.
 */
export const TABLE_READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'] as const;
export const TABLE_WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:DeleteItem'] as const;

/** One thing the kernel of a policy-enforcing function does in the policy table, and where. */
export interface KernelTableAccess {
  readonly action: string;
  /** The entity of the partitions it touches: partition keys `T#<any tenant>#<entity>`. */
  readonly entity: string;
  readonly purpose: string;
}

/**
 * What the kernel of every function with token routes does in the policy table (which it gets
 * without naming it), each action fenced by `dynamodb:LeadingKeys` to the partitions of one entity:
 * it writes decisions and counts requests, reads grants, and nothing else there. So a router or a
 * scheduler can neither read another tenant's decision log nor create, change or delete a grant;
 * only the authorize pillar, which owns the table, does that.
 */
export const KERNEL_POLICY_TABLE_ACCESS: readonly KernelTableAccess[] = [
  {
    action: 'dynamodb:BatchWriteItem',
    entity: DECISION_ENTITY,
    purpose: 'writes the decision log (DynamoDecisionLog: put requests, 25 a batch)',
  },
  {
    action: 'dynamodb:UpdateItem',
    entity: RATE_ENTITY,
    purpose: 'counts requests per tenant and family (DynamoRateLimiter: a conditional ADD)',
  },
  {
    action: 'dynamodb:Query',
    entity: LIVE_GRANT_ENTITY,
    purpose: "finds the caller's live grants in the target tenant (DynamoGrantLookup)",
  },
  {
    action: 'dynamodb:GetItem',
    entity: GRANT_ENTITY,
    purpose: 're-reads each grant before honouring it (DynamoGrantLookup)',
  },
];

/** A valid tenant id that stands for "any tenant" in a leading-key pattern. */
const ANY_TENANT_PROBE = 'any-tenant';

/**
 * `T#*#<entity>`: the partition keys of one entity in every tenant, as `dynamodb:LeadingKeys`
 * patterns (StringLike). Built by the kernel's own key function, so it follows the key format.
 */
export const leadingKeysOf = (entity: string): string =>
  partitionKey(ANY_TENANT_PROBE, entity).replace(ANY_TENANT_PROBE, '*');

/** The tables with `personalData` a data subject request searches (not only `notSearched` entries). */
export const searchedPersonalTables = (tables: readonly TableSpec[]): TableSpec[] =>
  tables.filter((table) => (table.personalData ?? []).some((entry) => entry.notSearched === undefined));

/** Queue actions: the consumer's (event source mapping and kernel) and the producer's. */
const QUEUE_CONSUME_ACTIONS = [
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:GetQueueAttributes',
] as const;
const QUEUE_SEND_ACTIONS = ['sqs:SendMessage'] as const;
/** What a redrive needs on the DLQ besides consuming it (SQS's message move tasks). */
const QUEUE_MOVE_ACTIONS = [
  'sqs:StartMessageMoveTask',
  'sqs:ListMessageMoveTasks',
  'sqs:CancelMessageMoveTask',
] as const;

/** The services that use the data key on a function's behalf. */
type KeyService = 'dynamodb' | 'sqs';

/**
 * The key actions a function needs, per customer-managed key and per service that uses the key for
 * it: `kms:Decrypt` to read (a table's key, a received message's data key), and
 * `kms:GenerateDataKey` too to write (a sent message's data key; a table write). Granted under
 * `kms:ViaService`, so the role can use the key only through that service: never `kms:Encrypt` or
 * `kms:ReEncrypt*`, which CDK's table and queue grants would add, and no direct KMS call at all.
 */
class KeyUses {
  readonly #uses = new Map<IKey, Map<KeyService, Set<string>>>();

  add(key: IKey | undefined, service: KeyService, write: boolean): void {
    if (!key) return;
    const services = this.#uses.get(key) ?? new Map<KeyService, Set<string>>();
    this.#uses.set(key, services);
    const actions = services.get(service) ?? new Set<string>();
    services.set(service, actions);
    actions.add('kms:Decrypt');
    if (write) actions.add('kms:GenerateDataKey');
  }

  grant(fn: ServiceFunction, region: string): void {
    for (const [key, services] of this.#uses) {
      for (const [service, actions] of services) {
        fn.grantPrincipal.addToPrincipalPolicy(
          new PolicyStatement({
            actions: [...actions].sort(),
            resources: [key.keyArn],
            conditions: { StringEquals: { 'kms:ViaService': `${service}.${region}.amazonaws.com` } },
          }),
        );
      }
    }
  }
}

/**
 * The read-only calls of a compliance collector (`complianceCollector`), by service: configuration
 * reads of the deployment's buckets, keys and tables, its API's routes, its DLQs' attributes, and
 * the listings of log groups and alarms. No data is read.
 */
export const COMPLIANCE_COLLECTOR_ACTIONS = {
  s3: [
    's3:GetBucketObjectLockConfiguration',
    's3:GetBucketVersioning',
    's3:GetEncryptionConfiguration',
    's3:GetBucketPublicAccessBlock',
    's3:GetBucketPolicy',
    's3:GetLifecycleConfiguration',
  ],
  kms: ['kms:DescribeKey', 'kms:GetKeyRotationStatus'],
  dynamodb: ['dynamodb:DescribeTable', 'dynamodb:DescribeTimeToLive', 'dynamodb:DescribeContinuousBackups'],
  apigateway: ['apigateway:GET'],
  sqs: ['sqs:GetQueueAttributes'],
  logs: ['logs:DescribeLogGroups'],
  cloudwatch: ['cloudwatch:DescribeAlarms'],
} as const;

export interface PillarServicesProps {
  readonly pillar: PillarManifest;
  /** Deployment stage: passed to every function, part of alarm and dashboard names. */
  readonly stage: string;
  readonly api: HttpApi;
  readonly httpStage: HttpStage;
  readonly authorizer: HttpJwtAuthorizer;
  /** Tables, queues, the evidence bucket, the bus and the alarm topic the functions are granted. */
  readonly stateful: ConductorStatefulStack;
  /** The policy engine and policies every function with token routes runs in-process. */
  readonly policyLayer: PolicyLayer;
  /** Log groups of the functions. */
  readonly removalPolicy: RemovalPolicy;
  /**
   * The JWT issuer requires MFA at every sign-in (the Cognito pool the app creates), so every token
   * counts as stepped up (CONDUCTOR_ISSUER_ENFORCES_MFA).
   */
  readonly issuerEnforcesMfa: boolean;
  /** `acr` values that count as step-up besides an `amr` with `mfa` (CONDUCTOR_STEP_UP_ACR). */
  readonly stepUpAcr?: readonly string[];
  /** Deployment settings passed to one function as environment variables, by function name. */
  readonly functionEnvironment?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Deployment folders copied into one function's bundle (ServiceFunction's `extraFiles`), by function name. */
  readonly functionFiles?: Readonly<
    Record<string, readonly { readonly from: string; readonly to: string }[]>
  >;
  /**
   * What runbook steps may call (the step role's policy, and publish's check).
   *
   * @default NO_RUNBOOK_ALLOW_LISTS - nothing
   */
  readonly runbookAllowLists?: RunbookAllowLists;
  /** The catalog's public route keys (a `complianceCollector` checks every other route has the authorizer). */
  readonly publicRouteKeys?: readonly string[];
  /** Tracing and Lambda's own log lines of every function (ServiceFunction's `telemetry`). */
  readonly telemetry?: FunctionTelemetry;
}

/**
 * One pillar's compute, built from its manifest and nothing else: a Lambda per function with its
 * environment and least-privilege grants (its tables with explicit actions, the kernel's part of the
 * policy table for an enforcer, the queues it sends to, the DLQs of the queues it consumes, the
 * evidence prefixes it writes, the bus; keys only through the service that uses them, but for the
 * runbook signing key's public key), its API routes (JWT or public), an event source mapping per
 * queue it consumes, and its alarms and dashboard (`PillarObservability`). A new pillar needs no
 * code here.
 *
 * Pillar constructs are transparent to CloudFormation logical ids (see ConductorApiStack): a
 * resource has the id it would have as a direct child of the stack, so moving a function, a route
 * or a named alarm into its pillar never replaces it.
 */
export class PillarServices extends Construct {
  readonly pillar: PillarManifest;
  /** The pillar's functions, by function name. */
  readonly functions: Readonly<Record<string, ServiceFunction>>;
  /** The pillar's workflows (state machines), by workflow id. */
  readonly workflows: Readonly<Record<string, PillarWorkflow>>;
  /** The step role of each function with `runbookStepRole`, by function name. */
  readonly stepRoles: Readonly<Record<string, Role>>;
  readonly observability: PillarObservability;
  /** The rule and DLQ of each of the pillar's subscriptions, by subscription id. */
  readonly subscriptions: Readonly<Record<string, { readonly rule: Rule; readonly queue: IQueue }>>;
  readonly #props: PillarServicesProps;

  constructor(scope: Construct, id: string, props: PillarServicesProps) {
    super(scope, id);
    this.pillar = props.pillar;
    this.#props = props;
    const functions: Record<string, ServiceFunction> = {};
    const stepRoles: Record<string, Role> = {};
    for (const spec of props.pillar.functions) {
      const fn = this.addFunction(spec);
      functions[spec.name] = fn;
      if (spec.runbookStepRole) stepRoles[spec.name] = this.addStepRole(fn, spec);
    }
    this.functions = functions;
    this.stepRoles = stepRoles;
    const workflows: Record<string, PillarWorkflow> = {};
    for (const spec of props.pillar.workflows ?? []) {
      // Named by pillar and workflow, so two pillars' workflows of one id cannot collide.
      workflows[spec.id] = new PillarWorkflow(
        this,
        `${pascal(props.pillar.name)}${pascal(spec.id)}Workflow`,
        {
          stage: props.stage,
          pillar: props.pillar,
          spec,
          functions,
          removalPolicy: props.removalPolicy,
        },
      );
    }
    this.workflows = workflows;
    for (const schedule of props.pillar.schedules ?? []) {
      const target = functions[schedule.function];
      if (!target) throw new Error(`Schedule '${schedule.id}': no function '${schedule.function}'`);
      // A rule on the default bus with a schedule expression: EventBridge invokes the function with a
      // `Scheduled Event`, retrying for up to two more attempts.
      new Rule(this, `${pascal(schedule.id)}Schedule`, {
        schedule: Schedule.expression(schedule.expression),
        description: `Conductor ${props.stage} ${schedule.id}: ${schedule.description}`.slice(0, 512),
        targets: [new LambdaFunction(target.alias, { retryAttempts: 2 })],
      });
    }
    const subscriptions: Record<string, { readonly rule: Rule; readonly queue: IQueue }> = {};
    const subscriptionDeadLetterQueues: Record<string, IQueue> = {};
    for (const subscription of props.pillar.subscriptions ?? []) {
      const target = functions[subscription.function];
      if (!target)
        throw new Error(`Subscription '${subscription.id}': no function '${subscription.function}'`);
      // A rule on Conductor's bus: the events of the listed types, to the function (retries, a DLQ).
      const { rule, queue } = deliverEvents(this, {
        ruleId: `${pascal(subscription.id)}Subscription`,
        description: `Conductor ${props.stage} ${subscription.id}: ${subscription.events.join(', ')} to ${subscription.function}: ${subscription.description}`,
        eventPattern: { source: [EVENT_SOURCE], detailType: [...subscription.events] },
        eventBus: props.stateful.eventBus,
        target,
        removalPolicy: props.removalPolicy,
        what: `the ${subscription.id} subscription (${subscription.events.join(', ')})`,
      });
      subscriptionDeadLetterQueues[subscription.id] = queue;
      subscriptions[subscription.id] = { rule, queue };
    }
    this.subscriptions = subscriptions;
    this.observability = new PillarObservability(this, 'Observability', {
      subscriptionDeadLetterQueues,
      stage: props.stage,
      pillar: props.pillar,
      api: props.api,
      httpStage: props.httpStage,
      functions,
      workflows,
      stateful: props.stateful,
    });
  }

  private addFunction(spec: FunctionSpec): ServiceFunction {
    const { stateful, policyLayer } = this.#props;
    const environment: Record<string, string> = {};
    const tables = tablesOfFunction(spec).map((id) => ({
      spec: stateful.tableSpec(id),
      table: stateful.table(id),
    }));
    for (const { spec: table, table: resource } of tables) environment[table.envVar] = resource.tableName;
    for (const read of spec.recordReads ?? [])
      environment[stateful.tableSpec(read.table).envVar] = stateful.table(read.table).tableName;
    if (spec.dataSubjectRequests) {
      for (const table of searchedPersonalTables(stateful.tableSpecs))
        environment[table.envVar] = stateful.table(table.id).tableName;
    }
    if (spec.hashesSubjects) environment[DSR_SUBJECT_KEY_ENV] = stateful.dsrSubjectKey.keyArn;
    const enforces = enforcesPolicies(spec);
    const sends = stateful.queueSpecs.filter((queue) => producesTo(queue, spec));
    const consumes = stateful.queueSpecs.filter((queue) => queue.consumer === spec.name);
    for (const queue of sends) environment[queue.envVar] = stateful.queue(queue.id).queueUrl;
    if ((spec.evidence ?? []).length > 0 || (spec.evidenceReads ?? []).length > 0)
      environment.EVIDENCE_BUCKET_NAME = stateful.evidenceBucket.bucketName;
    if ((spec.artifacts ?? []).length > 0)
      environment.ARTIFACTS_BUCKET_NAME = stateful.artifactsBucket.bucketName;
    if (enforces) {
      environment.POLICY_ENGINE = policyLayer.engine;
      environment.POLICY_DIR = LAYER_POLICY_DIRS[policyLayer.engine];
      // The user pool the app creates requires MFA at every sign-in: its tokens are stepped up, even
      // where Cognito does not yet put `amr` into them. Another issuer must say so in amr or acr.
      if (this.#props.issuerEnforcesMfa) environment.CONDUCTOR_ISSUER_ENFORCES_MFA = 'true';
      const acr = this.#props.stepUpAcr ?? [];
      if (acr.length > 0) environment.CONDUCTOR_STEP_UP_ACR = acr.join(',');
    }
    const publishes = enforces || spec.publishesEvents === true;
    if (publishes) environment.EVENT_BUS_NAME = stateful.eventBus.eventBusName;
    if (spec.deadLetterAccess) {
      environment[DEAD_LETTER_QUEUES_ENV] = this.deadLetterQueueRefs(stateful.queueSpecs);
    }
    if (consumes.length > 0) environment[CONSUMED_QUEUES_ENV] = this.deadLetterQueueRefs(consumes);
    if (spec.runbookSigningKey === 'verify') {
      // By its named export, as the grant names it: one export of the ARN, read the same every synth.
      environment[RUNBOOK_SIGNING_KEY_ENV] = Fn.importValue(stateful.runbookSigningKeyArnExportName);
    }
    if (receivesRunbookAllowLists(spec)) {
      // Always set, empty included: on AWS an empty list means that no step of that type may run.
      const lists = this.#props.runbookAllowLists ?? NO_RUNBOOK_ALLOW_LISTS;
      environment[RUNBOOK_ALLOWED_LAMBDAS_ENV] = lists.lambdas.join(',');
      environment[RUNBOOK_ALLOWED_AWS_APIS_ENV] = lists.awsApis.join(',');
    }
    Object.assign(environment, this.#props.functionEnvironment?.[spec.name]);

    const fn = new ServiceFunction(this, pascal(spec.name), {
      entry: spec.entry,
      serviceName: spec.name,
      description: `Conductor ${spec.name}: ${spec.description}`.slice(0, 256),
      stage: this.#props.stage,
      environment,
      logRemovalPolicy: this.#props.removalPolicy,
      ...(this.#props.telemetry ? { telemetry: this.#props.telemetry } : {}),
      ...(enforces ? { layers: [policyLayer.layer] } : {}),
      ...(spec.timeoutSeconds === undefined ? {} : { timeout: Duration.seconds(spec.timeoutSeconds) }),
      ...(this.#props.functionFiles?.[spec.name] ? { extraFiles: this.#props.functionFiles[spec.name] } : {}),
    });
    const keys = new KeyUses();
    this.grantTables(fn, spec, keys);
    if (publishes) stateful.eventBus.grantPutEventsTo(fn);
    for (const queue of sends) grantQueue(fn, stateful.queue(queue.id), QUEUE_SEND_ACTIONS, keys);
    for (const queue of consumes) {
      this.addQueueConsumer(fn, queue, keys);
      // Its own DLQ only: a record failing its last delivery goes there with its error (the kernel's
      // SqsLastAttemptDeadLetters). No other right on the DLQ, and no other DLQ.
      grantQueue(fn, this.deadLetterQueueOf(queue.id), QUEUE_SEND_ACTIONS, keys);
    }
    if (spec.deadLetterAccess) this.grantDeadLetterAccess(fn, keys);
    if (spec.complianceCollector) this.addComplianceCollector(fn);
    if (spec.dataSubjectRequests) this.grantDataSubjectRequests(fn, spec, keys);
    if (spec.hashesSubjects) stateful.grantDsrSubjectHash(fn);
    keys.grant(fn, Stack.of(this).region);
    // The public key only (GetPublicKey, DescribeKey), on that one key: signing stays with people and CI.
    if (spec.runbookSigningKey === 'verify') stateful.grantRunbookVerify(fn);
    for (const prefix of spec.evidence ?? []) {
      stateful.grantEvidenceWriteOnce(fn, prefix);
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${stateful.evidenceBucketArnExportName}/${prefix}*]`,
        reason: `The function writes (put-once) and reads evidence objects under ${prefix} only: s3:PutObject and s3:GetObject on that prefix of the Object Lock bucket, whose keys it derives itself.`,
      });
    }
    for (const prefix of spec.evidenceReads ?? []) {
      stateful.grantEvidenceRead(fn, prefix);
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${stateful.evidenceBucketArnExportName}/${prefix}*]`,
        reason: `The function reads (s3:GetObject only) the evidence objects under ${prefix}, another pillar's WORM records whose keys its checks derive from the events they saw.`,
      });
    }
    for (const prefix of spec.artifacts ?? []) {
      stateful.grantArtifactsWriteOnce(fn, prefix);
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${stateful.artifactsBucketArnExportName}/${prefix}*]`,
        reason: `The function writes (put-once) and reads artifacts under ${prefix} only: s3:PutObject and s3:GetObject on that prefix of the artifacts bucket, whose keys it derives itself.`,
      });
    }
    this.addRoutes(spec, fn);
    return fn;
  }

  /**
   * A compliance collector (`complianceCollector`): what it tests, by name, in
   * COMPLIANCE_RESOURCES_ENV, and read-only describe rights on exactly those resources. The log
   * groups of the deployment are found by prefix (CloudFormation names them after their stack:
   * `Conductor-<stage>-`), and DescribeLogGroups and DescribeAlarms are listed on the account's log
   * groups and alarms of this region (the APIs take no narrower resource for a listing).
   */
  private addComplianceCollector(fn: ServiceFunction): void {
    const { stateful, stage, api } = this.#props;
    const stack = Stack.of(this);
    const tables = stateful.tableSpecs.map((spec) => stateful.table(spec.id));
    const buckets = [stateful.evidenceBucket, stateful.artifactsBucket];
    // The runbook signing key by its named export, as its verifiers read it (one export of the ARN).
    const keyArns = [
      stateful.dataKey.keyArn,
      stateful.evidenceKey.keyArn,
      Fn.importValue(stateful.runbookSigningKeyArnExportName),
    ];
    const dlqs = stateful.queueSpecs.map((spec) => ({ queue: this.deadLetterQueueOf(spec.id) }));
    fn.function.addEnvironment(
      COMPLIANCE_RESOURCES_ENV,
      stack.toJsonString({
        production: isProductionStage(stage),
        evidenceBucket: stateful.evidenceBucket.bucketName,
        buckets: buckets.map((bucket) => bucket.bucketName),
        keyArns,
        tables: tables.map((table) => table.tableName),
        logGroupPrefixes: [`Conductor-${stage}-`],
        apiId: api.apiId,
        publicRouteKeys: [...(this.#props.publicRouteKeys ?? [])],
        deadLetterQueues: dlqs.map(({ queue }) => ({ name: queue.queueName, url: queue.queueUrl })),
      }),
    );
    const statements = [
      new PolicyStatement({
        actions: [...COMPLIANCE_COLLECTOR_ACTIONS.s3],
        resources: buckets.map((bucket) => bucket.bucketArn),
      }),
      new PolicyStatement({
        actions: [...COMPLIANCE_COLLECTOR_ACTIONS.kms],
        resources: keyArns,
      }),
      new PolicyStatement({
        actions: [
          'dynamodb:DescribeTable',
          'dynamodb:DescribeTimeToLive',
          'dynamodb:DescribeContinuousBackups',
        ],
        resources: tables.map((table) => table.tableArn),
      }),
      new PolicyStatement({
        actions: [...COMPLIANCE_COLLECTOR_ACTIONS.apigateway],
        resources: [`arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::/apis/${api.apiId}/routes`],
      }),
      new PolicyStatement({
        actions: [...COMPLIANCE_COLLECTOR_ACTIONS.sqs],
        resources: dlqs.map(({ queue }) => queue.queueArn),
      }),
      new PolicyStatement({
        actions: [...COMPLIANCE_COLLECTOR_ACTIONS.logs],
        resources: [`arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*`],
      }),
      new PolicyStatement({
        actions: [...COMPLIANCE_COLLECTOR_ACTIONS.cloudwatch],
        resources: [`arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*`],
      }),
    ];
    for (const statement of statements) fn.grantPrincipal.addToPrincipalPolicy(statement);
    Validations.of(fn.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*]',
      reason:
        'The compliance collector lists the log groups of the deployment by name prefix (DescribeLogGroups takes the log-group ARN pattern of a listing, not one group) and reads their retention: read-only.',
    });
    Validations.of(fn.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*]',
      reason:
        "The compliance collector lists the alarms on the dead-letter queues (DescribeAlarms is a listing of the region's alarms) to check each DLQ has an enabled, notifying alarm: read-only.",
    });
  }

  /**
   * A function that answers data subject requests (`dataSubjectRequests`): on each table declaring
   * searched `personalData`, Query on the searched entities' partitions, PutItem on those an erasure
   * redacts and DeleteItem on those it deletes, each fenced by `dynamodb:LeadingKeys` (`T#*#<ENTITY>`).
   */
  private grantDataSubjectRequests(fn: ServiceFunction, spec: FunctionSpec, keys: KeyUses): void {
    const { stateful } = this.#props;
    // Its own tables it reads and writes already. One statement per action over every table (the
    // role's policy stays under IAM's size limit): the entity patterns are distinct across the
    // catalog, so a pattern of one table matches no partition of another.
    const own = new Set(tablesOfFunction(spec));
    const tables = searchedPersonalTables(stateful.tableSpecs).filter((t) => !own.has(t.id));
    const entries = tables.flatMap((table) =>
      (table.personalData ?? [])
        .filter((entry) => entry.notSearched === undefined)
        .map((entry) => ({ ...entry, table: table.id })),
    );
    for (const [action, chosen] of [
      ['dynamodb:Query', entries],
      ['dynamodb:PutItem', entries.filter((entry) => entry.onErasure === 'redact')],
      ['dynamodb:DeleteItem', entries.filter((entry) => entry.onErasure === 'delete')],
    ] as const) {
      if (chosen.length === 0) continue;
      fn.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({
          actions: [action],
          resources: [...new Set(chosen.map((entry) => entry.table))].map(
            (id) => stateful.table(id).tableArn,
          ),
          conditions: {
            'ForAllValues:StringLike': {
              'dynamodb:LeadingKeys': chosen.map((entry) => leadingKeysOf(entry.entity)),
            },
          },
        }),
      );
    }
    for (const table of tables) keys.add(stateful.table(table.id).encryptionKey, 'dynamodb', true);
  }

  /**
   * The step role of a function that runs runbook steps (`runbookStepRole`): assumable by that
   * function's role only, its policy exactly the deployment's allow-lists (`lambda:InvokeFunction` on
   * the listed functions of this account and region; the listed IAM actions on `*`, which those
   * actions' resources cannot be known for), no policy at all when both are empty. The function gets
   * its ARN (RUNBOOK_STEP_ROLE_ENV) and `sts:AssumeRole` on it, nothing else of STS: each step
   * assumes it with a session policy narrowing it to that step's action, named after the execution
   * and the step (no session tags, so no `sts:TagSession`).
   */
  private addStepRole(fn: ServiceFunction, spec: FunctionSpec): Role {
    const lists = this.#props.runbookAllowLists ?? NO_RUNBOOK_ALLOW_LISTS;
    const role = new Role(this, `${pascal(spec.name)}StepRole`, {
      // The function's role, by ARN: no other principal of the account may assume it.
      assumedBy: fn.role,
      description: `Conductor ${this.#props.stage} ${spec.name}: what runbook steps may call (the deployment's allow-lists), assumed per step with a narrower session policy`,
      maxSessionDuration: Duration.hours(1),
    });
    if (lists.lambdas.length > 0) {
      role.addToPolicy(
        new PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: lists.lambdas.map(
            (name) => `arn:${Aws.PARTITION}:lambda:${Aws.REGION}:${Aws.ACCOUNT_ID}:function:${name}`,
          ),
        }),
      );
    }
    if (lists.awsApis.length > 0) {
      role.addToPolicy(new PolicyStatement({ actions: [...lists.awsApis], resources: ['*'] }));
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: `The deployment's allow-list of AWS API actions runbook steps may call (runbookAllowedAwsApis: ${lists.awsApis.join(', ')}), each named, no wildcard action; a step's resource is the runbook's, unknown here. Every step assumes this role with a session policy allowing its one action only.`,
      });
    }
    fn.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['sts:AssumeRole'], resources: [role.roleArn] }),
    );
    fn.function.addEnvironment(RUNBOOK_STEP_ROLE_ENV, role.roleArn);
    return role;
  }

  /**
   * The function's DynamoDB rights, with explicit actions on each table's ARN (its tables have no
   * index): the tables its manifest names, with TABLE_READ_ACTIONS and TABLE_WRITE_ACTIONS; and,
   * when it enforces policies, the policy table as far as the kernel needs it
   * (KERNEL_POLICY_TABLE_ACCESS, each action fenced to its entity's partitions). A function naming
   * the policy table (the authorize pillar's) gets both. Records the tables' key use in `keys`.
   */
  private grantTables(fn: ServiceFunction, spec: FunctionSpec, keys: KeyUses): void {
    const { stateful } = this.#props;
    for (const id of spec.tables ?? []) {
      const table = stateful.table(id);
      fn.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({
          actions: [...TABLE_READ_ACTIONS, ...TABLE_WRITE_ACTIONS],
          resources: [table.tableArn],
        }),
      );
      keys.add(table.encryptionKey, 'dynamodb', true);
    }
    for (const read of spec.recordReads ?? []) {
      // The manifest's record reads: Query on the partitions of one entity only.
      const table = stateful.table(read.table);
      fn.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ['dynamodb:Query'],
          resources: [table.tableArn],
          conditions: {
            'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [leadingKeysOf(read.entity)] },
          },
        }),
      );
      keys.add(table.encryptionKey, 'dynamodb', false);
    }
    for (const counter of spec.counters ?? []) {
      // The manifest's counters: UpdateItem (ADD) on the partitions of one entity only.
      fn.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ['dynamodb:UpdateItem'],
          resources: [stateful.table(counter.table).tableArn],
          conditions: {
            'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [leadingKeysOf(counter.entity)] },
          },
        }),
      );
    }
    if (!enforcesPolicies(spec)) return;
    const policyTable = stateful.table(POLICY_TABLE_ID);
    for (const access of KERNEL_POLICY_TABLE_ACCESS) {
      fn.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({
          actions: [access.action],
          resources: [policyTable.tableArn],
          conditions: {
            'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [leadingKeysOf(access.entity)] },
          },
        }),
      );
    }
    keys.add(policyTable.encryptionKey, 'dynamodb', true);
  }

  /** Queues of the catalog with their DLQs, as JSON (`DeadLetterQueueRef` by queue id). */
  private deadLetterQueueRefs(specs: readonly QueueSpec[]): string {
    const { stateful } = this.#props;
    const refs: Record<string, DeadLetterQueueRef> = {};
    for (const spec of specs) {
      const queue = stateful.queue(spec.id);
      const dlq = this.deadLetterQueueOf(spec.id);
      refs[spec.id] = {
        queueUrl: queue.queueUrl,
        queueArn: queue.queueArn,
        dlqUrl: dlq.queueUrl,
        dlqArn: dlq.queueArn,
        maxReceiveCount: spec.maxReceiveCount,
      };
    }
    return Stack.of(this).toJsonString(refs);
  }

  private deadLetterQueueOf(id: string) {
    const dlq = this.#props.stateful.deadLetterQueues[id];
    if (!dlq) throw new Error(`Queue '${id}' has no dead-letter queue in the stateful stack`);
    return dlq;
  }

  /**
   * What inspecting and redriving dead letters takes, and no more: on every DLQ, receive, delete and
   * change visibility (peek, redrive one, discard) and the message move task actions (redrive all,
   * SQS's own redrive, which also needs receive/delete/attributes on the source); on every queue,
   * send (the destination of a redrive). Each statement names the queues' ARNs.
   */
  private grantDeadLetterAccess(fn: ServiceFunction, keys: KeyUses): void {
    const { stateful } = this.#props;
    for (const spec of stateful.queueSpecs) {
      grantQueue(
        fn,
        this.deadLetterQueueOf(spec.id),
        [...QUEUE_CONSUME_ACTIONS, ...QUEUE_MOVE_ACTIONS],
        keys,
      );
      grantQueue(fn, stateful.queue(spec.id), QUEUE_SEND_ACTIONS, keys);
    }
  }

  private addRoutes(spec: FunctionSpec, fn: ServiceFunction): void {
    const { api, authorizer } = this.#props;
    if ((spec.routes ?? []).length === 0 && !spec.servesDefaultRoute) return;
    const integration = new HttpLambdaIntegration(`${pascal(spec.name)}Integration`, fn.alias);
    for (const route of spec.routes ?? []) {
      const resource = new HttpRoute(this, `${pascal(spec.name)}${pascal(route.operationId)}Route`, {
        httpApi: api,
        routeKey: HttpRouteKey.with(`${API_BASE}${route.path}`, HttpMethod[route.method]),
        integration,
        authorizer: route.auth === 'jwt' ? authorizer : new HttpNoneAuthorizer(),
      });
      if (route.auth === 'public') {
        Validations.of(resource).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason: `${routeKeyOf(route)} is public by design (${route.summary}); it returns no tenant data.`,
        });
      }
    }
    if (spec.servesDefaultRoute) {
      const route = new HttpRoute(this, 'DefaultRoute', {
        httpApi: api,
        routeKey: HttpRouteKey.DEFAULT,
        integration,
        authorizer: new HttpNoneAuthorizer(),
      });
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'The $default route only answers the uniform 404/405 error for requests that match no route, so unknown paths get the same error body as everything else; it reads no data.',
      });
    }
  }

  /**
   * The Lambda event source mapping of a queue (the stand-in for KEDA): batches of `batchSize`
   * gathered for up to `maxBatchingWindowSeconds` when the spec has one, at most
   * `maximumConcurrency` concurrent invocations, and partial batch failures reported by the
   * handler, so only the failed messages come back (and reach the DLQ after maxReceiveCount).
   * Built as SqsEventSource builds it (same construct id, so the same logical id), but granted here:
   * SqsEventSource would grant the queue key's `kms:Decrypt` without `kms:ViaService`.
   */
  private addQueueConsumer(fn: ServiceFunction, spec: QueueSpec, keys: KeyUses): void {
    if (spec.visibilityTimeoutSeconds < fn.timeout.toSeconds()) {
      throw new Error(
        `Queue '${spec.id}': visibilityTimeoutSeconds ${spec.visibilityTimeoutSeconds} is shorter than the timeout of its consumer '${spec.consumer}' (${fn.timeout.toSeconds()} s)`,
      );
    }
    const maxBatchSize = spec.maxBatchingWindowSeconds === undefined ? 10 : 10_000;
    if (!Number.isInteger(spec.batchSize) || spec.batchSize < 1 || spec.batchSize > maxBatchSize) {
      throw new Error(
        `Queue '${spec.id}': batchSize ${spec.batchSize} must be 1-${maxBatchSize} ${spec.maxBatchingWindowSeconds === undefined ? 'without' : 'with'} maxBatchingWindowSeconds`,
      );
    }
    if (spec.maxBatchingWindowSeconds !== undefined && spec.maxBatchingWindowSeconds > 300) {
      throw new Error(
        `Queue '${spec.id}': maxBatchingWindowSeconds ${spec.maxBatchingWindowSeconds} must be 300 or less`,
      );
    }
    const queue = this.#props.stateful.queue(spec.id);
    fn.alias.addEventSourceMapping(`SqsEventSource:${Names.nodeUniqueId(queue.node)}`, {
      eventSourceArn: queue.queueArn,
      batchSize: spec.batchSize,
      ...(spec.maxBatchingWindowSeconds === undefined
        ? {}
        : { maxBatchingWindow: Duration.seconds(spec.maxBatchingWindowSeconds) }),
      maxConcurrency: spec.maximumConcurrency,
      reportBatchItemFailures: true,
    });
    grantQueue(fn, queue, QUEUE_CONSUME_ACTIONS, keys);
  }
}

/**
 * `actions` on one queue (its ARN, no key rights: `IQueue.grant`), and the use of its key through
 * SQS in `keys`: sending needs a data key, receiving only decrypts.
 */
const grantQueue = (fn: ServiceFunction, queue: IQueue, actions: readonly string[], keys: KeyUses): void => {
  queue.grant(fn, ...actions);
  keys.add(queue.encryptionMasterKey, 'sqs', actions.includes('sqs:SendMessage'));
};
