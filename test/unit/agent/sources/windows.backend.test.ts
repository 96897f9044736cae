import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandError, type CommandRunner } from '../../../../agent/src/facts/command-runner';
import { createLogger } from '../../../../agent/src/logging/logger';
import { Win32UsbBackend } from '../../../../agent/src/sources/usb/backends/win32';
import type { UsbObservation, UsbObservationSink } from '../../../../agent/src/sources/usb/usb.source';

/**
 * The backend is driven through a scripted CommandRunner: a fake of powershell.exe, not of the
 * backend. The JSON is PowerShell 5.1's ConvertTo-Json layout filled with the values of the
 * captured SanDisk USBSTOR record (test/fixtures/windows/get-wmiobject-win32_pnpentity-usbstor-sandisk-zh.txt);
 * shared/fixtures has no captured ConvertTo-Json of these classes.
 */
const STICK_DISK = `{
    "DeviceID":  "\\\\\\\\.\\\\PHYSICALDRIVE1",
    "Model":  "SanDisk Sandisk Ultra USB Device",
    "InterfaceType":  "USB",
    "PNPDeviceID":  "USBSTOR\\\\DISK\\u0026VEN_SANDISK\\u0026PROD_SANDISK_ULTRA\\u0026REV_PMAP\\\\A20054F50D478A23\\u00260",
    "SerialNumber":  "A20054F50D478A23",
    "Size":  15512878080,
    "Partitions":  1,
    "ParentInstanceId":  "USB\\\\VID_0781\\u0026PID_5581\\\\A20054F50D478A23",
    "Volumes":  [{ "DeviceID":  "E:", "FileSystem":  "FAT32", "VolumeName":  "SANDISK", "Size":  15504588800 }]
}`;
const STICK = '{ "InstanceId":  "USB\\\\VID_0781\\u0026PID_5581\\\\A20054F50D478A23", "Class":  "USB", "FriendlyName":  "USB 大容量存储设备" }';
const MOUSE = '{ "InstanceId":  "USB\\\\VID_046D\\u0026PID_C077\\\\5\\u00263A2B\\u00260\\u00263", "Class":  "USB", "FriendlyName":  "USB 输入设备" }';
const HUB = '{ "InstanceId":  "USB\\\\ROOT_HUB30\\\\4\\u00262A1B\\u00260\\u00260", "Class":  "USB", "FriendlyName":  "USB 根集线器(USB 3.0)" }';

type Answer = string | Error;

/** Answers each PowerShell script from its own queue, in order; records every call. */
function scriptedPowershell(disks: Answer[], pnp: Answer[]) {
  const calls: { file: string; args: readonly string[]; timeoutMs: number }[] = [];
  const runner: CommandRunner = {
    async run(file, args, { timeoutMs }) {
      calls.push({ file, args, timeoutMs });
      const script = args[args.length - 1];
      const queue = script.includes('Win32_DiskDrive') ? disks : script.includes('Get-PnpDevice') ? pnp : null;
      if (queue === null) throw new Error(`unexpected command ${file} ${args.join(' ')}`);
      const answer = queue.shift();
      if (answer === undefined) throw new Error('script exhausted');
      if (answer instanceof Error) throw answer;
      return { stdout: answer, stderr: '' };
    },
  };
  return { runner, calls };
}

function collectingSink(options: { rejectNext?: number } = {}) {
  const batches: UsbObservation[][] = [];
  const unavailable: string[] = [];
  let rejects = options.rejectNext ?? 0;
  const sink: UsbObservationSink = {
    async accept(observations) {
      if (rejects > 0) {
        rejects -= 1;
        throw new Error('disk full');
      }
      batches.push(observations);
    },
    async unavailable(reason) {
      unavailable.push(reason);
    },
  };
  return { sink, batches, unavailable };
}

function summary(batch: UsbObservation[]): string[] {
  return batch.map((o) => `${o.kind} ${o.device.vendorId.toString(16)}:${o.device.productId.toString(16)}${o.kind === 'attached' && o.presentAtStart ? ' at-start' : ''}`);
}

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  return { logger: createLogger('debug', (line) => lines.push(JSON.parse(line))), lines };
}

