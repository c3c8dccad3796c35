import { TENANT_ID_PATTERN } from '#shared/ports/identity.js';
import type { DecisionRecord } from '#shared/ports/policy.js';
import type { WormListing, WormStore } from '#shared/ports/worm.js';
import type { ControlTest, TestOutcome } from './assess.js';

/**
 * The policy decisions of a window, as the two places that keep them hold them, compared:
 * `platform.decision-archive` (control log-retention) and `platform.decisions-logged` (control
 * api-authorization).
 *
 * What is relied on, as the kernel and the authorize pillar document it (functions/authorize/README.md),
 * without importing that pillar:
 * - the enforcer commits each decision's record (`DecisionRecord`, #shared/ports/policy.js) to the
 *   hot log (the policy table, 30-day TTL; read here through `LoggedDecisions`) and to the archive
 *   queue; a cross-tenant decision is two records with one decisionId, one per tenant;
 * - the archiver writes each queue batch as one object of the evidence store,
 *   `decisions/<yyyy>/<mm>/<dd>/<yyyymmddThhmmssmmmZ>-<hash>.jsonl`, dated (UTC) by the batch's
 *   earliest record `at`, so no record of an object is older than its key; JSON Lines, one record
 *   per line, as the enforcer logged it; at least once (a decision may be in two objects).
 * A decision is identified by its tenant and decisionId.
 */

/** Port: a tenant's hot decision log (the kernel's policy table), read by time. */
export interface LoggedDecisions {
  /**
   * The records of the tenant's log with `at` in [from, to) (ISO instants), about oldest first.
   * The reader may stop early (the iterator's `return`): nothing more is read.
   */
  inWindow(tenantId: string, from: string, to: string): AsyncIterable<DecisionRecord>;
}

export interface DecisionWindowSources {
  /** The evidence store, where the archiver writes `decisions/`. */
  readonly archive: Pick<WormStore, 'get'> & WormListing;
  readonly log: LoggedDecisions;
  /** Where a run's sample starts when the window holds more objects than a run reads (0-1; default Math.random). */
  readonly random?: (() => number) | undefined;
  /**
   * Tenants whose log is read even when none of their decisions is in the window's archive: the
   * tenants to compare are found in the archive, so an archive that lost every decision of a tenant
   * is seen only for the tenants named here.
   */
  readonly tenants?: readonly string[] | undefined;
}

/** Hours of decisions a run compares (the controls are collected daily). */
export const DECISION_WINDOW_HOURS = 24;
/**
 * How long a decision may take to reach the archive: the archive queue gathers a batch for 5 s, a
 * failed batch comes back after its 60 s visibility timeout, 5 deliveries before the DLQ, and the
 * queue's age alarm fires at 15 min (functions/authorize/pillar.ts). The window ends this long
 * before the run, so decisions still on their way are not counted missing.
 */
export const ARCHIVE_LAG_MINUTES = 20;
/**
 * How much younger than its earliest record (the object's date) a record of a batch may be: retried
 * messages (5 deliveries, 60 s apart) join fresh ones. Objects dated up to this long before the
 * compared window are read too. A DLQ redrive batched with fresh decisions dates them earlier still:
 * those would be reported missing, and named, so the redrive can be checked.
 */
export const BATCH_SPAN_MINUTES = 6;
/** Archive keys listed per run at most (50 ListObjectsV2 pages; ~9 h of objects at 150 decisions/s). */
export const MAX_LISTED_KEYS = 50_000;
/** Archive objects read per run at most: past it, a run compares a contiguous part of the window. */
export const MAX_ARCHIVE_OBJECTS = 1000;
/** Archive records read per run at most (the window is cut at the first object not read past it). */
export const MAX_ARCHIVED_DECISIONS = 50_000;
/** Log records read per run at most, over all tenants (above the archive's bound: a healthy window fits). */
export const MAX_LOGGED_DECISIONS = 60_000;
/** Tenants whose log is read per run at most. */
export const MAX_TENANTS = 200;
/** Decisions, objects or lines named in a result at most; the counts are always whole. */
export const MAX_NAMED = 20;
/** Archive objects read at once. */
const READ_CONCURRENCY = 8;

