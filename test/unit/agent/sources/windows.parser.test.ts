import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { decodeWindowsText, parseFormatList, parseFormatTable, parseWmicList } from '../../../../agent/src/sources/usb/parsers/windows-list.parser';
import {
  parseConvertToJsonList,
  parsePnpDeviceId,
  windowsDiskDriveFromRecord,
  windowsPnpDeviceFromRecord,
  windowsUsbDevices,
} from '../../../../agent/src/sources/usb/parsers/windows.parser';

/** The fixtures folder, found upwards from the compiled test (dist/ may live anywhere), else from the working directory. */
function fixturesDir(platform: string): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'test', 'fixtures', platform))) return join(dir, 'test', 'fixtures', platform);
  }
  return join(process.cwd(), 'test', 'fixtures', platform);
}
const fixtures = fixturesDir('windows');
const fixture = (name: string) => readFileSync(join(fixtures, name));

test('Format-List capture of Win32_DiskDrive: three disks, only the Sony stick is on USB', () => {
  const records = parseFormatList(fixture('get-wmiobject-win32_diskdrive-select-usb-sony.txt').toString('utf8'));
  assert.equal(records.length, 3);
  const disks = records.map(windowsDiskDriveFromRecord);
  assert.deepEqual(
    disks.map((d) => [d.model, d.interfaceType, d.sizeBytes, d.partitions]),
    [
      ['Sony Storage Media USB Device', 'USB', 15512878080n, 1],
      ['Samsung SSD 850 EVO 120GB', 'IDE', 120031511040n, 1],
      ['TS128GSSD370S', 'IDE', 128034708480n, 3],
    ],
  );
  // The capture selected no PNPDeviceID, so the stick is reported from the disk alone.
  const usb = windowsUsbDevices([], disks);
  assert.equal(usb.length, 1);
  assert.equal(usb[0].device.product, 'Sony Storage Media');
  assert.deepEqual(usb[0].device.interfaceClasses, [8]);
  assert.equal(usb[0].blockDevices[0].sizeBytes, '15512878080');
});

test('Format-List capture of a USBSTOR Win32_PnPEntity on Chinese Windows: identity from the id, not the translated text', () => {
  const records = parseFormatList(fixture('get-wmiobject-win32_pnpentity-usbstor-sandisk-zh.txt').toString('utf8'));
  assert.equal(records.length, 1);
  const [record] = records;
  assert.equal(record.Description, '磁盘驱动器');
  assert.equal(record.PNPClass, 'DiskDrive');
  assert.equal(record.Availability, '');
  // A value wider than the console continues on an indented line in Format-List; here each fits on one.
  assert.match(record.HardwareID, /^\{USBSTOR\\DiskSanDisk_Sandisk_Ultra___PMAP, .*\.\.\.\}$/);
  const pnp = windowsPnpDeviceFromRecord(record);
  assert.equal(pnp.className, 'DiskDrive');
  const id = parsePnpDeviceId(pnp.instanceId);
  assert.deepEqual(id, {
    enumerator: 'USBSTOR',
    hardware: 'DISK&VEN_SANDISK&PROD_SANDISK_ULTRA&REV_PMAP',
    instance: 'A20054F50D478A23&0',
    vendorId: null,
    productId: null,
    interfaceNumber: null,
    scsiVendor: 'SANDISK',
    scsiProduct: 'SANDISK_ULTRA',
    scsiRevision: 'PMAP',
    serial: 'A20054F50D478A23',
  });
});

test('Format-List continuation lines are joined to their value', () => {
  const records = parseFormatList('\r\nName  : a long\r\n        value\r\nOther : x\r\n\r\nName  : b\r\n');
  assert.deepEqual(records, [{ Name: 'a longvalue', Other: 'x' }, { Name: 'b' }]);
  assert.throws(() => parseFormatList('  stray indented text\n'), /not a Format-List line/);
});

test('Format-Table capture of Get-PhysicalDisk: left-aligned cells wider than their rule and right-aligned numbers', () => {
  const rows = parseFormatTable(fixture('get-physicaldisk-table-usb-unspecified.txt').toString('utf8'));
  assert.deepEqual(rows, [
    { DeviceID: '0', MediaType: 'SSD', OperationalStatus: 'OK', Size: '128035676160' },
    { DeviceID: '2', MediaType: 'Unspecified', OperationalStatus: 'OK', Size: '15518924800' },
    { DeviceID: '1', MediaType: 'SSD', OperationalStatus: 'OK', Size: '120034123776' },
  ]);
  assert.throws(() => parseFormatTable('no table here\n'), /no Format-Table header rule/);
});

