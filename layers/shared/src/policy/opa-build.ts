import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { OPA_BUNDLE_MANIFEST, OPA_ENTRYPOINT, OPA_WASM_FILE, type OpaBundleManifest } from './opa.js';

/**
 * Compiling the Rego of `policies/rego` to the wasm that OpaPolicyEngine evaluates. Needs the OPA
 * compiler (`opa`) on PATH: the CDK app calls this when synthesizing with `policyEngine=opa`.
 */

export const OPA_INSTALL_URL = 'https://www.openpolicyagent.org/docs/latest/#running-opa';
/** How the project installs its pinned opa (needs Go). */
export const OPA_INSTALL_COMMAND = 'npm run opa:install';

export class OpaNotFoundError extends Error {
  constructor() {
    super(
      `The OPA compiler (opa) is not on PATH: install it from ${OPA_INSTALL_URL} to use policyEngine=opa, ` +
        'or use the default Cedar engine.',
    );
    this.name = 'OpaNotFoundError';
  }
}

export class OpaBuildError extends Error {
  constructor(
    message: string,
    readonly details = '',
  ) {
    super(details ? `${message}: ${details}` : message);
    this.name = 'OpaBuildError';
  }
}

const isExecutableFile = (path: string): boolean => {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** Where `npm run opa:install` (scripts/install-opa.sh) puts the pinned opa. */
export const PROJECT_OPA_DIR = fileURLToPath(new URL('../../../../.tools/bin', import.meta.url));

/**
 * The `opa` executable to use, found without running one: the first PATH folder holding an
 * executable file named `opa` (`opa.exe` on Windows), else the project's own (`.tools/bin`, where
 * `npm run opa:install` puts the pinned version). Empty PATH entries (the working directory) are not
 * searched.
 */
export const findOpa = (
  pathVariable: string | undefined = process.env.PATH,
  projectDir: string = PROJECT_OPA_DIR,
): string | undefined => {
  const names = process.platform === 'win32' ? ['opa.exe', 'opa'] : ['opa'];
  for (const dir of [...(pathVariable ?? '').split(delimiter), projectDir]) {
    if (dir === '') continue;
    for (const name of names) {
      const candidate = resolve(dir, name);
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return undefined;
};

const parseOctal = (field: string, what: string): number => {
  const text = field.trim();
  const value = text === '' ? 0 : Number.parseInt(text, 8);
  if (!/^[0-7]*$/.test(text) || !Number.isSafeInteger(value))
    throw new OpaBuildError(`bad tar ${what}`, field);
  return value;
};

/** Reads a NUL-terminated header field. */
const textField = (block: Buffer, start: number, length: number): string => {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? raw.length : end).toString('utf8');
};

/** The `path` of a PAX extended header (records `<len> <key>=<value>\n`). */
const paxPath = (data: Buffer): string | undefined => {
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space === -1) return undefined;
    const length = Number.parseInt(data.subarray(offset, space).toString('utf8'), 10);
    if (!Number.isSafeInteger(length) || length <= 0) return undefined;
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (record.slice(0, equals) === 'path') return record.slice(equals + 1);
    offset += length;
  }
  return undefined;
};

const normalizeEntryName = (name: string): string => name.replace(/^(\.?\/)+/, '');

/**
 * One regular file of a gzipped tarball (ustar, GNU long names and PAX paths understood), or
 * undefined when it holds no such file. `name` is matched without a leading `/` or `./`: OPA writes
 * `/policy.wasm`.
 */
export const extractFromTarGz = (tarGz: Uint8Array, name: string): Buffer | undefined => {
  const tar = gunzipSync(tarGz);
  const wanted = normalizeEntryName(name);
  let nextName: string | undefined;
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const size = parseOctal(textField(header, 124, 12), 'entry size');
    const type = textField(header, 156, 1);
    const start = offset + 512;
    if (start + size > tar.length) throw new OpaBuildError('truncated tarball');
    const data = tar.subarray(start, start + size);
    if (type === 'L') {
      nextName = textField(data, 0, data.length);
    } else if (type === 'x') {
      nextName = paxPath(data) ?? nextName;
    } else {
      const prefix = textField(header, 257, 5) === 'ustar' ? textField(header, 345, 155) : '';
      const base = textField(header, 0, 100);
      const entryName = nextName ?? (prefix ? `${prefix}/${base}` : base);
      nextName = undefined;
      if ((type === '0' || type === '') && normalizeEntryName(entryName) === wanted) return Buffer.from(data);
    }
    offset = start + Math.ceil(size / 512) * 512;
  }
  return undefined;
};

