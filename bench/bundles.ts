import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { functionsOf, queuesOf, tablesOf } from '#shared/pillar.js';
import { DEFAULT_POLICY_ENGINE } from '#shared/policy/source.js';
import { PILLARS } from '../functions/catalog.js';
import {
  ESM_REQUIRE_BANNER,
  LAMBDA_NODE_OPTIONS,
  runtimeSdkAliases,
} from '../infra/cdk/lib/service-function.js';
import { writeValidatedManifest } from '../layers/shared/src/policy/source.js';
import { checkQuiet, machine } from './lib/machine.js';
import { REPO_ROOT, writeResult } from './lib/results.js';
import { fixed, round, summarize, table, verdict } from './lib/stats.js';

const FUNCTIONS = functionsOf(PILLARS);
const QUEUES = queuesOf(PILLARS);
const TABLES = tablesOf(PILLARS);

/**
 * Lambda bundle size and cold import time, per function of the catalog, against an empty handler
 * bundled and measured the same way in the same run. Bundles go to a temp dir; results to
 * bench/results/bundles.json. See docs/benchmarks.md.
 */
const env = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};
const RUNS = env('BENCH_IMPORT_RUNS', 10);
const TARGET_KB = 500;
const TARGET_IMPORT_MS = 150;
const KB = 1024;

/**
 * The bundling the house CDK `ServiceFunction` does (infra/cdk/lib/service-function.ts: NodejsFunction
 * with the local esbuild): one ESM file per function for Node 22, `module` before `main` (without it
 * the AWS SDK's CommonJS builds come in and the router grows by ~200 KB), minified and tree-shaken,
 * a linked source map without sources, and its `createRequire` banner for CommonJS dependencies.
 * Keep in step with ServiceFunction's `bundling` block.
 */
const buildOptions = (
  outdir: string,
  external: readonly string[],
  alias: Record<string, string> = {},
): BuildOptions => ({
  absWorkingDir: REPO_ROOT,
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  mainFields: ['module', 'main'],
  minify: true,
  treeShaking: true,
  sourcemap: 'linked',
  sourcesContent: false,
  metafile: true,
  banner: { js: ESM_REQUIRE_BANNER },
  external: [...external],
  alias,
  outdir,
  entryNames: 'index',
  outExtension: { '.js': '.mjs' },
  // Non-JS assets are emitted beside the bundle (and reported on their own line), not inlined.
  loader: { '.wasm': 'file', '.node': 'file' },
  logLevel: 'silent',
});

/** The policy engines always come from the policy layer (ServiceFunction's externalModules). */
const LAYER_EXTERNALS = ['@cedar-policy/cedar-wasm', '@open-policy-agent/opa-wasm'];
/** The AWS SDK v3 the Lambda runtime provides (what ServiceFunction leaves out by default). */
const RUNTIME_SDK = ['@aws-sdk/*', '@smithy/*'];
const RUNTIME_SDK_SCOPES = ['@aws-sdk', '@smithy'];
/**
 * Both ways ServiceFunction can bundle: by default the SDK comes from the Lambda runtime; with
 * `bundleAwsSdk: true` the pinned SDK is bundled (no externals but the policy layer).
 */
const VARIANTS = {
  'runtime-sdk': {
    label: 'SDK from the Lambda runtime, loaded with require (ServiceFunction default)',
    external: [...LAYER_EXTERNALS, ...RUNTIME_SDK],
    alias: runtimeSdkAliases(),
  },
  'bundled-sdk': {
    label: 'pinned SDK bundled (bundleAwsSdk: true)',
    external: LAYER_EXTERNALS,
    alias: {},
  },
} as const;
type Variant = keyof typeof VARIANTS;

/**
 * Environment a handler needs to build its clients at import (every table and queue variable);
 * no network call happens then. NODE_PATH and POLICY_DIR stand in for the policy layer
 * (/opt/nodejs/node_modules, /opt/policies/<engine>): the default engine (OPA's wasm runtime, or
 * Cedar), loaded with `createRequire`, and its policies load at import as on AWS, so their cost is
 * in the timings.
 * The runtime's SDK is stood in for by links to this repository's `@aws-sdk` and `@smithy` folders
 * beside the bundles (ESM imports ignore NODE_PATH), and nothing else: any other bare import fails.
 */
