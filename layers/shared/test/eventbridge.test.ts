import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsCommandInput,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventBridgePublisher, PublishFailedError } from '#shared/adapters/eventbridge.js';
import { type ConductorEvent, EVENT_SOURCE, EventTypes } from '#shared/ports/events.js';
import { EVENT_SAMPLES, sampleOf } from './event-samples.js';

const TYPES = new EventTypes(EVENT_SAMPLES.map((s) => s.definition));
const detailOf = (type: string) => sampleOf(type).detail;

const BUS = 'conductor-bus';
const client = new EventBridgeClient({ region: 'us-east-1' });
const eventBridge = mockClient(client);

/** `count` distinct route decisions; the task id tells them apart in what EventBridge received. */
const decisions = (count: number): ConductorEvent[] =>
  Array.from({ length: count }, (_, index) => ({
    type: 'route_decision',
    detail: { ...detailOf('route_decision'), taskId: `task-${index}` },
  }));

const taskIdsOf = (input: PutEventsCommandInput): string[] =>
  (input.Entries ?? []).map((entry) => (JSON.parse(entry.Detail ?? '{}') as { taskId: string }).taskId);

const sentBatches = (): string[][] =>
  eventBridge.commandCalls(PutEventsCommand).map((call) => taskIdsOf(call.args[0].input));

/** Answers PutEvents like EventBridge: 200, with a per-entry error for the entries `fails` picks. */
const answerWith = (fails: (taskId: string) => boolean) => (input: PutEventsCommandInput) => {
  const entries: PutEventsResultEntry[] = taskIdsOf(input).map((taskId, index) =>
    fails(taskId)
      ? { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }
      : { EventId: `evt-${taskId}-${index}` },
  );
  return { FailedEntryCount: entries.filter((entry) => entry.ErrorCode).length, Entries: entries };
};

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  eventBridge.reset();
  vi.useRealTimers();
});

describe('EventBridgePublisher', () => {
  it('sends every event to the bus with the conductor source, its type and its validated detail', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).callsFake(answerWith(() => false));
    const publisher = new EventBridgePublisher(client, BUS, TYPES);
    const event: ConductorEvent = {
      type: 'budget_breach',
      detail: detailOf('budget_breach'),
    };

    // Act
    await publisher.publish([event]);

    // Assess
    expect(eventBridge).toReceiveCommandExactlyOnceWith(PutEventsCommand, {
      Entries: [
        {
          EventBusName: BUS,
          Source: EVENT_SOURCE,
          DetailType: 'budget_breach',
          Detail: JSON.stringify(detailOf('budget_breach')),
        },
      ],
    });
  });

  it('sends the parsed detail, defaults included', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).callsFake(answerWith(() => false));
    const publisher = new EventBridgePublisher(client, BUS, TYPES);

    // Act
    await publisher.publish(decisions(1));

    // Assess
    const detail = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0]?.Detail ?? '{}';
    expect(JSON.parse(detail)).toMatchObject({ shadow: false, taskId: 'task-0' });
  });

  it('batches entries by 10, the PutEvents maximum, keeping their order', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).callsFake(answerWith(() => false));
    const publisher = new EventBridgePublisher(client, BUS, TYPES);

    // Act
    await publisher.publish(decisions(25));

    // Assess
    expect(sentBatches().map((batch) => batch.length)).toEqual([10, 10, 5]);
    expect(sentBatches().flat()).toEqual(decisions(25).map((event) => event.detail.taskId));
  });

  it('sends nothing when there is nothing to publish', async () => {
    // Prepare
    const publisher = new EventBridgePublisher(client, BUS, TYPES);

    // Act
    await publisher.publish([]);

    // Assess
    expect(eventBridge).not.toReceiveAnyCommand();
  });

  it('retries only the entries EventBridge reported as failed, after a pause', async () => {
    // Prepare
    let firstCall = true;
    eventBridge.on(PutEventsCommand).callsFake((input: PutEventsCommandInput) => {
      const answer = answerWith((taskId) => firstCall && (taskId === 'task-1' || taskId === 'task-3'))(input);
      firstCall = false;
      return answer;
    });
    const publisher = new EventBridgePublisher(client, BUS, TYPES);

    // Act
    const publishing = publisher.publish(decisions(5));
    await vi.advanceTimersByTimeAsync(0);
    const beforePause = sentBatches().length;
    await vi.runAllTimersAsync();
    await publishing;

    // Assess
    expect(beforePause).toBe(1);
    expect(sentBatches()).toEqual([
      ['task-0', 'task-1', 'task-2', 'task-3', 'task-4'],
      ['task-1', 'task-3'],
    ]);
  });

  it('gives up after its attempts with PublishFailedError, naming how many events were lost', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).callsFake(answerWith((taskId) => taskId === 'task-2'));
    const publisher = new EventBridgePublisher(client, BUS, TYPES, 3);

    // Act
    const publishing = publisher.publish(decisions(4));
    const outcome = expect(publishing).rejects.toThrow(
      new PublishFailedError('1 event(s) could not be published'),
    );
    await vi.runAllTimersAsync();

    // Assess
    await outcome;
    expect(sentBatches()).toEqual([['task-0', 'task-1', 'task-2', 'task-3'], ['task-2'], ['task-2']]);
  });

  it('makes exactly as many attempts as it was configured with', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).callsFake(answerWith(() => true));
    const publisher = new EventBridgePublisher(client, BUS, TYPES, 1);

    // Act
    const outcome = expect(publisher.publish(decisions(2))).rejects.toBeInstanceOf(PublishFailedError);
    await vi.runAllTimersAsync();

    // Assess
    await outcome;
    expect(eventBridge).toReceiveCommandTimes(PutEventsCommand, 1);
  });

  it('refuses an invalid detail by its schema before sending anything, even the valid events', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).callsFake(answerWith(() => false));
    const publisher = new EventBridgePublisher(client, BUS, TYPES);
    const invalid = {
      type: 'route_decision',
      detail: { ...detailOf('route_decision'), tenantId: undefined },
    } as unknown as ConductorEvent;

    // Act
    const attempt = publisher.publish([...decisions(3), invalid]);

    // Assess
    await expect(attempt).rejects.toThrow('tenantId');
    expect(eventBridge).not.toReceiveAnyCommand();
  });

  it('lets an SDK failure of the call itself reach the caller', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).rejects(new Error('ThrottlingException'));
    const publisher = new EventBridgePublisher(client, BUS, TYPES);

    // Act
    const attempt = publisher.publish(decisions(1));

    // Assess
    await expect(attempt).rejects.toThrow('ThrottlingException');
  });
});
