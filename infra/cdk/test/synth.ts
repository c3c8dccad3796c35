import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { expect } from 'vitest';
import { type PillarManifest, queuesOf, tablesOf } from '#shared/pillar.js';
import { ConductorApiStack, type ConductorApiStackProps } from '../lib/api-stack.js';
import { buildApp, type ConductorApp, type ConductorAppProps } from '../lib/app.js';
import { REPO_ROOT } from '../lib/service-function.js';
import { ConductorStatefulStack } from '../lib/stateful-stack.js';

/** The feature flags of cdk.json, so in-process apps behave exactly like `cdk synth`. */
const cdkJsonContext = (): Record<string, unknown> => {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
};

export interface SynthOptions {
  /** Run esbuild for every function (slower); otherwise assets are placeholders. */
  readonly bundle?: boolean;
  readonly props?: ConductorAppProps;
}

export interface Synthesized extends ConductorApp {
  readonly app: App;
  readonly outdir: string;
  readonly statefulTemplate: Template;
  /** The API stack's own template: the pillars of PILLARS_IN_API_STACK, not its nested stacks'. */
  readonly apiTemplate: Template;
  /** The template of each pillar's nested stack (`api.pillarStacks`), by pillar name. */
  readonly nestedTemplates: Readonly<Record<string, Template>>;
  /**
   * The API stack as one template, as if its pillars' nested stacks were not there: its resources and
   * theirs (not the stack resources), where a nested stack's parameter reads what the API stack passes
   * (`fromApiStack`), the API stack's read of a nested stack's output reads the output's value, and a
   * dependency on a nested stack is one on each of its resources. For the tests of every function,
   * route, role or alarm of the API, wherever its pillar is built.
   */
  readonly flatApiTemplate: Template;
  /** The template holding pillar `name`'s resources: its nested stack's, or the API stack's. */
  readonly pillarTemplate: (name: string) => Template;
  /** The logical id of `element` in the template of its own stack (the API stack's or a nested one's). */
  readonly logicalIdOf: (element: IConstruct | undefined) => string;
  /**
   * `value`, of the template of `construct`'s stack, as the API stack sees it: a `Ref` to a parameter
   * of a pillar's nested stack becomes what the API stack passes to it (a `Ref` to one of its
   * resources, mostly); anything else is returned as it is.
   */
  readonly fromApiStack: (construct: IConstruct, value: unknown) => unknown;
  /** Removes the cloud assembly folder. */
  readonly dispose: () => void;
}

type TemplateJson = {
  Resources: Record<string, { Properties?: Record<string, unknown>; DependsOn?: string | string[] }>;
  Parameters?: Record<string, unknown>;
  Outputs?: Record<string, { Value: unknown }>;
};

/** `value` with every node `replace` returns something for replaced by that (deeply, not inside a replacement). */
const replaceDeep = (value: unknown, replace: (node: unknown) => unknown): unknown => {
  const replaced = replace(value);
  if (replaced !== undefined) return replaced;
  if (Array.isArray(value)) return value.map((item) => replaceDeep(item, replace));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, replaceDeep(item, replace)]));
  }
  return value;
};

interface NestedTemplate {
  readonly stack: Stack;
  /** The logical id of its stack resource in the API stack's template. */
  readonly id: string;
  readonly json: TemplateJson;
  /** What the API stack passes to each of its parameters. */
  readonly parameters: Readonly<Record<string, unknown>>;
}

/** The nested stacks of `api`, each with its stack resource's logical id, its template and its parameters' values. */
const nestedStacksOf = (
  api: ConductorApiStack,
  apiJson: TemplateJson,
  templates: Readonly<Record<string, Template>>,
): NestedTemplate[] =>
  Object.entries(api.pillarStacks).map(([name, stack]) => {
    const id = api.getLogicalId(stack.nestedStackResource as CfnElement);
    const template = templates[name];
    if (!template) throw new Error(`no template of ${name}'s nested stack`);
    const parameters = (apiJson.Resources[id]?.Properties?.Parameters ?? {}) as Record<string, unknown>;
    return { stack, id, json: template.toJSON() as TemplateJson, parameters };
  });

