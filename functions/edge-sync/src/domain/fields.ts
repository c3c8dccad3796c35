/** The root map of a document's business fields: conflicts are detected on its keys (and nested maps). */
export const FIELDS_MAP = 'fields';
