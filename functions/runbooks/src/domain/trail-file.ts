/**
 * The trail file, `conductor.trail/v1`: an execution's trail as JSON Lines, for the offline `verify`
 * command. The first line is a header, each further line one entry in canonical JSON, in seq order:
 *
 * ```
 * {"apiVersion":"conductor.trail/v1","executionId":"exec_1","head":{"hash":"9f…","seq":4},"tenantId":"acme"}
 * {"at":"2026-03-01T10:00:00.000Z","detail":{},"executionId":"exec_1","hash":"3a…","kind":"requested",…,"seq":0}
 * ```
 *
 * The header's head catches a file cut short by accident; it is no defence against someone who edits
 * the file, who can edit the header too. Pin the head from a trusted source (the execution's
 * `trailHead` as the API answers it) to detect a deliberate truncation.
 */
import * as z from 'zod';
import { AppError, type FieldIssue } from '#shared/errors.js';
import { canonicalJson } from '#shared/ports/canonical-json.js';
import { tenantIdSchema } from '#shared/ports/identity.js';
import { formatPath, parseJsonText, problemsOf, reportOf } from '#shared/ports/json-document.js';
import {
  againstHead,
  type ChainVerification,
  headOf,
  MAX_TRAIL_ENTRIES,
  TRAIL_EXECUTION_ID,
  type TrailEntry,
  type TrailHead,
  trailEntryOf,
  trailEntrySchema,
  verifyChain,
} from './trail.js';

export const TRAIL_API_VERSION = 'conductor.trail/v1';

export interface TrailFile {
  readonly executionId: string;
  readonly tenantId: string;
  /** The head the file claims (its last entry when it was written). */
  readonly head: TrailHead;
  readonly entries: readonly TrailEntry[];
}

const headerSchema = z.strictObject({
  apiVersion: z.literal(TRAIL_API_VERSION),
  executionId: z.string().regex(TRAIL_EXECUTION_ID, { error: 'is not an execution id' }),
  tenantId: tenantIdSchema,
  head: z.strictObject({
    seq: z
      .int()
      .min(0)
      .max(MAX_TRAIL_ENTRIES - 1),
    hash: z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lower-case hex digits' }),
  }),
});

/** A trail file that does not parse or validate: one line per problem, `<source>: line <n>: <field>: <reason>`. */
export class TrailFileError extends AppError {
  readonly issues: readonly FieldIssue[];

  constructor(source: string, issues: readonly FieldIssue[]) {
    const { message, reported } = reportOf(source, issues);
    super(400, 'invalid_trail', message, { details: { issues: reported } });
    this.issues = reported;
  }
}

/** A trail (one execution's entries, in seq order) as a trail file. An empty trail has no file. */
export const serializeTrail = (entries: readonly TrailEntry[]): string => {
  const [first] = entries;
  const last = entries.at(-1);
  if (!first || !last) throw new RangeError('a trail file holds one or more entries');
  const header = {
    apiVersion: TRAIL_API_VERSION,
    executionId: first.executionId,
    tenantId: first.tenantId,
    head: headOf(last),
  };
  return [header, ...entries.map(trailEntryOf)].map((line) => `${canonicalJson(line)}\n`).join('');
};

/**
 * Reads a trail file: every line parsed and validated (an unknown field is refused: no hash covers it),
 * every problem reported by line and field in one TrailFileError (400 `invalid_trail`). Does not
 * verify the chain: see `verifyTrailFile`.
 */
export const parseTrail = (text: string, source: string): TrailFile => {
  const lines = text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  if (lines.at(-1) === '') lines.pop();
  const issues: FieldIssue[] = [];
  const report = (line: number, path: string, message: string): void => {
    issues.push({ path: path ? `line ${line}: ${path}` : `line ${line}`, message });
  };
  if (lines.length === 0) report(1, '', 'the file is empty: the header line is missing');
  if (lines.length > MAX_TRAIL_ENTRIES + 1) {
    throw new TrailFileError(source, [
      { path: `line ${MAX_TRAIL_ENTRIES + 2}`, message: `more than ${MAX_TRAIL_ENTRIES} entries` },
    ]);
  }
  const parseLine = <T>(index: number, schema: z.ZodType<T>): T | undefined => {
    const line = lines[index] ?? '';
    if (line.trim() === '') {
      report(index + 1, '', 'empty line');
      return undefined;
    }
    const json = parseJsonText(line);
    if (!json.ok) {
      report(index + 1, '', json.message.replace(/ at line 1, column/, ' at column'));
      return undefined;
    }
    const result = schema.safeParse(json.value, { reportInput: true });
    if (result.success) return result.data;
    for (const problem of result.error.issues.flatMap(problemsOf)) {
      report(index + 1, formatPath(problem.path), problem.message);
    }
    return undefined;
  };
  const header = lines.length > 0 ? parseLine(0, headerSchema) : undefined;
  const entries: TrailEntry[] = [];
  for (let index = 1; index < lines.length; index += 1) {
    const entry = parseLine(index, trailEntrySchema);
    if (entry) entries.push(entry);
  }
  if (issues.length > 0 || !header) throw new TrailFileError(source, issues);
  return { executionId: header.executionId, tenantId: header.tenantId, head: header.head, entries };
};

/**
 * Verifies a trail file offline: its entries as the chain of the execution its header names, from
 * genesis to `pinnedHead` (a head from a trusted source), else to the head the header claims.
 */
export const verifyTrailFile = (file: TrailFile, pinnedHead?: TrailHead): ChainVerification =>
  verifyChain(file.entries, {
    executionId: file.executionId,
    tenantId: file.tenantId,
    fromGenesis: true,
    ...againstHead(pinnedHead ?? file.head),
  });
