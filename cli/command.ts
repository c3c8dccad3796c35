import type { ConductorClient } from '../clients/typescript/index.js';

/** One option of a command, as node:util parseArgs reads it, with the text `--help` shows. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly description: string;
  /** Shown after the flag in help, e.g. `<n>`. */
  readonly placeholder?: string;
  readonly multiple?: boolean;
  readonly short?: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;
export type OptionValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

/** A command (`conductor reward`) or a group of them (`conductor experts list|get|create`). */
export interface Command {
  readonly name: string;
  /** One line, shown in the parent's list and atop the command's own help. */
  readonly summary: string;
  /** The positional arguments' synopsis, e.g. `<expertId>`. */
  readonly arguments?: string;
  readonly options?: OptionSpecs;
  /** Longer help: what the command does and anything surprising about it. */
  readonly details?: string;
  readonly examples?: readonly string[];
  readonly subcommands?: readonly Command[];
  readonly run?: (invocation: Invocation) => Promise<void>;
}

export interface Invocation {
  readonly options: OptionValues;
  readonly positionals: readonly string[];
  readonly context: CliContext;
}

/** Where a command writes and what it may read: the process, or a test's fakes. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readStdin(): Promise<string>;
}

export interface CliContext {
  readonly io: CliIo;
  /** `--json`: machine output on stdout, errors as JSON on stderr. */
  readonly json: boolean;
  /** The API client for the resolved URL and token; throws a UsageError when no token is found. */
  client(options?: { readonly tokenRequired?: boolean }): ConductorClient;
  /** The API URL in use and where it came from (flag, env, login, default). */
  apiUrl(): { readonly url: string; readonly source: string };
  /** The token in use, if any, and where it came from. */
  token(): { readonly token: string; readonly source: string } | undefined;
  /** `--json` prints the data; otherwise the human rendering. */
  print(data: unknown, human: () => string): void;
  /** A note on long work, on stderr (silenced by --quiet). */
  progress(text: string): void;
}

/** The command line was wrong or a setting is missing: exit 2, with a pointer to `--help`. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A command's own verdict that is not an API error (e.g. a dry-run that changes decisions). */
export class ExitCodeError extends Error {
  override readonly name = 'ExitCodeError';
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}
