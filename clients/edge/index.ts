export {
  EdgeClient,
  type EdgeClientOptions,
  EdgeSyncBusy,
  EdgeSyncRefused,
  type SyncReport,
  type SyncStatus,
} from './client.js';
export { type EdgeState, type EdgeStorage, MemoryStorage, WebStorage } from './storage.js';
