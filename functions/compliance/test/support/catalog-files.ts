import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = join(import.meta.dirname, '../../catalog');

/** The built-in catalog files (functions/compliance/catalog), as the composition root reads them. */
export const CATALOG_FILES = readdirSync(DIR)
  .filter((name) => name.endsWith('.json'))
  .map((name) => ({ source: name, text: readFileSync(join(DIR, name), 'utf8') }));

/** Every test id the built-in controls name. */
export const CATALOG_TEST_IDS = [
  ...new Set(
    CATALOG_FILES.flatMap((file) =>
      ((JSON.parse(file.text) as { controls?: { tests: string[] }[] }).controls ?? []).flatMap(
        (c) => c.tests,
      ),
    ),
  ),
];
