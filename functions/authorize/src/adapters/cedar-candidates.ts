import { CedarPolicyEngine, loadCedar, PolicyLoadError, policyVersionOf } from '#shared/policy/cedar.js';
import type { PolicyEngine } from '#shared/policy/types.js';
import { InvalidPolicySetError, type PolicyCompiler } from '../domain/dry-run.js';

const NAMESPACE = 'Conductor';
const PRINCIPAL_TYPE = 'User';

interface SchemaJson {
  readonly [namespace: string]: {
    readonly actions?: Readonly<
      Record<string, { readonly appliesTo?: { readonly principalTypes?: readonly string[] } }>
    >;
  };
}

/**
 * The actions a request may name: those the Cedar schema declares as applying to a principal and a
 * resource. Action groups (`read`, `administer`, ...) apply to nothing, so Cedar would reject a
 * request naming one; they are not listed. Read with Cedar's own schema parser, not a regex.
 */
export const declaredActions = (schemaText: string): string[] => {
  const answer = loadCedar().schemaToJson(schemaText);
  if (answer.type === 'failure') {
    throw new PolicyLoadError(
      'Cannot read the Cedar schema',
      answer.errors.map((error) => error.message),
    );
  }
  const actions = (answer.json as unknown as SchemaJson)[NAMESPACE]?.actions ?? {};
  return Object.entries(actions)
    .filter(([, action]) => (action.appliesTo?.principalTypes ?? []).includes(PRINCIPAL_TYPE))
    .map(([name]) => name)
    .sort();
};

/** How many compiled candidates to keep, so re-running the same candidate does not compile it again. */
const KEPT_CANDIDATES = 8;

/**
 * Compiles a candidate policy set over the deployed schema with the kernel's CedarPolicyEngine, which
 * validates it strictly first. Cedar's messages come back in an InvalidPolicySetError (a 422).
 */
export class CedarPolicyCompiler implements PolicyCompiler {
  readonly #kept = new Map<string, PolicyEngine>();

  constructor(private readonly schema: string) {}

  compile(policies: Readonly<Record<string, string>>): PolicyEngine {
    const key = policyVersionOf({ schema: this.schema, policies });
    const kept = this.#kept.get(key);
    if (kept) return kept;
    let engine: PolicyEngine;
    try {
      engine = new CedarPolicyEngine({ schema: this.schema, policies });
    } catch (error) {
      if (error instanceof PolicyLoadError) {
        // The kernel's summary first (which file, which step), then Cedar's own messages.
        throw new InvalidPolicySetError(`The candidate policy set is invalid: ${error.message}.`, [
          error.message,
          ...error.details,
        ]);
      }
      throw error;
    }
    if (this.#kept.size >= KEPT_CANDIDATES) {
      const oldest = this.#kept.keys().next().value;
      if (oldest !== undefined) this.#kept.delete(oldest);
    }
    this.#kept.set(key, engine);
    return engine;
  }
}
