import * as z from 'zod';
import { type Principal, type Role, roleSchema, tenantIdSchema } from '../ports/identity.js';

/**
 * What API Gateway HTTP API does to a token's claims before the Lambda sees them: an array becomes
 * "[a b]", a number or boolean its text, an object its JSON; null and undefined claims are dropped.
 * The embedded gateway and the test event builder both use it, so a handler sees locally what it
 * will see on AWS.
 */
export const flattenClaims = (claims: Readonly<Record<string, unknown>>): Record<string, string> => {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(claims)) {
    if (value === undefined || value === null) continue;
    // An element that is an object goes in as its JSON: String() of an object whose own `toString`
    // is not a function (a claim `[{"toString": null}]`) throws, and a token must not 500 the gateway.
    if (Array.isArray(value))
      flat[name] =
        `[${value.map((item) => (typeof item === 'object' && item !== null ? JSON.stringify(item) : String(item))).join(' ')}]`;
    else if (typeof value === 'object') flat[name] = JSON.stringify(value);
    else flat[name] = String(value);
  }
  return flat;
};

/**
 * Reads a list claim in the form `flattenClaims` leaves it ("[a b c]"), and as a real array or a
 * comma-separated string. For `amr` and `scope`, whose values are fixed tokens; never for roles
 * (see `rolesOf`).
 */
export const claimList = (value: unknown): string[] => {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.map(String);
  const text = String(value).trim();
  if (text === '') return [];
  const inner = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  return inner.split(/[\s,]+/).filter((part) => part.length > 0);
};

/** Claim names differ between issuers (Cognito puts custom claims under `custom:`). */
const TENANT_CLAIMS = ['tenant', 'custom:tenant'] as const;

/**
 * The one claim the roles are read from (CONDUCTOR_ROLES_CLAIM): by default Cognito's
 * `cognito:groups`, which the CDK app's user pool fills with groups named after the roles and which
 * only a pool administrator can change. Set it to another claim for another issuer; never to a
 * claim the user can write (a Cognito `custom:` attribute the app client may write).
 */
export const ROLES_CLAIM_ENV = 'CONDUCTOR_ROLES_CLAIM';
export const DEFAULT_ROLES_CLAIM = 'cognito:groups';
export const rolesClaimFromEnv = (): string => process.env[ROLES_CLAIM_ENV]?.trim() || DEFAULT_ROLES_CLAIM;

const isRole = (name: string): name is Role => roleSchema.safeParse(name).success;

/**
 * The roles of a roles claim, read exactly: every value must be a role name as it is, or the token
 * has no role at all (the policy then refuses it, 403). A real array, API Gateway's flattened form
 * of one ("[a b]", values joined by one space) or a single bare name. Nothing is split on commas,
 * and an unknown value refuses the whole claim rather than being skipped: a group named
 * "x admin" reaches the function as "[x admin]", which cannot be told from the groups "x" and
 * "admin", and "viewer,tenant-admin" must not become two roles. The one name the flattened form
 * still hides is role names joined by single spaces ("viewer admin"): only administrators may name
 * groups (Cognito: only they can), or the function verifies the token itself and reads the array.
 */
export const rolesOf = (value: unknown): Role[] => {
  if (value === undefined || value === null) return [];
  let names: unknown[];
  if (Array.isArray(value)) names = value;
  else if (typeof value !== 'string') return [];
  else if (value.startsWith('[') && value.endsWith(']')) {
    const inner = value.slice(1, -1);
    names = inner === '' ? [] : inner.split(' ');
  } else names = [value];
  const roles: Role[] = [];
  for (const name of names) {
    if (typeof name !== 'string' || !isRole(name)) return [];
    if (!roles.includes(name)) roles.push(name);
  }
  return roles;
};

/**
 * Services (machine clients) may hold these roles and no others: the Cognito pool the CDK app creates
 * counts every token it signs as stepped up (CONDUCTOR_ISSUER_ENFORCES_MFA), and a machine never
 * did MFA, so no machine may reach a role whose actions need step-up.
 */
export const MACHINE_ROLES = ['viewer', 'operator'] as const satisfies readonly Role[];
export type MachineRole = (typeof MACHINE_ROLES)[number];
/** The resource server of the machine scopes: a client-credentials token asks for `conductor/<role>`. */
export const MACHINE_SCOPE_SERVER = 'conductor';
export const machineScope = (role: MachineRole): string => `${MACHINE_SCOPE_SERVER}/${role}`;

/** One service's binding: its OAuth client id, the tenant it acts in and the roles it may use. */
export interface MachineClient {
  readonly clientId: string;
  readonly tenant: string;
  readonly roles: readonly MachineRole[];
}

