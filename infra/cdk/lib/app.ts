import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type App, Duration, type Environment, RemovalPolicy, Tags, Validations } from 'aws-cdk-lib';
import { ObjectLockMode } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Node } from 'constructs';
import { functionsOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { complianceCatalog } from '../../../functions/compliance/src/wiring.js';
import {
  MAX_TENANT_WEIGHT,
  tenantWeightsSchema,
} from '../../../functions/scheduler/src/domain/fair-share.js';
import { ConductorApiStack, type MachineClientSpec, type OidcIssuerSettings } from './api-stack.js';
import { ConductorEdgeWafStack, type EdgeSettings } from './edge.js';
import { isProductionStage } from './names.js';
import type { PolicyEngineName } from './policy-layer.js';
import type { FunctionTelemetry } from './service-function.js';
import {
  assertBreakGlassRoleArn,
  assertRoleArn,
  ConductorStatefulStack,
  EMAIL_PATTERN,
} from './stateful-stack.js';

export interface ConductorAppProps {
  /**
   * Deployment stage: part of every stack, API, bus and pool name, so stages can share an account.
   * `prod`, `production` and `prod-*`/`production-*` are production stages (isProductionStage):
   * evidence is locked in COMPLIANCE mode there, GOVERNANCE elsewhere. The CLI entry requires the
   * stage and, for a production stage, `env` (deployPropsFromContext).
   *
   * @default 'prod' - for in-process builds (tests) only: `cdk synth`/`cdk deploy` refuse no stage
   */
  readonly stage?: string;
  /**
   * Trust this OIDC issuer instead of creating a Cognito user pool.
   *
   * @default - a Cognito user pool in the API stack
   */
  readonly oidc?: OidcIssuerSettings;
  /**
   * Removal policy of tables, buckets, the data key, the user pool and log groups (never of the
   * evidence key and the runbook signing key, which are always retained).
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Account and region to pin the stacks to. The CLI entry requires both for a production stage.
   *
   * @default - environment-agnostic stacks: `cdk deploy` targets the CLI's current account and region
   */
  readonly env?: Environment;
  /**
   * Run the cdk-nag AwsSolutions checks at synth: any unacknowledged finding fails synth.
   *
   * @default true
   */
  readonly nag?: boolean;
  /**
   * Policy engine: `cedar`, or `opa` (needs the `opa` compiler on PATH at synth).
   *
   * @default DEFAULT_POLICY_ENGINE (#shared/policy/source.ts)
   */
  readonly policyEngine?: PolicyEngineName;
  /**
   * An email address subscribed to what pages: the fast error budget burn, a route's 5xx, a
   * function's errors (the `conductor-<stage>-alarms` topic).
   *
   * @default - alarmEmail, or no subscription
   */
  readonly pageEmail?: string;
  /**
   * An HTTPS endpoint subscribed to the page topic: a pager's SNS integration URL, or a webhook
   * that confirms SNS subscriptions.
   *
   * @default - no subscription
   */
  readonly pageUrl?: string;
  /**
   * An email address subscribed to what opens a ticket: slow burn, throttles, queues and DLQs,
   * deny spikes (the `conductor-<stage>-tickets` topic).
   *
   * @default - alarmEmail, or no subscription
   */
  readonly ticketEmail?: string;
  /**
   * An HTTPS endpoint subscribed to the ticket topic (an issue tracker's or chat's webhook).
   *
   * @default - no subscription
   */
  readonly ticketUrl?: string;
  /**
   * @deprecated subscribes to both topics, as it received every alarm when there was one topic;
   * `pageEmail` and `ticketEmail` take precedence for their topic.
   *
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * Days every evidence object stays locked (the default retention of the evidence bucket), after
   * which it expires. Whole days, 1 to 36500.
   *
   * @default 396 (about 13 months, the product's cold-retention horizon)
   */
  readonly evidenceRetentionDays?: number;
  /**
   * The ARN of the IAM role that alone may disable the evidence key, schedule its deletion or change
   * its policy. Fixed when the key is created.
   *
   * @default - nobody may, ever
   */
  readonly evidenceBreakGlassRoleArn?: string;
  /**
   * IAM role ARNs that may sign runbooks with the runbook signing key (`kms:Sign`, RSASSA_PSS_SHA_256
   * only, in its key policy): the roles people or CI assume to sign, never a function's. They must
   * exist before the deploy.
   *
   * @default - none: only whom the account's IAM policies allow `kms:Sign` (its administrators)
   */
  readonly runbookSigners?: readonly string[];
  /**
   * `acr` values that count as step-up (MFA) for sensitive actions, besides an `amr` with `mfa`:
   * e.g. `urn:cognito:loa:2` with Cognito's authentication levels, or your issuer's.
   *
   * @default - none
   */
  readonly stepUpAcr?: readonly string[];
  /**
   * Tenants' weights in the scheduler's fair share (1 to 10; others weigh 1): a tenant of weight w
   * gets w shares of a priority's workers while tenants have a backlog (SCHEDULER_TENANT_WEIGHTS,
   * functions/scheduler/src/domain/fair-share.ts).
   *
   * @default - every tenant weighs 1
   */
  readonly schedulerTenantWeights?: Readonly<Record<string, number>>;
  /**
   * A folder of custom compliance catalog files (`*.json`: frameworks, or more controls), read after
   * the built-in ones. Checked at synth (a malformed file stops it naming the file, the path and the
   * reason) and copied into the compliance function's bundle (CONDUCTOR_COMPLIANCE_CATALOG_DIR).
   *
   * @default - the built-in catalog only
   */
  readonly complianceCatalogDir?: string;
  /**
   * Tracing (`active` or `pass-through`) and Lambda's own log lines (`INFO`, or `WARN` to drop the
   * START, END and REPORT lines) of every function: what they cost is in docs/deploy.md.
   *
   * @default - active tracing, Lambda's own lines kept
   */
  readonly telemetry?: FunctionTelemetry;
  /**
   * Services that call the API with client credentials, each bound to one tenant and its roles
   * (`viewer`, `operator`); needs the default user pool (not with `oidc`).
   *
   * @default - none
   */
  readonly machineClients?: readonly MachineClientSpec[];
  /**
   * Prefix of the user pool's Cognito domain (managed login and the token endpoint).
   *
   * @default `conductor-<stage>-<account id>`
   */
  readonly authDomainPrefix?: string;
  /**
   * The optional edge: a custom domain, CloudFront with a WAF web ACL (infra/cdk/README.md, "Edge").
   *
   * @default - none: clients call the `execute-api` URL
   */
  readonly edge?: EdgeSettings;
  /**
   * Also build `Conductor-<stage>-EdgeWaf` (us-east-1): the web ACL whose `WebAclArn` output goes
   * into `edge.webAclArn`. `rateLimit`: requests per client IP per 5 minutes.
   *
   * @default - no web ACL stack
   */
  readonly edgeWaf?: { readonly rateLimit?: number };
  /**
   * Reserved concurrency per function: `false` reserves none (stages sharing an account), or
   * overrides by function name (infra/cdk/README.md, "Gradual deployments").
   *
   * @default - reservedConcurrencyOf each function
   */
  readonly reservedConcurrency?: false | Readonly<Record<string, number>>;
  /**
   * The account's concurrent-execution quota the reservations are checked against.
   *
   * @default 1000 (Lambda's default quota)
   */
  readonly accountConcurrency?: number;
  /**
   * Lambda function names (in the deployment's account and region) that runbooks' `lambda` steps may
   * invoke: the step role allows `lambda:InvokeFunction` on exactly these, and publish refuses a step
   * naming another.
   *
   * @default - none: no `lambda` step may run
   */
  readonly runbookAllowedLambdas?: readonly string[];
  /**
   * IAM actions (`service:Action`, no wildcard) that runbooks' `aws-api` steps may call: the step role
   * allows exactly these, on any resource, and publish refuses a step naming another.
   *
   * @default - none: no `aws-api` step may run
   */
  readonly runbookAllowedAwsApis?: readonly string[];
}

export interface ConductorApp {
  readonly stateful: ConductorStatefulStack;
  readonly api: ConductorApiStack;
  readonly edgeWaf?: ConductorEdgeWafStack;
}

const STAGE_PATTERN = /^[a-z][a-z0-9-]{0,19}$/;
/** `prod`, `production`, and either followed by `-<anything>` (`prod-eu`, `production-2`). */
const ACCOUNT_PATTERN = /^\d{12}$/;
/** `eu-west-1`, `us-gov-west-1`, `ap-southeast-4`, `cn-north-1`. */
const REGION_PATTERN = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
/** Object Lock takes up to 100 years. */
const MAX_RETENTION_DAYS = 36_500;

/** Builds Conductor's stacks into `app`; the CLI entry and the tests share it. */
export const buildApp = (app: App, props: ConductorAppProps = {}): ConductorApp => {
  const stage = props.stage ?? 'prod';
  if (!STAGE_PATTERN.test(stage)) {
    throw new Error(
      `stage '${stage}' must be 1-20 lower-case letters, digits or dashes, starting with a letter`,
    );
  }
  if (props.oidc) validateOidc(props.oidc);
  if (props.alarmEmail !== undefined && !EMAIL_PATTERN.test(props.alarmEmail)) {
    throw new Error(`alarmEmail '${props.alarmEmail}' is not one email address`);
  }
  if (props.evidenceRetentionDays !== undefined) assertRetentionDays(props.evidenceRetentionDays);
  for (const arn of props.runbookSigners ?? []) assertRoleArn('runbookSigners', arn);
  const env = props.env;
  const catalog = complianceCatalogOf(props.complianceCatalogDir);

  const stateful = new ConductorStatefulStack(app, `Conductor-${stage}-Stateful`, {
    stage,
    env,
    description: `Conductor ${stage}: tables, data, evidence and runbook signing keys, evidence and artifacts buckets, queues and their alarms, alert topics, event bus`,
    removalPolicy: props.removalPolicy,
    ...(props.evidenceRetentionDays === undefined
      ? {}
      : { evidenceRetention: Duration.days(props.evidenceRetentionDays) }),
    evidenceLockMode: isProductionStage(stage) ? ObjectLockMode.COMPLIANCE : ObjectLockMode.GOVERNANCE,
    ...(props.evidenceBreakGlassRoleArn
      ? { evidenceBreakGlassRoleArn: props.evidenceBreakGlassRoleArn }
      : {}),
    ...(props.runbookSigners ? { runbookSigners: props.runbookSigners } : {}),
    pageSubscriptions: subscriptions(props.pageEmail ?? props.alarmEmail, props.pageUrl),
    ticketSubscriptions: subscriptions(props.ticketEmail ?? props.alarmEmail, props.ticketUrl),
  });
  const api = new ConductorApiStack(app, `Conductor-${stage}-Api`, {
    stage,
    env,
    description: `Conductor ${stage}: HTTP API, JWT authorizer and the functions of the catalog`,
    stateful,
    oidc: props.oidc,
    removalPolicy: props.removalPolicy,
    policyEngine: props.policyEngine,
    ...(props.stepUpAcr ? { stepUpAcr: props.stepUpAcr } : {}),
    functionEnvironment: {
      ...(props.schedulerTenantWeights
        ? {
            scheduler: {
              SCHEDULER_TENANT_WEIGHTS: JSON.stringify(
                tenantWeightsSchema.parse(props.schedulerTenantWeights),
              ),
            },
          }
        : {}),
      ...catalog.environment,
    },
    functionFiles: catalog.files,
    ...(props.telemetry ? { telemetry: props.telemetry } : {}),
    ...(props.machineClients ? { machineClients: props.machineClients } : {}),
    ...(props.authDomainPrefix ? { authDomainPrefix: props.authDomainPrefix } : {}),
    ...(props.edge ? { edge: props.edge } : {}),
    ...(props.reservedConcurrency === undefined ? {} : { reservedConcurrency: props.reservedConcurrency }),
    ...(props.accountConcurrency === undefined ? {} : { accountConcurrency: props.accountConcurrency }),
    runbookAllowLists: {
      lambdas: props.runbookAllowedLambdas ?? [],
      awsApis: props.runbookAllowedAwsApis ?? [],
    },
  });
  const edgeWaf = props.edgeWaf
    ? new ConductorEdgeWafStack(app, `Conductor-${stage}-EdgeWaf`, {
        stage,
        env,
        description: `Conductor ${stage}: the web ACL of the API's CloudFront distribution (us-east-1)`,
        ...(props.edgeWaf.rateLimit === undefined ? {} : { rateLimit: props.edgeWaf.rateLimit }),
        removalPolicy: props.removalPolicy,
      })
    : undefined;

  Tags.of(app).add('conductor:stage', stage);
  Tags.of(app).add('conductor:app', 'conductor');
  if (props.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { stateful, api, ...(edgeWaf ? { edgeWaf } : {}) };
};

/** Where a custom catalog folder goes in the compliance collector's bundle (`/var/task/<folder>`). */
export const COMPLIANCE_CATALOG_BUNDLE_DIR = 'compliance-catalog';

/**
 * A custom compliance catalog folder, checked now as the function will read it (with the built-in
 * files and the tests there are), and given to every compliance collector of the catalog: its files
 * in the bundle, CONDUCTOR_COMPLIANCE_CATALOG_DIR pointing at them.
 */
const complianceCatalogOf = (
  dir: string | undefined,
): {
  environment: Record<string, Record<string, string>>;
  files: Record<string, { from: string; to: string }[]>;
} => {
  if (dir === undefined) return { environment: {}, files: {} };
  const folder = resolve(dir);
  if (!existsSync(folder) || !statSync(folder).isDirectory())
    throw new Error(`complianceCatalogDir '${dir}' is not a folder`);
  // Throws CatalogError: every problem as `<file>: <path>: <reason>`.
  complianceCatalog(folder);
  const collectors = functionsOf(PILLARS).filter((fn) => fn.complianceCollector);
  return {
    environment: Object.fromEntries(
      collectors.map((fn) => [
        fn.name,
        { CONDUCTOR_COMPLIANCE_CATALOG_DIR: `/var/task/${COMPLIANCE_CATALOG_BUNDLE_DIR}` },
      ]),
    ),
    files: Object.fromEntries(
      collectors.map((fn) => [fn.name, [{ from: folder, to: COMPLIANCE_CATALOG_BUNDLE_DIR }]]),
    ),
  };
};

/** A topic's subscriptions, leaving out what is not given. */
const subscriptions = (email: string | undefined, url: string | undefined) => ({
  ...(email === undefined ? {} : { email }),
  ...(url === undefined ? {} : { url }),
});

const assertRetentionDays = (days: number): void => {
  if (!Number.isInteger(days) || days < 1 || days > MAX_RETENTION_DAYS) {
    throw new Error(
      `evidenceRetentionDays ${days} must be a whole number of days from 1 to ${MAX_RETENTION_DAYS}`,
    );
  }
};

const validateOidc = (oidc: OidcIssuerSettings): void => {
  let url: URL;
  try {
    url = new URL(oidc.issuer);
  } catch {
    throw new Error(`oidcIssuer '${oidc.issuer}' is not a URL`);
  }
  if (url.protocol !== 'https:') throw new Error(`oidcIssuer '${oidc.issuer}' must be an https URL`);
  if (oidc.audience.length === 0 || oidc.audience.some((aud) => aud.trim() === '')) {
    throw new Error('oidcAudience must name at least one non-empty audience when oidcIssuer is set');
  }
};

const REMOVAL_POLICIES: Readonly<Record<string, RemovalPolicy>> = {
  retain: RemovalPolicy.RETAIN,
  destroy: RemovalPolicy.DESTROY,
};

/**
 * Reads `machineClients` context: comma-separated `<name>=<tenant>:<role>[+<role>]`, e.g.
 * `orders=acme:operator,audit=globex:viewer`. The names, tenants and roles are checked by the stack.
 */
export const parseMachineClientsContext = (text: string): MachineClientSpec[] =>
  text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const match = /^([^=\s]+)=([^:\s]+):([^\s]+)$/.exec(entry);
      if (!match?.[1] || !match[2] || !match[3]) {
        throw new Error(`context machineClients entry '${entry}' must be <name>=<tenant>:<role>[+<role>]`);
      }
      return {
        name: match[1],
        tenant: match[2],
        roles: match[3].split('+') as MachineClientSpec['roles'][number][],
      };
    });

