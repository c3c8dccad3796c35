import { parentPort, workerData } from 'node:worker_threads';
import { CallMeter, meterCalls } from '#shared/adapters/call-meter.js';
import { serveInProcess } from '#shared/adapters/clients.js';
import { provideStandIns, type StandIns } from '#shared/ports/stand-ins.js';
import { advanceSystemClock } from '#shared/ports/system.js';
import { LocalPublicKeys } from '../../functions/runbooks/offline.js';
import type { ApiWorkerData, ToMain, ToWorker } from './api-workers.js';
import { lambdaContext } from './lambda-context.js';
import { ThreadHttpHandler, type ThreadSdkAnswer } from './thread-transport.js';
import { FileWormStore } from './worm-store.js';

/**
 * One API worker thread of the embedded runtime (infra/local/api-workers.ts): the API functions'
 * handler modules, imported afresh in this thread as a Lambda instance has its own, invoked with the
 * gateway's events. Their AWS calls go to the main thread's stand-ins (thread-transport.ts); the
 * stand-ins no AWS API covers are the same folders as the main thread's, and the approval flow is
 * asked of the main thread, which runs its interpreter.
 */
const port = parentPort;
if (!port) throw new Error('api-worker.ts runs in a worker thread.');
const data = workerData as ApiWorkerData;
const post = (message: ToMain) => port.postMessage(message);

const sdkPending = new Map<number, { resolve: (answer: ThreadSdkAnswer) => void }>();
const flowPending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
let flowIds = 0;
const askFlow = (method: 'start' | 'sendTaskSuccess' | 'sendTaskFailure', args: unknown[]) =>
  new Promise<unknown>((resolve, reject) => {
    flowIds += 1;
    flowPending.set(flowIds, { resolve, reject });
    post({ type: 'flow', id: flowIds, method, args });
  });

const handlers = new Map<string, (event: unknown, context: unknown) => Promise<unknown>>();

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'sdk-answer':
      sdkPending.get(message.id)?.resolve(message);
      sdkPending.delete(message.id);
      return;
    case 'flow-answer': {
      const pending = flowPending.get(message.id);
      flowPending.delete(message.id);
      if (message.error !== undefined) pending?.reject(new Error(message.error));
      else pending?.resolve(message.value);
      return;
    }
    case 'clock':
      advanceSystemClock(message.ms);
      return;
    case 'invoke': {
      const handler = handlers.get(message.functionName);
      if (!handler) {
        post({ type: 'result', id: message.id, error: `no function ${message.functionName} here` });
        return;
      }
      const meter = message.meter ? new CallMeter() : undefined;
      const invoke = () =>
        handler(message.event, lambdaContext(`conductor-${message.functionName}`, message.timeoutMs));
      (meter ? meterCalls(meter, invoke) : invoke()).then(
        (value) =>
          post({ type: 'result', id: message.id, value, ...(meter ? { calls: meter.lines() } : {}) }),
        (error: unknown) =>
          post({
            type: 'result',
            id: message.id,
            error: String(error),
            ...(meter ? { calls: meter.lines() } : {}),
          }),
      );
      return;
    }
  }
});

for (const origin of data.origins) serveInProcess(origin, new ThreadHttpHandler(port, origin, sdkPending));
const standIns: StandIns = {
  worm: new FileWormStore(data.standIns.wormDir),
  artifacts: new FileWormStore(data.standIns.artifactsDir, { retentionDays: 0 }),
  runbookKeys: new LocalPublicKeys(data.standIns.runbookKeyDir),
  runbookKeyDir: data.standIns.runbookKeyDir,
  dsrSubjectKeyFile: data.standIns.dsrSubjectKeyFile,
  approvalFlow: {
    start: async (input, name) => (await askFlow('start', [input, name])) as { executionArn: string },
    sendTaskSuccess: async (input) => {
      await askFlow('sendTaskSuccess', [input]);
    },
    sendTaskFailure: async (input) => {
      await askFlow('sendTaskFailure', [input]);
    },
  },
};
provideStandIns(standIns);
if (data.clockOffsetMs !== 0) advanceSystemClock(data.clockOffsetMs);

for (const fn of data.functions) {
  const module = (await import(fn.url)) as {
    handler: (event: unknown, context: unknown) => Promise<unknown>;
  };
  handlers.set(fn.name, module.handler);
}
post({ type: 'ready' });
