/** The record-store port: versioned, tenant-scoped records of one entity type (DESIGN §8). */
export interface TenantRecord {
  readonly tenantId: string;
  readonly id: string;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface ListOptions {
  readonly limit: number;
  readonly cursor?: string | undefined;
  readonly prefix?: string | undefined;
  /**
   * Start after this id (exclusive) when there is no cursor: resumes a log whose ids sort in order
   * (e.g. zero-padded sequence numbers) from the last id a reader has.
   */
  readonly after?: string | undefined;
  /** A strongly consistent read (DynamoDB's ConsistentRead, twice the read units): sees every write acknowledged before it. */
  readonly consistent?: boolean | undefined;
}

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor?: string;
}

/**
 * The record-store port every pillar's repositories are: TenantRecordStore on DynamoDB,
 * InMemoryTenantRecords in tests, CachedRecordReads in front of either. Writes are conditional
 * (create on absence, replace and delete on the expected version; a ConflictError otherwise).
 */
export interface TenantRecords<T extends TenantRecord> {
  create(record: T): Promise<void>;
  get(tenantId: string, id: string): Promise<T | undefined>;
  /** Several records of one tenant in one read; missing ids are absent. */
  getMany(tenantId: string, ids: readonly string[]): Promise<Map<string, T>>;
  /** A page in id order; `prefix` keeps the ids that start with it (a key condition, not a filter). */
  list(tenantId: string, options: ListOptions): Promise<Page<T>>;
  replace(record: T, expectedVersion: number): Promise<void>;
  delete(tenantId: string, id: string, expectedVersion?: number): Promise<boolean>;
}
