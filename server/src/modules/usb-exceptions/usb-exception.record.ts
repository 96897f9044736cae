import type { UsbExceptionModeName } from '../policy/usb-modes';

/** The stored states; `expired` is not stored: it is an approved or requested exception whose end has passed. */
export type StoredUsbExceptionStatus = 'requested' | 'approved' | 'rejected' | 'revoked';
export type UsbExceptionStatus = StoredUsbExceptionStatus | 'expired';

/** One row of usb_exceptions as SQL hands it back (BIGINT times as numbers or strings). */
export interface UsbExceptionRow {
  id: string;
  vendor_id: number;
  product_id: number;
  serial: string;
  agent_id: string;
  user_name: string;
  not_before: string | number;
  not_after: string | number;
  requested_not_after: string | number;
  justification: string;
  mode: UsbExceptionModeName;
  status: StoredUsbExceptionStatus;
  requested_by: string;
  requested_at: string | number;
  approved_by: string | null;
  approved_at: string | number | null;
  rejected_by: string | null;
  rejected_at: string | number | null;
  rejection_reason: string | null;
  revoked_by: string | null;
  revoked_at: string | number | null;
  revocation_reason: string | null;
}

/** A time-boxed exception with its whole trail: who asked, who decided, when and why. */
export interface UsbExceptionRecord {
  id: string;
  vendorId: number;
  productId: number;
  serial: string;
  agentId: string;
  userName: string;
  notBefore: Date;
  notAfter: Date;
  requestedNotAfter: Date;
  justification: string;
  mode: UsbExceptionModeName;
  status: UsbExceptionStatus;
  /** Approved, and its window holds at the time it was read. */
  active: boolean;
  requestedBy: string;
  requestedAt: Date;
  approvedBy: string | null;
  approvedAt: Date | null;
  rejectedBy: string | null;
  rejectedAt: Date | null;
  rejectionReason: string | null;
  revokedBy: string | null;
  revokedAt: Date | null;
  revocationReason: string | null;
}

const dateOrNull = (value: string | number | null) => (value === null ? null : new Date(Number(value)));

export function usbExceptionRecord(row: UsbExceptionRow, now: Date): UsbExceptionRecord {
  const notBefore = new Date(Number(row.not_before));
  const notAfter = new Date(Number(row.not_after));
  const ended = notAfter.getTime() <= now.getTime();
  const status: UsbExceptionStatus = (row.status === 'requested' || row.status === 'approved') && ended ? 'expired' : row.status;
  return {
    id: row.id,
    vendorId: Number(row.vendor_id),
    productId: Number(row.product_id),
    serial: row.serial,
    agentId: row.agent_id,
    userName: row.user_name,
    notBefore,
    notAfter,
    requestedNotAfter: new Date(Number(row.requested_not_after)),
    justification: row.justification,
    mode: row.mode,
    status,
    active: status === 'approved' && notBefore.getTime() <= now.getTime(),
    requestedBy: row.requested_by,
    requestedAt: new Date(Number(row.requested_at)),
    approvedBy: row.approved_by,
    approvedAt: dateOrNull(row.approved_at),
    rejectedBy: row.rejected_by,
    rejectedAt: dateOrNull(row.rejected_at),
    rejectionReason: row.rejection_reason,
    revokedBy: row.revoked_by,
    revokedAt: dateOrNull(row.revoked_at),
    revocationReason: row.revocation_reason,
  };
}
