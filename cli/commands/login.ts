import { createConductorClient, unwrap } from '../../clients/typescript/index.js';
import { type Command, UsageError } from '../command.js';
import { booleanOption, stringOption } from '../input.js';
import { fields, list } from '../output.js';
import { claimsOf, writeStoredLogin } from '../settings.js';

export const loginCommand: Command = {
  name: 'login',
  summary: 'remember an API URL and a token (e.g. a Cognito ID token) for later commands',
  details: `The CLI does not sign you in: it stores a token you obtained, after checking the API accepts it.
On AWS, docs/deploy.md shows how a person gets an ID token (Cognito managed login with PKCE; the
API takes the ID token, which carries custom:tenant and cognito:groups) and how a service gets a
client-credentials token. With your own OIDC issuer, use a token it signs. Then:

  conductor login --api <ApiUrl> --token-stdin < id-token.txt

Tokens expire (an ID token after 1 hour): log in again with a fresh one. The file is written with
mode 0600 to $CONDUCTOR_CONFIG or $XDG_CONFIG_HOME/conductor/config.json (~/.config/conductor/config.json).
Flags and CONDUCTOR_API / CONDUCTOR_TOKEN still win over it.`,
  options: {
    'token-stdin': {
      type: 'boolean',
      description: 'read the token from standard input (keeps it out of shell history)',
    },
    'skip-check': {
      type: 'boolean',
      description: 'store without asking the API whether it accepts the token',
    },
  },
  examples: [
    'conductor login --api https://abc123.execute-api.eu-west-1.amazonaws.com/ --token-stdin < id-token.txt',
  ],
  run: async (invocation) => {
    const { context } = invocation;
    const apiUrl = stringOption(invocation, 'api') ?? context.io.env.CONDUCTOR_API;
    if (!apiUrl) throw new UsageError('--api <url> is required (the ApiUrl output of the CDK app)');
    const token = booleanOption(invocation, 'token-stdin')
      ? (await context.io.readStdin()).trim()
      : (stringOption(invocation, 'token') ?? context.io.env.CONDUCTOR_TOKEN);
    if (!token) throw new UsageError('give the token with --token-stdin (or --token <jwt>)');
    const claims = claimsOf(token);
    if (claims.expired) throw new UsageError(`the token expired at ${claims.expiresAt}: get a fresh one`);
    if (!booleanOption(invocation, 'skip-check')) {
      context.progress(`checking the token against ${apiUrl}`);
      // Any answer but 401 means the gateway took the token; a 403 is only this role's permissions.
      const client = createConductorClient({ apiUrl, token });
      await unwrap(client.GET('/api/conductor/v1/health'));
      const probe = await client.GET('/api/conductor/v1/experts', { params: { query: { limit: 1 } } });
      if (probe.response.status === 401) await unwrap(Promise.resolve(probe));
    }
    const file = writeStoredLogin(context.io, { apiUrl, token, savedAt: new Date().toISOString() });
    context.print({ file, apiUrl, ...claims }, () =>
      fields([
        ['saved', `${file} (mode 0600)`],
        ['api', apiUrl],
        ['subject', claims.subject],
        ['tenant', claims.tenant ?? '-'],
        ['roles', list(claims.roles)],
        ['expires', claims.expiresAt ?? '-'],
      ]),
    );
  },
};
