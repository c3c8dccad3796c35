/**
 * Compiling user-written JSON Schemas (draft 2020-12) with ajv, once per schema (object, or the same
 * text parsed again) and options:
 * a golden suite's `json-schema` scorer, a runbook's parameters.
 */
import { Ajv2020, type Options, type ValidateFunction } from 'ajv/dist/2020.js';

export type { ValidateFunction };

export interface JsonSchemaOptions {
  /** Validation fills in the schema's `default`s, so validate a copy. @default false */
  readonly useDefaults?: boolean;
  /** Validation reports every error, not only the first. @default false */
  readonly allErrors?: boolean;
  /**
   * An unknown keyword, a `format` (none is loaded) or a default ajv would ignore is a compile error
   * rather than a silent no-op (ajv's defaults, `strictSchema` among them); off, ajv's `strict: false`.
   * @default false
   */
  readonly strict?: boolean;
}

/** A schema that names itself or its parts ($id, anchors) could clash with others in a shared registry. */
const NAMES_ITSELF = /"\$(?:id|anchor|dynamicAnchor)"/;

interface Compiler {
  readonly options: Options;
  /** Shared by every schema compiled with these options; keeps none of them. */
  readonly ajv: Ajv2020;
}
/** By options key: at most one ajv per combination of options, made when first needed. */
const compilers = new Map<string, Compiler>();
/** By schema object, then options key. */
const validators = new WeakMap<object, Map<string, ValidateFunction>>();
/**
 * By options key and schema text, for the same schema parsed again (a stored runbook read per
 * request): at most MAX_BY_TEXT, the oldest dropped first.
 */
const byText = new Map<string, ValidateFunction>();
const MAX_BY_TEXT = 256;

const compilerFor = (options: JsonSchemaOptions): { readonly key: string; readonly compiler: Compiler } => {
  const useDefaults = options.useDefaults === true;
  const allErrors = options.allErrors === true;
  const strict = options.strict === true;
  const key = `${Number(useDefaults)}${Number(allErrors)}${Number(strict)}`;
  let compiler = compilers.get(key);
  if (!compiler) {
    const ajvOptions: Options = {
      ...(allErrors ? { allErrors } : {}),
      ...(useDefaults ? { useDefaults } : {}),
      ...(strict ? { strictSchema: true } : { strict: false }),
      logger: false,
    };
    compiler = { options: ajvOptions, ajv: new Ajv2020(ajvOptions) };
    compilers.set(key, compiler);
  }
  return { key, compiler };
};

/**
 * The validator of a schema; throws ajv's error when the schema is invalid. Compiled by one shared
 * ajv (per options) and removed from its registry at once, so a long-lived process does not pile
 * schemas up; one that names itself (`$id`, anchors) gets an ajv of its own, so two schemas may use
 * the same `$id` and none can shadow a meta-schema.
 */
export const compileJsonSchema = (
  schema: Readonly<Record<string, unknown>>,
  options: JsonSchemaOptions = {},
): ValidateFunction => {
  const { key, compiler } = compilerFor(options);
  let compiled = validators.get(schema);
  const cached = compiled?.get(key);
  if (cached) return cached;
  const text = JSON.stringify(schema);
  const textKey = `${key}:${text}`;
  let validate = byText.get(textKey);
  if (!validate) {
    validate = NAMES_ITSELF.test(text) ? compileAlone(schema, compiler) : compileShared(schema, compiler);
    if ((validate as { $async?: unknown }).$async)
      throw new Error('asynchronous schemas ($async) are not supported');
    if (byText.size >= MAX_BY_TEXT) byText.delete(byText.keys().next().value as string);
    byText.set(textKey, validate);
  }
  if (!compiled) {
    compiled = new Map();
    validators.set(schema, compiled);
  }
  compiled.set(key, validate);
  return validate;
};

const compileShared = (schema: Readonly<Record<string, unknown>>, { ajv }: Compiler): ValidateFunction => {
  try {
    return ajv.compile(schema);
  } finally {
    ajv.removeSchema(schema);
  }
};

const compileAlone = (
  schema: Readonly<Record<string, unknown>>,
  { ajv, options }: Compiler,
): ValidateFunction => {
  // Checked against the meta-schema by the shared ajv (which keeps nothing of it), so the ajv of
  // its own can skip loading the meta-schemas, the costly part of a new instance.
  if (!ajv.validateSchema(schema)) throw new Error(`schema is invalid: ${ajv.errorsText(ajv.errors)}`);
  return new Ajv2020({ ...options, meta: false, validateSchema: false }).compile(schema);
};
