import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { Names, Validations } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRateLimiter } from '#shared/adapters/rate-limit.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import {
  COMPLIANCE_RESOURCES_ENV,
  enforcesPolicies,
  functionsOf,
  type PillarManifest,
  POLICY_TABLE_ID,
  queuesOf,
  RUNBOOK_SIGNING_KEY_ENV,
  tablesOf,
  tablesOfFunction,
  workflowsOf,
} from '#shared/pillar.js';
import { DynamoDecisionLog, DynamoGrantLookup } from '#shared/policy/dynamo-policy-store.js';
import type { Grant } from '#shared/ports/grants.js';
import type { DecisionRecord } from '#shared/ports/policy.js';
import type { TenantRecord } from '#shared/ports/records.js';
import { decisionRecordFixture } from '#shared/testing/decision-records.js';
import { DynamoDecisionLogReader } from '../../../functions/authorize/src/adapters/dynamo-decision-log-reader.js';
import { DynamoGrantStore } from '../../../functions/authorize/src/adapters/dynamo-grant-store.js';
import { PILLARS } from '../../../functions/catalog.js';
import { DynamoArmCounters } from '../../../functions/router/src/adapters/dynamo-arm-counters.js';
import { EMPTY_COUNTS } from '../../../functions/router/src/domain/canary-watch.js';
import { ensureTables, localTableName, startTestDynamo, type TestDynamo } from '../../local/dynamodb.js';
import {
  COMPLIANCE_COLLECTOR_ACTIONS,
  KERNEL_POLICY_TABLE_ACCESS,
  leadingKeysOf,
  searchedPersonalTables,
  TABLE_READ_ACTIONS,
  TABLE_WRITE_ACTIONS,
} from '../lib/pillar-services.js';
import { REPO_ROOT } from '../lib/service-function.js';
import { LEDGER, LEDGER_QUEUE } from './ledger-pillar.js';
import {
  actionsOf,
  allPolicyStatements,
  type PolicyStatement,
  resourcesOf,
  type Synthesized,
  statefulImport,
  synthConductor,
  synthPillars,
} from './synth.js';

/**
 * Least privilege of the function roles, checked on the synthesized API stack and derived from the
 * manifests and the code, never from a list kept here: explicit DynamoDB actions, each function on
 * its own tables only (and on the kernel's part of the policy table when it enforces policies), the
 * data key only through the service that uses it. The DynamoDB rights are also checked against what
 * the code really sends: the kernel's and the record stores' requests, recorded against dynalite,
 * are run through the roles' statements (a small evaluator of the IAM features the stack uses).
 */

/**
 * The pillar no code knows, verifying runbook signatures too: whatever the catalog does, the
 * `runbookSigningKey` grant of a manifest is held to the rules below.
 */
const VERIFYING_LEDGER: PillarManifest = {
  ...LEDGER,
  functions: LEDGER.functions.map((fn) => ({ ...fn, runbookSigningKey: 'verify' as const })),
};

const VARIANTS: readonly {
  readonly name: string;
  readonly pillars: readonly PillarManifest[];
  readonly synth: () => Synthesized;
}[] = [
  { name: 'the catalog', pillars: PILLARS, synth: () => synthConductor() },
  {
    name: 'the catalog and a pillar no code knows (which verifies runbook signatures)',
    pillars: [...PILLARS, VERIFYING_LEDGER],
    synth: () => synthPillars([...PILLARS, VERIFYING_LEDGER]),
  },
];

/** What verifying runbook signatures takes on the runbook signing key (`runbookSigningKey: 'verify'`). */
const RUNBOOK_VERIFY_ACTIONS = ['kms:DescribeKey', 'kms:GetPublicKey'];

type Statement = PolicyStatement & { readonly Condition?: Record<string, Record<string, unknown>> };
type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/** One DynamoDB request as IAM authorizes it: one action, one table, the partition keys it touches. */
interface DynamoRequest {
  readonly action: string;
  readonly table: string;
  readonly leadingKeys: readonly string[];
}

const ACTION_OF_COMMAND = new Map<abstract new (...args: never[]) => unknown, string>([
  [GetCommand, 'dynamodb:GetItem'],
  [PutCommand, 'dynamodb:PutItem'],
  [UpdateCommand, 'dynamodb:UpdateItem'],
  [DeleteCommand, 'dynamodb:DeleteItem'],
  [QueryCommand, 'dynamodb:Query'],
  [BatchGetCommand, 'dynamodb:BatchGetItem'],
  [BatchWriteCommand, 'dynamodb:BatchWriteItem'],
]);

/** Document client commands whose IAM action is not their name (`GetCommand` is `dynamodb:GetItem`). */
const DOCUMENT_CLIENT_ACTIONS: Readonly<Record<string, string>> = {
  Get: 'GetItem',
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  BatchGet: 'BatchGetItem',
  BatchWrite: 'BatchWriteItem',
  TransactGet: 'TransactGetItems',
  TransactWrite: 'TransactWriteItems',
};

/**
 * The IAM actions of the DynamoDB commands a module sends: the command classes it imports from the
 * DynamoDB SDK packages and instantiates (`GetCommand` is `dynamodb:GetItem`, `ScanCommand`
 * `dynamodb:Scan`, `GetItemCommand` `dynamodb:GetItem`).
 */
