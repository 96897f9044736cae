import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMillis, jsonText } from '../../common/epoch-millis.transformer';

/**
 * One event as stored. Rows are written by the ingest path with raw SQL (see IngestService);
 * the entity describes the table for reads and for the schema's readers.
 */
@Entity({ name: 'events' })
export class StoredEventEntity {
  /** A surrogate key that orders rows with equal occurred_at for cursors. */
  @PrimaryColumn({ type: 'bigint' })
  id!: string;

  @Column({ name: 'agent_id', type: 'varchar', length: 36 })
  agentId!: string;

  @Column({ name: 'event_id', type: 'varchar', length: 36 })
  eventId!: string;

  @Column({ type: 'bigint' })
  sequence!: string;

  @Column({ type: 'varchar', length: 32 })
  kind!: string;

  @Column({ name: 'occurred_at', type: 'bigint', transformer: epochMillis })
  occurredAt!: Date;

  @Column({ name: 'received_at', type: 'bigint', transformer: epochMillis })
  receivedAt!: Date;

  @Column({ name: 'user_name', type: 'text' })
  userName!: string;

  @Column({ name: 'batch_id', type: 'varchar', length: 36 })
  batchId!: string;

  @Column({ type: 'text', transformer: jsonText })
  payload!: Record<string, unknown>;
}
