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

/**
 * Splits policy files into single policies keyed by their `@id`, validates them strictly against the
 * schema, and returns them with their annotations. Throws PolicyLoadError with Cedar's messages.
 */
export const parseAndValidate = (sources: PolicySources): ParsedPolicy[] => {
  const cedar = loadCedar();
  const parsed: ParsedPolicy[] = [];
  for (const [file, text] of Object.entries(sources.policies)) {
    const parts = cedar.policySetTextToParts(text);
    if (parts.type === 'failure') throw new PolicyLoadError(`Cannot parse ${file}`, messages(parts.errors));
    if (parts.policy_templates.length > 0) throw new PolicyLoadError(`${file}: templates are not supported`);
    for (const policy of parts.policies) {
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

let instances = 0;

/**
 * Cedar with the preparsed (stateful) API: schema and policy set parsed once per process, each
 * decision passes only the two entities it needs. Any engine error is a deny that says so.
 */
export class CedarPolicyEngine implements PolicyEngine {
  readonly name = 'cedar' as const;
  readonly policyVersion: string;
  readonly policies: readonly ParsedPolicy[];
  readonly #schemaName: string;
  readonly #policySetId: string;
  readonly #annotations: ReadonlyMap<string, Readonly<Record<string, string>>>;

  constructor(sources: PolicySources, validated?: ValidatedManifest) {
    const cedar = loadCedar();
    this.policyVersion = policyVersionOf(sources);
    this.policies =
      validated?.policyVersion === this.policyVersion ? validated.policies : parseAndValidate(sources);
    instances += 1;
    this.#schemaName = `schema-${instances}-${this.policyVersion}`;
    this.#policySetId = `policies-${instances}-${this.policyVersion}`;
    const schema = cedar.preparseSchema(this.#schemaName, sources.schema);
    if (schema.type === 'failure')
      throw new PolicyLoadError('Cannot preparse the schema', messages(schema.errors));
    const set = cedar.preparsePolicySet(this.#policySetId, {
      staticPolicies: Object.fromEntries(this.policies.map((p) => [p.id, p.text])),
    });
    if (set.type === 'failure')
      throw new PolicyLoadError('Cannot preparse the policies', messages(set.errors));
    this.#annotations = new Map(this.policies.map((p) => [p.id, p.annotations]));
  }

  decide(request: AuthzRequest): AuthzDecision {
    try {
      const answer = loadCedar().statefulIsAuthorized({
        principal: { type: USER, id: request.principal.subject },
        action: { type: ACTION, id: request.action },
        resource: { type: RESOURCE, id: request.resource.id ?? request.resource.kind },
        context: { mfa: request.context.mfa, grantedTenants: [...request.context.grantedTenants] },
        preparsedSchemaName: this.#schemaName,
        preparsedPolicySetId: this.#policySetId,
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
              // Optional in the schema: absent (not empty) when the request has none.
              ...(request.resource.classification !== undefined
                ? { classification: request.resource.classification }
                : {}),
            },
            parents: [],
          },
        ],
      });
      if (answer.type === 'failure')
        return failClosed(this.policyVersion, messages(answer.errors).join('; '));
      const { decision, diagnostics } = answer.response;
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
}
