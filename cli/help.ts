import type { Command, OptionSpecs } from './command.js';

/** Options every command takes. */
export const GLOBAL_OPTIONS: OptionSpecs = {
  api: {
    type: 'string',
    placeholder: '<url>',
    description: `API URL (else $CONDUCTOR_API, the 'conductor login' file, http://127.0.0.1:4000/api/conductor/v1)`,
  },
  token: {
    type: 'string',
    placeholder: '<jwt>',
    description: 'bearer token (else $CONDUCTOR_TOKEN, then the login file)',
  },
  as: {
    type: 'string',
    placeholder: '<label>',
    description: `act as a demo identity of 'npm start' (.conductor/tokens.env), e.g. acme-operator`,
  },
  tenant: {
    type: 'string',
    placeholder: '<tenant>',
    description: 'act in another tenant (X-Conductor-Tenant; needs an approved grant)',
  },
  json: { type: 'boolean', description: 'print JSON for machines (errors too, on stderr)' },
  quiet: { type: 'boolean', short: 'q', description: 'no progress notes on stderr' },
  help: { type: 'boolean', short: 'h', description: 'show help for this command' },
};

const optionLines = (options: OptionSpecs): string[] => {
  const entries = Object.entries(options).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.placeholder ? ` ${spec.placeholder}` : ''}`;
    return [flag, `${spec.description}${spec.multiple ? ' (repeatable)' : ''}`] as const;
  });
  const width = Math.max(...entries.map(([flag]) => flag.length));
  return entries.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`);
};

export const helpOf = (command: Command, path: readonly string[]): string => {
  const name = path.join(' ');
  const lines = [`${name} — ${command.summary}`, ''];
  if (command.subcommands) {
    lines.push(`Usage: ${name} <command> [options]`, '', 'Commands:');
    const width = Math.max(...command.subcommands.map((sub) => sub.name.length));
    for (const sub of command.subcommands) lines.push(`  ${sub.name.padEnd(width)}  ${sub.summary}`);
    lines.push('', `Run '${name} <command> --help' for a command's options.`);
  } else {
    lines.push(`Usage: ${name}${command.arguments ? ` ${command.arguments}` : ''} [options]`);
  }
  if (command.details) lines.push('', command.details.trim());
  if (command.options && Object.keys(command.options).length > 0)
    lines.push('', 'Options:', ...optionLines(command.options));
  lines.push('', 'Global options:', ...optionLines(GLOBAL_OPTIONS));
  if (command.examples && command.examples.length > 0)
    lines.push('', 'Examples:', ...command.examples.map((example) => `  ${example}`));
  return `${lines.join('\n')}\n`;
};
