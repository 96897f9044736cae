import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { linuxFacts } from '../../../../agent/src/facts/backends/linux';
import { win32Facts } from '../../../../agent/src/facts/backends/win32';
import { collectHostFacts } from '../../../../agent/src/facts/host-facts';
import { cleanHardwareValue, parseIoregHardware } from '../../../../agent/src/facts/parsers/hardware.parser';
import type { CommandRunner } from '../../../../agent/src/facts/command-runner';
import { makeTempDir } from '../../../support/temp-dir';

const noCommands: CommandRunner = { run: async () => ({ stdout: '', stderr: '' }) };

test('Linux hardware identity from SMBIOS in sysfs; firmware placeholders read as unknown', async (t) => {
  const temp = makeTempDir();
  t.after(() => temp.cleanup());
  const dmi = join(temp.path, 'class/dmi/id');
  mkdirSync(dmi, { recursive: true });
  writeFileSync(join(dmi, 'sys_vendor'), 'LENOVO\n');
  writeFileSync(join(dmi, 'product_name'), '21CBCTO1WW\n');
  writeFileSync(join(dmi, 'product_serial'), 'PF3XK2AB\n');
  const facts = linuxFacts(noCommands, [], temp.path);
  const collected = await collectHostFacts(facts);
  assert.deepEqual([collected.host.hardwareSerial, collected.host.hardwareModel, collected.host.hardwareVendor], ['PF3XK2AB', '21CBCTO1WW', 'LENOVO']);

  writeFileSync(join(dmi, 'product_serial'), 'To Be Filled By O.E.M.\n');
  writeFileSync(join(dmi, 'board_serial'), 'Default string\n');
  assert.equal((await facts.hardware!()).hardware.serial, '', 'placeholders are not serials');

  const bare = await linuxFacts(noCommands, [], join(temp.path, 'nothing')).hardware!();
  assert.deepEqual(bare.hardware, { serial: '', model: '', vendor: '' });
  assert.match(bare.problems[0]!, /no SMBIOS/);
});

test('placeholder values and ioreg properties', () => {
  for (const v of ['System Serial Number', '0123456789', 'Not Specified', '00000000', '  ', 'None']) assert.equal(cleanHardwareValue(v), '', v);
  assert.equal(cleanHardwareValue(' C02XK1ABJG5H \n'), 'C02XK1ABJG5H');
  const ioreg = '+-o J316sAP  <class IOPlatformExpertDevice, id 0x100000210>\n    {\n      "IOPlatformSerialNumber" = "C02XK1ABJG5H"\n      "model" = <"MacBookPro18,3">\n      "manufacturer" = <"Apple Inc.">\n    }\n';
  assert.deepEqual(parseIoregHardware(ioreg), { serial: 'C02XK1ABJG5H', model: 'MacBookPro18,3', vendor: 'Apple Inc.' });
});

test('Windows hardware identity through CIM; the BIOS serial stands in for a placeholder product number; a refusal is a problem', async () => {
  const answer = (stdout: string | Error): CommandRunner => ({
    run: async (_file, _args, { timeoutMs }) => {
      assert.ok(timeoutMs > 0);
      if (stdout instanceof Error) throw stdout;
      return { stdout, stderr: '' };
    },
  });
  const ok = await win32Facts(answer('{\r\n    "Vendor":  "HP",\r\n    "Name":  "HP EliteBook 840 G8",\r\n    "IdentifyingNumber":  "Default string",\r\n    "BiosSerial":  "5CG1234XYZ"\r\n}\r\n')).hardware!();
  assert.deepEqual(ok.hardware, { serial: '5CG1234XYZ', model: 'HP EliteBook 840 G8', vendor: 'HP' });
  const refused = await win32Facts(answer(new Error('powershell.exe did not finish within 20000 ms'))).hardware!();
  assert.match(refused.problems[0]!, /hardware identity: powershell.exe did not finish/);
});