const dynamoActionsSentBy = (code: string): string[] =>
  [...code.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/(?:lib|client)-dynamodb'/g)]
    .flatMap(([, names]) => (names ?? '').split(','))
    .map(
      (name) =>
        name
          .replace(/^\s*type\s+/, '')
          .split(/\s+as\s+/)[0]
          ?.trim() ?? '',
    )
    .filter((name) => name.endsWith('Command') && new RegExp(`\\bnew ${name}\\(`).test(code))
    .map((name) => {
      const base = name.slice(0, -'Command'.length);
      return `dynamodb:${DOCUMENT_CLIENT_ACTIONS[base] ?? base}`;
    });

/** What a recorded document-client command asks IAM for, one request per table it names. */
const requestsOf = (command: unknown): DynamoRequest[] => {
  const action = [...ACTION_OF_COMMAND].find(([type]) => command instanceof type)?.[1];
  if (!action) throw new Error(`unexpected DynamoDB command ${(command as object).constructor.name}`);
  const input = (command as { input: Record<string, unknown> }).input;
  const pkOf = (item: unknown) => String((item as { pk: unknown }).pk);
  if (command instanceof BatchWriteCommand || command instanceof BatchGetCommand) {
    const items = input.RequestItems as Record<string, unknown>;
    return Object.entries(items).map(([table, requests]) => ({
      action,
      table,
      leadingKeys:
        command instanceof BatchGetCommand
          ? (requests as { Keys: unknown[] }).Keys.map(pkOf)
          : (requests as { PutRequest?: { Item: unknown }; DeleteRequest?: { Key: unknown } }[]).map(
              (request) => pkOf(request.PutRequest?.Item ?? request.DeleteRequest?.Key),
            ),
    }));
  }
  const table = String(input.TableName);
  if (command instanceof QueryCommand) {
    const placeholder = /\bpk = (:\w+)/.exec(String(input.KeyConditionExpression))?.[1] ?? '';
    const values = input.ExpressionAttributeValues as Record<string, unknown>;
    return [{ action, table, leadingKeys: [String(values[placeholder])] }];
  }
  return [{ action, table, leadingKeys: [pkOf(input.Item ?? input.Key)] }];
};

/** IAM's StringLike: `*` any run of characters, `?` one. */
const like = (pattern: string, value: string): boolean =>
  new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
    's',
  ).test(value);

/**
 * Whether `statement`'s conditions hold for a request whose context is `context`. Only the operators
 * the function roles use are understood (any other fails the test): ForAllValues:StringLike, true
 * for an absent key as in IAM, and StringEquals, on string values.
 */
const conditionsHold = (statement: Statement, context: Record<string, readonly string[]>): boolean =>
  Object.entries(statement.Condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, expected]) => {
      const patterns = (Array.isArray(expected) ? expected : [expected]).filter(
        (pattern): pattern is string => typeof pattern === 'string',
      );
      const values = context[key];
      if (operator === 'ForAllValues:StringLike') {
        return (values ?? []).every((value) => patterns.some((pattern) => like(pattern, value)));
      }
      if (operator === 'StringEquals') {
        return values?.every((value) => patterns.includes(value)) === true;
      }
      throw new Error(`the evaluator does not know condition operator ${operator}`);
    }),
  );

/** IAM's answer for a request of one principal: an Allow matches it and no Deny does. */
const allows = (
  statements: readonly Statement[],
  action: string,
  resource: unknown,
  context: Record<string, readonly string[]>,
): boolean => {
  const matches = (statement: Statement) =>
    actionsOf(statement).some((a) => like(a, action)) &&
    resourcesOf(statement).some((r) => r === '*' || JSON.stringify(r) === JSON.stringify(resource)) &&
    conditionsHold(statement, context);
  return (
    statements.some((s) => s.Effect === 'Allow' && matches(s)) &&
    !statements.some((s) => s.Effect === 'Deny' && matches(s))
  );
};

/** The deployed code: kernel and the catalog's pillars, without tests, test helpers and the local stand-ins. */
const deployedSources = (): string[] => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!['test', 'testing', 'node_modules'].includes(entry.name)) walk(path);
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) files.push(path);
    }
  };
  walk(join(REPO_ROOT, 'layers/shared/src'));
  // The folders of the catalog's functions: a pillar built but not deployed yet (no manifest in the
  // catalog) sends nothing from a deployed function.
  const folders = new Set(functionsOf(PILLARS).map((fn) => fn.entry.split('/')[1] as string));
  for (const folder of folders) walk(join(REPO_ROOT, 'functions', folder));
  return files;
};

