/**
 * The cross-tenant suite (./cross-tenant.test.ts) with the API functions in two worker threads
 * (ConductorOptions.apiWorkers): the same requests, the same expected answers, case for case.
 */
process.env.CONDUCTOR_TEST_API_WORKERS = '2';
await import('./cross-tenant.test.js');
