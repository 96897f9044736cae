import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMillis } from '../../common/epoch-millis.transformer';

/** The hash of an administrator API token; the token itself is shown once and never stored. */
@Entity({ name: 'admin_credentials' })
export class AdminCredentialEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'token_hash', type: 'varchar', length: 64 })
  tokenHash!: string;

  @Column({ name: 'created_at', type: 'bigint', transformer: epochMillis })
  createdAt!: Date;
}