test('UTF-16LE wmic list capture in French: decoded, &amp; unescaped, an internal NVMe disk that is not USB', () => {
  const bytes = fixture('wmic-win32_diskdrive-nvme-fr.utf16le.txt');
  assert.deepEqual([bytes[0], bytes[1]], [0xff, 0xfe]);
  const text = decodeWindowsText(bytes);
  assert.ok(!text.startsWith('\uFEFF'));
  const records = parseWmicList(text);
  assert.equal(records.length, 1);
  const [record] = records;
  assert.equal(record.Description, 'Lecteur de disque');
  assert.equal(record.PNPDeviceID, 'SCSI\\DISK&VEN_NVME&PROD_KXG50ZNV512G_NVM\\5&370C8BDE&0&000000');
  const disk = windowsDiskDriveFromRecord(record);
  assert.deepEqual([disk.deviceId, disk.interfaceType, disk.sizeBytes, disk.serialNumber], ['\\\\.\\PHYSICALDRIVE0', 'SCSI', 512105932800n, '0000_A5B0_0000_0010_0008_0E02_0037_E465.']);
  assert.deepEqual(windowsUsbDevices([], [disk]), []);
  // Windows generated this instance id ("5&…"): there is no serial in it.
  assert.equal(parsePnpDeviceId(disk.pnpDeviceId)!.serial, '');
});

test('decodeWindowsText: UTF-16LE without a BOM, UTF-8 with and without one', () => {
  assert.equal(decodeWindowsText(Buffer.from('Size=1\r\n', 'utf16le')), 'Size=1\r\n');
  assert.equal(decodeWindowsText(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('磁盘', 'utf8')])), '磁盘');
  assert.equal(decodeWindowsText(Buffer.from('Model : x', 'utf8')), 'Model : x');
});

test('PnP ids: USB devices with VID/PID and serial, generated instance ids, composite functions, malformed ids', () => {
  const stick = parsePnpDeviceId('USB\\VID_0781&PID_5567\\4C530001230714117250');
  assert.deepEqual([stick?.enumerator, stick?.vendorId, stick?.productId, stick?.serial, stick?.interfaceNumber], ['USB', 0x0781, 0x5567, '4C530001230714117250', null]);
  const noSerial = parsePnpDeviceId('USB\\VID_090C&PID_1000\\6&1A2B3C4D&0&2');
  assert.equal(noSerial?.serial, '');
  const fn = parsePnpDeviceId('USB\\VID_046D&PID_C52B&MI_01\\7&2D7A3E&0&0001');
  assert.equal(fn?.interfaceNumber, 1);
  const hid = parsePnpDeviceId('HID\\VID_0781&PID_5567&MI_01\\8&1&0&0000');
  assert.deepEqual([hid?.enumerator, hid?.vendorId, hid?.productId], ['HID', 0x0781, 0x5567]);
  assert.equal(parsePnpDeviceId('USB\\ROOT_HUB30\\4&1B2C3D&0&0')?.vendorId, null);
  assert.equal(parsePnpDeviceId('not an id'), null);
  assert.equal(parsePnpDeviceId('USB\\\\x'), null);
});

test('ConvertTo-Json: nothing, one bare object, or an array', () => {
  assert.deepEqual(parseConvertToJsonList(''), []);
  assert.deepEqual(parseConvertToJsonList('\uFEFF{"A":  1}'), [{ A: 1 }]);
  assert.deepEqual(parseConvertToJsonList('[{"A":1},{"A":2}]'), [{ A: 1 }, { A: 2 }]);
  assert.throws(() => parseConvertToJsonList('Get-CimInstance : Access denied'));
});

