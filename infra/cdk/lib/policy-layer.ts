import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { OPA_BUNDLE_MANIFEST, OPA_WASM_FILE, type OpaBundleManifest } from '#shared/policy/opa.js';
import { buildOpaBundle, regoSourceDigest } from '#shared/policy/opa-build.js';
import {
  DEFAULT_POLICY_ENGINE,
  type PolicyEngineName,
  writeValidatedManifest,
} from '#shared/policy/source.js';
import { REPO_ROOT } from './service-function.js';

export type { PolicyEngineName };

/** The committed OPA bundle exists, is intact, and was built from the Rego as it is now. */
const committedBundleIsCurrent = (bundleDir: string, regoDir: string): boolean => {
  try {
    const manifest = JSON.parse(
      readFileSync(join(bundleDir, OPA_BUNDLE_MANIFEST), 'utf8'),
    ) as OpaBundleManifest;
    const wasm = readFileSync(join(bundleDir, OPA_WASM_FILE));
    return (
      manifest.sourceDigest === regoSourceDigest(regoDir) &&
      manifest.wasmSha256 === createHash('sha256').update(wasm).digest('hex')
    );
  } catch {
    return false;
  }
};

/** Where the layer's policies land in a function (Lambda extracts layers under /opt), per engine. */
export const LAYER_POLICY_DIRS: Readonly<Record<PolicyEngineName, string>> = {
  cedar: '/opt/policies/cedar',
  opa: '/opt/policies/opa',
};

export interface PolicyLayerProps {
  /**
   * Which engine the functions run: Cedar (policies/cedar), or OPA with the committed bundle
   * (policies/opa) when it is current, else policies/rego compiled by `opa build -t wasm` at synth
   * (synth fails with a clear message when `opa` is not installed).
   *
   * @default DEFAULT_POLICY_ENGINE (#shared/policy/source.ts)
   */
  readonly engine?: PolicyEngineName;
  /**
   * The repository root (holds policies/ and node_modules/).
   *
   * @default REPO_ROOT
   */
  readonly projectRoot?: string;
}

/**
 * The policy bundle as a Lambda layer: the Cedar schema and policies plus the Cedar engine
 * (`@cedar-policy/cedar-wasm`, its Node.js build only). Functions load both from /opt at init, so a
 * policy change ships as a new layer version without rebuilding any function; the engine's 4 MB
 * wasm stays out of every function bundle.
 */
export class PolicyLayer extends Construct {
  readonly layer: LayerVersion;
  readonly engine: PolicyEngineName;
  /** sha256 of what the layer holds (12 hex digits), shown in its description. */
  readonly contentHash: string;

