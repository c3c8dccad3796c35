import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import type { RouteSpec } from '#shared/http/http.js';
import {
  assertCatalog,
  enforcesPolicies,
  type FunctionSpec,
  functionsOf,
  type PillarManifest,
  POLICY_TABLE_ID,
  policyActionsOf,
  producesTo,
  type QueueSpec,
  queuesOf,
  rateFamiliesOf,
  receivesRunbookAllowLists,
  routesOf,
  type TableSpec,
  tableSpecOf,
  tablesOf,
  tablesOfFunction,
  type WorkflowSpec,
  workflowKeyOf,
  workflowsOf,
} from '#shared/pillar.js';
import { authorizePillar } from '../../../functions/authorize/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { metaPillar } from '../../../functions/meta/pillar.js';
import { routerPillar } from '../../../functions/router/pillar.js';

const route = (over: Partial<RouteSpec> = {}): RouteSpec => ({
  operationId: 'listThings',
  method: 'GET',
  path: '/things',
  summary: 'List things',
  tag: 'things',
  auth: 'jwt',
  action: 'things:list',
  success: { status: 200, description: 'The things' },
  errors: [],
  ...over,
});

const fn = (name: string, over: Partial<FunctionSpec> = {}): FunctionSpec => ({
  name,
  description: 'test',
  entry: 'functions/meta/src/handler.ts',
  ...over,
});

const POLICY_TABLE: TableSpec = { id: POLICY_TABLE_ID, envVar: 'POLICY_TABLE_NAME', description: 'test' };
const THINGS_TABLE: TableSpec = { id: 'things', envVar: 'THINGS_TABLE_NAME', description: 'test' };

const jobs: QueueSpec = {
  id: 'jobs',
  envVar: 'JOBS_QUEUE_URL',
  consumer: 'worker',
  batchSize: 10,
  maximumConcurrency: 2,
  visibilityTimeoutSeconds: 60,
  maxReceiveCount: 5,
  maxAgeSeconds: 60,
  producers: ['api'],
};

/** Declares the policy table every policy-enforcing function is given (as the authorize pillar does). */
const kernel: PillarManifest = { name: 'kernel', description: 'test', functions: [], tables: [POLICY_TABLE] };

const api = fn('api', { routes: [route({ rateFamily: 'things.read' })], tables: ['things'] });
const worker = fn('worker', { tables: ['things'] });

/** A pillar that passes: an API function with a token route, a queue consumer, a table, an event. */
const things: PillarManifest = {
  name: 'things',
  description: 'test',
  functions: [api, worker],
  tables: [THINGS_TABLE],
  queues: [jobs],
  events: [{ type: 'thing_created', schema: z.object({}) }],
  rateFamilies: { 'things.read': 300 },
};

