// The in-code form of the mitigation: turn off TurboFan's inlining of JS->Wasm calls at run time,
// before any hot code is compiled (what `node --no-turbo-inline-js-wasm-calls` does from the command
// line; NODE_OPTIONS refuses this flag). Used as `node --import ./bench/repro/no-wasm-inlining.mjs`.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--no-turbo-inline-js-wasm-calls');
