import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMillis } from '../../common/epoch-millis.transformer';

/** SQLite reads BOOLEAN columns back as 0/1, PostgreSQL as true/false. */
const sqlBooleanColumn = {
  to: (value: boolean | null | undefined) => value,
  from: (value: boolean | number | null) => value === true || value === 1,
};

/**
 * One company-issued USB stick in the register. An entry matches on vendor:product (either may
 * be the wildcard, stored as any_* with the id 0), the exact serial, and the descriptor hash
 * when one is set; (any_vendor, vendor, any_product, product, serial) is unique.
 */
@Entity({ name: 'usb_register_entries' })
export class UsbRegisterEntryEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'vendor_id', type: 'integer' })
  vendorId!: number;

  @Column({ name: 'product_id', type: 'integer' })
  productId!: number;

  @Column({ name: 'any_vendor', type: 'boolean', transformer: sqlBooleanColumn })
  anyVendor!: boolean;

  @Column({ name: 'any_product', type: 'boolean', transformer: sqlBooleanColumn })
  anyProduct!: boolean;

  @Column({ type: 'text' })
  serial!: string;

  /** Lower-case hex, empty when the entry does not pin the descriptors. */
  @Column({ name: 'descriptor_hash', type: 'varchar', length: 64 })
  descriptorHash!: string;

  @Column({ type: 'text' })
  label!: string;

  @Column({ type: 'text' })
  holder!: string;

  /** Null only on entries made before departments were required. */
  @Column({ type: 'text', nullable: true })
  department!: string | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: epochMillis })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'bigint', transformer: epochMillis })
  updatedAt!: Date;
}
