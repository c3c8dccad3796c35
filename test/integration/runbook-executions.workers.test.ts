/**
 * The runbook-executions suite (./runbook-executions.test.ts) with the API functions in two worker threads
 * (ConductorOptions.apiWorkers): the same requests, the same expected answers, case for case.
 */
process.env.CONDUCTOR_TEST_API_WORKERS = '2';
await import('./runbook-executions.test.js');