describe('assertCatalog', () => {
  it('accepts the catalog of PILLARS', () => {
    expect(() => assertCatalog(PILLARS)).not.toThrow();
  });

  it('accepts a valid catalog: default rate family, producers of other pillars, policy-enforcers', () => {
    expect(() => assertCatalog([kernel, things])).not.toThrow();
    const other: PillarManifest = {
      name: 'other',
      description: 'test',
      functions: [fn('other', { routes: [route({ path: '/other', operationId: 'listOther' })] })],
      queues: [{ ...jobs, id: 'other-jobs', consumer: 'other', producers: ['api', 'other'] }],
    };
    expect(() => assertCatalog([kernel, things, other])).not.toThrow();
    const archive: PillarManifest = {
      ...kernel,
      functions: [fn('archiver')],
      queues: [{ ...jobs, id: 'archive', consumer: 'archiver', producers: 'policy-enforcers' }],
    };
    expect(() => assertCatalog([archive, things])).not.toThrow();
  });

  it('refuses a pillar declared twice', () => {
    expect(() => assertCatalog([kernel, things, { ...things, functions: [] }])).toThrow(
      "Pillar 'things' is declared twice in the catalog",
    );
  });

  it('refuses a function declared twice, in one pillar or in two', () => {
    expect(() => assertCatalog([kernel, { ...things, functions: [api, worker, api] }])).toThrow(
      "Function 'api' is declared twice in the catalog",
    );
    const again: PillarManifest = { name: 'again', description: 'test', functions: [fn('worker')] };
    expect(() => assertCatalog([kernel, things, again])).toThrow(
      "Function 'worker' is declared twice in the catalog",
    );
  });

  it('refuses a table, a queue, an event type or a rate family declared twice', () => {
    const twin = (over: Partial<PillarManifest>): PillarManifest => ({
      name: 'twin',
      description: 'test',
      functions: [fn('twin')],
      ...over,
    });
    expect(() => assertCatalog([kernel, things, twin({ tables: [THINGS_TABLE] })])).toThrow(
      "Table 'things' is declared twice in the catalog",
    );
    expect(() =>
      assertCatalog([kernel, things, twin({ queues: [{ ...jobs, consumer: 'twin', producers: [] }] })]),
    ).toThrow("Queue 'jobs' is declared twice in the catalog");
    expect(() =>
      assertCatalog([kernel, things, twin({ events: [{ type: 'thing_created', schema: z.object({}) }] })]),
    ).toThrow("Event type 'thing_created' is declared twice in the catalog");
    expect(() => assertCatalog([kernel, things, twin({ rateFamilies: { 'things.read': 10 } })])).toThrow(
      "Rate family 'things.read' is declared twice in the catalog",
    );
    for (const family of ['default', 'refused']) {
      expect(() => assertCatalog([kernel, twin({ rateFamilies: { [family]: 10 } })])).toThrow(
        `Pillar 'twin' declares rate family '${family}', which is the kernel's own`,
      );
    }
  });

  it('refuses pillar and function names that are not lower-case letters, digits and dashes', () => {
    expect(() => assertCatalog([kernel, { ...things, name: 'Things' }])).toThrow(
      "Pillar name 'Things' must be lower-case letters, digits and dashes",
    );
    expect(() =>
      assertCatalog([
        kernel,
        { ...things, functions: [api, worker, fn('big_worker')], queues: [{ ...jobs, consumer: 'worker' }] },
      ]),
    ).toThrow("Function name 'big_worker' must be lower-case letters, digits and dashes");
  });

  it('refuses a function that names a table no pillar declares', () => {
    expect(() =>
      assertCatalog([kernel, { ...things, functions: [api, fn('worker', { tables: ['nope'] })] }]),
    ).toThrow("Function 'worker' names table 'nope', which no pillar declares");
  });

  it('refuses a function with token routes when no pillar declares the policy table it is given', () => {
    expect(() => assertCatalog([things])).toThrow(
      `Function 'api' names table '${POLICY_TABLE_ID}', which no pillar declares`,
    );
    // Public routes only: no policy table needed.
    const open: PillarManifest = {
      ...things,
      functions: [fn('api', { routes: [route({ auth: 'public' })] }), worker],
    };
    expect(() => assertCatalog([open])).not.toThrow();
  });

  it('refuses a route path that does not start with /', () => {
    const bad = fn('api', { routes: [route({ path: 'things' })], tables: ['things'] });
    expect(() => assertCatalog([kernel, { ...things, functions: [bad, worker] }])).toThrow(
      "Route listThings of 'api': path 'things' must start with '/'",
    );
  });

  it('refuses a route served twice, by functions of one pillar or of two', () => {
    const twice = fn('twice', { routes: [route({ operationId: 'listAgain' })] });
    expect(() => assertCatalog([kernel, { ...things, functions: [api, worker, twice] }])).toThrow(
      "Route 'GET /things' is served by both 'api' and 'twice'",
    );
    const other: PillarManifest = { name: 'other', description: 'test', functions: [twice] };
    expect(() => assertCatalog([kernel, things, other])).toThrow(
      "Route 'GET /things' is served by both 'api' and 'twice'",
    );
    // Same path, another method: a different route.
    const post = fn('post', { routes: [route({ method: 'POST', operationId: 'createThing' })] });
    expect(() => assertCatalog([kernel, things, { ...other, functions: [post] }])).not.toThrow();
  });

  it('refuses personal data declared badly, naming the entity, table and pillar', () => {
    const spec = {
      entity: 'THING',
      subjectFields: ['createdBy', 'history[].by'],
      purpose: 'who made it',
      retention: 'kept',
      onErasure: 'redact',
    } as const;
    const withData = (personalData: TableSpec['personalData']): PillarManifest => ({
      ...things,
      tables: [{ ...THINGS_TABLE, personalData }],
    });
    expect(() => assertCatalog([kernel, withData([spec])])).not.toThrow();
    const where = "Personal data 'THING' of table 'things' (pillar 'things')";
    expect(() => assertCatalog([kernel, withData([spec, spec])])).toThrow(`${where} is declared twice`);
    expect(() => assertCatalog([kernel, withData([{ ...spec, subjectFields: [] }])])).toThrow(
      `${where} names no subject field`,
    );
    expect(() => assertCatalog([kernel, withData([{ ...spec, subjectFields: ['a..b'] }])])).toThrow(
      `${where}: 'a..b' is not an attribute path (a.b, list[].field)`,
    );
    expect(() => assertCatalog([kernel, withData([{ ...spec, retention: ' ' }])])).toThrow(
      `${where} must say its purpose and retention`,
    );
    expect(() => assertCatalog([kernel, withData([{ ...spec, onErasure: 'keep' }])])).toThrow(
      `${where} is kept on erasure without a keepReason`,
    );
    expect(() => assertCatalog([kernel, withData([{ ...spec, notSearched: 'compressed' }])])).toThrow(
      `${where} is not searched, so an erasure can only keep it`,
    );
    expect(() => assertCatalog([kernel, withData([{ ...spec, entity: 'thing' }])])).toThrow(
      "Personal data 'thing' of table 'things' (pillar 'things'): the entity must be upper-case letters, digits and underscores",
    );
  });

  it('every table of the catalog says whether its records name people (the record of processing)', () => {
    const undeclared = PILLARS.flatMap((p) => p.tables ?? []).filter((t) => t.personalData === undefined);
    expect(undeclared.map((t) => t.id)).toEqual([]);
  });

  it('refuses a route whose rate family its pillar does not declare, even when another pillar does', () => {
    const undeclared = fn('api', { routes: [route({ rateFamily: 'things.write' })], tables: ['things'] });
    expect(() => assertCatalog([kernel, { ...things, functions: [undeclared, worker] }])).toThrow(
      "Route listThings of pillar 'things' names rate family 'things.write', which the pillar does not declare",
    );
    const borrower: PillarManifest = {
      name: 'borrower',
      description: 'test',
      functions: [fn('borrower', { routes: [route({ path: '/borrow', rateFamily: 'things.read' })] })],
    };
    expect(() => assertCatalog([kernel, things, borrower])).toThrow(
      "Route listThings of pillar 'borrower' names rate family 'things.read', which the pillar does not declare",
    );
    const unset = fn('borrower', { routes: [route({ path: '/borrow' })] });
    expect(() => assertCatalog([kernel, things, { ...borrower, functions: [unset] }])).not.toThrow();
  });

  it('refuses a queue whose consumer is not one of its pillar’s functions, even one of another pillar', () => {
    expect(() => assertCatalog([kernel, { ...things, queues: [{ ...jobs, consumer: 'nobody' }] }])).toThrow(
      "Queue 'jobs' of pillar 'things' is consumed by 'nobody', which is not one of its functions",
    );
    const elsewhere: PillarManifest = { name: 'elsewhere', description: 'test', functions: [fn('remote')] };
    expect(() =>
      assertCatalog([kernel, elsewhere, { ...things, queues: [{ ...jobs, consumer: 'remote' }] }]),
    ).toThrow("Queue 'jobs' of pillar 'things' is consumed by 'remote', which is not one of its functions");
  });

  it('refuses a queue producer that is not in the catalog', () => {
    expect(() =>
      assertCatalog([kernel, { ...things, queues: [{ ...jobs, producers: ['api', 'ghost'] }] }]),
    ).toThrow("Queue 'jobs' names producer 'ghost', which is not in the catalog");
  });

  it('refuses more than one function serving the $default route', () => {
    const one: PillarManifest = {
      name: 'one',
      description: 'test',
      functions: [fn('one', { servesDefaultRoute: true })],
    };
    expect(() => assertCatalog([kernel, things, one])).not.toThrow();
    const two: PillarManifest = { ...one, name: 'two', functions: [fn('two', { servesDefaultRoute: true })] };
    expect(() => assertCatalog([kernel, things, one, two])).toThrow(
      'Only one function may serve the $default route; 2 do',
    );
  });
});