const MINUTE_MS = 60_000;
const ARCHIVE_PREFIX = 'decisions/';
const ARCHIVE_KEY = /^decisions\/\d{4}\/\d{2}\/\d{2}\/(\d{8}T\d{9}Z)-[0-9a-f]+\.jsonl$/;

/** An instant in the form of an archive key's date (`20260301T235959999Z`): sorts as it orders. */
const compactOf = (ms: number): string => new Date(ms).toISOString().replaceAll(/[-:.]/g, '');
const isoOfCompact = (c: string): string =>
  `${c.slice(0, 4)}-${c.slice(4, 6)}-${c.slice(6, 8)}T${c.slice(9, 11)}:${c.slice(11, 13)}:${c.slice(13, 15)}.${c.slice(15, 18)}Z`;
const dayPrefixOf = (ms: number): string =>
  `${ARCHIVE_PREFIX}${new Date(ms).toISOString().slice(0, 10).replaceAll('-', '/')}/`;

type Fields = Readonly<Record<string, unknown>>;
const fieldsOf = (value: unknown): Fields | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : undefined;
const isText = (value: unknown): boolean => typeof value === 'string' && value.length > 0;

/**
 * What an audit needs of a decision, and of a DecisionRecord is always there: which decision, in
 * which tenant's log, when, in which request (traceId), who asked (principal subject and tenant),
 * to do what (action) to what (resource tenant and kind), the answer (allow), why (reasons) and
 * by which policies (engine, policyVersion), and where it was enforced (source).
 */
const AUDIT_FIELDS: readonly [string, (record: Fields) => boolean][] = [
  ['decisionId', (r) => isText(r.decisionId)],
  ['tenantId', (r) => typeof r.tenantId === 'string' && TENANT_ID_PATTERN.test(r.tenantId)],
  ['at', (r) => typeof r.at === 'string' && Number.isFinite(Date.parse(r.at))],
  ['traceId', (r) => isText(r.traceId)],
  ['engine', (r) => isText(r.engine)],
  ['policyVersion', (r) => isText(r.policyVersion)],
  ['input.principal.subject', (r) => isText(fieldsOf(fieldsOf(r.input)?.principal)?.subject)],
  ['input.principal.tenantId', (r) => isText(fieldsOf(fieldsOf(r.input)?.principal)?.tenantId)],
  ['input.action', (r) => isText(fieldsOf(r.input)?.action)],
  ['input.resource.tenantId', (r) => isText(fieldsOf(fieldsOf(r.input)?.resource)?.tenantId)],
  ['input.resource.kind', (r) => isText(fieldsOf(fieldsOf(r.input)?.resource)?.kind)],
  ['allow', (r) => typeof r.allow === 'boolean'],
  ['reasons', (r) => Array.isArray(r.reasons)],
  ['source', (r) => r.source === 'route' || r.source === 'api'],
];

/** The audit fields a record lacks (or holds in a form no audit can use). */
export const auditGapsOf = (record: Fields): string[] =>
  AUDIT_FIELDS.filter(([, present]) => !present(record)).map(([name]) => name);

interface Seen {
  /** Where: the archive object's key, or `log`. */
  readonly where: string;
  readonly at: string;
  readonly gaps: readonly string[];
}

/** A named item of a result: a decision, or an unreadable line of the archive. */
interface Named {
  readonly tenantId?: string;
  readonly decisionId?: string;
  readonly at?: string;
  readonly key?: string;
  readonly line?: number;
  readonly problem: string;
}

/** Counts every item, keeps the first MAX_NAMED. */
export class Tally {
  count = 0;
  readonly named: Named[] = [];
  add(item: Named): void {
    this.count += 1;
    if (this.named.length < MAX_NAMED) this.named.push(item);
  }
}

