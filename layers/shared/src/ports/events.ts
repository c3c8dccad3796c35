import * as z from 'zod';

/**
 * Events on Conductor's one EventBridge bus (DESIGN §7). The kernel knows no event type: each pillar
 * defines the events it publishes in its contract (`defineEvent`), its manifest lists them, and the
 * publisher of a function validates every detail against the definitions it was given, so a producer
 * bug fails loudly instead of emitting junk. Every detail carries tenantId, traceId and occurredAt.
 */
export const EVENT_SOURCE = 'conductor';

export const eventEnvelope = {
  tenantId: z.string().min(1),
  traceId: z.string().min(1),
  occurredAt: z.iso.datetime(),
};

export interface EventDefinition<T extends string = string, S extends z.ZodType = z.ZodType> {
  /** The EventBridge detail type, e.g. `reward_ingested`. */
  readonly type: T;
  readonly schema: S;
}

/** An event type of the bus: the envelope plus the pillar's own fields. */
export const defineEvent = <T extends string, Shape extends z.ZodRawShape>(type: T, shape: Shape) => ({
  type,
  schema: z.object({ ...eventEnvelope, ...shape }),
});

export type EventDetail<D extends EventDefinition> = z.input<D['schema']>;

export interface ConductorEvent<T extends string = string> {
  readonly type: T;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** An event of a definition, typed by it (the publisher validates it). */
export const eventOf = <D extends EventDefinition>(
  definition: D,
  detail: EventDetail<D>,
): ConductorEvent<D['type']> => ({
  type: definition.type,
  detail: detail as Readonly<Record<string, unknown>>,
});

/** Port: where domain code sends its events. */
export interface EventPublisher {
  publish(events: readonly ConductorEvent[]): Promise<void>;
}

export class UnknownEventTypeError extends Error {
  override readonly name = 'UnknownEventTypeError';
}

/** The event types one function may publish: validates each detail against its definition. */
export class EventTypes {
  readonly #byType: ReadonlyMap<string, EventDefinition>;

  constructor(definitions: readonly EventDefinition[]) {
    const byType = new Map<string, EventDefinition>();
    for (const definition of definitions) {
      const known = byType.get(definition.type);
      if (known && known !== definition) throw new Error(`Event type '${definition.type}' is defined twice`);
      byType.set(definition.type, definition);
    }
    this.#byType = byType;
  }

  get types(): string[] {
    return [...this.#byType.keys()];
  }

  /** The detail as its schema outputs it (defaults filled); throws on an unknown type or an invalid detail. */
  parse(event: ConductorEvent): Record<string, unknown> {
    const definition = this.#byType.get(event.type);
    if (!definition) {
      throw new UnknownEventTypeError(
        `Event type '${event.type}' is not one this function publishes (${this.types.join(', ') || 'none'})`,
      );
    }
    return definition.schema.parse(event.detail) as Record<string, unknown>;
  }
}

/** An in-memory publisher for tests and for functions that run with no bus configured; validates like the real one. */
export class RecordingPublisher implements EventPublisher {
  readonly published: ConductorEvent[] = [];
  constructor(private readonly types?: EventTypes) {}

  async publish(events: readonly ConductorEvent[]): Promise<void> {
    const parsed = events.map((event) => ({
      type: event.type,
      detail: this.types?.parse(event) ?? event.detail,
    }));
    this.published.push(...parsed);
  }
}
