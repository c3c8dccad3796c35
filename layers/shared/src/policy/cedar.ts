import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';
import { type AuthzDecision, type AuthzRequest, failClosed, type PolicyEngine } from '../ports/policy.js';

/**
 * The Cedar engine (`@cedar-policy/cedar-wasm`, the language of Amazon Verified Permissions).
 * Loaded with `require` so that on Lambda it resolves from the policy layer (`/opt/nodejs/node_modules`
 * is on NODE_PATH, which ESM imports ignore) and is never bundled into a function.
 */
type Cedar = typeof CedarWasm;
let cedarModule: Cedar | undefined;
/**
 * V8 (Node 20 and 22) can die with `Fatal error ... unreachable code` in
 * `Deoptimizer::DoComputeBuiltinContinuation` when optimised code that inlined a JavaScript-to-wasm
 * call into Cedar's module deoptimises: 6 of 20 runs of the policy benchmark on Node 20, 1 of 15 on
 * Node 22; 0 of 27 with this inlining off (bench/repro/README.md). NODE_OPTIONS cannot carry the
 * flag, so it is set here, before Cedar's first call, in every process that loads Cedar.
 */
const NO_JS_WASM_INLINING = '--no-turbo-inline-js-wasm-calls';

export const loadCedar = (): Cedar => {
  if (!cedarModule) setFlagsFromString(NO_JS_WASM_INLINING);
  cedarModule ??= createRequire(import.meta.url)('@cedar-policy/cedar-wasm/nodejs') as Cedar;
  return cedarModule;
};

const NAMESPACE = 'Conductor';
const USER = `${NAMESPACE}::User`;
const RESOURCE = `${NAMESPACE}::Resource`;
const ACTION = `${NAMESPACE}::Action`;

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

export interface PolicySources {
  /** Cedar schema, human-readable format. */
  readonly schema: string;
  /** Policy files: name -> text. Every policy carries an `@id("...")` annotation. */
  readonly policies: Readonly<Record<string, string>>;
}

export interface ParsedPolicy {
  readonly id: string;
  readonly text: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly effect: 'permit' | 'forbid';
}

/**
 * What a build writes beside the policies once they validated (the policy layer does, at synth): the
 * policies split by `@id` with their annotations, for the policy version it was made from. An engine
 * given a manifest of its sources' version skips parsing and strict validation at cold start (about
 * 100 ms of wasm work); with none, or one of another version, it does both. The manifest is trusted
 * as far as the layer that carries it: it is written by the same build, into the same immutable
 * layer version as the sources.
 */
export const VALIDATED_MANIFEST = 'policies.validated.json';

export interface ValidatedManifest {
  readonly policyVersion: string;
  readonly policies: readonly ParsedPolicy[];
  /** The schema's request actions (`declaredActions`), so no schema parse is needed to list them. */
  readonly actions: readonly string[];
}

export class PolicyLoadError extends Error {
  constructor(
    message: string,
    readonly details: readonly string[] = [],
  ) {
    super(message);
  }
}

const messages = (errors: readonly { message: string; help?: string | null }[]): string[] =>
  errors.map((e) => (e.help ? `${e.message} (${e.help})` : e.message));

/** A version that changes whenever the schema or any policy changes: sha256 of both, 12 hex digits. */
export const policyVersionOf = (sources: PolicySources): string => {
  const hash = createHash('sha256').update(sources.schema);
  for (const name of Object.keys(sources.policies).sort())
    hash.update(`\n--${name}--\n`).update(sources.policies[name] ?? '');
  return `cedar-${hash.digest('hex').slice(0, 12)}`;
};

/** More policies than the caller allows (`maxPolicies`): refused before any is read or validated. */
export class PolicySetTooLargeError extends PolicyLoadError {
  constructor(
    readonly count: number,
    readonly maxPolicies: number,
  ) {
    super(`The policy set has ${count} policies; at most ${maxPolicies} are allowed`);
  }
}