/** Both sides of a window, read within the bounds: the archive's counts, and the decisions of each side. */
interface DecisionWindow extends Omit<ArchiveWindow, 'lines' | 'inPart'> {
  /** By tenant, then decisionId. */
  readonly archived: ReadonlyMap<string, ReadonlyMap<string, Seen>>;
  readonly logged: ReadonlyMap<string, ReadonlyMap<string, Seen>>;
  /** Tenants whose log was read to the end of the window. */
  readonly tenantsRead: readonly string[];
  /** Tenants whose log reading the run's bound stopped: only the records read are compared. */
  readonly tenantsCut: readonly string[];
  /** Tenants whose log was not read at all (past MAX_TENANTS, or the bound already spent). */
  readonly tenantsNotRead: readonly string[];
}

/** The archive objects dated in [lo, to) (at most MAX_LISTED_KEYS), in date order, and where listing stopped. */
const archiveKeysOf = async (
  archive: WormListing,
  loMs: number,
  toMs: number,
  foreignKeys: Tally,
): Promise<{ keys: { key: string; ms: number }[]; listedUntilMs: number }> => {
  const lo = compactOf(loMs);
  const to = compactOf(toMs);
  const keys: { key: string; ms: number }[] = [];
  for (let dayMs = Date.parse(new Date(loMs).toISOString().slice(0, 10)); dayMs < toMs; dayMs += 86_400_000) {
    const prefix = dayPrefixOf(dayMs);
    let startAfter: string | undefined = `${prefix}${lo}`;
    do {
      const page = await archive.list(prefix, { startAfter });
      for (const key of page.keys) {
        const time = ARCHIVE_KEY.exec(key)?.[1];
        if (time === undefined) {
          foreignKeys.add({ key, problem: 'not an archive object name' });
          continue;
        }
        if (time < lo) continue;
        if (time >= to) return { keys, listedUntilMs: toMs };
        const ms = Date.parse(isoOfCompact(time));
        if (keys.length === MAX_LISTED_KEYS) return { keys, listedUntilMs: ms };
        keys.push({ key, ms });
      }
      startAfter = page.next;
    } while (startAfter !== undefined);
  }
  return { keys, listedUntilMs: toMs };
};

/**
 * The objects a run reads and the part of the window they cover: all of them when they fit
 * MAX_ARCHIVE_OBJECTS; else a contiguous run of that many, starting where `random` says (so daily
 * runs sample different hours), whose covered part starts BATCH_SPAN_MINUTES after its first object
 * (records of the part earlier could be in an object before it). Every record is dated at or after
 * its object: the part ends at the first object not read.
 */
const sampleOf = (
  listed: { keys: { key: string; ms: number }[]; listedUntilMs: number },
  fromMs: number,
  random: () => number,
) => {
  const spare = listed.keys.length - MAX_ARCHIVE_OBJECTS;
  const first = spare <= 0 ? 0 : Math.min(spare, Math.floor(Math.max(0, random()) * (spare + 1)));
  const read = listed.keys.slice(first, first + MAX_ARCHIVE_OBJECTS);
  const next = listed.keys[first + MAX_ARCHIVE_OBJECTS];
  const startMs =
    first === 0 ? fromMs : Math.max(fromMs, (read[0]?.ms ?? fromMs) + BATCH_SPAN_MINUTES * MINUTE_MS + 1);
  const untilMs = Math.min(listed.listedUntilMs, next?.ms ?? Number.POSITIVE_INFINITY);
  return { read, startMs, untilMs };
};

/** One line of an archive object, parsed (not yet checked to be a decision record). */
export interface ArchiveLine {
  readonly key: string;
  readonly line: number;
  readonly record: Fields;
}

/**
 * The lines of the objects, READ_CONCURRENCY objects at a time; unreadable lines go to `unreadable`.
 * Stops before the next objects once MAX_ARCHIVED_DECISIONS lines are read: `stoppedAtMs` is the
 * date of the first object not read.
 */
