import {
  CedarPolicyEngine,
  PolicyLoadError,
  PolicySetTooLargeError,
  policyVersionOf,
} from '#shared/policy/cedar.js';
import type { PolicyEngine } from '#shared/ports/policy.js';
import {
  checkCandidateSize,
  DRY_RUN_CANDIDATE_LIMITS,
  InvalidPolicySetError,
  type PolicyCompiler,
  TooManyPoliciesError,
} from '../domain/dry-run.js';

// The schema's request actions are read by the kernel (they travel in the validated manifest).
export { declaredActions } from '#shared/policy/cedar.js';

/**
 * How many compiled candidates to keep, so re-running the same candidate does not validate it again.
 * What Cedar holds for them is bounded apart from this: their preparsed sets share the kernel's
 * fixed pool of `candidates` names (PREPARSED_POOLS), whatever is kept here.
 */
const KEPT_CANDIDATES = 8;

/**
 * Compiles a candidate policy set over the deployed schema with the kernel's CedarPolicyEngine, which
 * validates it strictly first. Cedar's messages come back in an InvalidPolicySetError (a 422); a
 * candidate over DRY_RUN_CANDIDATE_LIMITS is a 413, refused before Cedar validates it.
 */
export class CedarPolicyCompiler implements PolicyCompiler {
  readonly #kept = new Map<string, PolicyEngine>();

  constructor(private readonly schema: string) {}

  compile(policies: Readonly<Record<string, string>>): PolicyEngine {
    checkCandidateSize(policies);
    const key = policyVersionOf({ schema: this.schema, policies });
    const kept = this.#kept.get(key);
    if (kept) return kept;
    let engine: PolicyEngine;
    try {
      engine = new CedarPolicyEngine({ schema: this.schema, policies }, undefined, {
        pool: 'candidates',
        maxPolicies: DRY_RUN_CANDIDATE_LIMITS.policies,
      });
    } catch (error) {
      if (error instanceof PolicySetTooLargeError)
        throw new TooManyPoliciesError(error.count, error.maxPolicies);
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
