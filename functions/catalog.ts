import type { PillarManifest } from '#shared/pillar.js';
import { authorizePillar } from './authorize/pillar.js';
import { compliancePillar } from './compliance/pillar.js';
import { edgeSyncPillar } from './edge-sync/pillar.js';
import { evalPillar } from './eval/pillar.js';
import { metaPillar } from './meta/pillar.js';
import { opsPillar } from './ops/pillar.js';
import { routerPillar } from './router/pillar.js';
import { runbooksPillar } from './runbooks/pillar.js';
import { schedulerPillar } from './scheduler/pillar.js';

/**
 * The catalog: every pillar of Conductor, by its manifest. The CDK app, the embedded runtime and the
 * OpenAPI document are built from this list; a new pillar is one line here.
 */
export const PILLARS: readonly PillarManifest[] = [
  metaPillar,
  routerPillar,
  authorizePillar,
  schedulerPillar,
  evalPillar,
  runbooksPillar,
  opsPillar,
  edgeSyncPillar,
  compliancePillar,
];
