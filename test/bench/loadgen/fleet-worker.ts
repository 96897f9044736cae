/**
 * One child process of a ForkedFleet: holds its share of the simulated agents (a Fleet) and
 * answers the parent over the IPC channel. Every message is one of WorkerRequest / WorkerReply
 * (forked-fleet.ts). When the parent goes away, the worker stops its agents and exits, so a
 * killed bench leaves no load generator behind.
 */
import type { ConnectReport } from './fleet';
import { Fleet } from './fleet';
import type { WorkerReply, WorkerRequest } from './forked-fleet';

/** New policies reach the parent in batches this often: one IPC message per agent would cost the fleet more than the agents. */
const POLICY_FLUSH_MS = 20;

function send(reply: WorkerReply): void {
  if (process.connected) process.send!(reply);
}

let fleet: Fleet | null = null;
let pendingPolicies: Array<[number, string, number]> = [];
let flushTimer: NodeJS.Timeout | null = null;

function flushPolicies(): void {
  flushTimer = null;
  if (pendingPolicies.length === 0) return;
  send({ type: 'policies', updates: pendingPolicies });
  pendingPolicies = [];
}

function shutdown(code: number): void {
  fleet?.stop();
  flushPolicies();
  // Let the closing channels send their GOAWAYs before the process ends.
  setTimeout(() => process.exit(code), 200).unref();
}

process.on('message', (message: WorkerRequest) => {
  switch (message.type) {
    case 'init': {
      fleet = new Fleet({ ...message.options, rate: 0, batch: 1, concurrency: 1 });
      fleet.onPolicy((position, version, receivedAt) => {
        pendingPolicies.push([message.firstPosition + position, String(version), receivedAt]);
        flushTimer ??= setTimeout(flushPolicies, POLICY_FLUSH_MS);
      });
      send({ type: 'ready' });
      return;
    }
    case 'connect': {
      const running = fleet!;
      running
        .connect(message.pacing, (step) => send({ type: 'step', step: { ...step } }), message.budgetMs ?? Number.POSITIVE_INFINITY)
        .then((report: ConnectReport) => send({ type: 'connected', report }))
        .catch((error: Error) => send({ type: 'failed', message: error.stack ?? String(error) }));
      return;
    }
    case 'snapshot': {
      send({ type: 'snapshot', id: message.id, counters: fleet!.counters, streamsOpen: fleet!.streamsOpen() });
      return;
    }
    case 'stop': {
      shutdown(0);
      return;
    }
  }
});

process.on('disconnect', () => shutdown(0));
send({ type: 'started' });
