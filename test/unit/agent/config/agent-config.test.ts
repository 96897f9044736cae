import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, defaultEgressBackend, loadAgentConfig, parseEgressProxyAddress } from '../../../../agent/src/config/agent-config';
import { resolveStateDir } from '../../../../agent/src/state/state-dir';

test('defaults follow the contract', () => {
  assert.deepEqual(loadAgentConfig({}, 'aix'), {
    usbBackend: 'unsupported',
    fakeUsbScript: undefined,
    usbEnforcement: 'auto',
    sysfsRoot: '/sys',
    heartbeatSecondsOverride: undefined,
    spoolMaxBytes: 104_857_600,
    batchSize: 500,
    batchMaxBytes: 1_048_576,
    logLevel: 'info',
    encryptionBackend: 'unsupported',
    fakeEncryptionFile: undefined,
    encryptionCheckSeconds: 300,
    transferCpuPercent: 25,
    transferConcurrency: 2,
    transferSettleMs: 1000,
    networkBackend: 'os',
    fakeNetworkFile: undefined,
    networkPollSeconds: 10,
    egressBackend: 'unsupported',
    egressProxy: undefined,
  });
  assert.equal(loadAgentConfig({ MAMORI_AGENT_BATCH_MAX_BYTES: '65536' }).batchMaxBytes, 65_536);
  for (const platform of ['linux', 'win32', 'darwin'] as const) assert.equal(loadAgentConfig({}, platform).usbBackend, platform, 'the real backend by default');
  assert.equal(loadAgentConfig({ MAMORI_AGENT_USB_BACKEND: 'unsupported' }, 'linux').usbBackend, 'unsupported');
  for (const platform of ['linux', 'win32', 'darwin'] as const) assert.equal(loadAgentConfig({}, platform).encryptionBackend, platform, 'the platform reads its own disks by default');
  assert.equal(loadAgentConfig({ MAMORI_AGENT_ENCRYPTION_BACKEND: 'fake', MAMORI_AGENT_FAKE_ENCRYPTION_FILE: '/tmp/disks.json' }).fakeEncryptionFile, '/tmp/disks.json');
});

test('bad values name the variable', () => {
  const cases: [NodeJS.ProcessEnv, RegExp][] = [
    [{ MAMORI_AGENT_USB_BACKEND: 'udev' }, /MAMORI_AGENT_USB_BACKEND/],
    [{ MAMORI_AGENT_USB_BACKEND: 'fake' }, /MAMORI_AGENT_FAKE_USB_SCRIPT/],
    [{ MAMORI_AGENT_BATCH_SIZE: '5001' }, /MAMORI_AGENT_BATCH_SIZE must be between 1 and 5000/],
    [{ MAMORI_AGENT_SPOOL_MAX_BYTES: '10MB' }, /MAMORI_AGENT_SPOOL_MAX_BYTES must be a whole number/],
    [{ MAMORI_AGENT_HEARTBEAT_SECONDS: '0' }, /MAMORI_AGENT_HEARTBEAT_SECONDS/],
    [{ MAMORI_AGENT_LOG_LEVEL: 'loud' }, /MAMORI_AGENT_LOG_LEVEL/],
    [{ MAMORI_AGENT_BATCH_MAX_BYTES: '100' }, /MAMORI_AGENT_BATCH_MAX_BYTES must be between 1024/],
    [{ MAMORI_AGENT_USB_ENFORCEMENT: 'strict' }, /MAMORI_AGENT_USB_ENFORCEMENT must be one of auto, audit-only, linux/],
    [{ MAMORI_AGENT_SYSFS_ROOT: 'sys' }, /MAMORI_AGENT_SYSFS_ROOT must be an absolute path/],
    [{ MAMORI_AGENT_ENCRYPTION_BACKEND: 'bitlocker' }, /MAMORI_AGENT_ENCRYPTION_BACKEND must be one of linux, win32, darwin, fake, unsupported/],
    [{ MAMORI_AGENT_ENCRYPTION_BACKEND: 'fake' }, /MAMORI_AGENT_FAKE_ENCRYPTION_FILE must name the JSON file/],
    [{ MAMORI_AGENT_TRANSFER_CPU_PERCENT: '0' }, /MAMORI_AGENT_TRANSFER_CPU_PERCENT must be between 1 and 6400/],
    [{ MAMORI_AGENT_TRANSFER_CONCURRENCY: 'many' }, /MAMORI_AGENT_TRANSFER_CONCURRENCY must be a whole number/],
    [{ MAMORI_AGENT_TRANSFER_SETTLE_MS: '10' }, /MAMORI_AGENT_TRANSFER_SETTLE_MS must be between 50/],
    [{ MAMORI_AGENT_ENCRYPTION_CHECK_SECONDS: '0' }, /MAMORI_AGENT_ENCRYPTION_CHECK_SECONDS must be between 1 and 86400/],
    [{ MAMORI_AGENT_NETWORK_BACKEND: 'netlink' }, /MAMORI_AGENT_NETWORK_BACKEND must be one of os, fake, got "netlink"/],
    [{ MAMORI_AGENT_NETWORK_BACKEND: 'fake' }, /MAMORI_AGENT_FAKE_NETWORK_FILE must name the JSON file/],
    [{ MAMORI_AGENT_NETWORK_POLL_SECONDS: '0' }, /MAMORI_AGENT_NETWORK_POLL_SECONDS must be between 1 and 3600/],
    [{ MAMORI_AGENT_EGRESS_BACKEND: 'iptables' }, /MAMORI_AGENT_EGRESS_BACKEND must be one of nftables, fake, unsupported, got "iptables"/],
    [{ MAMORI_AGENT_EGRESS_PROXY: '3128' }, /MAMORI_AGENT_EGRESS_PROXY must be "host:port".*no port/],
  ];
  for (const [env, message] of cases) assert.throws(() => loadAgentConfig(env), (e: unknown) => e instanceof ConfigError && message.test(e.message));
});

