import { TENANT_ID_PATTERN } from '#shared/ports/identity.js';
import type { WormListing, WormStore } from '#shared/ports/worm.js';
import type { ControlTest, TestOutcome } from './assess.js';
import {
  type ArchiveWindow,
  BATCH_SPAN_MINUTES,
  DECISION_WINDOW_HOURS,
  MAX_ARCHIVE_OBJECTS,
  MAX_NAMED,
  MAX_TENANTS,
  readArchiveWindow,
  Tally,
} from './decision-checks.js';

/**
 * What the tenants did in a window, as the WORM decision archive keeps it (every API request is a
 * policy decision), held against what other pillars keep: `platform.budgets-configured` (control
 * spend-limits), `platform.eval-gates-run` (control change-management) and
 * `platform.grants-reviewed` (control access-review).
 *
 * The archive is read as `decision-checks.ts` reads it (`readArchiveWindow`: DECISION_WINDOW_HOURS
 * ending ARCHIVE_LAG_MINUTES before the run, within its bounds). A decision is taken once, whatever
 * the number of its copies (a cross-tenant decision is archived once per tenant, and the archive is
 * at least once): by its decisionId. The scheduler's budgets and the eval runs are read through
 * narrow ports (`BudgetReader`, `EvalRunReader`), on AWS a manifest-declared Query of one entity of
 * the other pillar's table; no pillar's code is imported.
 *
 * The action names are the routes' (functions/<pillar>/contract.ts, policies/cedar/schema.cedarschema);
 * the unit tests pin them to the contracts and the schema.
 */

/** Submitting a job: POST /scheduler/enqueue. */
export const JOB_SUBMIT_ACTIONS: readonly string[] = ['scheduler:enqueue'];
/** Routing a task: POST /router/route and POST /router/invoke (which routes, then calls). */
export const ROUTE_ACTIONS: readonly string[] = ['router:route', 'router:invoke'];
/** Approving a pending grant: POST /policy/grants/{grantId}/approve, decided in the tenant the grant opens. */
export const GRANT_APPROVE_ACTION = 'policy:grants:approve';
/**
 * The actions of the schema's `cross-tenant-request` group: the cross-tenant calls the policies
 * allow without a grant (asking another tenant for one, withdrawing that request).
 */
export const CROSS_TENANT_REQUEST_ACTIONS: readonly string[] = [
  'policy:grants:request',
  'policy:grants:revoke',
];
/** How recent an evaluation run must be for the tenants that route (the eval runs' 30-day TTL). */
export const EVAL_GATE_DAYS = 30;
/** Tenants asked at once (budgets, eval runs). */
const ASK_CONCURRENCY = 8;

/** Port: the scheduler's budgets (pk `T#<tenant>#BUDGET`, one item per window kind). */
export interface BudgetReader {
  /** Whether the tenant has at least one budget. */
  hasBudget(tenantId: string): Promise<boolean>;
}

/** Port: the eval pillar's runs (pk `T#<tenant>#EVAL_RUN`, kept 30 days). */
export interface EvalRunReader {
  /**
   * Whether the tenant has a completed run (the gate gave its verdict) finished at or after `since`
   * (an ISO instant); undefined when the reader's bound stopped it before it could tell.
   */
  completedRunSince(tenantId: string, since: string): Promise<boolean | undefined>;
}

/** Where the archive is read: the evidence store, and the sample start (as `DecisionWindowSources`). */
export interface ArchiveSources {
  readonly archive: Pick<WormStore, 'get'> & WormListing;
  /** Where a run's sample starts when the window holds more objects than a run reads (0-1; default Math.random). */
  readonly random?: (() => number) | undefined;
}

/** What these checks read of a decision record. */
interface Decision {
  readonly decisionId: string;
  readonly at: string;
  readonly allow: boolean;
  readonly action: string;
  readonly source: unknown;
  readonly principalTenant: string;
  readonly resourceTenant: string;
  /** `input.context.grantedTenants`; undefined when the record has none (no grant on record). */
  readonly grantedTenants: readonly string[] | undefined;
}

type Fields = Readonly<Record<string, unknown>>;
const fieldsOf = (value: unknown): Fields | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : undefined;
const textOf = (value: unknown): string | undefined =>
  typeof value === 'string' && value.length > 0 ? value : undefined;