export interface ParseLimits {
  /** Refuse (PolicySetTooLargeError) a set of more policies, counted across all files before validation. */
  readonly maxPolicies?: number;
}

/**
 * Splits policy files into single policies keyed by their `@id`, validates them strictly against the
 * schema, and returns them with their annotations. Throws PolicyLoadError with Cedar's messages.
 */
export const parseAndValidate = (sources: PolicySources, limits: ParseLimits = {}): ParsedPolicy[] => {
  const cedar = loadCedar();
  const split: { file: string; policies: string[] }[] = [];
  let count = 0;
  for (const [file, text] of Object.entries(sources.policies)) {
    const parts = cedar.policySetTextToParts(text);
    if (parts.type === 'failure') throw new PolicyLoadError(`Cannot parse ${file}`, messages(parts.errors));
    if (parts.policy_templates.length > 0) throw new PolicyLoadError(`${file}: templates are not supported`);
    split.push({ file, policies: parts.policies });
    count += parts.policies.length;
  }
  if (limits.maxPolicies !== undefined && count > limits.maxPolicies)
    throw new PolicySetTooLargeError(count, limits.maxPolicies);
  const parsed: ParsedPolicy[] = [];
  for (const { file, policies } of split) {
    for (const policy of policies) {
      const json = cedar.policyToJson(policy);
      if (json.type === 'failure')
        throw new PolicyLoadError(`Cannot read a policy of ${file}`, messages(json.errors));
      const annotations = (json.json.annotations ?? {}) as Record<string, string>;
      const id = annotations.id;
      if (!id)
        throw new PolicyLoadError(`${file}: every policy needs an @id("...") annotation`, [
          policy.slice(0, 120),
        ]);
      if (parsed.some((p) => p.id === id))
        throw new PolicyLoadError(`Duplicate policy id ${id} (in ${file})`);
      parsed.push({ id, text: policy, annotations, effect: json.json.effect });
    }
  }
  const validation = cedar.validate({
    schema: sources.schema,
    policies: { staticPolicies: Object.fromEntries(parsed.map((p) => [p.id, p.text])) },
    validationSettings: { mode: 'strict' },
  });
  if (validation.type === 'failure')
    throw new PolicyLoadError('Schema or policies are invalid', messages(validation.errors));
  if (validation.validationErrors.length > 0) {
    throw new PolicyLoadError(
      'Policies do not validate against the schema',
      validation.validationErrors.map((e) => `${e.policyId}: ${e.error.message}`),
    );
  }
  return parsed;
};

/**
 * Names under which Cedar keeps preparsed schemas or policy sets, a fixed number per pool.
 * cedar-wasm (4.13) keeps whatever is preparsed in its wasm memory until the process ends and has no
 * call that frees it, so a new name per policy set leaks: 30 dry-run candidates of 120 KB took a
 * process from 186 to 271 MB. Preparsing under a name already in use replaces (and frees) what the
 * name held, and leaves it as it was when Cedar refuses the input. So an engine never invents a
 * name: it asks its pool, which maps content (a hash) to one of `size` names and gives new content
 * the least recently used one. An engine whose name went to other content preparses again on its
 * next decision; Cedar never holds more than `size` sets per pool, however many are compiled.
 */
export class PreparsedSlots {
  /** Content key -> name, least recently used first. */
  readonly #names = new Map<string, string>();

  constructor(
    readonly prefix: string,
    readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`A pool needs at least one name (${size})`);
  }

  /**
   * The name holding `key`'s content; when none does, `preparse` puts it under a name not used yet,
   * else under the least recently used one. If `preparse` throws, nothing changes.
   */
  nameFor(key: string, preparse: (name: string) => void): string {
    const held = this.#names.get(key);
    if (held !== undefined) {
      this.#names.delete(key);
      this.#names.set(key, held);
      return held;
    }
    const full = this.#names.size >= this.size;
    const [evicted, reused] = full ? (this.#names.entries().next().value ?? []) : [];
    const name = reused ?? `${this.prefix}-${this.#names.size}`;
    preparse(name);
    if (evicted !== undefined) this.#names.delete(evicted);
    this.#names.set(key, name);
    return name;
  }

  /** How many names hold something (at most `size`). */
  get held(): number {
    return this.#names.size;
  }
}