const readArchiveObjects = async (
  archive: Pick<WormStore, 'get'>,
  objects: readonly { key: string; ms: number }[],
  unreadable: Tally,
): Promise<{ lines: ArchiveLine[]; objectsRead: number; stoppedAtMs?: number }> => {
  const lines: ArchiveLine[] = [];
  for (let start = 0; start < objects.length; start += READ_CONCURRENCY) {
    const batch = objects.slice(start, start + READ_CONCURRENCY);
    if (lines.length >= MAX_ARCHIVED_DECISIONS)
      return { lines, objectsRead: start, stoppedAtMs: batch[0]?.ms };
    const texts = await Promise.all(batch.map(({ key }) => archive.get(key)));
    batch.forEach(({ key }, index) => {
      (texts[index] ?? '').split('\n').forEach((text, at) => {
        if (text.trim() === '') return;
        let record: Fields | undefined;
        try {
          record = fieldsOf(JSON.parse(text));
        } catch {
          record = undefined;
        }
        if (record === undefined) unreadable.add({ key, line: at + 1, problem: 'not a JSON object' });
        else lines.push({ key, line: at + 1, record });
      });
    });
  }
  return { lines, objectsRead: objects.length };
};

const IDENTITY = ['decisionId', 'tenantId', 'at'];

/** The archived decisions of the compared part, by tenant and decisionId (the first copy of each). */
const archivedOf = (lines: readonly ArchiveLine[], inPart: (at: unknown) => boolean, unreadable: Tally) => {
  const archived = new Map<string, Map<string, Seen>>();
  for (const { key, line, record } of lines) {
    const gaps = auditGapsOf(record);
    const unidentified = gaps.filter((gap) => IDENTITY.includes(gap));
    if (unidentified.length > 0) {
      unreadable.add({ key, line, problem: `no usable ${unidentified.join(', ')}` });
      continue;
    }
    if (!inPart(record.at)) continue;
    const tenantId = String(record.tenantId);
    const ofTenant = archived.get(tenantId) ?? new Map<string, Seen>();
    archived.set(tenantId, ofTenant);
    if (!ofTenant.has(String(record.decisionId)))
      ofTenant.set(String(record.decisionId), { where: key, at: String(record.at), gaps });
  }
  return archived;
};

/** The tenants' logged decisions of the compared part, within MAX_TENANTS and MAX_LOGGED_DECISIONS. */
const loggedOf = async (
  log: LoggedDecisions,
  tenants: readonly string[],
  part: { from: string; until: string },
  inPart: (at: unknown) => boolean,
) => {
  const logged = new Map<string, Map<string, Seen>>();
  const tenantsRead: string[] = [];
  const tenantsCut: string[] = [];
  const tenantsNotRead: string[] = tenants.slice(MAX_TENANTS);
  let budget = MAX_LOGGED_DECISIONS;
  for (const tenantId of tenants.slice(0, MAX_TENANTS)) {
    if (budget === 0) {
      tenantsNotRead.push(tenantId);
      continue;
    }
    const ofTenant = new Map<string, Seen>();
    logged.set(tenantId, ofTenant);
    let cut = false;
    for await (const record of log.inWindow(tenantId, part.from, part.until)) {
      if (budget === 0) {
        cut = true;
        break;
      }
      budget -= 1;
      const fields = record as unknown as Fields;
      if (!inPart(fields.at) || typeof fields.decisionId !== 'string') continue;
      ofTenant.set(fields.decisionId, { where: 'log', at: String(fields.at), gaps: auditGapsOf(fields) });
    }
    (cut ? tenantsCut : tenantsRead).push(tenantId);
  }
  return { logged, tenantsRead, tenantsCut, tenantsNotRead };
};

