/**
 * What `conductor-eval` (the standalone CLI, cli/eval/) uses of the eval pillar: the same suite
 * parser, runner, gate, quarantine and reports the eval worker runs, so a pull request's CI and a
 * deployed Conductor judge a change alike. The pillar's public entry for it (besides contract.ts).
 */
export { EndpointExperts } from './src/adapters/expert-endpoint.js';
export { loadChartJs, trendPage } from './src/adapters/trend-page.js';
export { baselineOf, evaluate, type PreviousRun, priorsOf } from './src/domain/evaluation.js';
export { passRatesOf } from './src/domain/gate.js';
export { judgeThrough } from './src/domain/judge.js';
export type { Baseline, HistoryPoint, QuarantineEntry, RunSummary, Suite } from './src/domain/model.js';
export { parseQuarantine, serializeQuarantine } from './src/domain/quarantine.js';
export { jsonReport, junitXml, markdownComment } from './src/domain/reports.js';
export type { CustomScoreFn } from './src/domain/scorers.js';
export { canonicalJson, parseSuite } from './src/domain/suite.js';
