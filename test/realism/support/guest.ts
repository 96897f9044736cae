import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync, renameSync, writeFileSync, closeSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Qmp } from './qmp';

/** The address inside the guest at which QEMU relays to the collector's gRPC port on the host. */
export const GUEST_COLLECTOR_ADDRESS = '10.0.2.100:50051';

export interface GuestOptions {
  /** Scratch folder, shared read-write with the guest (tag work). */
  rigDir: string;
  /** The repository (its dist/ and node_modules), shared read-only at the same path. */
  repoDir: string;
  /** The folder that holds build-guest.sh, guest-init.sh and guestfwd-relay.cjs. */
  scriptsDir: string;
  /** The collector's gRPC port on the host's loopback. */
  collectorGrpcPort: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A Linux guest under QEMU (TCG: software emulation, KVM is not usable on these machines) that
 * runs the host's own userland read-only over 9p, with a qemu-xhci USB controller for hot-plugged
 * sticks and a user-mode network restricted to one forward: GUEST_COLLECTOR_ADDRESS → the
 * collector on the host's loopback. `stop()` powers it off (or kills QEMU) and is safe to call twice.
 */
export class QemuGuest {
  readonly qmp = new Qmp();
  private qemu: ChildProcess | null = null;
  private commandNumber = 0;
  readonly stateDir: string;

  constructor(readonly options: GuestOptions) {
    this.stateDir = join(options.rigDir, 'state');
  }

  /** Builds kernel, initramfs and stick image; returns null or the reason the rig cannot run here. */
  static prerequisites(): string | null {
    if (spawnSync('sh', ['-c', 'command -v qemu-system-x86_64']).status !== 0) return 'qemu-system-x86_64 is not installed (Debian: qemu-system-x86)';
    if (process.platform !== 'linux' || process.arch !== 'x64') return 'the QEMU rig needs an x86-64 Linux host';
    return null;
  }

  build(): string | null {
    const bitlocker = join(this.options.scriptsDir, '../fixtures/bitlk-togo-aes-xts-128.img.xz');
    const result = spawnSync(join(this.options.scriptsDir, 'build-guest.sh'), [this.options.rigDir, bitlocker], { encoding: 'utf8' });
    if (result.status === 3) return result.stderr.trim();
    if (result.status !== 0) throw new Error(`build-guest.sh failed (${result.status}): ${result.stderr}`);
    copyFileSync(join(this.options.scriptsDir, 'guest-init.sh'), join(this.options.rigDir, 'guest-init.sh'));
    return null;
  }

  async boot(timeoutMs = 240_000): Promise<number> {
    const { rigDir, repoDir, scriptsDir, collectorGrpcPort } = this.options;
    mkdirSync(this.stateDir, { recursive: true });
    const socket = join(rigDir, 'qmp.sock');
    const console = openSync(join(rigDir, 'console.log'), 'w');
    const relay = `node ${join(scriptsDir, 'guestfwd-relay.cjs')} ${collectorGrpcPort}`;
    const [address, port] = GUEST_COLLECTOR_ADDRESS.split(':');
    const started = Date.now();
    this.qemu = spawn(
      'qemu-system-x86_64',
      [
        '-accel', 'tcg,thread=multi', '-cpu', 'max', '-m', '1024', '-smp', '2',
        '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio',
        '-kernel', join(rigDir, 'vmlinux'), '-initrd', join(rigDir, 'initramfs.cpio.gz'),
        '-append', `console=ttyS0 quiet panic=-1 net.ifnames=0 RIG=${rigDir} REPO=${repoDir}`,
        '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
        '-virtfs', `local,path=${rigDir},mount_tag=work,security_model=none,multidevs=remap`,
        '-virtfs', `local,path=${repoDir},mount_tag=repo,security_model=none,readonly=on,multidevs=remap`,
        '-device', 'qemu-xhci,id=xhci',
        // restrict=on: no packet leaves for the outside world; only the forward below exists.
        '-netdev', `user,id=net0,restrict=on,guestfwd=tcp:${address}:${port}-cmd:${relay}`,
        '-device', 'virtio-net-pci,netdev=net0',
        '-qmp', `unix:${socket},server=on,wait=off`,
      ],
      { stdio: ['ignore', console, console] },
    );
    closeSync(console);
    const deadline = Date.now() + timeoutMs;
    while (!existsSync(socket)) {
      if (this.qemu.exitCode !== null) throw new Error(`qemu exited with ${this.qemu.exitCode}: ${this.consoleTail()}`);
      if (Date.now() > deadline) throw new Error('no QMP socket');
      await sleep(50);
    }
    await this.qmp.connect(socket);
    while (!existsSync(join(this.stateDir, 'ready'))) {
      if (this.qemu.exitCode !== null) throw new Error(`qemu exited with ${this.qemu.exitCode}: ${this.consoleTail()}`);
      if (Date.now() > deadline) throw new Error(`the guest was not ready within ${timeoutMs} ms: ${this.consoleTail()}`);
      await sleep(100);
    }
    return Date.now() - started;
  }