/** The archive side of a window, read within the bounds: what `readArchiveWindow` returns. */
export interface ArchiveWindow {
  /** The window holds archive objects, but too many for the run's bounds to compare any part. */
  readonly overBounds: boolean;
  readonly from: string;
  readonly to: string;
  /** The part of the window compared: all of it, or the part the run's bounds left (`sampleOf`). */
  readonly checkedFrom: string;
  readonly checkedUntil: string;
  readonly objectsRead: number;
  /** Keys under `decisions/` that are not archive objects (not read). */
  readonly foreignKeys: Tally;
  /** Lines that are not JSON objects. */
  readonly unreadable: Tally;
  /** Every JSON line of the objects read, those outside the compared part too (`inPart` tells). */
  readonly lines: readonly ArchiveLine[];
  /** Whether an `at` is in the compared part. */
  readonly inPart: (at: unknown) => boolean;
}

/**
 * The archive side of the window ending ARCHIVE_LAG_MINUTES before `now`: the archive objects that
 * may hold its decisions (`sampleOf` when there are too many), read within the bounds.
 */
export const readArchiveWindow = async (
  archive: Pick<WormStore, 'get'> & WormListing,
  random: () => number,
  now: Date,
): Promise<ArchiveWindow> => {
  const toMs = now.getTime() - ARCHIVE_LAG_MINUTES * MINUTE_MS;
  const fromMs = toMs - DECISION_WINDOW_HOURS * 60 * MINUTE_MS;
  const foreignKeys = new Tally();
  const unreadable = new Tally();
  const lookbackMs = fromMs - BATCH_SPAN_MINUTES * MINUTE_MS;
  const listed = await archiveKeysOf(archive, lookbackMs, toMs, foreignKeys);
  const sample = sampleOf(listed, fromMs, random);
  const read = await readArchiveObjects(archive, sample.read, unreadable);
  const startMs = sample.startMs;
  const untilMs = Math.min(toMs, sample.untilMs, read.stoppedAtMs ?? Number.POSITIVE_INFINITY);
  const inPart = (at: unknown): boolean => {
    const ms = typeof at === 'string' ? Date.parse(at) : Number.NaN;
    return ms >= startMs && ms < untilMs;
  };
  return {
    // The bounds left nothing to compare (more objects in BATCH_SPAN_MINUTES than a run reads).
    overBounds: untilMs <= startMs && listed.keys.length > 0,
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    checkedFrom: new Date(startMs).toISOString(),
    checkedUntil: new Date(Math.max(untilMs, startMs)).toISOString(),
    objectsRead: read.objectsRead,
    foreignKeys,
    unreadable,
    lines: read.lines,
    inPart,
  };
};

/**
 * Both sides of the window ending ARCHIVE_LAG_MINUTES before `now`: the archive objects that may
 * hold its decisions (`readArchiveWindow`), then the logs of the tenants found in them (and of
 * `sources.tenants`) over the same part of the window.
 */
const readDecisionWindow = async (sources: DecisionWindowSources, now: Date): Promise<DecisionWindow> => {
  const { lines, inPart, ...archive } = await readArchiveWindow(
    sources.archive,
    sources.random ?? Math.random,
    now,
  );
  const archived = archivedOf(lines, inPart, archive.unreadable);
  const extra = (sources.tenants ?? []).filter((tenant) => TENANT_ID_PATTERN.test(tenant));
  const tenants = [...new Set([...archived.keys(), ...extra])].sort();
  const logs = await loggedOf(
    sources.log,
    tenants,
    { from: archive.checkedFrom, until: archive.checkedUntil },
    inPart,
  );
  return { ...archive, archived, ...logs };
};

const countOf = (byTenant: ReadonlyMap<string, ReadonlyMap<string, Seen>>): number =>
  [...byTenant.values()].reduce((sum, ofTenant) => sum + ofTenant.size, 0);

