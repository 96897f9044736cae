import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCollectorConfig } from '../../../server/src/config/collector-config';
import { caPinOf, generateCertificateAuthority } from '../../../server/src/modules/pki/certificate-authority';
import { completeInterruptedSwitch, PkiService } from '../../../server/src/modules/pki/pki.service';
import { makeTempDir } from '../../support/temp-dir';

/**
 * `ca switch` renames ca-next.key to ca.key and then ca-next.crt to ca.crt. A crash between the
 * two leaves the new key beside the old certificate; the next start finishes the switch instead
 * of refusing to start (which would also stop every CLI command, `ca status` included).
 */
test('a CA switch stopped between its two renames is finished at the next start', async (t) => {
  const temp = makeTempDir('mamori-switch-');
  t.after(() => temp.cleanup());
  const dataDir = join(temp.path, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  const file = (name: string) => join(dataDir, name);
  const oldCa = await generateCertificateAuthority('old CA');
  const nextCa = await generateCertificateAuthority('next CA');
  // The state after "copies made, key renamed", before the certificate's rename.
  writeFileSync(file('ca-previous.crt'), oldCa.certificatePem);
  writeFileSync(file('ca-previous.key'), oldCa.privateKeyPem, { mode: 0o600 });
  writeFileSync(file('ca.crt'), oldCa.certificatePem);
  writeFileSync(file('ca.key'), nextCa.privateKeyPem, { mode: 0o600 });
  writeFileSync(file('ca-next.crt'), nextCa.certificatePem);
  const config = loadCollectorConfig({ MAMORI_DATA_DIR: dataDir, MAMORI_SERVER_NAMES: 'localhost' });
  const logged: string[] = [];

  const pki = await PkiService.open(config, (msg) => logged.push(msg));
  assert.equal(pki.caPin, caPinOf(nextCa.certificatePem), 'the next CA signs');
  assert.equal(existsSync(file('ca-next.crt')), false);
  assert.deepEqual(pki.authorities.map((a) => [a.role, a.pin]), [['signing', caPinOf(nextCa.certificatePem)], ['previous', caPinOf(oldCa.certificatePem)]]);
  assert.ok(logged.includes('finished an interrupted CA switch: the next CA is the signing CA now'));

  // Nothing to finish: a complete rotation in progress (next CA with its key) is left alone.
  writeFileSync(file('ca-next.crt'), oldCa.certificatePem);
  writeFileSync(file('ca-next.key'), oldCa.privateKeyPem);
  completeInterruptedSwitch(config, () => assert.fail('nothing to finish'));
  assert.equal(readFileSync(file('ca.crt'), 'utf8'), nextCa.certificatePem);
});

test('a CA key that does not belong to the CA certificate stops the start naming both files', async (t) => {
  const temp = makeTempDir('mamori-switch-');
  t.after(() => temp.cleanup());
  const dataDir = join(temp.path, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  writeFileSync(join(dataDir, 'ca.crt'), (await generateCertificateAuthority('one CA')).certificatePem);
  writeFileSync(join(dataDir, 'ca.key'), (await generateCertificateAuthority('another CA')).privateKeyPem, { mode: 0o600 });
  const config = loadCollectorConfig({ MAMORI_DATA_DIR: dataDir, MAMORI_SERVER_NAMES: 'localhost' });
  await assert.rejects(PkiService.open(config), /ca\.crt and ca\.key: the CA key does not belong to the CA certificate/);
});