const HANDLER_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  NODE_PATH: join(REPO_ROOT, 'node_modules'),
  // The policy layer's /opt/policies/<default engine> (the API stack sets POLICY_DIR to it on every
  // function): main() stages it as PolicyLayer does and sets POLICY_DIR.
  ...Object.fromEntries(TABLES.map((table) => [table.envVar, 'bench'])),
  ...Object.fromEntries(
    QUEUES.map((queue) => [
      queue.envVar,
      `https://sqs.us-east-1.amazonaws.com/000000000000/bench-${queue.id}`,
    ]),
  ),
  ROUTER_TABLE_NAME: 'bench',
  EVIDENCE_BUCKET_NAME: 'bench-evidence',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'x',
  AWS_SECRET_ACCESS_KEY: 'x',
  POWERTOOLS_METRICS_DISABLED: 'true',
  POWERTOOLS_TRACE_ENABLED: 'false',
  NODE_NO_WARNINGS: '1',
};
/**
 * How each bundle is imported: as on Lambda (ServiceFunction's NODE_OPTIONS), without source maps,
 * and with source maps but Node's default pool of four V8 worker threads (ServiceFunction asks for
 * one: the difference is that choice's effect).
 */
const MODES = {
  lambda: { NODE_OPTIONS: LAMBDA_NODE_OPTIONS },
  plain: { NODE_OPTIONS: LAMBDA_NODE_OPTIONS.replace('--enable-source-maps', '').trim() },
  pool4: { NODE_OPTIONS: '--enable-source-maps' },
} as const;
type Mode = keyof typeof MODES;

/** Imported by each fresh child: times `await import(bundle)` from inside, checks `handler`. */
const PROBE = `const started = performance.now();
const mod = await import(process.argv[2]);
const imported = performance.now();
if (typeof mod.handler !== 'function') { process.stderr.write('no handler export'); process.exit(2); }
process.stdout.write('\\n' + JSON.stringify({ importMs: imported - started }) + '\\n');
`;

interface Bundle {
  readonly name: string;
  readonly variant: Variant | 'baseline';
  readonly entry: string;
  readonly file: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly assets: { file: string; bytes: number }[];
  /** Bare imports left in the bundle (other than node: built-ins): what the runtime or a layer must provide. */
  readonly externalImports: string[];
  readonly metafile: Metafile | undefined;
}

interface ImportRun {
  readonly importMs: number;
  readonly processMs: number;
  /** Anything the handler printed while it was imported (a log line at init is worth a look). */
  readonly output: string;
}

const NODE_BUILTINS = new Set(builtinModules);
const log = (line = '') => process.stdout.write(`${line}\n`);
const kb = (bytes: number) => fixed(bytes / KB, 1);

const collect = (name: string, variant: Variant | 'baseline', entry: string, metafile: Metafile): Bundle => {
  const outputs = Object.entries(metafile.outputs);
  const js = outputs.find(([file]) => file.endsWith('.mjs'));
  if (!js) throw new Error(`${name}: esbuild produced no .mjs output`);
  const file = join(REPO_ROOT, js[0]);
  const externalImports = [
    ...new Set(
      js[1].imports
        .filter((i) => i.external && !i.path.startsWith('node:'))
        .map((i) => i.path)
        .filter((path) => !NODE_BUILTINS.has(path.split('/')[0] ?? '')),
    ),
  ].sort();
  return {
    name,
    variant,
    entry,
    file,
    externalImports,
    bytes: js[1].bytes,
    gzipBytes: gzipSync(readFileSync(file), { level: 9 }).length,
    assets: outputs
      .filter(([out]) => out !== js[0])
      .map(([out, meta]) => ({ file: basename(out), bytes: meta.bytes })),
    metafile,
  };
};

