import {
  Aws,
  type CfnElement,
  CfnOutput,
  CfnResource,
  Duration,
  Names,
  NestedStack,
  type NestedStackProps,
  RemovalPolicy,
  Stack,
  type StackProps,
} from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CfnRoute,
  type CfnStage,
  HttpApi,
  type HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import {
  AccountRecovery,
  type CfnUserPoolClient,
  ClientAttributes,
  FeaturePlan,
  Mfa,
  OAuthScope,
  ResourceServerScope,
  StandardThreatProtectionMode,
  StringAttribute,
  UserPool,
  type UserPoolClient,
  UserPoolClientIdentityProvider,
} from 'aws-cdk-lib/aws-cognito';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { API_SETTINGS } from '#shared/api-settings.js';
import {
  MACHINE_CLIENTS_ENV,
  MACHINE_ROLES,
  MACHINE_SCOPE_SERVER,
  type MachineRole,
} from '#shared/http/claims.js';
import { API_BASE, routeKeyOf } from '#shared/http/http.js';
import {
  assertCatalog,
  enforcesPolicies,
  type FunctionSpec,
  functionsOf,
  type PillarManifest,
  type QueueSpec,
  routesOf,
} from '#shared/pillar.js';
import { DEFAULT_POLICY_ENGINE } from '#shared/policy/source.js';
import { ROLES, TENANT_ID_PATTERN } from '#shared/ports/identity.js';
import { PILLARS } from '../../../functions/catalog.js';
import { ApiEdge, assertEdgeSettings, type EdgeSettings } from './edge.js';
import { pascal } from './names.js';
import type { EnforcerView } from './observability.js';
import {
  assertRunbookAllowLists,
  NO_RUNBOOK_ALLOW_LISTS,
  PillarServices,
  type RunbookAllowLists,
} from './pillar-services.js';
import { type PolicyEngineName, PolicyLayer } from './policy-layer.js';
import type { FunctionTelemetry, ServiceFunction } from './service-function.js';
import type { ConductorStatefulStack } from './stateful-stack.js';

/** Any OIDC issuer in place of the default Cognito user pool. */
export interface OidcIssuerSettings {
  /** Issuer URL, exactly as the `iss` claim of its tokens (https). */
  readonly issuer: string;
  /** Accepted `aud` (or `client_id`) values; at least one. */
  readonly audience: readonly string[];
}

/** A service that calls the API with client credentials, bound to one tenant and its roles. */
export interface MachineClientSpec {
  /** 1-32 of `a-z0-9-`: names the app client (`conductor-<stage>-m2m-<name>`) and its construct. */
  readonly name: string;
  /** The tenant every token of the client acts in. */
  readonly tenant: string;
  /** The roles its tokens may carry: `viewer`, `operator` (no role that needs step-up). */
  readonly roles: readonly MachineRole[];
}

