import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, type IAlarm, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import {
  type ILambdaDeploymentConfig,
  LambdaApplication,
  LambdaDeploymentConfig,
  LambdaDeploymentGroup,
} from 'aws-cdk-lib/aws-codedeploy';
import {
  type IGrantable,
  type IPrincipal,
  ManagedPolicy,
  PolicyStatement,
  Role,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import {
  Alias,
  ApplicationLogLevel,
  Architecture,
  type CfnFunction,
  type ILayerVersion,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
} from 'aws-cdk-lib/aws-lambda';
import { type ICommandHooks, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { type ILogGroup, LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { DEFAULT_FUNCTION_MEMORY_MB } from '#shared/pillar.js';

/** The repository root: bundling starts here so esbuild sees package.json ("imports": `#shared/*`). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The version of the root package.json, stamped into every function as CONDUCTOR_VERSION. */
export const packageVersion = (root: string = REPO_ROOT): string => {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof manifest.version !== 'string' || manifest.version === '') {
    throw new Error(`${join(root, 'package.json')} has no "version"; CONDUCTOR_VERSION needs one`);
  }
  return manifest.version;
};

/**
 * esbuild writes an ES module, but some dependencies are CommonJS and call `require`. ESM has no
 * `require`, so the bundle gets one from `createRequire` (aliased so it cannot clash with a
 * bundled `createRequire`).
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __conductorCreateRequire } from 'node:module'; const require = __conductorCreateRequire(import.meta.url);";

/**
 * The AWS SDK v3 packages Conductor's functions import. Unless `bundleAwsSdk`, each comes from the
 * Lambda runtime's SDK and is loaded with `require`, through a one-line CommonJS file in
 * `runtime-sdk/` that esbuild substitutes for the package (its `alias` option), not with an ES
 * `import`: Node's ES module loader runs its CommonJS export detection and format checks on the SDK's
 * files when they are imported, which cost about 25 ms of every cold start of the router and the
 * reward consumer here (docs/benchmarks.md). `require` also resolves through NODE_PATH, where the
 * runtime keeps its SDK, as Cedar's layer is found. A package missing from this list still works,
 * as an ES import; a test keeps the list complete.
 */
export const RUNTIME_SDK_PACKAGES = [
  '@aws-sdk/client-dynamodb',
  '@aws-sdk/lib-dynamodb',
  '@aws-sdk/client-eventbridge',
  '@aws-sdk/client-sqs',
  '@aws-sdk/client-s3',
  '@aws-sdk/client-kms',
  '@aws-sdk/client-sfn',
  '@aws-sdk/client-sts',
  '@aws-sdk/client-lambda',
  '@aws-sdk/client-apigatewayv2',
  '@aws-sdk/client-cloudwatch',
  '@aws-sdk/client-cloudwatch-logs',
] as const;

/** esbuild `alias` entries: each runtime SDK package -> its `require` shim (absolute paths). */
export const runtimeSdkAliases = (): Record<string, string> =>
  Object.fromEntries(
    RUNTIME_SDK_PACKAGES.map((pkg) => [
      pkg,
      fileURLToPath(new URL(`./runtime-sdk/${pkg.slice('@aws-sdk/'.length)}.cjs`, import.meta.url)),
    ]),
  );

/**
 * NODE_OPTIONS of every function. Source maps make stack traces readable. One V8 worker thread
 * instead of Node's default four: a Lambda instance serves one request at a time with a fraction of
 * a vCPU (512 MB is under a third of one), and at cold start the extra threads' concurrent
 * compilation (Cedar's 4 MB of wasm above all) competed with the main thread for the same CPU; with
 * one, the router's and the authorizer's cold import drop by about 50 ms here (docs/benchmarks.md).
 */
export const LAMBDA_NODE_OPTIONS = '--enable-source-maps --v8-pool-size=1';

export type PowertoolsLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/**
 * What every function reports besides its own logs and metrics: what a deployment trades for its
 * CloudWatch and X-Ray bill (docs/deploy.md, "What a month costs").
 */
export interface FunctionTelemetry {
  /**
   * `active`: Lambda samples requests itself, at X-Ray's fixed rule for Lambda (1 a second and 5 %
   * of the rest; not configurable by sampling rules): about $0.28 per million requests at 150 a
   * second. `pass-through`: a function traces only a request whose caller sampled it (an SQS message
   * or an event from a traced sender); the HTTP API starts no trace, so API requests are not traced.
   *
   * @default 'active'
   */
  readonly tracing?: 'active' | 'pass-through';
  /**
   * Lambda's own lines per invocation (START, END, REPORT: about 270 bytes, $0.13 per million
   * invocations at $0.50 per GB). `WARN` drops them: the functions log in Lambda's JSON format with
   * the system log level WARN (errors and timeouts are still written; Duration and the other Lambda
   * metrics are unchanged; the memory a request used is no longer in the log).
   *
   * @default 'INFO'
   */
  readonly platformLogLevel?: 'INFO' | 'WARN';
}

/**
 * The alias through which everything must invoke a function (API routes, event source mappings,
 * schedules): CodeDeploy moves it from version to version, so a caller that names the function
 * itself ($LATEST) would take every new version at once and bypass the gradual deployment.
 */
export const LIVE_ALIAS = 'live';

/**
 * How the `live` alias moves to a new version: 10 % of the invocations for 5 minutes, then all of
 * them, unless a rollback alarm fires first (CodeDeploy then points the alias back and the
 * CloudFormation update fails and rolls back). Canary rather than linear: what breaks a new Lambda
 * version (a bad bundle, a missing variable or grant, a layer mismatch) fails its first invocations,
 * so one 5-minute window at 10 % catches it while most traffic stays on the old version, and a
 * deploy waits ~6 minutes instead of the 10 of Linear10PercentEvery1Minute (CloudFormation waits
 * for every function's deployment, in parallel). Load-dependent regressions, which a linear ramp
 * would surface gradually, are bounded by reserved concurrency and the queues' maximum concurrency.
 */
export const DEFAULT_DEPLOYMENT_CONFIG: ILambdaDeploymentConfig =
  LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES;

/** CodeDeploy evaluates at most ten alarms per deployment group. */
const MAX_ROLLBACK_ALARMS = 10;

export interface ServiceFunctionProps {
  /**
   * Handler module exporting `handler`. A relative path resolves against `projectRoot`.
   */
  readonly entry: string;
  /** Service name for Powertools (POWERTOOLS_SERVICE_NAME), e.g. `router`. */
  readonly serviceName: string;
  /** Deployment stage, passed as CONDUCTOR_STAGE. */
  readonly stage: string;
  /**
   * Description of the Lambda function.
   *
   * @default - `Conductor <serviceName>`
   */
  readonly description?: string;
  /**
   * Extra environment variables (table names, queue URLs, ...). They cannot override the
   * variables this construct owns.
   *
   * @default - none
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Memory in MB; on Lambda, CPU scales with it.
   *
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Function timeout. API Gateway HTTP APIs give up after 30 seconds anyway.
   *
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * How long the function's log group keeps log events.
   *
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the log group when the function leaves the stack.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Powertools log level (POWERTOOLS_LOG_LEVEL).
   *
   * @default 'INFO'
   */
  readonly logLevel?: PowertoolsLogLevel;
  /**
   * Tracing and Lambda's own log lines.
   *
   * @default - active tracing, Lambda's START, END and REPORT lines
   */
  readonly telemetry?: FunctionTelemetry;
  /**
   * Version reported by the function (CONDUCTOR_VERSION).
   *
   * @default - the version of `projectRoot`'s package.json
   */
  readonly version?: string;
  /**
   * Root of the project: holds package.json (with the `#shared/*` import alias) and package-lock.json.
   *
   * @default REPO_ROOT
   */
  readonly projectRoot?: string;
  /**
   * Lambda layers to attach (the policy layer for functions that enforce policies).
   *
   * @default - none
   */
  readonly layers?: readonly ILayerVersion[];
  /**
   * Bundle the pinned AWS SDK v3 into the function instead of using the one the Node.js Lambda
   * runtime provides. Bundling makes the function run the exact SDK versions the tests ran
   * against, at the price of ~350 KB more code per function (and a slower cold start).
   *
   * @default false - the runtime's AWS SDK v3 (`@aws-sdk/*`, `@smithy/*`) is used
   */
  readonly bundleAwsSdk?: boolean;
  /**
   * How CodeDeploy shifts the `live` alias to a new version.
   *
   * @default DEFAULT_DEPLOYMENT_CONFIG - canary: 10 % for 5 minutes, then 100 %
   */
  readonly deploymentConfig?: ILambdaDeploymentConfig;
  /**
   * Concurrent executions reserved for the function, which are also its ceiling. Settable later with
   * `reserveConcurrency` (ConductorApiStack sizes every function from its manifest).
   *
   * @default - none: the function draws on the account's unreserved pool
   */
  readonly reservedConcurrency?: number;
  /**
   * Folders copied into the bundle after esbuild (`to`: a folder name beside index.mjs, read at
   * `/var/task/<to>`), e.g. a deployment's custom compliance catalog. The asset's hash covers them.
   *
   * @default - none
   */
  readonly extraFiles?: readonly { readonly from: string; readonly to: string }[];
}

/** Shell commands that copy each folder into the bundle's output after esbuild (local bundling). */
const copyAfterBundling = (
  files: readonly { readonly from: string; readonly to: string }[],
): ICommandHooks => {
  for (const file of files) {
    if (!/^[a-z][a-z0-9-]*$/.test(file.to))
      throw new Error(`extraFiles: '${file.to}' must be one lower-case folder name`);
    if (!existsSync(file.from)) throw new Error(`extraFiles: ${file.from} does not exist`);
  }
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir: string, outputDir: string) =>
      files.map(
        (file) => `cp -R ${JSON.stringify(resolve(file.from))} ${JSON.stringify(join(outputDir, file.to))}`,
      ),
  };
};

