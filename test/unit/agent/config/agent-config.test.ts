import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadAgentConfig } from '../../../../agent/src/config/agent-config';
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
