import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { REPO_ROOT } from './service-function.js';

/** Where the layer's policies land in a function: Lambda extracts layers under /opt. */
export const LAYER_POLICY_DIR = '/opt/policies/cedar';

export interface PolicyLayerProps {
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
    this.contentHash = hash.digest('hex').slice(0, 12);

    // Stage the layer's tree (deterministic content, so the asset hash only moves when it does).
    const staging = join(tmpdir(), `conductor-policy-layer-${this.contentHash}`);
    rmSync(staging, { recursive: true, force: true });
    const moduleDir = join(staging, 'nodejs/node_modules/@cedar-policy/cedar-wasm');
    mkdirSync(join(moduleDir, 'nodejs'), { recursive: true });
    cpSync(join(cedarDir, 'package.json'), join(moduleDir, 'package.json'));
    cpSync(join(cedarDir, 'nodejs'), join(moduleDir, 'nodejs'), { recursive: true });
    mkdirSync(join(staging, 'policies/cedar'), { recursive: true });
    for (const file of files) cpSync(join(policyDir, file), join(staging, 'policies/cedar', file));

    this.layer = new LayerVersion(this, 'Layer', {
      code: Code.fromAsset(staging),
      compatibleRuntimes: [Runtime.NODEJS_22_X],
      compatibleArchitectures: [Architecture.ARM_64],
      description: `Conductor policy bundle ${this.contentHash}: Cedar schema, policies and engine`,
    });
  }
}
