import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AuthzDecision, failClosed, type PolicyEngine } from '../ports/policy.js';
import {
  CedarPolicyEngine,
  declaredActions,
  type ParsedPolicy,
  type PolicySources,
  parseAndValidate,
  policyVersionOf,
  VALIDATED_MANIFEST,
  type ValidatedManifest,
} from './cedar.js';

/**
 * Where the policies live: `POLICY_DIR` (on Lambda, the policy layer's `/opt/policies/cedar`, so a
 * policy change ships without rebuilding any function), else the repository's `policies/cedar`.
 */
/** The policy engines Conductor runs in-process. */
export const POLICY_ENGINES = ['cedar', 'opa'] as const;
export type PolicyEngineName = (typeof POLICY_ENGINES)[number];
/**
 * The engine used when none is chosen (`npm start -- --policy-engine`, CDK context `policyEngine`,
 * POLICY_ENGINE): see the README's "Policy engines" for why this one.
 */
export const DEFAULT_POLICY_ENGINE: PolicyEngineName = 'opa';

/** The committed OPA bundle (`npm run opa:build` writes it from policies/rego). */
export const defaultOpaBundleDir = (): string =>
  process.env.POLICY_DIR ?? fileURLToPath(new URL('../../../../policies/opa', import.meta.url));

export const defaultPolicyDir = (): string =>
  process.env.POLICY_DIR ?? fileURLToPath(new URL('../../../../policies/cedar', import.meta.url));

/** Reads the one `*.cedarschema` and every `*.cedar` file of a folder. */
export const readPolicySources = (dir: string): PolicySources => {
  const files = readdirSync(dir).sort();
  const schemas = files.filter((f) => f.endsWith('.cedarschema'));
  if (schemas.length !== 1)
    throw new Error(`${dir} must hold exactly one .cedarschema file (found ${schemas.length})`);
  const policies: Record<string, string> = {};
  for (const file of files.filter((f) => f.endsWith('.cedar')))
    policies[file] = readFileSync(join(dir, file), 'utf8');
  return { schema: readFileSync(join(dir, schemas[0] ?? ''), 'utf8'), policies };
};

/**
 * Validates a folder's policies strictly against its schema and writes the manifest that lets an
 * engine skip doing so at cold start (throws PolicyLoadError, writing nothing, when they do not
 * validate). The policy layer calls it at synth.
 */
export const writeValidatedManifest = (dir: string): ValidatedManifest => {
  const sources = readPolicySources(dir);
  const manifest: ValidatedManifest = {
    policyVersion: policyVersionOf(sources),
    policies: parseAndValidate(sources),
    actions: declaredActions(sources.schema),
  };
  writeFileSync(join(dir, VALIDATED_MANIFEST), `${JSON.stringify(manifest)}\n`);
  return manifest;
};

const isParsedPolicy = (value: unknown): value is ParsedPolicy => {
  const p = value as Partial<ParsedPolicy> | null;
  return (
    typeof p?.id === 'string' &&
    typeof p.text === 'string' &&
    (p.effect === 'permit' || p.effect === 'forbid') &&
    typeof p.annotations === 'object' &&
    p.annotations !== null &&
    Object.values(p.annotations).every((v) => typeof v === 'string')
  );
};

/**
 * The folder's manifest when it was made from the folder's sources, or undefined when there is none,
 * it is not one, or it is stale (then: full validation).
 */
export const readValidatedManifest = (
  dir: string,
  sources: PolicySources = readPolicySources(dir),
): ValidatedManifest | undefined => {
  const manifest = readManifestFile(dir);
  return manifest?.policyVersion === policyVersionOf(sources) ? manifest : undefined;
};

const readManifestFile = (dir: string): ValidatedManifest | undefined => {
  const path = join(dir, VALIDATED_MANIFEST);
  if (!existsSync(path)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<ValidatedManifest>;
    if (
      typeof parsed.policyVersion !== 'string' ||
      !Array.isArray(parsed.policies) ||
      !Array.isArray(parsed.actions)
    )
      return undefined;
    return parsed.policies.every(isParsedPolicy) && parsed.actions.every((a) => typeof a === 'string')
      ? { policyVersion: parsed.policyVersion, policies: parsed.policies, actions: parsed.actions }
      : undefined;
  } catch {
    return undefined;
  }
};

/** An engine that denies everything because the real one could not load: fail closed, say why. */
export class UnavailableEngine implements PolicyEngine {
  readonly name = 'cedar' as const;
  readonly policyVersion = 'unavailable';
  constructor(readonly reason: string) {}
  decide(): AuthzDecision {
    return failClosed(this.policyVersion, `policy engine unavailable: ${this.reason}`);
  }
}

/** Loads the engine once per process; a load failure yields an engine that denies, never one that allows. */
export const loadPolicyEngine = (
  dir = defaultPolicyDir(),
  onError?: (error: unknown) => void,
): PolicyEngine => {
  try {
    const sources = readPolicySources(dir);
    return new CedarPolicyEngine(sources, readValidatedManifest(dir, sources));
  } catch (error) {
    onError?.(error);
    return new UnavailableEngine(error instanceof Error ? error.message : String(error));
  }
};