/**
 * The pools and their sizes. Dry-run candidates have their own, so that compiling candidates never
 * pushes the deployed policy set out of Cedar (it would only cost a preparse, but on the request path).
 */
export const PREPARSED_POOLS = { schemas: 4, deployed: 4, candidates: 8 } as const;
export type PreparsedPool = keyof typeof PREPARSED_POOLS;

/**
 * The pools live on the Cedar module object, beside the wasm memory they describe: a second copy of
 * this file in the same process (a test runner's fresh module graph) shares Cedar's names with the
 * first, so it must share their bookkeeping too, or it would reuse a name another engine relies on.
 */
const POOLS = Symbol.for('conductor.cedar.preparsed-pools');

export const preparsedSlots = (pool: PreparsedPool): PreparsedSlots => {
  const cedar = loadCedar() as Cedar & { [POOLS]?: Map<PreparsedPool, PreparsedSlots> };
  cedar[POOLS] ??= new Map();
  let slots = cedar[POOLS].get(pool);
  if (!slots) {
    slots = new PreparsedSlots(`conductor-${pool}`, PREPARSED_POOLS[pool]);
    cedar[POOLS].set(pool, slots);
  }
  return slots;
};

const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

export interface CedarEngineOptions extends ParseLimits {
  /** Whose preparsed names the policy set takes: `candidates` for dry-run candidates. */
  readonly pool?: Exclude<PreparsedPool, 'schemas'>;
}

/**
 * Cedar with the preparsed (stateful) API: schema and policy set parsed once and kept under a name of
 * a fixed pool (PreparsedSlots), each decision passes only the two entities it needs. Any engine
 * error is a deny that says so; so is an error in any forbid policy (Cedar itself would skip the
 * policy and let a matching permit allow).
 */
export class CedarPolicyEngine implements PolicyEngine {
  readonly name = 'cedar' as const;
  readonly policyVersion: string;
  readonly policies: readonly ParsedPolicy[];
  readonly #schema: string;
  readonly #schemaKey: string;
  readonly #staticPolicies: Record<string, string>;
  readonly #slots: PreparsedSlots;
  readonly #forbids: ReadonlySet<string>;
  readonly #annotations: ReadonlyMap<string, Readonly<Record<string, string>>>;

  constructor(sources: PolicySources, validated?: ValidatedManifest, options: CedarEngineOptions = {}) {
    this.policyVersion = policyVersionOf(sources);
    this.policies =
      validated?.policyVersion === this.policyVersion
        ? validated.policies
        : parseAndValidate(sources, options);
    this.#schema = sources.schema;
    this.#schemaKey = sha256Hex(sources.schema);
    this.#staticPolicies = Object.fromEntries(this.policies.map((p) => [p.id, p.text]));
    this.#slots = preparsedSlots(options.pool ?? 'deployed');
    this.#forbids = new Set(this.policies.filter((p) => p.effect === 'forbid').map((p) => p.id));
    this.#annotations = new Map(this.policies.map((p) => [p.id, p.annotations]));
    // Now rather than at the first decision: what Cedar cannot preparse is a load error.
    this.#preparsed();
  }