// The JSON below is built from the values of the captured SanDisk USBSTOR record above
// (PowerShell 5.1's ConvertTo-Json layout: two spaces after each colon, one object bare);
// no captured ConvertTo-Json of Win32_DiskDrive exists in shared/fixtures.
const sandiskDiskJson = `{
    "DeviceID":  "\\\\\\\\.\\\\PHYSICALDRIVE1",
    "Model":  "SanDisk Sandisk Ultra USB Device",
    "InterfaceType":  "USB",
    "PNPDeviceID":  "USBSTOR\\\\DISK\\u0026VEN_SANDISK\\u0026PROD_SANDISK_ULTRA\\u0026REV_PMAP\\\\A20054F50D478A23\\u00260",
    "SerialNumber":  "A20054F50D478A23",
    "Size":  15512878080,
    "Partitions":  1,
    "ParentInstanceId":  "USB\\\\VID_0781\\u0026PID_5581\\\\A20054F50D478A23",
    "Volumes":  {
                    "DeviceID":  "E:",
                    "FileSystem":  "FAT32",
                    "VolumeName":  "SANDISK",
                    "Size":  15504588800
                }
}`;

test('JSON views: the disk joins its USB parent (by parent id, or by serial without one), gets class 8, its model and drive letter', () => {
  const disks = parseConvertToJsonList(sandiskDiskJson).map(windowsDiskDriveFromRecord);
  const pnp = [
    { InstanceId: 'USB\\VID_0781&PID_5581\\A20054F50D478A23', Class: 'USB', FriendlyName: 'USB 大容量存储设备' },
    { InstanceId: 'USB\\ROOT_HUB30\\4&2A1B&0&0', Class: 'USB', FriendlyName: 'USB 根集线器(USB 3.0)' },
    { InstanceId: 'USB\\VID_046D&PID_C52B\\5&3A2B&0&3', Class: 'USB', FriendlyName: 'USB Composite Device' },
    { InstanceId: 'USB\\VID_046D&PID_C52B&MI_00\\6&1&0&0000', Class: 'USB', FriendlyName: 'USB 输入设备' },
  ].map(windowsPnpDeviceFromRecord);
  for (const withParent of [true, false]) {
    const input = withParent ? disks : disks.map((d) => ({ ...d, parentInstanceId: '' }));
    const devices = windowsUsbDevices(pnp, input);
    assert.equal(devices.length, 2, 'root hub and composite functions are not devices');
    const stick = devices.find((d) => d.device.vendorId === 0x0781)!;
    assert.deepEqual(stick.device, {
      vendorId: 0x0781,
      productId: 0x5581,
      serial: 'A20054F50D478A23',
      manufacturer: 'SANDISK',
      product: 'SanDisk Sandisk Ultra',
      interfaceClasses: [8],
      busPath: 'USB\\VID_0781&PID_5581\\A20054F50D478A23',
      descriptorHash: '',
      serialQuality: 'SERIAL_QUALITY_UNSPECIFIED',
    });
    assert.deepEqual(
      stick.blockDevices.map((b) => [b.deviceNode, b.parentNode, b.sizeBytes, b.filesystemType, b.label, b.mountPoints]),
      [
        ['\\\\.\\PHYSICALDRIVE1', '', '15512878080', '', '', []],
        ['\\\\.\\E:', '\\\\.\\PHYSICALDRIVE1', '15504588800', 'FAT32', 'SANDISK', ['E:\\']],
      ],
    );
    const receiver = devices.find((d) => d.device.vendorId === 0x046d)!;
    assert.deepEqual([receiver.device.serial, receiver.device.interfaceClasses, receiver.blockDevices], ['', [], []]);
  }
});

test('JSON views: a HID function with the storage device\'s VID/PID marks it as storage with HID', () => {
  const disks = parseConvertToJsonList(sandiskDiskJson).map(windowsDiskDriveFromRecord);
  const pnp = [
    { InstanceId: 'USB\\VID_0781&PID_5581\\A20054F50D478A23', Class: 'USB', FriendlyName: 'USB Composite Device' },
    { InstanceId: 'HID\\VID_0781&PID_5581&MI_01\\8&2F&0&0000', Class: 'HIDClass', FriendlyName: 'USB 输入设备' },
  ].map(windowsPnpDeviceFromRecord);
  const [stick] = windowsUsbDevices(pnp, disks);
  assert.deepEqual(stick.device.interfaceClasses, [3, 8]);
  // A HID device of another model changes nothing.
  const other = windowsUsbDevices([pnp[0], { ...pnp[1], instanceId: 'HID\\VID_046D&PID_C52B&MI_00\\7&1&0&0000' }], disks);
  assert.deepEqual(other[0].device.interfaceClasses, [8]);
});