test('state folder: flag, then env, then root location, then XDG', () => {
  assert.equal(resolveStateDir('/x', { MAMORI_AGENT_STATE_DIR: '/y' }, true, '/home/a'), '/x');
  assert.equal(resolveStateDir(undefined, { MAMORI_AGENT_STATE_DIR: '/y' }, true, '/home/a'), '/y');
  assert.equal(resolveStateDir(undefined, {}, true, '/home/a'), '/var/lib/mamori-agent');
  assert.equal(resolveStateDir(undefined, { XDG_STATE_HOME: '/xdg' }, false, '/home/a'), '/xdg/mamori-agent');
  assert.equal(resolveStateDir(undefined, {}, false, '/home/a'), '/home/a/.local/state/mamori-agent');
});

test('network and egress: zone source backend, egress backend default by platform and user, proxy address', () => {
  const fake = loadAgentConfig({ MAMORI_AGENT_NETWORK_BACKEND: 'fake', MAMORI_AGENT_FAKE_NETWORK_FILE: ' /tmp/net.json ', MAMORI_AGENT_NETWORK_POLL_SECONDS: '2' }, 'linux', false);
  assert.deepEqual([fake.networkBackend, fake.fakeNetworkFile, fake.networkPollSeconds], ['fake', '/tmp/net.json', 2]);

  assert.equal(loadAgentConfig({}, 'linux', true).egressBackend, 'nftables', 'root on Linux programs the firewall');
  assert.equal(loadAgentConfig({}, 'linux', false).egressBackend, 'unsupported', 'without root nft cannot run');
  for (const platform of ['win32', 'darwin', 'freebsd'] as const) assert.equal(loadAgentConfig({}, platform, true).egressBackend, 'unsupported');
  assert.equal(loadAgentConfig({ MAMORI_AGENT_EGRESS_BACKEND: 'fake' }, 'darwin', false).egressBackend, 'fake');
  assert.equal(loadAgentConfig({ MAMORI_AGENT_EGRESS_BACKEND: 'unsupported' }, 'linux', true).egressBackend, 'unsupported');
  assert.equal(defaultEgressBackend('linux', true), 'nftables');

  assert.equal(loadAgentConfig({ MAMORI_AGENT_EGRESS_PROXY: '  ' }).egressProxy, undefined, 'blank is off');
  assert.deepEqual(loadAgentConfig({ MAMORI_AGENT_EGRESS_PROXY: '127.0.0.1:3128' }).egressProxy, { host: '127.0.0.1', port: 3128 });
  assert.deepEqual(parseEgressProxyAddress('[::1]:8080'), { host: '::1', port: 8080 });
  assert.deepEqual(parseEgressProxyAddress('LocalHost:3128'), { host: '127.0.0.1', port: 3128 });
  assert.deepEqual(parseEgressProxyAddress('0.0.0.0:3128'), { host: '0.0.0.0', port: 3128 });
  const refused: Array<[string, RegExp]> = [
    ['127.0.0.1', /no port/],
    ['::1:3128', /IPv6 without brackets/],
    ['127.0.0.1:0', /between 1 and 65535/],
    ['127.0.0.1:65536', /between 1 and 65535/],
    ['proxy.example.com:3128', /"proxy.example.com" is not an IP address/],
    ['[127.0.0.1]:3128', /"127.0.0.1" is not an IP address/],
    ['127.0.0.1:31a', /no port/],
  ];
  for (const [text, message] of refused) {
    assert.throws(() => parseEgressProxyAddress(text), (e: unknown) => e instanceof ConfigError && /MAMORI_AGENT_EGRESS_PROXY/.test(e.message) && message.test(e.message), text);
  }
});
