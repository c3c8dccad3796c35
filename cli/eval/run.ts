import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { GuardedHttpClient } from '#shared/outbound/outbound.js';
import {
  type Baseline,
  baselineOf,
  type CustomScoreFn,
  canonicalJson,
  EndpointExperts,
  evaluate,
  type HistoryPoint,
  jsonReport,
  judgeThrough,
  junitXml,
  loadChartJs,
  markdownComment,
  type PreviousRun,
  parseQuarantine,
  parseSuite,
  type RunSummary,
  serializeQuarantine,
  trendPage,
} from '../../functions/eval/standalone.js';
import type { CliIo } from '../command.js';
import { resolveApiUrl, resolveToken } from '../settings.js';

/**
 * `conductor-eval`: golden suites as a CI gate. Exit codes (EXIT): 0 the gate passed; 1 a
 * regression beyond the tolerance, with the suite's confidence; 2 bad configuration (a suite, a
 * baseline, a flag); 3 an infrastructure failure (experts unreachable, timing out, refused); 4 the
 * suite is too small to decide (neither pass nor regression can be said with the stated confidence).
 */
export const EXIT = { pass: 0, regression: 1, configuration: 2, infrastructure: 3, undecided: 4 } as const;

export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

const HELP = `conductor-eval: run golden suites against experts and gate on regressions

Usage:
  conductor-eval run --suite <file> --expert <id>=<url> [--expert ...] [--baseline <file>] [options]
      Standalone: runs the suite from the working copy against the experts' endpoints (no
      deployment), compares with the baseline, writes report.md (the PR comment), junit.xml and
      report.json to --out, and updates the quarantine and history in --state.
  conductor-eval remote --suite-id <id> --expert <expertId> [...] [--baseline-id <id>] [options]
      Submits a run to a deployed Conductor (POST eval/run), waits, and writes the same reports.
  conductor-eval baseline snapshot --report <report.json> --id <id> [--dir <baselines>]
  conductor-eval baseline promote <file>      a promoted baseline never changes again
  conductor-eval baseline list [--dir <baselines>]
  conductor-eval trends [--state <dir>] [--out <file.html>]   an HTML page, a chart per expert
  conductor-eval trends --remote [--suite-id <id>] [--api <url> --token <jwt>]   the deployment's runs
  conductor-eval validate <suite file>...     check suite files (exit 2 on the first bad one)

Options of run and remote:
  --out <dir>              where reports go (default eval-out)
  --state <dir>            quarantine.json, its log, history.jsonl, the last run (default .conductor-eval)
  --concurrency <n>        calls in flight (default 8)       --retries <n>  after infrastructure errors (default 1)
  --link <name>=<url>      a link for the PR comment (repeatable)
  --revision <label>       what is under test (default GITHUB_SHA or CI_COMMIT_SHA): outcomes that change
                           between runs of another revision are the change's, never quarantined as flaky
  --allow-private-endpoints  let experts on loopback/private addresses be called (local experts only)
  --api <url> --token <jwt> | --as <label>   remote only: where and as whom (as the conductor CLI)
  --wait-seconds <n>       remote only: how long to wait for the run (default 900)
  --quiet                  no progress on stderr

Exit codes: 0 pass; 1 regression; 2 bad configuration; 3 infrastructure failure; 4 too small to decide.`;

