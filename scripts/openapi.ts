/**
 * `npm run openapi`: writes docs/openapi.json, the OpenAPI 3.1 document the API serves at
 * /api/conductor/v1/openapi.json, so it can be read and diffed without running anything.
 * A unit test fails when the committed file is out of date.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildOpenApi } from '#shared/http/openapi.js';
import { routesOf } from '#shared/pillar.js';
import { PILLARS } from '../functions/catalog.js';
import packageJson from '../package.json' with { type: 'json' };

const ALL_ROUTES = routesOf(PILLARS);

export const OPENAPI_FILE = fileURLToPath(new URL('../docs/openapi.json', import.meta.url));
export const renderOpenApi = (): string =>
  `${JSON.stringify(buildOpenApi(ALL_ROUTES, packageJson.version), null, 2)}\n`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(OPENAPI_FILE, renderOpenApi());
  console.log(`wrote ${OPENAPI_FILE} (${ALL_ROUTES.length} operations)`);
}
