import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { type IGrantable, type IPrincipal, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type ILayerVersion, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { type ILogGroup, LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

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
}

/**
 * The house Node.js Lambda: Node.js 22 on arm64, bundled by the local esbuild into a minified ES
 * module with source maps, X-Ray tracing, its own log group with retention, and the Powertools and
 * Conductor environment every handler expects. Its role starts with nothing but the right to
 * write to its own log group; callers add least-privilege grants through `grantPrincipal`.
 */
export class ServiceFunction extends Construct implements IGrantable {
  readonly function: NodejsFunction;
  readonly logGroup: ILogGroup;
  readonly role: Role;
  readonly grantPrincipal: IPrincipal;
  /** The function timeout: a queue it consumes must keep messages invisible at least this long. */
  readonly timeout: Duration;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    const projectRoot = props.projectRoot ?? REPO_ROOT;
    const entry = isAbsolute(props.entry) ? props.entry : resolve(projectRoot, props.entry);
    const memorySize = props.memorySize ?? 512;
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
      tracing: Tracing.ACTIVE,
      role,
      logGroup,
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
        // SDK v3 comes from the Lambda runtime unless bundleAwsSdk: it is most of a bundle's size
        // (docs/benchmarks.md), and Conductor uses only long-stable operations of it.
        externalModules: [
          '@cedar-policy/cedar-wasm',
          '@open-policy-agent/opa-wasm',
          ...(props.bundleAwsSdk ? [] : ['@aws-sdk/*', '@smithy/*']),
        ],
        ...(props.bundleAwsSdk
          ? {}
          : {
              esbuildArgs: {
                '--alias': Object.entries(runtimeSdkAliases()).map(([pkg, shim]) => `${pkg}=${shim}`),
              },
            }),
      },
    });

    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is chosen deliberately: it is the Lambda runtime the code is built (esbuild target node22) and tested for; moving to a newer runtime is a tested change, not a silent default.',
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions.',
    });
  }
}
