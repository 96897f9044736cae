import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CleanupScope } from '../support/cleanup-scope';
import { DATABASE_KINDS } from '../support/databases';
import { skipOrFail } from '../support/prerequisites';
import { makeTempDir } from '../support/temp-dir';
import { myNumberWithCheckDigit } from '../unit/agent/inspect/check-digits';
import { AgentUnderTest, CollectorUnderTest, attachLine, detachLine } from './support/cluster';
import { eventually } from './support/rest-client';

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** Why a real ext4 loop device cannot be made here, or null when it can. */
function loopDeviceUnavailable(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync('/dev/loop-control')) return 'no /dev/loop-control (loop driver missing)';
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const tool of ['losetup', 'mkfs.ext4', 'mount', 'umount', 'truncate']) {
    if (!dirs.some((dir) => dir !== '' && existsSync(join(dir, tool)))) return `${tool} is not installed`;
  }
  return null;
}

/**
 * The stick's volume: a real ext4 file system on a loop device, mounted here, when root allows
 * it; a plain temporary folder otherwise (said in the test output). Unmounted and detached by
 * t.after even when the test fails.
 */
function makeVolume(t: CleanupScope & { diagnostic(message: string): void }): { mountPoint: string; deviceNode: string; real: boolean } {
  const temp = makeTempDir('mamori-transfer-volume-');
  const mountPoint = join(temp.path, 'mnt');
  mkdirSync(mountPoint);
  const unavailable = loopDeviceUnavailable();
  if (unavailable !== null) {
    t.after(() => temp.cleanup());
    t.diagnostic(`no loop device (${unavailable}): the volume is a temporary folder`);
    return { mountPoint, deviceNode: '/dev/sdz1', real: false };
  }
  const image = join(temp.path, 'stick.img');
  execFileSync('truncate', ['-s', '64M', image]);
  const deviceNode = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
  let mounted = false;
  // One hook, registered before anything else can fail, in the order the undoing needs.
  t.after(() => {
    if (mounted) {
      try {
        execFileSync('umount', [mountPoint], { stdio: 'ignore' });
      } catch {
        execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
      }
    }
    try {
      execFileSync('losetup', ['-d', deviceNode], { stdio: 'ignore' });
    } catch (error) {
      console.error(`could not detach ${deviceNode}:`, error);
    }
    temp.cleanup();
  });
  execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'STICK', deviceNode]);
  execFileSync('mount', ['-t', 'ext4', deviceNode, mountPoint]);
  mounted = true;
  t.diagnostic(`the volume is ext4 on ${deviceNode}, mounted at ${mountPoint}`);
  return { mountPoint, deviceNode, real: true };
}