/** Where managed login sends a person after sign-in: nothing listens there, the code is read off the URL. */
export const SIGN_IN_CALLBACK_URL = 'http://localhost:8400/callback';
const MACHINE_CLIENT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** A Cognito prefix domain: lower-case letters, digits and dashes, and none of Cognito's reserved words. */
const DOMAIN_PREFIX = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

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
   * The pillars to deploy: one PillarServices construct per manifest.
   *
   * @default PILLARS from functions/catalog.ts
   */
  readonly pillars?: readonly PillarManifest[];
  /**
   * What happens to the user pool and the log groups when they leave the stack.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Policy engine the functions run in-process.
   *
   * @default DEFAULT_POLICY_ENGINE (#shared/policy/source.ts)
   */
  readonly policyEngine?: PolicyEngineName;
  /** `acr` values that count as step-up besides an `amr` with `mfa` (CONDUCTOR_STEP_UP_ACR). */
  readonly stepUpAcr?: readonly string[];
  /** Deployment settings passed to one function as environment variables, by function name. */
  readonly functionEnvironment?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Deployment folders copied into one function's bundle, by function name. */
  readonly functionFiles?: Readonly<
    Record<string, readonly { readonly from: string; readonly to: string }[]>
  >;
  /**
   * Tracing and Lambda's own log lines of every function.
   *
   * @default - active tracing, Lambda's START, END and REPORT lines
   */
  readonly telemetry?: FunctionTelemetry;
  /**
   * Services calling with client credentials: one app client each in the default user pool, its
   * tenant and roles passed to the functions (CONDUCTOR_MACHINE_CLIENTS). Not with `oidc`.
   *
   * @default - none
   */
  readonly machineClients?: readonly MachineClientSpec[];
  /**
   * Prefix of the user pool's Cognito domain (`https://<prefix>.auth.<region>.amazoncognito.com`),
   * which serves managed login and the token endpoint. Unique per region across all accounts.
   *
   * @default `conductor-<stage>-<account id>`
   */
  readonly authDomainPrefix?: string;
  /**
   * The edge: a custom domain (the default `execute-api` endpoint is then disabled) and/or a
   * CloudFront distribution with an AWS WAF web ACL in front of the API (lib/edge.ts).
   *
   * @default - none: clients call the `execute-api` endpoint
   */
  readonly edge?: EdgeSettings;
  /**
   * Reserved concurrency per function: `false` reserves none (an account whose quota cannot spare
   * it, e.g. a new account limited to 10, or stages sharing an account); a record sets it for the
   * named functions, the others keep the rule of `reservedConcurrencyOf`.
   *
   * @default - every function gets `reservedConcurrencyOf` its manifest
   */
  readonly reservedConcurrency?: false | Readonly<Record<string, number>>;
  /**
   * The account's Lambda concurrency quota in this region; synth fails when the reservations would
   * leave fewer than MIN_UNRESERVED_CONCURRENCY of it unreserved (Lambda refuses such a deploy).
   *
   * @default ACCOUNT_CONCURRENCY_DEFAULT (1 000, Lambda's default quota)
   */
  readonly accountConcurrency?: number;
  /**
   * What runbook steps may call: the step role's policy, and what publish accepts (infra/cdk/README.md,
   * "Runbook steps").
   *
   * @default NO_RUNBOOK_ALLOW_LISTS - no `lambda` or `aws-api` step may run
   */
  readonly runbookAllowLists?: RunbookAllowLists;
}

/**
 * The pillars built in the API stack itself, by name: the ones it held when it came near
 * CloudFormation's STACK_RESOURCE_LIMIT. They stay there, at the logical ids `logicalIdWithoutPillars`
 * keeps (pinned by test/logical-ids.test.ts): moved into a stack of their own, their resources would
 * be new resources of another template, so CloudFormation would replace their functions (with
 * versions, aliases and deployment groups) and log groups (the retained ones orphaned with their
 * logs), and recreate their named alarms, dashboards and state machines, whose names the old
 * resources still hold until the clean-up deletes them. Every other pillar gets a nested stack of
 * its own (`PillarStack`): this list never grows.
 */
export const PILLARS_IN_API_STACK: readonly string[] = [
  'meta',
  'router',
  'authorize',
  'scheduler',
  'eval',
  'runbooks',
  'ops',
];

/**
 * CloudFormation's quota of resources per template, nested stacks included: a deploy of a bigger
 * template fails. Synth checks every stack of the API against it (`limitResources`).
 */
export const STACK_RESOURCE_LIMIT = 500;

/**
 * Route-level throttle of every anonymous route (the catalog's `public` routes and `$default`):
 * they run a function for anyone, so a flood of them must not take the stage's throttle budget
 * (shared with the token routes) or the functions' concurrency. Ten a second, bursts of twenty, per
 * route for all callers together: uptime checks and the odd OpenAPI download fit many times over.
 */
export const ANONYMOUS_ROUTE_THROTTLE = { rateLimit: 10, burstLimit: 20 } as const;

/**
 * Reserved concurrency by what invokes a function (`reservedConcurrencyOf`). Reserved concurrency is
 * both a floor (the function can always scale that far) and a ceiling (beyond it, invocations are
 * throttled), so it isolates the functions from one another and from anything else in the account.
 */
