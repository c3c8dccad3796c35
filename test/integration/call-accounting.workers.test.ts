/**
 * The call accounting suite (./call-accounting.test.ts) with the API functions in a worker thread
 * (ConductorOptions.apiWorkers): each request's calls, made in the worker, counted in its
 * X-Conductor-Calls header and the ambient meter as if made in the main thread, case for case.
 */
process.env.CONDUCTOR_TEST_API_WORKERS = '1';
await import('./call-accounting.test.js');
