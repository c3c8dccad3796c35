import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import {
  MACHINE_ROLES,
  type MachineClient,
  type MachineRole,
  machineScope,
  rolesClaimFromEnv,
} from '#shared/http/claims.js';
import { makeJwtVerifier as makeTokenVerifier } from '#shared/http/jwt-verify.js';
import type { Role } from '#shared/ports/identity.js';

export { TokenRejectedError } from '#shared/http/jwt-verify.js';

/**
 * A local OIDC issuer standing in for Cognito: an RS256 key pair (kept under .conductor/ so tokens
 * survive a restart), its JWKS, and token minting for demo principals, their roles in the roles
 * claim the kernel reads (CONDUCTOR_ROLES_CLAIM, `cognito:groups` by default, as Cognito puts
 * them). The embedded gateway verifies tokens as API Gateway's JWT authorizer does (signature
 * against the JWKS by `kid`, `iss`, `aud`, `exp`/`nbf`/`iat`, RS256 only), and stricter: `exp`,
 * `iat` and `kid` are required and a token older than 24 hours is refused, whatever its `exp`
 * (`#shared/http/jwt-verify.js`).
 */
export const LOCAL_AUDIENCE = 'conductor';
const KID = 'conductor-local-1';

/** Where the local issuer takes client-credentials requests, as Cognito's `/oauth2/token`. */
export const TOKEN_PATH = '/local-oidc/oauth2/token';
/** Cognito's lifetime for the machine clients the CDK app creates (1 hour). */
const MACHINE_TOKEN_SECONDS = 3600;
/**
 * Lifetime of a minted user token, the demo tokens `npm start` prints included: 12 hours, a working
 * day, within the gateway's maximum token age (24 hours).
 */
export const DEMO_TOKEN_SECONDS = 12 * 3600;

/** A service registered with the local issuer: a client id and secret, bound to a tenant and roles. */
export interface LocalMachineClient extends MachineClient {
  readonly clientSecret: string;
}

/** The binding the kernel reads (CONDUCTOR_MACHINE_CLIENTS): the client without its secret. */
export const bindingOf = ({ clientId, tenant, roles }: LocalMachineClient): MachineClient => ({
  clientId,
  tenant,
  roles,
});

/**
 * The demo services: one per demo tenant, an operator. Read from `file` if it exists, else created
 * with fresh secrets and written there (mode 600), so a restart keeps them; in memory if undefined.
 */
export const loadMachineClients = (file?: string): LocalMachineClient[] => {
  if (file && existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as LocalMachineClient[];
  const clients = ['acme', 'globex'].map((tenant) => ({
    clientId: `${tenant}-service`,
    clientSecret: randomBytes(32).toString('base64url'),
    tenant,
    roles: ['viewer', 'operator'] satisfies MachineRole[],
  }));
  if (file) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(clients, null, 2), { mode: 0o600 });
  }
  return clients;
};

/** An OAuth token endpoint answer (RFC 6749 §5): the token, or an error code. */
export interface TokenReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ClientCredentialsRequest {
  /** The form fields of the request body (`grant_type`, `scope`, and `client_id`/`client_secret` for client_secret_post). */
  readonly form: URLSearchParams;
  /** The Authorization header, for client_secret_basic. */
  readonly authorization?: string;
}

const tokenError = (status: number, error: string, description: string): TokenReply => ({
  status,
  body: { error, error_description: description },
  ...(status === 401 ? { headers: { 'www-authenticate': 'Basic realm="local-oidc"' } } : {}),
});

const sameSecret = (given: string, expected: string): boolean =>
  timingSafeEqual(
    createHash('sha256').update(given).digest(),
    createHash('sha256').update(expected).digest(),
  );

/** The client id and secret of a request: HTTP Basic or form fields, not both (RFC 6749 §2.3.1). */
const credentialsOf = (
  request: ClientCredentialsRequest,
): { id: string; secret: string } | { error: TokenReply } | undefined => {
  const basic = /^Basic\s+(\S+)$/i.exec(request.authorization ?? '')?.[1];
  const formId = request.form.get('client_id');
  const formSecret = request.form.get('client_secret');
  if (basic !== undefined) {
    if (formSecret !== null) {
      return { error: tokenError(400, 'invalid_request', 'Use one client authentication method.') };
    }
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    try {
      return {
        id: decodeURIComponent(decoded.slice(0, colon)),
        secret: decodeURIComponent(decoded.slice(colon + 1)),
      };
    } catch {
      return undefined;
    }
  }
  if (formId !== null && formSecret !== null) return { id: formId, secret: formSecret };
  return undefined;
};