/**
 * The house Node.js Lambda: Node.js 22 on arm64, bundled by the local esbuild into a minified ES
 * module with source maps, X-Ray tracing, its own log group with retention, and the Powertools and
 * Conductor environment every handler expects. Its role starts with nothing but the right to
 * write to its own log group; callers add least-privilege grants through `grantPrincipal`.
 *
 * Safe deploys: every configuration or code change publishes a version, and the `live` alias
 * (`alias`, what callers must invoke) moves to it through a CodeDeploy deployment group
 * (`deploymentGroup`, canary by default) that rolls back when a rollback alarm fires: built in, the
 * new version's errors through the alias (`deployErrorsAlarm`); more with `addRollbackAlarm`.
 */
export class ServiceFunction extends Construct implements IGrantable {
  readonly function: NodejsFunction;
  readonly logGroup: ILogGroup;
  readonly role: Role;
  readonly grantPrincipal: IPrincipal;
  /** The function timeout: a queue it consumes must keep messages invisible at least this long. */
  readonly timeout: Duration;
  /** `live`: the alias API routes, event source mappings and schedules must invoke. */
  readonly alias: Alias;
  /** Moves `alias` to each new version gradually and rolls it back on a rollback alarm. */
  readonly deploymentGroup: LambdaDeploymentGroup;
  /** The role CodeDeploy acts with: this alias and the rollback alarms, nothing else. */
  readonly deploymentRole: Role;
  /**
   * Errors of the newest version invoked through `live` (Sum >= 1 in a minute): the built-in
   * rollback alarm. It has no action; the function's own alarms notify people.
   */
  readonly deployErrorsAlarm: Alarm;
  #rollbackAlarms = 0;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    const projectRoot = props.projectRoot ?? REPO_ROOT;
    const entry = isAbsolute(props.entry) ? props.entry : resolve(projectRoot, props.entry);
    const memorySize = props.memorySize ?? DEFAULT_FUNCTION_MEMORY_MB;
    if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10_240) {
      throw new Error(
        `ServiceFunction ${props.serviceName}: memorySize must be 128-10240 MB, got ${memorySize}`,
      );
    }

    this.timeout = props.timeout ?? Duration.seconds(10);

    const logGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.logGroup = logGroup;

    // An own role instead of the generated one: it can write to this log group only, where the
    // AWSLambdaBasicExecutionRole managed policy would allow every log group of the account.
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Conductor ${props.stage} ${props.serviceName} function`,
    });
    logGroup.grantWrite(role);
    // X-Ray's write actions support no resource-level permission: one policy of the stack holds
    // them for every function (one acknowledgement), attached before the function is created
    // (Lambda refuses active tracing to a role that cannot write traces).
    role.addManagedPolicy(tracingPolicyOf(this));
    this.role = role;
    this.grantPrincipal = role;

    this.function = new NodejsFunction(this, 'Function', {
      entry,
      handler: 'handler',
      description: props.description ?? `Conductor ${props.serviceName}`,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize,
      timeout: this.timeout,
      role,
      logGroup,
      ...(props.telemetry?.platformLogLevel === 'WARN'
        ? {
            loggingFormat: LoggingFormat.JSON,
            systemLogLevelV2: SystemLogLevel.WARN,
            // Lambda would filter the application's JSON lines by this level too: the function's own.
            applicationLogLevelV2: ApplicationLogLevel[props.logLevel ?? 'INFO'],
          }
        : {}),
      layers: props.layers ? [...props.layers] : [],
      projectRoot,
      depsLockFilePath: join(projectRoot, 'package-lock.json'),
      environment: {
        ...props.environment,
        NODE_OPTIONS: LAMBDA_NODE_OPTIONS,
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: 'Conductor',
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
        CONDUCTOR_STAGE: props.stage,
        CONDUCTOR_VERSION: props.version ?? packageVersion(projectRoot),
        // Outbound calls to private networks are refused on AWS (SSRF guard); only local runs open them.
        CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS: 'false',
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // The Cedar and OPA engines come from the policy layer (loaded with require at init). The AWS
        // SDK v3 clients come from the Lambda runtime unless bundleAwsSdk: they are most of a bundle's
        // size (docs/benchmarks.md), and Conductor uses only long-stable operations of them. The
        // Smithy packages code imports itself (the runbook executor signs its aws-api calls with
        // @smithy/signature-v4) are bundled: the runtime's SDK clients come through require shims,
        // which pull no Smithy package into a bundle, and an ES import of one would find nothing on
        // Lambda (ES modules ignore NODE_PATH).
        externalModules: [
          '@cedar-policy/cedar-wasm',
          '@open-policy-agent/opa-wasm',
          ...(props.bundleAwsSdk ? [] : ['@aws-sdk/*']),
        ],
        ...(props.extraFiles && props.extraFiles.length > 0
          ? { commandHooks: copyAfterBundling(props.extraFiles) }
          : {}),
        ...(props.bundleAwsSdk
          ? {}
          : {
              esbuildArgs: {
                '--alias': Object.entries(runtimeSdkAliases()).map(([pkg, shim]) => `${pkg}=${shim}`),
              },
            }),
      },
    });

    // Active tracing set on the resource rather than through `tracing`, which would add the X-Ray
    // actions to each role's own policy (and need an acknowledgement per function).
    (this.function.node.defaultChild as CfnFunction).tracingConfig = {
      mode: props.telemetry?.tracing === 'pass-through' ? 'PassThrough' : 'Active',
    };
    if (props.reservedConcurrency !== undefined) this.reserveConcurrency(props.reservedConcurrency);

    const version = this.function.currentVersion;
    this.alias = new Alias(this, 'LiveAlias', {
      aliasName: LIVE_ALIAS,
      version,
      description: `Conductor ${props.stage} ${props.serviceName}: what callers invoke; CodeDeploy moves it`,
    });
    this.deployErrorsAlarm = new Alarm(this, 'DeployErrorsAlarm', {
      // Named like every Conductor alarm; "deploy" keeps it apart from the function's own alarms.
      alarmName: `conductor-${props.stage}-${props.serviceName}-deploy-errors`,
      alarmDescription: `Rollback guard of ${props.serviceName}'s gradual deployments: the newest version, invoked through the ${LIVE_ALIAS} alias, failed. CodeDeploy points the alias back to the previous version. No action: the function's own alarms notify people.`,
      // Only the newest version's invocations (ExecutedVersion): errors of the version being replaced
      // neither trigger a rollback nor block the deploy that fixes them.
      metric: new Metric({
        namespace: 'AWS/Lambda',
        metricName: 'Errors',
        dimensionsMap: {
          FunctionName: this.function.functionName,
          Resource: `${this.function.functionName}:${LIVE_ALIAS}`,
          ExecutedVersion: version.version,
        },
        statistic: 'Sum',
        period: Duration.minutes(1),
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    // An own role instead of the AWSCodeDeployRoleForLambdaLimited managed policy the deployment
    // group would attach (UpdateAlias and DescribeAlarms on every function and alarm of the account):
    // this alias and this function's rollback alarms only. The group gets it without policy updates,
    // so it cannot attach the managed policy.
    this.deploymentRole = new Role(this, 'DeploymentRole', {
      assumedBy: new ServicePrincipal('codedeploy.amazonaws.com'),
      description: `Conductor ${props.stage} ${props.serviceName}: CodeDeploy shifts the ${LIVE_ALIAS} alias`,
    });
    this.deploymentRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['lambda:GetAlias', 'lambda:UpdateAlias', 'lambda:GetProvisionedConcurrencyConfig'],
        // The alias ARN spelled out rather than referenced: the alias waits for this policy (below).
        resources: [this.function.functionArn, `${this.function.functionArn}:${LIVE_ALIAS}`],
      }),
    );
    this.deploymentGroup = new LambdaDeploymentGroup(this, 'Deployment', {
      application: deploymentApplicationOf(this, props.stage),
      deploymentGroupName: props.serviceName,
      alias: this.alias,
      deploymentConfig: props.deploymentConfig ?? DEFAULT_DEPLOYMENT_CONFIG,
      role: this.deploymentRole.withoutPolicyUpdates(),
      autoRollback: { failedDeployment: true, stoppedDeployment: true, deploymentInAlarm: true },
    });
    this.addRollbackAlarm(this.deployErrorsAlarm);
    // A new version reaches the alias only once the group, its role's policy and its alarms (now
    // watching that version) are in place: the alias update is what starts the deployment.
    this.alias.node.addDependency(this.deploymentGroup, this.deploymentRole);

    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is chosen deliberately: it is the Lambda runtime the code is built (esbuild target node22) and tested for; moving to a newer runtime is a tested change, not a silent default.',
    });
  }

  /**
   * Another alarm that stops a deployment and points `live` back to the previous version while it
   * is in ALARM (e.g. the function's throttles, or its routes' 5xx ratio). The deployment role may
   * read exactly these alarms. At most ten per function (CodeDeploy's limit). Metric alarms only:
   * CloudWatch describes a composite alarm only to DescribeAlarms on `*`, which this role lacks, and
   * a deployment whose alarms cannot be read stops (and rolls back).
   */
  addRollbackAlarm(alarm: IAlarm): void {
    this.#rollbackAlarms += 1;
    if (this.#rollbackAlarms > MAX_ROLLBACK_ALARMS) {
      throw new Error(
        `ServiceFunction ${this.node.path}: at most ${MAX_ROLLBACK_ALARMS} rollback alarms (CodeDeploy's limit)`,
      );
    }
    this.deploymentGroup.addAlarm(alarm);
    this.deploymentRole.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['cloudwatch:DescribeAlarms'], resources: [alarm.alarmArn] }),
    );
  }

  /**
   * Reserves `executions` concurrent executions for the function: guaranteed to it, and its ceiling.
   * Not part of the version hash, so changing it publishes no version (and starts no deployment).
   */
  reserveConcurrency(executions: number): void {
    if (!Number.isInteger(executions) || executions < 1) {
      throw new Error(
        `ServiceFunction ${this.node.path}: reserved concurrency must be a positive integer, got ${executions}`,
      );
    }
    (this.function.node.defaultChild as CfnFunction).reservedConcurrentExecutions = executions;
  }
}

