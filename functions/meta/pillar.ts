import type { PillarManifest } from '#shared/pillar.js';
import { metaRoutes } from './contract.js';

/** The API's own endpoints: health, the OpenAPI document, and the uniform 404/405 of `$default`. */
export const metaPillar = {
  name: 'meta',
  description: 'Health, the OpenAPI document, and uniform 404/405 answers',
  functions: [
    {
      name: 'meta',
      description: 'Health, the OpenAPI document, and uniform 404/405 answers',
      entry: 'functions/meta/src/handler.ts',
      routes: metaRoutes,
      servesDefaultRoute: true,
    },
  ],
  // Two public routes and the $default answer: their graphs would only repeat the stage's.
  observability: { dashboard: false },
} as const satisfies PillarManifest;
