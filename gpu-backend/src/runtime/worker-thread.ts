// The ORT worker thread's entry (started by OrtHost, worker-host.ts): holds LocalSessions and answers
// load, run and dispose messages, transferring output buffers back. Built to dist/worker-thread.js.
import { parentPort, workerData } from 'node:worker_threads';
import { setLogLevel } from '../log.ts';
import { LocalSession } from './local-session.ts';
import { type HostReply, type HostRequest, transferList, type WorkerData } from './worker-protocol.ts';

const port = parentPort;
if (port === null) throw new Error('worker-thread.ts must run in a worker thread');
setLogLevel((workerData as WorkerData).logLevel);

const sessions = new Map<number, LocalSession>();

async function handle(request: HostRequest): Promise<{ result: unknown; transfer: ArrayBuffer[] }> {
  switch (request.op) {
    case 'load': {
      const session = await LocalSession.create(request.path, request.label, request.config);
      sessions.set(request.id, session);
      return {
        result: {
          id: request.id,
          inputNames: session.inputNames,
          outputNames: session.outputNames,
          providers: session.providers,
        },
        transfer: [],
      };
    }
    case 'run': {
      const session = sessions.get(request.session);
      if (session === undefined) throw new Error(`no session ${request.session} in this worker`);
      const outputs = await session.run(request.feeds);
      return { result: outputs, transfer: transferList(outputs) };
    }
    case 'dispose': {
      await sessions.get(request.session)?.dispose();
      sessions.delete(request.session);
      return { result: null, transfer: [] };
    }
  }
}

port.on('message', (request: HostRequest) => {
  handle(request).then(
    ({ result, transfer }) =>
      port.postMessage({ id: request.id, ok: true, result } satisfies HostReply, transfer),
    (error: unknown) => {
      const e = error instanceof Error ? error : new Error(String(error));
      port.postMessage({
        id: request.id,
        ok: false,
        error: { name: e.name, message: e.message },
      } satisfies HostReply);
    },
  );
});