const machineClientsSchema = z.array(
  z.object({
    clientId: z.string().min(1),
    tenant: tenantIdSchema,
    roles: z.array(z.enum(MACHINE_ROLES)).min(1),
  }),
);

/** The environment variable that carries the bindings (JSON array of MachineClient), set by the deployment. */
export const MACHINE_CLIENTS_ENV = 'CONDUCTOR_MACHINE_CLIENTS';

/** Reads the bindings; throws, naming the variable, when they are not a valid list. */
export const parseMachineClients = (text: string | undefined): ReadonlyMap<string, MachineClient> => {
  if (text === undefined || text.trim() === '') return new Map();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${MACHINE_CLIENTS_ENV} is not JSON`);
  }
  const result = machineClientsSchema.safeParse(parsed);
  if (!result.success) {
    throw new Error(
      `${MACHINE_CLIENTS_ENV} is not a list of {clientId, tenant, roles}: ${result.error.message}`,
    );
  }
  const clients = new Map<string, MachineClient>();
  for (const client of result.data) {
    if (clients.has(client.clientId))
      throw new Error(`${MACHINE_CLIENTS_ENV} binds client '${client.clientId}' twice`);
    clients.set(client.clientId, client);
  }
  return clients;
};

let fromEnv: { text: string | undefined; clients: ReadonlyMap<string, MachineClient> } | undefined;
/** The bindings of this process's environment, parsed once (again only if the variable changes). */
export const machineClientsFromEnv = (): ReadonlyMap<string, MachineClient> => {
  const text = process.env[MACHINE_CLIENTS_ENV];
  if (fromEnv === undefined || fromEnv.text !== text) fromEnv = { text, clients: parseMachineClients(text) };
  return fromEnv.clients;
};

type PrincipalResult = { ok: true; principal: Principal } | { ok: false; reason: string };

/**
 * A client-credentials token (Cognito: `sub` = `client_id`, `scope`, no custom claims) of a bound
 * client: the tenant comes from the binding only, the roles are the bound roles its scopes grant.
 */
const machinePrincipal = (
  claims: Readonly<Record<string, unknown>>,
  client: MachineClient,
): PrincipalResult => {
  if (claims.sub !== client.clientId) return { ok: false, reason: 'machine token subject is not its client' };
  const claimed = TENANT_CLAIMS.map((name) => claims[name]).find((value) => value !== undefined);
  if (claimed !== undefined && claimed !== client.tenant) {
    return { ok: false, reason: 'token tenant claim contradicts its client binding' };
  }
  const granted = new Set(claimList(claims.scope));
  const roles = client.roles.filter((role) => granted.has(machineScope(role)));
  return { ok: true, principal: { subject: client.clientId, tenantId: client.tenant, roles, amr: [] } };
};

/**
 * Builds the principal from gateway claims (or a verified token's own), or returns a reason it
 * cannot. The roles come from the one roles claim, read exactly (`rolesOf`); a token without a
 * tenant is no identity at all. A token whose `client_id` is a bound machine client
 * (CONDUCTOR_MACHINE_CLIENTS) takes its tenant and roles from that binding, never from its own
 * claims: the client id is signed by the issuer, a caller cannot set it.
 */
export const principalFromClaims = (
  claims: Readonly<Record<string, unknown>> | undefined,
  machineClients: ReadonlyMap<string, MachineClient> = machineClientsFromEnv(),
  rolesClaim: string = rolesClaimFromEnv(),
): PrincipalResult => {
  if (!claims) return { ok: false, reason: 'no verified claims' };
  const subject = typeof claims.sub === 'string' ? claims.sub : '';
  if (subject === '') return { ok: false, reason: 'token has no subject' };
  const machine = typeof claims.client_id === 'string' ? machineClients.get(claims.client_id) : undefined;
  if (machine) return machinePrincipal(claims, machine);
  const tenantRaw = TENANT_CLAIMS.map((name) => claims[name]).find((value) => typeof value === 'string');
  const tenant = tenantIdSchema.safeParse(tenantRaw);
  if (!tenant.success) return { ok: false, reason: 'token has no valid tenant claim' };
  const roles = rolesOf(claims[rolesClaim]);
  return {
    ok: true,
    principal: {
      subject,
      tenantId: tenant.data,
      roles,
      amr: claimList(claims.amr),
      ...(typeof claims.acr === 'string' && claims.acr !== '' ? { acr: claims.acr } : {}),
      ...authTimeOf(claims.auth_time),
    },
  };
};

/** `auth_time` as a number (API Gateway passes claims as strings); nothing when it is not one. */
const authTimeOf = (value: unknown): { authTime?: number } => {
  const seconds =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^[0-9]{1,12}$/.test(value)
        ? Number(value)
        : Number.NaN;
  return Number.isSafeInteger(seconds) && seconds > 0 ? { authTime: seconds } : {};
};
