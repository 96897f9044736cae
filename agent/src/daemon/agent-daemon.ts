import { readdir, unlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from '../config/agent-config';
import { bundleTopOf, checkInstallIntegrity, describeInstallIntegrity } from '../state/install-integrity';
import { InstallWatch } from '../state/install-watch';
import {
  checkBootScriptIntegrity,
  checkUnitIntegrity,
  describeBootScriptIntegrity,
  describeUnitIntegrity,
  locateBootScript,
  locateUnit,
  type BootScriptLocation,
  type UnitLocation,
} from '../state/unit-integrity';
import { agentStatusEvent, eventsDroppedEvent, usbAttachedEvent, usbDetachedEvent, usbReevaluatedEvent, usbStorageVolumesEvent, type EventDraft } from '../core/event-factory';
import { allDataVolumesEncrypted, evaluateUsbDevice, evaluateUsbStorage, type UsbDeviceVerdict } from '../core/usb-policy';
import { createUsbEnforcer } from '../enforce/usb-enforcer-selector';
import { mergeCapabilities, modeName, needsBlockAtBirth, type UsbEnforcer } from '../enforce/usb-enforcer';
import { processCommandRunner, type CommandRunner } from '../facts/command-runner';
import { toTimestamp } from '../core/timestamps';
import { usbPosture } from '../core/usb-register';
import { collectHostFacts } from '../facts/host-facts';
import type { PlatformFacts } from '../facts/platform-facts';
import type { HostIdentity, UsbDevice } from '../generated/mamori/v1/common';
import type { BlockDevice, UsbEnforcementDecision } from '../generated/mamori/v1/events';
import { AgentState, UsbEnforcementAction } from '../generated/mamori/v1/events';
import type { UsbEnforcementMode } from '../generated/mamori/v1/policy';
import { PostureCheck, type HeartbeatRequest } from '../generated/mamori/v1/telemetry';
import type { Logger } from '../logging/logger';
import { Outbox } from '../outbox/outbox';
import type { UsbObservation, UsbSource } from '../sources/usb/usb.source';
import type { AgentCredentials } from '../state/agent-identity';
import { ensurePrivateDir, TEMP_SUFFIX } from '../state/atomic-file';
import { loadCachedPolicy } from '../state/policy-cache';
import type { StatePaths } from '../state/state-dir';
import { UsbPlugStore, type SavedUsbPlug } from '../state/usb-plugs';
import { ConnectionMonitor, writeStatusFile } from '../state/status-file';
import { sleep } from '../transport/backoff';
import type { AgentClients } from '../transport/grpc-clients';
import { AgentConnection } from '../transport/agent-connection';
import { caBundlePins, CertificateRenewer } from '../transport/certificate-renewer';
import { runHeartbeats } from '../transport/heartbeat';
import { PolicyWatcher } from '../transport/policy-watcher';
import { Uploader } from '../transport/uploader';
import { diskEncryptionStatusEvent, encryptionPosture, postureFingerprint } from '../core/encryption-posture';
import type { DiskEncryptionStatus } from '../generated/mamori/v1/events';
import { createDiskEncryptionSource } from '../sources/disk-encryption/disk-encryption-backend-selector';
import type { DiskEncryptionSource } from '../sources/disk-encryption/disk-encryption.source';
import { DEFAULT_INSPECTION_BUDGET, inspectFile } from '../inspect/file-inspector';
import { TransferSource } from '../sources/transfers/transfer.source';
import type { EgressEnforcer } from '../enforce/egress/egress-enforcer';
import { createEgressEnforcer } from '../enforce/egress/egress-enforcer-selector';
import { EgressProxy } from '../enforce/egress-proxy/egress-proxy';
import { createNetworkZoneSource } from '../sources/network/network-backend-selector';
import type { NetworkZoneSource } from '../sources/network/network-zone.source';
import { NetworkGuard, systemDnsServers } from './network-guard';
import { Upgrader } from '../upgrade/upgrader';
import { detectInstalledLayout } from '../upgrade/install-layout';
import { bundlePlatform } from '../upgrade/upgrade-plan';
import { agentVersion } from '../facts/host-facts';

export interface AgentDaemonDeps {
  config: AgentConfig;
  paths: StatePaths;
  credentials: AgentCredentials;
  logger: Logger;
  platformFacts: PlatformFacts;
  usbSource: UsbSource;
  /** Carries out USB verdicts; chosen from configuration when absent (see createUsbEnforcer). */
  usbEnforcer?: UsbEnforcer;
  /** For the enforcer's commands (blockdev, mount) when the daemon chooses it. */
  commandRunner?: CommandRunner;
  clients?: AgentClients;
  statusIntervalMs?: number;
  /** The longest wait between checks of the client certificate's renewal (1 h). */
  certificateCheckMs?: number;
  /** Reads the disks' encryption; chosen from configuration when absent (MAMORI_AGENT_ENCRYPTION_BACKEND). */
  diskEncryption?: DiskEncryptionSource;
  /** Programs the host's firewall for the zone's whitelist; chosen from configuration when absent (MAMORI_AGENT_EGRESS_BACKEND). */
  egressEnforcer?: EgressEnforcer;
  /** Reads the host's addresses and DNS suffixes for its zone; chosen from configuration when absent (MAMORI_AGENT_NETWORK_BACKEND). */
  networkZoneSource?: NetworkZoneSource;
  /** Stops the daemon in order and exits the process with `code` (an upgrade asks for a restart on the new version). */
  requestExit?: (code: number) => void;
}

const FACTS_REFRESH_MS = 30_000;

/** What the daemon last decided for a device on the bus, so that a policy change can revisit it. */
interface TrackedUsbDevice {
  device: UsbDevice;
  verdict: UsbDeviceVerdict;
  /** Known once the source reported the device's block devices. */
  blockDevices: BlockDevice[] | null;
  storageVerdict: UsbDeviceVerdict | null;
  /**
   * The event id of the UsbDeviceAttached that began this plug: storage, re-evaluation and detach
   * events name it. After a restart with the device still attached it is the attach of the earlier run.
   */
  attachedEventId: string;
  /** The mode in force after the last decision, and the policy version it was made under. */
  appliedMode: UsbEnforcementMode;
  policyVersion: bigint;
}
/** An unchanged status.json is rewritten this often (mamori-agent status calls a daemon stale after 15 s). */
const STATUS_REFRESH_MS = 10_000;

/**
 * The running agent: sources feed the outbox; the uploader, heartbeat loop and policy watcher
 * talk to the collector; status.json is rewritten every few seconds. `start` records
 * AGENT_STATE_STARTED, `stop` records AGENT_STATE_STOPPING, flushes the outbox, gives the
 * uploader a moment to deliver, and closes everything.
 */
export class AgentDaemon {
  private readonly abort = new AbortController();
  private readonly monitor = new ConnectionMonitor();
  private readonly startedAt = new Date();
  private readonly tasks: Promise<void>[] = [];
  /** Watches the running release and the unit while running (null outside an installed bundle). */
  private installWatch: InstallWatch | null = null;
  private outbox!: Outbox;
  private uploader!: Uploader;
  private policy!: PolicyWatcher;
  private clients!: AgentClients;
  private renewer!: CertificateRenewer;
  /** Replaces the installed agent with the policy's target version (README "Upgrades"). */
  private upgrader!: Upgrader;
  private host: HostIdentity | null = null;
  private factsAt = 0;
  private sourceNames: string[] = [];
  private sourceUnavailableReported = false;
  private enforcer!: UsbEnforcer;
  /** Devices on the bus by bus path, with the verdicts they were enforced under. */
  private readonly usbDevices = new Map<string, TrackedUsbDevice>();
  /** USB observations and policy re-evaluations run one at a time, in order. */
  private usbQueue: Promise<unknown> = Promise.resolve();
  /** The plugs of attached devices, kept in the state folder so that a restart does not start new ones. */
  private plugs!: UsbPlugStore;
  private enforcementWarning = '';
  private encryption!: DiskEncryptionSource;
  /** Watches USB volumes and policy folders for files written there (FileTransfer events). */
  private transfers!: TransferSource;
  /** The zone, the egress firewall and the egress proxy (DestinationAccess events). */
  private network!: NetworkGuard;
  /** The newest disk-encryption report (null until the first check finishes) and when it was taken. */
  private encryptionReport: DiskEncryptionStatus | null = null;
  private encryptionCheckedAt: Date | null = null;
  /** The posture last recorded as a DiskEncryptionStatus event; null before the first one. */
  private encryptionFingerprint: string | null = null;
  /** What status.json last said (without updatedAt) and when it was written. */
  private statusWritten = { fingerprint: '', at: 0 };

  constructor(private readonly deps: AgentDaemonDeps) {}

  private get userName(): string {
    return this.host?.loggedInUsers[0] ?? '';
  }

  private async facts(): Promise<HostIdentity> {
    if (this.host === null || Date.now() - this.factsAt > FACTS_REFRESH_MS) {
      const collected = await collectHostFacts(this.deps.platformFacts);
      for (const problem of collected.problems) this.deps.logger.debug('host fact unavailable', { problem });
      this.host = collected.host;
      this.factsAt = Date.now();
    }
    return this.host;
  }

  async start(): Promise<void> {
    const { config, paths, logger } = this.deps;
    await ensurePrivateDir(paths.root);
    for (const name of await readdir(paths.root)) {
      if (name.endsWith(TEMP_SUFFIX)) await unlink(join(paths.root, name)).catch(() => undefined);
    }
    await this.facts();
    const cached = await loadCachedPolicy(paths.policyCache, (problem) => logger.warn(problem));

    this.outbox = await Outbox.open({
      dir: paths.spool,
      maxBytes: config.spoolMaxBytes,
      maxBatchEvents: config.batchSize,
      maxBatchBytes: config.batchMaxBytes,
      logger: logger.child({ component: 'outbox' }),
      dropReport: (total, at) => eventsDroppedEvent(total, at, this.policy?.version ?? 0n, this.userName),
    });

    const connection = this.deps.clients === undefined ? new AgentConnection(this.deps.credentials.identity.server, this.deps.credentials) : null;
    this.clients = this.deps.clients ?? connection!;
    this.renewer = new CertificateRenewer({
      paths,
      credentials: this.deps.credentials,
      // Injected clients (tests) have no certificate service: such a daemon only warns.
      client: connection === null ? null : () => connection.certificate,
      onRenewed: (renewed) => {
        this.deps.credentials = renewed;
        connection?.swap(renewed);
        // The open policy stream still runs on the old certificate: reopen it on the new one.
        this.policy.reconnect();
      },
      logger: logger.child({ component: 'certificate' }),
      hostname: () => this.host?.hostname ?? 'unknown',
      checkMs: this.deps.certificateCheckMs,
    });
    this.uploader = new Uploader({
      outbox: this.outbox,
      telemetry: this.clients.telemetry,
      monitor: this.monitor,
      logger: logger.child({ component: 'uploader' }),
    });
    this.transfers = new TransferSource({
      inspect: inspectFile,
      defaultBudget: DEFAULT_INSPECTION_BUDGET,
      record: async (draft) => {
        await this.outbox.append(draft);
        this.uploader.notify();
      },
      userName: () => this.userName,
      logger: logger.child({ component: 'transfers' }),
      cpuPercent: config.transferCpuPercent,
      concurrency: config.transferConcurrency,
      settleMs: config.transferSettleMs,
    });
    this.policy = new PolicyWatcher({
      client: this.clients.policy,
      cachePath: paths.policyCache,
      monitor: this.monitor,
      logger: logger.child({ component: 'policy' }),
      initial: cached,
      onApplied: async (policy) => {
        this.upgrader.setTarget(policy.agentRelease);
        this.transfers.setPolicy(policy.transfer);
        await this.network.setPolicy({ network: policy.network, version: BigInt(policy.version), lineageId: policy.lineageId });
        await this.serialUsb(async () => {
          await this.enforcer.configure(policy.usb);
          this.warnIfNotEnforceable();
          await this.reevaluateUsb();
        });
        await this.record(
          agentStatusEvent({
            state: AgentState.AGENT_STATE_POLICY_APPLIED,
            message: `running policy version ${policy.version}`,
            droppedEvents: this.outbox.stats().droppedTotal,
            policyVersion: BigInt(policy.version),
            occurredAt: new Date(),
            userName: this.userName,
          }),
        );
      },
    });

    this.upgrader = new Upgrader({
      layout: detectInstalledLayout(),
      runningVersion: agentVersion(),
      platform: bundlePlatform(),
      downloadDir: join(paths.root, 'upgrade'),
      release: () => connection?.release ?? null,
      connected: () => this.monitor.state === 'connected',
      report: (state, message) => this.record(this.statusEvent(state, message.slice(0, 4000))),
      requestExit: (code) => (this.deps.requestExit ?? (() => logger.warn('an upgrade asked for a restart, but this daemon cannot exit by itself', { code })))(code),
      logger: logger.child({ component: 'upgrade' }),
    });
    this.upgrader.setTarget(this.policy.policy?.agentRelease);

    this.enforcer =
      this.deps.usbEnforcer ??
      createUsbEnforcer(config, { stateDir: paths.root, runner: this.deps.commandRunner ?? processCommandRunner, logger });
    // Armed before the source enumerates, so that nothing plugged in from here on races the policy.
    await this.enforcer.configure(this.policy.policy?.usb);
    this.warnIfNotEnforceable();

    const runner = this.deps.commandRunner ?? processCommandRunner;
    const network: NetworkGuard = new NetworkGuard({
      zoneSource: this.deps.networkZoneSource ?? createNetworkZoneSource(config, logger.child({ component: 'network-zone' })),
      enforcer: this.deps.egressEnforcer ?? createEgressEnforcer(config.egressBackend, { logger, runner }),
      proxy:
        config.egressProxy === undefined
          ? null
          : new EgressProxy({
              listen: config.egressProxy,
              decide: (query) => network.decideForProxy(query),
              onAccess: (access) => void network.recordProxyAccess(access),
              logger: logger.child({ component: 'egress-proxy' }),
            }),
      collectorAddress: this.deps.credentials.identity.server,
      dnsServers: systemDnsServers,
      record: (draft) => this.record(draft),
      userName: () => this.userName,
      logger: logger.child({ component: 'network' }),
    });
    this.network = network;

    await this.record(this.statusEvent(AgentState.AGENT_STATE_STARTED, `mamori-agent started (policy version ${this.policy.version})`));
    // Tamper evidence: the installed files against the bundle's MANIFEST.sha256, at every start
    // (a modified install becomes an event and a warning; `mamori-agent status` checks it live).
    this.tasks.push(this.checkInstall());
    // A rollback the boot script made is reported, and this version's trial held, before upgrading further.
    await this.upgrader.start(this.abort.signal).catch((error: Error) => logger.error('cannot read the upgrade records', { error }));
    this.tasks.push(this.upgrader.run(this.abort.signal));

    const signal = this.abort.signal;
    this.tasks.push(this.uploader.run(signal));
    this.tasks.push(this.policy.run(signal));
    this.tasks.push(
      runHeartbeats(
        {
          client: this.clients.telemetry,
          monitor: this.monitor,
          logger: logger.child({ component: 'heartbeat' }),
          buildRequest: () => this.heartbeatRequest(),
          overrideSeconds: config.heartbeatSecondsOverride,
          onNewerPolicy: () => void this.policy.refresh(),
          runningPolicyVersion: () => this.policy.version,
          onRenewalAdvice: (requested, reason) => (requested ? this.renewer.requestRenewal(reason) : this.renewer.renewalNotRequested()),
        },
        signal,
      ),
    );
    this.tasks.push(this.statusLoop(signal));
    this.tasks.push(this.renewer.run(signal));
    this.encryption = this.deps.diskEncryption ?? createDiskEncryptionSource(config, this.deps.commandRunner ?? processCommandRunner);
    this.tasks.push(this.encryptionLoop(signal));

    this.transfers.start();
    this.transfers.setPolicy(this.policy.policy?.transfer);
    // The cached policy's whitelist is in force before the collector is reachable: an agent that
    // starts offline in the development LAN still enforces it.
    await this.network.start({ network: this.policy.policy?.network, version: this.policy.version, lineageId: this.policy.lineageId });

    this.plugs = await UsbPlugStore.load(join(paths.root, 'usb-plugs.json'), (problem) => logger.warn(problem));
    const source = this.deps.usbSource;
    await source.start({
      accept: (observations) => this.acceptUsb(observations),
      presentAtStartReported: () => this.endPlugsLeftWhileStopped(),
      unavailable: async (reason) => {
        if (this.sourceUnavailableReported) return;
        this.sourceUnavailableReported = true;
        logger.warn('USB source unavailable', { source: source.name, reason });
        await this.record(this.statusEvent(AgentState.AGENT_STATE_SOURCE_UNAVAILABLE, `${source.name}: ${reason}`));
      },
    });
    this.sourceNames = [source.name, `enforce:${this.enforcer.name}`, this.encryption.name, this.transfers.name, ...this.network.sourceNames()];
    await this.writeStatus();
    logger.info('mamori-agent running', {
      agentId: this.deps.credentials.identity.agentId,
      server: this.deps.credentials.identity.server,
      policyVersion: this.policy.version.toString(),
      sources: this.sourceNames,
      capabilities: this.capabilities(),
      spoolEvents: this.outbox.stats().events,
    });
  }

  /** Reports an installed bundle whose files differ from its manifest; a source checkout has none. */
  private async checkInstall(): Promise<void> {
    const installDir = bundleTopOf();
    // The watch first, then the start check: a change made once the start check is reported is
    // one the watch sees (it costs a second full hash at start, about a second of one core).
    const { unit, boot } = existsSync(join(installDir, 'MANIFEST.sha256')) ? await this.watchInstall(installDir) : { unit: null, boot: null };
    try {
      const report = await checkInstallIntegrity(installDir);
      if (report.state === 'modified') {
        const message = describeInstallIntegrity(report);
        this.deps.logger.warn('installed files differ from the bundle manifest', { changed: report.changedCount, missing: report.missingCount, added: report.addedCount, installDir: report.installDir });
        await this.record(this.statusEvent(AgentState.AGENT_STATE_INSTALL_MODIFIED, message.slice(0, 4000)));
      }
      const unitReport = await checkUnitIntegrity(unit);
      if (unitReport.state === 'modified' || unitReport.state === 'missing') {
        this.deps.logger.warn('the systemd unit differs from the one install.sh wrote', { unitFile: unitReport.unitFile, dropIns: unitReport.dropIns });
        await this.record(this.statusEvent(AgentState.AGENT_STATE_INSTALL_MODIFIED, `unit ${describeUnitIntegrity(unitReport)}`.slice(0, 4000)));
      }
      const bootReport = await checkBootScriptIntegrity(boot);
      if (bootReport.state === 'modified' || bootReport.state === 'missing') {
        this.deps.logger.warn('the boot script differs from the one install.sh wrote', { bootFile: bootReport.bootFile, mode: bootReport.mode });
        await this.record(this.statusEvent(AgentState.AGENT_STATE_INSTALL_MODIFIED, `boot script ${describeBootScriptIntegrity(bootReport)}`.slice(0, 4000)));
      }
    } catch (error) {
      this.deps.logger.error('cannot check the installed files against MANIFEST.sha256', { error: (error as Error).message });
    }
  }

  /** Starts the install watch on the running release, the unit and the boot script; returns where the unit and the boot script are. */
  private async watchInstall(releaseDir: string): Promise<{ unit: UnitLocation | null; boot: BootScriptLocation | null }> {
    const logger = this.deps.logger.child({ component: 'install-watch' });
    try {
      const unit = await locateUnit(releaseDir);
      const boot = await locateBootScript(releaseDir);
      if (this.abort.signal.aborted) return { unit, boot };
      this.installWatch = new InstallWatch({
        releaseDir,
        unit,
        boot,
        logger,
        report: async (change) => {
          (change.modified ? logger.warn : logger.info).call(logger, change.modified ? 'install modified while running' : 'install restored', { paths: change.paths.slice(0, 20) });
          await this.record(this.statusEvent(AgentState.AGENT_STATE_INSTALL_MODIFIED, change.message.slice(0, 4000)));
        },
      });
      await this.installWatch.start();
      if (this.abort.signal.aborted) await this.installWatch.stop(); // stop() ran while it started
      else logger.info('watching the installed files', { releaseDir, unitFile: unit?.unitFile ?? null, bootFile: boot?.bootFile ?? null });
      return { unit, boot };
    } catch (error) {
      logger.error('cannot watch the installed files; they are checked at each start only', { error: (error as Error).message });
      // The start check still needs them (a watcher that failed says nothing about the records).
      return { unit: await locateUnit(releaseDir).catch(() => null), boot: await locateBootScript(releaseDir).catch(() => null) };
    }
  }

  private statusEvent(state: AgentState, message: string): EventDraft {
    return agentStatusEvent({
      state,
      message,
      droppedEvents: this.outbox.stats().droppedTotal,
      policyVersion: this.policy?.version ?? 0n,
      occurredAt: new Date(),
      userName: this.userName,
    });
  }

  /** Appends one event; a failure to take it is logged loudly (there is no one else to tell). */
  private async record(draft: EventDraft): Promise<void> {
    try {
      await this.outbox.append(draft);
      this.uploader.notify();
    } catch (error) {
      this.deps.logger.error('could not record an agent event', { error: error as Error });
    }
  }

  private serialUsb<T>(work: () => Promise<T>): Promise<T> {
    const next = this.usbQueue.then(work, work);
    this.usbQueue = next.catch(() => undefined);
    return next;
  }

  private capabilities() {
    return [...mergeCapabilities(this.deps.usbSource.capabilities(), this.enforcer.capabilities()), ...(this.network?.capabilities() ?? [])];
  }

  /** Says loudly, once per reason, that the policy asks for enforcement this host cannot give. */
  private warnIfNotEnforceable(): void {
    const usb = this.policy.policy?.usb;
    const missing = needsBlockAtBirth(usb) ? this.enforcer.capabilities().filter((c) => !c.available) : [];
    const warning = missing.map((c) => `${c.name}: ${c.reason}`).join('; ');
    if (warning !== '' && warning !== this.enforcementWarning) {
      this.deps.logger.warn('the USB policy asks to block or make read-only, but this agent cannot; such devices are only audited', {
        enforcer: this.enforcer.name,
        unavailable: warning,
      });
    }
    this.enforcementWarning = warning;
  }

  private verdictContext(at: Date) {
    return { agentId: this.deps.credentials.identity.agentId, userName: this.userName, at };
  }

  /**
   * Evaluates each observation with the shared policy functions, has the enforcer carry out the
   * verdict, and records the events with the decisions. Enforcement comes first: its latency is
   * what blocking is about, and a retried batch (the outbox refused it) enforces the same verdict
   * again, which is harmless.
   */
  private async acceptUsb(observations: UsbObservation[]): Promise<void> {
    await this.serialUsb(async () => {
      const userName = this.userName;
      const usb = this.policy.policy?.usb;
      const policyVersion = this.policy.version;
      const policyLineageId = this.policy.lineageId;
      const drafts: EventDraft[] = [];
      /** What the transfer source is told once the events are taken (never awaited: a burst must not hold up USB). */
      const volumeUpdates: Array<() => void> = [];
      const plugsBefore = this.plugs.all();
      for (const o of observations) {
        if (o.kind === 'attached') {
          const device = await this.enforcer.reveal(o.device);
          const verdict = evaluateUsbDevice(device, usb, this.verdictContext(o.occurredAt));
          const enforcement = await this.enforcer.enforceDevice({ device, verdict, observedAt: o.occurredAt, policyVersion, policyLineageId });
          // A device still attached from the agent's previous run continues its plug; anything else
          // in a port whose saved device is not live in this run means that device left while the agent was stopped.
          const continued = o.presentAtStart ? this.plugs.continuedBy(device) : undefined;
          const saved = this.plugs.get(device.busPath);
          // (A backend that replays after a crash may offer the attach that began the saved plug again: that is the same plug.)
          const sameAttachAgain = o.eventId !== undefined && saved?.attachedEventId === o.eventId;
          if (continued === undefined && !sameAttachAgain && saved !== undefined && this.usbDevices.get(device.busPath)?.attachedEventId !== saved.attachedEventId) {
            drafts.push(this.leftWhileStoppedEvent(saved, o.occurredAt, userName));
          }
          const draft = usbAttachedEvent({
            device,
            presentAtStart: o.presentAtStart,
            occurredAt: o.occurredAt,
            userName,
            eventId: o.eventId,
            enforcement,
            continuesAttachedEventId: continued?.attachedEventId,
          });
          const attachedEventId = continued?.attachedEventId ?? draft.eventId;
          this.plugs.set(device, attachedEventId);
          this.usbDevices.set(device.busPath, {
            device,
            verdict,
            blockDevices: null,
            storageVerdict: null,
            attachedEventId,
            appliedMode: enforcement.appliedMode,
            policyVersion,
          });
          this.logDecision(device, enforcement);
          drafts.push(draft);
        } else if (o.kind === 'storage') {
          const known = this.usbDevices.get(o.device.busPath);
          const device = known?.device ?? o.device;
          const verdict = known?.verdict ?? evaluateUsbDevice(device, usb, this.verdictContext(o.occurredAt));
          const storageVerdict = evaluateUsbStorage(verdict, o.blockDevices, usb);
          const enforcement = await this.enforcer.enforceStorage({ device, verdict: storageVerdict, observedAt: o.occurredAt, policyVersion, policyLineageId, blockDevices: o.blockDevices });
          const attachedEventId = known?.attachedEventId ?? '';
          this.usbDevices.set(device.busPath, { device, verdict, blockDevices: o.blockDevices, storageVerdict, attachedEventId, appliedMode: enforcement.appliedMode, policyVersion });
          volumeUpdates.push(() => this.transfers.usbStorage(device, o.blockDevices, attachedEventId));
          this.logDecision(device, enforcement);
          drafts.push(
            usbStorageVolumesEvent({
              device,
              blockDevices: o.blockDevices,
              allDataVolumesEncrypted: allDataVolumesEncrypted(o.blockDevices),
              enforcement,
              occurredAt: o.occurredAt,
              userName,
              eventId: o.eventId,
              attachedEventId,
            }),
          );
        } else {
          const known = this.usbDevices.get(o.device.busPath);
          this.usbDevices.delete(o.device.busPath);
          this.plugs.delete(o.device.busPath);
          await this.enforcer.released(known?.device ?? o.device);
          volumeUpdates.push(() => this.transfers.usbDetached(o.device.busPath));
          drafts.push(usbDetachedEvent({ device: known?.device ?? o.device, occurredAt: o.occurredAt, userName, eventId: o.eventId, attachedEventId: known?.attachedEventId }));
        }
      }
      // All appends go in at once so the outbox commits them together; a failed write rejects,
      // and the source offers the same observations again (the saved plugs go back to what they were).
      try {
        await Promise.all(drafts.map((d) => this.outbox.append(d)));
      } catch (error) {
        this.plugs.replaceAll(plugsBefore);
        throw error;
      }
      this.uploader.notify();
      for (const update of volumeUpdates) update();
      // Saved only once the events naming the plugs are taken, so the file never names an attach that was not recorded.
      await this.savePlugs();
    });
  }

  /** A UsbDeviceDetached for a device of the previous run that was gone when the agent started. */
  private leftWhileStoppedEvent(saved: SavedUsbPlug, noticedAt: Date, userName: string): EventDraft {
    this.deps.logger.info('a USB device left while the agent was stopped', { busPath: saved.device.busPath, serial: saved.device.serial, attachedEventId: saved.attachedEventId });
    return usbDetachedEvent({ device: saved.device, occurredAt: noticedAt, userName, attachedEventId: saved.attachedEventId, leftWhileAgentStopped: true });
  }

  /**
   * The source has reported every device present at start: the saved plugs of devices that were
   * not among them ended while the agent was stopped. Each is recorded as a UsbDeviceDetached that
   * says so, and forgotten.
   */
  private async endPlugsLeftWhileStopped(): Promise<void> {
    await this.serialUsb(async () => {
      const gone = this.plugs.all().filter((plug) => !this.usbDevices.has(plug.device.busPath));
      if (gone.length === 0) return;
      const now = new Date();
      const drafts = gone.map((plug) => this.leftWhileStoppedEvent(plug, now, this.userName));
      await Promise.all(drafts.map((d) => this.outbox.append(d)));
      this.uploader.notify();
      for (const plug of gone) this.plugs.delete(plug.device.busPath);
      await this.savePlugs();
    });
  }

  /** A failure to save is logged, not thrown: the events are taken; the next save writes the file. */
  private async savePlugs(): Promise<void> {
    try {
      await this.plugs.save();
    } catch (error) {
      this.deps.logger.error('could not save the USB plugs; a restart now would report devices still attached as new plugs', { error: error as Error });
    }
  }

  /**
   * After a policy change, every device on the bus whose verdict changed (its mode, or the rules
   * it breaks) is enforced again: a stick registered later is authorized, one that a new rule
   * blocks is deauthorized, one that leaves read-only is made writable again. The outcome is
   * recorded as one UsbDeviceReevaluated naming the plug's attach event, never as a new attach,
   * so the collector does not count the same plug twice. Unchanged devices are left alone.
   */
  private async reevaluateUsb(): Promise<void> {
    const usb = this.policy.policy?.usb;
    const policyVersion = this.policy.version;
    const policyLineageId = this.policy.lineageId;
    const userName = this.userName;
    const drafts: EventDraft[] = [];
    for (const tracked of this.usbDevices.values()) {
      const now = new Date();
      const verdict = evaluateUsbDevice(tracked.device, usb, this.verdictContext(now));
      const storageVerdict = tracked.blockDevices === null ? null : evaluateUsbStorage(verdict, tracked.blockDevices, usb);
      const before = tracked.storageVerdict ?? tracked.verdict;
      const after = storageVerdict ?? verdict;
      tracked.verdict = verdict;
      tracked.storageVerdict = storageVerdict;
      if (before.mode === after.mode && before.violations.join() === after.violations.join()) continue;
      const request = { device: tracked.device, verdict: after, observedAt: now, policyVersion, policyLineageId };
      const enforcement = await this.enforcer.enforceDevice(request);
      enforcement.reason = `re-evaluated under policy version ${policyVersion} (was ${modeName(before.mode)}): ${enforcement.reason}`;
      this.logDecision(tracked.device, enforcement);
      let storage: UsbEnforcementDecision | undefined;
      if (enforcement.action === UsbEnforcementAction.USB_ENFORCEMENT_ACTION_DEAUTHORIZED) {
        // Its disks leave with the authorization; they are reported afresh if it is let in again.
        tracked.blockDevices = null;
        tracked.storageVerdict = null;
      } else if (tracked.blockDevices !== null && storageVerdict !== null) {
        storage = await this.enforcer.enforceStorage({ ...request, blockDevices: tracked.blockDevices });
        this.logDecision(tracked.device, storage);
      }
      const blockDevices = tracked.blockDevices ?? [];
      drafts.push(
        usbReevaluatedEvent({
          device: tracked.device,
          enforcement,
          storageEnforcement: storage,
          previousAppliedMode: tracked.appliedMode,
          previousPolicyVersion: tracked.policyVersion,
          attachedEventId: tracked.attachedEventId,
          blockDevices,
          allDataVolumesEncrypted: blockDevices.length > 0 && allDataVolumesEncrypted(blockDevices),
          occurredAt: now,
          userName,
        }),
      );
      tracked.appliedMode = storage?.appliedMode ?? enforcement.appliedMode;
      tracked.policyVersion = policyVersion;
    }
    for (const draft of drafts) await this.record(draft);
  }

  private logDecision(device: UsbDevice, enforcement: { requestedMode: string; appliedMode: string; action: string; reason: string; latencyMicros: string }): void {
    this.deps.logger.info('USB enforcement decision', {
      busPath: device.busPath,
      vendorId: device.vendorId,
      productId: device.productId,
      serial: device.serial,
      requestedMode: enforcement.requestedMode,
      appliedMode: enforcement.appliedMode,
      action: enforcement.action,
      latencyMicros: enforcement.latencyMicros,
      reason: enforcement.reason,
    });
  }

  private async heartbeatRequest(): Promise<HeartbeatRequest> {
    const host = await this.facts();
    const stats = this.outbox.stats();
    return {
      host,
      posture: {
        networkZone: this.network.zoneName(),
        // Until the first disk-encryption check finishes both checks say "not checked", never "not encrypted".
        ...encryptionPosture(this.encryptionReport),
        ...usbPosture(this.deps.usbSource.attached(), this.policy.policy, this.verdictContext(new Date())),
      },
      health: {
        spoolEvents: String(stats.events),
        spoolBytes: String(stats.bytes),
        droppedEvents: String(stats.droppedTotal),
        policyVersion: this.policy.version.toString(),
        capabilities: this.capabilities(),
        startedAt: toTimestamp(this.startedAt),
        sources: this.sourceNames,
      },
      // The collector asks for a renewal while the CAs it trusts differ from these (CA rotation).
      trustedCaPins: caBundlePins(this.deps.credentials.caPem),
    };
  }

  /**
   * Rewrites status.json. With `onlyIfChanged`, an unchanged status is written again only once
   * STATUS_REFRESH_MS has passed (so `mamori-agent status`, which calls a daemon stale after 15 s,
   * still sees it running): an idle agent does not fsync the same file every two seconds.
   */
  private async writeStatus(onlyIfChanged = false): Promise<void> {
    const m = this.monitor;
    const status = {
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      connection: {
        state: m.state,
        lastContactAt: m.lastContactAt?.toISOString() ?? null,
        lastError: m.lastError,
        lastErrorAt: m.lastErrorAt?.toISOString() ?? null,
      },
      policyVersion: this.policy.version.toString(),
      sources: this.sourceNames,
      capabilities: this.capabilities(),
      encryption: this.encryptionStatus(),
      transfers: this.transfers.status(),
      network: this.network.status(),
      certificate: this.renewer.status(),
      upgrade: this.upgrader.statusReport,
      uploadedEvents: this.uploader.uploadedEvents,
      rejectedEvents: this.uploader.rejectedEvents,
    };
    const fingerprint = JSON.stringify(status);
    const now = Date.now();
    if (onlyIfChanged && fingerprint === this.statusWritten.fingerprint && now - this.statusWritten.at < STATUS_REFRESH_MS) return;
    await writeStatusFile(this.deps.paths.status, { ...status, updatedAt: new Date(now).toISOString() });
    this.statusWritten = { fingerprint, at: now };
  }

  private async statusLoop(signal: AbortSignal): Promise<void> {
    while (await sleep(this.deps.statusIntervalMs ?? 2_000, signal)) {
      await this.writeStatus(true).catch((error: Error) => this.deps.logger.warn('could not write status.json', { error }));
    }
  }

  /**
   * Checks disk encryption at start and every MAMORI_AGENT_ENCRYPTION_CHECK_SECONDS. The newest
   * report goes with every heartbeat; a DiskEncryptionStatus event is queued after the first check
   * of each run and then only when the posture changes (see postureFingerprint). When the outbox
   * refuses the event, the next check tries again.
   */
  private async encryptionLoop(signal: AbortSignal): Promise<void> {
    const { logger, config } = this.deps;
    do {
      let report: DiskEncryptionStatus;
      try {
        report = await this.encryption.check();
      } catch (error) {
        // The port promises not to throw; if a backend does, the posture says "not checked" and says why.
        report = { volumes: [], problems: [`${this.encryption.name} failed: ${(error as Error).message}`] };
      }
      if (signal.aborted) return;
      this.encryptionReport = report;
      this.encryptionCheckedAt = new Date();
      const posture = encryptionPosture(report);
      const fingerprint = postureFingerprint(posture);
      if (fingerprint === this.encryptionFingerprint) continue;
      logger.info(this.encryptionFingerprint === null ? 'disk encryption posture' : 'disk encryption posture changed', {
        fixedDisksEncrypted: posture.fixedDisksEncrypted,
        systemVolumeEncrypted: posture.systemVolumeEncrypted,
        volumes: report.volumes.map((v) => `${v.device}${v.mountPoint ? ` (${v.mountPoint})` : ''}: ${v.encryption?.scheme ?? ''}`),
        problems: report.problems,
      });
      try {
        await this.outbox.append(diskEncryptionStatusEvent(report, this.encryptionCheckedAt, this.userName));
        this.uploader.notify();
        this.encryptionFingerprint = fingerprint;
      } catch (error) {
        logger.error('could not record the disk encryption status; the next check tries again', { error: error as Error });
      }
    } while (await sleep(config.encryptionCheckSeconds * 1000, signal));
  }

  /** The posture as status.json shows it to `mamori-agent status`. */
  private encryptionStatus() {
    const posture = encryptionPosture(this.encryptionReport);
    return {
      checkedAt: this.encryptionCheckedAt?.toISOString() ?? null,
      source: this.encryption?.name ?? '',
      fixedDisksEncrypted: posture.fixedDisksEncrypted,
      systemVolumeEncrypted: posture.systemVolumeEncrypted,
      volumes: posture.volumes.map((v) => ({
        device: v.device,
        mountPoint: v.mountPoint,
        systemVolume: v.systemVolume,
        scheme: v.encryption?.scheme ?? '',
        fullyEncrypted: v.encryption?.fullyEncrypted ?? false,
        percentEncrypted: v.encryption?.percentEncrypted ?? 0,
        protectionOn: v.encryption?.protectionOn ?? false,
        locked: v.locked,
        encryptedBy: v.encryptedBy,
      })),
      problems: posture.encryptionProblems,
    };
  }

  /** Orderly stop; see the class comment. `graceMs` bounds the final upload attempt. */
  async stop(graceMs = 3_000): Promise<void> {
    const { logger } = this.deps;
    await this.installWatch?.stop();
    await this.deps.usbSource.stop();
    // Files mid-copy are reported (with a problem) before the outbox closes.
    await this.transfers.stop();
    // The egress firewall table comes out with the agent: a stopped agent leaves egress as it found it.
    await this.network.stop();
    // The root hubs get their previous defaults back: a stopped agent must not leave the host
    // refusing every new device (keyboards included).
    await this.serialUsb(() => this.enforcer.stop());
    await this.record(this.statusEvent(AgentState.AGENT_STATE_STOPPING, 'mamori-agent stopping'));
    await this.outbox.flush();
    const deadline = Date.now() + graceMs;
    while (this.monitor.state === 'connected' && this.outbox.stats().events > 0 && Date.now() < deadline) {
      await sleep(50);
    }
    this.abort.abort();
    // An upload call in flight is not cancelled by the abort; its batch stays in the spool
    // unless acked, so waiting for it is bounded rather than required.
    await Promise.race([Promise.allSettled(this.tasks), sleep(2_000)]);
    await this.outbox.close();
    await this.writeStatus().catch(() => undefined);
    this.clients.close();
    logger.info('mamori-agent stopped', { spoolEvents: this.outbox.stats().events });
  }
}
