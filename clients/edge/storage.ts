/**
 * Where an edge client keeps its state between runs: its documents, the outbox of updates the
 * server has not acknowledged, the sync cursors and its clock. `save` must be atomic (all or
 * nothing): the file store writes a temporary file and renames it.
 */
export interface EdgeState {
  readonly nodeId: string;
  opCounter: number;
  hlc?: string;
  documents: Record<string, { state?: string; cursor?: string; lastSeq: number }>;
  outbox: { documentId: string; opId: string; update: string; stateVector?: string }[];
}

export interface EdgeStorage {
  load(): Promise<EdgeState | undefined>;
  save(state: EdgeState): Promise<void>;
}

/** Kept in memory only (tests, a page that may forget). */
export class MemoryStorage implements EdgeStorage {
  #state: EdgeState | undefined;
  async load(): Promise<EdgeState | undefined> {
    return this.#state === undefined ? undefined : structuredClone(this.#state);
  }
  async save(state: EdgeState): Promise<void> {
    this.#state = structuredClone(state);
  }
}

/** What WebStorage needs of a browser's `localStorage`. */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** A browser's `localStorage` (or any Storage-like object), under one key. */
export class WebStorage implements EdgeStorage {
  constructor(
    private readonly storage: KeyValueStorage,
    private readonly key = 'conductor-edge',
  ) {}
  async load(): Promise<EdgeState | undefined> {
    const text = this.storage.getItem(this.key);
    return text === null ? undefined : (JSON.parse(text) as EdgeState);
  }
  async save(state: EdgeState): Promise<void> {
    this.storage.setItem(this.key, JSON.stringify(state));
  }
}
