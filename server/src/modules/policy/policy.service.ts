import { BeforeApplicationShutdown, Injectable, OnModuleInit } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import { BehaviorSubject, Observable, filter } from 'rxjs';
import { toTimestamp } from '../../common/protobuf-time';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import { Policy } from '../../generated/mamori/v1/policy';
import { POLICY_LINEAGE_SETTING } from '../../database/migrations/1732800000000-collector-settings';
import { policyDocumentFrom, type PolicyDocument, type PublishedPolicy } from './policy-document';
import type { UsbExceptionRow } from '../usb-exceptions/usb-exception.record';
import { usbModeToProto, type UsbModeName } from './usb-modes';
import { transferSettingsWithin } from './transfer-settings';
import { networkPolicyWithin } from './network-settings';
import { agentReleaseWithin } from '../releases/release-target';
import { JsonLogger } from '../../logging/json-logger';
import type { PostgresNotificationListener } from '../../database/postgres-notification-listener';

/**
 * The PostgreSQL channel on which a collector process announces a version it published, so the
 * others sharing the database push it to their agents too. The payload is the version number;
 * listeners read the version itself from policy_versions.
 */
export const POLICY_CHANNEL = 'mamori_policy_published';

/**
 * Immutable policy versions. A new version is published in the same transaction as the
 * change that causes it (register, USB modes, exceptions), or when an exception ends; after commit it is announced to every open WatchPolicy stream.
 */
@Injectable()
export class PolicyService implements OnModuleInit, BeforeApplicationShutdown {
  private latest: BehaviorSubject<PublishedPolicy> | null = null;
  private lineage: string | null = null;
  private listener: PostgresNotificationListener | null = null;
  /** A re-read in flight; a notification arriving meanwhile asks for one more after it. */
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;
  private shuttingDown = false;

  constructor(
    private readonly database: DatabaseService,
    private readonly logger: JsonLogger,
  ) {}

  async onModuleInit(): Promise<void> {
    const { newest, lineage } = await this.database.transaction(async (sql) => {
      const rows = await sql.query<{ value: string }>('SELECT value FROM collector_settings WHERE name = ?', [POLICY_LINEAGE_SETTING]);
      if (rows.length === 0) throw new Error(`the database has no ${POLICY_LINEAGE_SETTING}: run the migrations`);
      // onlyIfChanged: replicas starting together on an empty database each find no version, then
      // take turns at the publish lock; the later ones find version 1 there and publish no copy.
      return { newest: (await this.newestWithin(sql)) ?? (await this.publishWithin(sql, new Date(), { onlyIfChanged: true })), lineage: rows[0].value };
    });
    this.lineage = lineage;
    this.latest = new BehaviorSubject(newest);
    this.listener = this.database.notificationListener(POLICY_CHANNEL, {
      notified: () => this.refreshFromDatabase(),
      // Versions published by other processes while this one was not listening were not heard.
      listening: () => this.refreshFromDatabase(),
      lost: (reason, retryInMs) =>
        this.logger.emitFields('warn', 'lost the PostgreSQL connection that hears policy changes from other collector processes; reconnecting', { reason, retryInMs }),
    });
    await this.listener?.start();
  }