export interface DemoToken {
  readonly label: string;
  readonly tenant: string;
  readonly roles: readonly Role[];
  readonly token: string;
}

export interface TokenRequest {
  readonly subject: string;
  readonly tenant?: string;
  readonly roles?: readonly string[];
  readonly amr?: readonly string[];
  /** Lifetime in seconds (default DEMO_TOKEN_SECONDS, 12 hours). Negative values mint expired tokens, for tests. */
  readonly expiresInSeconds?: number;
  readonly audience?: string;
  /** Sign with this `iss` instead of the issuer's own (to test that other issuers are refused). */
  readonly issuer?: string;
  readonly extraClaims?: Readonly<Record<string, unknown>>;
  /** `iat` in epoch seconds instead of now (to test that a future `iat` is refused). */
  readonly issuedAt?: number;
  /** Leave these out of the token (to test that the gateway requires them). */
  readonly omit?: readonly ('exp' | 'iat' | 'kid')[];
  /** `auth_time` (when the person signed in) in epoch seconds; default: the token's `iat`. */
  readonly authTime?: number;
}

export class LocalIssuer {
  private constructor(
    readonly issuer: string,
    private readonly privateKey: Awaited<ReturnType<typeof importJWK>>,
    readonly jwks: JSONWebKeySet,
    /** The services it issues client-credentials tokens to. */
    readonly machineClients: readonly LocalMachineClient[],
  ) {}

  /**
   * Loads the key pair from `keyFile` (creating it on first start) or keeps it in memory if
   * undefined; `machineClients` may ask for client-credentials tokens.
   */
  static async create(
    issuer: string,
    keyFile?: string,
    machineClients: readonly LocalMachineClient[] = [],
  ): Promise<LocalIssuer> {
    let privateJwk: JWK;
    if (keyFile && existsSync(keyFile)) {
      privateJwk = JSON.parse(readFileSync(keyFile, 'utf8')) as JWK;
    } else {
      const pair = await generateKeyPair('RS256', { extractable: true });
      privateJwk = { ...(await exportJWK(pair.privateKey)), kid: KID, alg: 'RS256', use: 'sig' };
      if (keyFile) {
        mkdirSync(dirname(keyFile), { recursive: true });
        writeFileSync(keyFile, JSON.stringify(privateJwk), { mode: 0o600 });
      }
    }
    const { d, p, q, dp, dq, qi, ...publicJwk } = privateJwk;
    const privateKey = await importJWK(privateJwk, 'RS256');
    return new LocalIssuer(
      issuer,
      privateKey,
      { keys: [{ ...publicJwk, kid: KID, alg: 'RS256', use: 'sig' }] },
      machineClients,
    );
  }

  /** What the gateway accepts as `aud`, or as `client_id` of a token without `aud` (API Gateway's rule). */
  get audiences(): string[] {
    return [LOCAL_AUDIENCE, ...this.machineClients.map((client) => client.clientId)];
  }

