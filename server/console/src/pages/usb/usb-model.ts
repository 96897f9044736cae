/**
 * The USB page's data (GET /api/v1/usb-register, /usb-exceptions) and the checks its forms make
 * before sending, with the collector's own rules (hex ids, wildcards, the period). Pure (no DOM, no React).
 */

export interface RegisterEntry {
  id: string;
  vendorId: string;
  productId: string;
  serial: string;
  descriptorHash: string | null;
  label: string;
  holder: string;
  department: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface UsbException {
  id: string;
  vendorId: string;
  productId: string;
  serial: string;
  agentId: string;
  userName: string | null;
  notBefore: string;
  notAfter: string;
  requestedNotAfter: string;
  justification: string;
  mode: 'allow' | 'read_only' | string;
  status: 'requested' | 'approved' | 'expired' | 'rejected' | 'revoked' | string;
  active: boolean;
  requestedBy: string;
  requestedAt: string;
  approvedBy: string | null;
  approvedAt: string | null;
  rejectedBy: string | null;
  rejectedAt: string | null;
  rejectionReason: string | null;
  revokedBy: string | null;
  revokedAt: string | null;
  revocationReason: string | null;
}

export const EXCEPTION_MODES = ['allow', 'read_only'] as const;
export const EXCEPTION_FILTERS = ['', 'requested', 'approved', 'active', 'expired', 'rejected', 'revoked'] as const;

/** "0781:5567" — the way USBGuard and lsusb write a device. */
export function deviceId(item: { vendorId: string; productId: string }): string {
  return `${item.vendorId}:${item.productId}`;
}

export interface RegisterForm {
  vendorId: string;
  productId: string;
  serial: string;
  descriptorHash: string;
  label: string;
  holder: string;
  department: string;
}

type RegisterField = keyof RegisterForm;
export type Problem<F extends string> = { field: F; problem: 'required' | 'hex4' | 'hex4OrAny' | 'wildcardPair' | 'hash' | 'tooLong' | 'invalidTime' | 'endBeforeStart' | 'past' | 'uuid' };

const HEX4 = /^[0-9a-fA-F]{4}$/;

/** Accepts "0x0781" and "0781" alike; the collector wants the four digits. */
export function normalizeHexId(value: string): string {
  const text = value.trim();
  return /^0x/i.test(text) ? text.slice(2) : text;
}

/** POST /usb-register body from the form, or the problems. */
export function registerBody(form: RegisterForm): { ok: true; body: Record<string, string> } | { ok: false; problems: Problem<RegisterField>[] } {
  const problems: Problem<RegisterField>[] = [];
  const vendorId = normalizeHexId(form.vendorId);
  const productId = normalizeHexId(form.productId);
  if (!(HEX4.test(vendorId) || vendorId === '*')) problems.push({ field: 'vendorId', problem: 'hex4OrAny' });
  if (!(HEX4.test(productId) || productId === '*')) problems.push({ field: 'productId', problem: 'hex4OrAny' });
  // USBGuard's rule: any vendor means any product too.
  if (vendorId === '*' && productId !== '*' && HEX4.test(productId)) problems.push({ field: 'productId', problem: 'wildcardPair' });
  for (const field of ['serial', 'label', 'holder', 'department'] as const) {
    const value = form[field].trim();
    if (value === '') problems.push({ field, problem: 'required' });
    else if (value.length > 256) problems.push({ field, problem: 'tooLong' });
  }
  const hash = form.descriptorHash.trim();
  if (hash !== '' && !/^[0-9a-fA-F]{64}$/.test(hash)) problems.push({ field: 'descriptorHash', problem: 'hash' });
  if (problems.length > 0) return { ok: false, problems };
  const body: Record<string, string> = {
    vendorId: vendorId === '*' ? '*' : vendorId.toLowerCase(),
    productId: productId === '*' ? '*' : productId.toLowerCase(),
    serial: form.serial.trim(),
    label: form.label.trim(),
    holder: form.holder.trim(),
    department: form.department.trim(),
  };
  if (hash !== '') body.descriptorHash = hash.toLowerCase();
  return { ok: true, body };
}

/** PATCH /usb-register/:id body: only label, holder and department may change; null when none did. */
export function registerPatch(entry: RegisterEntry, form: Pick<RegisterForm, 'label' | 'holder' | 'department'>): Record<string, string> | null {
  const patch: Record<string, string> = {};
  for (const field of ['label', 'holder', 'department'] as const) {
    const value = form[field].trim();
    if (value !== '' && value !== (entry[field] ?? '')) patch[field] = value;
  }
  return Object.keys(patch).length === 0 ? null : patch;
}

export interface ExceptionForm {
  vendorId: string;
  productId: string;
  serial: string;
  agentId: string;
  userName: string;
  /** ISO or null (now) — the page converts its datetime-local inputs before calling. */
  notBefore: string | null | undefined;
  notAfter: string | null | undefined;
  justification: string;
  mode: string;
}

type ExceptionField = 'vendorId' | 'productId' | 'serial' | 'agentId' | 'userName' | 'notBefore' | 'notAfter' | 'justification';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** POST /usb-exceptions body (requestedBy added by the page), or the problems. */
export function exceptionBody(form: ExceptionForm, now: Date): { ok: true; body: Record<string, string> } | { ok: false; problems: Problem<ExceptionField>[] } {
  const problems: Problem<ExceptionField>[] = [];
  const vendorId = normalizeHexId(form.vendorId);
  const productId = normalizeHexId(form.productId);
  if (!HEX4.test(vendorId)) problems.push({ field: 'vendorId', problem: 'hex4' });
  if (!HEX4.test(productId)) problems.push({ field: 'productId', problem: 'hex4' });
  if (form.serial.trim() === '') problems.push({ field: 'serial', problem: 'required' });
  if (!UUID.test(form.agentId.trim())) problems.push({ field: 'agentId', problem: form.agentId.trim() === '' ? 'required' : 'uuid' });
  if (form.justification.trim() === '') problems.push({ field: 'justification', problem: 'required' });
  if (form.notBefore === undefined) problems.push({ field: 'notBefore', problem: 'invalidTime' });
  if (form.notAfter === undefined) problems.push({ field: 'notAfter', problem: 'invalidTime' });
  else if (form.notAfter === null) problems.push({ field: 'notAfter', problem: 'required' });
  else {
    const end = new Date(form.notAfter).getTime();
    const start = typeof form.notBefore === 'string' ? new Date(form.notBefore).getTime() : now.getTime();
    if (end <= now.getTime()) problems.push({ field: 'notAfter', problem: 'past' });
    else if (end <= start) problems.push({ field: 'notAfter', problem: 'endBeforeStart' });
  }
  if (problems.length > 0) return { ok: false, problems };
  const body: Record<string, string> = {
    vendorId: vendorId.toLowerCase(),
    productId: productId.toLowerCase(),
    serial: form.serial.trim(),
    agentId: form.agentId.trim().toLowerCase(),
    notAfter: form.notAfter as string,
    justification: form.justification.trim(),
    mode: form.mode,
  };
  if (typeof form.notBefore === 'string') body.notBefore = form.notBefore;
  if (form.userName.trim() !== '') body.userName = form.userName.trim();
  return { ok: true, body };
}

/** What can still be done with an exception: decide a request (not yet ended), revoke an approved one. */
export function exceptionActions(exception: Pick<UsbException, 'status'>): { decide: boolean; revoke: boolean } {
  return { decide: exception.status === 'requested', revoke: exception.status === 'approved' };
}

/** The exception's state in one word for the badge: active (approved, window holds), scheduled (approved, not started) or the status. */
export function exceptionState(exception: Pick<UsbException, 'status' | 'active'>): string {
  if (exception.status === 'approved') return exception.active ? 'active' : 'scheduled';
  return exception.status;
}
