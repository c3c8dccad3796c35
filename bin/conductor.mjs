#!/usr/bin/env node
// The `conductor` command. It runs the TypeScript CLI (cli/main.ts) through tsx, a devDependency, so it
// works in a checkout after `npm ci`; a published package would compile cli/ and clients/ to JavaScript.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
