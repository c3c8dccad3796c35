#!/usr/bin/env node
// The `conductor-eval` command (cli/eval/): golden suites as a CI gate. Runs the TypeScript CLI
// through tsx, as bin/conductor.mjs does, so it works in a checkout after `npm ci`.
import { register } from 'tsx/esm/api';

register();
await import('../cli/eval/main.ts');