/**
 * Reads the app props from CDK context (`-c key=value` or cdk.json): `stage`, `oidcIssuer`,
 * `oidcAudience` (comma-separated), `removalPolicy` (retain|destroy), `account`, `region`,
 * `policyEngine`, `pageEmail`, `pageUrl`, `ticketEmail`, `ticketUrl`, `alarmEmail` (deprecated),
 * `evidenceRetentionDays`, `evidenceBreakGlassRoleArn`, `runbookSigners` (role ARNs, comma-separated
 * or a list), `runbookAllowedLambdas` and `runbookAllowedAwsApis` (comma-separated or a list),
 * `stepUpAcr` (comma-separated),
 * `machineClients` (`<name>=<tenant>:<role>[+<role>]`, comma-separated), `authDomainPrefix`,
 * `schedulerTenantWeights` (`<tenant>=<weight>`, comma-separated), `complianceCatalogDir` (a folder),
 * `tracing` (active|pass-through), `platformLogs` (info|warn).
 * Nothing is required here: deployPropsFromContext adds the rules of a deploy.
 */
export const propsFromContext = (node: Node): ConductorAppProps => {
  const text = (key: string): string | undefined => {
    const value: unknown = node.tryGetContext(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string')
      throw new Error(`context '${key}' must be a string, got ${JSON.stringify(value)}`);
    return value.trim();
  };

  const issuer = text('oidcIssuer');
  const audience = text('oidcAudience');
  if ((issuer === undefined) !== (audience === undefined)) {
    throw new Error('context oidcIssuer and oidcAudience go together: set both or neither');
  }
  const oidc =
    issuer && audience
      ? {
          issuer,
          audience: audience
            .split(',')
            .map((aud) => aud.trim())
            .filter((aud) => aud !== ''),
        }
      : undefined;

  const removalName = text('removalPolicy');
  const removalPolicy = removalName === undefined ? undefined : REMOVAL_POLICIES[removalName.toLowerCase()];
  if (removalName !== undefined && removalPolicy === undefined) {
    throw new Error(
      `context removalPolicy '${removalName}' must be one of: ${Object.keys(REMOVAL_POLICIES).join(', ')}`,
    );
  }

  const account = text('account');
  const region = text('region');
  // Deliberately not CDK_DEFAULT_ACCOUNT/REGION: copying them would pin the stacks to whatever
  // the CLI guessed (us-east-1 with no AWS config).
  if (account !== undefined && !ACCOUNT_PATTERN.test(account)) {
    throw new Error(`context account '${account}' must be a 12-digit AWS account id`);
  }
  if (region !== undefined && !REGION_PATTERN.test(region)) {
    throw new Error(`context region '${region}' must be an AWS region name, e.g. eu-west-1`);
  }
  const env = account || region ? { account, region } : undefined;

  const engine = text('policyEngine');
  if (engine !== undefined && engine !== 'cedar' && engine !== 'opa') {
    throw new Error(`context policyEngine '${engine}' must be 'cedar' or 'opa'`);
  }

  const alerts = Object.fromEntries(
    (['pageEmail', 'pageUrl', 'ticketEmail', 'ticketUrl', 'alarmEmail'] as const).flatMap((key) => {
      const value = text(key);
      return value ? [[key, value]] : [];
    }),
  ) as Pick<ConductorAppProps, 'pageEmail' | 'pageUrl' | 'ticketEmail' | 'ticketUrl' | 'alarmEmail'>;
  const evidenceRetentionDays = retentionDaysFromContext(node.tryGetContext('evidenceRetentionDays'));
  const evidenceBreakGlassRoleArn = text('evidenceBreakGlassRoleArn');
  if (evidenceBreakGlassRoleArn !== undefined) assertBreakGlassRoleArn(evidenceBreakGlassRoleArn);
  const runbookSigners = roleArnsFromContext('runbookSigners', node.tryGetContext('runbookSigners'));
  const runbookAllowedLambdas = listFromContext(
    'runbookAllowedLambdas',
    node.tryGetContext('runbookAllowedLambdas'),
  );
  const runbookAllowedAwsApis = listFromContext(
    'runbookAllowedAwsApis',
    node.tryGetContext('runbookAllowedAwsApis'),
  );
  const stepUpAcr = text('stepUpAcr')
    ?.split(',')
    .map((value) => value.trim())
    .filter(Boolean);

  const machineClients = text('machineClients');
  const weightsText = text('schedulerTenantWeights');
  const schedulerTenantWeights =
    weightsText === undefined ? undefined : parseTenantWeightsContext(weightsText);
  const authDomainPrefix = text('authDomainPrefix');
  const complianceCatalogDir = text('complianceCatalogDir');
  const tracing = text('tracing')?.toLowerCase();
  if (tracing !== undefined && tracing !== 'active' && tracing !== 'pass-through') {
    throw new Error(`context tracing '${tracing}' must be 'active' or 'pass-through'`);
  }
  const platformLogs = text('platformLogs')?.toUpperCase();
  if (platformLogs !== undefined && platformLogs !== 'INFO' && platformLogs !== 'WARN') {
    throw new Error(`context platformLogs '${platformLogs.toLowerCase()}' must be 'info' or 'warn'`);
  }
  const telemetry: FunctionTelemetry = {
    ...(tracing ? { tracing } : {}),
    ...(platformLogs ? { platformLogLevel: platformLogs } : {}),
  };

  const edgeKeys = ['domainName', 'certificateArn', 'webAclArn', 'distributionCertificateArn'] as const;
  const edgeEntries = edgeKeys.flatMap((key) => {
    const value = text(key);
    return value ? [[key, key === 'domainName' ? value.toLowerCase() : value] as const] : [];
  });
  const edge = edgeEntries.length > 0 ? (Object.fromEntries(edgeEntries) as EdgeSettings) : undefined;
  const edgeWafFlag = text('edgeWaf');
  if (edgeWafFlag !== undefined && edgeWafFlag !== 'true' && edgeWafFlag !== 'false') {
    throw new Error(`context edgeWaf '${edgeWafFlag}' must be 'true' or 'false'`);
  }
  const wafRateLimit = wholeNumber(text('wafRateLimit'), 'wafRateLimit');
  const reservedText = text('reservedConcurrency');
  const reservedConcurrency = reservedText === undefined ? undefined : parseReservedConcurrency(reservedText);
  const accountConcurrency = wholeNumber(text('accountConcurrency'), 'accountConcurrency');

  return {
    stage: text('stage'),
    oidc,
    removalPolicy,
    env,
    ...(engine ? { policyEngine: engine } : {}),
    ...alerts,
    ...(evidenceRetentionDays === undefined ? {} : { evidenceRetentionDays }),
    ...(evidenceBreakGlassRoleArn ? { evidenceBreakGlassRoleArn } : {}),
    ...(runbookSigners.length > 0 ? { runbookSigners } : {}),
    ...(runbookAllowedLambdas.length > 0 ? { runbookAllowedLambdas } : {}),
    ...(runbookAllowedAwsApis.length > 0 ? { runbookAllowedAwsApis } : {}),
    ...(stepUpAcr && stepUpAcr.length > 0 ? { stepUpAcr } : {}),
    ...(machineClients ? { machineClients: parseMachineClientsContext(machineClients) } : {}),
    ...(schedulerTenantWeights ? { schedulerTenantWeights } : {}),
    ...(authDomainPrefix ? { authDomainPrefix } : {}),
    ...(complianceCatalogDir ? { complianceCatalogDir } : {}),
    ...(Object.keys(telemetry).length > 0 ? { telemetry } : {}),
    ...(edge ? { edge } : {}),
    ...(edgeWafFlag === 'true'
      ? { edgeWaf: wafRateLimit === undefined ? {} : { rateLimit: wafRateLimit } }
      : {}),
    ...(reservedConcurrency === undefined ? {} : { reservedConcurrency }),
    ...(accountConcurrency === undefined ? {} : { accountConcurrency }),
  };
};

/** `schedulerTenantWeights`: `<tenant>=<weight>[,<tenant>=<weight>]`, each weight 1 to MAX_TENANT_WEIGHT. */
export const parseTenantWeightsContext = (text: string): Record<string, number> => {
  const entries = text.split(',').map((entry) => {
    const match = /^\s*([^=\s]+)=([0-9]{1,3})\s*$/.exec(entry);
    if (!match) throw new Error(`context schedulerTenantWeights entry '${entry}' must be <tenant>=<weight>`);
    return [match[1] as string, Number(match[2])] as const;
  });
  const parsed = tenantWeightsSchema.safeParse(Object.fromEntries(entries));
  if (!parsed.success) {
    throw new Error(
      `context schedulerTenantWeights '${text}': tenant ids as the API takes them, weights from 1 to ${MAX_TENANT_WEIGHT}`,
    );
  }
  return parsed.data;
};

/** A context value that must be a whole number, when given. */
const wholeNumber = (value: string | undefined, key: string): number | undefined => {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,10}$/.test(value.trim()))
    throw new Error(`context ${key} '${value}' must be a whole number`);
  return Number(value.trim());
};

