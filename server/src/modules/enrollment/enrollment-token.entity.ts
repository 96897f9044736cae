import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMillis } from '../../common/epoch-millis.transformer';

/** An enrollment token; only the SHA-256 of its secret is kept. */
@Entity({ name: 'enrollment_tokens' })
export class EnrollmentTokenEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'text' })
  label!: string;

  @Column({ name: 'secret_hash', type: 'varchar', length: 64 })
  secretHash!: string;

  @Column({ name: 'created_at', type: 'bigint', transformer: epochMillis })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'bigint', transformer: epochMillis })
  expiresAt!: Date;

  @Column({ name: 'max_uses', type: 'integer', nullable: true })
  maxUses!: number | null;

  @Column({ type: 'integer' })
  uses!: number;

  @Column({ name: 'revoked_at', type: 'bigint', nullable: true, transformer: epochMillis })
  revokedAt!: Date | null;

  /** The network zone every agent it enrolls is required in; an install naming another is refused. Null: the installer's choice. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  zone!: string | null;
}
