import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, Socket } from 'node:net';
import { freePort } from '../../support/ports';
import { enrollAgent, policyClient, startTestCollector } from './collector-harness';

/**
 * A TCP relay that can go silent without closing anything: what a laptop that dropped off the
 * network looks like from the collector (a half-open connection). It keeps reading both sides,
 * so it sees the collector close its end, but forwards nothing once frozen.
 */
async function freezableRelay(target: number) {
  const port = await freePort();
  let frozen = false;
  const upstreamClosed: Array<Promise<void>> = [];
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    sockets.push(client, upstream);
    upstreamClosed.push(new Promise((resolve) => upstream.once('close', () => resolve())));
    client.on('data', (chunk) => void (frozen || upstream.write(chunk)));
    upstream.on('data', (chunk) => void (frozen || client.write(chunk)));
    // Once frozen, the client side must not learn anything either: no FIN, no RST.
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    upstream.on('end', () => void (frozen || client.end()));
    client.on('end', () => void (frozen || upstream.end()));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    target: `127.0.0.1:${port}`,
    freeze: () => void (frozen = true),
    upstreamClosed,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

test('the collector pings its gRPC clients and drops a half-open connection with its WatchPolicy stream', async (t) => {
  // Production pings every 60 s with a 20 s timeout; the test shortens both through the same wiring.
  const sut = await startTestCollector(t, 'sqlite', {}, { grpcKeepalive: { keepaliveTimeMs: 300, keepaliveTimeoutMs: 300 } });
  if (sut === null) return;
  const agent = await enrollAgent(t, sut);
  const relay = await freezableRelay(Number(sut.grpcTarget.split(':')[1]));
  t.after(() => relay.close());

  const stream = policyClient(t, { ...sut, grpcTarget: relay.target }, agent.credentials).watchPolicy({ knownVersion: '0', knownLineageId: '' });
  stream.on('error', () => undefined);
  t.after(() => stream.cancel());
  await new Promise((resolve) => stream.once('data', resolve));
  assert.equal(relay.upstreamClosed.length, 1, 'one connection through the relay');

  relay.freeze();
  // Bounded wait: without server keepalive nothing ever closes this connection.
  const closed = await Promise.race([
    relay.upstreamClosed[0].then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 20_000).unref()),
  ]);
  assert.equal(closed, true, 'the collector closed the connection whose pings went unanswered');
});
