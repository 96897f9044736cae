import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import type { HostNetworkView } from '../../../../../agent/src/core/destinations/zone-classifier';
import { hostDomain, OsNetworkBackend } from '../../../../../agent/src/sources/network/backends/os';
import { canonicalView, NetworkZoneSource, type NetworkViewBackend, type NetworkViewReading } from '../../../../../agent/src/sources/network/network-zone.source';
import { parseFakeNetworkFile } from '../../../../../agent/src/sources/network/parsers/fake-network-file';

function iface(address: string, cidr: string, family: 'IPv4' | 'IPv6', internal = false): NetworkInterfaceInfo {
  return family === 'IPv4'
    ? { address, cidr, family, internal, netmask: '255.255.255.0', mac: '02:00:00:00:00:01' }
    : { address, cidr, family, internal, netmask: 'ffff:ffff:ffff:ffff::', mac: '02:00:00:00:00:01', scopeid: 0 };
}

const INTERFACES = {
  lo: [iface('127.0.0.1', '127.0.0.1/8', 'IPv4', true), iface('::1', '::1/128', 'IPv6', true)],
  eth0: [iface('10.20.0.15', '10.20.0.15/24', 'IPv4'), iface('fd00:20::15', 'fd00:20::15/64', 'IPv6')],
};