  constructor(scope: Construct, id: string, props: PolicyLayerProps = {}) {
    super(scope, id);
    const root = props.projectRoot ?? REPO_ROOT;
    const policyDir = join(root, 'policies/cedar');
    const cedarDir = join(root, 'node_modules/@cedar-policy/cedar-wasm');
    if (!existsSync(join(cedarDir, 'nodejs/cedar_wasm_bg.wasm'))) {
      throw new Error(`PolicyLayer: ${cedarDir} is missing; run npm ci first.`);
    }
    const files = readdirSync(policyDir)
      .filter((f) => f.endsWith('.cedar') || f.endsWith('.cedarschema'))
      .sort();
    if (files.length === 0) throw new Error(`PolicyLayer: no Cedar files in ${policyDir}`);

    const hash = createHash('sha256');
    for (const file of files) hash.update(file).update(readFileSync(join(policyDir, file)));
    hash.update(readFileSync(join(cedarDir, 'package.json')));
    if (props.engine === 'opa') {
      const regoDir = join(root, 'policies/rego');
      for (const file of readdirSync(regoDir)
        .filter((f) => f.endsWith('.rego'))
        .sort()) {
        hash.update(file).update(readFileSync(join(regoDir, file)));
      }
    }
    this.contentHash = hash.digest('hex').slice(0, 12);

    // Stage the layer's tree (deterministic content, so the asset hash only moves when it does) in
    // a folder of this process, then move it into place in one rename: synths running at once (test
    // workers) never see, nor delete, each other's half-written tree.
    const final = join(tmpdir(), `conductor-policy-layer-${this.contentHash}`);
    const staging = mkdtempSync(`${final}-building-`);
    const moduleDir = join(staging, 'nodejs/node_modules/@cedar-policy/cedar-wasm');
    mkdirSync(join(moduleDir, 'nodejs'), { recursive: true });
    cpSync(join(cedarDir, 'package.json'), join(moduleDir, 'package.json'));
    cpSync(join(cedarDir, 'nodejs'), join(moduleDir, 'nodejs'), { recursive: true });
    mkdirSync(join(staging, 'policies/cedar'), { recursive: true });
    for (const file of files) cpSync(join(policyDir, file), join(staging, 'policies/cedar', file));
    // Validated here, at synth (an invalid policy set fails the synth), so functions skip it at
    // cold start (layers/shared/src/policy/cedar.ts: VALIDATED_MANIFEST).
    writeValidatedManifest(join(staging, 'policies/cedar'));

    this.engine = props.engine ?? DEFAULT_POLICY_ENGINE;
    if (this.engine === 'opa') {
      // The committed bundle (policies/opa, built by `npm run opa:build`) when it was built from the
      // Rego as it is; otherwise the Rego is compiled here, and without opa synth fails with
      // OpaNotFoundError ("The OPA compiler (opa) is not on PATH ...") before anything deploys.
      const regoDir = join(root, 'policies/rego');
      const committed = join(root, 'policies/opa');
      const opaDir = join(staging, 'policies/opa');
      if (committedBundleIsCurrent(committed, regoDir)) {
        mkdirSync(opaDir, { recursive: true });
        for (const file of [OPA_WASM_FILE, OPA_BUNDLE_MANIFEST])
          cpSync(join(committed, file), join(opaDir, file));
      } else {
        buildOpaBundle(regoDir, opaDir);
      }
      // opa-wasm and its dependencies, wherever npm put them (nested under it, or hoisted).
      const opaWasmDir = join(root, 'node_modules/@open-policy-agent/opa-wasm');
      const copyPackage = (from: string, name: string) =>
        cpSync(from, join(staging, 'nodejs/node_modules', name), { recursive: true });
      copyPackage(opaWasmDir, '@open-policy-agent/opa-wasm');
      const { dependencies = {} } = JSON.parse(readFileSync(join(opaWasmDir, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      };
      for (const dep of Object.keys(dependencies)) {
        if (existsSync(join(opaWasmDir, 'node_modules', dep))) continue;
        const hoisted = join(root, 'node_modules', dep);
        if (!existsSync(hoisted))
          throw new Error(`PolicyLayer: ${dep} (needed by opa-wasm) is missing; run npm ci first.`);
        copyPackage(hoisted, dep);
      }
    }

    writeFileSync(join(staging, COMPLETE_MARKER), this.contentHash);
    publishStaged(staging, final);

    this.layer = new LayerVersion(this, 'Layer', {
      code: Code.fromAsset(final, { exclude: [COMPLETE_MARKER] }),
      compatibleRuntimes: [Runtime.NODEJS_22_X],
      compatibleArchitectures: [Architecture.ARM_64],
      description: `Conductor policy bundle ${this.contentHash} (${this.engine}): schema, policies and engine`,
    });
  }
}

/** Written last into a staged tree: a tree without it is half-written (an interrupted older synth). */
const COMPLETE_MARKER = '.complete';

/**
 * Moves a staged tree to `final` unless a complete one (same content hash, so the same content) is
 * already there; a half-written one is replaced.
 */
const publishStaged = (staging: string, final: string): void => {
  if (existsSync(join(final, COMPLETE_MARKER))) {
    rmSync(staging, { recursive: true, force: true });
    return;
  }
  rmSync(final, { recursive: true, force: true });
  try {
    renameSync(staging, final);
  } catch (error) {
    // Another synth published the same tree between the check and the rename: keep theirs.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(join(final, COMPLETE_MARKER))) throw error;
  }
};
