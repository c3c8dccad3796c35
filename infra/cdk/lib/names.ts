/** `edge-sync` -> `EdgeSync`, `getHealth` -> `GetHealth`, `org-admin` -> `OrgAdmin`: construct ids. */
export const pascal = (value: string): string =>
  value
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part.length > 0)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