describe('assertCatalog on workflows', () => {
  const flow: WorkflowSpec = {
    id: 'flow',
    description: 'test',
    envVar: 'FLOW_ARN',
    tasks: { work: 'worker' },
    startedBy: ['api'],
    statusChangesTo: 'worker',
  };
  const withFlow = (spec: Partial<WorkflowSpec>): PillarManifest => ({
    ...things,
    workflows: [{ ...flow, ...spec }],
  });

  it('accepts a workflow whose tasks, starters and status-change function are the pillar’s own', () => {
    expect(() => assertCatalog([kernel, withFlow({})])).not.toThrow();
  });

  it('refuses a workflow naming a function of another pillar, or none, naming the workflow and the role', () => {
    const other: PillarManifest = { name: 'other', description: 'test', functions: [fn('stranger')] };
    expect(() => assertCatalog([kernel, other, withFlow({ tasks: { work: 'stranger' } })])).toThrow(
      "Workflow 'flow' of pillar 'things': task 'work' names 'stranger', which is not one of its pillar's functions",
    );
    expect(() => assertCatalog([kernel, withFlow({ startedBy: ['nobody'] })])).toThrow(
      /startedBy names 'nobody'/,
    );
    expect(() => assertCatalog([kernel, withFlow({ statusChangesTo: 'nobody' })])).toThrow(
      /statusChangesTo names 'nobody'/,
    );
    expect(() => assertCatalog([kernel, withFlow({ tasks: {} })])).toThrow(/has no task function/);
  });

  it('refuses a starter that is also a task (the state machine alone invokes a task), an id or env var out of shape, an id twice', () => {
    expect(() => assertCatalog([kernel, withFlow({ startedBy: ['worker'] })])).toThrow(
      /'worker' is both a task and a starter/,
    );
    expect(() => assertCatalog([kernel, withFlow({ id: 'Flow' })])).toThrow(/lower-case/);
    expect(() => assertCatalog([kernel, withFlow({ envVar: 'flow-arn' })])).toThrow(/envVar 'flow-arn'/);
    expect(() => assertCatalog([kernel, { ...things, workflows: [flow, flow] }])).toThrow(
      "Workflow 'flow' of pillar 'things' is declared twice",
    );
  });

  it('lists workflows with their pillar and keys them <pillar>/<id>', () => {
    expect(workflowsOf([kernel, withFlow({})])).toEqual([{ ...flow, pillar: 'things' }]);
    expect(workflowKeyOf(things, flow)).toBe('things/flow');
  });
});

