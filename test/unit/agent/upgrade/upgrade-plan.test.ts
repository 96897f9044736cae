import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bundlePlatform, formatRecord, parseRecord, planUpgrade, releasesToPrune, trialDecision, type UpgradeInputs } from '../../../../agent/src/upgrade/upgrade-plan';

const SHA = 'a'.repeat(64);
const inputs = (overrides: Partial<UpgradeInputs> = {}): UpgradeInputs => ({
  target: { version: '1.1.0', artifacts: [{ platform: 'linux-x64', sha256: SHA, sizeBytes: '1000' }, { platform: 'linux-arm64', sha256: 'b'.repeat(64), sizeBytes: '900' }] },
  runningVersion: '1.0.0',
  platform: 'linux-x64',
  layoutProblem: null,
  rolledBackVersion: null,
  ...overrides,
});

test('a target other than the running version, with a bundle for this platform, is an upgrade to that bundle', () => {
  assert.deepEqual(planUpgrade(inputs()), { kind: 'upgrade', version: '1.1.0', bundle: 'mamori-agent-1.1.0-linux-x64', sha256: SHA, sizeBytes: 1000 });
  assert.deepEqual(planUpgrade(inputs({ platform: 'linux-arm64' })), { kind: 'upgrade', version: '1.1.0', bundle: 'mamori-agent-1.1.0-linux-arm64', sha256: 'b'.repeat(64), sizeBytes: 900 });
  // A downgrade is an upgrade too: the target is what the fleet runs.
  assert.equal(planUpgrade(inputs({ runningVersion: '1.2.0' })).kind, 'upgrade');
});

test('nothing to do without a target, on the target, or without a bundle for this platform', () => {
  assert.match((planUpgrade(inputs({ target: undefined })) as { reason: string }).reason, /no target/);
  assert.match((planUpgrade(inputs({ runningVersion: '1.1.0' })) as { reason: string }).reason, /running the target version 1\.1\.0/);
  assert.match((planUpgrade(inputs({ platform: 'darwin-arm64' })) as { reason: string }).reason, /no bundle for darwin-arm64/);
  assert.equal(planUpgrade(inputs({ platform: null })).kind, 'none');
});

test('an install that cannot replace itself says why; a rolled-back version is not tried again', () => {
  assert.deepEqual(planUpgrade(inputs({ layoutProblem: 'not installed by install.sh' })), { kind: 'unsupported', version: '1.1.0', reason: 'not installed by install.sh' });
  assert.deepEqual(planUpgrade(inputs({ rolledBackVersion: '1.1.0' })), { kind: 'skip-rolled-back', version: '1.1.0' });
  // Another target than the one rolled back is tried.
  assert.equal(planUpgrade(inputs({ rolledBackVersion: '1.0.5' })).kind, 'upgrade');
  // A policy without a usable digest or size is never downloaded.
  assert.equal(planUpgrade(inputs({ target: { version: '1.1.0', artifacts: [{ platform: 'linux-x64', sha256: 'xyz', sizeBytes: '1000' }] } })).kind, 'unsupported');
  assert.equal(planUpgrade(inputs({ target: { version: '1.1.0', artifacts: [{ platform: 'linux-x64', sha256: SHA, sizeBytes: '0' }] } })).kind, 'unsupported');
});

test('a version on trial confirms once connected, gives up past its deadline, else waits', () => {
  assert.equal(trialDecision({ connected: true, startedAtSeconds: 0, nowSeconds: 10_000, deadlineSeconds: 900 }), 'confirm');
  assert.equal(trialDecision({ connected: false, startedAtSeconds: 1000, nowSeconds: 1900, deadlineSeconds: 900 }), 'wait');
  assert.equal(trialDecision({ connected: false, startedAtSeconds: 1000, nowSeconds: 1901, deadlineSeconds: 900 }), 'give-up');
});

test('records round-trip as KEY=VALUE lines the boot script reads; a line break cannot inject a key', () => {
  const record = { FROM: 'mamori-agent-1.0.0-linux-x64', REASON: 'bad\nTO=evil' };
  const text = formatRecord(record);
  assert.equal(text, 'FROM=mamori-agent-1.0.0-linux-x64\nREASON=bad TO=evil\n');
  assert.deepEqual(parseRecord(text), { FROM: 'mamori-agent-1.0.0-linux-x64', REASON: 'bad TO=evil' });
});

test('pruning keeps the running and the previous release and skips partial folders', () => {
  assert.deepEqual(releasesToPrune(['a', 'b', 'c', '.d.partial'], ['b', 'c']), ['a']);
});

test('the bundle platform names match the packer targets', () => {
  assert.equal(bundlePlatform('linux', 'x64'), 'linux-x64');
  assert.equal(bundlePlatform('darwin', 'arm64'), 'darwin-arm64');
  assert.equal(bundlePlatform('win32', 'x64'), 'win-x64');
  assert.equal(bundlePlatform('linux', 'ia32'), null);
});
