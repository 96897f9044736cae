import { isPlistDict, parseXmlPlist, type PlistValue } from '../../usb/parsers/macos-plist.parser';

/** What `fdesetup status` says about FileVault on the boot volume. */
export interface FdesetupStatus {
  /** null when the output says neither "On" nor "Off". */
  on: boolean | null;
  /** "encrypting" / "decrypting" while FileVault converts the volume, else null. */
  conversion: 'encrypting' | 'decrypting' | null;
  /** "Percent completed = N" during a conversion, else null. */
  percent: number | null;
}

/**
 * Parses `fdesetup status`: "FileVault is On." / "FileVault is Off.", optionally followed by
 * "Encryption in progress: Percent completed = 23" or "Decryption in progress: …" and other
 * notes ("FileVault master keychain appears to be installed."). fdesetup is not localized. Pure.
 */
export function parseFdesetupStatus(output: string): FdesetupStatus {
  const state = /FileVault is (On|Off)/i.exec(output);
  const conversion = /(Encryption|Decryption) in progress/i.exec(output);
  const percent = /Percent completed = (\d+(?:\.\d+)?)/i.exec(output);
  return {
    on: state ? state[1]!.toLowerCase() === 'on' : null,
    conversion: conversion ? (conversion[1]!.toLowerCase() === 'encryption' ? 'encrypting' : 'decrypting') : null,
    percent: percent ? Number(percent[1]) : null,
  };
}

/** One APFS volume of `diskutil apfs list -plist`. */
export interface ApfsVolume {
  /** "disk3s5". */
  deviceIdentifier: string;
  name: string;
  /** "System", "Data", "Preboot", "Recovery", "VM", "Update", "xART", "Hardware"…; empty for a user-created volume. */
  roles: string[];
  /** null when the plist does not say. */
  encryption: boolean | null;
  fileVault: boolean | null;
  locked: boolean | null;
  /** CryptoMigrationOn: the volume is being converted (encrypted or decrypted) now. */
  cryptoMigration: boolean | null;
  capacityInUse: number | null;
}

export interface ApfsContainer {
  /** "disk3". */
  reference: string;
  /** The physical stores' device identifiers ("disk0s2"). */
  physicalStores: string[];
  volumes: ApfsVolume[];
}

type Dict = { [key: string]: PlistValue };

function str(d: Dict, key: string): string {
  return typeof d[key] === 'string' ? (d[key] as string).trim() : '';
}
function bool(d: Dict, key: string): boolean | null {
  return typeof d[key] === 'boolean' ? (d[key] as boolean) : null;
}
function dicts(value: PlistValue | undefined): Dict[] {
  return Array.isArray(value) ? value.filter(isPlistDict) : [];
}

/**
 * Parses `diskutil apfs list -plist`: Containers[] with ContainerReference, PhysicalStores[]
 * (DeviceIdentifier) and Volumes[] (DeviceIdentifier, Name, Roles, Encryption, FileVault,
 * Locked, CryptoMigrationOn, CapacityInUse). The plist keys are Apple's fixed identifiers (the
 * text form is reworded between releases). Throws when the text is not such a property list. Pure.
 */
export function parseApfsListPlist(text: string): ApfsContainer[] {
  const root = parseXmlPlist(text);
  if (!isPlistDict(root) || !Array.isArray(root.Containers)) throw new Error('diskutil apfs list -plist: no Containers list in the property list');
  return dicts(root.Containers).map((c) => ({
    reference: str(c, 'ContainerReference'),
    physicalStores: dicts(c.PhysicalStores).map((p) => str(p, 'DeviceIdentifier')).filter((s) => s !== ''),
    volumes: dicts(c.Volumes).map((v) => ({
      deviceIdentifier: str(v, 'DeviceIdentifier'),
      name: str(v, 'Name'),
      roles: Array.isArray(v.Roles) ? v.Roles.filter((r): r is string => typeof r === 'string') : [],
      encryption: bool(v, 'Encryption'),
      fileVault: bool(v, 'FileVault'),
      locked: bool(v, 'Locked'),
      cryptoMigration: bool(v, 'CryptoMigrationOn'),
      capacityInUse: typeof v.CapacityInUse === 'number' ? v.CapacityInUse : null,
    })),
  }));
}
