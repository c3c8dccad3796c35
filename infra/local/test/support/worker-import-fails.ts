/**
 * A function module that cannot load (infra/local/test/api-workers.test.ts): it exits the thread or
 * throws at import, as a handler whose configuration is wrong does at init.
 */
if (process.env.CONDUCTOR_FIXTURE_IMPORT === 'exit') process.exit(4);
throw new Error('the fixture cannot load');