/** The window as compared, and what the bounds left out: the part of every result that says what was looked at. */
const coverageOf = (w: DecisionWindow) => ({
  window: { from: w.from, to: w.to },
  compared: { from: w.checkedFrom, until: w.checkedUntil },
  archiveObjectsRead: w.objectsRead,
  archivedDecisions: countOf(w.archived),
  loggedDecisions: countOf(w.logged),
  tenantsRead: w.tenantsRead,
  notChecked: {
    windowParts: [
      ...(w.checkedFrom > w.from ? [{ from: w.from, to: w.checkedFrom }] : []),
      ...(w.checkedUntil < w.to ? [{ from: w.checkedUntil, to: w.to }] : []),
    ],
    tenantsCut: w.tenantsCut,
    tenantsNotRead: w.tenantsNotRead,
  },
  foreignKeys: { count: w.foreignKeys.count, named: w.foreignKeys.named },
});

/** `; not checked: ...` for a summary, or nothing when the whole window was compared. */
const boundsNote = (w: DecisionWindow): string => {
  const parts = [
    ...(w.checkedFrom > w.from || w.checkedUntil < w.to
      ? [`the rest of ${w.from} to ${w.to} (the run's bounds)`]
      : []),
    ...(w.tenantsCut.length > 0 ? [`the rest of the log of ${w.tenantsCut.join(', ')}`] : []),
    ...(w.tenantsNotRead.length > 0 ? [`the log of ${w.tenantsNotRead.length} more tenants`] : []),
  ];
  return parts.length === 0 ? '' : `; not checked: ${parts.join('; ')}`;
};

/** The result of a run whose bounds left nothing to compare: the control is not tested, an error. */
const overBoundsOutcome = (id: string, w: DecisionWindow): TestOutcome => ({
  status: 'error',
  summary: `${id}: more archive objects than a run reads (${MAX_ARCHIVE_OBJECTS}) within ${BATCH_SPAN_MINUTES} min: no part of ${w.from} to ${w.to} could be compared`,
  observations: coverageOf(w),
});

const namedList = (tally: Tally): string =>
  `${tally.named
    .map((item) => (item.decisionId ? `${item.tenantId}/${item.decisionId}` : `${item.key}:${item.line}`))
    .join(', ')}${tally.count > tally.named.length ? ', ...' : ''}`;

/**
 * `platform.decision-archive`: the WORM archive keeps every decision the hot log holds, readable,
 * so it outlives the log's 30-day TTL. Over the window (DECISION_WINDOW_HOURS ending
 * ARCHIVE_LAG_MINUTES before the run), every decision in the log of each tenant found in the
 * window's archive (and of `tenants`) must be in an archive object, and every line of those objects
 * must be a decision record (JSON, with decisionId, tenantId and at). Fails naming the decisions not
 * archived and the unreadable lines. A decision whose commit failed half-way (the enforcer answered
 * 503 and logged `policy decision not recorded` with its id) is in the log only, and fails this too:
 * look its id up there. Nothing logged nor archived in the window is a pass that says so.
 */
export const decisionArchive = (sources: DecisionWindowSources): ControlTest => ({
  id: 'platform.decision-archive',
  run: async ({ now }): Promise<TestOutcome> => {
    const w = await readDecisionWindow(sources, now);
    if (w.overBounds) return overBoundsOutcome('platform.decision-archive', w);
    const notArchived = new Tally();
    for (const [tenantId, ofTenant] of w.logged) {
      const archived = w.archived.get(tenantId);
      for (const [decisionId, seen] of ofTenant)
        if (!archived?.has(decisionId))
          notArchived.add({ tenantId, decisionId, at: seen.at, problem: 'in the log, not in the archive' });
    }
    const observations = {
      ...coverageOf(w),
      notArchived: { count: notArchived.count, named: notArchived.named },
      unreadable: { count: w.unreadable.count, named: w.unreadable.named },
    };
    const span = `${w.checkedFrom} to ${w.checkedUntil}`;
    const failures = [
      ...(notArchived.count > 0
        ? [`${notArchived.count} logged decisions not archived (${namedList(notArchived)})`]
        : []),
      ...(w.unreadable.count > 0
        ? [`${w.unreadable.count} archive lines are not decision records (${namedList(w.unreadable)})`]
        : []),
    ];
    if (failures.length > 0) {
      return {
        status: 'fail',
        summary: `decision archive, ${span}: ${failures.join('; ')}${boundsNote(w)}`,
        observations,
      };
    }
    const logged = countOf(w.logged);
    return {
      status: 'pass',
      summary:
        logged === 0 && countOf(w.archived) === 0
          ? `decision archive: no decision logged or archived ${span} (logs read: ${w.tenantsRead.join(', ') || 'none'})${boundsNote(w)}`
          : `decision archive: all ${logged} decisions logged by ${w.tenantsRead.length + w.tenantsCut.length} tenants ${span} are archived (${w.objectsRead} objects)${boundsNote(w)}`,
      observations,
    };
  },
});

