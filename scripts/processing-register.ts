/**
 * `npm run openapi` also runs this: writes functions/compliance/generated/processing-register.json, the
 * catalog's record of processing (every table with its `personalData`, every pillar's
 * `personalEvidence`), which the compliance function bundles instead of importing the pillars'
 * manifests (and their code). A unit test fails when the committed file is out of date.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PillarManifest } from '#shared/pillar.js';
import { PILLARS } from '../functions/catalog.js';

export const PROCESSING_REGISTER_FILE = fileURLToPath(
  new URL('../functions/compliance/generated/processing-register.json', import.meta.url),
);

/** The register's content: data only, in catalog order. */
export const processingRegisterOf = (pillars: readonly PillarManifest[]) => ({
  tables: pillars.flatMap((pillar) =>
    (pillar.tables ?? []).map((table) => ({
      pillar: pillar.name,
      id: table.id,
      envVar: table.envVar,
      description: table.description,
      ...(table.personalData === undefined ? {} : { personalData: table.personalData }),
    })),
  ),
  evidence: pillars.flatMap((pillar) =>
    (pillar.personalEvidence ?? []).map((spec) => ({ pillar: pillar.name, ...spec })),
  ),
});

export const renderProcessingRegister = (): string =>
  `${JSON.stringify(processingRegisterOf(PILLARS), null, 2)}\n`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(PROCESSING_REGISTER_FILE, renderProcessingRegister());
  console.log(`wrote ${PROCESSING_REGISTER_FILE}`);
}