/** The decisions of the compared part, each once; the records these checks cannot read, counted. */
const decisionsOf = (w: ArchiveWindow) => {
  const decisions = new Map<string, Decision>();
  const incomplete = new Tally();
  let unidentified = 0;
  for (const { key, line, record } of w.lines) {
    const decisionId = textOf(record.decisionId);
    const at = textOf(record.at);
    if (decisionId === undefined || at === undefined || !Number.isFinite(Date.parse(at))) {
      unidentified += 1;
      continue;
    }
    if (!w.inPart(at) || decisions.has(decisionId)) continue;
    const input = fieldsOf(record.input);
    const principalTenant = textOf(fieldsOf(input?.principal)?.tenantId);
    const resourceTenant = textOf(fieldsOf(input?.resource)?.tenantId);
    const action = textOf(input?.action);
    const granted = fieldsOf(input?.context)?.grantedTenants;
    if (
      typeof record.allow !== 'boolean' ||
      action === undefined ||
      principalTenant === undefined ||
      resourceTenant === undefined
    ) {
      incomplete.add({ decisionId, key, line, problem: 'no allow, action, principal or resource tenant' });
      continue;
    }
    decisions.set(decisionId, {
      decisionId,
      at,
      allow: record.allow,
      action,
      source: record.source,
      principalTenant,
      resourceTenant,
      grantedTenants: Array.isArray(granted)
        ? granted.filter((tenant): tenant is string => typeof tenant === 'string')
        : undefined,
    });
  }
  return { decisions: [...decisions.values()], incomplete, unidentified };
};

type Read = ReturnType<typeof decisionsOf>;

/** What every result says was looked at, and what the bounds left out. */
const coverageOf = (w: ArchiveWindow, read: Read) => ({
  window: { from: w.from, to: w.to },
  compared: { from: w.checkedFrom, until: w.checkedUntil },
  archiveObjectsRead: w.objectsRead,
  decisionsRead: read.decisions.length,
  notChecked: {
    windowParts: [
      ...(w.checkedFrom > w.from ? [{ from: w.from, to: w.checkedFrom }] : []),
      ...(w.checkedUntil < w.to ? [{ from: w.checkedUntil, to: w.to }] : []),
    ],
    // Records without what these checks read: platform.decisions-logged and
    // platform.decision-archive name them.
    incompleteRecords: { count: read.incomplete.count, named: read.incomplete.named },
    unreadableLines: w.unreadable.count + read.unidentified,
  },
});

/** `; not checked: ...` for a summary, or nothing when the whole window was read. */
const boundsNote = (w: ArchiveWindow, read: Read, more: readonly string[] = []): string => {
  const parts = [
    ...(w.checkedFrom > w.from || w.checkedUntil < w.to
      ? [`the rest of ${w.from} to ${w.to} (the run's bounds)`]
      : []),
    ...(read.incomplete.count > 0
      ? [`${read.incomplete.count} archived records without allow, action or tenants`]
      : []),
    ...more,
  ];
  return parts.length === 0 ? '' : `; not checked: ${parts.join('; ')}`;
};

/** The result of a run whose bounds left nothing to compare: the control is not tested, an error. */
const overBoundsOutcome = (id: string, w: ArchiveWindow, read: Read): TestOutcome => ({
  status: 'error',
  summary: `${id}: more archive objects than a run reads (${MAX_ARCHIVE_OBJECTS}) within ${BATCH_SPAN_MINUTES} min: no part of ${w.from} to ${w.to} could be read`,
  observations: coverageOf(w, read),
});

const listOf = (names: readonly string[]): string =>
  `${names.slice(0, MAX_NAMED).join(', ')}${names.length > MAX_NAMED ? ', ...' : ''}`;

/**
 * The tenants that, in the compared part, were allowed one of `actions` at an endpoint (`source:
 * route`; answers given to other services through POST /policy/authorize are questions, not
 * activity), in the resource's tenant (the one the request acted in), sorted.
 */
const activeTenantsOf = (decisions: readonly Decision[], actions: readonly string[]): string[] =>
  [
    ...new Set(
      decisions
        .filter(
          (d) =>
            d.allow &&
            d.source === 'route' &&
            actions.includes(d.action) &&
            TENANT_ID_PATTERN.test(d.resourceTenant),
        )
        .map((d) => d.resourceTenant),
    ),
  ].sort();

/** The answer for each tenant, MAX_TENANTS at most, ASK_CONCURRENCY at once. */
const askTenants = async (
  tenants: readonly string[],
  ask: (tenantId: string) => Promise<boolean | undefined>,
) => {
  const asked = tenants.slice(0, MAX_TENANTS);
  const yes: string[] = [];
  const no: string[] = [];
  const unknown: string[] = [];
  for (let start = 0; start < asked.length; start += ASK_CONCURRENCY) {
    const batch = asked.slice(start, start + ASK_CONCURRENCY);
    const answers = await Promise.all(batch.map(ask));
    batch.forEach((tenantId, index) => {
      const answer = answers[index];
      (answer === true ? yes : answer === false ? no : unknown).push(tenantId);
    });
  }
  return { yes, no, unknown, notAsked: tenants.slice(MAX_TENANTS) };
};