for (const kind of DATABASE_KINDS) {
  describe(`file transfers end to end on ${kind}`, () => {
    test('files copied onto a stick reach the collector with their SHA-256 and findings; personal data on the unencrypted volume raises the violation', async (t) => {
      const collector = await CollectorUnderTest.start(t, kind);
      if (collector === null) return;
      const agent = await AgentUnderTest.enroll(t, collector);
      const volume = makeVolume(t);
      await agent.start();
      // The only fake is the USB bus: the fake backend reports a stick whose volume is the one mounted here.
      const stick = { vendorId: '0781', productId: '5567', serial: 'E2E-TRANSFER-0001', manufacturer: 'SanDisk', product: 'Cruzer Blade', interfaceClasses: [8], busPath: '2-1' };
      agent.appendScript([
        attachLine(stick),
        JSON.stringify({
          op: 'storage',
          busPath: stick.busPath,
          blockDevices: [{ deviceNode: volume.deviceNode, sizeBytes: 64 * 1024 * 1024, filesystemType: 'ext4', label: 'STICK', mountPoints: [volume.mountPoint] }],
        }),
      ]);
      await agent.process.waitForLine(/"msg":"watching for file transfers".*"kind":"volume"/, 30_000);

      // Copied in the way a user copies: from a folder of the host onto the stick.
      const source = makeTempDir('mamori-transfer-source-');
      t.after(() => source.cleanup());
      const numbers = ['12345678901', '98765432109', '27182818284'].map(myNumberWithCheckDigit);
      const csv = `氏名,住所,マイナンバー\n${numbers.map((n, i) => `山田 花子${i},東京都千代田区${i},${n}`).join('\n')}\n`;
      const plain = 'meeting moved to Thursday\n';
      await writeFile(join(source.path, 'staff.csv'), csv);
      await writeFile(join(source.path, 'memo.txt'), plain);
      await mkdir(join(volume.mountPoint, 'hr'));
      await copyFile(join(source.path, 'staff.csv'), join(volume.mountPoint, 'hr', 'staff.csv'));
      await copyFile(join(source.path, 'memo.txt'), join(volume.mountPoint, 'memo.txt'));

      const events = await eventually('both file_transfer events in the collector', async () => {
        const page = await collector.rest.expect<{ items: Array<{ eventId: string; userName: string; payload: any }> }>(
          200, 'GET', `/api/v1/events?agentId=${agent.agentId}&kind=file_transfer`);
        return page.items.length >= 2 ? page.items : undefined;
      }, 60_000);
      assert.equal(events.length, 2, 'one event per file; lost+found and other files there at mount are not transfers');
      const byPath = new Map(events.map((e) => [e.payload.path, e.payload]));
      const staff = byPath.get('hr/staff.csv');
      assert.ok(staff, `the CSV was reported: ${JSON.stringify(events.map((e) => e.payload.path))}`);
      assert.equal(staff.sha256, sha(csv));
      assert.equal(staff.sizeBytes, String(Buffer.byteLength(csv)));
      assert.equal(staff.channel, 'TRANSFER_CHANNEL_REMOVABLE_MEDIA');
      assert.equal(staff.operation, 'FILE_OPERATION_WRITTEN');
      assert.equal(staff.destination, volume.mountPoint);
      assert.equal(staff.deviceNode, volume.deviceNode);
      assert.equal(staff.destinationEncrypted, false);
      assert.equal(staff.usbDevice.serial, stick.serial);
      assert.equal(staff.format, 'csv');
      assert.equal(staff.inspectionComplete, true);
      const myNumber = staff.findings.find((f: { kind: string }) => f.kind === 'PERSONAL_DATA_KIND_MY_NUMBER');
      assert.equal(myNumber?.count, 3);
      const memo = byPath.get('memo.txt');
      assert.equal(memo.sha256, sha(plain));
      assert.deepEqual(memo.findings, []);

      // The transfer log and the violation (the collector's transfers module).
      const transfers = await eventually('the transfers listed', async () => {
        const page = await collector.rest.expect<{ items: any[] }>(200, 'GET', `/api/v1/transfers?agentId=${agent.agentId}`);
        return page.items.length >= 2 ? page.items : undefined;
      });
      const staffRow = transfers.find((row) => row.path === 'hr/staff.csv');
      assert.equal(staffRow.sha256, sha(csv));
      assert.equal(staffRow.hasPersonalData, true);
      assert.equal(staffRow.findings.my_number, 3);
      assert.equal(staffRow.device.serial, stick.serial);
      assert.equal(transfers.find((row) => row.path === 'memo.txt').hasPersonalData, false);
      const bySha = await collector.rest.expect<{ items: any[] }>(200, 'GET', `/api/v1/transfers?sha256=${sha(csv)}`);
      assert.deepEqual(bySha.items.map((row) => row.path), ['hr/staff.csv'], 'the auditor finds the file by its hash');
      const violations = await eventually('transfer.personal_data_unencrypted', async () => {
        const page = await collector.rest.expect<{ items: any[] }>(200, 'GET', `/api/v1/violations?agentId=${agent.agentId}&rule=transfer.personal_data_unencrypted`);
        return page.items.length > 0 ? page.items : undefined;
      });
      assert.equal(violations.length, 1, 'only the file with personal data');
      assert.equal(violations[0].eventId, events.find((e) => e.payload.path === 'hr/staff.csv')!.eventId);

      // The stick leaves: the watcher stops; files written after that are not reported.
      agent.appendScript([detachLine(stick.busPath)]);
      await eventually('the detach stored', async () => ((await collector.countEvents({ agentId: agent.agentId, kind: 'usb_device_detached' })) === 1 ? true : undefined));
      await new Promise((r) => setTimeout(r, 500));
      await writeFile(join(volume.mountPoint, 'after-unplug.txt'), 'not watched any more');
      await new Promise((r) => setTimeout(r, 2_500));
      assert.equal(await collector.countEvents({ agentId: agent.agentId, kind: 'file_transfer' }), 2);
    });
  });
}
