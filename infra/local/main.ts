import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_POLICY_ENGINE, POLICY_ENGINES, type PolicyEngineName } from '#shared/policy/source.js';

/** `npm start`: run Conductor on this machine with demo data and print how to call it. */
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '4000' },
    host: { type: 'string', default: '127.0.0.1' },
    'data-dir': { type: 'string', default: '.conductor' },
    memory: { type: 'boolean', default: false },
    'allow-private-endpoints': { type: 'boolean', default: false },
    'no-seed': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    'policy-engine': { type: 'string', default: process.env.POLICY_ENGINE ?? DEFAULT_POLICY_ENGINE },
    'max-in-flight': { type: 'string' },
    'debug-calls': { type: 'boolean', default: false },
    'api-workers': { type: 'string', default: process.env.CONDUCTOR_API_WORKERS ?? '0' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(`Usage: npm start -- [options]
  --port <n>                  port to serve on (default 4000, or $PORT; 0 picks a free one)
  --host <addr>               address to bind (default 127.0.0.1)
  --data-dir <dir>            where data persists (default .conductor)
  --memory                    keep nothing on disk
  --allow-private-endpoints   let experts point at private/loopback addresses (development only)
  --no-seed                   do not create the demo experts
  --max-in-flight <n>         requests served at once before 503 overloaded (default 32)
  --policy-engine <engine>    cedar or opa (default ${DEFAULT_POLICY_ENGINE}; OPA runs the committed bundle policies/opa)
  --debug-calls               answer every API request with X-Conductor-Calls: the AWS calls it made, with their units
  --api-workers <n|auto>      run the API functions in n worker threads, to use more than one core under load
                              (default 0: one thread; auto: one per core but one; or $CONDUCTOR_API_WORKERS)
  --verbose                   log every request and handler logs at INFO`);
  process.exit(0);
}

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be a port number, got '${values.port}'`);
  process.exit(2);
}

const policyEngine = values['policy-engine'];
if (!(POLICY_ENGINES as readonly string[]).includes(policyEngine)) {
  console.error(`--policy-engine must be one of ${POLICY_ENGINES.join(', ')}, got '${policyEngine}'`);
  process.exit(2);
}

const maxInFlight = values['max-in-flight'] === undefined ? undefined : Number(values['max-in-flight']);
if (maxInFlight !== undefined && (!Number.isInteger(maxInFlight) || maxInFlight < 1)) {
  console.error(`--max-in-flight must be a positive integer, got '${values['max-in-flight']}'`);
  process.exit(2);
}

const apiWorkersValue = values['api-workers'];
const apiWorkers = apiWorkersValue === 'auto' ? 'auto' : Number(apiWorkersValue);
if (apiWorkers !== 'auto' && (!Number.isInteger(apiWorkers) || apiWorkers < 0 || apiWorkers > 64)) {
  console.error(`--api-workers must be a whole number from 0 to 64 or auto, got '${apiWorkersValue}'`);
  process.exit(2);
}
const meterCalls = values['debug-calls'] || process.env.CONDUCTOR_DEBUG_CALLS === '1';

// Said before anything slow (loading the functions, opening the data): a newcomer sees it began.
console.log(
  `Starting Conductor (embedded runtime, port ${port === 0 ? 'any free one' : port}, ${values.memory ? 'in memory' : `data in ${values['data-dir']}`}, policies ${policyEngine})...`,
);
// Imported here, not at the top, so that the line above is printed at once.
const { startConductor } = await import('./runtime.js');
const { seedDemoData } = await import('./demo.js');
const { DEMO_TOKEN_SECONDS } = await import('./oidc.js');

const conductor = await startConductor({
  port,
  policyEngine: policyEngine as PolicyEngineName,
  host: values.host,
  dataDir: values['data-dir'],
  memory: values.memory,
  allowPrivateEndpoints: values['allow-private-endpoints'],
  ...(maxInFlight === undefined ? {} : { maxInFlight }),
  meterCalls,
  apiWorkers,
  logLevel: values.verbose ? 'INFO' : 'WARN',
  // The printed admin tokens count as stepped up for as long as they live (on AWS: an hour after
  // the sign-in, CONDUCTOR_STEP_UP_MAX_AGE_SECONDS), so the README's walk-through works all day.
  functionEnv: { CONDUCTOR_STEP_UP_MAX_AGE_SECONDS: String(DEMO_TOKEN_SECONDS) },
  ...(values.verbose
    ? { logRequest: (line) => console.log(`${line.method} ${line.path} -> ${line.status} (${line.ms} ms)`) }
    : {}),
}).catch((error: unknown) => {
  console.error(`Conductor could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