/** `reservedConcurrency`: `false`, or `name=n[,name=n]` with n a whole number of at least 1. */
export const parseReservedConcurrency = (text: string): false | Record<string, number> => {
  if (text.trim() === 'false') return false;
  const entries = text.split(',').map((entry) => {
    const match = /^\s*([a-z][a-z0-9-]*)=([1-9][0-9]{0,4})\s*$/.exec(entry);
    if (!match)
      throw new Error(
        `context reservedConcurrency entry '${entry}' must be <function>=<n> (n >= 1), or the whole value false`,
      );
    return [match[1] as string, Number(match[2])] as const;
  });
  return Object.fromEntries(entries);
};

/**
 * A list from context: comma-separated text (`-c key=a,b`) or a list of strings (cdk.json), trimmed,
 * empty entries and duplicates dropped. The values are checked where they are used.
 */
const listFromContext = (key: string, value: unknown): string[] => {
  if (value === undefined || value === null || value === '') return [];
  const entries =
    typeof value === 'string'
      ? value.split(',')
      : Array.isArray(value) && value.every((entry) => typeof entry === 'string')
        ? (value as string[])
        : undefined;
  if (!entries) {
    throw new Error(
      `context '${key}' must be comma-separated text or a list of strings, got ${JSON.stringify(value)}`,
    );
  }
  return [...new Set(entries.map((entry) => entry.trim()).filter((entry) => entry !== ''))];
};