export const RESERVED_CONCURRENCY = {
  /**
   * A function with token routes: the stage throttle is 500 requests a second; at a typical
   * 50-100 ms per request that is 25-50 concurrent executions even if all of them hit one function,
   * so 100 leaves room for cold starts and bursts.
   */
  tokenRoutes: 100,
  /**
   * A function whose token routes are all an org-admin's (platform operations, compliance): a
   * handful of operators and auditors, and the stage throttle does not apply to them alone.
   */
  adminRoutes: 10,
  /** A function with anonymous routes only (public routes, $default): their route throttles (10/s) need few. */
  anonymousRoutes: 10,
  /** A function a schedule invokes (asynchronously: a throttled event is retried by Lambda). */
  schedule: 1,
  /**
   * A task function of a workflow: the state machine invokes it synchronously, and a throttled invoke
   * fails the state (the runbook flow's "Run the steps" does not retry: steps act on real systems), so
   * ten executions may reach it at the same moment. Runbook executions wait for people; ten at once
   * is far above their pace.
   */
  workflowTask: 10,
  /** The function of a workflow's status changes (an EventBridge rule, asynchronously: Lambda retries a throttled event). */
  workflowStatusChanges: 2,
  /** The function of a subscription (an EventBridge rule on Conductor's bus, asynchronously, as above). */
  subscription: 2,
} as const;

/** Lambda's default concurrency quota per account and region. */
export const ACCOUNT_CONCURRENCY_DEFAULT = 1000;
/** Lambda refuses reservations that leave less than this unreserved in the account. */
export const MIN_UNRESERVED_CONCURRENCY = 100;

/**
 * A function's reserved concurrency, from its manifest: its share for API traffic (RESERVED_CONCURRENCY:
 * token routes, token routes all an org-admin's, or anonymous routes only), plus the `maximumConcurrency` of every queue it consumes
 * (the event source mapping never runs more batches at once, and needs that many), plus one when a
 * schedule invokes it, plus `workflowTask` when a workflow's state machine invokes it and
 * `workflowStatusChanges` when it receives a workflow's status changes, `subscription` when a
 * subscription delivers events to it. At least one.
 */
export const reservedConcurrencyOf = (
  spec: FunctionSpec,
  queues: readonly QueueSpec[],
  pillar: PillarManifest,
): number => {
  const routes = spec.routes ?? [];
  const tokenRoutes = routes.filter((route) => route.auth === 'jwt');
  const api = tokenRoutes.some((route) => route.minRole !== 'org-admin')
    ? RESERVED_CONCURRENCY.tokenRoutes
    : tokenRoutes.length > 0
      ? RESERVED_CONCURRENCY.adminRoutes
      : routes.length > 0 || spec.servesDefaultRoute
        ? RESERVED_CONCURRENCY.anonymousRoutes
        : 0;
  const consumers = queues
    .filter((queue) => queue.consumer === spec.name)
    .reduce((sum, queue) => sum + queue.maximumConcurrency, 0);
  const scheduled = (pillar.schedules ?? []).some((schedule) => schedule.function === spec.name)
    ? RESERVED_CONCURRENCY.schedule
    : 0;
  const workflows = pillar.workflows ?? [];
  const task = workflows.some((workflow) => Object.values(workflow.tasks).includes(spec.name))
    ? RESERVED_CONCURRENCY.workflowTask
    : 0;
  const statusChanges = workflows.some((workflow) => workflow.statusChangesTo === spec.name)
    ? RESERVED_CONCURRENCY.workflowStatusChanges
    : 0;
  const subscribed = (pillar.subscriptions ?? []).some((subscription) => subscription.function === spec.name)
    ? RESERVED_CONCURRENCY.subscription
    : 0;
  return Math.max(1, api + consumers + scheduled + task + statusChanges + subscribed);
};

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
 * issuer by props) and one PillarServices construct per pillar of the catalog: its functions,
 * routes, grants, event sources, alarms and dashboard, all from its manifest. Nothing is wired by
 * hand: a new catalog line becomes a pillar here.
 */