const tokens = await conductor.issuer.demoTokens();
const seeded = values['no-seed']
  ? []
  : await seedDemoData(conductor.apiUrl, tokens, { runbookKeyDir: conductor.runbookKeyDir });
const envName = (label: string) => `${label.replace(/-/g, '_').toUpperCase()}_TOKEN`;
const exports = tokens.map((t) => `export ${envName(t.label)}='${t.token}'`).join('\n');
// API is the URL actually served (with --port 0 or $PORT too), so `source tokens.env` is all it takes.
if (conductor.dataDir)
  writeFileSync(join(conductor.dataDir, 'tokens.env'), `export API='${conductor.apiUrl}'\n${exports}\n`, {
    mode: 0o600,
  });

const api = conductor.apiUrl;
/** acme's experts (seeded now or on an earlier start), as route candidates for the printed example. */
const candidates = await (async () => {
  const operator = tokens.find((t) => t.label === 'acme-operator')?.token;
  if (!operator) return [];
  const reply = await fetch(`${api}/experts?limit=3`, { headers: { authorization: `Bearer ${operator}` } });
  if (!reply.ok) return [];
  return ((await reply.json()) as { items: { id: string }[] }).items.map((e) => e.id);
})();
const routeExample =
  candidates.length > 0
    ? `  curl -s -X POST -H "Authorization: Bearer $ACME_OPERATOR_TOKEN" -H 'Content-Type: application/json' \\
       -d '{"taskId":"try-1","context":{"lang":"en","tokens":900},"candidates":${JSON.stringify(candidates)}}' \\
       ${api}/router/route     # the expert for a task; GET /router/rationale/<rationaleId> says why
`
    : '';
console.log(`
Conductor is running (embedded runtime, ${conductor.dataDir ? `data in ${conductor.dataDir}` : 'in memory'}).

  API        ${api}
  OpenAPI    ${api}/openapi.json
  Policies   ${policyEngine}${policyEngine === 'opa' ? ' (the committed bundle policies/opa)' : ' (policies/cedar)'}
  Issuer     ${conductor.issuer.issuer}
${conductor.apiWorkers > 0 ? `  Threads    the API functions in ${conductor.apiWorkers} worker thread${conductor.apiWorkers === 1 ? '' : 's'}, the stand-ins and consumers in the main one\n` : ''}${seeded.length > 0 ? `  Demo data  ${seeded.join(', ')}\n` : ''}
Demo tokens (valid ${DEMO_TOKEN_SECONDS / 3600} h, minted at each start; tenants acme and globex; roles viewer, operator, tenant-admin, on-call (operator with MFA); one org-admin).
${conductor.dataDir ? `They are also in ${join(conductor.dataDir, 'tokens.env')}, with API:  source ${join(conductor.dataDir, 'tokens.env')}\n` : ''}
${exports}

Try it:
  curl -s ${api}/health
  curl -s -H "Authorization: Bearer $ACME_VIEWER_TOKEN" ${api}/experts
  curl -s -X POST -H "Authorization: Bearer $ACME_ADMIN_TOKEN" -H 'Content-Type: application/json' \\
       -d '{"name":"summarizer-large","type":"model","costPerCallUsd":0.02,"endpoint":"https://summarizer.example.com/v1/invoke"}' \\
       ${api}/experts
  curl -s -H "Authorization: Bearer $GLOBEX_VIEWER_TOKEN" ${api}/experts     # globex sees only its own
${routeExample}  curl -s -H "Authorization: Bearer $ACME_VIEWER_TOKEN" ${api}/budgets/state   # spent, projected, state

Press Ctrl-C to stop.`);

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping Conductor...`);
  await conductor.stop();
  console.log('Stopped. Data kept for the next start.');
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