/**
 * A test of the tenants active in the window: each must have what `ask` looks for. Fails naming the
 * tenants that do not; no active tenant is a pass that says so; an error when the bounds left
 * nothing to check (no part of the window read, or no active tenant answered).
 */
const tenantCheck = (
  sources: ArchiveSources,
  spec: {
    readonly id: string;
    readonly actions: readonly string[];
    /** What the tenants did, for a summary: `submitted jobs`. */
    readonly did: string;
    /** What they must have, for a summary: `a budget`. */
    readonly must: string;
    readonly note: string;
    readonly ask: (tenantId: string, now: Date) => Promise<boolean | undefined>;
  },
): ControlTest => ({
  id: spec.id,
  run: async ({ now }): Promise<TestOutcome> => {
    const w = await readArchiveWindow(sources.archive, sources.random ?? Math.random, now);
    const read = decisionsOf(w);
    if (w.overBounds) return overBoundsOutcome(spec.id, w, read);
    const active = activeTenantsOf(read.decisions, spec.actions);
    const answers = await askTenants(active, (tenantId) => spec.ask(tenantId, now));
    const observations = {
      ...coverageOf(w, read),
      note: spec.note,
      actions: spec.actions,
      activeTenants: active.length,
      requirement: spec.must,
      tenantsWith: answers.yes,
      tenantsWithout: answers.no,
      undetermined: answers.unknown,
      tenantsNotAsked: answers.notAsked,
    };
    const span = `${w.checkedFrom} to ${w.checkedUntil}`;
    const more = [
      ...(answers.unknown.length > 0
        ? [
            `${answers.unknown.length} tenants the reader's bound left undetermined (${listOf(answers.unknown)})`,
          ]
        : []),
      ...(answers.notAsked.length > 0
        ? [`${answers.notAsked.length} more tenants (${MAX_TENANTS} a run)`]
        : []),
    ];
    const note = `${boundsNote(w, read, more)} (${spec.note})`;
    if (answers.no.length > 0) {
      return {
        status: 'fail',
        summary: `${spec.id}, ${span}: ${answers.no.length} of ${active.length} tenants that ${spec.did} have no ${spec.must.replace(/^an? /, '')} (${listOf(answers.no)})${note}`,
        observations,
      };
    }
    if (active.length === 0) {
      return {
        status: 'pass',
        summary: `${spec.id}: no tenant ${spec.did} ${span} (${w.objectsRead} archive objects, ${read.decisions.length} decisions)${note}`,
        observations,
      };
    }
    if (answers.yes.length === 0) {
      return {
        status: 'error',
        summary: `${spec.id}, ${span}: ${active.length} tenants ${spec.did}, none could be checked${note}`,
        observations,
      };
    }
    return {
      status: 'pass',
      summary: `${spec.id}, ${span}: all ${answers.yes.length} tenants checked that ${spec.did} have ${spec.must}${note}`,
      observations,
    };
  },
});

/**
 * `platform.budgets-configured`: every tenant that submitted a job (an allowed `scheduler:enqueue`
 * at its endpoint, in the decision archive) has a budget in the scheduler's table. Fails naming the
 * tenants without one.
 *
 * The control says 30 days; a run reads DECISION_WINDOW_HOURS (24 h) of the archive, the day the
 * other archive checks read. The control runs daily, so a tenant active on any day is checked on the
 * run that reads that day: over 30 daily runs, every tenant active in the 30 days is.
 */
export const budgetsConfigured = (
  sources: ArchiveSources & { readonly budgets: BudgetReader },
): ControlTest =>
  tenantCheck(sources, {
    id: 'platform.budgets-configured',
    actions: JOB_SUBMIT_ACTIONS,
    did: 'submitted jobs',
    must: 'a budget',
    note: `tenants active in ${DECISION_WINDOW_HOURS} h of the archive, not the control's 30 days: the control runs daily, so a tenant active on any day is checked that day`,
    ask: (tenantId) => sources.budgets.hasBudget(tenantId),
  });

/**
 * `platform.eval-gates-run`: every tenant that routed (an allowed `router:route` or `router:invoke`
 * at its endpoint, in the decision archive's window) has an evaluation run that completed (its gate
 * gave a verdict, pass or regression) in the last EVAL_GATE_DAYS days. Fails naming the tenants
 * routing without one. Runs are per tenant, not yet per expert: a tenant with a gate run on some of
 * its experts passes.
 */
export const evalGatesRun = (sources: ArchiveSources & { readonly runs: EvalRunReader }): ControlTest =>
  tenantCheck(sources, {
    id: 'platform.eval-gates-run',
    actions: ROUTE_ACTIONS,
    did: 'routed',
    must: 'a completed eval run',
    note: `tenants routing in ${DECISION_WINDOW_HOURS} h of the archive, each with an evaluation run completed in the last ${EVAL_GATE_DAYS} days`,
    ask: (tenantId, now) =>
      sources.runs.completedRunSince(
        tenantId,
        new Date(now.getTime() - EVAL_GATE_DAYS * 86_400_000).toISOString(),
      ),
  });

