import { Inject, Injectable } from '@nestjs/common';
import { copyFileSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { CollectorConfig } from '../../config/collector-config';
import { COLLECTOR_CONFIG } from '../../config/collector-config.token';
import { DatabaseService } from '../../database/database.service';
import { AuditService } from '../audit/audit.service';
import { caPinOf, generateCertificateAuthority, LoadedAuthority } from './certificate-authority';
import { PkiService, writePrivateFile } from './pki.service';
import { CA_FILES, type AuthorityRole, type TrustedAuthority } from './trusted-authorities';

/** A rotation step that must not happen now; the message says why and what to do. */
export class CaRotationError extends Error {
  override name = 'CaRotationError';
}

export interface AuthorityView {
  role: AuthorityRole;
  pin: string;
  subject: string;
  notAfter: string;
  source: string;
}

/** An enrolled agent as the rotation sees it. */
export interface AgentCaView {
  id: string;
  hostname: string;
  lastSeenAt: string | null;
  /** The CA that issued its current certificate; null when no heartbeat has said since the upgrade. */
  certificateIssuer: string | null;
  /** The CAs it trusts for the collector; null when it never reported them (an agent older than CA rotation). */
  trustedCaPins: string[] | null;
}

export interface CaRotationStatus {
  /** steady: one CA; introduced: a next CA is handed out; switched: a previous CA is still trusted; trusting: the operator's trust file adds CAs. */
  stage: 'steady' | 'introduced' | 'switched' | 'trusting';
  authorities: AuthorityView[];
  agents: {
    enrolled: number;
    /** Agents that trust every CA the collector trusts. */
    trustingEveryCa: number;
    /** Agents whose certificate comes from the signing CA. */
    onSigningCa: number;
    /** Agents that hold up the next step (missing a CA, or a certificate from an old one), at most 100. */
    notReady: AgentCaView[];
    notReadyCount: number;
  };
  nextStep: string;
}

interface AgentRow {
  id: string;
  hostname: string;
  last_seen_at: string | number | null;
  cert_issuer_pin: string | null;
  trusted_ca_pins: string | null;
}

const LISTED_AGENTS = 100;

/**
 * Rotation of the collector's generated CA without enrolling agents again, in three steps an
 * operator runs with `mamori-server ca ...`, each followed by a restart of the collector:
 *
 * 1. `rotate` creates the next CA beside the signing one. The collector trusts both and asks
 *    every agent (heartbeat answer) to renew, which hands it the bundle of both.
 * 2. `switch`, once every agent trusts the next CA, makes it the signing CA (the server
 *    certificate is re-issued from it at start) and keeps the old one trusted as "previous";
 *    agents are asked to renew again and get certificates from the new CA.
 * 3. `retire`, once no agent's certificate comes from the previous CA, stops trusting it.
 *
 * The agents' readiness comes from the database (heartbeats), so status works on any replica.
 * With an operator's CA (MAMORI_TLS_CA_FILE) the same steps are file edits (README).
 */
@Injectable()
export class CaRotationService {
  constructor(
    private readonly database: DatabaseService,
    private readonly pki: PkiService,
    private readonly audit: AuditService,
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
  ) {}

  async status(): Promise<CaRotationStatus> {
    const authorities = this.pki.authorities;
    const signing = authorities[0];
    const trustedPins = authorities.map((authority) => authority.pin);
    const agents = await this.enrolledAgents();
    const trustsAll = (agent: AgentCaView) => agent.trustedCaPins !== null && trustedPins.every((pin) => agent.trustedCaPins!.includes(pin));
    const onSigning = (agent: AgentCaView) => agent.certificateIssuer === signing.pin;
    const stage = authorities.some((a) => a.role === 'next') ? 'introduced' : authorities.some((a) => a.role === 'previous') ? 'switched' : authorities.length > 1 ? 'trusting' : 'steady';
    // What holds up this stage's next step, as the step itself checks it: the switch needs every
    // agent to trust the next CA, the retirement needs every certificate to come from the signing CA.
    const ready = stage === 'introduced' ? trustsAll : stage === 'switched' ? onSigning : (agent: AgentCaView) => trustsAll(agent) && onSigning(agent);
    const notReady = agents.filter((agent) => !ready(agent));
    return {
      stage,
      authorities: authorities.map(authorityView),
      agents: {
        enrolled: agents.length,
        trustingEveryCa: agents.filter(trustsAll).length,
        onSigningCa: agents.filter(onSigning).length,
        notReady: notReady.slice(0, LISTED_AGENTS),
        notReadyCount: notReady.length,
      },
      nextStep: nextStep(stage, notReady.length, this.config),
    };
  }

  /** Step 1: creates ca-next.crt/.key in the data folder. */
  async rotate(now = new Date()): Promise<AuthorityView> {
    this.requireGeneratedCa('rotate');
    const next = this.file('next');
    const previous = this.file('previous');
    if (existsSync(next.certificate)) {
      throw new CaRotationError(`a rotation is already under way: ${next.certificate} holds CA ${pinOfFile(next.certificate)}; run "mamori-server ca switch" when every agent trusts it (see "ca status")`);
    }
    if (existsSync(previous.certificate)) {
      throw new CaRotationError(`the previous CA ${pinOfFile(previous.certificate)} is still trusted (${previous.certificate}); finish that rotation with "mamori-server ca retire" first`);
    }
    const created = await generateCertificateAuthority(`mamori collector CA ${now.toISOString().slice(0, 10)}`, now);
    // The key goes first: a certificate without its key would be a CA nobody can switch to.
    writePrivateFile(next.key, created.privateKeyPem);
    writePrivateFile(next.certificate, created.certificatePem);
    const view = fileAuthority(created.certificatePem, 'next', next.certificate);
    await this.record('pki.ca.introduced', view.pin, { signing: this.pki.caPin }, { signing: this.pki.caPin, next: view.pin, nextSubject: view.subject, nextNotAfter: view.notAfter }, now);
    return view;
  }

  /** Step 2: the next CA signs; the signing one becomes the previous. Refused while an agent does not trust the next one, unless forced. */
  async switch(force: boolean, now = new Date()): Promise<{ signing: AuthorityView; previous: AuthorityView; agentsLeftBehind: AgentCaView[]; usableTokens: number }> {
    this.requireGeneratedCa('switch');
    const next = this.file('next');
    const current = this.file('signing');
    const previous = this.file('previous');
    if (!existsSync(next.certificate) || !existsSync(next.key)) {
      throw new CaRotationError(`there is no next CA to switch to (${next.certificate}); start a rotation with "mamori-server ca rotate"`);
    }
    // Checked before anything moves: a key that is not the certificate's would sign nothing usable.
    await LoadedAuthority.load({ certificatePem: readFileSync(next.certificate, 'utf8'), privateKeyPem: readFileSync(next.key, 'utf8') }).catch((error: Error) => {
      throw new CaRotationError(`${next.certificate} and ${next.key}: ${error.message}`);
    });
    const nextPin = pinOfFile(next.certificate);
    const behind = (await this.enrolledAgents()).filter((agent) => agent.trustedCaPins === null || !agent.trustedCaPins.includes(nextPin));
    if (behind.length > 0 && !force) {
      throw new CaRotationError(
        `${behind.length} enrolled agent(s) do not trust the next CA ${nextPin} yet and would lose contact after the switch ` +
          `(they would not trust the new server certificate): ${listAgents(behind)}. ` +
          'Wait until their heartbeat brings them the new CA (a renewal each), revoke the ones that are gone, or repeat with --force to leave them behind (they must enroll again)',
      );
    }
    const oldPin = this.pki.caPin;
    // Order for a crash: the copies first (the old CA is never lost), then the key, then the
    // certificate; a start between the last two finishes the switch (completeInterruptedSwitch).
    copyFileSync(current.key, previous.key);
    copyFileSync(current.certificate, previous.certificate);
    renameSync(next.key, current.key);
    renameSync(next.certificate, current.certificate);
    const usableTokens = await this.usableTokenCount(now);
    await this.record(
      'pki.ca.switched',
      nextPin,
      { signing: oldPin },
      { signing: nextPin, previous: oldPin, forced: force, agentsLeftBehind: behind.map((agent) => agent.id).slice(0, LISTED_AGENTS) },
      now,
    );
    return {
      signing: fileAuthority(readFileSync(current.certificate, 'utf8'), 'signing', current.certificate),
      previous: fileAuthority(readFileSync(previous.certificate, 'utf8'), 'previous', previous.certificate),
      agentsLeftBehind: behind.slice(0, LISTED_AGENTS),
      usableTokens,
    };
  }

  /** Step 3: stops trusting the previous CA. Refused while an agent's certificate may still come from it, unless forced. */
  async retire(force: boolean, now = new Date()): Promise<{ retired: AuthorityView; agentsLeftBehind: AgentCaView[] }> {
    this.requireGeneratedCa('retire');
    const previous = this.file('previous');
    if (!existsSync(previous.certificate)) throw new CaRotationError(`there is no previous CA to retire (${previous.certificate})`);
    const retired = fileAuthority(readFileSync(previous.certificate, 'utf8'), 'previous', previous.certificate);
    const signingPin = this.pki.caPin;
    if (signingPin === retired.pin) {
      throw new CaRotationError(`${previous.certificate} holds the signing CA itself: a "ca switch" stopped after saving the old CA; run "mamori-server ca switch" again to finish it`);
    }
    const behind = (await this.enrolledAgents()).filter((agent) => agent.certificateIssuer !== signingPin);
    if (behind.length > 0 && !force) {
      throw new CaRotationError(
        `${behind.length} enrolled agent(s) have no certificate from the signing CA ${signingPin} yet and would be refused once CA ${retired.pin} is retired: ` +
          `${listAgents(behind)}. Wait for their renewal (asked for at each heartbeat), revoke the ones that are gone, or repeat with --force to leave them behind (they must enroll again)`,
      );
    }
    // The certificate first: once it is gone the CA is no longer trusted, and a repeat finds nothing to retire.
    rmSync(previous.certificate, { force: true });
    rmSync(previous.key, { force: true });
    await this.record('pki.ca.retired', retired.pin, { signing: signingPin, previous: retired.pin }, { signing: signingPin, forced: force, agentsLeftBehind: behind.map((agent) => agent.id).slice(0, LISTED_AGENTS) }, now);
    return { retired, agentsLeftBehind: behind.slice(0, LISTED_AGENTS) };
  }

  private requireGeneratedCa(step: string): void {
    if (this.config.tls.caFile !== undefined) {
      throw new CaRotationError(
        `"ca ${step}" rotates the CA this collector generated in its data folder, but this one uses the operator's CA from MAMORI_TLS_CA_FILE (${this.config.tls.caFile}); ` +
          'rotate it by editing MAMORI_TLS_CA_FILE, MAMORI_TLS_CA_KEY_FILE and MAMORI_TLS_CA_TRUST_FILE as the README describes ("Rotating the collector CA"); "ca status" shows the agents\' progress',
      );
    }
  }

  private file(role: keyof typeof CA_FILES): { certificate: string; key: string } {
    return { certificate: join(this.config.dataDir, CA_FILES[role].certificate), key: join(this.config.dataDir, CA_FILES[role].key) };
  }

  private async enrolledAgents(): Promise<AgentCaView[]> {
    const rows = await this.database.query<AgentRow>(
      `SELECT id, hostname, last_seen_at, cert_issuer_pin, trusted_ca_pins FROM agents WHERE status = 'enrolled'
       ORDER BY CASE WHEN last_seen_at IS NULL THEN 1 ELSE 0 END, last_seen_at DESC, id`,
    );
    return rows.map((row) => ({
      id: row.id,
      hostname: row.hostname,
      lastSeenAt: row.last_seen_at === null ? null : new Date(Number(row.last_seen_at)).toISOString(),
      certificateIssuer: row.cert_issuer_pin,
      trustedCaPins: row.trusted_ca_pins === null ? null : (JSON.parse(row.trusted_ca_pins) as string[]),
    }));
  }

  private async usableTokenCount(now: Date): Promise<number> {
    const [row] = await this.database.query<{ count: string | number }>(
      'SELECT COUNT(*) AS count FROM enrollment_tokens WHERE revoked_at IS NULL AND expires_at > ? AND (max_uses IS NULL OR uses < max_uses)',
      [now],
    );
    return Number(row?.count ?? 0);
  }

  private async record(action: string, pin: string, before: Record<string, unknown>, after: Record<string, unknown>, now: Date): Promise<void> {
    await this.database.transaction((sql) => this.audit.appendWithin(sql, { action, subjectType: 'certificate_authority', subjectId: pin, before, after }, now));
  }
}

/** A CA certificate file as status and step results show it. */
function fileAuthority(pem: string, role: AuthorityRole, source: string): AuthorityView {
  const certificate = new X509Certificate(pem);
  return { role, pin: caPinOf(pem), subject: certificate.subject.replace(/\n/g, ', '), notAfter: new Date(certificate.validTo).toISOString(), source };
}

function authorityView(authority: TrustedAuthority): AuthorityView {
  return { role: authority.role, pin: authority.pin, subject: authority.subject, notAfter: authority.notAfter.toISOString(), source: authority.source };
}

function pinOfFile(path: string): string {
  return caPinOf(readFileSync(path, 'utf8'));
}

function listAgents(agents: AgentCaView[]): string {
  const shown = agents.slice(0, 20).map((agent) => `${agent.id} (${agent.hostname || 'unnamed host'}, last seen ${agent.lastSeenAt ?? 'never'})`);
  return shown.join(', ') + (agents.length > shown.length ? ` and ${agents.length - shown.length} more` : '');
}

function nextStep(stage: CaRotationStatus['stage'], notReady: number, config: CollectorConfig): string {
  const operatorCa = config.tls.caFile !== undefined;
  switch (stage) {
    case 'steady':
      return operatorCa
        ? 'one CA; to rotate an operator CA, add the new CA to MAMORI_TLS_CA_TRUST_FILE and restart (README: Rotating the collector CA)'
        : 'one CA; "mamori-server ca rotate" starts a rotation';
    case 'introduced':
      return notReady === 0
        ? 'every enrolled agent trusts the next CA: run "mamori-server ca switch", then restart the collector'
        : `wait: ${notReady} agent(s) do not trust the next CA yet (they are asked to renew at each heartbeat)`;
    case 'switched':
      return notReady === 0
        ? 'every enrolled agent has a certificate from the new CA: run "mamori-server ca retire", then restart the collector'
        : `wait: ${notReady} agent(s) have no certificate from the new CA yet (they are asked to renew at each heartbeat)`;
    case 'trusting':
      return notReady === 0
        ? 'every enrolled agent trusts every CA and has a certificate from the signing one: the next file step of the rotation can be made'
        : `wait: ${notReady} agent(s) are not ready for the next step of the rotation`;
  }
}
