export {
  EdgeClient,
  type EdgeClientOptions,
  EdgeSyncRefused,
  type SyncReport,
  type SyncStatus,
} from './client.js';
export { type EdgeState, type EdgeStorage, MemoryStorage, WebStorage } from './storage.js';
