import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { fromUsbHex } from '../../common/usb-hex';
import { DatabaseService } from '../../database/database.service';
import { PolicyService } from '../policy/policy.service';
import { UsbRegisterEntryEntity } from './usb-register-entry.entity';
import type { CreateUsbRegisterEntryDto } from './dto/create-usb-register-entry.dto';

/** The register of issued sticks. Every change publishes a new policy version in the same transaction. */
@Injectable()
export class UsbRegisterService {
  constructor(
    private readonly database: DatabaseService,
    private readonly policy: PolicyService,
  ) {}

  list(): Promise<UsbRegisterEntryEntity[]> {
    return this.database.dataSource.getRepository(UsbRegisterEntryEntity).find({ order: { createdAt: 'ASC', id: 'ASC' } });
  }

  async create(input: CreateUsbRegisterEntryDto, now = new Date()): Promise<UsbRegisterEntryEntity> {
    const entry = Object.assign(new UsbRegisterEntryEntity(), {
      id: randomUUID(),
      vendorId: fromUsbHex(input.vendorId),
      productId: fromUsbHex(input.productId),
      serial: input.serial,
      label: input.label,
      holder: input.holder,
      department: input.department ?? null,
      createdAt: now,
    });
    const published = await this.database.transaction(async (sql) => {
      const inserted = await sql.run(
        `INSERT INTO usb_register_entries (id, vendor_id, product_id, serial, label, holder, department, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (vendor_id, product_id, serial) DO NOTHING`,
        [entry.id, entry.vendorId, entry.productId, entry.serial, entry.label, entry.holder, entry.department, entry.createdAt],
      );
      if (inserted === 0) {
        throw new ConflictException(`a stick ${input.vendorId.toLowerCase()}:${input.productId.toLowerCase()} with serial ${input.serial} is already registered`);
      }
      return this.policy.publishWithin(sql, now);
    });
    this.policy.announce(published);
    return entry;
  }

  async remove(id: string, now = new Date()): Promise<void> {
    const published = await this.database.transaction(async (sql) => {
      const deleted = await sql.run('DELETE FROM usb_register_entries WHERE id = ?', [id]);
      if (deleted === 0) throw new NotFoundException(`register entry ${id} does not exist`);
      return this.policy.publishWithin(sql, now);
    });
    this.policy.announce(published);
  }
}
