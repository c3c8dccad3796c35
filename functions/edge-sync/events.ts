import * as z from 'zod';
import { defineEvent } from '#shared/ports/events.js';
import { FIELD_RULES } from './src/domain/rules.js';

/**
 * `edge_conflict` (DESIGN §7): two writes of one field of a document were made without either
 * seeing the other. `rule` is the document type's rule for the field; `autoResolved` says whether
 * it settled the conflict (false: it waits in the conflict center for a person).
 */
export const edgeConflict = defineEvent('edge_conflict', {
  conflictId: z.string(),
  documentId: z.string(),
  field: z.string(),
  rule: z.enum(FIELD_RULES),
  autoResolved: z.boolean(),
  /** The node whose write arrived second (the one the server found concurrent with what it held). */
  nodeId: z.string(),
});

export const EDGE_EVENTS = [edgeConflict] as const;