  /** The names Cedar holds this engine's schema and policy set under, preparsing them again if they went. */
  #preparsed(): { preparsedSchemaName: string; preparsedPolicySetId: string } {
    const cedar = loadCedar();
    const preparsedSchemaName = preparsedSlots('schemas').nameFor(this.#schemaKey, (name) => {
      const answer = cedar.preparseSchema(name, this.#schema);
      if (answer.type === 'failure')
        throw new PolicyLoadError('Cannot preparse the schema', messages(answer.errors));
    });
    const preparsedPolicySetId = this.#slots.nameFor(this.policyVersion, (name) => {
      const answer = cedar.preparsePolicySet(name, { staticPolicies: this.#staticPolicies });
      if (answer.type === 'failure')
        throw new PolicyLoadError('Cannot preparse the policies', messages(answer.errors));
    });
    return { preparsedSchemaName, preparsedPolicySetId };
  }

  decide(request: AuthzRequest): AuthzDecision {
    try {
      const answer = loadCedar().statefulIsAuthorized({
        principal: { type: USER, id: request.principal.subject },
        action: { type: ACTION, id: request.action },
        resource: { type: RESOURCE, id: request.resource.id ?? request.resource.kind },
        context: { mfa: request.context.mfa, grantedTenants: [...request.context.grantedTenants] },
        ...this.#preparsed(),
        validateRequest: true,
        entities: [
          {
            uid: { type: USER, id: request.principal.subject },
            attrs: {
              subject: request.principal.subject,
              tenant: request.principal.tenantId,
              roles: [...request.principal.roles],
            },
            parents: [],
          },
          {
            uid: { type: RESOURCE, id: request.resource.id ?? request.resource.kind },
            attrs: {
              tenant: request.resource.tenantId,
              kind: request.resource.kind,
              // Optional in the schema: each absent (not empty) when the request has none.
              ...(request.resource.classification !== undefined
                ? { classification: request.resource.classification }
                : {}),
              // An array is a Cedar Set; anything else goes as given and fails the schema's validation.
              ...(request.resource.approverRoles !== undefined
                ? { approverRoles: request.resource.approverRoles as CedarWasm.CedarValueJson }
                : {}),
              ...(request.resource.requestedBy !== undefined
                ? { requestedBy: request.resource.requestedBy }
                : {}),
            },
            parents: [],
          },
        ],
      });
      if (answer.type === 'failure')
        return failClosed(this.policyVersion, messages(answer.errors).join('; '));
      const { decision, diagnostics } = answer.response;
      const erroredForbids = diagnostics.errors.filter((e) => this.#forbids.has(e.policyId));
      if (erroredForbids.length > 0) return this.#forbidFailed(erroredForbids);
      if (diagnostics.errors.length > 0 && decision === 'deny' && diagnostics.reason.length === 0) {
        return failClosed(
          this.policyVersion,
          diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`).join('; '),
        );
      }
      const reasons = [...diagnostics.reason].sort();
      const annotationsOf = (key: string) =>
        [
          ...new Set(
            reasons.map((id) => this.#annotations.get(id)?.[key]).filter((v): v is string => Boolean(v)),
          ),
        ].sort();
      return {
        allow: decision === 'allow',
        obligations: annotationsOf('obligation'),
        masks: decision === 'allow' ? annotationsOf('mask') : [],
        reasons,
        policyVersion: this.policyVersion,
      };
    } catch (error) {
      return failClosed(this.policyVersion, error instanceof Error ? error.message : 'engine error');
    }
  }

  /**
   * A forbid whose condition raised an error (an overflow, a failed extension call: strict validation
   * does not rule these out) might have matched: deny, whatever else matched, and name it. Its
   * obligations are not given: nothing the caller does would make a broken policy pass.
   */
  #forbidFailed(errors: readonly { policyId: string; error: { message: string } }[]): AuthzDecision {
    const ids = [...new Set(errors.map((e) => e.policyId))].sort();
    const detail = errors.map((e) => `${e.policyId}: ${e.error.message}`).join('; ');
    return {
      ...failClosed(this.policyVersion, `forbid policy errored, failing closed: ${detail}`),
      reasons: ['fail-closed', ...ids],
    };
  }
}