export interface BuildOptions {
  /** The `opa` executable; found on PATH, then in the project's `.tools/bin`, when not given. */
  readonly opa?: string | undefined;
  /** Where the project's own opa is looked for (tests point it elsewhere). */
  readonly projectDir?: string;
}

/**
 * Runs `opa build -t wasm -e conductor/authz/decision <the .rego files of regoDir but the _test.rego
 * ones> -o <outDir>/bundle.tar.gz` and
 * extracts the bundle's `/policy.wasm` to `<outDir>/policy.wasm`, whose path it returns.
 * Throws OpaNotFoundError without `opa`, OpaBuildError when the build fails.
 */
export const buildOpaWasm = (regoDir: string, outDir: string, options: BuildOptions = {}): string => {
  const opa = options.opa ?? findOpa(process.env.PATH, options.projectDir);
  if (!opa) throw new OpaNotFoundError();
  mkdirSync(outDir, { recursive: true });
  const bundle = join(outDir, 'bundle.tar.gz');
  try {
    // The policy's own files only: the `_test.rego` unit tests are not part of what ships.
    // Relative names from the Rego folder: opa writes source paths into the wasm, so an absolute
    // path would make the bundle depend on where the repository is checked out.
    execFileSync(
      opa,
      ['build', '-t', 'wasm', '-e', OPA_ENTRYPOINT, ...regoSourceFiles(regoDir), '-o', resolve(bundle)],
      {
        cwd: regoDir,
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: unknown; stdout?: unknown };
    const output = [stderr, stdout].filter((s): s is string => typeof s === 'string' && s.trim() !== '');
    throw new OpaBuildError(
      `opa build -t wasm failed for ${regoDir}`,
      output.length > 0 ? output.join('\n').trim() : error instanceof Error ? error.message : String(error),
    );
  }
  const wasm = extractFromTarGz(readFileSync(bundle), '/policy.wasm');
  if (!wasm) throw new OpaBuildError(`${bundle} holds no /policy.wasm`);
  const wasmPath = join(outDir, 'policy.wasm');
  writeFileSync(wasmPath, wasm);
  return wasmPath;
};

/** The Rego a bundle is built from: every `*.rego` of the folder but the `*_test.rego` unit tests. */
export const regoSourceFiles = (regoDir: string): string[] =>
  readdirSync(regoDir)
    .filter((file) => file.endsWith('.rego') && !file.endsWith('_test.rego'))
    .sort();

/** sha256 (hex) of the Rego sources: each file's name and content, in name order. */
export const regoSourceDigest = (regoDir: string): string => {
  const hash = createHash('sha256');
  for (const file of regoSourceFiles(regoDir)) {
    hash
      .update(`${file}\n`)
      .update(readFileSync(join(regoDir, file)))
      .update('\n');
  }
  return hash.digest('hex');
};

/** `v1.22.4`: what `opa version` reports. */
export const opaVersionOf = (opa: string): string => {
  const out = execFileSync(opa, ['version'], { encoding: 'utf8', timeout: 30_000 });
  const version = /^Version:\s*(\S+)/m.exec(out)?.[1];
  if (!version) throw new OpaBuildError(`${opa} version printed no version`, out.trim());
  return version.startsWith('v') ? version : `v${version}`;
};

/**
 * Builds the OPA bundle folder the engine loads: `policy.wasm` (from `opa build -t wasm`) and its
 * `bundle.json` (the opa version, the entry point, the Rego's digest and the wasm's sha256).
 */
export const buildOpaBundle = (
  regoDir: string,
  outDir: string,
  options: BuildOptions = {},
): { wasmPath: string; manifest: OpaBundleManifest } => {
  const opa = options.opa ?? findOpa(process.env.PATH, options.projectDir);
  if (!opa) throw new OpaNotFoundError();
  const work = mkdtempSync(join(tmpdir(), 'conductor-opa-build-'));
  try {
    const built = buildOpaWasm(regoDir, work, { opa });
    const wasm = readFileSync(built);
    mkdirSync(outDir, { recursive: true });
    const wasmPath = join(outDir, OPA_WASM_FILE);
    writeFileSync(wasmPath, wasm);
    const manifest: OpaBundleManifest = {
      opaVersion: opaVersionOf(opa),
      entrypoint: OPA_ENTRYPOINT,
      sourceDigest: regoSourceDigest(regoDir),
      wasmSha256: createHash('sha256').update(wasm).digest('hex'),
    };
    writeFileSync(join(outDir, OPA_BUNDLE_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    return { wasmPath, manifest };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
};
