import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CedarPolicyEngine, type PolicySources } from './cedar.js';
import { type AuthzDecision, failClosed, type PolicyEngine } from './types.js';

/**
 * Where the policies live: `POLICY_DIR` (on Lambda, the policy layer's `/opt/policies/cedar`, so a
 * policy change ships without rebuilding any function), else the repository's `policies/cedar`.
 */
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
    return new CedarPolicyEngine(readPolicySources(dir));
  } catch (error) {
    onError?.(error);
    return new UnavailableEngine(error instanceof Error ? error.message : String(error));
  }
};
