import { UsbEnforcementMode } from '../../generated/mamori/v1/policy';

/** What a policy version holds, as stored; ids are numbers here and hex strings on REST. */
export interface PolicyDocument {
  usb: {
    unregisteredDeviceMode: UsbEnforcementMode;
    registeredDevices: Array<{
      entryId: string;
      vendorId: number;
      productId: number;
      serial: string;
      label: string;
      holder: string;
    }>;
  };
}

/** A published version with its document. */
export interface PublishedPolicy {
  version: number;
  publishedAt: Date;
  document: PolicyDocument;
}
