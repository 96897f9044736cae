import { inspectSpool } from '../outbox/outbox';
import { readFile } from 'node:fs/promises';
import { loadIdentity, NotEnrolledError } from '../state/agent-identity';
import { certificateExpiry, type CertificateExpiry } from '../state/certificate-expiry';
import { loadCachedPolicy } from '../state/policy-cache';
import { statePaths } from '../state/state-dir';
import { checkInstallIntegrity, describeInstallIntegrity } from '../state/install-integrity';
import { checkBootScriptIntegrity, checkUnitIntegrity, describeBootScriptIntegrity, describeUnitIntegrity, locateBootScript, locateUnit } from '../state/unit-integrity';
import { readStatusFile, type EncryptionStatusSummary } from '../state/status-file';
import type { TransferStatus } from '../sources/transfers/transfer.source';
import type { NetworkGuardStatus } from '../daemon/network-guard';
import { caBundleAuthorities, type CertificateRenewalStatus } from '../transport/certificate-renewer';
import type { UpgradeStatus } from '../upgrade/upgrader';
import { agentVersion } from '../facts/host-facts';

const STALE_AFTER_MS = 15_000;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * `mamori-agent status`: enrollment from agent.json, connection from the daemon's status.json,
 * spool depth and drops from the spool itself (so it is true even when the daemon is down).
 * Exit 0 when enrolled, 3 when not.
 */
