import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  HttpRoute,
  HttpRouteKey,
  type HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import {
  AccountRecovery,
  ClientAttributes,
  FeaturePlan,
  Mfa,
  StandardThreatProtectionMode,
  StringAttribute,
  UserPool,
  type UserPoolClient,
} from 'aws-cdk-lib/aws-cognito';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { API_BASE, type RouteSpec, routeKeyOf } from '#shared/http/http.js';
import { ROLES } from '#shared/ports/identity.js';
import { API_SETTINGS, FUNCTIONS, type FunctionEntry } from '../../../functions/meta/src/catalog.js';
import type { QueueSpec } from '../../queues.js';
import { tableSpec } from '../../tables.js';
import { pascal } from './names.js';
import { ConductorObservability, enforcesPolicies } from './observability.js';
import { LAYER_POLICY_DIRS, type PolicyEngineName, PolicyLayer } from './policy-layer.js';
import { ServiceFunction } from './service-function.js';
import type { ConductorStatefulStack } from './stateful-stack.js';

/** Any OIDC issuer in place of the default Cognito user pool. */
export interface OidcIssuerSettings {
  /** Issuer URL, exactly as the `iss` claim of its tokens (https). */
  readonly issuer: string;
  /** Accepted `aud` (or `client_id`) values; at least one. */
  readonly audience: readonly string[];
}

export interface ConductorApiStackProps extends StackProps {
  /** Deployment stage: names the API and user pool, passed to every function. */
  readonly stage: string;
  /** Tables, queues, the evidence bucket and the bus the functions are granted. */
  readonly stateful: ConductorStatefulStack;
  /**
   * Verify tokens of this OIDC issuer instead of creating a Cognito user pool.
   *
   * @default - a Cognito user pool and app client are created here
   */
  readonly oidc?: OidcIssuerSettings;
  /**
   * The function catalog to deploy: one Lambda per entry, one route per RouteSpec.
   *
   * @default FUNCTIONS from functions/meta/src/catalog.ts
   */
  readonly functions?: readonly FunctionEntry[];
  /**
   * What happens to the user pool and the log groups when they leave the stack.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Policy engine the functions run in-process.
   *
   * @default 'cedar'
   */
  readonly policyEngine?: PolicyEngineName;
  /** `acr` values that count as step-up besides an `amr` with `mfa` (CONDUCTOR_STEP_UP_ACR). */
  readonly stepUpAcr?: readonly string[];
}

/** One JSON line per request: enough to trace a call to its Lambda logs without logging any token. */
const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    requestTime: '$context.requestTime',
    sourceIp: '$context.identity.sourceIp',
    userAgent: '$context.identity.userAgent',
    routeKey: '$context.routeKey',
    path: '$context.path',
    status: '$context.status',
    protocol: '$context.protocol',
    responseLength: '$context.responseLength',
    responseLatency: '$context.responseLatency',
    integrationLatency: '$context.integration.latency',
    integrationStatus: '$context.integration.status',
    integrationError: '$context.integrationErrorMessage',
    authorizerError: '$context.authorizer.error',
    subject: '$context.authorizer.claims.sub',
  }),
);

/**
 * The public HTTP API: an HTTP API with a JWT authorizer (a Cognito user pool by default, any OIDC
 * issuer by props) and, for every function of the catalog, one Lambda and its routes. Nothing is
 * wired by hand: a new catalog entry becomes a function, its routes and its table grants; a queue of
 * infra/queues.ts becomes send grants for its producers and an event source on its consumer.
 */
export class ConductorApiStack extends Stack {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly authorizer: HttpJwtAuthorizer;
  /** The functions, keyed by catalog name. */
  readonly functions: Readonly<Record<string, ServiceFunction>>;
  /** The default user pool; undefined when an external OIDC issuer is used. */
  readonly userPool?: UserPool;
  readonly userPoolClient?: UserPoolClient;
  /** The Cedar policies and engine, attached to every function that enforces policies. */
  readonly policyLayer: PolicyLayer;
  /** Router error budget burn and policy deny spike alarms, and the pillar dashboards (DESIGN §9). */
  readonly observability: ConductorObservability;

