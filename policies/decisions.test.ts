import { describe } from 'vitest';
import { CedarPolicyEngine } from '#shared/policy/cedar.js';
import { defaultPolicyDir, readPolicySources } from '#shared/policy/source.js';
import { itDecidesTheTable } from './decision-table.js';

const engine = new CedarPolicyEngine(readPolicySources(defaultPolicyDir()));

describe('the Cedar policies, driven by the decision table', () => {
  itDecidesTheTable(
    () => engine,
    () => engine.policies.map((p) => p.id),
  );
});
