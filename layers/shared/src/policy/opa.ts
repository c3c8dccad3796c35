import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type AuthzDecision, type AuthzRequest, failClosed, type PolicyEngine } from '../ports/policy.js';

/** The rule `opa build -t wasm -e ...` must export: `data.conductor.authz.decision`. */
export const OPA_ENTRYPOINT = 'conductor/authz/decision';

/** What the engine needs of a loaded policy: `LoadedPolicy` of `@open-policy-agent/opa-wasm` has it. */
export interface EvaluablePolicy {
  evaluate(input: unknown, entrypoint?: number | string): unknown;
  /** Entry point name -> id, as opa-wasm reads them from the module. */
  readonly entrypoints?: unknown;
}

/** Turns compiled wasm bytes into a policy; the default is opa-wasm's `loadPolicy`. */
export type OpaPolicyLoader = (wasm: Uint8Array) => Promise<EvaluablePolicy>;

interface OpaWasmModule {
  loadPolicy(wasm: Uint8Array): Promise<EvaluablePolicy>;
}

/**
 * Loaded with `require`, like the Cedar engine, so that on Lambda it resolves from the policy layer
 * (NODE_PATH, which ESM imports ignore) and a Cedar-only process never loads it.
 */
let opaWasm: OpaWasmModule | undefined;
const loadOpaWasm = (): OpaWasmModule => {
  opaWasm ??= createRequire(import.meta.url)('@open-policy-agent/opa-wasm') as OpaWasmModule;
  return opaWasm;
};

export const loadOpaWasmPolicy: OpaPolicyLoader = (wasm) => loadOpaWasm().loadPolicy(wasm);

/** The file beside `policy.wasm` that says what it is: `opa build`'s version, its source and digest. */
export const OPA_BUNDLE_MANIFEST = 'bundle.json';
export const OPA_WASM_FILE = 'policy.wasm';

/**
 * What a compiled policy bundle declares about itself (written by `npm run opa:build`, or by the CDK
 * app at synth): which opa built it from which Rego, and the sha256 its wasm must have. The engine
 * refuses a wasm whose digest differs (a bundle changed after it was built, or a half-copied one).
 */
export interface OpaBundleManifest {
  /** The `opa` that compiled it, e.g. `v1.22.4`. */
  readonly opaVersion: string;
  readonly entrypoint: string;
  /** sha256 (hex) of the Rego sources it was built from (`_test.rego` files excluded). */
  readonly sourceDigest: string;
  /** sha256 (hex) of policy.wasm. */
  readonly wasmSha256: string;
}

export class OpaBundleIntegrityError extends Error {
  override readonly name = 'OpaBundleIntegrityError';
}

const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Reads `policy.wasm` and its manifest from a bundle folder, and checks the wasm against the manifest. */
export const readOpaBundle = async (dir: string): Promise<{ wasm: Buffer; manifest: OpaBundleManifest }> => {
  const [wasm, text] = await Promise.all([
    readFile(join(dir, OPA_WASM_FILE)),
    readFile(join(dir, OPA_BUNDLE_MANIFEST), 'utf8'),
  ]);
  const manifest = JSON.parse(text) as Partial<OpaBundleManifest>;
  if (typeof manifest.wasmSha256 !== 'string' || manifest.entrypoint !== OPA_ENTRYPOINT) {
    throw new OpaBundleIntegrityError(
      `${join(dir, OPA_BUNDLE_MANIFEST)} is not an OPA bundle manifest of ${OPA_ENTRYPOINT}`,
    );
  }
  const actual = sha256Hex(wasm);
  if (actual !== manifest.wasmSha256) {
    throw new OpaBundleIntegrityError(
      `${join(dir, OPA_WASM_FILE)} has sha256 ${actual}, its manifest says ${manifest.wasmSha256}: refusing it`,
    );
  }
  return { wasm, manifest: manifest as OpaBundleManifest };
};

/** `opa-` and 12 hex digits of the sha256 of the compiled policy. */
export const opaPolicyVersionOf = (wasm: Uint8Array): string =>
  `opa-${createHash('sha256').update(wasm).digest('hex').slice(0, 12)}`;

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === 'string' ? error : 'unknown error';

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isStringArray = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === 'string');

/** The input the Rego reads, built field by field; a string says what is malformed. */
type OpaInput = {
  principal: { subject: string; tenantId: string; roles: string[] };
  action: string;
  resource: {
    tenantId: string;
    kind: string;
    classification?: string;
    approverRoles?: string[];
    requestedBy?: string;
  };
  context: { mfa: boolean; grantedTenants: string[] };
};

/**
 * The request checked as Cedar's request validation checks it (strings, a boolean, sets of strings):
 * the Rego trusts its input's shape, so a malformed request must never reach it.
 */
const toInput = (request: AuthzRequest): OpaInput | string => {
  const { principal, resource, context } = request as Partial<Record<keyof AuthzRequest, unknown>>;
  const action: unknown = request.action;
  if (!isRecord(principal) || !isRecord(resource) || !isRecord(context)) return 'malformed request';
  const { subject, tenantId, roles } = principal;
  if (typeof subject !== 'string' || typeof tenantId !== 'string' || !isStringArray(roles))
    return 'malformed principal';
  if (typeof action !== 'string') return 'malformed action';
  if (typeof resource.tenantId !== 'string' || typeof resource.kind !== 'string') return 'malformed resource';
  const { classification, approverRoles, requestedBy } = resource;
  if (classification !== undefined && typeof classification !== 'string') return 'malformed resource';
  if (approverRoles !== undefined && !isStringArray(approverRoles)) return 'malformed resource';
  if (requestedBy !== undefined && typeof requestedBy !== 'string') return 'malformed resource';
  if (typeof context.mfa !== 'boolean' || !isStringArray(context.grantedTenants)) return 'malformed context';
  return {
    principal: { subject, tenantId, roles: [...roles] },
    action,
    // The optional attributes only when present: the Rego tests them as Cedar's `has` does.
    resource: {
      tenantId: resource.tenantId,
      kind: resource.kind,
      ...(classification !== undefined ? { classification } : {}),
      ...(approverRoles !== undefined ? { approverRoles: [...approverRoles] } : {}),
      ...(requestedBy !== undefined ? { requestedBy } : {}),
    },
    context: { mfa: context.mfa, grantedTenants: [...context.grantedTenants] },
  };
};