  consoleTail(lines = 30): string {
    try {
      return readFileSync(join(this.options.rigDir, 'console.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no console output)';
    }
  }

  /** Runs a shell snippet inside the guest; resolves with its exit code and output. */
  async exec(script: string, timeoutMs = 60_000): Promise<{ code: number; output: string }> {
    const id = String(++this.commandNumber).padStart(4, '0');
    const base = join(this.stateDir, 'cmd', id);
    writeFileSync(`${base}.tmp`, script);
    renameSync(`${base}.tmp`, `${base}.sh`);
    const deadline = Date.now() + timeoutMs;
    while (!existsSync(`${base}.done`)) {
      if (this.qemu?.exitCode !== null) throw new Error(`qemu exited while running: ${script}`);
      if (Date.now() > deadline) throw new Error(`guest command did not finish within ${timeoutMs} ms: ${script}`);
      await sleep(50);
    }
    await sleep(20);
    return { code: Number(readFileSync(`${base}.done`, 'utf8').trim()), output: readFileSync(`${base}.out`, 'utf8') };
  }

  /** Like exec, but a non-zero exit is an error that shows the output. */
  async run(script: string, timeoutMs = 60_000): Promise<string> {
    const result = await this.exec(script, timeoutMs);
    if (result.code !== 0) throw new Error(`guest command failed (${result.code}): ${script}\n${result.output}`);
    return result.output;
  }

  /** Plugs a raw disk image in as a USB stick; resolves at the moment QEMU accepted device_add (host ms). */
  async plug(id: string, image: string, serial: string): Promise<number> {
    await this.qmp.execute('blockdev-add', { driver: 'raw', 'node-name': `${id}-disk`, file: { driver: 'file', filename: image } });
    const at = Date.now();
    await this.qmp.execute('device_add', { driver: 'usb-storage', bus: 'xhci.0', drive: `${id}-disk`, id, serial, removable: true });
    return at;
  }

  async unplug(id: string): Promise<number> {
    const at = Date.now();
    await this.qmp.execute('device_del', { id });
    await this.qmp.waitEvent((e) => e.event === 'DEVICE_DELETED' && e.data?.device === id, 60_000);
    await this.qmp.execute('blockdev-del', { 'node-name': `${id}-disk` });
    return at;
  }

  async stop(): Promise<void> {
    const qemu = this.qemu;
    if (qemu === null || qemu.exitCode !== null || qemu.signalCode !== null) {
      this.qmp.close();
      return;
    }
    const exited = new Promise<void>((r) => qemu.once('exit', () => r()));
    let timer: NodeJS.Timeout;
    try {
      // An orderly power-off lets the agent stop (and restore the root hubs) first.
      writeFileSync(join(this.stateDir, 'poweroff'), '1');
      timer = setTimeout(() => qemu.kill('SIGKILL'), 20_000);
    } catch {
      qemu.kill('SIGKILL');
      timer = setTimeout(() => undefined, 0);
    }
    await exited;
    clearTimeout(timer);
    this.qmp.close();
  }
}
