import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchValidationError, validateUploadBatch } from '../../../server/src/modules/ingest/event-validation';

const BATCH_ID = '22222222-2222-4222-8222-222222222222';

function event(overrides: Record<string, unknown> = {}, device: Record<string, unknown> = {}) {
  return {
    eventId: '11111111-1111-4111-8111-111111111111',
    occurredAt: { seconds: '1740819600', nanos: 250_000_000 },
    sequence: '7',
    userName: 'alice',
    usbDeviceAttached: {
      device: { vendorId: 0x0781, productId: 0x5567, serial: 'S', manufacturer: '', product: '', interfaceClasses: [8], busPath: '1-2', descriptorHash: '', ...device },
      presentAtStart: false,
    },
    ...overrides,
  };
}

function problem(request: unknown): BatchValidationError {
  try {
    validateUploadBatch(request);
  } catch (error) {
    if (error instanceof BatchValidationError) return error;
    throw error;
  }
  throw new Error('the batch was accepted');
}

test('a valid batch is normalised: kind, epoch milliseconds, sequence as text', () => {
  const sut = validateUploadBatch({ batchId: BATCH_ID, events: [event()] });
  assert.equal(sut.batchId, BATCH_ID);
  assert.equal(sut.events[0].kind, 'usb_device_attached');
  assert.equal(sut.events[0].occurredAtMs, 1_740_819_600_250);
  assert.equal(sut.events[0].sequence, '7');
});

test('an out-of-range vendor id names the field path and the event index', () => {
  const sut = problem({ batchId: BATCH_ID, events: [event(), event(), event(), event({}, { vendorId: 70000 })] });
  assert.equal(sut.message, 'events[3].usb_device_attached.device.vendor_id: must be 0..65535, got 70000');
  assert.equal(sut.eventIndex, 3);
});

test('batch-level problems have no event index', () => {
  assert.equal(problem({ batchId: 'nope', events: [event()] }).message, 'batch_id: must be a UUID, got "nope"');
  assert.equal(problem({ batchId: BATCH_ID, events: [] }).path, 'events');
  assert.equal(problem({ batchId: BATCH_ID, events: new Array(5001).fill(event()) }).eventIndex, null);
});

test('event envelope fields are checked', () => {
  assert.equal(problem({ batchId: BATCH_ID, events: [event({ eventId: 'x' })] }).path, 'events[0].event_id');
  assert.equal(problem({ batchId: BATCH_ID, events: [event({ occurredAt: undefined })] }).message, 'events[0].occurred_at: must be set');
  assert.equal(problem({ batchId: BATCH_ID, events: [event({ sequence: '0' })] }).message, 'events[0].sequence: must be greater than 0');
  assert.equal(problem({ batchId: BATCH_ID, events: [event({ sequence: '18446744073709551615' })] }).path, 'events[0].sequence');
});

test('exactly one payload must be set', () => {
  assert.equal(problem({ batchId: BATCH_ID, events: [event({ usbDeviceAttached: undefined })] }).message, 'events[0].payload: exactly one payload must be set, got none');
  assert.match(problem({ batchId: BATCH_ID, events: [event({ agentStatus: { state: 'AGENT_STATE_STARTED' } })] }).message, /got usb_device_attached, agent_status/);
});

test('nested payload fields are checked with their proto names', () => {
  assert.equal(problem({ batchId: BATCH_ID, events: [event({}, { interfaceClasses: [8, 300] })] }).path, 'events[0].usb_device_attached.device.interface_classes[1]');
  const transfer = event({ usbDeviceAttached: undefined, fileTransfer: { sha256: 'XYZ', channel: 'TRANSFER_CHANNEL_UPLOAD' } });
  assert.equal(problem({ batchId: BATCH_ID, events: [transfer] }).path, 'events[0].file_transfer.sha256');
  const access = event({ usbDeviceAttached: undefined, destinationAccess: { ipAddress: '999.1.1.1' } });
  assert.equal(problem({ batchId: BATCH_ID, events: [access] }).path, 'events[0].destination_access.ip_address');
  const volume = event({ usbDeviceAttached: undefined, volumeMounted: { encryption: { scheme: 'ENCRYPTION_SCHEME_LUKS2', percentEncrypted: 101 } } });
  assert.equal(problem({ batchId: BATCH_ID, events: [volume] }).path, 'events[0].volume_mounted.encryption.percent_encrypted');
  const status = event({ usbDeviceAttached: undefined, agentStatus: { state: 'AGENT_STATE_BOGUS' } });
  assert.equal(problem({ batchId: BATCH_ID, events: [status] }).path, 'events[0].agent_status.state');
});

