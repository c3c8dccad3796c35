/**
 * The cross-tenant suite (./cross-tenant.test.ts) with OPA as the running policy engine (the committed bundle of
 * policies/rego): the same requests, the same expected answers, case for case.
 */
process.env.CONDUCTOR_TEST_POLICY_ENGINE = 'opa';
await import('./cross-tenant.test.js');
