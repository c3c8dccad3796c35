/**
 * The authorize suite (./authorize.test.ts, which runs on the default engine, OPA) with Cedar as the
 * running policy engine: the same requests, the same expected answers, case for case.
 */
process.env.CONDUCTOR_TEST_POLICY_ENGINE = 'cedar';
await import('./authorize.test.js');
