import { BadRequestException, Injectable } from '@nestjs/common';
import { DatabaseService } from '../../database/database.service';
import { AuditService } from '../audit/audit.service';
import { PolicyService, sqlBoolean } from './policy.service';
import type { UsbModeName } from './usb-modes';

/** The USB modes administrators set; every policy version carries them. */
export interface UsbPolicySettings {
  unregisteredDeviceMode: UsbModeName;
  registeredDeviceMode: UsbModeName;
  requireEncryptedMedia: boolean;
  unencryptedMediaMode: UsbModeName;
  storageWithHidMode: UsbModeName;
  updatedAt: Date;
}

export type UsbPolicySettingsChange = Partial<Omit<UsbPolicySettings, 'updatedAt'>>;

const COLUMNS: Record<keyof UsbPolicySettingsChange, string> = {
  unregisteredDeviceMode: 'unregistered_device_mode',
  registeredDeviceMode: 'registered_device_mode',
  requireEncryptedMedia: 'require_encrypted_media',
  unencryptedMediaMode: 'unencrypted_media_mode',
  storageWithHidMode: 'storage_with_hid_mode',
};

interface SettingsRow {
  unregistered_device_mode: UsbModeName;
  registered_device_mode: UsbModeName;
  require_encrypted_media: boolean | number;
  unencrypted_media_mode: UsbModeName;
  storage_with_hid_mode: UsbModeName;
  updated_at: string | number;
}

/** Reads and changes the USB modes; a change publishes a new policy version in the same transaction. */
@Injectable()
export class UsbPolicySettingsService {
  constructor(
    private readonly database: DatabaseService,
    private readonly policy: PolicyService,
    private readonly audit: AuditService,
  ) {}

  async get(): Promise<UsbPolicySettings> {
    const rows = await this.database.query<SettingsRow>('SELECT * FROM usb_policy_settings WHERE id = 1');
    return settingsOf(rows[0]);
  }

  async update(change: UsbPolicySettingsChange, now = new Date()): Promise<{ settings: UsbPolicySettings; policyVersion: number }> {
    const fields = (Object.keys(COLUMNS) as Array<keyof UsbPolicySettingsChange>).filter((field) => change[field] !== undefined);
    if (fields.length === 0) throw new BadRequestException(`give at least one of ${Object.keys(COLUMNS).join(', ')}`);
    const { settings, published } = await this.database.transaction(async (sql) => {
      const before = settingsOf((await sql.query<SettingsRow>('SELECT * FROM usb_policy_settings WHERE id = 1'))[0]);
      await sql.run(`UPDATE usb_policy_settings SET ${fields.map((field) => `${COLUMNS[field]} = ?`).join(', ')}, updated_at = ? WHERE id = 1`, [
        ...fields.map((field) => change[field]),
        now,
      ]);
      const rows = await sql.query<SettingsRow>('SELECT * FROM usb_policy_settings WHERE id = 1');
      const version = await this.policy.publishWithin(sql, now);
      const after = settingsOf(rows[0]);
      await this.audit.appendWithin(sql, { action: 'policy.usb_settings.updated', subjectType: 'usb_policy_settings', subjectId: 'usb', before, after }, now);
      return { settings: after, published: version };
    });
    this.policy.announce(published);
    return { settings, policyVersion: published.version };
  }
}

function settingsOf(row: SettingsRow | undefined): UsbPolicySettings {
  if (row === undefined) throw new Error('the database has no USB policy settings: run the migrations');
  return {
    unregisteredDeviceMode: row.unregistered_device_mode,
    registeredDeviceMode: row.registered_device_mode,
    requireEncryptedMedia: sqlBoolean(row.require_encrypted_media),
    unencryptedMediaMode: row.unencrypted_media_mode,
    storageWithHidMode: row.storage_with_hid_mode,
    updatedAt: new Date(Number(row.updated_at)),
  };
}