/**
 * IAM role ARNs from context: comma-separated text (`-c key=arn1,arn2`) or a list of strings
 * (cdk.json). Each must be a role ARN; duplicates are dropped.
 */
const roleArnsFromContext = (key: string, value: unknown): string[] => {
  const arns = listFromContext(key, value);
  for (const arn of arns) assertRoleArn(key, arn);
  return arns;
};

/** `evidenceRetentionDays` as `-c` gives it (text) or cdk.json may (a number). */
const retentionDaysFromContext = (value: unknown): number | undefined => {
  if (value === undefined || value === null || value === '') return undefined;
  const days =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\s*\d+\s*$/.test(value)
        ? Number(value)
        : Number.NaN;
  if (Number.isNaN(days)) {
    throw new Error(`context evidenceRetentionDays ${JSON.stringify(value)} must be a whole number of days`);
  }
  assertRetentionDays(days);
  return days;
};

/** What a deploy needs besides the props: both the CLI and its tests see this message. */
const STAGE_REQUIRED = [
  "context 'stage' is required: name the stage to deploy, e.g.",
  '  npx cdk deploy --all -c stage=dev',
  '  npx cdk deploy --all -c stage=prod -c account=<12-digit account id> -c region=<region>',
  'Production stages (prod, production, prod-*, production-*) also need account and region.',
].join('\n');