const readText = (file: string, what: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigurationError(
      `${file}: cannot read the ${what}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
};

const writeFile = (file: string, text: string): void => {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
};

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

interface BaselineFile extends Baseline {
  readonly apiVersion: 'conductor.baseline/v1';
  /** SHA-256 of the canonical JSON without this field: a promoted file that does not match was edited. */
  readonly digest: string;
}

const withDigest = (baseline: Omit<BaselineFile, 'digest'>): BaselineFile => {
  const { apiVersion, ...rest } = baseline;
  return { apiVersion, ...rest, digest: sha256(canonicalJson({ apiVersion, ...rest })) };
};

export const readBaseline = (file: string): BaselineFile => {
  let parsed: BaselineFile;
  try {
    parsed = JSON.parse(readText(file, 'baseline')) as BaselineFile;
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    throw new ConfigurationError(`${file}: not JSON: ${(error as Error).message}`);
  }
  if (parsed?.apiVersion !== 'conductor.baseline/v1' || typeof parsed.passRates !== 'object' || !parsed.id) {
    throw new ConfigurationError(`${file}: not a conductor.baseline/v1 file (apiVersion, id, passRates)`);
  }
  const { digest, ...rest } = parsed;
  if (digest !== sha256(canonicalJson(rest))) {
    throw new ConfigurationError(
      `${file}: its digest does not match its content: the baseline was edited after it was written${parsed.promoted ? ' (it is promoted: it must never change)' : ''}`,
    );
  }
  return parsed;
};

interface RunFlags {
  suite?: string;
  expert?: string[];
  baseline?: string;
  out: string;
  state: string;
  concurrency: number;
  retries: number;
  link?: string[];
  allowPrivate: boolean;
  /** What is under test (a commit): part of each expert's fingerprint, so a change is never "flaky". */
  revision?: string;
  quiet: boolean;
}

const intFlag = (
  value: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number => {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigurationError(`--${name} must be an integer from ${min} to ${max}, got '${value}'`);
  return n;
};

const pairs = (values: readonly string[] | undefined, flag: string): Map<string, string> => {
  const map = new Map<string, string>();
  for (const value of values ?? []) {
    const at = value.indexOf('=');
    if (at <= 0 || at === value.length - 1)
      throw new ConfigurationError(`--${flag} takes <name>=<value>, got '${value}'`);
    const name = value.slice(0, at);
    if (map.has(name)) throw new ConfigurationError(`--${flag} names ${name} twice`);
    map.set(name, value.slice(at + 1));
  }
  return map;
};

/** Where a run's state lives between runs (a CI cache or a committed folder). */
const statePaths = (state: string, suiteId: string) => ({
  quarantine: join(state, 'quarantine.json'),
  quarantineLog: join(state, 'quarantine.log.jsonl'),
  history: join(state, 'history.jsonl'),
  previous: join(state, `previous-${suiteId}.json`),
});

/** Writes the reports and returns the exit code of the run's status. */
const finish = (summary: RunSummary, flags: Pick<RunFlags, 'out' | 'state'>, io: CliIo): number => {
  const out = resolve(io.cwd, flags.out);
  writeFile(join(out, 'report.md'), markdownComment(summary));
  writeFile(join(out, 'junit.xml'), junitXml(summary));
  writeFile(join(out, 'report.json'), jsonReport(summary));
  const paths = statePaths(resolve(io.cwd, flags.state), summary.suiteId);
  mkdirSync(dirname(paths.history), { recursive: true });
  for (const metric of summary.metrics) {
    const point: HistoryPoint = {
      runId: summary.runId,
      suiteId: summary.suiteId,
      expertId: metric.expertId,
      at: summary.finishedAt,
      passRate: metric.passRate,
      meanScore: metric.meanScore,
      status: summary.status,
    };
    appendFileSync(paths.history, `${JSON.stringify(point)}\n`);
  }
  io.stdout.write(`${summary.status.toUpperCase()}: ${summary.suiteId} (${summary.runId})\n`);
  for (const metric of summary.metrics) {
    const verdict = summary.verdicts.find((v) => v.expertId === metric.expertId);
    io.stdout.write(
      `  ${metric.expertId}: pass rate ${(metric.passRate * 100).toFixed(1)} %${verdict ? `, ${verdict.verdict}: ${verdict.reason}` : ''}\n`,
    );
  }
  io.stdout.write(`reports: ${join(flags.out, 'report.md')}, junit.xml, report.json\n`);
  // An endpoint the egress guard refused is the run's configuration, not the network's.
  const refused = summary.results
    .flatMap((r) => r.trials)
    .find((t) => t.kind === 'error' && t.error === 'refused');
  if (refused?.kind === 'error') {
    io.stderr.write(`conductor-eval: an endpoint was refused: ${refused.message}\n`);
    return EXIT.configuration;
  }
  return {
    pass: EXIT.pass,
    regression: EXIT.regression,
    undecided: EXIT.undecided,
    infrastructure_failure: EXIT.infrastructure,
  }[summary.status];
};

const progressOf = (io: CliIo, quiet: boolean) => {
  if (quiet) return undefined;
  const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
  let lastShown = -1;
  return (done: number, total: number) => {
    const percent = Math.floor((done / total) * 100);
    if (tty) io.stderr.write(`\r… ${done}/${total} trials (${percent} %)${done === total ? '\n' : ''}`);
    else if (percent >= lastShown + 10 || done === total) {
      lastShown = percent;
      io.stderr.write(`… ${done}/${total} trials (${percent} %)\n`);
    }
  };
};

const runStandalone = async (flags: RunFlags, io: CliIo): Promise<number> => {
  if (!flags.suite) throw new ConfigurationError('--suite <file> is required');
  const suiteFile = resolve(io.cwd, flags.suite);
  const suite = (() => {
    try {
      return parseSuite(readText(suiteFile, 'suite'), flags.suite);
    } catch (error) {
      if (error instanceof ConfigurationError) throw error;
      throw new ConfigurationError((error as Error).message);
    }
  })();
  const endpoints = pairs(flags.expert, 'expert');
  if (endpoints.size === 0) throw new ConfigurationError('name at least one --expert <id>=<url>');
  const judges = [
    ...new Set(suite.tasks.flatMap((t) => (t.scorer.type === 'rubric' ? [t.scorer.judgeExpertId] : []))),
  ];
  for (const judge of judges) {
    if (!endpoints.has(judge))
      throw new ConfigurationError(
        `the suite's rubric scorers ask ${judge} to judge: give its endpoint with --expert ${judge}=<url>`,
      );
  }
  const baseline = flags.baseline ? readBaseline(resolve(io.cwd, flags.baseline)) : undefined;
  if (baseline && baseline.suiteId !== suite.id) {
    throw new ConfigurationError(
      `${flags.baseline}: a baseline of suite ${baseline.suiteId}, not ${suite.id}`,
    );
  }
  const paths = statePaths(resolve(io.cwd, flags.state), suite.id);
  const quarantine = existsSync(paths.quarantine)
    ? (() => {
        try {
          return parseQuarantine(readFileSync(paths.quarantine, 'utf8'), paths.quarantine);
        } catch (error) {
          throw new ConfigurationError((error as Error).message);
        }
      })()
    : [];
  const previous = existsSync(paths.previous)
    ? (JSON.parse(readFileSync(paths.previous, 'utf8')) as PreviousRun)
    : undefined;

  const client = new GuardedHttpClient({ allowPrivate: flags.allowPrivate, userAgent: 'conductor-eval' });
  try {
    const port = new EndpointExperts({ client, endpoints });
    const customCache = new Map<string, Promise<CustomScoreFn>>();
    const runId = `run_local-${new Date()
      .toISOString()
      .replace(/[^0-9]/g, '')
      .slice(0, 14)}-${sha256(`${Math.random()}`).slice(0, 6)}`;
    const evaluation = await evaluate({
      runId,
      suite,
      experts: [...endpoints.keys()]
        .filter((id) => !judges.includes(id) || (flags.expert ?? []).length === judges.length)
        .map((expertId) => ({
          expertId,
          fingerprint: sha256(`${endpoints.get(expertId) ?? ''}\u0000${flags.revision ?? ''}`).slice(0, 16),
        })),
      port,
      options: {
        concurrency: flags.concurrency,
        retries: flags.retries,
        onProgress: progressOf(io, flags.quiet),
        scorerDeps: {
          judge: judgeThrough(port, suite.timeoutMs),
          custom: (module, exportName) => {
            const key = `${module}#${exportName}`;
            let loaded = customCache.get(key);
            if (!loaded) {
              loaded = import(pathToFileURL(resolve(dirname(suiteFile), module)).href).then(
                (m: Record<string, unknown>) => {
                  const fn = m[exportName];
                  if (typeof fn !== 'function')
                    throw new Error(`${module} exports no function ${exportName}`);
                  return fn as CustomScoreFn;
                },
              );
              customCache.set(key, loaded);
            }
            return loaded;
          },
        },
      },
      baseline,
      quarantine,
      previous,
      clock: () => new Date(),
      links: Object.fromEntries(pairs(flags.link, 'link')),
    });
    writeFile(paths.quarantine, serializeQuarantine(evaluation.quarantine));
    for (const change of evaluation.quarantineChanges)
      appendFileSync(paths.quarantineLog, `${JSON.stringify(change)}\n`);
    writeFile(paths.previous, JSON.stringify(evaluation.previous));
    return finish(evaluation.summary, flags, io);
  } finally {
    client.destroy();
  }
};

