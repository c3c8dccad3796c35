import { dirname, join } from 'node:path';
import { defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import { randomIds, systemClock } from '#shared/ports.js';
import { makeHttpService } from '#shared/service-kit.js';
import { CedarPolicyCompiler, declaredActions } from './adapters/cedar-candidates.js';
import { DynamoDecisionLogReader } from './adapters/dynamo-decision-log-reader.js';
import { DynamoGrantStore } from './adapters/dynamo-grant-store.js';
import { makeAuthorizeApp } from './app.js';
import { AuthorizeService } from './domain/authorize.js';
import { DecisionLogService } from './domain/decisions.js';
import { DryRunService } from './domain/dry-run.js';
import { GrantService } from './domain/grants.js';

/** Composition root of the authorize function: environment, clients, adapters, app. */
const service = await makeHttpService('authorize', {});
const { env, logger, enforcer, engine } = service;

/**
 * The deployed Cedar schema (the policy layer's on Lambda): the actions a question may name, and the
 * schema every dry-run candidate is validated against. With POLICY_ENGINE=opa the layer keeps the
 * Cedar files beside the compiled Rego (`/opt/policies/cedar` next to `/opt/policies/opa`). If the
 * schema cannot be read, the enforcer has failed closed too (every route answers 403), so an empty
 * schema here changes nothing for callers.
 */
const policyDir = env.POLICY_DIR ?? defaultPolicyDir();
const cedarDir = env.POLICY_ENGINE === 'opa' ? join(dirname(policyDir), 'cedar') : policyDir;
const schema = (() => {
  try {
    return readPolicySources(cedarDir).schema;
  } catch (error) {
    logger.error('policy schema unreadable; the authorize API denies everything', error as Error);
    return '';
  }
})();
const actions = (() => {
  try {
    return new Set(declaredActions(schema));
  } catch (error) {
    logger.error('policy schema invalid; no action can be asked about', error as Error);
    return new Set<string>();
  }
})();

const decisionReader = new DynamoDecisionLogReader(service.doc, env.POLICY_TABLE_NAME);

export const handler = makeAuthorizeApp({
  logger,
  authorize: service.authorize,
  rateLimit: service.rateLimit,
  decisions: new AuthorizeService({
    decide: (input) => enforcer.decide(input),
    declaredActions: actions,
  }),
  grants: new GrantService({
    repository: new DynamoGrantStore(service.doc, env.POLICY_TABLE_NAME),
    clock: systemClock,
    ids: randomIds,
  }),
  decisionLog: new DecisionLogService(decisionReader),
  dryRun: new DryRunService({
    reader: decisionReader,
    compiler: new CedarPolicyCompiler(schema),
    currentVersion: () => engine.policyVersion,
  }),
  engineStatus: () => ({
    engine: engine.name,
    policyVersion: engine.policyVersion,
    cache: { ...engine.stats, hitRate: engine.hitRate },
  }),
});