  get openIdConfiguration(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      jwks_uri: `${this.issuer}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['token'],
      subject_types_supported: ['public'],
      token_endpoint: `${this.issuer}${TOKEN_PATH.slice('/local-oidc'.length)}`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: MACHINE_ROLES.map(machineScope),
    };
  }

  /**
   * The client-credentials grant as Cognito answers it: an access token with `sub` and `client_id`
   * the client, the granted `scope`, `token_use` access, no `aud` and no tenant or role claim (the
   * kernel reads those from the client's binding, as on AWS). Without `scope`, every allowed scope.
   */
  async clientCredentials(request: ClientCredentialsRequest): Promise<TokenReply> {
    const credentials = credentialsOf(request);
    if (credentials && 'error' in credentials) return credentials.error;
    const client = credentials && this.machineClients.find((known) => known.clientId === credentials.id);
    if (!credentials || !client || !sameSecret(credentials.secret, client.clientSecret)) {
      return tokenError(401, 'invalid_client', 'Client authentication failed.');
    }
    if (request.form.get('grant_type') !== 'client_credentials') {
      return tokenError(400, 'unsupported_grant_type', 'Only client_credentials is supported here.');
    }
    const allowed = client.roles.map(machineScope);
    const asked = (request.form.get('scope') ?? '').split(' ').filter((scope) => scope !== '');
    if (asked.some((scope) => !allowed.includes(scope))) {
      return tokenError(400, 'invalid_scope', 'A requested scope is not allowed for this client.');
    }
    const scope = (asked.length > 0 ? asked : allowed).join(' ');
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ client_id: client.clientId, scope, token_use: 'access' })
      .setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setSubject(client.clientId)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + MACHINE_TOKEN_SECONDS)
      .sign(this.privateKey);
    return {
      status: 200,
      body: { access_token: token, token_type: 'Bearer', expires_in: MACHINE_TOKEN_SECONDS },
    };
  }

  /** A user's token: its roles in the roles claim the kernel reads, valid 12 hours unless asked otherwise. */
  async mint(request: TokenRequest): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const lifetime = request.expiresInSeconds ?? DEMO_TOKEN_SECONDS;
    const omit = new Set(request.omit ?? []);
    const claims: JWTPayload = {
      ...(request.tenant ? { tenant: request.tenant } : {}),
      ...(request.roles ? { [rolesClaimFromEnv()]: [...request.roles] } : {}),
      ...(request.amr ? { amr: [...request.amr] } : {}),
      auth_time: request.authTime ?? request.issuedAt ?? (lifetime < 0 ? now + lifetime - 60 : now),
      ...request.extraClaims,
    };
    const token = new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', ...(omit.has('kid') ? {} : { kid: KID }), typ: 'JWT' })
      .setIssuer(request.issuer ?? this.issuer)
      .setAudience(request.audience ?? LOCAL_AUDIENCE)
      .setSubject(request.subject);
    if (!omit.has('iat')) token.setIssuedAt(request.issuedAt ?? (lifetime < 0 ? now + lifetime - 60 : now));
    if (!omit.has('exp')) token.setExpirationTime(now + lifetime);
    return token.sign(this.privateKey);
  }

  /** The demo principals printed at start: viewer, operator, tenant-admin and on-call (operator, MFA) of acme and globex, one org-admin. */
  async demoTokens(): Promise<DemoToken[]> {
    const specs: { label: string; tenant: string; roles: Role[]; amr?: string[] }[] = [];
    for (const tenant of ['acme', 'globex']) {
      specs.push({ label: `${tenant}-viewer`, tenant, roles: ['viewer'] });
      specs.push({ label: `${tenant}-operator`, tenant, roles: ['operator'] });
      specs.push({ label: `${tenant}-admin`, tenant, roles: ['tenant-admin'], amr: ['pwd', 'mfa'] });
      // An on-call engineer signed in with MFA: approves runbook stages that name the operator role.
      specs.push({ label: `${tenant}-oncall`, tenant, roles: ['operator'], amr: ['pwd', 'mfa'] });
    }
    specs.push({ label: 'org-admin', tenant: 'acme', roles: ['org-admin'], amr: ['pwd', 'mfa'] });
    return Promise.all(
      specs.map(async (spec) => ({
        label: spec.label,
        tenant: spec.tenant,
        roles: spec.roles,
        token: await this.mint({
          subject: `demo-${spec.label}`,
          tenant: spec.tenant,
          roles: spec.roles,
          ...(spec.amr ? { amr: spec.amr } : {}),
        }),
      })),
    );
  }
}

/**
 * Verifies a bearer token as API Gateway's JWT authorizer would, and stricter (see the top of this
 * file); returns its claims. The audience check is API Gateway's: `aud` must name one of
 * `audience`, or, only when there is no `aud` (an access token), `client_id` must be one of them.
 */
export const makeJwtVerifier = (options: {
  issuer: string;
  audience: string | readonly string[];
  jwks: JSONWebKeySet;
}): ((token: string) => Promise<JWTPayload>) =>
  makeTokenVerifier({
    issuer: options.issuer,
    audiences: typeof options.audience === 'string' ? [options.audience] : options.audience,
    keys: createLocalJWKSet(options.jwks),
  });

/** Largest token request body read: a form of a few fields. */
const TOKEN_REQUEST_MAX_BYTES = 8 * 1024;

/**
 * Serves `POST /local-oidc/oauth2/token` (form-encoded, as Cognito's token endpoint): reads the
 * body, answers with `issuer.clientCredentials` and `Cache-Control: no-store` (RFC 6749 §5.1).
 */
export const serveTokenRequest = async (
  issuer: LocalIssuer,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> => {
  const answer = (reply: TokenReply) => {
    const body = JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      pragma: 'no-cache',
      'content-length': String(Buffer.byteLength(body)),
      ...reply.headers,
    });
    res.end(body);
  };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > TOKEN_REQUEST_MAX_BYTES) {
      answer(tokenError(400, 'invalid_request', 'The request body is too large.'));
      return;
    }
    chunks.push(chunk);
  }
  if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) {
    answer(tokenError(400, 'invalid_request', 'The body must be application/x-www-form-urlencoded.'));
    return;
  }
  const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  answer(
    await issuer.clientCredentials({
      form,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    }),
  );
};
