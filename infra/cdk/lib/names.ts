/** `edge-sync` -> `EdgeSync`, `getHealth` -> `GetHealth`, `org-admin` -> `OrgAdmin`: construct ids. */
export const pascal = (value: string): string =>
  value
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part.length > 0)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');

const PRODUCTION_STAGE_PATTERN = /^prod(?:uction)?(?:-[a-z0-9-]+)?$/;

/**
 * A production stage holds the real data: its evidence is locked in COMPLIANCE mode, and the CLI
 * refuses to deploy it unpinned or with removalPolicy=destroy. Decided by name so that no flag can
 * be forgotten: `prod`, `production`, `prod-<x>`, `production-<x>`.
 */
export const isProductionStage = (stage: string): boolean => PRODUCTION_STAGE_PATTERN.test(stage);
