import 'reflect-metadata'; // @peculiar/x509 uses tsyringe, which needs the Reflect polyfill loaded first
import * as x509 from '@peculiar/x509';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../../../support/temp-dir';
import { certificateExpiry, renewalSchedule } from '../../../../agent/src/state/certificate-expiry';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
const AGENT_MAIN = join(__dirname, '..', '..', '..', '..', 'agent', 'src', 'main.js');

async function certificateValidUntil(notAfter: Date): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0a',
    name: 'CN=3f1c9d7e-8a51-4a0e-9c0b-1d2e3f4a5b6c',
    notBefore: new Date(notAfter.getTime() - 400 * DAY),
    notAfter,
    keys,
    signingAlgorithm: EC_P256,
  });
  return cert.toString('pem');
}

test('renewal is due once a third of the lifetime is left; the warning comes in the last 30 days or the last half of that window', () => {
  const year = renewalSchedule(new Date('2027-01-01T00:00:00Z'), new Date('2027-12-27T00:00:00Z')); // 360 days
  assert.equal(year.renewAt.toISOString(), '2027-08-29T00:00:00.000Z'); // 120 days before the end
  assert.equal(year.warnAt.toISOString(), '2027-11-27T00:00:00.000Z'); // 30 days before the end
  const short = renewalSchedule(new Date(0), new Date(30_000));
  assert.equal(short.renewAt.getTime(), 20_000);
  assert.equal(short.warnAt.getTime(), 25_000);
});

test('a certificate with more than a third of its lifetime left is valid and carries no warning', async () => {
  const now = new Date('2027-01-01T00:00:00Z');
  const sut = certificateExpiry(await certificateValidUntil(new Date(now.getTime() + 200 * DAY)), now);
  assert.equal(sut.state, 'valid');
  assert.equal(sut.daysLeft, 200);
  assert.equal(sut.expiresAt, '2027-07-20T00:00:00.000Z');
  assert.equal(sut.warning, null);
});

test('with less than a third left renewal is due, still without a warning', async () => {
  const now = new Date('2027-01-01T00:00:00Z');
  const sut = certificateExpiry(await certificateValidUntil(new Date(now.getTime() + 90 * DAY)), now);
  assert.equal(sut.state, 'renewal due');
  assert.ok(Date.parse(sut.renewAt) < now.getTime());
  assert.equal(sut.warning, null);
});

test('under 30 days left (renewal has not succeeded) it warns and says what to do', async () => {
  const now = new Date('2027-01-01T00:00:00Z');
  const sut = certificateExpiry(await certificateValidUntil(new Date(now.getTime() + 12 * DAY + 3_600_000)), now);
  assert.equal(sut.state, 'expiring');
  assert.equal(sut.daysLeft, 12);
  assert.match(sut.warning ?? '', /expires on 2027-01-13T01:00:00\.000Z \(in 12 day\(s\)\) and automatic renewal \(due since .*\) has not succeeded/);
  assert.match(sut.warning ?? '', /once it has expired, re-enroll/);
});

test('an expired certificate says so', async () => {
  const now = new Date('2027-01-01T00:00:00Z');
  const sut = certificateExpiry(await certificateValidUntil(new Date(now.getTime() - 2 * DAY)), now);
  assert.equal(sut.state, 'expired');
  assert.ok(sut.daysLeft < 0);
  assert.match(sut.warning ?? '', /expired on 2026-12-30/);
});

test('mamori-agent status shows the certificate expiry and warns when it is near', async (t) => {
  const temp = makeTempDir('mamori-status-cert-');
  t.after(() => temp.cleanup());
  const stateDir = join(temp.path, 'state');
  mkdirSync(stateDir, { mode: 0o700 });
  writeFileSync(join(stateDir, 'agent.json'), JSON.stringify({ agentId: '3f1c9d7e-8a51-4a0e-9c0b-1d2e3f4a5b6c', server: 'collector:50051', enrolledAt: '2026-01-01T00:00:00Z' }));
  const expires = new Date(Date.now() + 10 * DAY);
  writeFileSync(join(stateDir, 'agent.crt'), await certificateValidUntil(expires));

  const json = spawnSync(process.execPath, [AGENT_MAIN, 'status', '--state-dir', stateDir, '--json'], { encoding: 'utf8' });
  assert.equal(json.status, 0, json.stderr);
  const report = JSON.parse(json.stdout);
  assert.equal(report.certificate.state, 'expiring');
  assert.equal(new Date(report.certificate.expiresAt).getTime(), Math.floor(expires.getTime() / 1000) * 1000);
  assert.match(report.certificate.warning, /automatic renewal .* has not succeeded/);
  assert.equal(report.renewal, null, 'no daemon runs, so nothing is known about renewal attempts');

  const text = spawnSync(process.execPath, [AGENT_MAIN, 'status', '--state-dir', stateDir], { encoding: 'utf8' });
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^certificate: +expires \S+ \((9|10) day\(s\) left\); renewed automatically from \S+$/m);
  assert.match(text.stdout, /^renewal: +unknown \(the daemon is not running\)$/m);
  assert.match(text.stdout, /^WARNING: the client certificate expires on .* automatic renewal .* has not succeeded/m);
});
