import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintNumber, epochMillis, jsonText } from '../../common/epoch-millis.transformer';

export type AgentStatus = 'enrolled' | 'revoked';

/** An enrolled agent: its identity, the certificate it must present, and its latest report. */
@Entity({ name: 'agents' })
export class AgentEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: AgentStatus;

  @Column({ type: 'text' })
  hostname!: string;

  @Column({ name: 'os_family', type: 'text' })
  osFamily!: string;

  @Column({ name: 'os_version', type: 'text' })
  osVersion!: string;

  @Column({ name: 'agent_version', type: 'text' })
  agentVersion!: string;

  @Column({ type: 'text' })
  architecture!: string;

  @Column({ name: 'machine_id', type: 'text' })
  machineId!: string;

  /** SMBIOS system serial / Mac serial from the heartbeat; '' until the first heartbeat or when unknown. */
  @Column({ name: 'hardware_serial', type: 'text' })
  hardwareSerial!: string;

  @Column({ name: 'hardware_model', type: 'text' })
  hardwareModel!: string;

  @Column({ name: 'hardware_vendor', type: 'text' })
  hardwareVendor!: string;

  @Column({ name: 'logged_in_users', type: 'text', transformer: jsonText })
  loggedInUsers!: string[];

  @Column({ name: 'network_interfaces', type: 'text', transformer: jsonText })
  networkInterfaces!: Array<{ name: string; macAddress: string; addresses: string[] }>;

  @Column({ type: 'text', nullable: true, transformer: jsonText })
  posture!: Record<string, unknown> | null;

  @Column({ type: 'text', nullable: true, transformer: jsonText })
  health!: Record<string, unknown> | null;

  @Column({ name: 'cert_fingerprint', type: 'varchar', length: 64 })
  certFingerprint!: string;

  @Column({ name: 'cert_serial', type: 'varchar', length: 64 })
  certSerial!: string;

  @Column({ name: 'cert_expires_at', type: 'bigint', transformer: epochMillis })
  certExpiresAt!: Date;

  @Column({ name: 'enrollment_token_id', type: 'varchar', length: 36 })
  enrollmentTokenId!: string;

  @Column({ name: 'enrolled_at', type: 'bigint', transformer: epochMillis })
  enrolledAt!: Date;

  @Column({ name: 'revoked_at', type: 'bigint', nullable: true, transformer: epochMillis })
  revokedAt!: Date | null;

  @Column({ name: 'last_seen_at', type: 'bigint', nullable: true, transformer: epochMillis })
  lastSeenAt!: Date | null;

  @Column({ name: 'policy_version', type: 'bigint', transformer: bigintNumber })
  policyVersion!: number;

  /** The network zone the device must be in (network.wrong_zone), null for none. */
  @Column({ name: 'required_zone', type: 'varchar', length: 64, nullable: true })
  requiredZone!: string | null;

  /** Which CA (its pin) issued the current certificate; null until the first heartbeat after CA rotation arrived. */
  @Column({ name: 'cert_issuer_pin', type: 'varchar', length: 64, nullable: true })
  certIssuerPin!: string | null;

  /** The CAs (pins) the agent last reported trusting for the collector; null when it never said. */
  @Column({ name: 'trusted_ca_pins', type: 'text', nullable: true, transformer: jsonText })
  trustedCaPins!: string[] | null;
}
