import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { diskutilBlockDevice, diskutilEncryption, parseDiskutilInfoPlist } from '../../../../agent/src/sources/usb/parsers/macos-diskutil.parser';
import { parseXmlPlist } from '../../../../agent/src/sources/usb/parsers/macos-plist.parser';
import {
  macLocationToBusPath,
  parseMacUsbId,
  parseSystemProfilerUsbJson,
  parseSystemProfilerUsbXml,
} from '../../../../agent/src/sources/usb/parsers/macos-system-profiler.parser';

/** The fixtures folder, found upwards from the compiled test (dist/ may live anywhere), else from the working directory. */
function fixturesDir(platform: string): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'test', 'fixtures', platform))) return join(dir, 'test', 'fixtures', platform);
  }
  return join(process.cwd(), 'test', 'fixtures', platform);
}
const fixture = (name: string) => readFileSync(join(fixturesDir('macos'), name), 'utf8');

test('system_profiler -json: every device under the buses and hubs, the SanDisk SSD with its media and volumes', () => {
  const devices = parseSystemProfilerUsbJson(fixture('system_profiler-SPUSBDataType-json-sandisk-extreme-ssd.json'));
  // 6 buses hold 28 devices (hubs included); the buses themselves are not devices.
  assert.equal(devices.length, 28);
  const storage = devices.filter((d) => d.media.length > 0);
  assert.equal(storage.length, 1);
  const [ssd] = storage;
  assert.deepEqual(ssd.device, {
    vendorId: 0x0781,
    productId: 0x558c,
    serial: '************************',
    manufacturer: 'SanDisk',
    product: 'Extreme SSD',
    interfaceClasses: [8],
    busPath: '2-3.2',
    descriptorHash: '',
    serialQuality: 'SERIAL_QUALITY_UNSPECIFIED',
  });
  assert.deepEqual(ssd.media, [
    {
      bsdName: 'disk2',
      sizeBytes: 1000204140544n,
      removable: false,
      volumes: [
        { bsdName: 'disk2s1', name: 'EFI', fileSystem: 'MS-DOS FAT32', mountPoint: '', sizeBytes: 209715200n },
        { bsdName: 'disk2s2', name: 'disk2s2', fileSystem: '', mountPoint: '', sizeBytes: 999994384384n },
      ],
    },
  ]);
  const airpods = devices.find((d) => d.device.product === 'AirPods Max')!;
  assert.deepEqual([airpods.device.vendorId, airpods.device.productId, airpods.device.busPath, airpods.device.interfaceClasses], [0x05ac, 0x1109, '20-1', []]);
  // Trailing blanks in _name/manufacturer are trimmed.
  assert.ok(devices.some((d) => d.device.product === 'USB3.0 Hub' && d.device.manufacturer === 'VIA Labs, Inc.'));
  // T2 devices have a location id without " / address".
  assert.equal(devices.find((d) => d.device.product === 'Touch Bar Display')!.device.busPath, '128-6');
});

test('system_profiler -xml (10.12 plist with prefixed keys): flash drives with inline media and volumes', () => {
  const devices = parseSystemProfilerUsbXml(fixture('system_profiler-SPUSBDataType-xml-flashdrives-10.12.xml'));
  assert.equal(devices.length, 13);
  const storage = devices.filter((d) => d.media.length > 0).map((d) => ({
    id: `${d.device.vendorId.toString(16)}:${d.device.productId.toString(16)}`,
    serial: d.device.serial,
    product: d.device.product,
    manufacturer: d.device.manufacturer,
    busPath: d.device.busPath,
    disk: d.media[0].bsdName,
    removable: d.media[0].removable,
    volumes: d.media[0].volumes.map((v) => [v.bsdName, v.name, v.fileSystem, v.mountPoint, v.sizeBytes]),
  }));
  assert.deepEqual(storage, [
    {
      id: '480:a00c',
      serial: '20150123045944',
      product: 'External USB 3.0',
      manufacturer: 'TOSHIBA',
      busPath: '253-3',
      disk: 'disk3',
      removable: true,
      volumes: [
        ['disk3s2', '105', 'Journaled HFS+', '/', null],
        ['disk3s3', 'osx106', 'Journaled HFS+', '/Volumes/osx106', null],
        ['disk3s5', 'osx10.12', 'Journaled HFS+', '/Volumes/osx10.12', null],
        ['disk3s6', 'Recovery HD', 'Journaled HFS+', '', null],
      ],
    },
    { id: 'abcd:1234', serial: '1311141504461042257807', product: 'UDisk 2.0', manufacturer: 'General', busPath: '29-1.1', disk: 'disk1', removable: true, volumes: [] },
    {
      id: '5dc:a202',
      serial: 'AASOP1QMSZ0XG051',
      product: 'JumpDrive',
      manufacturer: 'Lexar',
      busPath: '93-1.2',
      disk: 'disk6',
      removable: true,
      volumes: [['disk6s1', 'Windows USB', 'MS-DOS FAT32', '/Volumes/Windows USB', null]],
    },
    { id: '11:7788', serial: '8CA13C74', product: 'Mass Storage', manufacturer: 'Generic', busPath: '93-1.3', disk: 'disk5', removable: true, volumes: [] },
    {
      id: '8644:800e',
      serial: '024279000000034C',
      product: 'USB Flash Disk',
      manufacturer: 'General',
      busPath: '93-1.1',
      disk: 'disk4',
      removable: true,
      volumes: [['disk4s1', 'USB DISK', 'MS-DOS FAT32', '/Volumes/USB DISK', null]],
    },
  ]);
  // A card reader with no card shows no disk: it is not known as storage.
  const reader = devices.find((d) => d.device.product === 'Mass Storage Device')!;
  assert.deepEqual([reader.device.interfaceClasses, reader.media], [[], []]);
});