export async function statusCommand(input: { stateDir: string; json: boolean }): Promise<number> {
  const paths = statePaths(input.stateDir);
  let identity;
  try {
    identity = await loadIdentity(paths);
  } catch (error) {
    if (!(error instanceof NotEnrolledError)) throw error;
    if (input.json) process.stdout.write(JSON.stringify({ enrolled: false, stateDir: paths.root, reason: error.message, install: await checkInstallIntegrity() }) + '\n');
    else process.stdout.write(`mamori-agent: ${error.message}\n`);
    return 3;
  }
  const [daemon, spool, policy] = await Promise.all([readStatusFile(paths.status), inspectSpool(paths.spool), loadCachedPolicy(paths.policyCache)]);
  let certificate: CertificateExpiry | { error: string };
  try {
    certificate = certificateExpiry(await readFile(paths.certificate, 'utf8'));
  } catch (error) {
    certificate = { error: `cannot read the client certificate ${paths.certificate}: ${(error as Error).message}` };
  }
  const install = await checkInstallIntegrity();
  const running = daemon !== null && pidAlive(daemon.pid) && Date.now() - Date.parse(daemon.updatedAt) < STALE_AFTER_MS;
  const report = {
    enrolled: true,
    agentId: identity.agentId,
    server: identity.server,
    enrolledAt: identity.enrolledAt,
    stateDir: paths.root,
    daemon: { running, pid: daemon?.pid ?? null, startedAt: daemon?.startedAt ?? null, updatedAt: daemon?.updatedAt ?? null },
    connection: {
      state: running ? daemon!.connection.state : 'not running',
      lastContactAt: daemon?.connection.lastContactAt ?? null,
      lastError: daemon?.connection.lastError ?? null,
      lastErrorAt: daemon?.connection.lastErrorAt ?? null,
    },
    spool: { events: spool.events, bytes: spool.bytes },
    droppedEvents: spool.droppedTotal,
    rejectedEvents: spool.rejected,
    rejectedDiscarded: spool.rejectedDiscarded,
    policyVersion: policy === null ? '0' : policy.version,
    // As the running daemon last saw them; an old or missing status.json has none.
    capabilities: running ? (daemon!.capabilities ?? []) : [],
    // Disk encryption as the running daemon last checked it; null when it is not running or has not checked.
    encryption: running ? (daemon!.encryption ?? null) : null,
    // Watched volumes and folders, and the ones not watched with the reason; null when not running.
    transfers: running ? (daemon!.transfers ?? null) : null,
    // The zone, the egress firewall and proxy as the running daemon last saw them; null when not running.
    network: running ? (daemon!.network ?? null) : null,
    certificate,
    // The collector CAs this agent trusts (its state folder's ca.crt); two during a CA rotation.
    collectorCas: caBundleAuthorities(await readFile(paths.caCertificate, 'utf8').catch(() => '')),
    // The running daemon's renewal of the client certificate; null when it is not running.
    renewal: running ? (daemon!.certificate ?? null) : null,
    // This version against the fleet's target, a trial or a rollback, as the running daemon last saw them.
    upgrade: running ? (daemon!.upgrade ?? null) : null,
    // The installed files against the bundle's MANIFEST.sha256, checked now (tamper evidence).
    install,
    // The systemd unit against the SHA-256 install.sh recorded (Linux installs only).
    unit: await checkUnitIntegrity(install.installDir === null ? null : await locateUnit(install.installDir)),
    // The boot script the unit starts (outside every release) against the SHA-256 install.sh recorded (Linux installs only).
    bootScript: await checkBootScriptIntegrity(install.installDir === null ? null : await locateBootScript(install.installDir)),
  };
  if (input.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return 0;
  }
  const lines = [
    `enrolled:        yes, agent ${report.agentId} with ${report.server} (since ${report.enrolledAt})`,
    `daemon:          ${running ? `running (pid ${report.daemon.pid}, since ${report.daemon.startedAt})` : 'not running'}`,
    `connection:      ${report.connection.state}; last contact ${report.connection.lastContactAt ?? 'never'}`,
    `last error:      ${report.connection.lastError ? `${report.connection.lastError} (${report.connection.lastErrorAt})` : 'none'}`,
    `spool:           ${report.spool.events} event(s), ${report.spool.bytes} byte(s) waiting`,
    `dropped events:  ${report.droppedEvents}`,
    `rejected events: ${report.rejectedEvents}${report.rejectedDiscarded > 0 ? ` (${report.rejectedDiscarded} older file(s) in rejected/ deleted to keep it bounded)` : ''}`,
    `policy version:  ${report.policyVersion}`,
    `install:         ${describeInstallIntegrity(report.install)}`,
    `unit:            ${describeUnitIntegrity(report.unit)}`,
    `boot script:     ${describeBootScriptIntegrity(report.bootScript)}`,
    'error' in certificate
      ? `certificate:     ${certificate.error}`
      : `certificate:     expires ${certificate.expiresAt} (${certificate.state === 'expired' ? 'EXPIRED' : `${certificate.daysLeft} day(s) left`}); renewed automatically from ${certificate.renewAt}`,
    renewalLine(report.renewal),
    `collector CA:    ${report.collectorCas.length === 0 ? `NONE readable in ${paths.caCertificate}` : report.collectorCas.map((ca) => `${ca.subject} (pin ${ca.pin}, until ${ca.notAfter})`).join('; ')}`,
    upgradeLine(report.upgrade),
  ];
  if (report.upgrade?.lastUpgrade) lines.push(`last upgrade:    ${report.upgrade.lastUpgrade}`);
  if (report.upgrade?.rolledBack) lines.push(`ROLLED BACK:     ${report.upgrade.rolledBack}`);
  for (const capability of report.capabilities) {
    lines.push(`capability:      ${capability.name} ${capability.available ? 'available' : `NOT available: ${capability.reason}`}`);
  }
  lines.push(...encryptionLines(report.encryption));
  lines.push(...transferLines(report.transfers));
  lines.push(networkLine(report.network));
  if (!('error' in certificate) && certificate.warning !== null) lines.push(`WARNING: ${certificate.warning}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

/** The upgrade line of the human status: the running version against the fleet's target. */
function upgradeLine(upgrade: UpgradeStatus | null): string {
  if (upgrade === null) return `version:         ${agentVersion()} (upgrades unknown: the daemon is not running)`;
  const target = upgrade.targetVersion === null ? 'no target set' : `target ${upgrade.targetVersion}`;
  return `version:         ${upgrade.runningVersion}, ${target}: ${upgrade.state}${upgrade.detail === '' ? '' : ` (${upgrade.detail})`}`;
}

/** The renewal line of the human status: what the daemon's certificate renewal last did. */
function renewalLine(renewal: CertificateRenewalStatus | null): string {
  if (renewal === null) return 'renewal:         unknown (the daemon is not running)';
  const last = renewal.lastRenewedAt === null ? 'not renewed by this run yet' : `last renewed ${renewal.lastRenewedAt}`;
  if (renewal.state === 'unavailable') return `renewal:         NOT available in this agent; ${last}`;
  if (renewal.state === 'failing') {
    return `renewal:         FAILING (${renewal.failedAttempts} attempt(s)): ${renewal.lastError} (${renewal.lastErrorAt}); next attempt ${renewal.nextAttemptAt}; ${last}`;
  }
  const requested = renewal.requestedReason === null ? '' : `; requested by the collector: ${renewal.requestedReason}`;
  return `renewal:         ${renewal.state === 'renewing' ? 'renewing now' : `next at ${renewal.nextAttemptAt ?? renewal.renewAt}`}; ${last}${requested}`;
}

/** The network line of the human status: zone, what the whitelist does there, how it is enforced. */
function networkLine(network: NetworkGuardStatus | null): string {
  if (network === null) return 'network:         unknown (the daemon is not running)';
  const zone = network.zone === '' ? 'in no defined zone (the whitelist does not apply)' : `zone ${network.zone}, whitelist ${network.mode} (${network.whitelistEntries} entr${network.whitelistEntries === 1 ? 'y' : 'ies'})`;
  const proxy = network.proxy === '' ? 'no egress proxy' : `egress proxy on ${network.proxy}`;
  return `network:         ${zone}; firewall: ${network.enforcer}; ${proxy}${network.lastError !== '' ? `; PROBLEM: ${network.lastError}` : ''}`;
}

/** The transfer-watch lines of the human status: each root watched or not (and why), the queue. */
function transferLines(transfers: TransferStatus | null): string[] {
  if (transfers === null) return ['file transfers:  unknown (the daemon is not running)'];
  const lines = [
    `file transfers:  ${transfers.roots.filter((r) => r.state === 'watching').length} place(s) watched; ${transfers.queued} file(s) queued, ${transfers.inspecting} being inspected; ` +
      `CPU limit ${transfers.cpuLimitPercent}% of a core, ${transfers.concurrency} at a time`,
  ];
  for (const r of transfers.roots) {
    const what = r.kind === 'volume' ? `volume ${r.root} (${[r.deviceNode, r.usbDevice, r.encrypted ? 'encrypted' : 'NOT encrypted'].filter((x) => x !== '').join(', ')})` : `folder ${r.root}`;
    const state = r.state === 'watching' ? `watching since ${r.since}` : r.state === 'starting' ? 'starting' : `NOT watched: ${r.problem || r.state}`;
    lines.push(`transfer watch:  ${what}: ${state}; ${r.written} written, ${r.renamed} renamed, ${r.deleted} deleted, ${r.problems} with problems, ${r.pending} being written`);
    if (r.state === 'watching' && r.problem !== '') lines.push(`transfer note:   ${r.root}: ${r.problem}`);
  }
  lines.push(`transfer note:   ${transfers.processAttribution}`);
  return lines;
}

const CHECK_WORDS: Record<string, string> = {
  POSTURE_CHECK_PASSED: 'yes',
  POSTURE_CHECK_FAILED: 'NO',
  POSTURE_CHECK_UNSPECIFIED: 'not checked',
};

/** The disk-encryption lines of the human status: the two checks, each volume, each problem. */
function encryptionLines(encryption: EncryptionStatusSummary | null): string[] {
  if (encryption === null) return ['disk encryption: unknown (the daemon is not running)'];
  if (encryption.checkedAt === null) return [`disk encryption: not checked yet (${encryption.source})`];
  const lines = [
    `disk encryption: fixed disks encrypted: ${CHECK_WORDS[encryption.fixedDisksEncrypted] ?? encryption.fixedDisksEncrypted}; ` +
      `system volume encrypted: ${CHECK_WORDS[encryption.systemVolumeEncrypted] ?? encryption.systemVolumeEncrypted} (checked ${encryption.checkedAt} by ${encryption.source})`,
  ];
  for (const v of encryption.volumes) {
    const scheme = v.scheme.replace(/^ENCRYPTION_SCHEME_/, '');
    let state: string;
    if (scheme === 'UNSPECIFIED') state = 'unknown';
    else if (scheme === 'NONE') state = 'NOT encrypted';
    else if (v.locked) state = `${scheme}, locked`;
    else state = `${scheme}, ${v.fullyEncrypted ? 'fully encrypted' : `${v.percentEncrypted}% encrypted (in progress)`}, protection ${v.protectionOn ? 'on' : 'OFF'}`;
    const where = [v.mountPoint, v.systemVolume ? 'system' : '', v.encryptedBy ? `in ${v.encryptedBy}` : ''].filter((x) => x !== '').join(', ');
    lines.push(`volume:          ${v.device}${where ? ` (${where})` : ''}: ${state}`);
  }
  for (const problem of encryption.problems) lines.push(`encryption note: ${problem}`);
  return lines;
}
