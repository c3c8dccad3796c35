/**
 * Pins the CloudFormation logical ids of Conductor's data-bearing resources.
 *
 * Why: CloudFormation knows a resource by its logical id (for CDK: the construct path, e.g.
 * `RouterTableDB193CDF`). If a refactor moves a construct (new id, new parent, a wrapper construct)
 * its logical id changes, and on the next `cdk deploy` CloudFormation creates a NEW resource and
 * deletes (or, with Retain, orphans) the old one: the table, bucket, key, queue or user pool is
 * replaced, with its data, messages, encryption key or users left behind. With fixed physical names
 * the create even collides with the old resource and the deploy fails half-way. `cdk diff` shows
 * this as "[-] ... destroy / [+] ... create"; this test catches it before anyone deploys.
 *
 * What is asserted, per stack, for each type of DATA_BEARING_TYPES:
 * - every pinned id still exists with the same type (hard: never rename or remove one of them);
 * - every resource of such a type has a pinned id (so new ones are added to the list on purpose).
 * Both together: the set of logical ids of each type is exactly the pinned, sorted list. The stack
 * names are pinned too: a renamed stack is a new stack, with new copies of everything. So is the
 * nested stack of each pillar not built in the API stack itself (PILLARS_IN_API_STACK): its stack
 * resource's logical id in the API stack, and its own data-bearing ids (PINNED_PILLAR_STACKS).
 *
 * Adding a resource of one of these types (a new table, queue, bucket...) is fine: run this test,
 * read the "is not pinned" failure, and add its logical id to PINNED (sorted) in the same change.
 * Renaming or removing a pinned id is NOT fine: keep the construct id and path, or if the construct
 * must move, keep the old id with `(construct.node.defaultChild as CfnResource).overrideLogicalId('…')`.
 * Only remove a pinned id when the resource itself is being retired deliberately (and its data has
 * been migrated), saying so in the change.
 *
 * The ids are those of the default app (stage `prod`, Cedar); the stage is not part of any logical
 * id. With an OIDC issuer instead of Cognito, the Cognito resources are absent and nothing else
 * changes. (The `opa` engine needs `opa` on PATH at synth, so it is not synthesized here; it only
 * changes the policy layer's content.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConductorAppProps } from '../lib/app.js';
import { type Synthesized, synthConductor } from './synth.js';

/** Resource types whose replacement loses data, identity or the ability to decrypt. */
const DATA_BEARING_TYPES = [
  'AWS::DynamoDB::Table',
  'AWS::S3::Bucket',
  'AWS::KMS::Key',
  'AWS::KMS::Alias',
  'AWS::SQS::Queue',
  'AWS::Cognito::UserPool',
  'AWS::Cognito::UserPoolClient',
  'AWS::Cognito::UserPoolGroup',
  'AWS::Events::EventBus',
  'AWS::Logs::LogGroup',
  'AWS::SNS::Topic',
  // A replaced STANDARD state machine takes its running executions with it (runbook executions wait
  // for approvals for days), and its fixed name would collide with the old one.
  'AWS::StepFunctions::StateMachine',
] as const;
type DataBearingType = (typeof DATA_BEARING_TYPES)[number];

type StackRole = 'stateful' | 'api';

interface PinnedStack {
  /** The CloudFormation stack name (of the default stage `prod`). */
  readonly stackName: string;
  /** Every logical id of each data-bearing type, sorted; an empty list means "none of this type". */
  readonly ids: Readonly<Record<DataBearingType, readonly string[]>>;
}

