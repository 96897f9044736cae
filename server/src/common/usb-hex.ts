/** USB ids on REST and in violations: 4-digit lower-case hex ("0781"). */
export function toUsbHex(id: number): string {
  return id.toString(16).padStart(4, '0');
}

export const USB_HEX_PATTERN = /^[0-9a-fA-F]{4}$/;

export function fromUsbHex(hex: string): number {
  return Number.parseInt(hex, 16);
}
