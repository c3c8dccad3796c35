import { parseArgs } from 'node:util';
import { ConductorApiError, createConductorClient } from '../clients/typescript/index.js';
import packageJson from '../package.json' with { type: 'json' };
import {
  type CliContext,
  type CliIo,
  type Command,
  ExitCodeError,
  type OptionValues,
  UsageError,
} from './command.js';
import { COMMANDS } from './commands/index.js';
import { GLOBAL_OPTIONS, helpOf } from './help.js';
import { NO_TOKEN_HELP, resolveApiUrl, resolveToken, type SettingsFlags } from './settings.js';

/** Exit codes: 0 done; 1 the API answered 4xx/5xx or could not be reached; 2 a wrong command line. */
export const EXIT = { ok: 0, apiError: 1, usage: 2 } as const;

export const ROOT: Command = {
  name: 'conductor',
  summary: 'the Conductor command line: experts, routing, rewards, budgets and jobs, policies',
  details: `Reads the API URL and token from flags, then CONDUCTOR_API / CONDUCTOR_TOKEN, then the file
'conductor login' writes; against 'npm start', --as <label> uses a demo identity from .conductor/tokens.env.
Exit codes: 0 done; 1 the API answered with an error (printed as {code, message, traceId}) or was
unreachable; 2 the command line was wrong or a setting is missing.`,
  subcommands: COMMANDS,
  examples: [
    'conductor token                                  # the demo identities of npm start',
    'conductor experts list --as acme-viewer',
    'conductor route --as acme-operator --task-id t-1 --context lang=en --context tokens=900',
    'conductor policy decisions --as acme-admin --limit 5 --json',
  ],
};

const describeFailure = (error: unknown): string => {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
};

const makeContext = (
  io: CliIo,
  flags: SettingsFlags & { tenant?: string; json: boolean; quiet: boolean },
) => {
  const context: CliContext = {
    io,
    json: flags.json,
    apiUrl: () => {
      const { value, source } = resolveApiUrl(flags, io);
      return { url: value, source };
    },
    token: () => {
      const resolved = resolveToken(flags, io);
      return resolved ? { token: resolved.value, source: resolved.source } : undefined;
    },
    client: ({ tokenRequired = true } = {}) => {
      const token = context.token();
      if (!token && tokenRequired) throw new UsageError(NO_TOKEN_HELP);
      return createConductorClient({
        apiUrl: context.apiUrl().url,
        token: token?.token,
        tenant: flags.tenant,
        userAgent: `conductor-cli/${packageJson.version}`,
      });
    },
    print: (data, human) => {
      io.stdout.write(flags.json ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`);
    },
    progress: (text) => {
      if (!flags.quiet) io.stderr.write(`… ${text}\n`);
    },
  };
  return context;
};

/** Runs one command line and returns its exit code; everything it prints goes through `io`. */
export const runCli = async (argv: readonly string[], io: CliIo): Promise<number> => {
  let args = [...argv];
  if (args[0] === 'help') args = [...args.slice(1), '--help'];
  if (args[0] === '--version' || args[0] === '-v') {
    io.stdout.write(`${packageJson.version}\n`);
    return EXIT.ok;
  }
  let command = ROOT;
  const path = ['conductor'];
  const json = args.includes('--json');
  try {
    while (command.subcommands && args[0] !== undefined && !args[0].startsWith('-')) {
      const name = args[0];
      const next = command.subcommands.find((sub) => sub.name === name);
      if (!next) throw new UsageError(`unknown command '${name}'`);
      command = next;
      path.push(name);
      args = args.slice(1);
    }
    if (args.includes('--help') || args.includes('-h')) {
      io.stdout.write(helpOf(command, path));
      return EXIT.ok;
    }
    if (!command.run) {
      io.stderr.write(helpOf(command, path));
      return EXIT.usage;
    }
    const { values, positionals } = parseArgs({
      args,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    const text = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
    const context = makeContext(io, {
      api: text('api'),
      token: text('token'),
      as: text('as'),
      tenant: text('tenant'),
      json,
      quiet: values.quiet === true,
    });
    await command.run({ options: values as OptionValues, positionals, context });
    return EXIT.ok;
  } catch (error) {
    return reportFailure(error, io, path, json);
  }
};

const reportFailure = (error: unknown, io: CliIo, path: readonly string[], json: boolean): number => {
  const write = (human: string, machine: Record<string, unknown>) =>
    io.stderr.write(json ? `${JSON.stringify(machine)}\n` : `${human}\n`);
  if (error instanceof ConductorApiError) {
    const { retryAfterSeconds } = error;
    const retry = retryAfterSeconds === undefined ? '' : `\n  retry after: ${retryAfterSeconds} s`;
    const details = error.body.details ? `\n  details: ${JSON.stringify(error.body.details)}` : '';
    write(
      `error: ${error.status} ${error.code}: ${error.body.message}${retry}\n  trace: ${error.traceId}${details}`,
      {
        status: error.status,
        ...error.body,
        ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
      },
    );
    return EXIT.apiError;
  }
  if (error instanceof ExitCodeError) {
    write(error.message, { code: 'command_failed', message: error.message });
    return error.exitCode;
  }
  const parseFailure = (error as { code?: unknown }).code;
  if (
    error instanceof UsageError ||
    (typeof parseFailure === 'string' && parseFailure.startsWith('ERR_PARSE_ARGS'))
  ) {
    const message = (error as Error).message;
    write(`error: ${message}\nrun '${path.join(' ')} --help' for usage`, { code: 'usage', message });
    return EXIT.usage;
  }
  if (error instanceof TypeError && error.message === 'fetch failed') {
    const message = `cannot reach the API (${describeFailure(error)}): is Conductor running ('npm start'), and is --api or CONDUCTOR_API right?`;
    write(`error: ${message}`, { code: 'unreachable', message });
    return EXIT.apiError;
  }
  const message = error instanceof Error ? error.message : String(error);
  write(`error: ${message}`, { code: 'failed', message });
  return EXIT.apiError;
};
