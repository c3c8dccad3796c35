import { type App, type Environment, RemovalPolicy, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Node } from 'constructs';
import { ConductorApiStack, type MachineClientSpec, type OidcIssuerSettings } from './api-stack.js';
import type { PolicyEngineName } from './policy-layer.js';
import { ConductorStatefulStack } from './stateful-stack.js';

export interface ConductorAppProps {
  /**
   * Deployment stage: part of every stack, API, bus and pool name, so stages can share an account.
   *
   * @default 'prod'
   */
  readonly stage?: string;
  /**
   * Trust this OIDC issuer instead of creating a Cognito user pool.
   *
   * @default - a Cognito user pool in the API stack
   */
  readonly oidc?: OidcIssuerSettings;
  /**
   * Removal policy of tables, buckets, the data key, the user pool and log groups.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Account and region to pin the stacks to.
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
   * An email address subscribed to the alarm topic (queue DLQs not empty, queue messages too old).
   *
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * `acr` values that count as step-up (MFA) for sensitive actions, besides an `amr` with `mfa`:
   * e.g. `urn:cognito:loa:2` with Cognito's authentication levels, or your issuer's.
   *
   * @default - none
   */
  readonly stepUpAcr?: readonly string[];
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
}

export interface ConductorApp {
  readonly stateful: ConductorStatefulStack;
  readonly api: ConductorApiStack;
}

const STAGE_PATTERN = /^[a-z][a-z0-9-]{0,19}$/;
/** Enough to catch a typo or a list; SNS checks the rest when it sends the confirmation. */
const EMAIL_PATTERN = /^[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+$/;

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
  const env = props.env;

  const stateful = new ConductorStatefulStack(app, `Conductor-${stage}-Stateful`, {
    stage,
    env,
    description: `Conductor ${stage}: tables, data key, evidence and artifacts buckets, queues and their alarms, event bus`,
    removalPolicy: props.removalPolicy,
    alarmEmail: props.alarmEmail,
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
    ...(props.machineClients ? { machineClients: props.machineClients } : {}),
    ...(props.authDomainPrefix ? { authDomainPrefix: props.authDomainPrefix } : {}),
  });

  Tags.of(app).add('conductor:stage', stage);
  Tags.of(app).add('conductor:app', 'conductor');
  if (props.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { stateful, api };
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
 * `policyEngine`, `alarmEmail`, `stepUpAcr` (comma-separated), `machineClients`
 * (`<name>=<tenant>:<role>[+<role>]`, comma-separated), `authDomainPrefix`.
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
  const env = account || region ? { account, region } : undefined;

  const engine = text('policyEngine');
  if (engine !== undefined && engine !== 'cedar' && engine !== 'opa') {
    throw new Error(`context policyEngine '${engine}' must be 'cedar' or 'opa'`);
  }

  const alarmEmail = text('alarmEmail');
  const stepUpAcr = text('stepUpAcr')
    ?.split(',')
    .map((value) => value.trim())
    .filter(Boolean);

  const machineClients = text('machineClients');
  const authDomainPrefix = text('authDomainPrefix');

  return {
    stage: text('stage'),
    oidc,
    removalPolicy,
    env,
    ...(engine ? { policyEngine: engine } : {}),
    ...(alarmEmail ? { alarmEmail } : {}),
    ...(stepUpAcr && stepUpAcr.length > 0 ? { stepUpAcr } : {}),
    ...(machineClients ? { machineClients: parseMachineClientsContext(machineClients) } : {}),
    ...(authDomainPrefix ? { authDomainPrefix } : {}),
  };
};
