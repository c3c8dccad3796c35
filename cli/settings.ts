import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { decodeJwt } from 'jose';
import { type CliIo, UsageError } from './command.js';

/**
 * Where the API URL and the token come from, first match wins:
 *   URL:   --api, then CONDUCTOR_API, then the `conductor login` file, then the URL `npm start` wrote
 *          into .conductor/tokens.env (first, with --as), then http://127.0.0.1:4000/api/conductor/v1;
 *   token: --token or --as (a demo identity of .conductor/tokens.env), then CONDUCTOR_TOKEN,
 *          then the `conductor login` file.
 */
export const LOCAL_API_URL = 'http://127.0.0.1:4000/api/conductor/v1';

export interface SettingsFlags {
  readonly api?: string | undefined;
  readonly token?: string | undefined;
  readonly as?: string | undefined;
}

export interface Resolved<T> {
  readonly value: T;
  readonly source: string;
}

export interface StoredLogin {
  readonly apiUrl: string;
  readonly token: string;
  readonly savedAt: string;
}

/** `conductor login` writes here: CONDUCTOR_CONFIG, or $XDG_CONFIG_HOME/conductor/config.json. */
export const configFileOf = (io: CliIo): string =>
  io.env.CONDUCTOR_CONFIG ??
  join(io.env.XDG_CONFIG_HOME ?? join(io.env.HOME ?? homedir(), '.config'), 'conductor', 'config.json');

/** `npm start` writes the demo tokens here: CONDUCTOR_TOKENS_FILE, or .conductor/tokens.env. */
export const tokensFileOf = (io: CliIo): string =>
  resolve(io.cwd, io.env.CONDUCTOR_TOKENS_FILE ?? join('.conductor', 'tokens.env'));

export const readStoredLogin = (io: CliIo): StoredLogin | undefined => {
  const file = configFileOf(io);
  if (!existsSync(file)) return undefined;
  const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<StoredLogin>;
  if (typeof value.apiUrl !== 'string' || typeof value.token !== 'string') return undefined;
  return { apiUrl: value.apiUrl, token: value.token, savedAt: String(value.savedAt ?? '') };
};

export const writeStoredLogin = (io: CliIo, login: StoredLogin): string => {
  const file = configFileOf(io);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
};

export interface DemoTokensFile {
  /** The URL `npm start` served, when it wrote one (`export API='…'`). */
  readonly api: string | undefined;
  /** Demo tokens by label (`ACME_OPERATOR_TOKEN` is `acme-operator`). */
  readonly tokens: ReadonlyMap<string, string>;
}

/** The demo identities `npm start` wrote, or undefined when there is no such file. */
export const readTokensFile = (io: CliIo): DemoTokensFile | undefined => {
  const file = tokensFileOf(io);
  if (!existsSync(file)) return undefined;
  let api: string | undefined;
  const tokens = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^(?:export\s+)?([A-Z0-9_]+)=['"]?([^'"\s]+)['"]?\s*$/.exec(line.trim());
    if (!match?.[1] || !match[2]) continue;
    if (match[1] === 'API') api = match[2];
    else if (match[1].endsWith('_TOKEN'))
      tokens.set(match[1].slice(0, -'_TOKEN'.length).toLowerCase().replace(/_/g, '-'), match[2]);
  }
  return { api, tokens };
};

export const readDemoTokens = (io: CliIo): ReadonlyMap<string, string> => {
  const file = readTokensFile(io);
  if (!file)
    throw new UsageError(
      `no demo tokens at ${tokensFileOf(io)}: start Conductor with 'npm start' in this folder (or set CONDUCTOR_TOKENS_FILE)`,
    );
  return file.tokens;
};

export const demoToken = (io: CliIo, label: string): string => {
  const tokens = readDemoTokens(io);
  const token = tokens.get(label);
  if (!token)
    throw new UsageError(`no demo identity '${label}'; there are: ${[...tokens.keys()].join(', ')}`);
  return token;
};

export const resolveApiUrl = (flags: SettingsFlags, io: CliIo): Resolved<string> => {
  if (flags.api) return { value: flags.api, source: '--api' };
  if (io.env.CONDUCTOR_API) return { value: io.env.CONDUCTOR_API, source: 'CONDUCTOR_API' };
  // A demo identity belongs to the runtime that wrote it: use the URL that runtime served.
  const local = readTokensFile(io)?.api;
  if (flags.as && local) return { value: local, source: tokensFileOf(io) };
  const stored = readStoredLogin(io);
  if (stored) return { value: stored.apiUrl, source: configFileOf(io) };
  if (local) return { value: local, source: tokensFileOf(io) };
  return { value: LOCAL_API_URL, source: 'the local default (npm start)' };
};

export const resolveToken = (flags: SettingsFlags, io: CliIo): Resolved<string> | undefined => {
  if (flags.token && flags.as) throw new UsageError('pass --token or --as, not both');
  if (flags.token) return { value: flags.token, source: '--token' };
  if (flags.as) return { value: demoToken(io, flags.as), source: `--as ${flags.as} (${tokensFileOf(io)})` };
  if (io.env.CONDUCTOR_TOKEN) return { value: io.env.CONDUCTOR_TOKEN, source: 'CONDUCTOR_TOKEN' };
  const stored = readStoredLogin(io);
  if (stored) return { value: stored.token, source: configFileOf(io) };
  return undefined;
};

export const NO_TOKEN_HELP = `no token: pass --token <jwt>, set CONDUCTOR_TOKEN, run 'conductor login',
or against 'npm start' act as a demo identity with --as <label> ('conductor token' lists them)`;

/** What a token says about its bearer. Read, not verified: the API verifies it. */
export interface TokenClaims {
  readonly subject: string;
  readonly tenant: string | undefined;
  readonly roles: string[];
  readonly expiresAt: string | undefined;
  readonly expired: boolean;
}

const claimList = (value: unknown): string[] =>
  Array.isArray(value)
    ? value.map(String)
    : typeof value === 'string'
      ? value.split(/[\s,]+/).filter(Boolean)
      : [];

export const claimsOf = (token: string): TokenClaims => {
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwt(token);
  } catch {
    throw new UsageError('the token is not a JWT (header.payload.signature)');
  }
  const tenant = [claims.tenant, claims['custom:tenant']].find((value) => typeof value === 'string');
  const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
  return {
    subject: typeof claims.sub === 'string' ? claims.sub : '',
    tenant: tenant as string | undefined,
    roles: [...new Set([...claimList(claims.roles), ...claimList(claims['cognito:groups'])])],
    expiresAt: exp === undefined ? undefined : new Date(exp * 1000).toISOString(),
    expired: exp !== undefined && exp * 1000 <= Date.now(),
  };
};