test('Windows backend: stick present at start, then unplugged, then plugged again; capabilities say audit-only', async () => {
  const { runner, calls } = scriptedPowershell(
    [STICK_DISK, '', STICK_DISK],
    [`[${STICK}, ${MOUSE}, ${HUB}]`, `${MOUSE}`, `[${STICK}, ${MOUSE}]`],
  );
  const { logger } = capturingLogger();
  const sut = new Win32UsbBackend({ logger, runner });
  const { sink, batches } = collectingSink();

  await sut.pollOnce(sink);
  assert.deepEqual(summary(batches[0]), ['attached 781:5581 at-start', 'storage 781:5581', 'attached 46d:c077 at-start']);
  const storage = batches[0][1];
  assert.equal(storage.kind, 'storage');
  if (storage.kind === 'storage') {
    assert.deepEqual(
      storage.blockDevices.map((b) => [b.deviceNode, b.mountPoints, b.filesystemType]),
      [
        ['\\\\.\\PHYSICALDRIVE1', [], ''],
        ['\\\\.\\E:', ['E:\\'], 'FAT32'],
      ],
    );
  }
  const stick = batches[0][0].device;
  assert.deepEqual([stick.serial, stick.serialQuality, stick.interfaceClasses, stick.product], ['A20054F50D478A23', 'SERIAL_QUALITY_PRESENT', [8], 'SanDisk Sandisk Ultra']);
  assert.equal(batches[0][2].device.serialQuality, 'SERIAL_QUALITY_EMPTY', 'a generated instance id means no serial');

  await sut.pollOnce(sink);
  assert.deepEqual(summary(batches[1]), ['detached 781:5581']);
  assert.equal(batches[1][0].device.serial, 'A20054F50D478A23', 'the detached device is the one that was attached');
  assert.deepEqual(sut.attached().map((d) => d.productId), [0xc077]);

  await sut.pollOnce(sink);
  assert.deepEqual(summary(batches[2]), ['attached 781:5581', 'storage 781:5581']);

  assert.equal(calls.length, 6);
  for (const call of calls) {
    assert.equal(call.file, 'powershell.exe');
    assert.deepEqual(call.args.slice(0, 2), ['-NoProfile', '-NonInteractive']);
    assert.match(call.args[call.args.length - 1], /ConvertTo-Json/);
    assert.ok(!call.args[call.args.length - 1].includes('"'), 'no double quotes for Windows argument quoting to mangle');
  }
  assert.deepEqual(sut.capabilities(), [
    { name: 'usb.detect', available: true, reason: '' },
    { name: 'usb.block', available: false, reason: 'audit-only on Windows in this version' },
    { name: 'usb.read_only', available: false, reason: 'audit-only on Windows in this version' },
  ]);
});

test('Windows backend: a timed-out or unreadable query is logged and shown in status, and the last view is kept', async () => {
  const { runner } = scriptedPowershell(
    [STICK_DISK, new CommandError('powershell.exe did not finish within 30000 ms', 'timeout'), STICK_DISK, STICK_DISK],
    [`[${STICK}, ${MOUSE}]`, 'Get-PnpDevice : Zugriff verweigert', `[${STICK}, ${MOUSE}]`],
  );
  const { logger, lines } = capturingLogger();
  const sut = new Win32UsbBackend({ logger, runner });
  const { sink, batches } = collectingSink();

  await sut.pollOnce(sink);
  assert.equal(batches.length, 1);

  await sut.pollOnce(sink); // disks query times out
  assert.equal(batches.length, 1, 'nothing reported: no device may read as detached because a command failed');
  assert.equal(sut.attached().length, 2);
  assert.deepEqual(sut.capabilities()[0], { name: 'usb.detect', available: false, reason: 'powershell.exe did not finish within 30000 ms' });
  assert.ok(lines.some((l) => l.level === 'warn' && l.reason === 'timeout' && String(l.error).includes('did not finish')));

  await sut.pollOnce(sink); // PnP answer is not JSON
  assert.equal(batches.length, 1);
  assert.equal(sut.attached().length, 2);
  assert.equal(sut.capabilities()[0].available, false);
  assert.ok(lines.some((l) => l.level === 'warn' && l.reason === 'unreadable'));

  await sut.pollOnce(sink); // works again, nothing changed
  assert.equal(batches.length, 1);
  assert.deepEqual(sut.capabilities()[0], { name: 'usb.detect', available: true, reason: '' });
  assert.ok(lines.some((l) => l.level === 'info' && l.msg === 'USB snapshot works again'));
});

test('Windows backend: observations the sink did not take are offered again; missing PowerShell is reported unavailable once', async () => {
  const { runner } = scriptedPowershell([STICK_DISK, STICK_DISK], [`[${STICK}]`, `[${STICK}]`]);
  const sut = new Win32UsbBackend({ logger: capturingLogger().logger, runner });
  const { sink, batches } = collectingSink({ rejectNext: 1 });
  await sut.pollOnce(sink);
  assert.equal(batches.length, 0);
  assert.deepEqual(sut.attached(), []);
  await sut.pollOnce(sink);
  assert.deepEqual(summary(batches[0]), ['attached 781:5581 at-start', 'storage 781:5581']);

  const missing = new CommandError('powershell.exe is not installed', 'not-found');
  const gone = new Win32UsbBackend({ logger: capturingLogger().logger, runner: scriptedPowershell([missing, missing], []).runner });
  const second = collectingSink();
  await gone.pollOnce(second.sink);
  await gone.pollOnce(second.sink);
  assert.equal(second.unavailable.length, 1);
  assert.match(second.unavailable[0], /powershell\.exe is not installed/);
  assert.equal(second.batches.length, 0);
});

test('Windows backend: start polls until stop, and stop ends the loop', async () => {
  const answers = Array.from({ length: 50 }, () => `[${STICK}]`);
  const { runner, calls } = scriptedPowershell(Array.from({ length: 50 }, () => STICK_DISK), answers);
  const sut = new Win32UsbBackend({ logger: capturingLogger().logger, runner, pollMs: 5 });
  const { sink, batches } = collectingSink();
  await sut.start(sink);
  const deadline = Date.now() + 5_000;
  while (calls.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await sut.stop();
  const after = calls.length;
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(after >= 6, 'polled repeatedly');
  assert.equal(calls.length, after, 'no command after stop');
  assert.equal(batches.length, 1, 'an unchanged bus reports nothing after the first snapshot');
});
