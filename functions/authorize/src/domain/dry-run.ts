import { AppError, PayloadTooLargeError } from '#shared/errors.js';
import type { DecisionRecord, PolicyEngine } from '#shared/ports/policy.js';
import type { DecisionLogReader } from './decisions.js';

export const DRY_RUN_LIMIT = { default: 200, max: 1000 } as const;

/**
 * The largest candidate a dry-run takes: its policy text (all files, UTF-8 bytes) and its policies.
 * Compiling a candidate costs memory and CPU in the function that serves every authorization
 * question; the deployed set is under 4 KB and a dozen policies, so these leave ample room.
 */
export const DRY_RUN_CANDIDATE_LIMITS = { textBytes: 64 * 1024, policies: 256 } as const;

/** A candidate of more policies than DRY_RUN_CANDIDATE_LIMITS.policies (a 413, as an oversized body). */
export class TooManyPoliciesError extends AppError {
  constructor(count: number, max: number) {
    super(413, 'payload_too_large', `The candidate has ${count} policies; at most ${max} are allowed.`, {
      details: { policies: count, maxPolicies: max },
    });
  }
}

const utf8 = new TextEncoder();

/** Refuses (413) a candidate whose policy text is over DRY_RUN_CANDIDATE_LIMITS.textBytes. */
export const checkCandidateSize = (candidate: Readonly<Record<string, string>>): void => {
  let bytes = 0;
  for (const text of Object.values(candidate)) bytes += utf8.encode(text).byteLength;
  if (bytes > DRY_RUN_CANDIDATE_LIMITS.textBytes)
    throw new PayloadTooLargeError(DRY_RUN_CANDIDATE_LIMITS.textBytes, 'The candidate policy text');
};

/** A candidate policy set that does not parse or does not validate against the deployed schema. */
export class InvalidPolicySetError extends AppError {
  constructor(message: string, errors: readonly string[]) {
    super(422, 'invalid_policy_set', message, { details: { errors: [...errors] } });
  }
}

/**
 * Port: turns candidate policy files into an engine over the deployed schema, or throws an
 * InvalidPolicySetError carrying the engine's own messages, or a TooManyPoliciesError. However many
 * candidates it compiles, what it keeps must stay bounded.
 */
export interface PolicyCompiler {
  compile(policies: Readonly<Record<string, string>>): PolicyEngine;
}

export interface DecisionOutcome {
  readonly allow: boolean;
  readonly obligations: string[];
  readonly masks: string[];
}

export interface ChangedDecision {
  readonly decisionId: string;
  readonly at: string;
  readonly action: string;
  /** The engine and policy (bundle) version that made the logged decision. */
  readonly decidedBy: { readonly engine: string; readonly policyVersion: string };
  readonly before: DecisionOutcome;
  readonly after: DecisionOutcome;
}

export interface DryRunReport {
  /** How many logged decisions were decided again. */
  readonly evaluated: number;
  /** Those whose allow, obligations or masks the candidate would change, newest first. */
  readonly changed: ChangedDecision[];
  readonly candidateVersion: string;
  /** The deployed Cedar policies' version: the candidate is compared with them. */
  readonly currentVersion: string;
  /** The engine and policy version deciding requests now. */
  readonly running: { readonly engine: string; readonly policyVersion: string };
}

export interface DryRunDeps {
  readonly reader: DecisionLogReader;
  readonly compiler: PolicyCompiler;
  /** The version of the policy set deciding requests now. */
  readonly currentVersion: () => string;
  readonly running: () => { readonly engine: string; readonly policyVersion: string };
}

const sorted = (values: readonly string[]): string[] => [...values].sort();

const sameOutcome = (a: DecisionOutcome, b: DecisionOutcome): boolean =>
  a.allow === b.allow &&
  JSON.stringify(a.obligations) === JSON.stringify(b.obligations) &&
  JSON.stringify(a.masks) === JSON.stringify(b.masks);

/**
 * Policy dry-run: decides the acting tenant's last N logged decisions again, with their logged input
 * (principal, action, resource and the grants live at the time), under a candidate policy set, and
 * reports the ones whose outcome would differ from what was logged. Nothing is logged or enforced.
 */
export class DryRunService {
  constructor(private readonly deps: DryRunDeps) {}

  async run(
    tenantId: string,
    candidate: Readonly<Record<string, string>>,
    limit: number = DRY_RUN_LIMIT.default,
  ): Promise<DryRunReport> {
    // Validate first: an oversized or invalid candidate costs no reads.
    checkCandidateSize(candidate);
    const engine = this.deps.compiler.compile(candidate);
    const records = await this.deps.reader.recent(tenantId, Math.min(limit, DRY_RUN_LIMIT.max));
    return {
      evaluated: records.length,
      changed: diffDecisions(records, engine),
      candidateVersion: engine.policyVersion,
      currentVersion: this.deps.currentVersion(),
      running: this.deps.running(),
    };
  }
}

/** The logged decisions a candidate engine would decide differently, in the order given. */
export const diffDecisions = (
  records: readonly DecisionRecord[],
  engine: PolicyEngine,
): ChangedDecision[] => {
  const changed: ChangedDecision[] = [];
  for (const record of records) {
    const decision = engine.decide(record.input);
    const before: DecisionOutcome = {
      allow: record.allow,
      obligations: sorted(record.obligations),
      masks: sorted(record.masks),
    };
    const after: DecisionOutcome = {
      allow: decision.allow,
      obligations: sorted(decision.obligations),
      masks: sorted(decision.masks),
    };
    if (!sameOutcome(before, after)) {
      changed.push({
        decisionId: record.decisionId,
        at: record.at,
        action: record.input.action,
        decidedBy: { engine: record.engine, policyVersion: record.policyVersion },
        before,
        after,
      });
    }
  }
  return changed;
};
