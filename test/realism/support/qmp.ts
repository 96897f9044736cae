import { createConnection, type Socket } from 'node:net';

interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  /** Host time (ms) when the event arrived. */
  receivedAt: number;
}

/**
 * A minimal QMP (QEMU Machine Protocol) client over QEMU's unix socket: newline-delimited JSON,
 * commands answered in order, events interleaved. `execute` rejects with QEMU's error text;
 * `waitEvent` rejects after its timeout; everything pending rejects when the socket closes.
 */
export class Qmp {
  private socket!: Socket;
  private buffer = '';
  private readonly pending: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void }> = [];
  private readonly events: QmpEvent[] = [];
  private readonly waiters: Array<(e: QmpEvent) => boolean> = [];

  async connect(path: string): Promise<void> {
    const greeted = new Promise<void>((resolve, reject) => {
      this.socket = createConnection(path);
      this.socket.setEncoding('utf8');
      this.socket.once('error', reject);
      this.socket.on('close', () => {
        for (const p of this.pending.splice(0)) p.reject(new Error('QMP socket closed'));
      });
      this.socket.on('data', (chunk: string) => {
        this.buffer += chunk;
        let i: number;
        while ((i = this.buffer.indexOf('\n')) >= 0) {
          const line = this.buffer.slice(0, i).trim();
          this.buffer = this.buffer.slice(i + 1);
          if (line === '') continue;
          const message = JSON.parse(line) as Record<string, unknown>;
          if ('QMP' in message) resolve();
          else if ('event' in message) {
            const event = { event: String(message.event), data: message.data as Record<string, unknown>, receivedAt: Date.now() };
            this.events.push(event);
            for (let w = this.waiters.length - 1; w >= 0; w--) if (this.waiters[w]!(event)) this.waiters.splice(w, 1);
          } else {
            const p = this.pending.shift();
            if (p === undefined) continue;
            if ('error' in message) p.reject(new Error(`QMP: ${JSON.stringify(message.error)}`));
            else p.resolve(message.return);
          }
        }
      });
    });
    await greeted;
    await this.execute('qmp_capabilities');
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(`${JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args })}\n`);
    });
  }

  waitEvent(match: (e: QmpEvent) => boolean, timeoutMs: number): Promise<QmpEvent> {
    const seen = this.events.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching QMP event within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((e) => {
        if (!match(e)) return false;
        clearTimeout(timer);
        resolve(e);
        return true;
      });
    });
  }

  close(): void {
    this.socket?.destroy();
  }
}