const sortedUnique = (values: readonly string[]): string[] => [...new Set(values)].sort();

/**
 * OPA with the Rego of `policies/rego`, compiled to wasm by `opa build -t wasm` (see opa-build.ts)
 * and evaluated in-process. Any error, and any output that is not exactly the decision the Rego
 * promises, is a deny that says why (fail closed).
 *
 * One error never reaches this engine: a built-in that fails inside a rule (`to_number("x")`, `1 / 0`)
 * makes the expression undefined, and opa-wasm has no strict mode to raise it, so a forbid rule that
 * errors would simply not match. The Rego is therefore kept to built-ins that cannot fail on the input
 * shape checked below (a test in opa.test.ts holds it to that); what opa-wasm does throw (an abort, two
 * values for one rule) is a deny here. Cedar reports such errors, and its engine denies on them.
 */
export class OpaPolicyEngine implements PolicyEngine {
  readonly name = 'opa' as const;
  readonly #policy: EvaluablePolicy;

  constructor(
    policy: EvaluablePolicy,
    readonly policyVersion: string,
  ) {
    this.#policy = policy;
  }

  /** Loads `policy.wasm` (the one in the bundle of `opa build -t wasm`). Throws if it cannot be used. */
  static async load(wasmPath: string, loader: OpaPolicyLoader = loadOpaWasmPolicy): Promise<OpaPolicyEngine> {
    return OpaPolicyEngine.fromWasm(await readFile(wasmPath), loader);
  }

  /**
   * Loads a bundle folder (`policy.wasm` and `bundle.json`), refusing a wasm whose sha256 is not the
   * one its manifest declares (OpaBundleIntegrityError). The policy version every decision records is
   * derived from that digest.
   */
  static async loadBundle(
    dir: string,
    loader: OpaPolicyLoader = loadOpaWasmPolicy,
  ): Promise<OpaPolicyEngine> {
    const { wasm } = await readOpaBundle(dir);
    return OpaPolicyEngine.fromWasm(wasm, loader);
  }

  static async fromWasm(
    wasm: Uint8Array,
    loader: OpaPolicyLoader = loadOpaWasmPolicy,
  ): Promise<OpaPolicyEngine> {
    const policy = await loader(wasm);
    const { entrypoints } = policy;
    if (entrypoints !== undefined && !(isRecord(entrypoints) && OPA_ENTRYPOINT in entrypoints)) {
      throw new Error(
        `The OPA policy has no entrypoint ${OPA_ENTRYPOINT} (it has ${JSON.stringify(entrypoints)}): ` +
          `build it with opa build -t wasm -e ${OPA_ENTRYPOINT}`,
      );
    }
    return new OpaPolicyEngine(policy, opaPolicyVersionOf(wasm));
  }

  decide(request: AuthzRequest): AuthzDecision {
    try {
      const input = toInput(request);
      if (typeof input === 'string') return failClosed(this.policyVersion, `opa: ${input}`);
      let output: unknown;
      try {
        output = this.#policy.evaluate(input, OPA_ENTRYPOINT);
      } catch (error) {
        return failClosed(this.policyVersion, `opa: evaluation failed: ${messageOf(error)}`);
      }
      return this.#parse(output, input.action);
    } catch (error) {
      return failClosed(this.policyVersion, `opa: ${messageOf(error)}`);
    }
  }

  /** opa-wasm answers a result set: `[{ result: <decision> }]`, or `[]` when the rule is undefined. */
  #parse(output: unknown, action: string): AuthzDecision {
    const malformed = (why: string) => failClosed(this.policyVersion, `opa: malformed decision: ${why}`);
    if (!Array.isArray(output)) return malformed('the result set is not an array');
    if (output.length === 0) return malformed(`${OPA_ENTRYPOINT} is undefined for this input`);
    if (output.length > 1) return malformed(`${output.length} results instead of one`);
    const first: unknown = output[0];
    const decision = isRecord(first) ? first.result : undefined;
    if (!isRecord(decision)) return malformed('the result is not an object');
    if (decision.error !== undefined) {
      return failClosed(
        this.policyVersion,
        `opa: ${typeof decision.error === 'string' ? decision.error : 'error'} (action ${JSON.stringify(action)})`,
      );
    }
    const { allow, obligations, masks, reasons } = decision;
    if (typeof allow !== 'boolean') return malformed('allow is not a boolean');
    if (!isStringArray(obligations)) return malformed('obligations is not a list of strings');
    if (!isStringArray(masks)) return malformed('masks is not a list of strings');
    if (!isStringArray(reasons)) return malformed('reasons is not a list of strings');
    if (allow && reasons.length === 0) return malformed('allow without a determining policy');
    if (!allow && masks.length > 0) return malformed('masks on a deny');
    return {
      allow,
      obligations: sortedUnique(obligations),
      masks: sortedUnique(masks),
      reasons: sortedUnique(reasons),
      policyVersion: this.policyVersion,
    };
  }
}