describe.each(VARIANTS)('least privilege of the function roles of $name', (variant) => {
  const FUNCTIONS = functionsOf(variant.pillars);
  const QUEUES = queuesOf(variant.pillars);
  const TABLES = tablesOf(variant.pillars);
  let synth: Synthesized;
  let resources: Resources;

  beforeAll(() => {
    // Template.fromStack runs cdk-nag: any unacknowledged finding fails here already.
    synth = variant.synth();
    resources = synth.flatApiTemplate.toJSON().Resources as Resources;
  });
  afterAll(() => synth?.dispose());

  /** Every statement of a function's role: its managed-by-CDK policies and any inline policy. */
  const statementsOf = (name: string): Statement[] => {
    const fn = synth.api.functions[name];
    if (!fn) throw new Error(`no function ${name}`);
    const roleId = synth.logicalIdOf(fn.role.node.defaultChild as never);
    const managed = ((resources[roleId]?.Properties.ManagedPolicyArns ?? []) as unknown[]).map((arn) =>
      JSON.stringify(arn),
    );
    const attached = Object.entries(resources)
      .filter(
        ([id, r]) =>
          (r.Type === 'AWS::IAM::Policy' &&
            (r.Properties.Roles as unknown[]).some(
              (role) => JSON.stringify(role) === `{"Ref":"${roleId}"}`,
            )) ||
          (r.Type === 'AWS::IAM::ManagedPolicy' &&
            (managed.includes(JSON.stringify({ Ref: id })) ||
              // CDK's overflow policy of a role whose inline policy grew past IAM's size limit.
              ((r.Properties.Roles ?? []) as unknown[]).some(
                (role) => JSON.stringify(role) === `{"Ref":"${roleId}"}`,
              ))),
      )
      .flatMap(([, r]) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
    const inline = ((resources[roleId]?.Properties.Policies ?? []) as { PolicyDocument: unknown }[]).flatMap(
      (p) => (p.PolicyDocument as { Statement: Statement[] }).Statement,
    );
    return [...attached, ...inline];
  };

  const tableArn = (id: string): unknown => statefulImport(synth, synth.stateful.table(id), 'Arn');
  /** A compliance collector's read-only describe statement (checked on its own, below). */
  const COLLECTOR_ACTIONS: readonly string[] = Object.values(COMPLIANCE_COLLECTOR_ACTIONS).flat();
  const isCollectorRead = (statement: PolicyStatement) =>
    actionsOf(statement).every((action) => COLLECTOR_ACTIONS.includes(action));
  const dynamoStatementsOf = (name: string, options: { readonly collectorReads?: boolean } = {}) =>
    statementsOf(name).filter(
      (s) =>
        actionsOf(s).some((a) => a.startsWith('dynamodb:')) &&
        (options.collectorReads === true || !isCollectorRead(s)),
    );
  const kmsStatementsOf = (name: string) =>
    statementsOf(name).filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')) && !isCollectorRead(s));
  /** The runbook signing key as the API stack names it: the import of its named export. */
  const runbookKeyArn = () => statefulImport(synth, synth.stateful.runbookSigningKey, 'Arn');
  const namesRunbookKey = (statement: PolicyStatement) =>
    resourcesOf(statement).some((r) => JSON.stringify(r) === JSON.stringify(runbookKeyArn()));
  /** The DSR subject key (HMAC) as the API stack names it. */
  const namesDsrKey = (statement: PolicyStatement) =>
    resourcesOf(statement).some(
      (r) => JSON.stringify(r) === JSON.stringify(statefulImport(synth, synth.stateful.dsrSubjectKey, 'Arn')),
    );
  const variablesOf = (name: string): Record<string, unknown> => {
    const fn = synth.api.functions[name];
    if (!fn) throw new Error(`no function ${name}`);
    const resource = resources[synth.logicalIdOf(fn.function.node.defaultChild as never)];
    if (!resource) throw new Error(`no Lambda resource for ${name}`);
    return (resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  };

  describe('DynamoDB', () => {
    it('grants no dynamodb:Scan, no dynamodb wildcard and no stream read to any role of either stack', () => {
      const statements = [
        ...allPolicyStatements(synth.flatApiTemplate),
        ...allPolicyStatements(synth.statefulTemplate),
      ].filter(({ statement }) => statement.Effect === 'Allow');
      const streams = ['GetRecords', 'GetShardIterator', 'DescribeStream', 'ListStreams'];
      const offending = statements.flatMap(({ where, statement }) =>
        actionsOf(statement)
          .filter(
            (action) =>
              action === '*' ||
              (action.startsWith('dynamodb:') &&
                (action.includes('*') ||
                  action === 'dynamodb:Scan' ||
                  streams.includes(action.slice('dynamodb:'.length)))),
          )
          .map((action) => `${where}: ${action}`),
      );
      expect(offending).toEqual([]);
    });

    it('grants exactly the DynamoDB operations the deployed code sends, no more', () => {
      const used = new Set(
        deployedSources().flatMap((file) => dynamoActionsSentBy(readFileSync(file, 'utf8'))),
      );
      expect(used.size).toBeGreaterThan(0);
      const granted = new Set(
        FUNCTIONS.flatMap((entry) =>
          dynamoStatementsOf(entry.name, { collectorReads: true })
            .filter((s) => s.Effect === 'Allow')
            .flatMap(actionsOf),
        ),
      );
      expect([...granted].sort()).toEqual([...used].sort());
    });

    it("names, in each function's statements, only the tables its manifest gives it (the policy table only to enforcers and its owner)", () => {
      for (const entry of FUNCTIONS) {
        // Its tables, the tables of its record reads, and (answering data subject requests) every
        // table with searched personal data.
        const expected = [
          ...new Set([
            ...tablesOfFunction(entry),
            ...(entry.recordReads ?? []).map((read) => read.table),
            ...(entry.dataSubjectRequests ? searchedPersonalTables(TABLES).map((table) => table.id) : []),
          ]),
        ].map(tableArn);
        const named = dynamoStatementsOf(entry.name).flatMap(resourcesOf);
        expect([...new Set(named.map((r) => JSON.stringify(r)))].sort(), entry.name).toEqual(
          expected.map((r) => JSON.stringify(r)).sort(),
        );
        // Table ARNs only: the tables have no index, and no statement names one.
        for (const resource of named) expect(JSON.stringify(resource)).not.toMatch(/index|stream/);
      }
      expect(FUNCTIONS.some((entry) => tablesOfFunction(entry).length === 0)).toBe(true);
    });

    it("gives a function its own tables' record-store actions, and the policy table only as far as the kernel needs it, each action fenced to its entity", () => {
      const own = [...TABLE_READ_ACTIONS, ...TABLE_WRITE_ACTIONS].sort();
      const policyArn = JSON.stringify(tableArn(POLICY_TABLE_ID));
      for (const entry of FUNCTIONS) {
        const statements = dynamoStatementsOf(entry.name);
        for (const id of entry.tables ?? []) {
          const arn = JSON.stringify(tableArn(id));
          const unfenced = statements.filter(
            (s) => !s.Condition && resourcesOf(s).some((r) => JSON.stringify(r) === arn),
          );
          expect(unfenced.flatMap(actionsOf).sort(), `${entry.name} on ${id}`).toEqual(own);
        }
        const fenced = statements.filter((s) => s.Condition !== undefined);
        const kernel = fenced.map((s) => ({
          resources: resourcesOf(s).map((r) => JSON.stringify(r)),
          actions: actionsOf(s),
          condition: s.Condition,
        }));
        // The manifest's counters (UpdateItem on one entity of its table), then the kernel's accesses.
        const counters = (entry.counters ?? []).map((counter) => ({
          resources: [JSON.stringify(tableArn(counter.table))],
          actions: ['dynamodb:UpdateItem'],
          condition: {
            'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [leadingKeysOf(counter.entity)] },
          },
        }));
        // Record reads: Query on the partitions of one entity of another pillar's table.
        const reads = (entry.recordReads ?? []).map((read) => ({
          resources: [JSON.stringify(tableArn(read.table))],
          actions: ['dynamodb:Query'],
          condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [leadingKeysOf(read.entity)] } },
        }));
        // Data subject requests: over the tables with searched personal data but its own, Query on
        // the searched entities, PutItem on those an erasure redacts, DeleteItem on those it deletes;
        // nothing on an entity not searched (one statement per action: the entities are distinct).
        const searched = entry.dataSubjectRequests
          ? searchedPersonalTables(TABLES)
              .filter((table) => !tablesOfFunction(entry).includes(table.id))
              .flatMap((table) =>
                (table.personalData ?? [])
                  .filter((spec) => spec.notSearched === undefined)
                  .map((spec) => ({ ...spec, table: table.id })),
              )
          : [];
        const dsr = (
          [
            ['dynamodb:Query', searched],
            ['dynamodb:PutItem', searched.filter((spec) => spec.onErasure === 'redact')],
            ['dynamodb:DeleteItem', searched.filter((spec) => spec.onErasure === 'delete')],
          ] as const
        )
          .filter(([, chosen]) => chosen.length > 0)
          .map(([action, chosen]) => ({
            resources: [...new Set(chosen.map((spec) => spec.table))].map((id) =>
              JSON.stringify(tableArn(id)),
            ),
            actions: [action],
            condition: {
              'ForAllValues:StringLike': {
                'dynamodb:LeadingKeys': chosen.map((spec) => leadingKeysOf(spec.entity)),
              },
            },
          }));
        // One entry per action: CDK merges statements of the same resources and condition.
        const perAction = (
          list: readonly { resources: string[]; actions: readonly string[]; condition: unknown }[],
        ) =>
          list
            .flatMap(({ resources, actions, condition }) =>
              actions.map((action) =>
                JSON.stringify({ resources: [...resources].sort(), action, condition }),
              ),
            )
            .sort();
        expect(perAction(kernel), entry.name).toEqual(
          perAction([
            ...reads,
            ...counters,
            ...(enforcesPolicies(entry)
              ? KERNEL_POLICY_TABLE_ACCESS.map((access) => ({
                  resources: [policyArn],
                  actions: [access.action],
                  condition: {
                    'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [leadingKeysOf(access.entity)] },
                  },
                }))
              : []),
            ...dsr,
          ]),
        );
        if (!(entry.tables ?? []).includes(POLICY_TABLE_ID)) {
          // Nothing unfenced on the policy table for a function that does not own it.
          const loose = statements.filter(
            (s) => !s.Condition && resourcesOf(s).some((r) => JSON.stringify(r) === policyArn),
          );
          expect(loose, entry.name).toEqual([]);
        }
      }
      expect(KERNEL_POLICY_TABLE_ACCESS.map((access) => leadingKeysOf(access.entity))).toEqual([
        'T#*#DECISION',
        'T#*#RATE',
        'T#*#GRANT_LIVE',
        'T#*#GRANT',
      ]);
      // Today's counters: the router's canary counts, added to by the router and reward functions.
      expect(
        FUNCTIONS.filter((fn) => fn.counters)
          .map((fn) => fn.name)
          .sort(),
      ).toEqual(['reward', 'router']);
      expect(leadingKeysOf('CANARY_COUNTS')).toBe('T#*#CANARY_COUNTS');
    });

    describe('against the requests the code sends (recorded on dynalite)', () => {
      let local: TestDynamo;
      const AT = new Date('2026-04-01T12:00:00.000Z');
      const epoch = (date: Date) => Math.floor(date.getTime() / 1000);
      const tableIdOf = new Map(TABLES.map((spec) => [localTableName(spec), spec.id]));

      beforeAll(async () => {
        local = await startTestDynamo();
        // The catalog's tables exist already; a pillar's of the variant are created here.
        await ensureTables(local.endpoint, TABLES);
      });
      afterAll(() => local?.close());

      /** A document client that records what it is asked to do, then does it. */
      const recording = (): { doc: Pick<DynamoDBDocumentClient, 'send'>; requests: DynamoRequest[] } => {
        const requests: DynamoRequest[] = [];
        const doc = {
          send: ((command: unknown) => {
            requests.push(...requestsOf(command));
            return local.doc.send(command as never);
          }) as DynamoDBDocumentClient['send'],
        };
        return { doc, requests };
      };

      /** Whether function `name`'s role may send `request`. */
      const mayDo = (name: string, request: DynamoRequest): boolean => {
        const id = tableIdOf.get(request.table);
        if (!id) throw new Error(`unknown table ${request.table}`);
        return allows(statementsOf(name), request.action, tableArn(id), {
          'dynamodb:LeadingKeys': request.leadingKeys,
        });
      };

      const decision = (tenantId: string, n: number): DecisionRecord =>
        decisionRecordFixture(n, tenantId, { at: AT.toISOString(), engine: 'opa', policyVersion: 'test' });

      let grants = 0;
      const grant = (id: string, fields: Partial<Grant> = {}): Grant => ({
        tenantId: 'globex',
        id,
        version: 1,
        createdAt: AT.toISOString(),
        updatedAt: AT.toISOString(),
        requesterSubject: 'alice',
        requesterTenant: 'acme',
        reason: 'incident',
        durationMinutes: 60,
        status: 'pending',
        expiresAt: epoch(AT) + 3600,
        ...fields,
      });

      /**
       * The policy table as the authorize pillar uses it (it owns the table): a grant requested and
       * approved (grant and live-grant index puts), grants and decisions listed. None of it is the
       * kernel's.
       */
      const ownerRequests = async (): Promise<DynamoRequest[]> => {
        const { doc, requests } = recording();
        const table = localTableName({ id: POLICY_TABLE_ID, envVar: '', description: '' });
        const store = new DynamoGrantStore(doc, table);
        grants += 1;
        const id = `grant-${grants}`;
        await store.create(grant(id));
        await store.replace(grant(id, { version: 2, status: 'approved', approvedBy: 'gina' }), 1);
        await store.list('globex', { limit: 10 });
        await new DynamoDecisionLogReader(doc, table).list('acme', { limit: 10 });
        return requests;
      };

      /**
       * The policy table as the kernel of every enforcer uses it: a decision log write (two tenants'
       * partitions, as a cross-tenant decision is logged in both), a rate count (the tenant's and a
       * caller's), and the grant lookup of a cross-tenant request (index query, then the grant).
       */
      const kernelRequests = async (): Promise<DynamoRequest[]> => {
        const { doc, requests } = recording();
        const table = localTableName({ id: POLICY_TABLE_ID, envVar: '', description: '' });
        await new DynamoDecisionLog(doc, table).record([decision('acme', 1), decision('globex', 2)]);
        const limiter = new DynamoRateLimiter(doc, table, { now: () => AT.getTime() });
        await limiter.consume('acme', 'default');
        await limiter.consume('acme', 'refused', 'alice');
        const granted = await new DynamoGrantLookup(doc, table).grantedTenants(
          { subject: 'alice', tenantId: 'acme', roles: ['operator'], amr: [] },
          'globex',
          AT,
        );
        // The owner's requests ran first: the approved grant is found, so its re-read was recorded.
        expect(granted).toEqual(['globex']);
        return requests;
      };

      it("lets every enforcer's kernel do what it does in the policy table, and only enforcers and its owner", async () => {
        await ownerRequests();
        const requests = await kernelRequests();
        expect([...new Set(requests.map((r) => r.action))].sort()).toEqual(
          [...new Set(KERNEL_POLICY_TABLE_ACCESS.map((access) => access.action))].sort(),
        );
        for (const entry of FUNCTIONS) {
          const may = enforcesPolicies(entry) || (entry.tables ?? []).includes(POLICY_TABLE_ID);
          for (const request of requests) {
            expect(mayDo(entry.name, request), `${entry.name}: ${JSON.stringify(request)}`).toBe(may);
          }
        }
      });

      it("refuses an enforcer that does not own the policy table the owner's operations: no grant write or listing, no decision read", async () => {
        const requests = await ownerRequests();
        expect(requests.map((r) => r.action)).toEqual(
          expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:Query']),
        );
        const strangers = FUNCTIONS.filter(
          (entry) => enforcesPolicies(entry) && !(entry.tables ?? []).includes(POLICY_TABLE_ID),
        );
        expect(strangers.map((entry) => entry.name)).toContain('router');
        for (const entry of FUNCTIONS) {
          const owns = (entry.tables ?? []).includes(POLICY_TABLE_ID);
          // A declared record read of the decision log (the compliance checks) may read decisions, no more.
          const readsDecisions = (entry.recordReads ?? []).some(
            (read) => read.table === POLICY_TABLE_ID && read.entity === 'DECISION',
          );
          for (const request of requests) {
            const decisionRead =
              request.action === 'dynamodb:Query' &&
              request.leadingKeys.every((key) => key.endsWith('#DECISION'));
            expect(mayDo(entry.name, request), `${entry.name}: ${JSON.stringify(request)}`).toBe(
              owns || (readsDecisions && decisionRead),
            );
          }
        }
        expect(FUNCTIONS.filter((entry) => entry.recordReads).map((entry) => entry.name)).toEqual([
          'compliance',
        ]);
      });

      it('lets the router and reward functions add to the canary counters, and nobody else, and nothing but them', async () => {
        // Prepare
        const router = TABLES.find((spec) => spec.id === 'router');
        if (!router) throw new Error('no router table');
        const { doc, requests } = recording();
        const counters = new DynamoArmCounters(doc, localTableName(router));

        // Act
        await counters.add('acme', 'exp', 29_000_000, 'candidate', {
          ...EMPTY_COUNTS,
          outcomes: 1,
          errors: 1,
        });
        await counters.sum('acme', 'exp', 28_999_995, 29_000_000);
        const outside = { ...requests[0], leadingKeys: ['T#acme#ROUTE'] } as DynamoRequest;

        // Assess
        expect(requests.map((r) => r.action)).toEqual(['dynamodb:UpdateItem', 'dynamodb:BatchGetItem']);
        for (const entry of FUNCTIONS) {
          const adds = (entry.counters ?? []).some((c) => c.entity === 'CANARY_COUNTS');
          expect(mayDo(entry.name, requests[0] as DynamoRequest), entry.name).toBe(adds);
          expect(mayDo(entry.name, outside), `${entry.name} outside CANARY_COUNTS`).toBe(false);
        }
      });

      it('lets a function run every record-store operation on the tables it names, and none on any other table', async () => {
        interface Note extends TenantRecord {
          readonly text: string;
        }
        const note = (id: string, version = 1): Note => ({
          tenantId: 'acme',
          id,
          version,
          createdAt: AT.toISOString(),
          updatedAt: AT.toISOString(),
          text: 'x',
        });
        for (const spec of TABLES) {
          const { doc, requests } = recording();
          const store = new TenantRecordStore<Note>(doc, localTableName(spec), 'LEAST_PRIVILEGE_PROBE');
          await store.create(note('a'));
          await store.get('acme', 'a');
          await store.getMany('acme', ['a', 'b']);
          await store.list('acme', { limit: 10 });
          await store.replace(note('a', 2), 1);
          await store.delete('acme', 'a', 2);
          expect(new Set(requests.map((r) => r.action))).toEqual(
            new Set([...TABLE_READ_ACTIONS, ...TABLE_WRITE_ACTIONS]),
          );
          for (const entry of FUNCTIONS) {
            const names = (entry.tables ?? []).includes(spec.id);
            for (const request of requests) {
              expect(mayDo(entry.name, request), `${entry.name} on ${spec.id}: ${request.action}`).toBe(
                names,
              );
            }
          }
        }
      });
    });
  });

  describe('KMS', () => {
    const VIA = /^(dynamodb|sqs|s3)$/;
    /** The service of a statement's `kms:ViaService` condition, e.g. `sqs` for `sqs.<region>.amazonaws.com`. */
    const viaServiceOf = (statement: Statement): string | undefined => {
      const via = statement.Condition?.StringEquals?.['kms:ViaService'];
      const text = JSON.stringify(via ?? null);
      return /^\{"Fn::Join":\["",\["(\w+)\.",\{"Ref":"AWS::Region"\},"\.amazonaws\.com"\]\]\}$/.exec(
        text,
      )?.[1];
    };

    it("gives no role of the API stack kms:Encrypt, kms:ReEncrypt*, kms:Sign or a kms wildcard, and every kms statement a kms:ViaService condition but the runbook key's public-key read", () => {
      const kms = allPolicyStatements(synth.flatApiTemplate).filter(
        ({ statement }) =>
          statement.Effect === 'Allow' && actionsOf(statement).some((a) => a.startsWith('kms:')),
      );
      expect(kms.length).toBeGreaterThan(0);
      for (const { where, statement } of kms) {
        // A compliance collector's DescribeKey and GetKeyRotationStatus: settings, never data.
        if (isCollectorRead(statement)) continue;
        if (namesDsrKey(statement)) {
          // The subject hash of data subject requests: a direct KMS call, HMAC_SHA_256 only.
          expect(actionsOf(statement), where).toEqual(['kms:GenerateMac']);
          expect((statement as Statement).Condition, where).toEqual({
            StringEquals: { 'kms:MacAlgorithm': 'HMAC_SHA_256' },
          });
          continue;
        }
        if (namesRunbookKey(statement)) {
          // No service uses the key for the function: it asks KMS for the public key itself.
          expect([...actionsOf(statement)].sort(), where).toEqual(RUNBOOK_VERIFY_ACTIONS);
          expect(resourcesOf(statement), where).toEqual([runbookKeyArn()]);
          expect((statement as Statement).Condition, where).toBeUndefined();
          continue;
        }
        expect([...actionsOf(statement)].sort(), where).toEqual(expect.arrayContaining(['kms:Decrypt']));
        for (const action of actionsOf(statement)) {
          expect(['kms:Decrypt', 'kms:GenerateDataKey'], `${where}: ${action}`).toContain(action);
        }
        expect(viaServiceOf(statement as Statement), where).toMatch(VIA);
      }
    });

    it('lets each function use a key only through the services it uses: DynamoDB for its tables, SQS for its queues, S3 for its evidence', () => {
      for (const entry of FUNCTIONS) {
        const expected = new Set<string>();
        if (tablesOfFunction(entry).length > 0) expected.add('dynamodb');
        const queues =
          QUEUES.some((queue) => queue.consumer === entry.name) ||
          QUEUES.some((queue) =>
            queue.producers === 'policy-enforcers'
              ? enforcesPolicies(entry)
              : queue.producers.includes(entry.name),
          ) ||
          entry.deadLetterAccess === true;
        if (queues) expected.add('sqs');
        if (
          (entry.evidence ?? []).length > 0 ||
          (entry.evidenceReads ?? []).length > 0 ||
          (entry.artifacts ?? []).length > 0
        )
          expected.add('s3');
        const statements = kmsStatementsOf(entry.name).filter((s) => !namesRunbookKey(s) && !namesDsrKey(s));
        expect(new Set(statements.map(viaServiceOf)), entry.name).toEqual(expected);
        const dataKey = JSON.stringify(statefulImport(synth, synth.stateful.dataKey, 'Arn'));
        for (const statement of statements.filter((s) => viaServiceOf(s) !== 's3')) {
          expect(
            resourcesOf(statement).map((r) => JSON.stringify(r)),
            entry.name,
          ).toEqual([dataKey]);
        }
      }
    });
  });

  describe('the compliance collector', () => {
    it('gives a complianceCollector exactly the read-only describe calls, on the deployment’s resources, and no other function any', () => {
      for (const entry of FUNCTIONS) {
        const reads = statementsOf(entry.name).filter(isCollectorRead);
        if (entry.complianceCollector !== true) {
          expect(reads, entry.name).toEqual([]);
          continue;
        }
        expect(reads.flatMap(actionsOf).sort(), entry.name).toEqual([...COLLECTOR_ACTIONS].sort());
        for (const statement of reads) {
          const named = resourcesOf(statement).map((r) => JSON.stringify(r));
          expect(named.length, entry.name).toBeGreaterThan(0);
          // Never the whole account: a resource, or the listing of log groups or alarms of this region.
          expect(named, entry.name).not.toContain('"*"');
          for (const text of named.filter((r) => r.includes(':*')))
            expect(text).toMatch(/log-group:\*|alarm:\*/);
        }
        // What it tests, by name: CDK writes it as JSON (tokens resolved at deploy).
        expect(variablesOf(entry.name)[COMPLIANCE_RESOURCES_ENV], entry.name).toBeDefined();
      }
    });
  });

  describe('the runbook signing key', () => {
    it("gives each function with runbookSigningKey 'verify' the key's ARN and GetPublicKey and DescribeKey on that key only; no other function anything of it", () => {
      const verifiers = FUNCTIONS.filter((entry) => entry.runbookSigningKey === 'verify');
      // The catalog's verifiers, and the pillar no code knows in the second variant.
      if (variant.pillars.includes(VERIFYING_LEDGER))
        expect(verifiers.map((e) => e.name)).toContain('ledger');
      for (const entry of FUNCTIONS) {
        const verifies = entry.runbookSigningKey === 'verify';
        const reads = kmsStatementsOf(entry.name).filter(namesRunbookKey);
        expect(
          reads.map((s) => ({
            actions: [...actionsOf(s)].sort(),
            resources: resourcesOf(s),
            condition: s.Condition,
          })),
          entry.name,
        ).toEqual(
          verifies
            ? [{ actions: RUNBOOK_VERIFY_ACTIONS, resources: [runbookKeyArn()], condition: undefined }]
            : [],
        );
        expect(variablesOf(entry.name)[RUNBOOK_SIGNING_KEY_ENV], entry.name).toEqual(
          verifies ? runbookKeyArn() : undefined,
        );
        // Signing stays with people and CI: no function may, on any key.
        expect(statementsOf(entry.name).flatMap(actionsOf), entry.name).not.toContain('kms:Sign');
      }
    });

    it('is named by the import of its stage-named export, so the grants read the same in every synth', () => {
      expect(runbookKeyArn()).toEqual({ 'Fn::ImportValue': synth.stateful.runbookSigningKeyArnExportName });
      expect(synth.stateful.runbookSigningKeyArnExportName).toMatch(
        /^conductor-(prod|test)-runbook-signing-key-arn$/,
      );
    });
  });

  describe('cdk-nag', () => {
    it('has zero unacknowledged AwsSolutions findings with no acknowledgement of a kms wildcard left', () => {
      const report = new AwsSolutionsChecks(synth.app).validateScope(synth.app);
      expect(report.violations.map((v) => v.ruleName)).toEqual([]);
      const acknowledged = synth.app.node
        .findAll()
        .flatMap((c) => c.node.metadata)
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((m) => Object.keys(m.data as Record<string, string>));
      expect(acknowledged.filter((id) => id.includes('kms:'))).toEqual([]);
      // Each acknowledgement re-read (the reasons are beside them in the code); a new one shows here.
      // 21 before "Ready for a production account"; X-Ray's wildcard is one policy's now, not each role's.
      // Only the kinds below, each counted: one per function (L1) and one per queue's DLQ (SQS3) grow
      // with the catalog; any other acknowledgement fails here.
      const count = (rule: string) => acknowledged.filter((id) => id === `Annotation::${rule}`).length;
      const functions = FUNCTIONS.length;
      const workflows = workflowsOf(variant.pillars);
      const starters = workflows.flatMap((workflow) => workflow.startedBy);
      const statusDlqs = workflows.filter((workflow) => workflow.statusChangesTo !== undefined).length;
      // X-Ray's policy; each workflow's state machine role (log delivery and X-Ray); each starter
      // (SendTaskSuccess/Failure, which take no resource). The step role's only with runbookAllowedAwsApis.
      expect(count('AwsSolutions-IAM5[Resource::*]')).toBe(1 + workflows.length + starters.length);
      expect(count('AwsSolutions-L1')).toBe(functions);
      expect(count('AwsSolutions-APIG4')).toBe(3);
      // Every queue's DLQ, each workflow's status-change DLQ, each subscription's DLQ.
      const subscriptionDlqs = variant.pillars.flatMap((pillar) => pillar.subscriptions ?? []).length;
      expect(subscriptionDlqs).toBeGreaterThan(0);
      expect(count('AwsSolutions-SQS3')).toBe(QUEUES.length + statusDlqs + subscriptionDlqs);
      // Each starter's DescribeExecution on the executions of its workflow's machine.
      expect(
        acknowledged.filter((id) =>
          /^Annotation::AwsSolutions-IAM5\[Resource::arn:.+:execution:conductor-(prod|test)-[a-z-]+:\*\]$/.test(
            id,
          ),
        ),
      ).toHaveLength(starters.length);
      // The runbooks pillar's functions put and get their trail mirror under runbooks/ of the evidence bucket.
      const trailWriters = FUNCTIONS.filter((entry) => (entry.evidence ?? []).includes('runbooks/')).length;
      // And the readers of the mirror (the compliance function's runbooks check): get only.
      const evidenceReaders = FUNCTIONS.filter((entry) =>
        (entry.evidenceReads ?? []).includes('runbooks/'),
      ).length;
      expect(evidenceReaders).toBe(1);
      expect(
        acknowledged.filter((id) =>
          /^Annotation::AwsSolutions-IAM5\[Resource::.+-evidence-bucket-arn\/runbooks\/\*\]$/.test(id),
        ),
      ).toHaveLength(trailWriters + evidenceReaders);
      expect(trailWriters).toBe(4);
      expect(count('AwsSolutions-S1')).toBe(1);
      // The decision archive's writer puts under decisions/ of the evidence bucket; the compliance
      // checks read and list it.
      expect(
        acknowledged.filter((id) =>
          /^Annotation::AwsSolutions-IAM5\[Resource::.+\/decisions\/\*\]$/.test(id),
        ),
      ).toHaveLength(2);
      // Each artifacts writer puts and gets under its own folders of the artifacts bucket: the eval
      // functions under eval/ (reports, suite documents), edge-sync under edge/ (snapshots).
      const artifactFolders = FUNCTIONS.flatMap((entry) => entry.artifacts ?? []);
      const artifactWriters = artifactFolders.length;
      expect(
        acknowledged.filter((id) => {
          const match =
            /^Annotation::AwsSolutions-IAM5\[Resource::.+-artifacts-bucket-arn\/([a-z-]+\/)\*\]$/.exec(id);
          return match !== null && artifactFolders.includes(match[1] as string);
        }),
      ).toHaveLength(artifactWriters);
      expect(artifactWriters).toBeGreaterThan(0);
      // The compliance function puts and gets its evidence under compliance/ of the evidence bucket,
      // and, as the collector, lists the region's log groups and alarms (read-only).
      const collectors = FUNCTIONS.filter((entry) => entry.complianceCollector === true).length;
      expect(collectors).toBe(1);
      expect(
        acknowledged.filter((id) =>
          /^Annotation::AwsSolutions-IAM5\[Resource::.+-evidence-bucket-arn\/compliance\/\*\]$/.test(id),
        ),
      ).toHaveLength(collectors);
      expect(
        acknowledged.filter((id) =>
          /^Annotation::AwsSolutions-IAM5\[Resource::arn:.+:(log-group|alarm):\*\]$/.test(id),
        ),
      ).toHaveLength(2 * collectors);
      // The runbook signing key's readers add none: GetPublicKey and DescribeKey name the one key ARN.
      // The compliance checks' read of the decision archive (decisions/, counted above) adds one.
      expect(acknowledged.length).toBe(
        4 * collectors +
          subscriptionDlqs +
          evidenceReaders +
          1 +
          workflows.length +
          starters.length +
          functions +
          3 +
          QUEUES.length +
          statusDlqs +
          1 +
          1 +
          artifactWriters +
          starters.length +
          trailWriters,
      );
    });
  });

  it("maps each queue to its consumer's live alias, under SqsEventSource's construct id", () => {
    // On the alias (gradual deployments): the first deploy with it replaced the $LATEST mappings
    // (CloudFormation creates the new mapping before it deletes the old; both read the same queue).
    for (const spec of QUEUES) {
      const fn = synth.api.functions[spec.consumer];
      if (!fn) throw new Error(`no consumer ${spec.consumer}`);
      const id = `SqsEventSource:${Names.nodeUniqueId(synth.stateful.queue(spec.id).node)}`;
      expect(fn.function.node.tryFindChild(id), spec.id).toBeUndefined();
      const mapping = fn.alias.node.tryFindChild(id);
      expect(mapping, spec.id).toBeDefined();
      expect(synth.logicalIdOf(mapping?.node.defaultChild as CfnFunction)).toMatch(
        /^[A-Za-z]+SqsEventSourceConductor\w+$/,
      );
    }
  });
});

describe('the queue mappings of a manifest', () => {
  it('refuses a batch size the event source mapping would refuse, naming the queue', () => {
    const oversized: PillarManifest = { ...LEDGER, queues: [{ ...LEDGER_QUEUE, batchSize: 100 }] };
    expect(() => synthPillars([...PILLARS, oversized])).toThrow(
      "Queue 'ledger-entries': batchSize 100 must be 1-10 without maxBatchingWindowSeconds",
    );
    const windowed: PillarManifest = {
      ...LEDGER,
      queues: [{ ...LEDGER_QUEUE, batchSize: 100, maxBatchingWindowSeconds: 301 }],
    };
    expect(() => synthPillars([...PILLARS, windowed])).toThrow(
      "Queue 'ledger-entries': maxBatchingWindowSeconds 301 must be 300 or less",
    );
  });
});
