import { BeforeApplicationShutdown, Injectable, OnModuleInit } from '@nestjs/common';
import { BehaviorSubject, Observable, filter } from 'rxjs';
import { toTimestamp } from '../../common/protobuf-time';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import { Policy, UsbEnforcementMode } from '../../generated/mamori/v1/policy';
import { POLICY_LINEAGE_SETTING } from '../../database/migrations/1732800000000-collector-settings';
import type { PolicyDocument, PublishedPolicy } from './policy-document';

/**
 * Immutable policy versions. A new version is published in the same transaction as the
 * register change that causes it; after commit it is announced to every open WatchPolicy stream.
 */
@Injectable()
export class PolicyService implements OnModuleInit, BeforeApplicationShutdown {
  private latest: BehaviorSubject<PublishedPolicy> | null = null;
  private lineage: string | null = null;

  constructor(private readonly database: DatabaseService) {}

  async onModuleInit(): Promise<void> {
    const { newest, lineage } = await this.database.transaction(async (sql) => {
      const rows = await sql.query<{ value: string }>('SELECT value FROM collector_settings WHERE name = ?', [POLICY_LINEAGE_SETTING]);
      if (rows.length === 0) throw new Error(`the database has no ${POLICY_LINEAGE_SETTING}: run the migrations`);
      return { newest: (await this.newestWithin(sql)) ?? (await this.publishWithin(sql)), lineage: rows[0].value };
    });
    this.lineage = lineage;
    this.latest = new BehaviorSubject(newest);
  }

  /** The UUID of this database's version numbering; versions of another lineage are not comparable. */
  get lineageId(): string {
    if (this.lineage === null) throw new Error('the policy service has not started');
    return this.lineage;
  }

  /**
   * Whether an agent that runs (knownVersion, knownLineageId) has the newest policy. An empty or
   * foreign lineage is outdated whatever the number says: after a database is recreated, version
   * numbers start again and an agent's cached "7" may be older than the new "2".
   */
  isCurrent(knownVersion: string, knownLineageId: string): boolean {
    return knownLineageId === this.lineageId && String(this.current().version) === String(knownVersion);
  }

  beforeApplicationShutdown(): void {
    // Completing ends every WatchPolicy stream cleanly, so the gRPC server can shut down.
    this.latest?.complete();
  }

  current(): PublishedPolicy {
    if (this.latest === null) throw new Error('the policy service has not started');
    return this.latest.value;
  }

  /**
   * The newest version now, then each newer one, skipping those at or below `knownVersion`.
   * A `knownLineageId` other than this database's makes `knownVersion` meaningless: the newest
   * version is sent at once.
   */
  watch(knownVersion: number, knownLineageId: string): Observable<PublishedPolicy> {
    if (this.latest === null) throw new Error('the policy service has not started');
    let sent = knownLineageId === this.lineageId && Number.isSafeInteger(knownVersion) ? knownVersion : 0;
    return this.latest.pipe(
      filter((policy) => {
        if (policy.version <= sent) return false;
        sent = policy.version;
        return true;
      }),
    );
  }

  /**
   * Publishes the next version from the register as it is inside `sql`'s transaction. Call
   * `announce` with the result once the transaction committed.
   */
  async publishWithin(sql: SqlExecutor, now = new Date()): Promise<PublishedPolicy> {
    if (sql.kind === 'postgres') {
      // Serialises publishers across collector processes, so version numbers never collide.
      await sql.run('LOCK TABLE policy_versions IN EXCLUSIVE MODE');
    }
    const entries = await sql.query<{ id: string; vendor_id: number; product_id: number; serial: string; label: string; holder: string }>(
      'SELECT id, vendor_id, product_id, serial, label, holder FROM usb_register_entries ORDER BY vendor_id, product_id, serial',
    );
    const document: PolicyDocument = {
      usb: {
        unregisteredDeviceMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
        registeredDevices: entries.map((entry) => ({
          entryId: entry.id,
          vendorId: Number(entry.vendor_id),
          productId: Number(entry.product_id),
          serial: entry.serial,
          label: entry.label,
          holder: entry.holder,
        })),
      },
    };
    const rows = await sql.query<{ version: string | number | null }>('SELECT MAX(version) AS version FROM policy_versions');
    const version = Number(rows[0]?.version ?? 0) + 1;
    await sql.run('INSERT INTO policy_versions (version, published_at, document) VALUES (?, ?, ?)', [version, now, JSON.stringify(document)]);
    return { version, publishedAt: now, document };
  }

  announce(policy: PublishedPolicy): void {
    if (this.latest !== null && policy.version > this.latest.value.version) this.latest.next(policy);
  }

  toProto(policy: PublishedPolicy): Policy {
    return {
      version: String(policy.version),
      lineageId: this.lineageId,
      publishedAt: toTimestamp(policy.publishedAt),
      usb: {
        unregisteredDeviceMode: policy.document.usb.unregisteredDeviceMode,
        registeredDevices: policy.document.usb.registeredDevices.map((entry) => ({
          anyVendor: false,
          anyProduct: false,
          descriptorHash: '',
          department: '',
          ...entry,
        })),
        registeredDeviceMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW,
        requireEncryptedMedia: false,
        unencryptedMediaMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
        storageWithHidMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
        exceptions: [],
      },
    };
  }

  private async newestWithin(sql: SqlExecutor): Promise<PublishedPolicy | null> {
    const rows = await sql.query<{ version: string | number; published_at: string | number; document: string }>(
      'SELECT version, published_at, document FROM policy_versions ORDER BY version DESC LIMIT 1',
    );
    if (rows.length === 0) return null;
    return { version: Number(rows[0].version), publishedAt: new Date(Number(rows[0].published_at)), document: JSON.parse(rows[0].document) };
  }
}
