import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { expect } from 'vitest';
import { type PillarManifest, queuesOf, tablesOf } from '#shared/pillar.js';
import { ConductorApiStack } from '../lib/api-stack.js';
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
  readonly apiTemplate: Template;
  /** Removes the cloud assembly folder. */
  readonly dispose: () => void;
}

/** An App with cdk.json's context in a fresh cloud assembly folder (placeholder assets unless `bundle`). */
const newApp = (bundle: boolean): { app: App; outdir: string } => {
  const base = tmpdir();
  mkdirSync(base, { recursive: true });
  const outdir = mkdtempSync(join(base, 'cdk.out-test-'));
  const context: Record<string, unknown> = { ...cdkJsonContext() };
  if (!bundle) context['aws:cdk:bundling-stacks'] = [];
  return { app: new App({ outdir, context }), outdir };
};

const synthesized = (app: App, outdir: string, built: ConductorApp): Synthesized => ({
  ...built,
  app,
  outdir,
  statefulTemplate: Template.fromStack(built.stateful),
  apiTemplate: Template.fromStack(built.api),
  dispose: () => rmSync(outdir, { recursive: true, force: true }),
});

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
 * queues, the API stack its pillars. Nothing else is told about them.
 */
export const synthPillars = (pillars: readonly PillarManifest[], stage = 'test'): Synthesized => {
  const { app, outdir } = newApp(false);
  const stateful = new ConductorStatefulStack(app, `Conductor-${stage}-Stateful`, {
    stage,
    tables: tablesOf(pillars),
    queues: queuesOf(pillars),
  });
  const api = new ConductorApiStack(app, `Conductor-${stage}-Api`, { stage, stateful, pillars });
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