const ENFORCEMENT = {
  requestedMode: 'USB_ENFORCEMENT_MODE_BLOCK',
  appliedMode: 'USB_ENFORCEMENT_MODE_AUDIT',
  action: 'USB_ENFORCEMENT_ACTION_NOT_POSSIBLE',
  reason: 'not root',
  registerEntryId: '',
  exceptionId: '55555555-5555-4555-8555-555555555555',
  latencyMicros: '1500',
  policyVersion: '3',
  policyLineageId: '3c1b7a0e-0d57-4b7e-9a51-7c2e8f3d9b40',
};

function storageVolumes(payload: Record<string, unknown> = {}) {
  const base = event();
  return event({
    usbDeviceAttached: undefined,
    usbStorageVolumes: {
      device: base.usbDeviceAttached.device,
      blockDevices: [
        { deviceNode: '/dev/sdb', parentNode: '', sizeBytes: '16008609792' },
        { deviceNode: '/dev/sdb1', parentNode: '/dev/sdb', filesystemType: 'vfat', label: 'STICK', mountPoints: ['/media/alice/STICK'], encryption: { scheme: 'ENCRYPTION_SCHEME_NONE' }, readOnly: true },
      ],
      allDataVolumesEncrypted: false,
      enforcement: ENFORCEMENT,
      ...payload,
    },
  });
}

test('the enforcement on a UsbDeviceAttached and the serial quality are kept and checked', () => {
  const sut = validateUploadBatch({ batchId: BATCH_ID, events: [event({}, { serialQuality: 'SERIAL_QUALITY_DUPLICATED' })] });
  assert.equal((sut.events[0].payload.device as { serialQuality: string }).serialQuality, 'SERIAL_QUALITY_DUPLICATED');
  assert.equal(sut.events[0].payload.enforcement, null, 'absent enforcement is stored as null');
  const withEnforcement = event();
  (withEnforcement.usbDeviceAttached as Record<string, unknown>).enforcement = ENFORCEMENT;
  assert.deepEqual(validateUploadBatch({ batchId: BATCH_ID, events: [withEnforcement] }).events[0].payload.enforcement, ENFORCEMENT);

  assert.equal(problem({ batchId: BATCH_ID, events: [event({}, { serialQuality: 'SERIAL_QUALITY_GOOD' })] }).message, 'events[0].usb_device_attached.device.serial_quality: is not a known value, got "SERIAL_QUALITY_GOOD"');
  const badMode = event();
  (badMode.usbDeviceAttached as Record<string, unknown>).enforcement = { ...ENFORCEMENT, appliedMode: 'USB_ENFORCEMENT_MODE_MAYBE' };
  assert.equal(problem({ batchId: BATCH_ID, events: [badMode] }).path, 'events[0].usb_device_attached.enforcement.applied_mode');
  const badAction = event();
  (badAction.usbDeviceAttached as Record<string, unknown>).enforcement = { ...ENFORCEMENT, action: 'USB_ENFORCEMENT_ACTION_EXPLODE' };
  assert.equal(problem({ batchId: BATCH_ID, events: [badAction] }).path, 'events[0].usb_device_attached.enforcement.action');
  const badException = event();
  (badException.usbDeviceAttached as Record<string, unknown>).enforcement = { ...ENFORCEMENT, exceptionId: 'trip-to-osaka' };
  assert.equal(problem({ batchId: BATCH_ID, events: [badException] }).message, 'events[0].usb_device_attached.enforcement.exception_id: must be a UUID or empty, got "trip-to-osaka"');
});

