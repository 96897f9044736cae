import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintNumber, epochMillis, jsonText } from '../../common/epoch-millis.transformer';
import type { PolicyDocument } from './policy-document';

/** One immutable policy version; rows are only ever inserted. */
@Entity({ name: 'policy_versions' })
export class PolicyVersionEntity {
  @PrimaryColumn({ type: 'bigint', transformer: bigintNumber })
  version!: number;

  @Column({ name: 'published_at', type: 'bigint', transformer: epochMillis })
  publishedAt!: Date;

  @Column({ type: 'text', transformer: jsonText })
  document!: PolicyDocument;
}