test('os backend: interfaces without loopback, resolv.conf search and domain, the FQDN host name\'s domain; Windows reads no resolv.conf', async () => {
  const files: Record<string, string> = { '/etc/resolv.conf': 'domain dev.example.co.jp\nsearch build.example.co.jp\nnameserver 10.20.0.53\n' };
  const readTextFile = async (path: string) => {
    if (files[path] === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return files[path];
  };
  const linux = new OsNetworkBackend({ platform: 'linux', networkInterfaces: () => INTERFACES, hostname: () => 'build7.lab.example.co.jp', readTextFile });
  assert.deepEqual(await linux.read(), {
    view: { addresses: ['10.20.0.15/24', 'fd00:20::15/64'], dnsSuffixes: ['build.example.co.jp', 'dev.example.co.jp', 'lab.example.co.jp'] },
    problems: [],
  });
  const windows = new OsNetworkBackend({ platform: 'win32', networkInterfaces: () => INTERFACES, hostname: () => 'DESKTOP-7', readTextFile: () => assert.fail('no resolv.conf on Windows') });
  assert.deepEqual(await windows.read(), { view: { addresses: ['10.20.0.15/24', 'fd00:20::15/64'], dnsSuffixes: [] }, problems: [] });
  const noFile = new OsNetworkBackend({ platform: 'linux', networkInterfaces: () => ({}), hostname: () => 'vm', readTextFile: async () => Promise.reject(Object.assign(new Error('gone'), { code: 'ENOENT' })) });
  assert.deepEqual(await noFile.read(), { view: { addresses: [], dnsSuffixes: [] }, problems: [] }, 'no resolv.conf is not a problem');
  const unreadable = new OsNetworkBackend({ platform: 'darwin', networkInterfaces: () => ({}), hostname: () => 'mac', readTextFile: async () => Promise.reject(Object.assign(new Error('denied'), { code: 'EACCES' })) });
  assert.deepEqual((await unreadable.read()).problems, ['/etc/resolv.conf cannot be read: EACCES']);
  assert.deepEqual([hostDomain('build7.dev.example'), hostDomain('vm'), hostDomain('vm.'), hostDomain('.x'), hostDomain('a.b.')], ['dev.example', null, null, null, 'b']);

});

test('the os backend on this machine reads something sensible', async () => {
  const reading = await new OsNetworkBackend().read();
  assert.ok(reading.view.addresses.every((address) => !address.startsWith('127.') && address !== '::1/128'), 'no loopback');
  assert.deepEqual(reading.problems, []);
});

/** A backend whose answers the test sets, counting reads. */
class ScriptedBackend implements NetworkViewBackend {
  readonly name = 'network:scripted';
  reads = 0;
  view: HostNetworkView = { addresses: [], dnsSuffixes: [] };
  problems: string[] = [];
  gate: Promise<void> = Promise.resolve();
  async read(): Promise<NetworkViewReading> {
    this.reads++;
    await this.gate;
    return { view: { addresses: [...this.view.addresses], dnsSuffixes: [...this.view.dnsSuffixes] }, problems: this.problems };
  }
}

test('the source reports a change once, compares canonical views, and re-reads after a refresh asked during a reading', async () => {
  const backend = new ScriptedBackend();
  backend.view = { addresses: ['10.20.0.15/24'], dnsSuffixes: ['Dev.Example.'] };
  const source = new NetworkZoneSource({ backend, pollIntervalMs: 3_600_000 });
  const changes: HostNetworkView[] = [];
  source.onChange((view) => changes.push(view));
  assert.deepEqual(source.current(), { addresses: [], dnsSuffixes: [] }, 'empty before start');
  assert.deepEqual(await source.start(), { addresses: ['10.20.0.15/24'], dnsSuffixes: ['dev.example'] });
  try {
    assert.equal(changes.length, 1);
    backend.view = { addresses: ['10.20.0.15/24', '10.20.0.15/24'], dnsSuffixes: ['dev.example', '.DEV.example'] };
    assert.equal(await source.refresh(), false, 'same view once canonical');
    assert.equal(changes.length, 1);

    let open!: () => void;
    backend.gate = new Promise((resolve) => (open = resolve));
    backend.view = { addresses: ['192.168.1.20/24'], dnsSuffixes: ['office.example'] };
    const first = source.refresh();
    const second = source.refresh();
    backend.view = { addresses: ['192.168.1.21/24'], dnsSuffixes: ['office.example'] };
    open();
    backend.gate = Promise.resolve();
    assert.equal(await first, true);
    await second;
    assert.deepEqual(source.current().addresses, ['192.168.1.21/24'], 'the refresh asked during the reading read again');
    assert.equal(changes.at(-1)!.addresses[0], '192.168.1.21/24');

    const unsubscribe = source.onChange(() => {
      throw new Error('a broken listener');
    });
    backend.view = { addresses: [], dnsSuffixes: [] };
    backend.problems = ['fake network file /x cannot be read: ENOENT'];
    assert.equal(await source.refresh(), true, 'a throwing listener does not stop the others');
    assert.deepEqual(changes.at(-1), { addresses: [], dnsSuffixes: [] });
    assert.deepEqual(source.problems(), ['fake network file /x cannot be read: ENOENT']);
    unsubscribe();
  } finally {
    source.close();
  }
});

test('the source polls at its interval', async () => {
  const backend = new ScriptedBackend();
  const source = new NetworkZoneSource({ backend, pollIntervalMs: 20 });
  // The poll timer is unref'd (it must not keep the agent alive): hold the loop open meanwhile.
  const keepAlive = setTimeout(() => undefined, 10_000);
  await source.start();
  try {
    const changed = new Promise<HostNetworkView>((resolve) => source.onChange(resolve));
    backend.view = { addresses: ['10.1.2.3'], dnsSuffixes: [] };
    assert.deepEqual(await changed, { addresses: ['10.1.2.3'], dnsSuffixes: [] });
  } finally {
    source.close();
  }
  clearTimeout(keepAlive);
  const readsAtClose = backend.reads;
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(backend.reads, readsAtClose, 'no reading after close');
});

test('canonical view: sorted, unique, suffixes normalized (punycode, no leading or trailing dot), unusable suffixes dropped', () => {
  assert.deepEqual(canonicalView({ addresses: [' 10.0.0.2/24', '10.0.0.1', '10.0.0.1', ''], dnsSuffixes: ['例え.JP.', '.dev.example', 'bad..name', 'dev.example'] }), {
    addresses: ['10.0.0.1', '10.0.0.2/24'],
    dnsSuffixes: ['dev.example', 'xn--r8jz45g.jp'],
  });
});

test('fake network file: the HostNetworkView shape, strict', () => {
  assert.deepEqual(parseFakeNetworkFile('{ "addresses": ["10.20.0.15/24", "fd00:20::15"], "dnsSuffixes": ["dev.example.co.jp"] }'), {
    addresses: ['10.20.0.15/24', 'fd00:20::15'],
    dnsSuffixes: ['dev.example.co.jp'],
  });
  for (const [text, message] of [
    ['not json', /not JSON/],
    ['[]', /must hold an object/],
    ['{ "addresses": [] }', /"dnsSuffixes" must be a list of strings/],
    ['{ "addresses": [], "dnsSuffixes": [], "zone": "dev" }', /zone is not a field/],
    ['{ "addresses": ["10.0.0.300"], "dnsSuffixes": [] }', /addresses\[0\] must be an IP address/],
    ['{ "addresses": ["10.0.0.1/24/1"], "dnsSuffixes": [] }', /addresses\[0\]/],
    ['{ "addresses": [], "dnsSuffixes": [""] }', /dnsSuffixes\[0\] must be a non-empty string/],
  ] as const) {
    assert.throws(() => parseFakeNetworkFile(text), (e: unknown) => e instanceof Error && message.test(e.message), text);
  }
});
