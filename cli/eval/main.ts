/** The `conductor-eval` command's entry (bin/conductor-eval.mjs runs it through tsx). */
import { runEvalCli } from './run.js';

process.exitCode = await runEvalCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  readStdin: async () => '',
});