/** Pinned on the app as it was before the per-pillar refactor. Edit deliberately: see the top. */
const PINNED: Readonly<Record<StackRole, PinnedStack>> = {
  stateful: {
    stackName: 'Conductor-prod-Stateful',
    ids: {
      'AWS::DynamoDB::Table': [
        'ComplianceTable974C034F',
        'EdgeTable1F532E75',
        'EvalTableAC775E50',
        'OpsTableD090455F',
        'PolicyTableE50BDB2B',
        'RouterTableDB193CDF',
        'RunbooksTableB2CBFF20',
        'SchedulerTableB5190D55',
      ],
      'AWS::S3::Bucket': ['AccessLogsBucket83982689', 'ArtifactsBucket2AAC5544', 'EvidenceBucketFBA44255'],
      'AWS::KMS::Key': [
        'AlarmTopicKey57B0D3A7',
        'DataKey17AFBB84',
        'DsrSubjectKeyB0DB2C98',
        'EvidenceKey167D8F4D',
        'RunbookSigningKey0756FEDE',
      ],
      'AWS::KMS::Alias': [
        'AlarmTopicKeyAlias2A4BDA2D',
        'DataKeyAliasF989EB84',
        'DsrSubjectKeyAliasCBC92B11',
        'EvidenceKeyAliasE40C74E1',
        'RunbookSigningKeyAlias726F3CC3',
      ],
      'AWS::SQS::Queue': [
        'DecisionArchiveDeadLetterQueue42F0E7AD',
        'DecisionArchiveQueueE20EE6F3',
        'EvalRunsDeadLetterQueueFA2EC8A1',
        'EvalRunsQueue474ABF5F',
        'JobOutcomesDeadLetterQueue0C71932F',
        'JobOutcomesQueueFF7B256F',
        'ReplayDeadLetterQueueB22D38FD',
        'ReplayQueue391AF092',
        'RewardsDeadLetterQueue4AC03AB8',
        'RewardsQueueB13675AE',
        'SchedulerHighDeadLetterQueueEB3D58D8',
        'SchedulerHighQueue6D539366',
        'SchedulerJobsDeadLetterQueueBC0724CD',
        'SchedulerJobsQueue77588484',
        'SchedulerLowDeadLetterQueueC05CAA4C',
        'SchedulerLowQueueF0D74DBE',
      ],
      'AWS::Cognito::UserPool': [],
      'AWS::Cognito::UserPoolClient': [],
      'AWS::Cognito::UserPoolGroup': [],
      'AWS::Events::EventBus': ['EventBus7B8748AA'],
      'AWS::Logs::LogGroup': [],
      'AWS::SNS::Topic': ['AlarmTopicD01E77F9', 'TicketTopic03CAAC13'],
      'AWS::StepFunctions::StateMachine': [],
    },
  },
  api: {
    stackName: 'Conductor-prod-Api',
    ids: {
      'AWS::DynamoDB::Table': [],
      'AWS::S3::Bucket': [],
      'AWS::KMS::Key': [],
      'AWS::KMS::Alias': [],
      // The runbook approval flow's status-change DLQ (the rule's, and the function's on-failure destination).
      'AWS::SQS::Queue': ['RunbooksApprovalFlowWorkflowStatusChangesDeadLetterQueue8303634D'],
      'AWS::Cognito::UserPool': ['UserPool6BA7E5F2'],
      'AWS::Cognito::UserPoolClient': ['UserPoolApiClient5E25D46A'],
      'AWS::Cognito::UserPoolGroup': [
        'UserPoolAdminGroup8F6AC0FE',
        'UserPoolOperatorGroupC3CEEF70',
        'UserPoolOrgAdminGroup840AC057',
        'UserPoolTenantAdminGroupC8EC73D5',
        'UserPoolViewerGroup6D5D179A',
      ],
      'AWS::Events::EventBus': [],
      'AWS::Logs::LogGroup': [
        'AccessLogs8B620ECA',
        'AuthorizeLogGroupCAFBD4A3',
        'EvalLogGroup98D492A9',
        'EvalWorkerLogGroupDDBE4F59',
        'MetaLogGroup07A7E9E5',
        'OpsLogGroup6B6CE6D2',
        'ReplayLogGroup8B74B61E',
        'RewardLogGroup4757568A',
        'RouterLogGroupEBEFDB4C',
        'RunbooksApprovalFlowWorkflowLogs61BA962F',
        'RunbooksApprovalRequestLogGroup03BEEF79',
        'RunbooksFlowEventsLogGroup543E3219',
        'RunbooksKeyAgeLogGroupB957E22E',
        'RunbooksLogGroupF6E0B02C',
        'RunbooksRunStepsLogGroup56BCA161',
        'SchedulerLogGroup4D5ADCD8',
        'SchedulerWorkerLogGroup71007E07',
      ],
      'AWS::SNS::Topic': [],
      'AWS::StepFunctions::StateMachine': ['RunbooksApprovalFlowWorkflowStateMachineCDA0C9FA'],
    },
  },
};