const describeDecision = (d: Decision): string =>
  `${d.decisionId} (${d.action}, ${d.principalTenant} in ${d.resourceTenant})`;

/**
 * `platform.grants-reviewed`: over the archive's window, every cross-tenant access was under a grant
 * the other tenant approved, and every approval came from that tenant.
 * - An allowed decision whose principal's tenant is not the resource's must have the resource's
 *   tenant in `input.context.grantedTenants`: the enforcer puts it there only when the kernel's
 *   grant lookup found a live grant (approved, unexpired, of this subject) of that tenant. The
 *   `cross-tenant-request` actions (asking for a grant, withdrawing the request) need none.
 * - An allowed `policy:grants:approve` must be by a principal of the resource's tenant: the route
 *   decides in the tenant the request acts in, whose partition holds the grant (so the grant's
 *   target). The policies forbid it to anyone else (`grant-approved-by-its-tenant`), and the grants
 *   service refuses it as well (`approver_not_of_tenant`): an allowed one means a policy changed.
 * Fails naming the decisions. No cross-tenant decision in the window is a pass that says so.
 *
 * That grants expire is not seen in the archive (a grant lasts up to a day, the window is a day):
 * the grant lookup refuses an expired one at each decision, which the first rule relies on.
 */
export const grantsReviewed = (sources: ArchiveSources): ControlTest => ({
  id: 'platform.grants-reviewed',
  run: async ({ now }): Promise<TestOutcome> => {
    const id = 'platform.grants-reviewed';
    const w = await readArchiveWindow(sources.archive, sources.random ?? Math.random, now);
    const read = decisionsOf(w);
    if (w.overBounds) return overBoundsOutcome(id, w, read);
    const crossTenant = read.decisions.filter((d) => d.principalTenant !== d.resourceTenant);
    const allowed = crossTenant.filter((d) => d.allow);
    const requests = allowed.filter((d) => CROSS_TENANT_REQUEST_ACTIONS.includes(d.action));
    const underGrant = allowed.filter(
      (d) => !CROSS_TENANT_REQUEST_ACTIONS.includes(d.action) && d.grantedTenants?.includes(d.resourceTenant),
    );
    const ungranted = allowed.filter(
      (d) =>
        !CROSS_TENANT_REQUEST_ACTIONS.includes(d.action) && !d.grantedTenants?.includes(d.resourceTenant),
    );
    const approvals = read.decisions.filter((d) => d.allow && d.action === GRANT_APPROVE_ACTION);
    const foreignApprovals = approvals.filter((d) => d.principalTenant !== d.resourceTenant);
    const named = (list: readonly Decision[]) => ({
      count: list.length,
      named: list.slice(0, MAX_NAMED).map((d) => ({
        decisionId: d.decisionId,
        at: d.at,
        action: d.action,
        principalTenant: d.principalTenant,
        resourceTenant: d.resourceTenant,
      })),
    });
    const observations = {
      ...coverageOf(w, read),
      crossTenant: { allowed: allowed.length, denied: crossTenant.length - allowed.length },
      underGrant: underGrant.length,
      grantRequests: requests.length,
      approvals: approvals.length,
      withoutGrant: named(ungranted),
      approvedByAnotherTenant: named(foreignApprovals),
    };
    const span = `${w.checkedFrom} to ${w.checkedUntil}`;
    const failures = [
      ...(ungranted.length > 0
        ? [
            `${ungranted.length} cross-tenant decisions allowed without a live grant of the tenant on record (${listOf(ungranted.map(describeDecision))})`,
          ]
        : []),
      ...(foreignApprovals.length > 0
        ? [
            `${foreignApprovals.length} grant approvals allowed to a principal of another tenant (${listOf(foreignApprovals.map(describeDecision))})`,
          ]
        : []),
    ];
    if (failures.length > 0)
      return {
        status: 'fail',
        summary: `${id}, ${span}: ${failures.join('; ')}${boundsNote(w, read)}`,
        observations,
      };
    return {
      status: 'pass',
      summary:
        crossTenant.length === 0 && approvals.length === 0
          ? `${id}: no cross-tenant decision nor grant approval in the archive ${span} (${w.objectsRead} objects, ${read.decisions.length} decisions)${boundsNote(w, read)}`
          : `${id}, ${span}: all ${underGrant.length} cross-tenant accesses allowed under a live grant of the tenant (${requests.length} grant requests or withdrawals, which need none; ${crossTenant.length - allowed.length} denied); all ${approvals.length} approvals by the grant's own tenant${boundsNote(w, read)}`,
      observations,
    };
  },
});
