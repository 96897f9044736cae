import { BadRequestException, ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { fromUsbHex } from '../../common/usb-hex';
import { DatabaseService } from '../../database/database.service';
import { AuditService } from '../audit/audit.service';
import { snapshotRow } from '../audit/audit-snapshot';
import { PolicyService } from '../policy/policy.service';
import { UsbRegisterEntryEntity } from './usb-register-entry.entity';
import type { CreateUsbRegisterEntryDto } from './dto/create-usb-register-entry.dto';
import type { UpdateUsbRegisterEntryDto } from './dto/update-usb-register-entry.dto';

const WILDCARD = '*';

/** The register of issued sticks. Every change publishes a new policy version in the same transaction. */
@Injectable()
export class UsbRegisterService {
  constructor(
    private readonly database: DatabaseService,
    private readonly policy: PolicyService,
    private readonly audit: AuditService,
  ) {}

  list(): Promise<UsbRegisterEntryEntity[]> {
    return this.database.dataSource.getRepository(UsbRegisterEntryEntity).find({ order: { createdAt: 'ASC', id: 'ASC' } });
  }

  async get(id: string): Promise<UsbRegisterEntryEntity> {
    const entry = await this.database.dataSource.getRepository(UsbRegisterEntryEntity).findOneBy({ id });
    if (entry === null) throw new NotFoundException(`register entry ${id} does not exist`);
    return entry;
  }

  async create(input: CreateUsbRegisterEntryDto, now = new Date()): Promise<UsbRegisterEntryEntity> {
    const anyVendor = input.vendorId === WILDCARD;
    const anyProduct = input.productId === WILDCARD;
    // USBGuard's id is "vendor:product", "vendor:*" or "*:*"; "*:5567" would name a product number across every vendor, which means nothing.
    if (anyVendor && !anyProduct) throw new BadRequestException('productId must be * when vendorId is * (vendor:product wildcards are 0781:* or *:*)');
    const entry = Object.assign(new UsbRegisterEntryEntity(), {
      id: randomUUID(),
      vendorId: anyVendor ? 0 : fromUsbHex(input.vendorId),
      productId: anyProduct ? 0 : fromUsbHex(input.productId),
      anyVendor,
      anyProduct,
      serial: input.serial,
      descriptorHash: (input.descriptorHash ?? '').toLowerCase(),
      label: input.label,
      holder: input.holder,
      department: input.department,
      createdAt: now,
      updatedAt: now,
    });
    const published = await this.database.transaction(async (sql) => {
      const inserted = await sql.run(
        `INSERT INTO usb_register_entries
           (id, vendor_id, product_id, any_vendor, any_product, serial, descriptor_hash, label, holder, department, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (any_vendor, vendor_id, any_product, product_id, serial) DO NOTHING`,
        [
          entry.id,
          entry.vendorId,
          entry.productId,
          entry.anyVendor,
          entry.anyProduct,
          entry.serial,
          entry.descriptorHash,
          entry.label,
          entry.holder,
          entry.department,
          entry.createdAt,
          entry.updatedAt,
        ],
      );
      if (inserted === 0) {
        throw new ConflictException(`${input.vendorId.toLowerCase()}:${input.productId.toLowerCase()} with serial ${input.serial} is already registered`);
      }
      const version = await this.policy.publishWithin(sql, now);
      const after = await snapshotRow(sql, 'usb_register_entries', entry.id);
      await this.audit.appendWithin(sql, { action: 'usb_register.entry.created', subjectType: 'usb_register_entry', subjectId: entry.id, before: null, after }, now);
      return version;
    });
    this.policy.announce(published);
    return entry;
  }

  /** Changes who holds the stick and what it is called; the names travel in the policy, so a new version is published. */
  async update(id: string, change: UpdateUsbRegisterEntryDto, now = new Date()): Promise<UsbRegisterEntryEntity> {
    const fields = (['label', 'holder', 'department'] as const).filter((field) => change[field] !== undefined);
    if (fields.length === 0) throw new BadRequestException('give at least one of label, holder, department');
    const published = await this.database.transaction(async (sql) => {
      const before = await snapshotRow(sql, 'usb_register_entries', id);
      const changed = await sql.run(`UPDATE usb_register_entries SET ${fields.map((field) => `${field} = ?`).join(', ')}, updated_at = ? WHERE id = ?`, [
        ...fields.map((field) => change[field]),
        now,
        id,
      ]);
      if (changed === 0) throw new NotFoundException(`register entry ${id} does not exist`);
      const version = await this.policy.publishWithin(sql, now);
      const after = await snapshotRow(sql, 'usb_register_entries', id);
      await this.audit.appendWithin(sql, { action: 'usb_register.entry.updated', subjectType: 'usb_register_entry', subjectId: id, before, after }, now);
      return version;
    });
    this.policy.announce(published);
    return this.get(id);
  }

  async remove(id: string, now = new Date()): Promise<void> {
    const published = await this.database.transaction(async (sql) => {
      const before = await snapshotRow(sql, 'usb_register_entries', id);
      const deleted = await sql.run('DELETE FROM usb_register_entries WHERE id = ?', [id]);
      if (deleted === 0) throw new NotFoundException(`register entry ${id} does not exist`);
      const version = await this.policy.publishWithin(sql, now);
      await this.audit.appendWithin(sql, { action: 'usb_register.entry.deleted', subjectType: 'usb_register_entry', subjectId: id, before, after: null }, now);
      return version;
    });
    this.policy.announce(published);
  }
}
