/** The machine's hardware identity; '' where unknown. */
export interface HardwareFacts {
  serial: string;
  model: string;
  vendor: string;
}

/**
 * Values firmware vendors leave in SMBIOS fields they did not fill ("To Be Filled By O.E.M.",
 * "Default string", "System Serial Number", "0123456789"…). A ledger keyed on such a serial would
 * merge unrelated machines, so they read as unknown.
 */
const PLACEHOLDERS = [
  /^to be filled by o\.?e\.?m\.?$/i,
  /^default string$/i,
  /^system (serial number|product name|manufacturer|version)$/i,
  /^(not specified|not applicable|not available|none|n\/a|unknown|invalid|oem|o\.e\.m\.)$/i,
  /^0123456789$/,
  /^(0+|f+|x+|\.+|-+|\s*)$/i,
];

/** Trims and drops placeholder values. Pure. */
export function cleanHardwareValue(value: string | null | undefined): string {
  const v = (value ?? '').replace(/\0/g, '').trim();
  return PLACEHOLDERS.some((p) => p.test(v)) ? '' : v;
}

/**
 * Parses `ioreg -rd1 -c IOPlatformExpertDevice` (macOS): "IOPlatformSerialNumber" = "C02…",
 * "model" = <"MacBookPro18,3">, "manufacturer" = <"Apple Inc."> (data properties print as <"…">). Pure.
 */
export function parseIoregHardware(output: string): HardwareFacts {
  const value = (key: string) => {
    const match = new RegExp(`"${key}"\\s*=\\s*<?"([^"]*)"`).exec(output);
    return cleanHardwareValue(match?.[1]);
  };
  return { serial: value('IOPlatformSerialNumber'), model: value('model'), vendor: value('manufacturer') };
}

/**
 * Parses the agent's PowerShell query of Win32_ComputerSystemProduct and Win32_BIOS as JSON:
 * { "Vendor", "Name", "IdentifyingNumber", "BiosSerial" }. The BIOS serial stands in when the
 * product's identifying number is a placeholder. Pure; throws when the text is not that JSON.
 */
export function parseWindowsHardwareJson(text: string): HardwareFacts {
  const doc = JSON.parse(text.replace(/^\uFEFF/, '').trim()) as Record<string, unknown>;
  const s = (k: string) => (typeof doc[k] === 'string' ? (doc[k] as string) : '');
  return { serial: cleanHardwareValue(s('IdentifyingNumber')) || cleanHardwareValue(s('BiosSerial')), model: cleanHardwareValue(s('Name')), vendor: cleanHardwareValue(s('Vendor')) };
}
