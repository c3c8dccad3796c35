import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { type ConductorEvent, EVENT_SOURCE, type EventPublisher, type EventTypes } from '../ports/events.js';
import { chunksOf, meterClient, type UnitsOf } from './call-meter.js';
import { type ClientOptions, instrumented, sdkConfig } from './clients.js';

/** EventBridge bills each entry of PutEvents per 64 KiB chunk (Source, DetailType, Detail, Resources). */
const eventsUnits: UnitsOf = (operation, input) => {
  if (operation !== 'PutEvents') return { requests: 1 };
  const entries = (input.Entries ?? []) as PutEventsRequestEntry[];
  const requests = entries.reduce(
    (sum, entry) =>
      sum +
      chunksOf(
        Buffer.byteLength(`${entry.Source ?? ''}${entry.DetailType ?? ''}${entry.Detail ?? ''}`) +
          (entry.Resources ?? []).reduce((bytes, resource) => bytes + Buffer.byteLength(resource), 0),
        64 * 1024,
      ),
    0,
  );
  return { requests };
};

export const makeEventBridgeClient = (options: ClientOptions): EventBridgeClient =>
  instrumented(options, meterClient(new EventBridgeClient(sdkConfig(options)), 'events', eventsUnits));

/** PutEvents accepts at most 10 entries per call. */
const BATCH = 10;

export class PublishFailedError extends Error {}

/**
 * Publishes to EventBridge, retrying the entries PutEvents reports as failed (it answers 200 with
 * per-entry failures), so a transient failure does not silently drop an event.
 */
export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: Pick<EventBridgeClient, 'send'>,
    private readonly busName: string,
    /** The event types this function publishes: each detail is validated before it is sent. */
    private readonly types: EventTypes,
    private readonly attempts = 3,
  ) {}

  async publish(events: readonly ConductorEvent[]): Promise<void> {
    const entries: PutEventsRequestEntry[] = events.map((event) => ({
      EventBusName: this.busName,
      Source: EVENT_SOURCE,
      DetailType: event.type,
      Detail: JSON.stringify(this.types.parse(event)),
    }));
    for (let start = 0; start < entries.length; start += BATCH) {
      await this.#sendWithRetry(entries.slice(start, start + BATCH));
    }
  }

  async #sendWithRetry(batch: PutEventsRequestEntry[]): Promise<void> {
    let pending = batch;
    for (let attempt = 1; attempt <= this.attempts && pending.length > 0; attempt += 1) {
      const out = await this.client.send(new PutEventsCommand({ Entries: pending }));
      if (!out.FailedEntryCount) return;
      // Without per-entry results nothing is known to have landed: retry them all.
      if (out.Entries) pending = pending.filter((_, index) => out.Entries?.[index]?.ErrorCode !== undefined);
      if (attempt < this.attempts) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
    }
    if (pending.length > 0) throw new PublishFailedError(`${pending.length} event(s) could not be published`);
  }
}