  constructor(scope: Construct, id: string, props: ConductorApiStackProps) {
    super(scope, id, props);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const catalog = props.functions ?? FUNCTIONS;
    assertCatalog(catalog, props.stateful);

    let issuer: string;
    let audience: string[];
    if (props.oidc) {
      issuer = props.oidc.issuer;
      audience = [...props.oidc.audience];
    } else {
      const { userPool, client } = this.createUserPool(props.stage, removalPolicy);
      this.userPool = userPool;
      this.userPoolClient = client;
      issuer = userPool.userPoolProviderUrl;
      audience = [client.userPoolClientId];
      new CfnOutput(this, 'UserPoolId', { value: userPool.userPoolId, description: 'Cognito user pool' });
      new CfnOutput(this, 'UserPoolClientId', {
        value: client.userPoolClientId,
        description: 'App client id: the JWT audience',
      });
    }
    this.authorizer = new HttpJwtAuthorizer('JwtAuthorizer', issuer, {
      authorizerName: 'conductor-jwt',
      jwtAudience: audience,
    });

    this.api = new HttpApi(this, 'HttpApi', {
      apiName: `conductor-${props.stage}`,
      description: `Conductor ${props.stage} API (${API_BASE})`,
      createDefaultStage: false,
    });
    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: RetentionDays.ONE_YEAR,
      removalPolicy,
    });
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { ...API_SETTINGS.stageThrottle },
      // Route-level metrics (dimension Route): the router's SLO alarms and the per-route dashboard
      // graphs need them. CloudWatch bills them as custom metrics, about six per route.
      detailedMetricsEnabled: true,
      accessLogSettings: { destination: new LogGroupLogDestination(accessLogs), format: ACCESS_LOG_FORMAT },
    });

    // Every function with token-bearing routes enforces policies in-process: it gets the layer.
    this.policyLayer = new PolicyLayer(this, 'PolicyLayer', { engine: props.policyEngine ?? 'cedar' });
    const functions: Record<string, ServiceFunction> = {};
    for (const entry of catalog) {
      functions[entry.name] = this.addFunction(entry, props, removalPolicy);
    }
    this.functions = functions;

    this.observability = new ConductorObservability(this, 'Observability', {
      stage: props.stage,
      api: this.api,
      httpStage: this.stage,
      catalog,
      functions,
      stateful: props.stateful,
    });

    new CfnOutput(this, 'ApiUrl', {
      value: this.stage.url,
      description: `Base URL; the API lives under ${API_BASE}`,
    });
    new CfnOutput(this, 'JwtIssuer', { value: issuer, description: 'Issuer the JWT authorizer trusts' });
  }

  private addFunction(entry: FunctionEntry, props: ConductorApiStackProps, removalPolicy: RemovalPolicy) {
    const environment: Record<string, string> = {};
    const tables = entry.tables.map((id) => ({ spec: tableSpec(id), table: props.stateful.table(id) }));
    for (const { spec, table } of tables) environment[spec.envVar] = table.tableName;
    const enforces = enforcesPolicies(entry);
    const sends = props.stateful.queueSpecs.filter((spec) => producesTo(spec, entry, enforces));
    const consumes = props.stateful.queueSpecs.filter((spec) => spec.consumer === entry.name);
    for (const spec of sends) environment[spec.envVar] = props.stateful.queue(spec.id).queueUrl;
    if ((entry.evidence ?? []).length > 0) {
      environment.EVIDENCE_BUCKET_NAME = props.stateful.evidenceBucket.bucketName;
    }
    if (enforces) {
      if (!entry.tables.includes('policy')) {
        throw new Error(
          `Function '${entry.name}' has token routes but not the 'policy' table (decision log, grants)`,
        );
      }
      environment.POLICY_ENGINE = this.policyLayer.engine;
      environment.POLICY_DIR = LAYER_POLICY_DIRS[this.policyLayer.engine];
      // The user pool created here requires MFA at every sign-in: its tokens are stepped up, even
      // where Cognito does not yet put `amr` into them. Another issuer must say so in amr or acr.
      if (!props.oidc) environment.CONDUCTOR_ISSUER_ENFORCES_MFA = 'true';
      if (props.stepUpAcr && props.stepUpAcr.length > 0)
        environment.CONDUCTOR_STEP_UP_ACR = props.stepUpAcr.join(',');
    }
    const publishes = enforces || entry.publishesEvents === true;
    if (publishes) environment.EVENT_BUS_NAME = props.stateful.eventBus.eventBusName;

    const fn = new ServiceFunction(this, pascal(entry.name), {
      entry: entry.entry,
      serviceName: entry.name,
      description: `Conductor ${entry.name}: ${entry.description}`.slice(0, 256),
      stage: props.stage,
      environment,
      logRemovalPolicy: removalPolicy,
      ...(enforces ? { layers: [this.policyLayer.layer] } : {}),
    });
    for (const { table } of tables) table.grantReadWriteData(fn);
    if (publishes) props.stateful.eventBus.grantPutEventsTo(fn);
    for (const spec of sends) props.stateful.queue(spec.id).grantSendMessages(fn);
    for (const spec of consumes) this.addQueueConsumer(fn, spec, props);
    for (const prefix of entry.evidence ?? []) {
      props.stateful.grantEvidenceWriteOnce(fn, prefix);
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${props.stateful.evidenceBucketArnExportName}/${prefix}*]`,
        reason: `The function writes (put-once) and reads evidence objects under ${prefix} only: s3:PutObject and s3:GetObject on that prefix of the Object Lock bucket, whose keys it derives itself.`,
      });
    }
    if (tables.length > 0 || sends.length > 0) {
      // grantReadWriteData on a table, and grantSendMessages on a queue, encrypted with the data key
      // also grant the key's data-key action families. They are scoped to the one data key ARN; the
      // table and queue statements name only this function's tables and queues.
      for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
        Validations.of(fn.role).acknowledge({
          id: `AwsSolutions-IAM5[Action::${action}]`,
          reason: `${action} comes from grantReadWriteData / grantSendMessages on tables and queues encrypted with the Conductor data key; the statement is limited to that one key ARN.`,
        });
      }
    }

    const integration = new HttpLambdaIntegration(`${pascal(entry.name)}Integration`, fn.function);
    for (const spec of entry.routes) {
      const route = new HttpRoute(this, `${pascal(entry.name)}${pascal(spec.operationId)}Route`, {
        httpApi: this.api,
        routeKey: HttpRouteKey.with(`${API_BASE}${spec.path}`, HttpMethod[spec.method]),
        integration,
        authorizer: spec.auth === 'jwt' ? this.authorizer : new HttpNoneAuthorizer(),
      });
      if (spec.auth === 'public') {
        Validations.of(route).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason: `${routeKeyOf(spec)} is public by design (${spec.summary}); it returns no tenant data.`,
        });
      }
    }
    if (entry.servesDefaultRoute) {
      const route = new HttpRoute(this, 'DefaultRoute', {
        httpApi: this.api,
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
    return fn;
  }

  /**
   * The Lambda event source mapping of a queue (the stand-in for KEDA): batches of `batchSize`
   * gathered for up to `maxBatchingWindowSeconds` when the spec has one, at most
   * `maximumConcurrency` concurrent invocations, and partial batch failures reported by the
   * handler, so only the failed messages come back (and reach the DLQ after maxReceiveCount).
   */
  private addQueueConsumer(fn: ServiceFunction, spec: QueueSpec, props: ConductorApiStackProps): void {
    if (spec.visibilityTimeoutSeconds < fn.timeout.toSeconds()) {
      throw new Error(
        `Queue '${spec.id}': visibilityTimeoutSeconds ${spec.visibilityTimeoutSeconds} is shorter than the timeout of its consumer '${spec.consumer}' (${fn.timeout.toSeconds()} s)`,
      );
    }
    fn.function.addEventSource(
      new SqsEventSource(props.stateful.queue(spec.id), {
        batchSize: spec.batchSize,
        ...(spec.maxBatchingWindowSeconds === undefined
          ? {}
          : { maxBatchingWindow: Duration.seconds(spec.maxBatchingWindowSeconds) }),
        maxConcurrency: spec.maximumConcurrency,
        reportBatchItemFailures: true,
      }),
    );
  }

  private createUserPool(stage: string, removalPolicy: RemovalPolicy) {
    const userPool = new UserPool(this, 'UserPool', {
      userPoolName: `conductor-${stage}`,
      // Accounts are created by an administrator, who also sets the tenant; nobody signs up alone.
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      signInCaseSensitive: false,
      autoVerify: { email: true },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      mfa: Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      // Plus tier: threat protection (compromised credentials, risky sign-ins) is enforced.
      featurePlan: FeaturePlan.PLUS,
      standardThreatProtectionMode: StandardThreatProtectionMode.FULL_FUNCTION,
      customAttributes: {
        // Immutable: a user's tenant is fixed at creation and reaches tokens as `custom:tenant`.
        tenant: new StringAttribute({ minLen: 2, maxLen: 63, mutable: false }),
      },
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
    });
    // Roles reach ID tokens as `cognito:groups`, which the kernel reads as roles.
    for (const role of ROLES) {
      userPool.addGroup(`${pascal(role)}Group`, { groupName: role, description: `Conductor role ${role}` });
    }
    const client = userPool.addClient('ApiClient', {
      userPoolClientName: `conductor-${stage}-api`,
      generateSecret: false,
      authFlows: { userSrp: true },
      disableOAuth: true,
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(1),
      readAttributes: new ClientAttributes()
        .withStandardAttributes({ email: true, emailVerified: true, fullname: true })
        .withCustomAttributes('tenant'),
      // The tenant is not writable by the user: it is the isolation boundary.
      writeAttributes: new ClientAttributes().withStandardAttributes({ fullname: true }),
    });
    return { userPool, client };
  }
}

/** Fails synth early, naming the entry, rather than deploying a half-wired API. */
const assertCatalog = (catalog: readonly FunctionEntry[], stateful: ConductorStatefulStack): void => {
  const names = new Set<string>();
  const routeKeys = new Map<string, string>();
  let defaults = 0;
  for (const entry of catalog) {
    if (!/^[a-z][a-z0-9-]*$/.test(entry.name)) {
      throw new Error(`Function name '${entry.name}' must be lower-case letters, digits and dashes`);
    }
    if (names.has(entry.name)) throw new Error(`Function '${entry.name}' appears twice in the catalog`);
    names.add(entry.name);
    for (const id of entry.tables) stateful.table(id);
    for (const spec of entry.routes) assertRoute(entry.name, spec, routeKeys);
    if (entry.servesDefaultRoute) defaults += 1;
  }
  if (defaults > 1) throw new Error(`Only one function may serve the $default route; ${defaults} do`);
  for (const spec of stateful.queueSpecs) {
    // A queue nobody consumes would keep accepting work until its messages expire: fail synth instead.
    if (!names.has(spec.consumer)) {
      throw new Error(`Queue '${spec.id}' is consumed by '${spec.consumer}', which is not in the catalog`);
    }
    for (const producer of spec.producers === 'policy-enforcers' ? [] : spec.producers) {
      if (!names.has(producer)) {
        throw new Error(`Queue '${spec.id}' names producer '${producer}', which is not in the catalog`);
      }
    }
  }
};

/** Whether a function sends to a queue: it is named as a producer, or enforces policies and the queue takes every enforcer. */
const producesTo = (spec: QueueSpec, entry: FunctionEntry, enforces: boolean): boolean =>
  spec.producers === 'policy-enforcers' ? enforces : spec.producers.includes(entry.name);

const assertRoute = (fnName: string, spec: RouteSpec, routeKeys: Map<string, string>): void => {
  if (!spec.path.startsWith('/')) {
    throw new Error(`Route ${spec.operationId} of '${fnName}': path '${spec.path}' must start with '/'`);
  }
  const key = routeKeyOf(spec);
  const owner = routeKeys.get(key);
  if (owner) throw new Error(`Route '${key}' is served by both '${owner}' and '${fnName}'`);
  routeKeys.set(key, fnName);
};