test('system_profiler readers refuse what is not their output', () => {
  assert.throws(() => parseSystemProfilerUsbJson('{"SPBluetoothDataType": []}'), /no SPUSBDataType/);
  assert.throws(() => parseSystemProfilerUsbJson('system_profiler: command not found'), /not JSON/);
  assert.throws(() => parseSystemProfilerUsbXml('{"SPUSBDataType": []}'), /not an XML property list/);
  assert.deepEqual(parseSystemProfilerUsbJson('{"SPUSBDataType": []}'), []);
});

test('vendor ids and location ids', () => {
  assert.equal(parseMacUsbId('0x0781  (SanDisk Corporation)'), 0x0781);
  assert.equal(parseMacUsbId('apple_vendor_id'), 0x05ac);
  assert.equal(parseMacUsbId('some_vendor_id'), null);
  assert.equal(macLocationToBusPath('0x14313000 / 5'), '20-3.1.3');
  assert.equal(macLocationToBusPath('0x00100000 / 1'), '0-1');
  assert.equal(macLocationToBusPath('0x14000000'), '20');
  assert.equal(macLocationToBusPath('garbage'), '');
});

test('diskutil info -plist: the built-in SD reader on USB, whole disk, no file system, no encryption said', () => {
  const info = parseDiskutilInfoPlist(fixture('diskutil-info-plist-usb-sd-card-reader-internal.plist'));
  assert.deepEqual(info, {
    deviceIdentifier: 'disk3',
    deviceNode: '/dev/disk3',
    parentWholeDisk: 'disk3',
    wholeDisk: true,
    sizeBytes: 3980394496n,
    busProtocol: 'USB',
    internal: true,
    // No RemovableMediaOrExternalDevice/Removable key in this older plist: Ejectable decides.
    removable: true,
    ejectable: true,
    content: 'FDisk_partition_scheme',
    filesystemType: '',
    filesystemName: '',
    volumeName: '',
    mountPoint: '',
    encrypted: null,
    fileVault: null,
    locked: null,
    writable: true,
    mediaName: 'APPLE SD Card Reader Media',
  });
  assert.deepEqual(diskutilBlockDevice(info), {
    deviceNode: '/dev/disk3',
    parentNode: '',
    sizeBytes: '3980394496',
    filesystemType: '',
    label: '',
    mountPoints: [],
    encryption: undefined,
    readOnly: false,
  });
});

test('diskutil: APFS Encryption key decides the encryption state; absent means not judged', () => {
  const plist = (extra: string) =>
    `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>DeviceIdentifier</key><string>disk4s1</string><key>ParentWholeDisk</key><string>disk4</string><key>WholeDisk</key><false/><key>TotalSize</key><integer>31000000000</integer><key>FilesystemType</key><string>apfs</string><key>VolumeName</key><string>STICK</string><key>MountPoint</key><string>/Volumes/STICK</string><key>RemovableMediaOrExternalDevice</key><true/><key>Ejectable</key><false/>${extra}</dict></plist>`;
  const encrypted = parseDiskutilInfoPlist(plist('<key>Encryption</key><true/><key>FileVault</key><true/><key>Locked</key><false/><key>Writable</key><false/>'));
  const device = diskutilBlockDevice(encrypted);
  assert.deepEqual([device.deviceNode, device.parentNode, device.mountPoints, device.label, device.readOnly], ['/dev/disk4s1', '/dev/disk4', ['/Volumes/STICK'], 'STICK', true]);
  assert.equal(encrypted.removable, true, 'RemovableMediaOrExternalDevice wins over Ejectable');
  assert.deepEqual(device.encryption, { scheme: 'ENCRYPTION_SCHEME_FILEVAULT', fullyEncrypted: true, percentEncrypted: 100, protectionOn: true });
  assert.equal(diskutilEncryption(parseDiskutilInfoPlist(plist('<key>Encryption</key><false/>')))?.scheme, 'ENCRYPTION_SCHEME_NONE');
  assert.equal(diskutilEncryption(parseDiskutilInfoPlist(plist(''))), undefined);
  assert.throws(() => parseDiskutilInfoPlist('<plist version="1.0"><array/></plist>'), /no DeviceIdentifier/);
});

test('plist reader: entities, empty strings, nesting', () => {
  assert.deepEqual(parseXmlPlist('<plist version="1.0"><dict><key>a&amp;b</key><array><string></string><integer>7</integer><true/></array></dict></plist>'), {
    'a&b': ['', 7, true],
  });
  assert.throws(() => parseXmlPlist('diskutil: did not find disk9'), /not an XML property list/);
});
