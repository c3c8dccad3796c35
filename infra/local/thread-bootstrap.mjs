// The entry of the embedded runtime's worker threads: TypeScript through tsx's loader, registered
// here because a worker's own entry is loaded before any --import of its execArgv would apply.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