export class ConductorApiStack extends Stack {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly authorizer: HttpJwtAuthorizer;
  /** Every pillar's functions, keyed by function name. */
  readonly functions: Readonly<Record<string, ServiceFunction>>;
  /** The pillar constructs, keyed by pillar name. */
  readonly pillars: Readonly<Record<string, PillarServices>>;
  /** The nested stack of each pillar not in PILLARS_IN_API_STACK, keyed by pillar name. */
  readonly pillarStacks: Readonly<Record<string, PillarStack>>;
  /** The default user pool; undefined when an external OIDC issuer is used. */
  readonly userPool?: UserPool;
  readonly userPoolClient?: UserPoolClient;
  /** The client-credentials app clients of the default pool, by service name. */
  readonly machineClients: Readonly<Record<string, UserPoolClient>> = {};
  /** The Cedar policies and engine, attached to every function that enforces policies. */
  readonly policyLayer: PolicyLayer;
  /** The custom domain and CloudFront distribution; undefined without `edge`. */
  readonly edge?: ApiEdge;
  /** Reserved concurrency by function name (empty with `reservedConcurrency: false`). */
  readonly reservedConcurrency: Readonly<Record<string, number>>;

  constructor(scope: Construct, id: string, props: ConductorApiStackProps) {
    super(scope, id, props);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const catalog = props.pillars ?? PILLARS;
    assertCatalog(catalog);
    assertQueuesServed(catalog, props.stateful);
    const machineClients = props.machineClients ?? [];
    if (props.oidc && machineClients.length > 0) {
      throw new Error(
        'machineClients need the Cognito user pool: register them with your own OIDC issuer instead',
      );
    }
    assertMachineClients(machineClients);
    if (props.authDomainPrefix !== undefined) assertDomainPrefix(props.authDomainPrefix);
    if (props.edge) assertEdgeSettings(props.edge, this.region);
    const runbookAllowLists = props.runbookAllowLists ?? NO_RUNBOOK_ALLOW_LISTS;
    assertRunbookAllowLists(runbookAllowLists);

    let issuer: string;
    let audience: string[];
    let machineBindings: { clientId: string; tenant: string; roles: readonly MachineRole[] }[] = [];
    if (props.oidc) {
      issuer = props.oidc.issuer;
      audience = [...props.oidc.audience];
    } else {
      const { userPool, client, domain, machines } = this.createUserPool(
        props.stage,
        removalPolicy,
        machineClients,
        props.authDomainPrefix ?? `conductor-${props.stage}-${Aws.ACCOUNT_ID}`,
      );
      this.userPool = userPool;
      this.userPoolClient = client;
      this.machineClients = Object.fromEntries(machines.map(({ spec, client }) => [spec.name, client]));
      issuer = userPool.userPoolProviderUrl;
      // Access tokens have no `aud`: API Gateway then checks `client_id`, so each machine client is an audience.
      audience = [client.userPoolClientId, ...machines.map((machine) => machine.client.userPoolClientId)];
      machineBindings = machines.map(({ spec, client }) => ({
        clientId: client.userPoolClientId,
        tenant: spec.tenant,
        roles: spec.roles,
      }));
      new CfnOutput(this, 'UserPoolId', { value: userPool.userPoolId, description: 'Cognito user pool' });
      new CfnOutput(this, 'UserPoolClientId', {
        value: client.userPoolClientId,
        description: 'App client id: the JWT audience',
      });
      new CfnOutput(this, 'SignInUrl', {
        value: domain.signInUrl(client, {
          redirectUri: SIGN_IN_CALLBACK_URL,
          signInPath: '/oauth2/authorize',
        }),
        description: 'Managed login for people: the first ID token (docs/deploy.md)',
      });
      new CfnOutput(this, 'TokenUrl', {
        value: `${domain.baseUrl()}/oauth2/token`,
        description: 'OAuth token endpoint: client credentials for services, code exchange for people',
      });
      for (const { spec, client: machine } of machines) {
        new CfnOutput(this, `MachineClient${pascal(spec.name)}Id`, {
          value: machine.userPoolClientId,
          description: `Client id of service '${spec.name}' (tenant ${spec.tenant}; ${spec.roles.join(', ')})`,
        });
      }
    }
    this.authorizer = new HttpJwtAuthorizer('JwtAuthorizer', issuer, {
      authorizerName: 'conductor-jwt',
      jwtAudience: audience,
    });

    this.api = new HttpApi(this, 'HttpApi', {
      apiName: `conductor-${props.stage}`,
      description: `Conductor ${props.stage} API (${API_BASE})`,
      createDefaultStage: false,
      // With its own domain the API answers only there (and through CloudFront, which calls it there):
      // the execute-api URL would be a way around the edge.
      ...(props.edge?.domainName === undefined ? {} : { disableExecuteApiEndpoint: true }),
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
    this.policyLayer = new PolicyLayer(this, 'PolicyLayer', {
      engine: props.policyEngine ?? DEFAULT_POLICY_ENGINE,
    });
    const pillars: Record<string, PillarServices> = {};
    const pillarStacks: Record<string, PillarStack> = {};
    for (const pillar of catalog) {
      const nested = PILLARS_IN_API_STACK.includes(pillar.name)
        ? undefined
        : new PillarStack(this, `${pascal(pillar.name)}PillarStack`, {
            description: `Conductor ${props.stage}: the ${pillar.name} pillar (${pillar.description})`.slice(
              0,
              1024,
            ),
          });
      if (nested) pillarStacks[pillar.name] = nested;
      pillars[pillar.name] = new PillarServices(nested ?? this, `${pascal(pillar.name)}Pillar`, {
        pillar,
        stage: props.stage,
        api: this.api,
        httpStage: this.stage,
        authorizer: this.authorizer,
        stateful: props.stateful,
        policyLayer: this.policyLayer,
        removalPolicy,
        issuerEnforcesMfa: !props.oidc,
        ...(props.stepUpAcr ? { stepUpAcr: props.stepUpAcr } : {}),
        ...(props.functionEnvironment ? { functionEnvironment: props.functionEnvironment } : {}),
        ...(props.functionFiles ? { functionFiles: props.functionFiles } : {}),
        ...(props.telemetry ? { telemetry: props.telemetry } : {}),
        runbookAllowLists,
        publicRouteKeys: routesOf(catalog)
          .filter((route) => route.auth === 'public')
          .map(routeKeyOf),
      });
    }
    this.pillars = pillars;
    this.pillarStacks = pillarStacks;
    this.functions = Object.assign({}, ...Object.values(pillars).map((p) => p.functions));
    this.throttleAnonymousRoutes(catalog);
    this.reservedConcurrency = this.reserveConcurrency(catalog, props);
    if (props.edge) {
      this.edge = new ApiEdge(this, 'Edge', {
        ...props.edge,
        stage: props.stage,
        api: this.api,
        httpStage: this.stage,
      });
    }
    // Every function that reads identities learns which client ids are services, and their tenant.
    if (machineBindings.length > 0) {
      const bindings = this.toJsonString(machineBindings);
      for (const services of Object.values(pillars)) {
        for (const spec of services.pillar.functions.filter(enforcesPolicies)) {
          services.functions[spec.name]?.function.addEnvironment(MACHINE_CLIENTS_ENV, bindings);
        }
      }
    }
    // Dashboards last: a policy dashboard shows every pillar's enforcing functions.
    const enforcers: EnforcerView[] = Object.values(pillars).flatMap((services) =>
      services.pillar.functions.filter(enforcesPolicies).map((fn) => {
        const denySpikeAlarm = services.observability.denySpikeAlarms[fn.name];
        if (!denySpikeAlarm) throw new Error(`No deny spike alarm for '${fn.name}'`);
        return { name: fn.name, denySpikeAlarm };
      }),
    );
    for (const services of Object.values(pillars)) services.observability.addDashboard(enforcers);

    new CfnOutput(this, 'ApiUrl', {
      value: this.edge?.url ?? this.stage.url,
      description: `Base URL; the API lives under ${API_BASE}`,
    });
    if (this.edge?.dnsTarget !== undefined) {
      new CfnOutput(this, 'EdgeDnsTarget', {
        value: this.edge.dnsTarget,
        description: `Point ${props.edge?.domainName} here (CNAME, or a Route 53 alias)`,
      });
    }
    new CfnOutput(this, 'JwtIssuer', { value: issuer, description: 'Issuer the JWT authorizer trusts' });
    limitResources(this);
  }

  /**
   * ANONYMOUS_ROUTE_THROTTLE on every route that runs a function for anyone: the catalog's `public`
   * routes and `$default` (which answers unmatched requests with the uniform 404/405, so it keeps its
   * function; the throttle bounds what anonymous traffic can make it do). HTTP APIs throttle per route
   * through the stage's RouteSettings, keyed by route key; CloudFormation refuses a route key that does
   * not exist yet, so the stage waits for those routes.
   */
  private throttleAnonymousRoutes(catalog: readonly PillarManifest[]): void {
    const keys = new Set([
      ...routesOf(catalog)
        .filter((route) => route.auth === 'public')
        .map(routeKeyOf),
      ...(functionsOf(catalog).some((fn) => fn.servesDefaultRoute) ? ['$default'] : []),
    ]);
    if (keys.size === 0) return;
    const stage = this.stage.node.defaultChild as CfnStage;
    stage.routeSettings = Object.fromEntries(
      [...keys].sort().map((key) => [
        key,
        {
          ThrottlingRateLimit: ANONYMOUS_ROUTE_THROTTLE.rateLimit,
          ThrottlingBurstLimit: ANONYMOUS_ROUTE_THROTTLE.burstLimit,
          DetailedMetricsEnabled: true,
        },
      ]),
    );
    for (const route of this.node.findAll()) {
      if (route instanceof CfnRoute && keys.has(route.routeKey)) this.stage.node.addDependency(route);
    }
  }

  /**
   * Reserves every function's concurrency (`reservedConcurrencyOf` its manifest, or the override of
   * `reservedConcurrency`), after checking that the account keeps MIN_UNRESERVED_CONCURRENCY.
   */
  private reserveConcurrency(
    catalog: readonly PillarManifest[],
    props: ConductorApiStackProps,
  ): Record<string, number> {
    if (props.reservedConcurrency === false) return {};
    const overrides = props.reservedConcurrency ?? {};
    for (const name of Object.keys(overrides)) {
      if (!this.functions[name]) {
        throw new Error(`reservedConcurrency names '${name}', which is not a function of the catalog`);
      }
    }
    const reserved: Record<string, number> = {};
    for (const pillar of catalog) {
      for (const spec of pillar.functions) {
        reserved[spec.name] =
          overrides[spec.name] ?? reservedConcurrencyOf(spec, props.stateful.queueSpecs, pillar);
      }
    }
    const quota = props.accountConcurrency ?? ACCOUNT_CONCURRENCY_DEFAULT;
    const total = Object.values(reserved).reduce((sum, n) => sum + n, 0);
    if (total > quota - MIN_UNRESERVED_CONCURRENCY) {
      const each = Object.entries(reserved).map(([name, n]) => `${name} ${n}`);
      throw new Error(
        `Reserved concurrency ${total} (${each.join(', ')}) leaves less than ${MIN_UNRESERVED_CONCURRENCY} of the account's ${quota} unreserved: raise the quota (accountConcurrency), lower reservedConcurrency, or set it to false`,
      );
    }
    for (const [name, executions] of Object.entries(reserved)) {
      this.functions[name]?.reserveConcurrency(executions);
    }
    return reserved;
  }

  protected override allocateLogicalId(element: CfnElement): string {
    return logicalIdWithoutPillars(this, element) ?? super.allocateLogicalId(element);
  }

  private createUserPool(
    stage: string,
    removalPolicy: RemovalPolicy,
    machineClients: readonly MachineClientSpec[],
    domainPrefix: string,
  ) {
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
    // The domain serves managed login (how a person gets a first ID token, MFA enrolment included)
    // and the token endpoint that services call with client credentials.
    const domain = userPool.addDomain('Domain', { cognitoDomain: { domainPrefix } });
    const client = userPool.addClient('ApiClient', {
      userPoolClientName: `conductor-${stage}-api`,
      generateSecret: false,
      authFlows: { userSrp: true },
      // Authorization code with PKCE through managed login: the password and the TOTP stay on
      // Cognito's pages, and the CLI needs no password flow.
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [OAuthScope.OPENID, OAuthScope.EMAIL, OAuthScope.PROFILE],
        callbackUrls: [SIGN_IN_CALLBACK_URL],
      },
      supportedIdentityProviders: [UserPoolClientIdentityProvider.COGNITO],
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

    // One scope per role a service may hold: a client is allowed the scopes of its bound roles, and
    // a token carries the ones it asked for (all of them when it asks for none).
    const scopes = Object.fromEntries(
      MACHINE_ROLES.map((role) => [
        role,
        new ResourceServerScope({
          scopeName: role,
          scopeDescription: `Act as ${role} in the client's tenant`,
        }),
      ]),
    ) as Record<MachineRole, ResourceServerScope>;
    const resourceServer = userPool.addResourceServer('ApiResourceServer', {
      identifier: MACHINE_SCOPE_SERVER,
      userPoolResourceServerName: `conductor-${stage}`,
      scopes: Object.values(scopes),
    });
    const machines = machineClients.map((spec) => {
      const machine = userPool.addClient(`Machine${pascal(spec.name)}Client`, {
        userPoolClientName: `conductor-${stage}-m2m-${spec.name}`,
        generateSecret: true,
        oAuth: {
          flows: { clientCredentials: true },
          scopes: spec.roles.map((role) => OAuthScope.resourceServer(resourceServer, scopes[role])),
        },
        supportedIdentityProviders: [UserPoolClientIdentityProvider.COGNITO],
        enableTokenRevocation: true,
        accessTokenValidity: Duration.hours(1),
      });
      // No user sign-in through a service's client: its only grant is client credentials.
      (machine.node.defaultChild as CfnUserPoolClient).explicitAuthFlows = ['ALLOW_REFRESH_TOKEN_AUTH'];
      return { spec, client: machine };
    });
    return { userPool, client, domain, machines };
  }
}

const assertMachineClients = (clients: readonly MachineClientSpec[]): void => {
  const names = new Set<string>();
  for (const client of clients) {
    if (!MACHINE_CLIENT_NAME.test(client.name)) {
      throw new Error(`machine client '${client.name}': the name must be 1-32 of a-z, 0-9 and -`);
    }
    if (names.has(client.name)) throw new Error(`machine client '${client.name}' is declared twice`);
    names.add(client.name);
    if (!TENANT_ID_PATTERN.test(client.tenant)) {
      throw new Error(`machine client '${client.name}': tenant '${client.tenant}' is not a tenant id`);
    }
    if (client.roles.length === 0) throw new Error(`machine client '${client.name}' has no role`);
    for (const role of client.roles) {
      if (!(MACHINE_ROLES as readonly string[]).includes(role)) {
        throw new Error(
          `machine client '${client.name}': role '${role}' is not one of ${MACHINE_ROLES.join(', ')} (a service cannot do MFA)`,
        );
      }
    }
  }
};

const assertDomainPrefix = (prefix: string): void => {
  if (!DOMAIN_PREFIX.test(prefix) || /aws|amazon|cognito/.test(prefix)) {
    throw new Error(
      `authDomainPrefix '${prefix}' must be 1-63 of a-z, 0-9 and - (not at either end), without aws, amazon or cognito`,
    );
  }
};

/**
 * Every queue of the stateful stack has its consumer (and its named producers) among the pillars
 * deployed here: a queue nobody consumes would keep accepting work until its messages expire, so
 * synth fails instead, naming the queue.
 */
const assertQueuesServed = (catalog: readonly PillarManifest[], stateful: ConductorStatefulStack): void => {
  const names = new Set(functionsOf(catalog).map((fn) => fn.name));
  for (const spec of stateful.queueSpecs) {
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

/**
 * The nested stack of one pillar that is not in PILLARS_IN_API_STACK: a stack resource of the API
 * stack, deployed with it, holding that pillar's PillarServices, so each new pillar brings its 20-80
 * resources into a template of its own instead of the API stack's (which gains one). What the pillar
 * takes from the API stack (the HTTP API and its JWT authorizer, the policy layer, the functions'
 * tracing policy and CodeDeploy application) reaches it as parameters, and what the API stack reads
 * back (a deny spike alarm on the policy dashboard, a public route the stage waits for) as outputs
 * and a dependency on the stack resource: CDK wires both. Its resources get the logical ids they
 * would have as direct children of a stack, as in the API stack (`logicalIdWithoutPillars`).
 */
export class PillarStack extends NestedStack {
  constructor(scope: Construct, id: string, props: NestedStackProps = {}) {
    super(scope, id, props);
    limitResources(this);
  }

  protected override allocateLogicalId(element: CfnElement): string {
    return logicalIdWithoutPillars(this, element) ?? super.allocateLogicalId(element);
  }
}

/**
 * Fails synth when `stack` would have more resources than CloudFormation's STACK_RESOURCE_LIMIT (the
 * deploy would fail, after the other stacks had changed), naming the stack, its count and what to do,
 * or when a pillar's nested stack has none (CloudFormation refuses a template without resources).
 * CDK refuses an oversized template too, but only as it writes it, with the count of each resource
 * type and no remedy; this validation runs before, for every stack of the API at once. It counts the
 * stack's CfnResource constructs once the app is prepared: a walk of the construct tree, no synth.
 */
const limitResources = (stack: Stack): void => {
  stack.node.addValidation({
    validate: () => {
      const count = stack.node
        .findAll()
        .filter((construct) => CfnResource.isCfnResource(construct) && Stack.of(construct) === stack).length;
      if (count > STACK_RESOURCE_LIMIT) {
        return [
          `${stack.node.path} would have ${count} resources, more than the ${STACK_RESOURCE_LIMIT} CloudFormation allows in one stack. ${
            stack.nestedStackParent
              ? 'This pillar is too big for one stack: split it into two pillars (two manifests), each gets a nested stack of its own.'
              : 'The API and the pillars of PILLARS_IN_API_STACK fill it: put new functions and routes into a new pillar, which gets a nested stack of its own; moving one of those pillars out replaces its resources (infra/cdk/README.md, "Stacks").'
          }`,
        ];
      }
      if (count === 0 && stack.nestedStackParent) {
        return [
          `${stack.node.path} has no resource: its pillar declares nothing to deploy (no function, no table)`,
        ];
      }
      return [];
    },
  });
};

/**
 * Logical ids as if every pillar construct were not there: a resource of a pillar keeps the id it
 * has as a direct child of the stack (as it had before pillars were constructs), so regrouping never
 * replaces a function, a log group or a named alarm (CloudFormation would create the new alarm, then
 * delete the old one by the same name). Names.uniqueId on a scratch tree of the remaining path is
 * exactly the id Stack.allocateLogicalId computes for that path.
 */
const logicalIdWithoutPillars = (stack: Stack, element: CfnElement): string | undefined => {
  const below = element.node.scopes.slice(element.node.scopes.indexOf(stack) + 1);
  if (!below.some((scope) => scope instanceof PillarServices)) return undefined;
  let scope = new Construct(undefined as unknown as Construct, '');
  for (const part of below.filter((s) => !(s instanceof PillarServices)))
    scope = new Construct(scope, part.node.id);
  return Names.uniqueId(scope);
};