/**
 * `platform.decisions-logged`: every decision taken in the window (DECISION_WINDOW_HOURS ending
 * ARCHIVE_LAG_MINUTES before the run) was logged completely. Each decision of the window's archive
 * (the enforcer's hand-off of every decision it answers) must be in its tenant's hot log (which GET
 * /policy/decisions serves), and every record of the window, archived or logged, must hold the
 * audit fields (`auditGapsOf`). Fails naming the decisions not logged and the incomplete records. A
 * tenant whose log reading the run's bound stopped is compared for completeness only. Unreadable
 * archive lines are `platform.decision-archive`'s failure; they are counted here, not checked.
 */
export const decisionsLogged = (sources: DecisionWindowSources): ControlTest => ({
  id: 'platform.decisions-logged',
  run: async ({ now }): Promise<TestOutcome> => {
    const w = await readDecisionWindow(sources, now);
    if (w.overBounds) return overBoundsOutcome('platform.decisions-logged', w);
    const notLogged = new Tally();
    const incomplete = new Tally();
    const fullyRead = new Set(w.tenantsRead);
    for (const [tenantId, ofTenant] of w.archived) {
      const logged = w.logged.get(tenantId);
      for (const [decisionId, seen] of ofTenant) {
        if (fullyRead.has(tenantId) && !logged?.has(decisionId))
          notLogged.add({ tenantId, decisionId, at: seen.at, problem: 'archived, not in the log' });
        if (seen.gaps.length > 0)
          incomplete.add({ tenantId, decisionId, key: seen.where, problem: `lacks ${seen.gaps.join(', ')}` });
      }
    }
    for (const [tenantId, ofTenant] of w.logged)
      for (const [decisionId, seen] of ofTenant)
        if (seen.gaps.length > 0)
          incomplete.add({ tenantId, decisionId, key: 'log', problem: `lacks ${seen.gaps.join(', ')}` });
    const archived = countOf(w.archived);
    const observations = {
      ...coverageOf(w),
      notLogged: { count: notLogged.count, named: notLogged.named },
      incomplete: { count: incomplete.count, named: incomplete.named },
      unreadableArchiveLines: w.unreadable.count,
    };
    const span = `${w.checkedFrom} to ${w.checkedUntil}`;
    const failures = [
      ...(notLogged.count > 0
        ? [`${notLogged.count} archived decisions are not in the decision log (${namedList(notLogged)})`]
        : []),
      ...(incomplete.count > 0
        ? [
            `${incomplete.count} records lack audit fields (${incomplete.named
              .map((item) => `${item.tenantId}/${item.decisionId} in ${item.key}: ${item.problem}`)
              .join('; ')}${incomplete.count > incomplete.named.length ? '; ...' : ''})`,
          ]
        : []),
    ];
    if (failures.length > 0) {
      return {
        status: 'fail',
        summary: `decisions logged, ${span}: ${failures.join('; ')}${boundsNote(w)}`,
        observations,
      };
    }
    return {
      status: 'pass',
      summary:
        archived === 0 && countOf(w.logged) === 0
          ? `decisions logged: no decision archived or logged ${span} (logs read: ${w.tenantsRead.join(', ') || 'none'})${boundsNote(w)}`
          : `decisions logged: all ${archived} decisions archived ${span} are in their tenant's log, every record with its audit fields${boundsNote(w)}`,
      observations,
    };
  },
});
