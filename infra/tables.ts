/**
 * The pillar tables (DESIGN §8): one per pillar, tenant-first keys `pk`/`sk`, TTL on `expiresAt`.
 * The CDK stateful stack and the embedded runtime both create them from this list.
 */
export interface TableSpec {
  /** Stable id: construct id and the local table name derive from it. */
  readonly id: string;
  /** Environment variable through which functions receive the table name. */
  readonly envVar: string;
  readonly description: string;
}

export const TABLE_KEY = { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt' } as const;

export const TABLES: readonly TableSpec[] = [
  { id: 'router', envVar: 'ROUTER_TABLE_NAME', description: 'Experts, route decisions and bandit state' },
  {
    id: 'policy',
    envVar: 'POLICY_TABLE_NAME',
    description: 'Policy decision log (30-day TTL), cross-tenant grants, per-tenant rate-limit windows',
  },
];

export const tableSpec = (id: string): TableSpec => {
  const spec = TABLES.find((table) => table.id === id);
  if (!spec) throw new Error(`Unknown table '${id}'; known: ${TABLES.map((t) => t.id).join(', ')}`);
  return spec;
};