/**
 * The nested stack of each pillar not in PILLARS_IN_API_STACK (api-stack.ts), by pillar name: the
 * logical id of its stack resource in the API stack (another id is another stack: every resource of
 * the pillar would be replaced) and its own data-bearing ids, by type (a type left out: none of it).
 * A new pillar's entry is added on purpose, as a new table's id is: the failure prints it.
 */
const PINNED_PILLAR_STACKS: Readonly<
  Record<
    string,
    { readonly stackId: string; readonly ids: Partial<Record<DataBearingType, readonly string[]>> }
  >
> = {
  'edge-sync': {
    stackId: 'EdgeSyncPillarStackNestedStackEdgeSyncPillarStackNestedStackResource1B3B3B6E',
    ids: { 'AWS::Logs::LogGroup': ['EdgeSyncLogGroup532FD462'] },
  },
  compliance: {
    stackId: 'CompliancePillarStackNestedStackCompliancePillarStackNestedStackResourceC0021420',
    ids: {
      'AWS::Logs::LogGroup': ['ComplianceLogGroupDD872533'],
      'AWS::SQS::Queue': ['ComplianceChangesSubscriptionDeadLetterQueue19DBA42A'],
    },
  },
};

const COGNITO_TYPES: ReadonlySet<DataBearingType> = new Set([
  'AWS::Cognito::UserPool',
  'AWS::Cognito::UserPoolClient',
  'AWS::Cognito::UserPoolGroup',
]);

const HOW_TO_FIX =
  'Keep the construct id and path, or overrideLogicalId() to the pinned id; see the top of logical-ids.test.ts.';

type Resources = Record<string, { Type: string }>;

/** Every way in which the template's data-bearing logical ids differ from `pinned`, one line each. */
const problemsOf = (
  stackName: string,
  resources: Resources,
  pinned: Readonly<Record<DataBearingType, readonly string[]>>,
  list = 'PINNED',
): string[] => {
  const problems: string[] = [];
  for (const type of DATA_BEARING_TYPES) {
    const pinnedIds = pinned[type];
    for (const id of pinnedIds) {
      const found = resources[id];
      if (!found) {
        problems.push(
          `${stackName}: pinned ${type} '${id}' is missing: an update would replace this resource (data loss). ${HOW_TO_FIX}`,
        );
      } else if (found.Type !== type) {
        problems.push(
          `${stackName}: pinned '${id}' is now a ${found.Type}, not a ${type}: an update would replace this resource (data loss). ${HOW_TO_FIX}`,
        );
      }
    }
    const actualIds = Object.keys(resources)
      .filter((id) => resources[id]?.Type === type)
      .sort();
    for (const id of actualIds) {
      if (!pinnedIds.includes(id)) {
        problems.push(
          `${stackName}: ${type} '${id}' was added and is not pinned: if it takes the place of a pinned id, an update would replace this resource (data loss); if it is a deliberately NEW resource, add '${id}' to ${list}['${type}'] (sorted).`,
        );
      }
    }
  }
  return problems;
};

/** The data-bearing ids of a template, by type, sorted (the shape of PinnedStack.ids). */
const idsByType = (resources: Resources): Record<DataBearingType, string[]> => {
  const out = {} as Record<DataBearingType, string[]>;
  for (const type of DATA_BEARING_TYPES) {
    out[type] = Object.keys(resources)
      .filter((id) => resources[id]?.Type === type)
      .sort();
  }
  return out;
};

describe('the pinned list itself', () => {
  it('lists the ids of each pillar stack sorted, once, and only data-bearing types', () => {
    for (const [name, { ids }] of Object.entries(PINNED_PILLAR_STACKS)) {
      const all = Object.entries(ids).flatMap(([type, list]) => {
        expect(DATA_BEARING_TYPES, name).toContain(type);
        expect(list, `${name} ${type}`).toEqual([...new Set(list)].sort());
        return list ?? [];
      });
      expect(new Set(all).size, `${name}: a logical id is pinned under two types`).toBe(all.length);
    }
  });

  for (const role of ['stateful', 'api'] as const) {
    it(`lists ${role} ids sorted, once, and for every data-bearing type`, () => {
      const ids = PINNED[role].ids;
      expect(Object.keys(ids).sort()).toEqual([...DATA_BEARING_TYPES].sort());
      const all: string[] = [];
      for (const type of DATA_BEARING_TYPES) {
        expect(ids[type], type).toEqual([...new Set(ids[type])].sort());
        all.push(...ids[type]);
      }
      expect(new Set(all).size, 'a logical id is pinned under two types').toBe(all.length);
    });
  }
});