/**
 * The revision under test: --revision, else GITHUB_SHA or CI_COMMIT_SHA (GitHub, GitLab), else
 * none. An expert behind the same URL at another revision is "something changed": its flips since
 * the last run are the change's doing, never quarantined as flaky (only trial flips within a run are).
 */
const revisionOf = (flag: string | undefined, io: CliIo): { revision?: string } => {
  const revision = flag ?? io.env.GITHUB_SHA ?? io.env.CI_COMMIT_SHA;
  return revision ? { revision } : {};
};

interface RemoteFlags {
  suiteId?: string;
  expert?: string[];
  baselineId?: string;
  out: string;
  state: string;
  concurrency: number;
  retries: number;
  waitSeconds: number;
  api?: string;
  token?: string;
  as?: string;
  quiet: boolean;
}

/** An API answer that is not what the run needs: configuration (4xx) or infrastructure (5xx, none). */
class RemoteError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Calls the deployment's API as `conductor` does (--api, --token or --as, CONDUCTOR_API, CONDUCTOR_TOKEN). */
const remoteCaller = (
  flags: { api?: string; token?: string; as?: string },
  io: CliIo,
  fetchImpl: typeof fetch,
) => {
  const api = resolveApiUrl(flags, io).value.replace(/\/+$/, '');
  const token = resolveToken(flags, io)?.value;
  if (!token)
    throw new ConfigurationError('no token: pass --token <jwt>, --as <label>, or set CONDUCTOR_TOKEN');
  return async (method: string, path: string, body?: unknown): Promise<unknown> => {
    let response: Response;
    try {
      response = await fetchImpl(`${api}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw new RemoteError(`${api}: unreachable (${(error as Error).message})`, EXIT.infrastructure);
    }
    const json = (await response.json().catch(() => undefined)) as
      | { code?: string; message?: string }
      | undefined;
    if (response.status >= 500)
      throw new RemoteError(`${method} ${path}: ${response.status} ${json?.code ?? ''}`, EXIT.infrastructure);
    if (response.status >= 400) {
      throw new RemoteError(
        `${method} ${path}: ${response.status} ${json?.code}: ${json?.message}`,
        response.status === 429 ? EXIT.infrastructure : EXIT.configuration,
      );
    }
    return json;
  };
};

const runRemote = async (flags: RemoteFlags, io: CliIo, fetchImpl: typeof fetch = fetch): Promise<number> => {
  if (!flags.suiteId) throw new ConfigurationError('--suite-id <id> is required');
  if (!flags.expert || flags.expert.length === 0)
    throw new ConfigurationError('name at least one --expert <expertId>');
  const api = resolveApiUrl(flags, io).value.replace(/\/+$/, '');
  const call = remoteCaller(flags, io, fetchImpl);
  const accepted = (await call('POST', '/eval/run', {
    suiteId: flags.suiteId,
    expertIds: flags.expert,
    ...(flags.baselineId ? { baselineId: flags.baselineId } : {}),
    concurrency: flags.concurrency,
    retries: flags.retries,
  })) as { runId: string };
  if (!flags.quiet) io.stderr.write(`… run ${accepted.runId} queued\n`);
  const deadline = Date.now() + flags.waitSeconds * 1000;
  let delay = 500;
  for (;;) {
    const run = (await call('GET', `/eval/results/${accepted.runId}`)) as { status: string; error?: string };
    if (run.status === 'completed') break;
    if (run.status === 'failed')
      throw new RemoteError(
        `run ${accepted.runId} failed: ${run.error ?? 'no reason given'}`,
        EXIT.configuration,
      );
    if (Date.now() > deadline)
      throw new RemoteError(
        `run ${accepted.runId} is still ${run.status} after ${flags.waitSeconds} s`,
        EXIT.infrastructure,
      );
    if (!flags.quiet) io.stderr.write(`… ${run.status}\n`);
    await new Promise((done) => setTimeout(done, delay));
    delay = Math.min(delay * 2, 5000);
  }
  const report = (await call('GET', `/eval/results/${accepted.runId}/report`)) as RunSummary & {
    apiVersion?: string;
  };
  const { apiVersion: _ignored, ...summary } = report;
  return finish(
    { ...summary, links: { ...summary.links, run: `${api}/eval/results/${accepted.runId}` } },
    flags,
    io,
  );
};

const baselineCommand = (args: readonly string[], io: CliIo): number => {
  const [action, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { report: { type: 'string' }, id: { type: 'string' }, dir: { type: 'string' } },
    allowPositionals: true,
  });
  const dir = resolve(io.cwd, values.dir ?? 'eval/baselines');
  if (action === 'snapshot') {
    if (!values.report || !values.id)
      throw new ConfigurationError('baseline snapshot needs --report <report.json> and --id <id>');
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(values.id))
      throw new ConfigurationError(`--id '${values.id}' is not a baseline id`);
    const report = JSON.parse(readText(resolve(io.cwd, values.report), 'report')) as RunSummary;
    const file = join(dir, `${values.id}.json`);
    if (existsSync(file) && readBaseline(file).promoted) {
      throw new ConfigurationError(
        `${file} is promoted: a promoted baseline never changes; snapshot under a new id`,
      );
    }
    const baseline = withDigest({
      apiVersion: 'conductor.baseline/v1',
      ...baselineOf(report, values.id, new Date().toISOString()),
    });
    writeFile(file, `${JSON.stringify(baseline, null, 2)}\n`);
    io.stdout.write(`baseline ${values.id} (not promoted) written to ${file}\n`);
    return EXIT.pass;
  }
  if (action === 'promote') {
    const file = positionals[0];
    if (!file) throw new ConfigurationError('baseline promote <file>');
    const baseline = readBaseline(resolve(io.cwd, file));
    if (baseline.promoted) {
      io.stdout.write(`${file} is already promoted (${baseline.promotedAt})\n`);
      return EXIT.pass;
    }
    const { digest: _old, apiVersion, ...rest } = baseline;
    const promoted = withDigest({
      apiVersion,
      ...rest,
      promoted: true,
      promotedAt: new Date().toISOString(),
    });
    writeFile(resolve(io.cwd, file), `${JSON.stringify(promoted, null, 2)}\n`);
    io.stdout.write(`${file} promoted: it never changes again\n`);
    return EXIT.pass;
  }
  if (action === 'list') {
    const files = existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f.endsWith('.json'))
          .sort()
      : [];
    for (const f of files) {
      const b = readBaseline(join(dir, f));
      io.stdout.write(
        `${b.id}\t${b.suiteId}\t${b.promoted ? `promoted ${b.promotedAt}` : 'draft'}\tfrom ${b.sourceRunId}\n`,
      );
    }
    if (files.length === 0) io.stdout.write(`no baselines in ${dir}\n`);
    return EXIT.pass;
  }
  throw new ConfigurationError('baseline snapshot | promote | list');
};

interface RemoteRun {
  readonly runId: string;
  readonly suiteId: string;
  readonly status: string;
  readonly verdict?: HistoryPoint['status'];
  readonly finishedAt?: string;
  readonly metrics: readonly { expertId: string; passRate: number; meanScore: number }[];
}

/** The history a deployment keeps: its completed runs (30 days), as trend points. */
const remoteHistory = async (
  flags: { api?: string; token?: string; as?: string; suiteId?: string },
  io: CliIo,
  fetchImpl: typeof fetch,
): Promise<HistoryPoint[]> => {
  const call = remoteCaller(flags, io, fetchImpl);
  const points: HistoryPoint[] = [];
  let cursor: string | undefined;
  do {
    const query = new URLSearchParams({ limit: '100', ...(flags.suiteId ? { suiteId: flags.suiteId } : {}) });
    if (cursor) query.set('cursor', cursor);
    const page = (await call('GET', `/eval/runs?${query}`)) as { items: RemoteRun[]; nextCursor?: string };
    for (const run of page.items) {
      if (run.status !== 'completed' || !run.verdict || !run.finishedAt) continue;
      for (const metric of run.metrics) {
        points.push({
          runId: run.runId,
          suiteId: run.suiteId,
          expertId: metric.expertId,
          at: run.finishedAt,
          passRate: metric.passRate,
          meanScore: metric.meanScore,
          status: run.verdict,
        });
      }
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return points;
};

const localHistory = (file: string): HistoryPoint[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as HistoryPoint)
    : [];

const trendsCommand = async (
  args: readonly string[],
  io: CliIo,
  fetchImpl: typeof fetch,
): Promise<number> => {
  const { values } = parseArgs({
    args: [...args],
    options: {
      state: { type: 'string' },
      out: { type: 'string' },
      remote: { type: 'boolean' },
      'suite-id': { type: 'string' },
      api: { type: 'string' },
      token: { type: 'string' },
      as: { type: 'string' },
    },
  });
  const history = join(resolve(io.cwd, values.state ?? '.conductor-eval'), 'history.jsonl');
  const points = values.remote
    ? await remoteHistory(
        {
          ...(values.api ? { api: values.api } : {}),
          ...(values.token ? { token: values.token } : {}),
          ...(values.as ? { as: values.as } : {}),
          ...(values['suite-id'] ? { suiteId: values['suite-id'] } : {}),
        },
        io,
        fetchImpl,
      )
    : localHistory(history);
  if (points.length === 0) {
    throw new ConfigurationError(
      values.remote
        ? 'the deployment has no completed run to draw'
        : `${history}: no history yet: run 'conductor-eval run' first`,
    );
  }
  const out = resolve(io.cwd, values.out ?? 'eval-out/trends.html');
  writeFile(out, trendPage(points, { title: 'Conductor evaluation trends', chartJs: await loadChartJs() }));
  io.stdout.write(`trends of ${points.length} points written to ${out}\n`);
  return EXIT.pass;
};

const validateCommand = (files: readonly string[], io: CliIo): number => {
  if (files.length === 0) throw new ConfigurationError('validate <suite file>...');
  for (const file of files) {
    try {
      const suite = parseSuite(readText(resolve(io.cwd, file), 'suite'), file);
      io.stdout.write(
        `${file}: ${suite.id} v${suite.version}, ${suite.tasks.length} tasks, digest ${suite.digest.slice(0, 12)}\n`,
      );
    } catch (error) {
      throw new ConfigurationError((error as Error).message);
    }
  }
  return EXIT.pass;
};

/** Runs one `conductor-eval` command line; returns its exit code. */
export const runEvalCli = async (
  argv: readonly string[],
  io: CliIo,
  fetchImpl?: typeof fetch,
): Promise<number> => {
  const [command, ...args] = argv;
  try {
    if (!command || command === '--help' || command === '-h' || command === 'help') {
      io.stdout.write(`${HELP}\n`);
      return command ? EXIT.pass : EXIT.configuration;
    }
    if (command === 'baseline') return baselineCommand(args, io);
    if (command === 'trends') return await trendsCommand(args, io, fetchImpl ?? fetch);
    if (command === 'validate') return validateCommand(args, io);
    if (command !== 'run' && command !== 'remote')
      throw new ConfigurationError(`unknown command '${command}' (see conductor-eval --help)`);
    const { values } = parseArgs({
      args: [...args],
      options: {
        suite: { type: 'string' },
        'suite-id': { type: 'string' },
        expert: { type: 'string', multiple: true },
        baseline: { type: 'string' },
        'baseline-id': { type: 'string' },
        out: { type: 'string' },
        state: { type: 'string' },
        concurrency: { type: 'string' },
        retries: { type: 'string' },
        link: { type: 'string', multiple: true },
        'allow-private-endpoints': { type: 'boolean' },
        revision: { type: 'string' },
        'wait-seconds': { type: 'string' },
        api: { type: 'string' },
        token: { type: 'string' },
        as: { type: 'string' },
        quiet: { type: 'boolean' },
      },
    });
    const common = {
      out: values.out ?? 'eval-out',
      state: values.state ?? '.conductor-eval',
      concurrency: intFlag(values.concurrency, 'concurrency', 8, 1, command === 'run' ? 256 : 64),
      retries: intFlag(values.retries, 'retries', 1, 0, command === 'run' ? 5 : 3),
      quiet: values.quiet === true,
    };
    if (command === 'run') {
      return await runStandalone(
        {
          ...common,
          ...(values.suite ? { suite: values.suite } : {}),
          ...(values.expert ? { expert: values.expert } : {}),
          ...(values.baseline ? { baseline: values.baseline } : {}),
          ...(values.link ? { link: values.link } : {}),
          allowPrivate: values['allow-private-endpoints'] === true,
          ...revisionOf(values.revision, io),
        },
        io,
      );
    }
    return await runRemote(
      {
        ...common,
        ...(values['suite-id'] ? { suiteId: values['suite-id'] } : {}),
        ...(values.expert ? { expert: values.expert } : {}),
        ...(values['baseline-id'] ? { baselineId: values['baseline-id'] } : {}),
        waitSeconds: intFlag(values['wait-seconds'], 'wait-seconds', 900, 1, 86_400),
        ...(values.api ? { api: values.api } : {}),
        ...(values.token ? { token: values.token } : {}),
        ...(values.as ? { as: values.as } : {}),
      },
      io,
      fetchImpl,
    );
  } catch (error) {
    if (error instanceof RemoteError) {
      io.stderr.write(`conductor-eval: ${error.message}\n`);
      return error.exitCode;
    }
    if (
      error instanceof ConfigurationError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      io.stderr.write(`conductor-eval: ${(error as Error).message}\n`);
      return EXIT.configuration;
    }
    if ((error as { name?: string }).name === 'UsageError') {
      io.stderr.write(`conductor-eval: ${(error as Error).message}\n`);
      return EXIT.configuration;
    }
    io.stderr.write(`conductor-eval: ${(error as Error).stack ?? error}\n`);
    return EXIT.infrastructure;
  }
};