/** The API stack's template with its nested stacks' resources in it (`Synthesized.flatApiTemplate`). */
const flatten = (parent: TemplateJson, nested: readonly NestedTemplate[]): Template => {
  const resources: TemplateJson['Resources'] = {};
  const add = (id: string, resource: TemplateJson['Resources'][string]) => {
    if (id in resources) throw new Error(`logical id ${id} is in two templates of the API stack`);
    resources[id] = resource;
  };
  for (const { json, parameters } of nested) {
    const declared = json.Parameters ?? {};
    for (const [id, resource] of Object.entries(json.Resources)) {
      const ref = (node: unknown) => {
        const name = (node as { Ref?: unknown } | null)?.Ref;
        return typeof name === 'string' && name in declared ? parameters[name] : undefined;
      };
      add(id, replaceDeep(resource, ref) as TemplateJson['Resources'][string]);
    }
  }
  const byId = new Map(nested.map((entry) => [entry.id, entry]));
  for (const [id, resource] of Object.entries(parent.Resources)) {
    if (byId.has(id)) continue;
    const output = (node: unknown) => {
      const getAtt = (node as { 'Fn::GetAtt'?: unknown } | null)?.['Fn::GetAtt'];
      if (!Array.isArray(getAtt) || typeof getAtt[1] !== 'string') return undefined;
      const outputs = byId.get(String(getAtt[0]))?.json.Outputs ?? {};
      return getAtt[1].startsWith('Outputs.')
        ? outputs[getAtt[1].slice('Outputs.'.length)]?.Value
        : undefined;
    };
    const flat = replaceDeep(resource, output) as TemplateJson['Resources'][string];
    if (flat.DependsOn !== undefined) {
      flat.DependsOn = [flat.DependsOn]
        .flat()
        .flatMap((dependency) => {
          const stack = byId.get(dependency);
          return stack ? Object.keys(stack.json.Resources) : [dependency];
        })
        .sort();
    }
    add(id, flat);
  }
  return Template.fromJSON({ ...parent, Resources: resources });
};

/** The template of each of `api`'s nested stacks, by pillar name. */
const nestedTemplatesOf = (api: ConductorApiStack): Record<string, Template> =>
  Object.fromEntries(
    Object.entries(api.pillarStacks).map(([name, stack]) => [name, Template.fromStack(stack)]),
  );

/**
 * `Synthesized.flatApiTemplate` of an API stack a test builds itself: synthesizes its app (running
 * what it registered, cdk-nag included) and flattens the API stack's template with its nested ones'.
 */
export const flatTemplateOf = (api: ConductorApiStack): Template => {
  const apiJson = Template.fromStack(api).toJSON() as TemplateJson;
  return flatten(apiJson, nestedStacksOf(api, apiJson, nestedTemplatesOf(api)));
};

const synthesized = (app: App, outdir: string, built: ConductorApp): Synthesized => {
  const statefulTemplate = Template.fromStack(built.stateful);
  const apiTemplate = Template.fromStack(built.api);
  const nestedTemplates = nestedTemplatesOf(built.api);
  const apiJson = apiTemplate.toJSON() as TemplateJson;
  const nested = nestedStacksOf(built.api, apiJson, nestedTemplates);
  return {
    ...built,
    app,
    outdir,
    statefulTemplate,
    apiTemplate,
    nestedTemplates,
    flatApiTemplate: flatten(apiJson, nested),
    pillarTemplate: (name) => {
      if (!built.api.pillars[name]) throw new Error(`no pillar ${name}`);
      return nestedTemplates[name] ?? apiTemplate;
    },
    logicalIdOf: (element) => {
      if (!element) throw new Error('no element');
      return Stack.of(element).getLogicalId(element as CfnElement);
    },
    fromApiStack: (construct, value) => {
      const entry = nested.find(({ stack }) => stack === Stack.of(construct));
      const name = (value as { Ref?: unknown } | null | undefined)?.Ref;
      if (!entry || typeof name !== 'string' || !(name in (entry.json.Parameters ?? {}))) return value;
      return entry.parameters[name];
    },
    dispose: () => rmSync(outdir, { recursive: true, force: true }),
  };
};

