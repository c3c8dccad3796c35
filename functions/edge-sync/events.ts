import * as z from 'zod';
import { defineEvent } from '#shared/ports/events.js';

/** M6's event on the bus (DESIGN §7), fixed before the pillar is built so producers and consumers agree. */
export const edgeConflict = defineEvent('edge_conflict', {
  nodeId: z.string(),
  documentId: z.string(),
  key: z.string(),
  resolution: z.enum(['auto', 'manual']),
});