describe('receivesRunbookAllowLists', () => {
  it('holds for a function that checks runbooks or runs their steps, and for no other', () => {
    // The signing key with routes: the API that publishes (checks steps against the lists); alone
    // (the key age check), no lists.
    expect(receivesRunbookAllowLists(fn('a', { runbookSigningKey: 'verify', routes: [route()] }))).toBe(true);
    expect(receivesRunbookAllowLists(fn('k', { runbookSigningKey: 'verify' }))).toBe(false);
    expect(receivesRunbookAllowLists(fn('b', { runbookStepRole: true }))).toBe(true);
    expect(receivesRunbookAllowLists(fn('c'))).toBe(false);
    expect(
      functionsOf(PILLARS)
        .filter(receivesRunbookAllowLists)
        .map((f) => f.name),
    ).toEqual(['runbooks', 'runbooks-run-steps']);
  });
});

describe('catalog helpers', () => {
  it('lists every function with its pillar, every route, table and queue', () => {
    expect(functionsOf([kernel, things]).map((f) => [f.pillar, f.name])).toEqual([
      ['things', 'api'],
      ['things', 'worker'],
    ]);
    expect(routesOf([kernel, things])).toEqual(api.routes);
    expect(tablesOf([kernel, things])).toEqual([POLICY_TABLE, THINGS_TABLE]);
    expect(queuesOf([kernel, things])).toEqual([jobs]);
  });

  it('enforcesPolicies: a function with any token route', () => {
    expect(enforcesPolicies(api)).toBe(true);
    expect(enforcesPolicies(worker)).toBe(false);
    expect(enforcesPolicies(fn('open', { routes: [route({ auth: 'public' })] }))).toBe(false);
    expect(
      enforcesPolicies(fn('mixed', { routes: [route({ auth: 'public' }), route({ path: '/x' })] })),
    ).toBe(true);
  });

  it('tablesOfFunction adds the policy table to enforcers only, once', () => {
    expect(tablesOfFunction(api)).toEqual(['things', POLICY_TABLE_ID]);
    expect(tablesOfFunction(fn('bare', { routes: [route()] }))).toEqual([POLICY_TABLE_ID]);
    expect(tablesOfFunction(fn('named', { routes: [route()], tables: [POLICY_TABLE_ID] }))).toEqual([
      POLICY_TABLE_ID,
    ]);
    expect(tablesOfFunction(worker)).toEqual(['things']);
    expect(tablesOfFunction(fn('open', { routes: [route({ auth: 'public' })] }))).toEqual([]);
    expect(tablesOfFunction(fn('none'))).toEqual([]);
  });

  it('tablesOfFunction on the catalog: router gets the policy table without naming it, reward and meta do not', () => {
    const byName = Object.fromEntries(functionsOf(PILLARS).map((f) => [f.name, f]));
    expect(byName.router?.tables).toEqual(['router']);
    expect(tablesOfFunction(byName.router as FunctionSpec)).toEqual(['router', POLICY_TABLE_ID]);
    expect(tablesOfFunction(byName.reward as FunctionSpec)).toEqual(['router']);
    expect(tablesOfFunction(byName.meta as FunctionSpec)).toEqual([]);
    expect(tablesOfFunction(byName.authorize as FunctionSpec)).toEqual([POLICY_TABLE_ID]);
    expect(authorizePillar.tables.map((t) => t.id)).toContain(POLICY_TABLE_ID);
  });

  it("policyActionsOf takes the token routes' actions and policyActions, not public routes', once each", () => {
    const pillar: PillarManifest = {
      name: 'things',
      description: 'test',
      functions: [
        fn('api', {
          routes: [
            route(),
            route({ method: 'POST', operationId: 'createThing', action: 'things:create' }),
            route({ path: '/things/health', operationId: 'health', auth: 'public', action: 'things:health' }),
          ],
        }),
        fn('admin', { routes: [route({ path: '/admin', operationId: 'admin', action: 'things:list' })] }),
      ],
      policyActions: ['things:route-to', 'things:create'],
    };
    expect(policyActionsOf(pillar)).toEqual(['things:list', 'things:create', 'things:route-to']);
    expect(policyActionsOf(metaPillar)).toEqual([]);
    expect(policyActionsOf(routerPillar)).toContain('router:route-to');
    expect(policyActionsOf(routerPillar)).toEqual(
      expect.arrayContaining(
        routerPillar.functions.flatMap((f) =>
          ('routes' in f ? f.routes : []).filter((r) => r.auth === 'jwt').map((r) => r.action),
        ),
      ),
    );
  });

  it('rateFamiliesOf merges every pillar’s families with default', () => {
    expect(rateFamiliesOf([kernel, things])).toEqual({ default: 600, refused: 60, 'things.read': 300 });
    expect(rateFamiliesOf([])).toEqual({ default: 600, refused: 60 });
    const families = rateFamiliesOf(PILLARS);
    expect(families.default).toBe(600);
    expect(families).toMatchObject({ ...routerPillar.rateFamilies, ...authorizePillar.rateFamilies });
  });

  it('producesTo: named producers, or every enforcer for policy-enforcers', () => {
    expect(producesTo(jobs, api)).toBe(true);
    expect(producesTo(jobs, worker)).toBe(false);
    const archive: QueueSpec = { ...jobs, producers: 'policy-enforcers' };
    expect(producesTo(archive, api)).toBe(true);
    expect(producesTo(archive, worker)).toBe(false);
  });

  it('tableSpecOf finds a table by id and names the known ones for an unknown id', () => {
    expect(tableSpecOf([kernel, things], 'things')).toEqual(THINGS_TABLE);
    expect(() => tableSpecOf([kernel, things], 'nope')).toThrow(
      "Unknown table 'nope'; known: policy, things",
    );
  });
});