/**
 * The props of `cdk synth` / `cdk deploy` (bin/app.ts): propsFromContext, and the rules that keep a
 * deploy from landing somewhere by accident. The stage is required (no context no longer means
 * "prod in whatever account the CLI holds"). A production stage must name its account and region,
 * so that the CLI refuses credentials of another account (the stacks are environment-bound), and
 * cannot take removalPolicy=destroy.
 */
export const deployPropsFromContext = (node: Node): ConductorAppProps & { readonly stage: string } => {
  const props = propsFromContext(node);
  const stage = props.stage;
  if (stage === undefined) throw new Error(STAGE_REQUIRED);
  if (isProductionStage(stage)) {
    const missing = [
      ...(props.env?.account ? [] : ['-c account=<12-digit account id>']),
      ...(props.env?.region ? [] : ['-c region=<region>']),
    ];
    if (missing.length > 0) {
      throw new Error(
        `stage '${stage}' is a production stage: pin it to its account and region with ${missing.join(' and ')} (the CLI then refuses credentials of any other account)`,
      );
    }
    if (props.removalPolicy === RemovalPolicy.DESTROY) {
      throw new Error(`removalPolicy=destroy is refused on stage '${stage}', a production stage`);
    }
  }
  return { ...props, stage };
};

export { isProductionStage };