/** An App with cdk.json's context in a fresh cloud assembly folder (placeholder assets unless `bundle`). */
const newApp = (bundle: boolean): { app: App; outdir: string } => {
  const base = tmpdir();
  mkdirSync(base, { recursive: true });
  const outdir = mkdtempSync(join(base, 'cdk.out-test-'));
  const context: Record<string, unknown> = { ...cdkJsonContext() };
  if (!bundle) context['aws:cdk:bundling-stacks'] = [];
  return { app: new App({ outdir, context }), outdir };
};

/**
 * Builds and synthesizes the whole app in-process, once. `Template.fromStack` runs the cdk-nag
 * plugin registered by buildApp, so it throws "Validation failed" on any unacknowledged finding.
 */
export const synthConductor = (options: SynthOptions = {}): Synthesized => {
  const { app, outdir } = newApp(options.bundle === true);
  return synthesized(app, outdir, buildApp(app, options.props));
};

/**
 * Builds and synthesizes the two stacks from another catalog than PILLARS, the way buildApp does
 * from PILLARS (same stack names, cdk-nag on): the stateful stack gets the catalog's tables and
 * queues, the API stack its pillars (and `apiProps`). Nothing else is told about them.
 */
export const synthPillars = (
  pillars: readonly PillarManifest[],
  stage = 'test',
  apiProps: Partial<ConductorApiStackProps> = {},
): Synthesized => {
  const { app, outdir } = newApp(false);
  const stateful = new ConductorStatefulStack(app, `Conductor-${stage}-Stateful`, {
    stage,
    tables: tablesOf(pillars),
    queues: queuesOf(pillars),
  });
  const api = new ConductorApiStack(app, `Conductor-${stage}-Api`, { ...apiProps, stage, stateful, pillars });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return synthesized(app, outdir, { stateful, api });
};

export interface PolicyStatement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | readonly string[];
  readonly Resource?: unknown;
}

export const actionsOf = (statement: PolicyStatement): readonly string[] =>
  typeof statement.Action === 'string' ? [statement.Action] : statement.Action;

export const resourcesOf = (statement: PolicyStatement): readonly unknown[] =>
  Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];

const IAM_IDENTITIES = new Set(['AWS::IAM::Role', 'AWS::IAM::User', 'AWS::IAM::Group']);

/** Every statement of every identity and resource policy of a template, with where it was found. */
export const allPolicyStatements = (template: Template): { where: string; statement: PolicyStatement }[] => {
  const out: { where: string; statement: PolicyStatement }[] = [];
  const resources = template.toJSON().Resources as Record<
    string,
    { Type: string; Properties?: Record<string, unknown> }
  >;
  const push = (where: string, document: unknown) => {
    const statements = (document as { Statement?: PolicyStatement[] } | undefined)?.Statement ?? [];
    for (const statement of statements) out.push({ where, statement });
  };
  for (const [logicalId, resource] of Object.entries(resources)) {
    const props = resource.Properties ?? {};
    if (props.PolicyDocument) push(logicalId, props.PolicyDocument);
    if (props.KeyPolicy) push(logicalId, props.KeyPolicy);
    if (IAM_IDENTITIES.has(resource.Type)) {
      for (const inline of (props.Policies as { PolicyDocument: unknown }[] | undefined) ?? []) {
        push(logicalId, inline.PolicyDocument);
      }
    }
  }
  return out;
};

/**
 * The `Fn::ImportValue` by which the API stack reads a stateful resource's attribute (or its Ref):
 * finds the stateful stack's export of that value (and fails the test if there is none).
 */
export const statefulImport = (
  synth: Synthesized,
  construct: { node: { defaultChild?: unknown } },
  attribute: 'Arn' | 'Ref' | 'QueueName',
): unknown => {
  const logicalId = synth.stateful.getLogicalId(construct.node.defaultChild as never);
  const value = attribute === 'Ref' ? { Ref: logicalId } : { 'Fn::GetAtt': [logicalId, attribute] };
  const outputs = synth.statefulTemplate.toJSON().Outputs as Record<
    string,
    { Value: unknown; Export?: { Name: string } }
  >;
  const output = Object.values(outputs).find((o) => JSON.stringify(o.Value) === JSON.stringify(value));
  expect(output?.Export?.Name).toBeDefined();
  return { 'Fn::ImportValue': output?.Export?.Name };
};