test('a UsbStorageVolumes event is stored with its block devices, and its fields are checked with their paths', () => {
  const sut = validateUploadBatch({ batchId: BATCH_ID, events: [storageVolumes()] }).events[0];
  assert.equal(sut.kind, 'usb_storage_volumes');
  const blockDevices = sut.payload.blockDevices as Array<Record<string, unknown>>;
  assert.equal(blockDevices.length, 2);
  assert.equal(blockDevices[0].sizeBytes, '16008609792');
  assert.deepEqual(blockDevices[1].mountPoints, ['/media/alice/STICK']);
  assert.equal(blockDevices[1].readOnly, true);
  assert.deepEqual(sut.payload.enforcement, ENFORCEMENT);

  const path = (payload: Record<string, unknown>) => problem({ batchId: BATCH_ID, events: [storageVolumes(payload)] }).path;
  assert.equal(path({ device: undefined }), 'events[0].usb_storage_volumes.device');
  assert.equal(path({ blockDevices: [{ deviceNode: '' }] }), 'events[0].usb_storage_volumes.block_devices[0].device_node');
  assert.equal(path({ blockDevices: [{ deviceNode: '/dev/sdb', sizeBytes: '-1' }] }), 'events[0].usb_storage_volumes.block_devices[0].size_bytes');
  assert.equal(path({ blockDevices: [{ deviceNode: '/dev/sdb1', mountPoints: ['/m', 7] }] }), 'events[0].usb_storage_volumes.block_devices[0].mount_points[1]');
  assert.equal(path({ blockDevices: [{ deviceNode: '/dev/sdb1', encryption: { scheme: 'ENCRYPTION_SCHEME_ROT13' } }] }), 'events[0].usb_storage_volumes.block_devices[0].encryption.scheme');
  assert.equal(path({ blockDevices: new Array(129).fill({ deviceNode: '/dev/sdb' }) }), 'events[0].usb_storage_volumes.block_devices');
  assert.equal(path({ allDataVolumesEncrypted: 'yes' }), 'events[0].usb_storage_volumes.all_data_volumes_encrypted');
  assert.equal(path({ enforcement: { ...ENFORCEMENT, policyVersion: 'v3' } }), 'events[0].usb_storage_volumes.enforcement.policy_version');
  assert.equal(path({ enforcement: { ...ENFORCEMENT, policyLineageId: 'production' } }), 'events[0].usb_storage_volumes.enforcement.policy_lineage_id');
  assert.equal(path({ attachedEventId: 'the-first-plug' }), 'events[0].usb_storage_volumes.attached_event_id');
  const attachedEventId = '66666666-6666-4666-8666-666666666666';
  assert.equal(validateUploadBatch({ batchId: BATCH_ID, events: [storageVolumes({ attachedEventId: attachedEventId.toUpperCase() })] }).events[0].payload.attachedEventId, attachedEventId);
});

test('a UsbDeviceReevaluated is its own kind, names its plug and needs a decision; its fields are checked with their paths', () => {
  const attach = event().usbDeviceAttached;
  const reevaluated = (payload: Record<string, unknown> = {}) =>
    event({
      usbDeviceAttached: undefined,
      usbDeviceReevaluated: {
        device: attach.device,
        enforcement: { ...ENFORCEMENT, action: 'USB_ENFORCEMENT_ACTION_SET_READ_WRITE' },
        previousAppliedMode: 'USB_ENFORCEMENT_MODE_READ_ONLY',
        previousPolicyVersion: '2',
        attachedEventId: '66666666-6666-4666-8666-666666666666',
        blockDevices: [{ deviceNode: '/dev/sdb' }],
        allDataVolumesEncrypted: false,
        ...payload,
      },
    });
  const sut = validateUploadBatch({ batchId: BATCH_ID, events: [reevaluated()] }).events[0];
  assert.equal(sut.kind, 'usb_device_reevaluated');
  assert.equal(sut.payload.previousAppliedMode, 'USB_ENFORCEMENT_MODE_READ_ONLY');
  assert.equal(sut.payload.previousPolicyVersion, '2');
  assert.equal(sut.payload.attachedEventId, '66666666-6666-4666-8666-666666666666');
  assert.equal((sut.payload.enforcement as { action: string }).action, 'USB_ENFORCEMENT_ACTION_SET_READ_WRITE');
  assert.equal(sut.payload.storageEnforcement, null);

  const path = (payload: Record<string, unknown>) => problem({ batchId: BATCH_ID, events: [reevaluated(payload)] }).path;
  assert.equal(path({ enforcement: undefined }), 'events[0].usb_device_reevaluated.enforcement');
  assert.equal(path({ previousAppliedMode: 'USB_ENFORCEMENT_MODE_SOMETIMES' }), 'events[0].usb_device_reevaluated.previous_applied_mode');
  assert.equal(path({ attachedEventId: 'plug-1' }), 'events[0].usb_device_reevaluated.attached_event_id');
  assert.equal(path({ storageEnforcement: { ...ENFORCEMENT, action: 'USB_ENFORCEMENT_ACTION_MELT' } }), 'events[0].usb_device_reevaluated.storage_enforcement.action');
  assert.equal(path({ blockDevices: [{ deviceNode: '' }] }), 'events[0].usb_device_reevaluated.block_devices[0].device_node');
});