/**
 * The top-level stack of `scope`: its own stack, or the parent a nested stack is deployed by. The
 * functions of a pillar's nested stack share its singletons: one tracing policy (one acknowledgement)
 * and one CodeDeploy application, whose name a second one in the nested stack would collide with.
 */
const topLevelStackOf = (scope: Construct): Stack => {
  let stack = Stack.of(scope);
  while (stack.nestedStackParent) stack = stack.nestedStackParent;
  return stack;
};

/** The X-Ray write policy of each top-level stack. */
const tracingPolicies = new WeakMap<Stack, ManagedPolicy>();

/**
 * The stack's one X-Ray write policy (`FunctionTracing`), created by its first ServiceFunction and
 * attached to every function role, those of its nested stacks included: the two actions active
 * tracing needs, which take no resource.
 */
const tracingPolicyOf = (scope: Construct): ManagedPolicy => {
  const stack = topLevelStackOf(scope);
  const known = tracingPolicies.get(stack);
  if (known) return known;
  const policy = new ManagedPolicy(stack, 'FunctionTracing', {
    description: 'Conductor functions: write X-Ray trace segments and telemetry (active tracing)',
    statements: [
      new PolicyStatement({
        actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
        resources: ['*'],
      }),
    ],
  });
  Validations.of(policy).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions; this one policy holds them for every function role and nothing else.',
  });
  tracingPolicies.set(stack, policy);
  return policy;
};

/** The CodeDeploy application of each top-level stack, and the stage it was named for. */
const deploymentApplications = new WeakMap<Stack, { stage: string; application: LambdaApplication }>();

/**
 * The stack's one CodeDeploy application (`conductor-<stage>-functions`), created by its first
 * ServiceFunction: every function's deployment group belongs to it, those of its nested stacks
 * included, so one deploy's deployments are listed together.
 */
const deploymentApplicationOf = (scope: Construct, stage: string): LambdaApplication => {
  const stack = topLevelStackOf(scope);
  const known = deploymentApplications.get(stack);
  if (known) {
    if (known.stage !== stage) {
      throw new Error(
        `${stack.node.path}: ServiceFunctions of stages ${known.stage} and ${stage} in one stack`,
      );
    }
    return known.application;
  }
  const application = new LambdaApplication(stack, 'FunctionDeployments', {
    applicationName: `conductor-${stage}-functions`,
  });
  deploymentApplications.set(stack, { stage, application });
  return application;
};