  /**
   * Reads the newest stored version and announces it when it is newer than the one held: how a
   * version published by another collector process reaches the agents connected to this one.
   */
  private refreshFromDatabase(): void {
    if (this.refreshing !== null) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        try {
          const newest = await this.database.transaction((sql) => this.newestWithin(sql));
          if (newest !== null) this.announce(newest);
        } catch (error) {
          this.logger.emitFields('warn', 'could not read the newest policy version after a change by another collector process', { error: String(error) });
        }
      } while (this.refreshAgain && !this.shuttingDown);
    })().finally(() => {
      this.refreshing = null;
    });
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

  async beforeApplicationShutdown(): Promise<void> {
    // Completing ends every WatchPolicy stream cleanly, so the gRPC server can shut down.
    this.shuttingDown = true;
    this.latest?.complete();
    await this.listener?.stop();
    await this.refreshing;
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
   * Publishes the next version from the settings, the register and the approved exceptions as
   * they are inside `sql`'s transaction. Call `announce` with the result once the transaction
   * committed. With `onlyIfChanged` (the exception timer), nothing is published when the
   * document equals the newest version's, and that version is returned: the timer of every
   * collector process sharing a database fires at the same boundary, and one version is enough.
   */
  async publishWithin(sql: SqlExecutor, now = new Date(), options: { onlyIfChanged?: boolean } = {}): Promise<PublishedPolicy> {
    if (sql.kind === 'postgres') {
      // Serialises publishers across collector processes, so version numbers never collide.
      await sql.run('LOCK TABLE policy_versions IN EXCLUSIVE MODE');
    }
    const document = await this.documentWithin(sql, now);
    if (options.onlyIfChanged === true) {
      const newest = await this.newestWithin(sql);
      if (newest !== null && isDeepStrictEqual(newest.document, document)) return newest;
    }
    const rows = await sql.query<{ version: string | number | null }>('SELECT MAX(version) AS version FROM policy_versions');
    const version = Number(rows[0]?.version ?? 0) + 1;
    await sql.run('INSERT INTO policy_versions (version, published_at, document) VALUES (?, ?, ?)', [version, now, JSON.stringify(document)]);
    // PostgreSQL delivers the notification when (and only if) this transaction commits.
    if (sql.kind === 'postgres') await sql.query('SELECT pg_notify(?, ?)', [POLICY_CHANNEL, String(version)]);
    return { version, publishedAt: now, document };
  }

  announce(policy: PublishedPolicy): void {
    if (this.latest !== null && !this.shuttingDown && policy.version > this.latest.value.version) this.latest.next(policy);
  }

  toProto(policy: PublishedPolicy): Policy {
    const usb = policy.document.usb;
    return {
      version: String(policy.version),
      lineageId: this.lineageId,
      publishedAt: toTimestamp(policy.publishedAt),
      agentRelease:
        policy.document.agentRelease == null
          ? undefined
          : { version: policy.document.agentRelease.version, artifacts: policy.document.agentRelease.artifacts.map((a) => ({ platform: a.platform, sha256: a.sha256, sizeBytes: String(a.sizeBytes) })) },
      network: {
        zones: policy.document.network.zones.map((zone) => ({ ...zone, cidrs: [...zone.cidrs], dnsSuffixes: [...zone.dnsSuffixes] })),
        whitelist: policy.document.network.whitelist.map((entry) => ({
          ...entry,
          ports: entry.ports.map((range) => ({ ...range })),
          expiresAt: entry.expiresAt === null ? undefined : toTimestamp(new Date(entry.expiresAt)),
        })),
      },
      transfer: {
        watchedFolders: [...policy.document.transfer.watchedFolders],
        inspectionByteBudget: String(policy.document.transfer.inspectionByteBudget),
        inspectionTimeBudgetMillis: policy.document.transfer.inspectionTimeBudgetMillis,
      },
      usb: {
        unregisteredDeviceMode: usb.unregisteredDeviceMode,
        registeredDeviceMode: usb.registeredDeviceMode,
        requireEncryptedMedia: usb.requireEncryptedMedia,
        unencryptedMediaMode: usb.unencryptedMediaMode,
        storageWithHidMode: usb.storageWithHidMode,
        registeredDevices: usb.registeredDevices.map((entry) => ({ ...entry })),
        exceptions: usb.exceptions.map((exception) => ({
          ...exception,
          notBefore: toTimestamp(new Date(exception.notBefore)),
          notAfter: toTimestamp(new Date(exception.notAfter)),
        })),
      },
    };
  }

  /**
   * The document a version published now would hold. Exceptions travel from their approval until
   * they end, including those that start later, so an agent that goes offline before the trip
   * still has its grant; the agent's evaluator honours not_before and not_after by itself.
   */
  private async documentWithin(sql: SqlExecutor, now: Date): Promise<PolicyDocument> {
    const settings = await sql.query<{
      unregistered_device_mode: UsbModeName;
      registered_device_mode: UsbModeName;
      require_encrypted_media: boolean | number;
      unencrypted_media_mode: UsbModeName;
      storage_with_hid_mode: UsbModeName;
    }>('SELECT unregistered_device_mode, registered_device_mode, require_encrypted_media, unencrypted_media_mode, storage_with_hid_mode FROM usb_policy_settings WHERE id = 1');
    if (settings.length === 0) throw new Error('the database has no USB policy settings: run the migrations');
    const entries = await sql.query<{
      id: string;
      vendor_id: number;
      product_id: number;
      any_vendor: boolean | number;
      any_product: boolean | number;
      serial: string;
      descriptor_hash: string;
      label: string;
      holder: string;
      department: string | null;
    }>(
      `SELECT id, vendor_id, product_id, any_vendor, any_product, serial, descriptor_hash, label, holder, department
       FROM usb_register_entries ORDER BY any_vendor, vendor_id, any_product, product_id, serial`,
    );
    const exceptions = await sql.query<
      Pick<UsbExceptionRow, 'id' | 'vendor_id' | 'product_id' | 'serial' | 'agent_id' | 'user_name' | 'not_before' | 'not_after' | 'justification' | 'mode'> & {
        approved_by: string;
      }
    >(
      `SELECT id, vendor_id, product_id, serial, agent_id, user_name, not_before, not_after, justification, approved_by, mode
       FROM usb_exceptions WHERE status = 'approved' AND not_after > ? ORDER BY not_after, id`,
      [now],
    );
    const [mode] = settings;
    const transfer = await transferSettingsWithin(sql);
    const network = await networkPolicyWithin(sql, now);
    const agentRelease = await agentReleaseWithin(sql);
    return {
      agentRelease,
      network,
      transfer: { watchedFolders: transfer.watchedFolders, inspectionByteBudget: transfer.inspectionByteBudget, inspectionTimeBudgetMillis: transfer.inspectionTimeBudgetMillis },
      usb: {
        unregisteredDeviceMode: usbModeToProto(mode.unregistered_device_mode),
        registeredDeviceMode: usbModeToProto(mode.registered_device_mode),
        requireEncryptedMedia: sqlBoolean(mode.require_encrypted_media),
        unencryptedMediaMode: usbModeToProto(mode.unencrypted_media_mode),
        storageWithHidMode: usbModeToProto(mode.storage_with_hid_mode),
        registeredDevices: entries.map((entry) => ({
          entryId: entry.id,
          vendorId: Number(entry.vendor_id),
          productId: Number(entry.product_id),
          anyVendor: sqlBoolean(entry.any_vendor),
          anyProduct: sqlBoolean(entry.any_product),
          serial: entry.serial,
          descriptorHash: entry.descriptor_hash,
          label: entry.label,
          holder: entry.holder,
          department: entry.department ?? '',
        })),
        exceptions: exceptions.map((exception) => ({
          exceptionId: exception.id,
          vendorId: Number(exception.vendor_id),
          productId: Number(exception.product_id),
          serial: exception.serial,
          agentId: exception.agent_id,
          userName: exception.user_name,
          notBefore: Number(exception.not_before),
          notAfter: Number(exception.not_after),
          justification: exception.justification,
          approvedBy: exception.approved_by,
          mode: usbModeToProto(exception.mode),
        })),
      },
    };
  }

  private async newestWithin(sql: SqlExecutor): Promise<PublishedPolicy | null> {
    const rows = await sql.query<{ version: string | number; published_at: string | number; document: string }>(
      'SELECT version, published_at, document FROM policy_versions ORDER BY version DESC LIMIT 1',
    );
    if (rows.length === 0) return null;
    return { version: Number(rows[0].version), publishedAt: new Date(Number(rows[0].published_at)), document: policyDocumentFrom(JSON.parse(rows[0].document)) };
  }
}

/** SQLite reads BOOLEAN columns back as 0/1, PostgreSQL as true/false. */
export function sqlBoolean(value: boolean | number | string | null | undefined): boolean {
  return value === true || value === 1 || value === '1' || value === 't';
}