interface Variant {
  readonly name: string;
  readonly props: ConductorAppProps;
  /** Which pinned types this variant must have (the others must have no resource at all). */
  readonly expects: (type: DataBearingType) => boolean;
}

const VARIANTS: readonly Variant[] = [
  { name: 'default props', props: {}, expects: () => true },
  { name: "policyEngine 'cedar'", props: { policyEngine: 'cedar' }, expects: () => true },
  { name: "policyEngine 'opa' (the default)", props: { policyEngine: 'opa' }, expects: () => true },
  {
    name: 'an OIDC issuer instead of Cognito',
    props: { oidc: { issuer: 'https://issuer.example.com', audience: ['conductor'] } },
    expects: (type) => !COGNITO_TYPES.has(type),
  },
];

for (const variant of VARIANTS) {
  describe(`data-bearing logical ids, ${variant.name}`, () => {
    let synth: Synthesized;
    beforeAll(() => {
      synth = synthConductor({ props: variant.props });
    });
    afterAll(() => synth?.dispose());

    for (const role of ['stateful', 'api'] as const) {
      const pinned = PINNED[role];
      const expected = Object.fromEntries(
        DATA_BEARING_TYPES.map((type) => [type, variant.expects(type) ? pinned.ids[type] : []]),
      ) as Record<DataBearingType, readonly string[]>;

      it(`keeps the ${role} stack's name ${pinned.stackName} (a renamed stack is a new stack)`, () => {
        expect(synth[role].stackName).toBe(pinned.stackName);
      });

      it(`keeps every pinned logical id of the ${role} stack, with its type, and adds none unlisted`, () => {
        const template = role === 'stateful' ? synth.statefulTemplate : synth.apiTemplate;
        const resources = template.toJSON().Resources as Resources;
        const problems = problemsOf(pinned.stackName, resources, expected);
        expect(problems, problems.join('\n')).toEqual([]);
        // Redundant when there are no problems; kept as the literal statement of the invariant.
        expect(idsByType(resources)).toEqual(expected);
      });
    }

    it("keeps each pillar's nested stack, and every pinned logical id in it, and adds none unlisted", () => {
      for (const name of Object.keys(PINNED_PILLAR_STACKS)) {
        expect(
          synth.api.pillarStacks[name],
          `the pinned nested stack of pillar '${name}' is missing: an update would delete every resource of the pillar. ${HOW_TO_FIX}`,
        ).toBeDefined();
      }
      for (const [name, stack] of Object.entries(synth.api.pillarStacks)) {
        const stackId = synth.api.getLogicalId(stack.nestedStackResource as never);
        const resources = synth.pillarTemplate(name).toJSON().Resources as Resources;
        const pinned = PINNED_PILLAR_STACKS[name];
        const actual = Object.fromEntries(
          Object.entries(idsByType(resources)).filter(([, ids]) => ids.length > 0),
        );
        expect(
          pinned,
          `the nested stack of pillar '${name}' is not pinned: if it is a deliberately NEW pillar, add ${JSON.stringify({ [name]: { stackId, ids: actual } })} to PINNED_PILLAR_STACKS`,
        ).toBeDefined();
        expect(stackId, `${stack.node.path}: ${HOW_TO_FIX}`).toBe(pinned?.stackId);
        const ids = Object.fromEntries(
          DATA_BEARING_TYPES.map((type) => [type, variant.expects(type) ? (pinned?.ids[type] ?? []) : []]),
        ) as Record<DataBearingType, readonly string[]>;
        const problems = problemsOf(stack.node.path, resources, ids, `PINNED_PILLAR_STACKS['${name}'].ids`);
        expect(problems, problems.join('\n')).toEqual([]);
      }
    });
  });
}
