import type { Command } from '../command.js';
import { list, table } from '../output.js';
import { claimsOf, demoToken, readDemoTokens, tokensFileOf } from '../settings.js';

export const tokenCommand: Command = {
  name: 'token',
  summary: `print a demo token of 'npm start' (--as <label>), or list the demo identities`,
  details: `Reads .conductor/tokens.env, which 'npm start' writes (CONDUCTOR_TOKENS_FILE points elsewhere).
These are local demo tokens, valid 12 hours; on AWS use 'conductor login'.`,
  examples: [
    'conductor token',
    'conductor token --as acme-operator',
    'export CONDUCTOR_TOKEN=$(conductor token --as acme-admin)',
  ],
  run: async ({ options, context }) => {
    const label = typeof options.as === 'string' ? options.as : undefined;
    if (label) {
      const token = demoToken(context.io, label);
      if (context.json) context.print({ label, token, ...claimsOf(token) }, () => token);
      else context.io.stdout.write(`${token}\n`);
      return;
    }
    const identities = [...readDemoTokens(context.io)].map(([name, token]) => ({
      label: name,
      token,
      ...claimsOf(token),
    }));
    context.print(
      identities,
      () =>
        `${table(
          ['label', 'tenant', 'roles', 'expires'],
          identities.map((identity) => [
            identity.label,
            identity.tenant ?? '-',
            list(identity.roles),
            `${identity.expiresAt ?? '-'}${identity.expired ? ' (expired: restart npm start)' : ''}`,
          ]),
        )}\n\nfrom ${tokensFileOf(context.io)}; use one with --as <label>`,
    );
  },
};
