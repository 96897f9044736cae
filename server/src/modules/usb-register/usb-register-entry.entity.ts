import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMillis } from '../../common/epoch-millis.transformer';

/** One company-issued USB stick in the register; (vendor, product, serial) is unique. */
@Entity({ name: 'usb_register_entries' })
export class UsbRegisterEntryEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'vendor_id', type: 'integer' })
  vendorId!: number;

  @Column({ name: 'product_id', type: 'integer' })
  productId!: number;

  @Column({ type: 'text' })
  serial!: string;

  @Column({ type: 'text' })
  label!: string;

  @Column({ type: 'text' })
  holder!: string;

  @Column({ type: 'text', nullable: true })
  department!: string | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: epochMillis })
  createdAt!: Date;
}