const runImport = (probe: string, bundle: string, mode: Mode): ImportRun => {
  const started = process.hrtime.bigint();
  const child = spawnSync(process.execPath, [probe, pathToFileURL(bundle).href], {
    // HANDLER_ENV is read here, after main() staged the policies and set POLICY_DIR.
    env: { ...HANDLER_ENV, ...MODES[mode] },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const processMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (child.status !== 0) throw new Error(`importing ${bundle} failed (${child.status}): ${child.stderr}`);
  const lines = child.stdout.trimEnd().split('\n');
  const { importMs } = JSON.parse(lines.pop() ?? '') as { importMs: number };
  return { importMs, processMs, output: `${lines.join('\n')}${child.stderr}`.trim() };
};

/** Bytes per npm package (or repo folder) in one output, largest first. */
const byPackage = (inputs: Record<string, { bytesInOutput: number }>) => {
  const totals = new Map<string, number>();
  for (const [path, { bytesInOutput }] of Object.entries(inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? path.split('/').slice(0, 2).join('/');
    totals.set(pkg, (totals.get(pkg) ?? 0) + bytesInOutput);
  }
  return [...totals].sort((a, b) => b[1] - a[1]);
};

/** Bytes per folder (e.g. node_modules/zod/v4/locales) in one output, largest first. */
const byFolder = (inputs: Record<string, { bytesInOutput: number }>) => {
  const totals = new Map<string, number>();
  for (const [path, { bytesInOutput }] of Object.entries(inputs)) {
    const dir = dirname(path);
    totals.set(dir, (totals.get(dir) ?? 0) + bytesInOutput);
  }
  return [...totals].sort((a, b) => b[1] - a[1]);
};

const pct = (part: number, whole: number) => `${fixed((100 * part) / whole, 1)}%`;
const keyOf = (b: Bundle) => (b.variant === 'baseline' ? b.name : `${b.variant}/${b.name}`);

const main = async () => {
  const host = machine();
  log('bench:bundles — Lambda bundles (esbuild, as the CDK ServiceFunction) and cold import time');
  log(`machine: ${host.cpus} cores (${host.cpuModel}), Node ${host.node}`);
  log('esbuild as ServiceFunction: target node22, esm, mainFields module,main, minify, tree shaking, linked');
  log('source map, createRequire banner; policy engines external (policy layer); two variants:');
  for (const [id, v] of Object.entries(VARIANTS)) log(`  ${id}: ${v.label}`);
  log("imported here by this machine's Node");
  const busyBefore = await checkQuiet(log);

  const outRoot = mkdtempSync(join(tmpdir(), 'conductor-bench-bundles-'));
  try {
    mkdirSync(join(outRoot, 'node_modules'));
    // The layer's tree as PolicyLayer stages it: the Cedar files (validated manifest included) and,
    // beside them, the OPA bundle; POLICY_DIR names the default engine's, as the API stack does.
    const cedarDir = join(outRoot, 'policies', 'cedar');
    cpSync(join(REPO_ROOT, 'policies', 'cedar'), cedarDir, { recursive: true });
    writeValidatedManifest(cedarDir);
    cpSync(join(REPO_ROOT, 'policies', 'opa'), join(outRoot, 'policies', 'opa'), { recursive: true });
    HANDLER_ENV.POLICY_DIR = join(outRoot, 'policies', DEFAULT_POLICY_ENGINE);
    for (const scope of RUNTIME_SDK_SCOPES)
      symlinkSync(join(REPO_ROOT, 'node_modules', scope), join(outRoot, 'node_modules', scope), 'dir');

    const bundles: Bundle[] = [];
    for (const variant of Object.keys(VARIANTS) as Variant[])
      for (const fn of FUNCTIONS) {
        const result = await build({
          ...buildOptions(
            join(outRoot, variant, fn.name),
            VARIANTS[variant].external,
            VARIANTS[variant].alias,
          ),
          entryPoints: [join(REPO_ROOT, fn.entry)],
        });
        if (!result.metafile) throw new Error(`${fn.name}: no metafile`);
        bundles.push(collect(fn.name, variant, fn.entry, result.metafile));
      }
    const emptyResult = await build({
      ...buildOptions(join(outRoot, '_empty'), []),
      stdin: {
        contents: 'export const handler = async () => ({});\n',
        loader: 'ts',
        resolveDir: REPO_ROOT,
        sourcefile: 'empty-handler.ts',
      },
    });
    if (!emptyResult.metafile) throw new Error('empty: no metafile');
    const empty = collect('(empty handler)', 'baseline', '-', emptyResult.metafile);

    log();
    log(`Bundle size (KB = ${KB} B; gzip level 9 ≈ what the deployment zip costs)`);
    log(
      table(
        [
          ['bundle', 'entry', 'minified KB', 'gzip KB', `target < ${TARGET_KB} KB`],
          [empty.name, empty.entry, kb(empty.bytes), kb(empty.gzipBytes), 'baseline'],
          ...bundles.map((b) => [
            keyOf(b),
            b.entry,
            kb(b.bytes),
            kb(b.gzipBytes),
            verdict(b.bytes < TARGET_KB * KB),
          ]),
        ],
        'llrrr',
      ),
    );
    for (const b of bundles)
      for (const asset of b.assets)
        log(
          `  asset of ${keyOf(b)}: ${asset.file} ${kb(asset.bytes)} KB (${asset.file.endsWith('.map') ? 'source map, deployed beside the bundle' : 'not JS'}; not counted in the JS size)`,
        );
    if (bundles.every((b) => b.assets.every((asset) => asset.file.endsWith('.map'))))
      log('  (no other non-JS assets: no .wasm or .node files)');
    for (const b of bundles)
      if (b.externalImports.length > 0)
        log(`  ${keyOf(b)} imports at run time: ${b.externalImports.join(', ')}`);

    const analyse = (variant: Variant) => {
      const largest = bundles.filter((b) => b.variant === variant).sort((a, b) => b.bytes - a.bytes)[0];
      if (!largest?.metafile) return undefined;
      const inputs =
        Object.values(largest.metafile.outputs).find((o) => o.entryPoint !== undefined)?.inputs ?? {};
      return {
        largest,
        topInputs: Object.entries(inputs)
          .map(([path, { bytesInOutput }]) => ({ path, bytes: bytesInOutput }))
          .sort((a, b) => b.bytes - a.bytes)
          .slice(0, 5),
        topFolders: byFolder(inputs).slice(0, 5),
        topPackages: byPackage(inputs).slice(0, 8),
      };
    };
    const deployed = analyse('runtime-sdk');
    const bundledSdk = analyse('bundled-sdk');
    if (deployed) {
      const { largest } = deployed;
      log();
      log(
        `Largest bundle: ${keyOf(largest)} (${kb(largest.bytes)} KB). Top 5 inputs by bytes in the output:`,
      );
      log(
        table([
          ['input', 'KB', 'share'],
          ...deployed.topInputs.map((i) => [i.path, kb(i.bytes), pct(i.bytes, largest.bytes)]),
        ]),
      );
      log();
      log('Same bundle, top 5 folders (many small files add up):');
      log(
        table([
          ['folder', 'KB', 'share'],
          ...deployed.topFolders.map(([dir, bytes]) => [dir, kb(bytes), pct(bytes, largest.bytes)]),
        ]),
      );
      log();
      log('Same bundle by package:');
      log(
        table([
          ['package', 'KB', 'share'],
          ...deployed.topPackages.map(([pkg, bytes]) => [pkg, kb(bytes), pct(bytes, largest.bytes)]),
        ]),
      );
    }
    if (bundledSdk) {
      const { largest } = bundledSdk;
      log();
      log(`With the SDK bundled, ${keyOf(largest)} (${kb(largest.bytes)} KB) by package:`);
      log(
        table([
          ['package', 'KB', 'share'],
          ...bundledSdk.topPackages.map(([pkg, bytes]) => [pkg, kb(bytes), pct(bytes, largest.bytes)]),
        ]),
      );
    }

    const probe = join(outRoot, 'probe.mjs');
    writeFileSync(probe, PROBE);
    const subjects = [empty, ...bundles];
    const modes = Object.keys(MODES) as Mode[];
    // One discarded run each (page cache, first exec of node), then RUNS rounds interleaved.
    for (const s of subjects) {
      for (const mode of modes) {
        const { output } = runImport(probe, s.file, mode);
        if (output)
          log(`WARNING: ${keyOf(s)} printed at import (timings include it): ${output.slice(0, 300)}`);
        // A handler that failed to initialise (e.g. no policies: the engine then denies everything
        // without loading Cedar) imports faster than a working one: its timing would be a lie.
        if (output.includes('"level":"ERROR"'))
          throw new Error(`${keyOf(s)} (${mode}) logged an error at import; its timing is not measurable.`);
      }
    }
    const runs = new Map<string, ImportRun[]>();
    for (let round = 0; round < RUNS; round += 1)
      for (const s of subjects)
        for (const mode of modes) {
          const key = `${keyOf(s)}|${mode}`;
          runs.set(key, [...(runs.get(key) ?? []), runImport(probe, s.file, mode)]);
        }

    const stats = (b: Bundle, mode: Mode = 'lambda') => {
      const list = runs.get(`${keyOf(b)}|${mode}`) ?? [];
      return {
        importMs: summarize(list.map((r) => r.importMs)),
        processMs: summarize(list.map((r) => r.processMs)),
      };
    };
    const base = stats(empty);
    log();
    log(
      `Cold import: fresh \`node\` per run, ${RUNS} runs each (interleaved, after one discarded run), ms, with ` +
        `NODE_OPTIONS='${LAMBDA_NODE_OPTIONS}' as ServiceFunction sets it on Lambda ('no maps': without ` +
        "--enable-source-maps; '4 workers': without --v8-pool-size=1, Node's default pool); " +
        'import = performance.now() around await import() inside the child (includes loading the runtime SDK ' +
        'where it is external); process = spawn to exit seen by the parent',
    );
    log(
      table([
        [
          'bundle',
          'import p50',
          'import p90',
          'vs empty',
          'no maps p50',
          '4 workers p50',
          'process p50',
          'process p90',
          'vs empty',
          `import < ${TARGET_IMPORT_MS} ms`,
        ],
        ...subjects.map((s) => {
          const st = stats(s);
          const isBase = s === empty;
          return [
            keyOf(s),
            fixed(st.importMs.p50, 1),
            fixed(st.importMs.p90, 1),
            isBase ? '-' : `${fixed(st.importMs.p50 / base.importMs.p50, 0)}x`,
            fixed(stats(s, 'plain').importMs.p50, 1),
            fixed(stats(s, 'pool4').importMs.p50, 1),
            fixed(st.processMs.p50, 1),
            fixed(st.processMs.p90, 1),
            isBase ? '-' : `${fixed(st.processMs.p50 / base.processMs.p50, 2)}x`,
            isBase ? 'baseline' : verdict(st.importMs.p50 < TARGET_IMPORT_MS),
          ];
        }),
      ]),
    );

    const checks = bundles.flatMap((b) => {
      const st = stats(b);
      return [
        {
          target: `${keyOf(b)}: bundle < ${TARGET_KB} KB minified`,
          measured: `${kb(b.bytes)} KB`,
          ok: b.bytes < TARGET_KB * KB,
        },
        {
          target: `${keyOf(b)}: cold import < ${TARGET_IMPORT_MS} ms (median)`,
          measured: `${fixed(st.importMs.p50, 1)} ms (p90 ${fixed(st.importMs.p90, 1)})`,
          ok: st.importMs.p50 < TARGET_IMPORT_MS,
        },
      ];
    });
    log();
    log('Targets');
    log(
      table([['target', 'measured', 'verdict'], ...checks.map((c) => [c.target, c.measured, verdict(c.ok)])]),
    );

    const timing = (b: Bundle) => {
      const st = stats(b);
      return {
        importMs: {
          p50: round(st.importMs.p50, 1),
          p90: round(st.importMs.p90, 1),
          max: round(st.importMs.max, 1),
        },
        importMsWithoutSourceMaps: { p50: round(stats(b, 'plain').importMs.p50, 1) },
        importMsWithFourV8Workers: { p50: round(stats(b, 'pool4').importMs.p50, 1) },
        processMs: {
          p50: round(st.processMs.p50, 1),
          p90: round(st.processMs.p90, 1),
          max: round(st.processMs.max, 1),
        },
      };
    };
    const analysisJson = (a: ReturnType<typeof analyse>) =>
      a && {
        name: keyOf(a.largest),
        topInputs: a.topInputs.map((i) => ({ path: i.path, kb: round(i.bytes / KB, 1) })),
        topFolders: a.topFolders.map(([dir, bytes]) => ({ folder: dir, kb: round(bytes / KB, 1) })),
        topPackages: a.topPackages.map(([pkg, bytes]) => ({ package: pkg, kb: round(bytes / KB, 1) })),
      };
    const file = writeResult('bundles', {
      benchmark: 'bundles',
      measuredAt: new Date().toISOString(),
      machine: host,
      otherCpuBusyBefore: round(busyBefore, 2),
      esbuild: {
        target: 'node22',
        format: 'esm',
        mainFields: ['module', 'main'],
        minify: true,
        treeShaking: true,
        sourcemap: 'linked',
      },
      variants: Object.fromEntries(
        Object.entries(VARIANTS).map(([id, v]) => [id, { label: v.label, external: v.external }]),
      ),
      importEnv: `NODE_OPTIONS=${LAMBDA_NODE_OPTIONS} (as on Lambda)`,
      runs: RUNS,
      baseline: {
        name: 'empty handler',
        bytes: empty.bytes,
        gzipBytes: empty.gzipBytes,
        ...timing(empty),
      },
      functions: bundles.map((b) => ({
        name: b.name,
        variant: b.variant,
        entry: b.entry,
        bytes: b.bytes,
        kb: round(b.bytes / KB, 1),
        gzipBytes: b.gzipBytes,
        assets: b.assets,
        externalImports: b.externalImports,
        ...timing(b),
        importRatioVsEmpty: round(stats(b).importMs.p50 / base.importMs.p50, 1),
        processRatioVsEmpty: round(stats(b).processMs.p50 / base.processMs.p50, 2),
      })),
      largest: analysisJson(deployed),
      largestWithSdkBundled: analysisJson(bundledSdk),
      targets: checks.map((c) => ({ target: c.target, measured: c.measured, verdict: verdict(c.ok) })),
    });
    log();
    log(`wrote ${file}`);
    if (process.env.BENCH_STRICT === '1' && checks.some((c) => !c.ok)) process.exitCode = 1;
  } finally {
    rmSync(outRoot, { recursive: true, force: true });
  }
};

await main();
